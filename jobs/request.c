/* lethe request: records an operator's deletion request as a deletion_requested event that
 * occurs now. The next run derives its obligation; this command never derives or purges.
 * A subject id is the operator's own input: it may be echoed on stdout, never on stderr. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

int job_request(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        SCOPE_LONG_OPTIONS,
        {"reference", required_argument, 0, 'r'}, {"operator", required_argument, 0, 'o'},
        {0, 0, 0, 0}};
    struct scope_args a = {.what = "request", .scope = {SCOPE_TENANT, NULL}};
    const char *reference = NULL, *operator_name = NULL;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        int handled = scope_option(ctx, &a, c, optarg);
        if (handled < 0)
            return EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case 'r':
            reference = optarg;
            break;
        case 'o':
            operator_name = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "request: unexpected argument '%s'", argv[optind]);
    if (!a.tenant[0])
        return cli_usage(ctx, "request: --tenant is required");
    if (!reference || !*reference)
        return cli_usage(ctx, "request: --reference is required (the ticket or request id)");

    int rc = scope_check(ctx, &a);
    if (rc != EXIT_DONE)
        return rc;
    const char *tenant = a.tenant;
    const struct scope scope = a.scope;

    /* A cancellation names its request by reference, so it would withdraw every request of
     * the tenant that shares it: say so, but record the request (a ticket may cover two
     * scopes). */
    PGresult *same = db_requests_with_reference(ctx->db, tenant, reference);
    if (!same)
        return EXIT_RUNTIME;
    if (PQntuples(same) > 0)
        log_warn("request: reference \"%s\" already names deletion request %s of this tenant;"
                 " a cancellation with it withdraws both",
                 reference, PQgetvalue(same, 0, 0));
    PQclear(same);

    const struct rule_config *rc_rule =
        &ctx->cfg.rules[scope.kind == SCOPE_SUBJECT ? RULE_SUBJECT_REQUEST : RULE_DELETION_REQUEST];
    char deadline[64], deadline_text[64];
    duration_to_interval(&rc_rule->deadline, deadline, sizeof deadline);
    duration_format(&rc_rule->deadline, deadline_text, sizeof deadline_text);
    PGresult *res = db_record_request(ctx->db, tenant, &scope, reference, operator_name,
                                      rc_rule->enabled ? deadline : NULL);
    if (!res)
        return EXIT_RUNTIME;
    printf("recorded deletion request %s\n", PQgetvalue(res, 0, 0));
    printf("tenant:      %s\n", tenant);
    if (scope.kind == SCOPE_TENANT)
        printf("scope:       the whole tenant\n");
    else
        printf("scope:       %s %s\n", scope_label(scope.kind), scope.value);
    printf("rule:        %s\n", rc_rule->name);
    printf("reference:   %s\n", reference);
    printf("occurred_at: %s\n", PQgetvalue(res, 0, 1));
    if (rc_rule->enabled)
        printf("deadline_at: %s (%s, as configured)\n", PQgetvalue(res, 0, 2), deadline_text);
    else
        printf("deadline_at: none: %s is disabled in the config\n", rc_rule->name);
    if (operator_name)
        printf("operator:    %s\n", operator_name);
    PQclear(res);
    return EXIT_DONE;
}
