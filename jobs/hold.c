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

static int set_scope(const struct lethe_ctx *ctx, struct scope *s, enum scope_kind kind,
                     const char *option, const char *value, char id[UUID_TEXT_LEN])
{
    if (s->kind != SCOPE_TENANT)
        return cli_usage(ctx, "hold place: give at most one of --workspace, --subject and --item");
    if (kind == SCOPE_SUBJECT) {
        if (!*value)
            return cli_usage(ctx, "hold place: --subject must not be empty");
        s->value = value;
    } else {
        if (!cli_id(ctx, option, value, id))
            return EXIT_USAGE;
        s->value = id;
    }
    s->kind = kind;
    return EXIT_DONE;
}

static int place(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, 0, 't'},    {"workspace", required_argument, 0, 'w'},
        {"subject", required_argument, 0, 's'},   {"item", required_argument, 0, 'i'},
        {"reason", required_argument, 0, 'r'},    {"reference", required_argument, 0, 'f'},
        {0, 0, 0, 0}};
    char tenant[UUID_TEXT_LEN] = "", scope_id[UUID_TEXT_LEN];
    const char *reason = NULL, *reference = NULL;
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
            reason = optarg;
            break;
        case 'f':
            reference = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
        if (rc != EXIT_DONE)
            return rc;
    }
    if (optind < argc)
        return cli_usage(ctx, "hold place: unexpected argument '%s'", argv[optind]);
    if (!tenant[0])
        return cli_usage(ctx, "hold place: --tenant is required");
    if (!reason || !*reason)
        return cli_usage(ctx, "hold place: --reason is required (why the items must be kept)");

    int found = db_tenant_exists(ctx->db, tenant);
    if (found < 0)
        return EXIT_RUNTIME;
    if (!found) {
        log_error("hold place: no tenant %s", tenant);
        log_hint("tenants are the rows of lethe.tenants; check the id");
        return EXIT_USAGE;
    }
    /* A subject cannot be checked: a hold may well come before the subject's data does. */
    if (scope.kind == SCOPE_WORKSPACE || scope.kind == SCOPE_ITEM) {
        found = scope.kind == SCOPE_WORKSPACE ? db_workspace_exists(ctx->db, tenant, scope.value)
                                              : db_item_exists(ctx->db, tenant, scope.value);
        if (found < 0)
            return EXIT_RUNTIME;
        if (!found) {
            log_error("hold place: no %s %s in tenant %s",
                      scope.kind == SCOPE_WORKSPACE ? "workspace" : "item", scope.value, tenant);
            log_hint("check the id, and that it belongs to this tenant");
            return EXIT_USAGE;
        }
    }
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
