/* SQL of the run cycle and of ack and rerun: the statements cycle.c, manifest.c, ack.c and
 * rerun.c need, each behind a function named for what it does. No logic of the run lives
 * here, and nothing is read by position: callers read the named columns. */
#define _POSIX_C_SOURCE 200809L
#include "dbcycle.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define NIL_CHAIN "'00000000-0000-0000-0000-000000000000'"

bool dbcycle_try_lock(PGconn *db, const char *k, const char *n, bool *got)
{
    PGresult *r = db_query_one_row(db, "SELECT lethe.run_lock($1::integer, $2::integer) AS got", 2,
                                   (const char *[]){k, n});
    if (!r)
        return false;
    *got = db_true(r, 0, "got");
    PQclear(r);
    return true;
}

PGresult *dbcycle_lock_holder(PGconn *db, int k, int n)
{
    /* A lethe session's application_name is lethe/<command>/<session id> (db.c); a run's
     * session id is its run id. Of several holders, one in the way of K/N comes first: a
     * session of no shard (a run over the catalog, migrate, replay, reconcile), or a run of
     * another N (any, when N is 0); else the run of K/N itself. */
    char ks[16], ns[16];
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(ns, sizeof ns, "%d", n);
    return db_query(db,
                    "SELECT coalesce(r.run_id::text, nullif(s.session, ''), 'pid ' || a.pid) AS holder,"
                    "       lethe.iso_utc(coalesce(r.started_at, a.backend_start)) AS started,"
                    "       coalesce(r.shard, '') AS shard,"
                    "       (r.run_id IS NOT NULL OR s.command IN ('run', 'rerun')) AS is_run,"
                    "       coalesce(s.command, '') AS command"
                    "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    "  LEFT JOIN LATERAL (SELECT split_part(a.application_name, '/', 2) AS command,"
                    "                            split_part(a.application_name, '/', 3) AS session"
                    "                      WHERE a.application_name LIKE 'lethe/%/%') s ON true"
                    "  LEFT JOIN lethe.runs r ON r.run_id::text = s.session"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()"
                    "   AND l.database = (SELECT d.oid FROM pg_database d"
                    "                      WHERE d.datname = current_database())"
                    "   AND l.classid IN (7283310, 7283311, 7283312)"
                    " ORDER BY (r.shard IS NULL OR $2::integer = 0"
                    "           OR r.shard = $1::text || '/' || $2::text"
                    "           OR split_part(r.shard, '/', 2) <> $2::text) DESC,"
                    "          r.started_at NULLS LAST LIMIT 1",
                    2, (const char *[]){ks, ns});
}

PGresult *dbcycle_as_of(PGconn *db, const char *given)
{
    return db_query_one_row(db,
                            "SELECT lethe.iso_utc(coalesce($1::timestamptz, now())) AS as_of,"
                            "       coalesce($1::timestamptz > now(), false) AS future",
                            1, (const char *[]){given});
}

PGresult *dbcycle_geo_known(PGconn *db, const char *geo)
{
    return db_query_one_row(db,
                            "SELECT EXISTS (SELECT 1 FROM lethe.geos WHERE geo = $1) AS known,"
                            "       (SELECT string_agg(geo, ', ' ORDER BY geo) FROM lethe.geos) AS geos",
                            1, (const char *[]){geo});
}

bool dbcycle_run_started(PGconn *db, const char *const p[6])
{
    /* Runs left 'running' by a dead process whose shard set overlaps ours: the caller holds
     * their lock now. A run of another shard of the same N may be alive: it is dead when no
     * session holds its shard's lock (RUN_PROCESS_GONE; a shard worker killed while the
     * others ran on was left 'running', and status showed the last run's success). Each gets its
     * run_finished record here, after this run's run_started (a window's engine chain still
     * begins with a run's first record): outcome died, the items its acknowledgements purged
     * and failed (counted as they were recorded), and the run that found it dead; runs.error
     * says so too (it was left NULL, as if a died run had no reason). The records go straight
     * to the engine chain (lethe.audit_append_run, sql/0055): no stage is made for them. The
     * dead runs are marked before the engine chain's head is locked by the first append, the
     * order a run took before (it staged, marked, then flushed): a run of another shard by an
     * older lethe, started at the same time, would otherwise wait on each other's locks. */
    if (!db_exec(db,
                 "INSERT INTO lethe.runs (run_id, trigger, operator, shard, as_of)"
                 " VALUES ($1::uuid, $2, $3, $4, $5::timestamptz)",
                 5, p))
        return false;
    PGresult *r = db_query(db,
                           "WITH died AS ("
                           "  UPDATE lethe.runs u SET outcome = 'died', finished_at = clock_timestamp(),"
                           "         error = coalesce(error, 'found dead by run ' || $1::text"
                           "                                 || ': it ended without recording its end (killed,"
                           " or its database session lost)')"
                           "   WHERE outcome = 'running' AND run_id <> $1::uuid"
                           "     AND ($2::text IS NULL OR shard IS NULL OR shard = $2"
                           "          OR split_part(shard, '/', 2) <> $3"
                           "          OR " RUN_PROCESS_GONE("u") ")"
                           "  RETURNING run_id, started_at, purged, failed, failed_batches)"
                           " SELECT d.run_id::text AS run_id, d.purged::text AS purged,"
                           "        concat_ws(', ', 'died', 'failed items ' || d.failed,"
                           "                  'failed batches ' || d.failed_batches,"
                           "                  'found dead by run ' || $1::text) AS detail"
                           "   FROM died d ORDER BY d.started_at, d.run_id",
                           3, (const char *[]){p[0], p[3], p[5]});
    if (!r)
        return false;
    bool ok = db_exec(db,
                      "SELECT lethe.audit_append_run('run_started', $1::uuid, $3, NULL,"
                      "       concat_ws(' ', 'as_of ' || lethe.iso_utc($5::timestamptz),"
                      "                 'shard ' || $4, 'trigger ' || $2))",
                      5, p);
    for (int i = 0; ok && i < PQntuples(r); i++)
        ok = db_exec(db, "SELECT lethe.audit_append_run('run_finished', $1::uuid, NULL, $2::bigint, $3)",
                     3, (const char *[]){db_get(r, i, "run_id"), db_get(r, i, "purged"),
                                         db_get(r, i, "detail")});
    PQclear(r);
    return ok;
}

/* Only a run still 'running' is ended here. A run whose session was lost meanwhile may have
 * been found dead by another (dbcycle_run_started): that record stands, and a second
 * run_finished would contradict it. 1 recorded, 0 already ended, -1 error. */
int dbcycle_run_finished(PGconn *db, const char *const p[10])
{
    PGresult *r = db_query(db,
                           "UPDATE lethe.runs SET outcome = $2, finished_at = clock_timestamp(),"
                           " events = $3::integer, items_due = $4::integer, batches = $5::integer,"
                           " purged = $6::integer, failed = $7::integer, held = $8::integer,"
                           " error = $9, failed_batches = $10::integer"
                           " WHERE run_id = $1::uuid AND outcome = 'running' RETURNING run_id",
                           10, p);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    if (n == 0)
        return 0;
    return db_exec(db,
                   "SELECT lethe.audit_append_run('run_finished', $1::uuid, NULL, $6::bigint,"
                   "       concat_ws(', ', $2::text, 'due ' || $4::text, 'batches ' || $5::text,"
                   "                 'failed items ' || $7::text, 'failed batches ' || $9::text,"
                   "                 'held ' || $8::text, 'events ' || $3::text))",
                   9, (const char *[]){p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[9]})
               ? 1
               : -1;
}

bool dbcycle_sync_rule(PGconn *db, const char *rule, const char *deadline, const char *grace,
                       bool enabled)
{
    return db_exec(db,
                   "UPDATE lethe.rules SET deadline = $2::interval, grace = $3::interval,"
                   "       enabled = $4::boolean"
                   " WHERE rule = $1 AND (lethe.interval_parts(deadline),"
                   "                      lethe.interval_parts(grace), enabled)"
                   "       IS DISTINCT FROM (lethe.interval_parts($2::interval),"
                   "                         lethe.interval_parts($3::interval), $4::boolean)",
                   4, (const char *[]){rule, deadline, grace, enabled ? "t" : "f"});
}

bool dbcycle_sync_lookahead(PGconn *db, const char *lookahead)
{
    return db_exec(db,
                   "UPDATE lethe.settings SET lookahead = $1::interval"
                   " WHERE lethe.interval_parts(lookahead)"
                   "       IS DISTINCT FROM lethe.interval_parts($1::interval)",
                   1, (const char *[]){lookahead});
}

PGresult *dbcycle_derive_consume(PGconn *db, const char *k, const char *n)
{
    return db_query_one_row(db,
                            "SELECT events, items, obligations"
                            "  FROM lethe.derive_consume($1::integer, $2::integer)",
                            2, (const char *[]){k, n});
}

/* Along the partial index obligations_unhashed. */
PGresult *dbcycle_unhashed_subjects(PGconn *db, const char *k, const char *n,
                                    const char *after_tenant, const char *after_id)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", SUBJECT_HMAC_CHUNK);
    return db_query(db,
                    "SELECT tenant_id, obligation_id, subject_id FROM lethe.obligations"
                    " WHERE subject_id IS NOT NULL AND subject_hmac IS NULL"
                    "   AND lethe.in_shard(tenant_id, $1::integer, $2::integer)"
                    "   AND ($3::uuid IS NULL OR (tenant_id, obligation_id) > ($3::uuid, $4::bigint))"
                    " ORDER BY tenant_id, obligation_id LIMIT $5::integer",
                    5, (const char *[]){k, n, after_tenant, after_id, limit});
}

bool dbcycle_store_subject_hmacs(PGconn *db, const char *tenants, const char *ids,
                                 const char *macs)
{
    return db_exec(db,
                   "UPDATE lethe.obligations o SET subject_hmac = x.mac"
                   "  FROM unnest($1::uuid[], $2::bigint[], $3::text[]) AS x(tenant_id, id, mac)"
                   " WHERE o.tenant_id = x.tenant_id AND o.obligation_id = x.id",
                   3, (const char *[]){tenants, ids, macs});
}

PGresult *dbcycle_derive_apply(PGconn *db, const char *as_of, const char *k, const char *n)
{
    return db_query_one_row(db,
                            "SELECT withdrawn, expanded"
                            "  FROM lethe.derive_apply($1::timestamptz, $2::integer, $3::integer)",
                            3, (const char *[]){as_of, k, n});
}

int dbcycle_resent_pending(PGconn *db)
{
    return db_exists(db, "SELECT 1 FROM lethe.purged_not_in_catalog LIMIT 1", 0, NULL);
}

bool dbcycle_repurge_resent(PGconn *db, const char *run, const char *operator_name,
                            long long max, const char *k, const char *n, long *batches,
                            long *items)
{
    char maxb[24];
    snprintf(maxb, sizeof maxb, "%lld", max);
    PGresult *r = db_query_one_row(
        db,
        "SELECT count(e.batch_id) AS batches, coalesce(sum(e.items), 0) AS items"
        "  FROM lethe.repurge_resent($1::uuid, $2, $3::integer, $4::integer, $5::integer) e",
        5, (const char *[]){run, operator_name, maxb, k, n});
    if (!r)
        return false;
    *batches = db_get_long(r, 0, "batches");
    *items = db_get_long(r, 0, "items");
    PQclear(r);
    return true;
}

/* After the derivation commits: the owner's records of the withdrawals derive_apply left in
 * lethe.withdrawals_unrecorded (sql/0069). */
PGresult *dbcycle_record_withdrawals(PGconn *db, const char *k, const char *n)
{
    return db_query_one_row(db,
                            "SELECT lethe.withdrawals_record($1::integer, $2::integer) AS recorded",
                            2, (const char *[]){k, n});
}

PGresult *dbcycle_idle_probe(PGconn *db, const char *as_of, const char *k, const char *n,
                             bool hmac)
{
    return db_query_one_row(db,
                            "SELECT idle, held FROM lethe.idle_probe($1::timestamptz, $2::integer, $3::integer,"
                            " $4::boolean)",
                            4, (const char *[]){as_of, k, n, hmac ? "true" : "false"});
}

PGresult *dbcycle_plan(PGconn *db, const char *as_of, const char *k, const char *n)
{
    if (!db_exec(db,
                 "CREATE TEMP TABLE plan ON COMMIT DROP AS"
                 " SELECT * FROM lethe.due_items($1::timestamptz, $2::integer, $3::integer)",
                 3, (const char *[]){as_of, k, n}))
        return NULL;
    return db_query(db,
                    "SELECT 'total' AS kind, '' AS name, count(*) FILTER (WHERE hold_id IS NULL) AS due,"
                    "       count(*) FILTER (WHERE hold_id IS NOT NULL) AS held FROM plan"
                    " UNION ALL (SELECT 'location', location, count(*) FILTER (WHERE hold_id IS NULL),"
                    "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan GROUP BY location ORDER BY location)"
                    " UNION ALL (SELECT 'rule', rule, count(*) FILTER (WHERE hold_id IS NULL),"
                    "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan GROUP BY rule ORDER BY rule)"
                    " UNION ALL (SELECT 'tenant', tenant_id::text, count(*) FILTER (WHERE hold_id IS NULL),"
                    "       count(*) FILTER (WHERE hold_id IS NOT NULL) FROM plan GROUP BY tenant_id ORDER BY tenant_id)",
                    0, NULL);
}

int dbcycle_hold_fence_try(PGconn *db)
{
    PGresult *r = db_query_one_row(
        db, "SELECT pg_try_advisory_xact_lock_shared(" HOLD_FENCE_CLASS ", 0) AS got", 0, NULL);
    if (!r)
        return -1;
    int got = db_true(r, 0, "got") ? 1 : 0;
    PQclear(r);
    return got;
}

PGresult *dbcycle_emit(PGconn *db, const char *const p[6], long *held)
{
    PGresult *r = db_query(db,
                           "SELECT batch_id::text AS batch_id, location, items FROM lethe.emit_batches($1::uuid,"
                           " $2::timestamptz, $3::integer, $4::integer, $5::integer, $6)",
                           6, p);
    if (!r)
        return NULL;
    /* emit_batches counted the held items while it had the due items at hand. */
    PGresult *h = db_query_one_row(db, "SELECT current_setting('lethe.emit_held')::bigint AS held",
                                   0, NULL);
    if (!h) {
        PQclear(r);
        return NULL;
    }
    *held = db_get_long(h, 0, "held");
    PQclear(h);
    return r;
}

/* The open batches whose every item is in shard k/n (all of them when n is 0). Batches is a
 * local table on Citus and batch_items distributed: the two are not correlated in a
 * subquery, which Citus does not plan. */
PGresult *dbcycle_open_batches(PGconn *db, const char *k, const char *n)
{
    return db_query(db,
                    "SELECT b.batch_id::text AS batch_id, b.location, b.items FROM lethe.batches b"
                    " WHERE b.state = 'open' AND ($2::integer = 0 OR b.batch_id NOT IN ("
                    "   SELECT bi.batch_id FROM lethe.batch_items bi"
                    "    WHERE bi.batch_id IN (SELECT o.batch_id FROM lethe.batches o WHERE o.state = 'open')"
                    "      AND NOT lethe.in_shard(bi.tenant_id, $1::integer, $2::integer)))"
                    " ORDER BY b.created_at, b.batch_id",
                    2, (const char *[]){k, n});
}

PGresult *dbcycle_ack_batch(PGconn *db, const char *const p[8])
{
    return db_query_one_row(db,
                            "SELECT purged, failed, foreign_receipts, state"
                            "  FROM lethe.ack_batch($1::uuid, $2::uuid[], $3::uuid[], $4::text[],"
                            "                       $5::boolean, $6::boolean, $7, $8)",
                            8, p);
}

bool dbcycle_batch_error(PGconn *db, const char *batch_id, const char *stderr_tail)
{
    return db_exec(db, "UPDATE lethe.batches SET error = $2 WHERE batch_id = $1::uuid", 2,
                   (const char *[]){batch_id, stderr_tail});
}

bool dbcycle_run_counted(PGconn *db, const char *run_id, long purged, long failed,
                         long failed_batches)
{
    char np[24], nf[24], nb[24];
    snprintf(np, sizeof np, "%ld", purged);
    snprintf(nf, sizeof nf, "%ld", failed);
    snprintf(nb, sizeof nb, "%ld", failed_batches);
    return db_exec(db,
                   "UPDATE lethe.runs SET purged = purged + $2::integer, failed = failed + $3::integer,"
                   " failed_batches = failed_batches + $4::integer"
                   " WHERE run_id = $1::uuid",
                   4, (const char *[]){run_id, np, nf, nb});
}

bool dbcycle_run_emitted(PGconn *db, const char *run_id, long batches, long items)
{
    char nb[24], ni[24];
    snprintf(nb, sizeof nb, "%ld", batches);
    snprintf(ni, sizeof ni, "%ld", items);
    return db_exec(db,
                   "UPDATE lethe.runs SET batches = batches + $2::integer,"
                   " items_due = items_due + $3::integer WHERE run_id = $1::uuid",
                   3, (const char *[]){run_id, nb, ni});
}

bool dbcycle_batch_attempted(PGconn *db, const char *batch_id, bool undo)
{
    return db_exec(db,
                   "UPDATE lethe.batches SET attempts = attempts + $2::integer"
                   " WHERE batch_id = $1::uuid",
                   2, (const char *[]){batch_id, undo ? "-1" : "1"});
}

PGresult *dbcycle_batch_of(PGconn *db, const char *batch_id, const char *tenant)
{
    return db_query(db,
                    /* Not correlated: on Citus batches is local and batch_items distributed,
                     * which one join may not mix (the tenant's items are read on its shard). */
                    "SELECT b.state, b.location, b.attempts, b.items,"
                    "       lethe.iso_utc(now()) AS now FROM lethe.batches b"
                    " WHERE b.batch_id = $1::uuid AND ($2::uuid IS NULL OR EXISTS ("
                    "   SELECT 1 FROM lethe.batch_items bi WHERE bi.batch_id = $1::uuid"
                    "      AND bi.tenant_id = $2::uuid))",
                    2, (const char *[]){batch_id, tenant});
}

int dbcycle_batch_has_item(PGconn *db, const char *batch_id, const char *item_id)
{
    return db_exists(db,
                     "SELECT 1 FROM lethe.batch_items WHERE batch_id = $1::uuid AND item_id = $2::uuid",
                     2, (const char *[]){batch_id, item_id});
}

int dbcycle_batch_purged_any(PGconn *db, const char *batch_id)
{
    /* a repurge done in it too: its item is 'superseded', deleted again by this batch */
    return db_exists(db,
                     "SELECT 1 FROM lethe.batch_items WHERE batch_id = $1::uuid AND outcome = 'purged'"
                     " UNION ALL"
                     " SELECT 1 FROM lethe.repurges WHERE batch_id = $1::uuid AND state = 'done'"
                     " LIMIT 1",
                     1, (const char *[]){batch_id});
}

long dbcycle_batch_still_failed(PGconn *db, const char *batch_id)
{
    PGresult *r = db_query_one_row(db,
                                   "SELECT count(*) AS n FROM lethe.batch_items b"
                                   "  LEFT JOIN lethe.batch_items x ON x.tenant_id = b.tenant_id"
                                   "   AND x.item_id = b.item_id AND x.outcome = 'purged'"
                                   " WHERE b.batch_id = $1::uuid AND b.outcome = 'failed'"
                                   "   AND x.item_id IS NULL",
                                   1, (const char *[]){batch_id});
    if (!r)
        return -1;
    long n = db_get_long(r, 0, "n");
    PQclear(r);
    return n;
}

PGresult *dbcycle_batch_failed_ids(PGconn *db, const char *batch_id)
{
    return db_query_one_row(db,
                            "SELECT coalesce(array_agg(b.item_id), '{}')::text AS ids"
                            "  FROM lethe.batch_items b"
                            " WHERE b.batch_id = $1::uuid AND b.outcome = 'failed'",
                            1, (const char *[]){batch_id});
}

PGresult *dbcycle_batch_purged_under_hold(PGconn *db, const char *batch_id, const char *ids)
{
    /* Through the audit's run index: the records of the batch's own run (read first, apart:
     * on Citus the audit is distributed by tenant and joins nothing on run_id). */
    PGresult *r = db_query_one_row(db, "SELECT run_id::text AS run_id FROM lethe.batches"
                                       " WHERE batch_id = $1::uuid", 1, (const char *[]){batch_id});
    if (!r)
        return NULL;
    const char *p[] = {batch_id, db_get(r, 0, "run_id"), ids};
    PGresult *h = db_query_one_row(db,
                                   "SELECT count(*) AS items, min(a.hold_id::text) AS hold_id,"
                                   "       count(DISTINCT a.hold_id) AS holds"
                                   "  FROM lethe.audit a"
                                   " WHERE a.run_id = $2::uuid AND a.batch_id = $1::uuid"
                                   "   AND a.item_id = ANY ($3::uuid[])"
                                   "   AND a.kind = 'item_purged' AND a.detail LIKE '%in effect at purge'",
                                   3, p);
    PQclear(r);
    return h;
}

PGresult *dbcycle_batch_failed_in_open(PGconn *db, const char *batch_id)
{
    /* An item is in at most one open batch (SPEC §4), whose rows have no outcome yet (an ack
     * that purges the item elsewhere marks them superseded). */
    return db_query_one_row(db,
                            "SELECT count(*) AS items, min(x.batch_id::text) AS open_batch,"
                            "       coalesce(array_agg(b.item_id), '{}')::text AS ids"
                            "  FROM lethe.batch_items b"
                            "  JOIN lethe.batch_items x ON x.tenant_id = b.tenant_id"
                            "   AND x.item_id = b.item_id AND x.batch_id <> b.batch_id"
                            "   AND x.outcome IS NULL"
                            " WHERE b.batch_id = $1::uuid AND b.outcome = 'failed'",
                            1, (const char *[]){batch_id});
}

PGresult *dbcycle_batch_failed_by_deleter(PGconn *db, const char *batch_id)
{
    /* What the engine writes itself when no receipt says otherwise (sql/0006, executor.c):
     * every other reason is a receipt's (or an ack's --failed), a failure someone declared. */
    return db_query_one_row(db,
                            "SELECT coalesce(array_agg(b.item_id ORDER BY b.ord), '{}')::text AS ids,"
                            "       coalesce(array_agg(b.reason ORDER BY b.ord), '{}')::text AS reasons"
                            "  FROM lethe.batch_items b"
                            " WHERE b.batch_id = $1::uuid AND b.outcome = 'failed'"
                            "   AND b.reason IS NOT NULL AND b.reason <> 'no receipt'"
                            "   AND b.reason !~ '^(timed out after [0-9]+s|exit status [0-9]+"
                            "|killed by signal [0-9]+)$'",
                            1, (const char *[]){batch_id});
}

PGresult *dbcycle_batch_failed_purged_since(PGconn *db, const char *batch_id)
{
    /* An item is purged once (batch_items_one_purge): at most one row joins each failed one. */
    return db_query_one_row(db,
                            "SELECT count(*) AS failed, count(x.batch_id) AS purged,"
                            "       count(DISTINCT x.batch_id) AS batches,"
                            "       min(x.batch_id::text) AS through"
                            "  FROM lethe.batch_items b"
                            "  LEFT JOIN lethe.batch_items x ON x.tenant_id = b.tenant_id"
                            "   AND x.item_id = b.item_id AND x.outcome = 'purged'"
                            " WHERE b.batch_id = $1::uuid AND b.outcome = 'failed'",
                            1, (const char *[]){batch_id});
}

PGresult *dbcycle_batch_purged_withdrawn(PGconn *db, const char *batch_id, const char *ids)
{
    /* Owed nothing: no obligation stood for the item any more, by its lineage as a run judges
     * it (lineage(), at the ack), but the pin of its own purge. A purged ancestor pins it (SPEC
     * §3: descendants are due under the obligation a source was purged under, whatever is
     * withdrawn later), and another request, withdrawn or not, may cover it. Walked for the few
     * items whose obligation was withdrawn. */
    const char *p[] = {batch_id, ids};
    return db_query_one_row(
        db,
        "WITH w AS MATERIALIZED (SELECT b.tenant_id, b.item_id, o.rule, o.withdrawn_at"
        "  FROM lethe.batch_items b"
        "  JOIN lethe.obligations o ON o.tenant_id = b.tenant_id"
        "   AND o.obligation_id = b.obligation_id"
        " WHERE b.batch_id = $1::uuid AND b.outcome = 'purged'"
        "   AND b.item_id = ANY ($2::uuid[])"
        "   AND o.withdrawn_at <= b.purged_at),"
        " owed AS MATERIALIZED (SELECT DISTINCT l.tenant_id, l.item_id"
        "  FROM lethe.lineage((SELECT array_agg(w.tenant_id ORDER BY w.item_id) FROM w),"
        "                     (SELECT array_agg(w.item_id ORDER BY w.item_id) FROM w),"
        "                     now()) l"
        " WHERE l.active AND NOT (l.pinned AND l.depth = 0))"
        "SELECT count(*) AS items, min(w.rule) AS rule,"
        "       lethe.iso_utc(min(w.withdrawn_at)) AS withdrawn_at"
        "  FROM w WHERE NOT EXISTS (SELECT 1 FROM owed x"
        "                            WHERE x.tenant_id = w.tenant_id AND x.item_id = w.item_id)",
        2, p);
}

int dbcycle_batch_state(PGconn *db, const char *batch_id, bool lock, char *out, size_t cap)
{
    PGresult *r = db_query(db,
                           lock ? "SELECT state FROM lethe.batches WHERE batch_id = $1::uuid FOR UPDATE"
                                : "SELECT state FROM lethe.batches WHERE batch_id = $1::uuid",
                           1, (const char *[]){batch_id});
    if (!r)
        return -1;
    int rc = PQntuples(r) ? 0 : 1;
    snprintf(out, cap, "%s", rc == 0 ? db_str(r, 0, "state") : "");
    PQclear(r);
    return rc;
}

/* Hold H, in effect now, was placed since batch X was made: a held item is never batched, so
 * only such a hold can cover one of an open batch's items. */
#define HOLD_SINCE_BATCH(h, x)                                                                     \
    " " h ".placed_at >= " x ".created_at AND " h ".placed_at <= now()"                            \
    " AND (" h ".released_at IS NULL OR " h ".released_at > now())"

PGresult *dbcycle_batch_items_held(PGconn *db, const char *batch)
{
    const char *p[] = {batch};
    /* Only the tenants with a hold in effect placed since the batch was made. With no such
     * hold, as almost always, no lineage is walked; with one, each of the tenant's items in the
     * batch is (on copies thousands deep, a minute and more: a rerun's, not a run's, to pay). */
    return db_query(db,
                    "WITH hs AS (SELECT DISTINCT h.tenant_id FROM lethe.holds h"
                    "              JOIN lethe.batches x ON x.batch_id = $1::uuid"
                    "             WHERE " HOLD_SINCE_BATCH("h", "x") "),"
                    " a AS (SELECT array_agg(b.tenant_id ORDER BY b.item_id) AS ts,"
                    "              array_agg(b.item_id ORDER BY b.item_id) AS ids"
                    "         FROM lethe.batch_items b"
                    "        WHERE b.batch_id = $1::uuid AND b.outcome IS NULL"
                    "          AND b.tenant_id IN (SELECT hs.tenant_id FROM hs))"
                    " SELECT m.hold_id::text AS hold_id, count(DISTINCT m.item_id) AS items"
                    "   FROM a CROSS JOIN LATERAL lethe.hold_matches(a.ts, a.ids, now()) m"
                    "  WHERE a.ids IS NOT NULL AND m.active"
                    "  GROUP BY m.hold_id ORDER BY min(m.placed_at), m.hold_id",
                    1, p);
}

PGresult *dbcycle_batch_holds_since(PGconn *db, const char *batch)
{
    /* No lineage is walked: each hold placed since the batch was made (a few rows) is kept when
     * its tenant has an item of the batch still open (the tenant's open items, by
     * batch_items_one_open). */
    return db_query(db,
                    "SELECT h.hold_id::text AS hold_id, h.tenant_id::text AS tenant_id"
                    "  FROM lethe.holds h JOIN lethe.batches x ON x.batch_id = $1::uuid"
                    " WHERE " HOLD_SINCE_BATCH("h", "x")
                    "   AND EXISTS (SELECT 1 FROM lethe.batch_items b"
                    "                WHERE b.tenant_id = h.tenant_id AND b.outcome IS NULL"
                    "                  AND b.batch_id = $1::uuid)"
                    " ORDER BY h.placed_at, h.hold_id",
                    1, (const char *[]){batch});
}

bool dbcycle_batch_ack_lock(PGconn *db, const char *batch_id, bool session)
{
    PGresult *r = db_query(db,
                           session ? "SELECT pg_advisory_lock(7283318, hashtext($1::uuid::text))"
                                   : "SELECT pg_advisory_xact_lock(7283318, hashtext($1::uuid::text))",
                           1, (const char *[]){batch_id});
    PQclear(r);
    return r != NULL;
}

PGresult *dbcycle_batch_declared_purged(PGconn *db, const char *batch_id, const char *ids,
                                        const char *reasons)
{
    /* The first by the manifest's order among those purged now, with the reason declared. */
    return db_query_one_row(db,
                            "SELECT count(*) AS n,"
                            "       (array_agg(b.item_id::text ORDER BY b.ord))[1] AS first_item,"
                            "       (array_agg(x.reason ORDER BY b.ord))[1] AS first_reason"
                            "  FROM unnest($2::uuid[], $3::text[]) x (item_id, reason)"
                            "  JOIN lethe.batch_items b ON b.batch_id = $1::uuid"
                            "   AND b.item_id = x.item_id AND b.outcome = 'purged'",
                            3, (const char *[]){batch_id, ids, reasons});
}

long dbcycle_batch_repurges_failed(PGconn *db, const char *batch_id)
{
    long long n = db_count(db,
                           "SELECT count(*) AS n FROM lethe.repurges r"
                           " WHERE r.batch_id = $1::uuid AND r.state = 'failed'"
                           "   AND NOT EXISTS (SELECT 1 FROM lethe.repurges x"
                           "                    WHERE x.tenant_id = r.tenant_id AND x.item_id = r.item_id"
                           "                      AND x.created_at > r.created_at)",
                           1, (const char *[]){batch_id});
    return n < 0 ? 0 : (long)n;
}

PGresult *dbcycle_repurge_ack_late(PGconn *db, const char *batch_id, const char *operator_name)
{
    return db_query_one_row(db,
                            "SELECT o_settled AS settled, o_declared AS declared,"
                            "       o_rebatched AS rebatched, o_into AS into,"
                            "       o_into_state AS into_state,"
                            "       o_state AS state"
                            "  FROM lethe.repurge_ack_late($1::uuid, $2)",
                            2, (const char *[]){batch_id, operator_name});
}

long long dbcycle_batch_repurges(PGconn *db, const char *batch_id)
{
    return db_count(db, "SELECT count(*) AS n FROM lethe.repurges WHERE batch_id = $1::uuid", 1,
                    (const char *[]){batch_id});
}

long dbcycle_batch_repurges_done(PGconn *db, const char *batch_id)
{
    long long n = db_count(db,
                           "SELECT count(*) AS n FROM lethe.repurges"
                           " WHERE batch_id = $1::uuid AND state = 'done'",
                           1, (const char *[]){batch_id});
    return n < 0 ? -1 : (long)n;
}

long dbcycle_batch_purged_among(PGconn *db, const char *batch_id, const char *ids)
{
    PGresult *r = db_query_one_row(db,
                                   "SELECT count(*) AS n FROM lethe.batch_items b"
                                   " WHERE b.batch_id = $1::uuid AND b.item_id = ANY ($2::uuid[])"
                                   "   AND (b.outcome = 'purged'"
                                   /* or its repurge done in this batch (deleted again) */
                                   "        OR EXISTS (SELECT 1 FROM lethe.repurges r"
                                   "                    WHERE r.batch_id = b.batch_id"
                                   "                      AND r.tenant_id = b.tenant_id"
                                   "                      AND r.item_id = b.item_id"
                                   "                      AND r.state = 'done'))",
                                   2, (const char *[]){batch_id, ids});
    if (!r)
        return -1;
    long n = db_get_long(r, 0, "n");
    PQclear(r);
    return n;
}

/* The batch's items and shard are read first, in a statement of their own: on Citus a
 * statement that reads a distributed table (batch_items) is planned by Citus, and the call of
 * emit_batches() in it would be sent to a worker, away from the run's temporary tables. */
PGresult *dbcycle_emit_again(PGconn *db, const char *run_id, const char *batch_id)
{
    PGresult *b = db_query_one_row(db,
                                   "SELECT (SELECT shard FROM lethe.batches WHERE batch_id = $1::uuid) AS shard,"
                                   "       ARRAY(SELECT item_id FROM lethe.batch_items"
                                   "              WHERE batch_id = $1::uuid)::text AS items",
                                   1, (const char *[]){batch_id});
    if (!b)
        return NULL;
    const char *p[] = {run_id, batch_id, db_get(b, 0, "shard"), db_get(b, 0, "items")};
    PGresult *r = db_query(db,
                           "SELECT batch_id::text AS batch_id, items FROM lethe.emit_batches($1::uuid, now(), 0, 0,"
                           "  2147483647, $3, $4::uuid[], $2::uuid)",
                           4, p);
    PQclear(b);
    return r;
}

bool dbcycle_stage_rerun(PGconn *db, const char *const p[6])
{
    return db_exec(db,
                   "INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, operator, detail)"
                   " VALUES (" NIL_CHAIN ", 'operator_rerun', $1::uuid, $3::uuid,"
                   "         $4, $2, CASE WHEN $5::text IS NOT NULL THEN 'new batch ' || $5"
                   "                      WHEN $6 = 'open' THEN 'redrive'"
                   "                      ELSE 'no new batch: none of its items was due' END)",
                   6, p);
}

PGresult *dbcycle_purged_by_rule(PGconn *db, const char *run_id, int k, int n)
{
    /* From the batches closed since the run began whose tenants are of its shard: a cost in
     * proportion to the run's work, and not another shard's run's purges, closed meanwhile. */
    char ks[16], ns[16];
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(ns, sizeof ns, "%d", n);
    return db_query(db,
                    "SELECT bi.rule, bi.location, count(*) AS purged"
                    "  FROM lethe.batches b"
                    "  JOIN lethe.batch_items bi ON bi.batch_id = b.batch_id AND bi.outcome = 'purged'"
                    " WHERE b.closed_at >= (SELECT started_at FROM lethe.runs WHERE run_id = $1::uuid)"
                    "   AND lethe.in_shard(bi.tenant_id, $2::integer, $3::integer)"
                    " GROUP BY bi.rule, bi.location ORDER BY bi.rule, bi.location",
                    3, (const char *[]){run_id, ks, ns});
}

PGresult *dbcycle_gauges(PGconn *db)
{
    /* status --check's definitions: overdue leaves out items a hold keeps past their deadline
     * and violations, which have gauges of their own. */
    return db_query_one_row(db,
                            "WITH p AS MATERIALIZED (SELECT * FROM lethe.pending_items(now())),"
                            " held_kept AS MATERIALIZED (" HELD_KEPT_OF("p") ")"
                            "SELECT count(*) FILTER (WHERE p.deadline_at < now()"
                            "                          AND NOT " HELD_AT_DEADLINE("p")
                            "                          AND p.rule <> 'shared_while_opted_out') AS overdue,"
                            "       count(*) FILTER (WHERE " HELD_AT_DEADLINE("p") ")"
                            "         AS held_past_deadline,"
                            "       count(*) FILTER (WHERE p.rule = 'shared_while_opted_out') AS violations,"
                            "       (SELECT count(*) FROM (SELECT 1 FROM lethe.batch_items f"
                            "          WHERE f.outcome = 'failed' AND NOT EXISTS ("
                            "                SELECT 1 FROM lethe.batch_items x WHERE x.tenant_id = f.tenant_id"
                            "                   AND x.item_id = f.item_id AND x.outcome = 'purged')"
                            "          GROUP BY f.tenant_id, f.item_id HAVING count(*) >= 3) f) AS failing,"
                            "       (SELECT count(*) FROM lethe.batches WHERE state = 'open') AS open_batches,"
                            /* A catch-up run --as-of a past time counts as of that time, as
                             * status --check counts it: finished now, it batched nothing that
                             * came due since, and LetheNoSuccessfulRun must not fall silent. */
                            "       coalesce((SELECT extract(epoch FROM max(CASE"
                            "                   WHEN " RUN_CATCH_UP("r") " THEN r.as_of"
                            "                   ELSE r.finished_at END))::bigint"
                            "          FROM lethe.runs r WHERE r.outcome = 'succeeded'"
                            "           AND " RUN_OVER_CATALOG("r") "), 0) AS last_success"
                            "  FROM p",
                            0, NULL);
}

PGresult *dbcycle_manifests_to_prune(PGconn *db, const char *keep_interval)
{
    return db_query(db,
                    "SELECT batch_id::text AS batch_id, location FROM lethe.batches"
                    " WHERE state <> 'open' AND manifest_removed_at IS NULL"
                    "   AND closed_at < now() - $1::interval"
                    " ORDER BY closed_at LIMIT 10000",
                    1, (const char *[]){keep_interval});
}

bool dbcycle_manifests_removed(PGconn *db, const char *ids)
{
    return db_exec(db,
                   "UPDATE lethe.batches SET manifest_removed_at = now()"
                   " WHERE batch_id = ANY ($1::uuid[])",
                   1, (const char *[]){ids});
}

PGresult *dbcycle_batches_unknown(PGconn *db, const char *ids, const char *keep_interval)
{
    return db_query(db,
                    "SELECT x::text AS batch_id,"
                    "       extract(epoch FROM now() - $2::interval)::bigint AS cutoff"
                    "  FROM unnest($1::uuid[]) x"
                    " WHERE NOT EXISTS (SELECT 1 FROM lethe.batches b WHERE b.batch_id = x)",
                    2, (const char *[]){ids, keep_interval});
}

bool dbcycle_send_manifest_rows(PGconn *db, const char *batch_id)
{
    const char *params[] = {batch_id};
    return db_send_rows(db,
                        "SELECT line, tenant_id::text AS tenant_id, item_id::text AS item_id, locator"
                        "  FROM lethe.manifest_rows($1::uuid) ORDER BY ord",
                        1, params, 0);
}
