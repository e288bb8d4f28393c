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

/* Shared by request and hold place: the scope options, at most one of them, each once. */
static int set_scope(const struct lethe_ctx *ctx, struct scope *s, enum scope_kind kind,
                     const char *option, const char *value, char id[UUID_TEXT_LEN])
{
    if (s->kind != SCOPE_TENANT)
        return cli_usage(ctx, "%s: give at most one of --workspace, --subject and --item",
                         ctx->command);
    if (kind == SCOPE_SUBJECT) {
        if (!*value)
            return cli_usage(ctx, "%s: --subject must not be empty", ctx->command);
        s->value = value;
    } else {
        if (!cli_id(ctx, option, value, id))
            return EXIT_USAGE;
        s->value = id;
    }
    s->kind = kind;
    return EXIT_DONE;
}

static const char *scope_label(const struct scope *s)
{
    switch (s->kind) {
    case SCOPE_WORKSPACE: return "workspace";
    case SCOPE_SUBJECT: return "subject";
    case SCOPE_ITEM: return "item";
    default: return "the whole tenant";
    }
}

int job_request(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, 0, 't'},    {"workspace", required_argument, 0, 'w'},
        {"subject", required_argument, 0, 's'},   {"item", required_argument, 0, 'i'},
        {"reference", required_argument, 0, 'r'}, {"operator", required_argument, 0, 'o'},
        {0, 0, 0, 0}};
    char tenant[UUID_TEXT_LEN] = "", scope_id[UUID_TEXT_LEN];
    const char *reference = NULL, *operator_name = NULL;
    struct scope scope = {SCOPE_TENANT, NULL};
    int rc = EXIT_DONE, c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        switch (c) {
        case 't':
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
            break;
        case 'w':
            rc = set_scope(ctx, &scope, SCOPE_WORKSPACE, "--workspace", optarg, scope_id);
            break;
        case 's':
            rc = set_scope(ctx, &scope, SCOPE_SUBJECT, "--subject", optarg, scope_id);
            break;
        case 'i':
            rc = set_scope(ctx, &scope, SCOPE_ITEM, "--item", optarg, scope_id);
            break;
        case 'r':
            reference = optarg;
            break;
        case 'o':
            operator_name = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
        if (rc != EXIT_DONE)
            return rc;
    }
    if (optind < argc)
        return cli_usage(ctx, "request: unexpected argument '%s'", argv[optind]);
    if (!tenant[0])
        return cli_usage(ctx, "request: --tenant is required");
    if (!reference || !*reference)
        return cli_usage(ctx, "request: --reference is required (the ticket or request id)");
    if (operator_name && !*operator_name)
        return cli_usage(ctx, "request: --operator must not be empty");

    int found = db_tenant_exists(ctx->db, tenant);
    if (found < 0)
        return EXIT_RUNTIME;
    if (!found) {
        log_error("request: no tenant %s", tenant);
        log_hint("tenants are the rows of lethe.tenants; check the id");
        return EXIT_USAGE;
    }
    if (scope.kind == SCOPE_WORKSPACE || scope.kind == SCOPE_ITEM) {
        found = scope.kind == SCOPE_WORKSPACE ? db_workspace_exists(ctx->db, tenant, scope.value)
                                              : db_item_exists(ctx->db, tenant, scope.value);
        if (found < 0)
            return EXIT_RUNTIME;
        if (!found) {
            log_error("request: no %s %s in tenant %s", scope_label(&scope), scope.value, tenant);
            log_hint("check the id, and that it belongs to this tenant");
            return EXIT_USAGE;
        }
    }

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
        printf("scope:       %s %s\n", scope_label(&scope), scope.value);
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
