/* lethe request: records an operator's deletion request as a deletion_requested event that
 * occurs now, with its request_recorded audit record naming the operator, in one transaction
 * (a request recorded again after a restore lost it occurs when the audit first recorded it).
 * A retry (same tenant, reference and scope) records nothing. The next run derives its
 * obligation; this command never derives or purges.
 * A subject id is never printed, on stdout or stderr: the scope says "a data subject's items",
 * as hold place does (stdout is logged too, under a timer or a script). */
#include <stdio.h>
#include <string.h>

#include "anchor.h"
#include "audit.h"
#include "cli.h"
#include "db.h"
#include "dbrestore.h"
#include "dbaudit.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "operator.h"
#include "text.h"

/* A request a restore took from the catalog (replay named it, and status names it while the
 * catalog lacks it: dbrestore_lost_still) is recorded again under its reference with its own
 * scope: under another, it would purge what nobody asked for, and the lost one could then never
 * be recorded (a reference names one request of a tenant). The audit knows the scope, and a subject by its HMAC (HMAC: this request's, NULL
 * without an audit key). Asked before anything is written, the audit key's use included.
 * EXIT_DONE, or the exit code after saying why. */
static int lost_scope_check(struct lethe_ctx *ctx, const char *tenant, const char *reference,
                            const struct scope *scope, const char *hmac)
{
    PGresult *lost = dbrestore_lost_still(ctx->db);
    if (!lost)
        return EXIT_RUNTIME;
    char mine[64 + UUID_TEXT_LEN];
    bool named = scope->kind == SCOPE_ITEM || scope->kind == SCOPE_WORKSPACE;
    snprintf(mine, sizeof mine, "%s%s%s",
             scope->kind == SCOPE_TENANT ? "tenant" : scope_label(scope->kind), named ? " " : "",
             named ? scope->value : "");
    int rc = EXIT_DONE;
    for (int i = 0; i < PQntuples(lost) && rc == EXIT_DONE; i++) {
        if (strcmp(db_str(lost, i, "kind"), "request_recorded") != 0 ||
            strcmp(db_str(lost, i, "tenant_id"), tenant) != 0 ||
            strcmp(db_str(lost, i, "reference"), reference) != 0)
            continue;
        const char *theirs = db_str(lost, i, "scope"), *their_mac = db_str(lost, i, "subject_hmac");
        bool subject = scope->kind == SCOPE_SUBJECT && strcmp(theirs, "subject") == 0;
        bool no_key = subject && *their_mac && !hmac;
        bool other_subject = subject && *their_mac && hmac && strcmp(hmac, their_mac) != 0;
        if (strcmp(theirs, mine) == 0 && !no_key && !other_subject)
            continue;
        rc = EXIT_USAGE;
        if (no_key) {
            log_error("request: the audit records request \"%s\" of tenant %s (seq %s, scope "
                      "subject), which a restore took from the catalog, and names its subject by "
                      "an HMAC: without an audit key lethe cannot tell whether this is that "
                      "subject; nothing recorded", text_shown(reference), tenant,
                      db_str(lost, i, "seq"));
            log_hint("record it again with audit.key_file set to the key it was recorded with");
            continue;
        }
        log_error("request: the audit records request \"%s\" of tenant %s (seq %s, scope %s), "
                  "which a restore took from the catalog; this request %s%s: nothing recorded",
                  text_shown(reference), tenant, db_str(lost, i, "seq"), theirs,
                  other_subject ? "names another subject (or the audit key is not the one it was "
                                  "recorded with)"
                                : "has scope ",
                  other_subject ? "" : mine);
        log_hint("record it again with the scope the audit records (%s%s), or give this "
                 "request a reference of its own",
                 theirs, strcmp(theirs, "subject") == 0 ? ": the subject it named" : "");
    }
    PQclear(lost);
    return rc;
}

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

    if (!operator_resolve(ctx, &operator_name))
        return EXIT_USAGE;
    if (scope_subject_not_in(ctx, &a, "--reference", reference) != EXIT_DONE ||
        scope_subject_not_in(ctx, &a, "the operator's name", operator_name) != EXIT_DONE)
        return EXIT_USAGE;

    if (ctx->parse_only)
        return EXIT_DONE;
    int rc = scope_check(ctx, &a);
    if (rc != EXIT_DONE)
        return rc;
    /* a request's record is its tenant's chain's alone */
    if ((rc = anchor_check_before_write_to(ctx->db, ctx->cfg.anchor_file, "request", 0,
                                           a.tenant)) != EXIT_DONE)
        return rc;
    const char *tenant = a.tenant;
    const struct scope scope = a.scope;
    const struct rule_config *rc_rule =
        &ctx->cfg.rules[scope.kind == SCOPE_SUBJECT ? RULE_SUBJECT_REQUEST : RULE_DELETION_REQUEST];
    char deadline[64], deadline_text[64], mac[AUDIT_HEX_LEN];
    duration_to_interval(&rc_rule->deadline, deadline, sizeof deadline);
    duration_format(&rc_rule->deadline, deadline_text, sizeof deadline_text);
    const char *hmac = NULL;
    if (scope.kind == SCOPE_SUBJECT && ctx->audit_key.len > 0) {
        if (!audit_hmac_subject(&ctx->audit_key, scope.value, mac))
            return EXIT_RUNTIME;
        hmac = mac;
    }
    if ((rc = lost_scope_check(ctx, tenant, reference, &scope, hmac)) != EXIT_DONE)
        return rc;
    if (!dbaudit_key_check(ctx->db, &ctx->audit_key, true, "request"))
        return EXIT_RUNTIME;

    PGresult *same = NULL, *res = NULL;
    rc = EXIT_RUNTIME;
    if (!db_begin(ctx->db))
        return EXIT_RUNTIME;
    if (!db_lock_requests(ctx->db, tenant) ||
        !(same = db_requests_with_reference(ctx->db, tenant, reference, &scope)))
        goto cleanup;
    /* A retry records nothing. A cancellation names its request by reference and would
     * withdraw every request of the tenant that shares it, so another scope under the same
     * reference is refused rather than recorded. */
    if (PQntuples(same) > 0) {
        int row = 0; /* the earliest with the same scope, else the earliest */
        for (int i = PQntuples(same) - 1; i >= 0; i--)
            if (db_true(same, i, "same_scope"))
                row = i;
        const char *ev = db_str(same, row, "event_id"), *by = db_get(same, row, "operator");
        if (!db_true(same, row, "same_scope")) {
            log_error("request: reference \"%s\" already names deletion request %s of tenant %s,"
                      " with another scope", reference, ev, tenant);
            log_hint("a cancellation names its request by reference; give this request a"
                     " reference of its own");
            rc = EXIT_USAGE;
            goto cleanup;
        }
        /* A cancellation withdrew it: the same reference again would be taken for a retry
         * and record nothing, and the subject would believe the request in force. */
        const char *cancelled = db_get(same, row, "cancelled_at");
        if (cancelled) {
            log_error("request: deletion request %s of tenant %s with reference \"%s\" (occurred"
                      " at %s) was withdrawn by a cancellation at %s; nothing recorded",
                      ev, tenant, text_shown(reference), db_str(same, row, "occurred_at"),
                      cancelled);
            log_hint("a cancellation names its request by reference; give the new request a"
                     " reference of its own");
            rc = EXIT_USAGE;
            goto cleanup;
        }
        printf("deletion request %s of tenant %s already has reference %s (occurred at %s%s%s);"
               " nothing recorded\n",
               ev, tenant, text_shown(reference), db_str(same, row, "occurred_at"),
               by ? ", recorded by " : "", text_shown(by));
        rc = EXIT_DONE;
        goto cleanup;
    }
    /* An item stamped ahead of the database's clock (producers may write up to five minutes
     * ahead: sql/0080) is not covered by a request recorded now; the catalog refuses it, with a
     * producer's hint ("give the time the request was made") that lethe request cannot follow.
     * Whether it is Customer Data is said once the request is recorded. */
    bool not_customer_data = false;
    if (scope.kind == SCOPE_ITEM) {
        PGresult *it = db_item_for_request(ctx->db, tenant, scope.value);
        if (!it)
            goto cleanup;
        const char *ahead = PQntuples(it) > 0 ? db_get(it, 0, "created_ahead") : NULL;
        not_customer_data = PQntuples(it) > 0 && !db_true(it, 0, "customer_data");
        if (ahead) {
            log_error("request: item %s was created at %s, later than now on the database's "
                      "clock: a request covers the items created by the time it is recorded",
                      scope.value, ahead);
            log_hint("its producer's clock is ahead of the database's (by up to five minutes); "
                     "record the request again after %s; nothing was recorded",
                     ahead);
            PQclear(it);
            rc = EXIT_USAGE;
            goto cleanup;
        }
        PQclear(it);
    }
    if (!dbaudit_stage_open(ctx->db) ||
        !(res = db_record_request(ctx->db, tenant, &scope, reference, operator_name,
                                  rc_rule->name, rc_rule->enabled ? deadline : NULL, hmac))) {
        /* The catalog refused the request as the contract forbids (an item created after
         * it occurred, a scope its tenant does not hold): bad input, said by the database. */
        if (strncmp(db_last_sqlstate(), "23", 2) == 0)
            rc = EXIT_USAGE;
        goto cleanup;
    }
    if (!dbaudit_commit(ctx->db))
        goto cleanup;
    printf("recorded deletion request %s\n", db_str(res, 0, "event_id"));
    printf("tenant:      %s\n", tenant);
    if (scope.kind == SCOPE_TENANT)
        printf("scope:       the whole tenant\n");
    else if (scope.kind == SCOPE_SUBJECT) /* as hold place says it: no subject id in clear */
        printf("scope:       a data subject's items\n");
    else
        printf("scope:       %s %s\n", scope_label(scope.kind), text_shown(scope.value));
    printf("rule:        %s\n", rc_rule->name);
    printf("reference:   %s\n", text_shown(reference));
    /* Recorded again after a restore lost it: it occurred when the audit first recorded it. */
    if (db_get(res, 0, "first_seq"))
        printf("occurred_at: %s (recorded again: the audit records it first at seq %s of tenant"
               " %s, before a restore lost it)\n",
               db_str(res, 0, "occurred_at"), db_str(res, 0, "first_seq"), tenant);
    else
        printf("occurred_at: %s\n", db_str(res, 0, "occurred_at"));
    if (rc_rule->enabled)
        printf("deadline_at: %s (%s, as configured)\n", db_str(res, 0, "deadline_at"), deadline_text);
    else
        printf("deadline_at: none: %s is disabled in the config\n", rc_rule->name);
    printf("operator:    %s\n", text_shown(operator_name));
    /* Recorded as asked, but it covers nothing: said, or the operator would take a later
     * "done: no covered item is left to purge" for a deletion (SPEC §3, C7). */
    if (not_customer_data)
        log_warn("request: item %s is a system log, not Customer Data (C7): no rule purges it, "
                 "or any copy made of it, so this request covers nothing",
                 scope.value);
    /* An item already handed to a deleter keeps the rule and deadline its batch was made
     * under (SPEC §6): a request with an earlier deadline is met for it only if that batch is
     * acknowledged by then, which nothing else would tell the operator. */
    PGresult *f = rc_rule->enabled ? db_request_in_flight(ctx->db, tenant, &scope,
                                                          db_str(res, 0, "deadline_at"))
                                   : NULL;
    int batches = f ? PQntuples(f) : 0;
    bool one = batches == 1 && strcmp(db_str(f, 0, "items"), "1") == 0;
    for (int i = 0; i < batches; i++) {
        const char *n = db_str(f, i, "items");
        bool single = strcmp(n, "1") == 0;
        log_warn("request: %s %s in its scope %s already in open batch %s (%s), whose deadline "
                 "(%s) is later than this request's: %s with that batch, under its rule", n,
                 single ? "item" : "items", single ? "is" : "are", db_str(f, i, "batch_id"),
                 db_str(f, i, "location"), db_str(f, i, "deadline_at"),
                 single ? "it goes" : "they go");
    }
    if (batches > 0)
        log_hint("acknowledge %s before %s ('lethe batches --state open' shows %s), or this "
                 "request's deadline is missed for %s",
                 batches == 1 ? "the batch" : "each of these batches",
                 db_str(res, 0, "deadline_at"), batches == 1 ? "it" : "them", one ? "it" : "them");
    PQclear(f);
    PQclear(same);
    PQclear(res);
    return EXIT_DONE;
cleanup:
    db_rollback(ctx->db);
    PQclear(same);
    PQclear(res);
    return rc;
}
