/* lethe hold place|release: puts items (and their copies) beyond purging, and lets them go.
 * The database allows one change to a hold, setting released_at once; this command never
 * touches batches: a hold does not recall a batch already emitted. Subject ids stay off stderr. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

static int place(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        SCOPE_LONG_OPTIONS,
        {"reason", required_argument, 0, 'r'},    {"reference", required_argument, 0, 'f'},
        {0, 0, 0, 0}};
    struct scope_args a = {.what = "hold place", .scope = {SCOPE_TENANT, NULL}};
    const char *reason = NULL, *reference = NULL;
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

    int rc = scope_check(ctx, &a);
    if (rc != EXIT_DONE)
        return rc;
    const char *tenant = a.tenant;
    const struct scope scope = a.scope;
    PGresult *res = db_place_hold(ctx->db, tenant, &scope, reason, reference);
    if (!res)
        return EXIT_RUNTIME;
    /* The id alone on stdout, so that HOLD=$(lethe hold place ...) works. */
    printf("%s\n", PQgetvalue(res, 0, 0));
    if (scope.kind == SCOPE_TENANT)
        log_info("hold: placed on tenant %s at %s", tenant, PQgetvalue(res, 0, 1));
    else if (scope.kind == SCOPE_SUBJECT)
        log_info("hold: placed on a data subject's items in tenant %s at %s", tenant,
                 PQgetvalue(res, 0, 1));
    else
        log_info("hold: placed on %s %s in tenant %s at %s",
                 scope.kind == SCOPE_WORKSPACE ? "workspace" : "item", scope.value, tenant,
                 PQgetvalue(res, 0, 1));
    PQclear(res);
    return EXIT_DONE;
}

static int release(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, 0, 't'}, {0, 0, 0, 0}};
    char tenant[UUID_TEXT_LEN] = "", hold[UUID_TEXT_LEN];
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
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

    int rc = EXIT_RUNTIME;
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
        log_hint("hold ids are the rows of lethe.holds; 'lethe hold place' prints a new one");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (PQntuples(found) > 1) {
        log_error("hold release: hold %s exists in more than one tenant", hold);
        log_hint("pass --tenant T to say which");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    const char *holder = PQgetvalue(found, 0, 0);
    res = db_release_hold(ctx->db, holder, hold);
    if (!res)
        goto cleanup;
    if (PQntuples(res) == 0) {
        /* Released already, by an earlier release or one that committed meanwhile. */
        PGresult *again = db_find_hold(ctx->db, hold, holder);
        log_error("hold release: hold %s was already released at %s", hold,
                  again && PQntuples(again) == 1 ? PQgetvalue(again, 0, 1) : "an earlier time");
        log_hint("a hold is released once; place a new hold to keep the items again");
        PQclear(again);
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (!db_commit(ctx->db))
        goto cleanup;
    printf("released hold %s of tenant %s at %s\n", hold, holder, PQgetvalue(res, 0, 0));
    rc = EXIT_DONE;
cleanup:
    if (rc != EXIT_DONE)
        db_rollback(ctx->db);
    PQclear(found);
    PQclear(res);
    return rc;
}

int job_hold(struct lethe_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage(ctx, "hold: name what to do: hold place ... or hold release HOLD_ID");
    if (strcmp(argv[1], "place") == 0)
        return place(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "release") == 0)
        return release(ctx, argc - 1, argv + 1);
    return cli_usage(ctx, "hold: unknown subcommand '%s'", argv[1]);
}
