/* lethe rerun: an operator re-drives an open batch (manifest again, executor again), or puts
 * a failed batch's still-due items into a new batch at once. Takes the run lock. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "dbaudit.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

static const char *default_operator(void)
{
    const char *u = getenv("SUDO_USER");
    if (!u || !*u)
        u = getenv("USER");
    return u && *u ? u : "operator";
}

int job_rerun(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"operator", required_argument, 0, 'o'},
                                         {"tenant", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    const char *operator_name = NULL;
    char tenant[UUID_TEXT_LEN] = "", batch[UUID_TEXT_LEN];
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'o')
            operator_name = optarg;
        else if (c == 't') {
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
        } else
            return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(ctx, "rerun: which batch? give BATCH_ID");
    if (optind + 1 < argc)
        return cli_usage(ctx, "rerun: unexpected argument '%s'", argv[optind + 1]);
    if (!cli_id(ctx, "BATCH_ID", argv[optind], batch))
        return EXIT_USAGE;
    if (!operator_name)
        operator_name = default_operator();

    PGconn *db = ctx->db;
    const char *p[] = {batch, tenant[0] ? tenant : NULL};
    PGresult *r = db_query(db,
                           "SELECT b.state, b.location, coalesce(b.shard, '') FROM lethe.batches b"
                           " WHERE b.batch_id = $1::uuid AND ($2::uuid IS NULL OR EXISTS ("
                           "   SELECT 1 FROM lethe.batch_items bi WHERE bi.batch_id = b.batch_id"
                           "      AND bi.tenant_id = $2::uuid))",
                           2, p);
    if (!r)
        return EXIT_RUNTIME;
    if (PQntuples(r) == 0) {
        PQclear(r);
        log_error("rerun: unknown batch %s", batch);
        log_hint("'lethe status' lists open and failing batches");
        return EXIT_USAGE;
    }
    char state[32], location[64];
    snprintf(state, sizeof state, "%s", PQgetvalue(r, 0, 0));
    snprintf(location, sizeof location, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    if (strcmp(state, "acknowledged") == 0) {
        log_error("rerun: batch %s is acknowledged; there is nothing to rerun", batch);
        log_hint("'lethe explain ITEM_ID' shows when each of its items was purged");
        return EXIT_USAGE;
    }
    int rc = cycle_lock(ctx, 0, 0);
    if (rc != EXIT_DONE)
        return rc;
    if ((rc = anchor_check_before_run(db, ctx->cfg.anchor_file, "rerun")) != EXIT_DONE)
        return rc;
    log_set_run_id(ctx->session_id);

    /* The rerun is recorded as an operator's run, so that a new batch has a run to belong to. */
    const char *rp[] = {ctx->session_id, operator_name, batch};
    if (!db_begin(db) || !dbaudit_stage_open(db) ||
        !db_exec(db,
                 "INSERT INTO lethe.runs (run_id, trigger, operator, as_of)"
                 " VALUES ($1::uuid, 'operator', $2, now())",
                 2, rp)) {
        db_rollback(db);
        return EXIT_RUNTIME;
    }
    char new_batch[UUID_TEXT_LEN] = "";
    if (strcmp(state, "failed") == 0) {
        r = db_query(db,
                     "SELECT batch_id::text FROM lethe.emit_batches($1::uuid, now(), 0, 0, 2147483647,"
                     "  (SELECT shard FROM lethe.batches WHERE batch_id = $2::uuid),"
                     "  ARRAY(SELECT item_id FROM lethe.batch_items WHERE batch_id = $2::uuid), $2::uuid)",
                     2, (const char *[]){ctx->session_id, batch});
        if (!r) {
            db_rollback(db);
            return EXIT_RUNTIME;
        }
        if (PQntuples(r) > 0)
            snprintf(new_batch, sizeof new_batch, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    const char *ap[] = {ctx->session_id, operator_name, batch, location, new_batch[0] ? new_batch : NULL};
    if (!db_exec(db,
                 "INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, operator, detail)"
                 " VALUES ('00000000-0000-0000-0000-000000000000', 'operator_rerun', $1::uuid, $3::uuid,"
                 "         $4, $2, CASE WHEN $5::text IS NULL THEN 'redrive' ELSE 'new batch ' || $5 END)",
                 5, ap) ||
        dbaudit_flush(db) < 0 || !db_commit(db)) {
        db_rollback(db);
        return EXIT_RUNTIME;
    }
    long purged = 0, failed = 0;
    bool ok = true;
    if (strcmp(state, "open") == 0) {
        ok = cycle_drive_batch(ctx, batch, location, operator_name, &purged, &failed);
        printf("rerun: batch %s re-driven: %ld purged, %ld failed\n", batch, purged, failed);
    } else if (new_batch[0]) {
        ok = cycle_drive_batch(ctx, new_batch, location, operator_name, &purged, &failed);
        printf("rerun: failed batch %s: still-due items put in new batch %s: %ld purged, %ld failed\n",
               batch, new_batch, purged, failed);
    } else {
        printf("rerun: failed batch %s: none of its items is due any more; no new batch\n", batch);
    }
    /* A rerun is a run: it ends with a checkpoint, and its heads are anchored. */
    const char *fp[] = {ctx->session_id, ok ? "succeeded" : "failed"};
    char *heads = NULL;
    if (!db_begin(db) ||
        !db_exec(db,
                 "UPDATE lethe.runs SET outcome = $2, finished_at = clock_timestamp() WHERE run_id = $1::uuid",
                 2, fp) ||
        !(heads = dbaudit_checkpoint(db, ctx->session_id)) || !db_commit(db)) {
        free(heads);
        db_rollback(db);
        return EXIT_RUNTIME;
    }
    free(heads);
    if (!anchor_append(db, ctx->cfg.anchor_file, ctx->session_id))
        return EXIT_RUNTIME;
    return ok ? EXIT_DONE : EXIT_RUNTIME;
}
