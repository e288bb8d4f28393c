/* The run cycle: lock, record, derive, re-drive, emit, drive, prune, finish. Every step that
 * matters is one transaction; between them a kill loses nothing, because the next run
 * re-drives open batches and items are tombstoned only on acknowledgement. */
#define _POSIX_C_SOURCE 200809L
#include "cycle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anchor.h"
#include "atomicfile.h"
#include "audit.h"
#include "dbaudit.h"
#include "db.h"
#include "executor.h"
#include "exitcode.h"
#include "fault.h"
#include "log.h"
#include "manifest.h"

#define LOCK_CLASS 7283310
#define SHARD_CLASS 7283311

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void cycle_trap_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

bool cycle_stopping(void) { return stop_flag != 0; }

static long as_long(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atol(PQgetvalue(r, row, col));
}

/* ---- the run lock ----------------------------------------------------------------------- */

int cycle_lock(struct lethe_ctx *ctx, int k, int n)
{
    char key[32];
    snprintf(key, sizeof key, "%d", n * 65536 + k);
    const char *p[] = {key};
    PGresult *r;
    bool got;
    if (n == 0) {
        r = db_query_one_row(ctx->db, "SELECT pg_try_advisory_lock(7283310, 0)", 0, NULL);
        if (!r)
            return EXIT_RUNTIME;
        got = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
    } else {
        r = db_query_one_row(ctx->db,
                             "SELECT pg_try_advisory_lock_shared(7283310, 0)"
                             " AND (pg_try_advisory_lock(7283311, $1::integer)"
                             "      OR NOT pg_advisory_unlock_shared(7283310, 0))",
                             1, p);
        if (!r)
            return EXIT_RUNTIME;
        got = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
    }
    if (got)
        return EXIT_DONE;
    r = db_query(ctx->db,
                 "SELECT coalesce(r.run_id::text, nullif(split_part(a.application_name, '/', 3), ''),"
                 "                'pid ' || a.pid),"
                 "       lethe.iso_utc(coalesce(r.started_at, a.backend_start)),"
                 "       coalesce(r.shard, split_part(a.application_name, '/', 2))"
                 "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                 "  LEFT JOIN lethe.runs r ON r.run_id::text = split_part(a.application_name, '/', 3)"
                 " WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()"
                 "   AND ((l.classid = 7283310 AND l.objid = 0 AND ($1::integer < 65536 OR l.mode = 'ExclusiveLock'))"
                 "        OR (l.classid = 7283311 AND (l.objid = $1::integer OR $1::integer < 65536)))"
                 " ORDER BY r.started_at NULLS LAST LIMIT 1",
                 1, p);
    if (r && PQntuples(r) == 1)
        log_error("the run lock is held by run %s, started %s", PQgetvalue(r, 0, 0),
                  PQgetvalue(r, 0, 1));
    else
        log_error("the run lock is held by another run");
    log_hint("wait for it to finish; 'lethe status' shows the last runs");
    PQclear(r);
    return EXIT_LOCKED;
}

/* ---- batches ---------------------------------------------------------------------------- */

bool cycle_record_ack(struct lethe_ctx *ctx, const char *batch_id, const struct exec_result *er,
                       const char *operator_name, long *purged, long *failed)
{
    PGconn *db = ctx->db;
    /* Arrays as text literals: ids are parsed UUIDs; reasons are quoted for array syntax. */
    size_t cap = 16 + (size_t)er->n_failed * 40, rcap = 16;
    for (int i = 0; i < er->n_failed; i++)
        rcap += strlen(er->failed[i].reason) * 2 + 4;
    char *ids = malloc(cap), *reasons = malloc(rcap);
    bool ok = false;
    if (!ids || !reasons)
        goto cleanup;
    size_t u = 0, v = 0;
    ids[u++] = '{';
    reasons[v++] = '{';
    for (int i = 0; i < er->n_failed; i++) {
        u += (size_t)snprintf(ids + u, cap - u, "%s%s", i ? "," : "", er->failed[i].item_id);
        if (i)
            reasons[v++] = ',';
        reasons[v++] = '"';
        for (const char *c = er->failed[i].reason; *c; c++) {
            if (*c == '"' || *c == '\\')
                reasons[v++] = '\\';
            reasons[v++] = *c;
        }
        reasons[v++] = '"';
    }
    ids[u++] = '}';
    ids[u] = '\0';
    reasons[v++] = '}';
    reasons[v] = '\0';
    const char *whole = er->ok ? "f" : "t";
    const char *p[] = {batch_id, ids, reasons, whole, er->detail, operator_name};
    if (!db_begin(db))
        goto cleanup;
    if (!dbaudit_stage_open(db))
        goto fail;
    PGresult *r = db_query_one_row(db,
                                   "SELECT lethe.ack_batch($1::uuid, $2::uuid[], $3::text[], $4::boolean,"
                                   "                       $5, $6),"
                                   "       (SELECT count(*) FROM lethe.batch_items"
                                   "         WHERE batch_id = $1::uuid AND outcome = 'failed')",
                                   6, p);
    if (!r)
        goto fail;
    long n_purged = as_long(r, 0, 0), n_failed = as_long(r, 0, 1);
    PQclear(r);
    if (er->stderr_tail && !db_exec(db,
                                    "UPDATE lethe.batches SET error = $2 WHERE batch_id = $1::uuid",
                                    2, (const char *[]){batch_id, er->stderr_tail}))
        goto fail;
    if (dbaudit_flush(db) < 0)
        goto fail;
    fault_point("ack_before_commit");
    if (!db_commit(db))
        goto fail;
    *purged += n_purged;
    *failed += n_failed;
    ok = true;
    goto cleanup;
fail:
    db_rollback(db);
cleanup:
    free(ids);
    free(reasons);
    return ok;
}

static long timeout_seconds(const struct lethe_config *cfg)
{
    return (long)(cfg->executor_timeout.seconds + (int64_t)cfg->executor_timeout.months * 30 * 86400);
}

bool cycle_drive_batch(struct lethe_ctx *ctx, const char *batch_id, const char *location,
                       const char *operator_name, long *purged, long *failed)
{
    char path[4200];
    const char *command = config_executor_for(&ctx->cfg, location);
    /* Without an executor an open batch only needs its manifest on disk; one that is there
     * already is the same bytes, so an idle run does not rewrite it. */
    if (!command && manifest_path(ctx->cfg.spool_dir, location, batch_id, path, sizeof path) &&
        access(path, F_OK) == 0 && !operator_name)
        return true;
    if (!manifest_write(ctx->db, ctx->cfg.spool_dir, location, batch_id, path, sizeof path))
        return false;
    fault_point("after_manifest");
    if (!command) {
        log_info("batch %s (%s) written to %s; it waits for 'lethe ack'", batch_id, location, path);
        return true;
    }
    if (!db_exec(ctx->db, "UPDATE lethe.batches SET attempts = attempts + 1 WHERE batch_id = $1::uuid",
                 1, (const char *[]){batch_id}))
        return false;
    struct exec_result er;
    log_debug("executor: running for batch %s (%s)", batch_id, location);
    if (!executor_run(command, path, batch_id, location, timeout_seconds(&ctx->cfg), &er)) {
        exec_result_free(&er);
        return false;
    }
    fault_point("after_executor");
    for (int i = 0; i < er.n_failed; i++)
        log_warn("batch %s: item %s failed: %s", batch_id, er.failed[i].item_id, er.failed[i].reason);
    if (!er.ok)
        log_warn("batch %s (%s) failed: executor %s; its items are due again at the next run",
                 batch_id, location, er.detail);
    bool ok = cycle_record_ack(ctx, batch_id, &er, operator_name, purged, failed);
    exec_result_free(&er);
    return ok;
}

/* ---- the run ---------------------------------------------------------------------------- */

static bool sync_rules(struct lethe_ctx *ctx)
{
    char deadline[64], grace[64], lookahead[64];
    for (int i = 0; i < RULE_COUNT; i++) {
        const struct rule_config *rc = &ctx->cfg.rules[i];
        duration_to_interval(&rc->deadline, deadline, sizeof deadline);
        duration_to_interval(&rc->grace, grace, sizeof grace);
        const char *p[] = {rc->name, deadline, grace, rc->enabled ? "t" : "f"};
        if (!db_exec(ctx->db,
                     "UPDATE lethe.rules SET deadline = $2::interval, grace = $3::interval,"
                     "       enabled = $4::boolean"
                     " WHERE rule = $1 AND (deadline::text, grace::text, enabled)"
                     "       IS DISTINCT FROM ($2::interval::text, $3::interval::text, $4::boolean)",
                     4, p))
            return false;
    }
    duration_to_interval(&ctx->cfg.lookahead, lookahead, sizeof lookahead);
    return db_exec(ctx->db,
                   "UPDATE lethe.settings SET lookahead = $1::interval"
                   " WHERE lookahead::text IS DISTINCT FROM $1::interval::text",
                   1, (const char *[]){lookahead});
}

/* New subject requests get HMAC-SHA256(key, subject) before anything audits them. */
static bool hmac_subjects(struct lethe_ctx *ctx, const char *k, const char *n)
{
    if (!ctx->cfg.audit_key_file)
        return true;
    const char *p[] = {k, n};
    PGresult *r = db_query(ctx->db,
                           "SELECT tenant_id, obligation_id, subject_id FROM lethe.obligations"
                           " WHERE subject_id IS NOT NULL AND subject_hmac IS NULL"
                           "   AND lethe.in_shard(tenant_id, $1::integer, $2::integer)",
                           2, p);
    if (!r)
        return false;
    bool ok = true;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        char mac[65];
        if (!audit_hmac_subject(ctx->cfg.audit_key_file, PQgetvalue(r, i, 2), mac)) {
            ok = false;
            break;
        }
        const char *q[] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), mac};
        ok = db_exec(ctx->db,
                     "UPDATE lethe.obligations SET subject_hmac = $3"
                     " WHERE tenant_id = $1::uuid AND obligation_id = $2::bigint",
                     3, q);
    }
    PQclear(r);
    return ok;
}

static bool derive(struct lethe_ctx *ctx, const char *as_of, const char *k, const char *n,
                   struct run_counts *c)
{
    PGconn *db = ctx->db;
    const char *p[] = {as_of, k, n};
    if (!sync_rules(ctx))
        return false;
    PGresult *r = db_query_one_row(db, "SELECT * FROM lethe.derive_consume($1::integer, $2::integer)",
                                   2, p + 1);
    if (!r)
        return false;
    c->events = as_long(r, 0, 0);
    c->items = as_long(r, 0, 1);
    c->obligations = as_long(r, 0, 2);
    PQclear(r);
    if (!hmac_subjects(ctx, k, n))
        return false;
    r = db_query_one_row(db,
                         "SELECT * FROM lethe.derive_apply($1::timestamptz, $2::integer, $3::integer)",
                         3, p);
    if (!r)
        return false;
    c->withdrawn = as_long(r, 0, 0);
    c->expanded = as_long(r, 0, 1);
    PQclear(r);
    return true;
}

static int dry_run(struct lethe_ctx *ctx, const char *as_of, const char *k, const char *n)
{
    PGconn *db = ctx->db;
    struct run_counts c = {0};
    int rc = EXIT_RUNTIME;
    if (!db_begin(db))
        return EXIT_RUNTIME;
    if (!dbaudit_stage_open(db) || !derive(ctx, as_of, k, n, &c))
        goto cleanup;
    const char *p[] = {as_of, k, n};
    if (!db_exec(db,
                 "CREATE TEMP TABLE plan ON COMMIT DROP AS"
                 " SELECT * FROM lethe.due_items($1::timestamptz, $2::integer, $3::integer)",
                 3, p))
        goto cleanup;
    PGresult *r = db_query(db,
                 "SELECT 'total', '', count(*) FILTER (WHERE hold_id IS NULL),"
                 "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan"
                 " UNION ALL (SELECT 'location', location, count(*) FILTER (WHERE hold_id IS NULL),"
                 "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan GROUP BY location ORDER BY location)"
                 " UNION ALL (SELECT 'rule', rule, count(*) FILTER (WHERE hold_id IS NULL),"
                 "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan GROUP BY rule ORDER BY rule)"
                 " UNION ALL (SELECT 'tenant', tenant_id::text, count(*) FILTER (WHERE hold_id IS NULL),"
                 "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan GROUP BY tenant_id ORDER BY tenant_id)",
                 0, NULL);
    if (!r)
        goto cleanup;
    long max = ctx->cfg.batch_max_items;
    printf("plan at %s (dry run: nothing written)\n", as_of);
    printf("  new events %ld, new items %ld, obligations %ld, withdrawn %ld\n", c.events, c.items,
           c.obligations, c.withdrawn);
    const char *section = "";
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 0);
        long due = as_long(r, i, 2), held = as_long(r, i, 3);
        if (strcmp(kind, "total") == 0) {
            printf("  due %ld items, held %ld\n", due, held);
            continue;
        }
        if (strcmp(section, kind) != 0) {
            section = kind;
            printf("by %s:\n", kind);
        }
        if (strcmp(kind, "location") == 0)
            printf("  %-36s %8ld items in %ld batch%s, %ld held\n", PQgetvalue(r, i, 1), due,
                   (due + max - 1) / max, (due + max - 1) / max == 1 ? "" : "es", held);
        else
            printf("  %-36s %8ld items, %ld held\n", PQgetvalue(r, i, 1), due, held);
    }
    PQclear(r);
    rc = EXIT_DONE;
cleanup:
    db_rollback(db);
    return rc;
}

static bool start_record(struct lethe_ctx *ctx, const struct run_opts *o, const char *as_of,
                         const char *shard)
{
    PGconn *db = ctx->db;
    const char *p[] = {ctx->session_id, o->operator_name ? "operator" : "timer", o->operator_name,
                       shard[0] ? shard : NULL, as_of};
    if (!db_begin(db))
        return false;
    /* Runs left 'running' by a dead process of this scope: we hold their lock now. */
    if (!db_exec(db,
                 "UPDATE lethe.runs SET outcome = 'died', finished_at = clock_timestamp()"
                 " WHERE outcome = 'running' AND ($1::text IS NULL OR shard = $1 OR shard IS NULL)",
                 1, p + 3) ||
        !db_exec(db,
                 "INSERT INTO lethe.runs (run_id, trigger, operator, shard, as_of)"
                 " VALUES ($1::uuid, $2, $3, $4, $5::timestamptz)",
                 5, p) ||
        !dbaudit_stage_open(db) ||
        !db_exec(db,
                 "INSERT INTO audit_stage (tenant_id, kind, run_id, operator, detail)"
                 " VALUES ('00000000-0000-0000-0000-000000000000', 'run_started', $1::uuid, $3,"
                 "         concat_ws(' ', 'as_of ' || lethe.iso_utc($5::timestamptz),"
                 "                   'shard ' || $4, 'trigger ' || $2))",
                 5, p) ||
        dbaudit_flush(db) < 0 || !db_commit(db)) {
        db_rollback(db);
        return false;
    }
    return true;
}

static bool finish_record(struct lethe_ctx *ctx, const char *outcome, const struct run_counts *c,
                          const char *error)
{
    PGconn *db = ctx->db;
    char n[8][24];
    long vals[] = {c->events, c->due, c->batches, c->purged, c->failed, c->held};
    for (int i = 0; i < 6; i++)
        snprintf(n[i], sizeof n[i], "%ld", vals[i]);
    const char *p[] = {ctx->session_id, outcome, n[0], n[1], n[2], n[3], n[4], n[5], error};
    if (PQstatus(db) != CONNECTION_OK)
        PQreset(db);
    if (!db_begin(db))
        return false;
    if (!db_exec(db,
                 "UPDATE lethe.runs SET outcome = $2, finished_at = clock_timestamp(),"
                 " events = $3::integer, items_due = $4::integer, batches = $5::integer,"
                 " purged = $6::integer, failed = $7::integer, held = $8::integer, error = $9"
                 " WHERE run_id = $1::uuid",
                 9, p) ||
        !dbaudit_stage_open(db) ||
        !db_exec(db,
                 "INSERT INTO audit_stage (tenant_id, kind, run_id, count, detail)"
                 " VALUES ('00000000-0000-0000-0000-000000000000', 'run_finished', $1::uuid,"
                 "         $6::bigint, concat_ws(', ', $2::text, 'due ' || $4::text, 'batches ' || $5::text,"
                 "         'failed ' || $7::text, 'held ' || $8::text, 'events ' || $3::text))",
                 8, p) ||
        dbaudit_flush(db) < 0) {
        db_rollback(db);
        return false;
    }
    char *heads = dbaudit_checkpoint(db, ctx->session_id);
    if (!heads || !db_commit(db)) {
        free(heads);
        db_rollback(db);
        return false;
    }
    /* The heads before the checkpoint; anchor_append logs the heads after it. */
    log_debug("checkpoint: %s", heads);
    free(heads);
    return true;
}

static bool write_metrics(struct lethe_ctx *ctx, const char *file, const char *outcome,
                          double seconds, const struct run_counts *c)
{
    /* Per run, from the batches this run closed: a cost in proportion to the run's work. */
    PGresult *r = db_query(ctx->db,
                           "SELECT 'lethe_run_items_purged_by_rule{rule=\"' || bi.rule || '\",location=\"'"
                           "       || bi.location || '\"} ' || count(*)"
                           "  FROM lethe.batches b"
                           "  JOIN lethe.batch_items bi ON bi.batch_id = b.batch_id AND bi.outcome = 'purged'"
                           " WHERE b.closed_at >= (SELECT started_at FROM lethe.runs WHERE run_id = $1::uuid)"
                           " GROUP BY bi.rule, bi.location ORDER BY bi.rule, bi.location",
                           1, (const char *[]){ctx->session_id});
    PGresult *s = db_query_one_row(ctx->db,
                                   "SELECT (SELECT count(*) FROM lethe.item_obligations p"
                                   "         JOIN lethe.rules r ON r.rule = p.rule"
                                   "        WHERE p.triggered_at + r.deadline < now()),"
                                   "       coalesce((SELECT extract(epoch FROM max(finished_at))::bigint"
                                   "          FROM lethe.runs WHERE outcome = 'succeeded'), 0),"
                                   "       (SELECT count(*) FROM lethe.batches WHERE state = 'open')",
                                   0, NULL);
    bool ok = false;
    struct afile af = {0};
    if (!r || !s || afile_open(&af, file, 0644, 0, "metrics") != AFILE_OK)
        goto cleanup;
    FILE *f = af.f;
    fprintf(f, "# HELP lethe_run_items_purged_by_rule Items the last run purged, by rule and location.\n"
               "# TYPE lethe_run_items_purged_by_rule gauge\n");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(f, "%s\n", PQgetvalue(r, i, 0));
    fprintf(f,
            "# HELP lethe_run_batches Batches emitted by the last run.\n"
            "# TYPE lethe_run_batches gauge\nlethe_run_batches %ld\n"
            "# HELP lethe_run_items_purged Items purged by the last run.\n"
            "# TYPE lethe_run_items_purged gauge\nlethe_run_items_purged %ld\n"
            "# HELP lethe_run_items_failed Items that failed in the last run.\n"
            "# TYPE lethe_run_items_failed gauge\nlethe_run_items_failed %ld\n"
            "# HELP lethe_run_items_held Due items blocked by a hold in the last run.\n"
            "# TYPE lethe_run_items_held gauge\nlethe_run_items_held %ld\n"
            "# HELP lethe_overdue_items Due items past their deadline and not purged.\n"
            "# TYPE lethe_overdue_items gauge\nlethe_overdue_items %s\n"
            "# HELP lethe_open_batches Batches waiting for acknowledgement.\n"
            "# TYPE lethe_open_batches gauge\nlethe_open_batches %s\n"
            "# HELP lethe_run_duration_seconds Duration of the last run.\n"
            "# TYPE lethe_run_duration_seconds gauge\nlethe_run_duration_seconds %.3f\n"
            "# HELP lethe_run_success 1 when the last run succeeded.\n"
            "# TYPE lethe_run_success gauge\nlethe_run_success %d\n"
            "# HELP lethe_last_success_timestamp_seconds End of the last successful run.\n"
            "# TYPE lethe_last_success_timestamp_seconds gauge\n"
            "lethe_last_success_timestamp_seconds %s\n",
            c->batches, c->purged, c->failed, c->held, PQgetvalue(s, 0, 0), PQgetvalue(s, 0, 2),
            seconds, strcmp(outcome, "succeeded") == 0, PQgetvalue(s, 0, 1));
    ok = afile_commit(&af, "metrics");
cleanup:
    afile_abandon(&af);
    PQclear(r);
    PQclear(s);
    return ok;
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int cycle_run(struct lethe_ctx *ctx, const struct run_opts *o)
{
    PGconn *db = ctx->db;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char k[16], n[16], shard[40] = "", as_of[TIME_TEXT_LEN];
    snprintf(k, sizeof k, "%d", o->shard_k);
    snprintf(n, sizeof n, "%d", o->shard_n);
    if (o->shard_n)
        snprintf(shard, sizeof shard, "%d/%d", o->shard_k, o->shard_n);
    const char *given[] = {o->as_of[0] ? o->as_of : NULL};
    PGresult *r = db_query_one_row(db,
                                   "SELECT lethe.iso_utc(coalesce($1::timestamptz, now())),"
                                   "       coalesce($1::timestamptz > now(), false)",
                                   1, given);
    if (!r)
        return EXIT_RUNTIME;
    snprintf(as_of, sizeof as_of, "%s", PQgetvalue(r, 0, 0));
    bool future = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (future && !o->dry_run) {
        log_error("run: --as-of %s is in the future", as_of);
        log_hint("evaluate a future instant with --dry-run; a real run purges only what is due now");
        return EXIT_USAGE;
    }
    if (o->dry_run)
        return dry_run(ctx, as_of, k, n);

    int rc = cycle_lock(ctx, o->shard_k, o->shard_n);
    if (rc != EXIT_DONE)
        return rc;
    /* SPEC §7: a database behind its own anchors refuses before it writes anything. */
    if ((rc = anchor_check_before_run(db, ctx->cfg.anchor_file, "run")) != EXIT_DONE)
        return rc;
    cycle_trap_signals();
    log_set_run_id(ctx->session_id);
    if (!start_record(ctx, o, as_of, shard))
        return EXIT_RUNTIME;
    log_info("run %s started: as_of %s%s%s", ctx->session_id, as_of, shard[0] ? ", shard " : "",
             shard);

    struct run_counts c = {0};
    const char *outcome = "succeeded";
    char error[512] = "";
    rc = EXIT_DONE;

    /* 2. derive */
    if (!db_begin(db) || !dbaudit_stage_open(db) || !derive(ctx, as_of, k, n, &c) ||
        dbaudit_flush(db) < 0 || !db_commit(db)) {
        db_rollback(db);
        snprintf(error, sizeof error, "derivation failed: %s", db_last_message());
        goto failed;
    }
    fault_point("after_derive");
    log_debug("derived: %ld new events, %ld new items, %ld obligations, %ld withdrawn, %ld expanded",
              c.events, c.items, c.obligations, c.withdrawn, c.expanded);

    /* 3. re-drive open batches that a dead run (or an earlier attempt) left behind */
    const char *sp[] = {shard[0] ? shard : NULL};
    r = db_query(db,
                 "SELECT batch_id::text, location FROM lethe.batches"
                 " WHERE state = 'open' AND ($1::text IS NULL OR shard = $1)"
                 " ORDER BY created_at, batch_id",
                 1, sp);
    if (!r) {
        snprintf(error, sizeof error, "listing open batches failed: %s", db_last_message());
        goto failed;
    }
    for (int i = 0; i < PQntuples(r) && !cycle_stopping(); i++) {
        if (!cycle_drive_batch(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), NULL, &c.purged,
                               &c.failed)) {
            snprintf(error, sizeof error, "batch %s could not be driven", PQgetvalue(r, i, 0));
            PQclear(r);
            goto failed;
        }
        c.redriven++;
    }
    PQclear(r);

    /* 4-5. select due items and group them into batches */
    char maxb[24];
    snprintf(maxb, sizeof maxb, "%lld", ctx->cfg.batch_max_items);
    const char *ep[] = {ctx->session_id, as_of, k, n, maxb, shard[0] ? shard : NULL};
    if (!db_begin(db) || !dbaudit_stage_open(db)) {
        db_rollback(db);
        snprintf(error, sizeof error, "emission failed: %s", db_last_message());
        goto failed;
    }
    r = db_query(db,
                 "SELECT batch_id::text, location, items FROM lethe.emit_batches($1::uuid,"
                 " $2::timestamptz, $3::integer, $4::integer, $5::integer, $6)",
                 6, ep);
    /* emit_batches counted the held items while it had the due items at hand. */
    PGresult *h = r ? db_query_one_row(db, "SELECT current_setting('lethe.emit_held')::bigint", 0, NULL)
                    : NULL;
    if (!r || !h || dbaudit_flush(db) < 0 || !db_commit(db)) {
        PQclear(r);
        PQclear(h);
        db_rollback(db);
        snprintf(error, sizeof error, "emission failed: %s", db_last_message());
        goto failed;
    }
    c.held = as_long(h, 0, 0);
    PQclear(h);
    fault_point("after_emit");
    c.batches = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        c.due += as_long(r, i, 2);
    log_info("emitted %ld batch%s with %ld items (%ld held)", c.batches, c.batches == 1 ? "" : "es",
             c.due, c.held);

    /* 6-7. manifests, executors, acknowledgements; a stop request is honoured between batches */
    struct progress *pg = progress_new("purging", c.due);
    long done_items = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (cycle_stopping()) {
            outcome = "interrupted";
            snprintf(error, sizeof error, "stopped by a signal; %d batch%s left open for the next run",
                     PQntuples(r) - i, PQntuples(r) - i == 1 ? "" : "es");
            rc = EXIT_RUNTIME;
            break;
        }
        if (!cycle_drive_batch(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), NULL, &c.purged,
                               &c.failed)) {
            snprintf(error, sizeof error, "batch %s could not be driven; it stays open",
                     PQgetvalue(r, i, 0));
            PQclear(r);
            progress_free(pg);
            goto failed;
        }
        done_items += as_long(r, i, 2);
        progress_update(pg, done_items);
    }
    progress_free(pg);
    PQclear(r);

    /* spool hygiene: manifests hold locators, so they go after spool.keep */
    char keep[64];
    duration_to_interval(&ctx->cfg.spool_keep, keep, sizeof keep);
    if (manifest_prune(db, ctx->cfg.spool_dir, keep) < 0)
        log_warn("spool: pruning old manifests failed; the next run tries again");
    goto finish;

failed:
    outcome = "failed";
    rc = EXIT_RUNTIME;
    log_error("run %s failed: %s", ctx->session_id, error);
finish:
    if (!finish_record(ctx, outcome, &c, error[0] ? error : NULL)) {
        log_error("run %s: could not record the end of the run", ctx->session_id);
        rc = EXIT_RUNTIME;
    } else if (!anchor_append(db, ctx->cfg.anchor_file, ctx->session_id)) {
        rc = rc ? rc : EXIT_RUNTIME;
    }
    double secs = elapsed(&t0);
    if (o->metrics_file && !write_metrics(ctx, o->metrics_file, outcome, secs, &c))
        rc = rc ? rc : EXIT_RUNTIME;
    printf("run %s %s: as_of %s%s%s, %ld new events, %ld due, %ld batches, %ld purged, "
           "%ld failed, %ld held, %.2fs\n",
           ctx->session_id, outcome, as_of, shard[0] ? ", shard " : "", shard, c.events, c.due,
           c.batches, c.purged, c.failed, c.held, secs);
    return rc;
}
