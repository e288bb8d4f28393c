/* lethe hold place|release|list: puts items (and their copies) beyond purging, lets them go,
 * and shows who did which. Each change is audited (hold_placed, hold_released) with the
 * operator's name in the same transaction. The database allows one change to a hold, its
 * release; this command never touches batches: a hold does not recall a batch already
 * emitted. Subject ids stay off stderr and out of the list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "audit.h"
#include "cli.h"
#include "db.h"
#include "dbaudit.h"
#include "dbrestore.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "ids.h"
#include "jobs.h"
#include "log.h"
#include "operator.h"
#include "text.h"

/* --operator NAME, else the login name; false after printing why there is none. */
static bool operator_of(struct lethe_ctx *ctx, const char *given, const char **out)
{
    if (given && !*given) {
        cli_usage(ctx, "%s: --operator must not be empty", ctx->command);
        return false;
    }
    *out = given;
    return operator_resolve(ctx, out);
}

/* HMAC of the subject for the audit, when there is a subject and an audit key. */
static bool subject_mac(const struct lethe_ctx *ctx, const char *subject, char mac[AUDIT_HEX_LEN],
                        const char **out)
{
    *out = NULL;
    if (!subject || ctx->audit_key.len == 0)
        return true;
    if (!audit_hmac_subject(&ctx->audit_key, subject, mac))
        return false;
    *out = mac;
    return true;
}

static int place(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        SCOPE_LONG_OPTIONS,
        {"reason", required_argument, 0, 'r'},    {"reference", required_argument, 0, 'f'},
        {"operator", required_argument, 0, 'o'},  {0, 0, 0, 0}};
    struct scope_args a = {.what = "hold place", .scope = {SCOPE_TENANT, NULL}};
    const char *reason = NULL, *reference = NULL, *given = NULL, *operator_name;
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
            reason = optarg;
            break;
        case 'f':
            reference = optarg;
            break;
        case 'o':
            given = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "hold place: unexpected argument '%s'", argv[optind]);
    if (!a.tenant[0])
        return cli_usage(ctx, "hold place: --tenant is required");
    if (!reason || !*reason)
        return cli_usage(ctx, "hold place: --reason is required (why the items must be kept)");
    if (reference && !*reference)
        return cli_usage(ctx, "hold place: --reference must not be empty");
    if (!operator_of(ctx, given, &operator_name))
        return EXIT_USAGE;
    if (scope_subject_not_in(ctx, &a, "--reference", reference) != EXIT_DONE ||
        scope_subject_not_in(ctx, &a, "the operator's name", operator_name) != EXIT_DONE)
        return EXIT_USAGE;

    if (ctx->parse_only)
        return EXIT_DONE;
    int rc = scope_check(ctx, &a);
    if (rc != EXIT_DONE)
        return rc;
    /* a hold's records are its tenant's chain's alone */
    if ((rc = anchor_check_before_write_to(ctx->db, ctx->cfg.anchor_file, "hold place", 0,
                                           a.tenant)) != EXIT_DONE)
        return rc;
    const char *tenant = a.tenant;
    const struct scope scope = a.scope;
    char mac[AUDIT_HEX_LEN];
    const char *hmac;
    if (!subject_mac(ctx, scope.kind == SCOPE_SUBJECT ? scope.value : NULL, mac, &hmac))
        return EXIT_RUNTIME;
    PGresult *res = NULL;
    if (!db_begin(ctx->db))
        return EXIT_RUNTIME;
    if (!db_hold_fence(ctx->db) || !dbaudit_stage_open(ctx->db) ||
        !(res = db_place_hold(ctx->db, tenant, &scope, reason, reference, operator_name, hmac)) ||
        !dbaudit_commit(ctx->db)) {
        db_rollback(ctx->db);
        PQclear(res);
        return EXIT_RUNTIME;
    }
    /* The id alone on stdout, so that HOLD=$(lethe hold place ...) works. */
    printf("%s\n", db_str(res, 0, "hold_id"));
    if (scope.kind == SCOPE_TENANT)
        log_info("hold: placed on tenant %s at %s by %s", tenant, db_str(res, 0, "placed_at"),
                 operator_name);
    else if (scope.kind == SCOPE_SUBJECT)
        log_info("hold: placed on a data subject's items in tenant %s at %s by %s", tenant,
                 db_str(res, 0, "placed_at"), operator_name);
    else
        log_info("hold: placed on %s %s in tenant %s at %s by %s",
                 scope.kind == SCOPE_WORKSPACE ? "workspace" : "item", scope.value, tenant,
                 db_str(res, 0, "placed_at"), operator_name);
    /* SPEC §3: a hold does not recall a batch already emitted. Whoever places one for
     * litigation must know at once what it cannot keep. */
    PGresult *f = db_hold_in_flight(ctx->db, tenant, db_str(res, 0, "hold_id"));
    int batches = f ? PQntuples(f) : 0;
    for (int i = 0; i < batches; i++) {
        const char *n = db_str(f, i, "items");
        log_warn("hold: %s %s in its scope %s already in open batch %s (%s), which a hold does not "
                 "recall", n, strcmp(n, "1") == 0 ? "item" : "items",
                 strcmp(n, "1") == 0 ? "is" : "are", db_str(f, i, "batch_id"), db_str(f, i, "location"));
    }
    if (batches == 1)
        log_hint("its deleter may have %s already; 'lethe batches --state open' shows the batch",
                 strcmp(db_str(f, 0, "items"), "1") == 0 ? "it" : "them");
    else if (batches > 1)
        log_hint("their deleters may have them already; 'lethe batches --state open' shows the "
                 "batches");
    PQclear(f);
    PQclear(res);
    return EXIT_DONE;
}

static int release(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, 0, 't'},
                                         {"operator", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    char tenant[UUID_TEXT_LEN] = "", hold[UUID_TEXT_LEN];
    const char *given = NULL, *operator_name;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'o') {
            given = optarg;
            continue;
        }
        if (c != 't')
            return EXIT_USAGE;
        if (!cli_id(ctx, "--tenant", optarg, tenant))
            return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(ctx, "hold release: name the hold: hold release HOLD_ID");
    if (optind + 1 < argc)
        return cli_usage(ctx, "hold release: unexpected argument '%s'", argv[optind + 1]);
    if (!cli_id(ctx, "HOLD_ID", argv[optind], hold))
        return EXIT_USAGE;
    if (!operator_of(ctx, given, &operator_name))
        return EXIT_USAGE;

    if (ctx->parse_only)
        return EXIT_DONE;
    int rc = anchor_check_before_write(ctx->db, ctx->cfg.anchor_file, "hold release", 0);
    if (rc != EXIT_DONE)
        return rc;
    rc = EXIT_RUNTIME;
    PGresult *found = NULL, *res = NULL;
    if (!db_begin(ctx->db))
        return EXIT_RUNTIME;
    found = db_find_hold(ctx->db, hold, tenant[0] ? tenant : NULL);
    if (!found)
        goto cleanup;
    if (PQntuples(found) == 0) {
        if (tenant[0])
            log_error("hold release: no hold %s in tenant %s", hold, tenant);
        else
            log_error("hold release: no hold %s", hold);
        log_hint("'lethe hold list' shows the holds; 'lethe hold place' prints a new one's id");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (PQntuples(found) > 1) {
        log_error("hold release: hold %s exists in more than one tenant", hold);
        log_hint("pass --tenant T to say which");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    char holder[UUID_TEXT_LEN];
    snprintf(holder, sizeof holder, "%s", db_str(found, 0, "tenant_id"));
    char mac[AUDIT_HEX_LEN];
    const char *hmac;
    if (!subject_mac(ctx, db_get(found, 0, "subject_id"), mac, &hmac) || !dbaudit_stage_open(ctx->db))
        goto cleanup;
    res = db_release_hold(ctx->db, holder, hold, operator_name, hmac);
    if (!res)
        goto cleanup;
    if (PQntuples(res) == 0) {
        /* Released already, by an earlier release (a retry) or one that committed meanwhile:
         * the hold is released, which is what was asked. Nothing is recorded twice. */
        PQclear(found);
        found = db_find_hold(ctx->db, hold, holder);
        if (!found || PQntuples(found) != 1)
            goto cleanup;
        const char *by = db_get(found, 0, "released_by");
        printf("hold %s of tenant %s was already released at %s%s%s; nothing to do\n", hold,
               holder, db_str(found, 0, "released_at"), by ? " by " : "", text_shown(by));
        rc = EXIT_DONE;
        goto cleanup;
    }
    if (!dbaudit_commit(ctx->db))
        goto cleanup;
    printf("released hold %s of tenant %s at %s by %s\n", hold, holder, db_str(res, 0, "released_at"),
           text_shown(operator_name));
    PQclear(found);
    PQclear(res);
    return EXIT_DONE;
cleanup:
    db_rollback(ctx->db);
    PQclear(found);
    PQclear(res);
    return rc;
}

static void list_json(const PGresult *r)
{
    static const char *const keys[] = {"hold_id",   "tenant_id", "tenant_name", "scope",
                                       "scope_id",  "reason",    "reference",   "placed_at",
                                       "placed_by", "released_at", "released_by", "active",
                                       "state"};
    fputs("{\"holds\": [", stdout);
    for (int row = 0; row < PQntuples(r); row++) {
        fputs(row ? ",\n  {" : "\n  {", stdout);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            printf("%s\"%s\": ", k ? ", " : "", keys[k]);
            if (strcmp(keys[k], "active") == 0)
                json_bool(stdout, r, row, db_col(r, keys[k]));
            else
                json_text(stdout, r, row, db_col(r, keys[k]));
        }
        fputs("}", stdout);
    }
    fputs(PQntuples(r) ? "\n]}\n" : "]}\n", stdout);
}

static void list_text(const PGresult *r)
{
    long active = 0;
    for (int row = 0; row < PQntuples(r); row++)
        active += db_str(r, row, "active")[0] == 't';
    printf("%d hold%s, %ld active\n", PQntuples(r), PQntuples(r) == 1 ? "" : "s", active);
    for (int row = 0; row < PQntuples(r); row++) {
        const char *scope = db_str(r, row, "scope");
        printf("\nhold %s  %s\n", db_str(r, row, "hold_id"), db_str(r, row, "state"));
        printf("  tenant:    %s (%s)\n", db_str(r, row, "tenant_id"),
               text_shown(db_str(r, row, "tenant_name")));
        if (strcmp(scope, "tenant") == 0)
            printf("  scope:     the whole tenant\n");
        else if (strcmp(scope, "subject") == 0)
            printf("  scope:     a data subject's items\n");
        else
            printf("  scope:     %s %s\n", scope, text_shown(db_str(r, row, "scope_id")));
        printf("  reason:    %s\n", text_shown(db_str(r, row, "reason")));
        if (db_get(r, row, "reference"))
            printf("  reference: %s\n", text_shown(db_str(r, row, "reference")));
        const char *by = db_get(r, row, "placed_by");
        printf("  placed:    %s%s%s\n", db_str(r, row, "placed_at"), by ? " by " : "",
               text_shown(by));
        if (db_get(r, row, "released_at")) {
            by = db_get(r, row, "released_by");
            printf("  released:  %s%s%s\n", db_str(r, row, "released_at"), by ? " by " : "",
                   text_shown(by));
        }
    }
}

static int list(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, 0, 't'},
                                         {"active", no_argument, 0, 'a'},
                                         {"json", no_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    char tenant[UUID_TEXT_LEN] = "";
    bool active = false, json = false;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 't') {
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
        } else if (c == 'a') {
            active = true;
        } else if (c == 'j') {
            json = true;
        } else {
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "hold list: unexpected argument '%s'", argv[optind]);
    if (ctx->parse_only)
        return EXIT_DONE;
    db_set_needed_role("lethe_engine", "hold list");
    if (tenant[0]) {
        int found = db_tenant_exists(ctx->db, tenant);
        if (found < 0)
            return EXIT_RUNTIME;
        if (!found) {
            /* One written after the backup of a restored database may have holds among the
             * records a replay left out of its chain (sql/0111): said (it said "no tenant"
             * alone, an outside tryout's finding). */
            PGresult *w = dbrestore_withheld_open(ctx->db, tenant);
            int audited = w && PQntuples(w) == 0 ? dbaudit_chain_exists(ctx->db, tenant) : 0;
            if (!w || audited < 0) {
                PQclear(w);
                return EXIT_RUNTIME;
            }
            log_error("hold list: no tenant %s", tenant);
            if (PQntuples(w)) {
                char said[512];
                dbrestore_withheld_said(w, 0, said, sizeof said);
                log_hint("%s: the tenant may have been written after the backup, and its holds "
                         "may be among them; once the producer has sent the tenant again, %s",
                         said, RESTORE_WITHHELD_HINT);
            } else if (audited)
                /* and once replayed, the audit holds its records still (an outside tryout) */
                log_hint("the audit records this tenant, which the catalog lacks: a restore took "
                         "it (written after the backup); once the producer has sent it again, "
                         "'lethe status --check' names the holds and requests to record again");
            else
                log_hint("tenants are the rows of lethe.tenants; check the id");
            PQclear(w);
            return EXIT_USAGE;
        }
    }
    PGresult *r = db_hold_list(ctx->db, tenant[0] ? tenant : NULL, active);
    if (!r)
        return EXIT_RUNTIME;
    /* A restored database lists holds released since the backup as active, and lacks those
     * placed since. Judged once the holds were read: a login that may not read them heard of
     * the anchor check's tables first, three errors for one refusal (an outside tryout). */
    anchor_warn_if_behind(ctx->db, ctx->cfg.anchor_file, "hold list");
    /* and one whose tenant's chain is short of records a replay left out (sql/0111) may lack a
     * hold placed after the last run, or list as active one released since: it said nothing. */
    PGresult *w = dbrestore_withheld_open(ctx->db, tenant[0] ? tenant : NULL);
    if (!w) {
        PQclear(r);
        return EXIT_RUNTIME;
    }
    int warned = 0;
    for (int i = 0; i < PQntuples(w); i++) {
        if (strcmp(db_str(w, i, "tenant_id"), NIL_UUID) == 0)
            continue; /* the engine's chain records no hold */
        char said[512];
        dbrestore_withheld_said(w, i, said, sizeof said);
        log_warn("hold list: %s: a hold placed or released after the last run may be among them, "
                 "and this list would lack it", said);
        warned++;
    }
    if (warned)
        log_hint(RESTORE_WITHHELD_HINT);
    PQclear(w);
    if (json)
        list_json(r);
    else
        list_text(r);
    PQclear(r);
    return EXIT_DONE;
}

int job_hold(struct lethe_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage(ctx, "hold: name what to do: hold place ..., hold release HOLD_ID or "
                              "hold list");
    if (strcmp(argv[1], "place") == 0)
        return place(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "release") == 0)
        return release(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return list(ctx, argc - 1, argv + 1);
    return cli_usage(ctx, "hold: unknown subcommand '%s'", argv[1]);
}
