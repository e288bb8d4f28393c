/* The SQL of a run and of the commands that act on one batch (ack, rerun), behind functions
 * named for what they do. The set-based work is in sql/ (derive_consume, derive_apply,
 * due_items, emit_batches, ack_batch); this file only calls it and reads what it returns.
 * Results come back as PGresults the caller clears, read by column name. */
#ifndef LETHE_DBCYCLE_H
#define LETHE_DBCYCLE_H

#include <libpq-fe.h>
#include <stdbool.h>

/* A run that evaluated the catalog (or its shard K/N): a timer's or an operator's `lethe run`.
 * A rerun of one batch ("rerun") and replay's or reconcile's repurge run ("repurge") are runs
 * too, but no evidence that due items are being batched: status --check and the gauge of the
 * last success do not count them. R names the lethe.runs row. */
#define RUN_OVER_CATALOG(r) r ".trigger NOT IN ('rerun', 'repurge')"
/* Run R judged its items at a time a minute or more before it started: a catch-up run --as-of a
 * past time, which batched nothing that came due since (status and the last-success gauge count
 * it as of that time). */
#define RUN_CATCH_UP(r) r ".as_of < " r ".started_at - interval '1 minute'"

/* The run locks held now in this database (sql/0006, lethe.run_lock), as a text[] of the
 * shards they are for: "" for the whole catalog's, held exclusively by a run over it (a rerun,
 * a repurge too), "K/N" for a shard run's. A session of no shard (migrate, replay) holding the
 * catalog's lock counts as a run over it. */
#define RUN_LOCKS_HELD                                                                             \
    "SELECT coalesce(array_agg(CASE WHEN k.classid = 7283310::oid THEN ''"                         \
    "                               ELSE (k.objid::bigint % 65536) || '/'"                        \
    "                                    || (k.objid::bigint / 65536) END), '{}')::text[]"        \
    "  FROM pg_catalog.pg_locks k WHERE k.locktype = 'advisory' AND k.granted"                    \
    "   AND k.objsubid = 2 AND k.database = (SELECT d.oid FROM pg_catalog.pg_database d"           \
    "                                         WHERE d.datname = current_database())"              \
    "   AND ((k.classid = 7283310::oid AND k.objid = 0::oid AND k.mode = 'ExclusiveLock')"        \
    "        OR k.classid = 7283311::oid)"

/* Whether the lethe.runs row R is recorded 'running' while HELD (a text[] as RUN_LOCKS_HELD
 * gives it) has no lock for its shard: a run holds its lock from before its row is written
 * until after its end is, so its process is gone (SIGKILL, the machine or the session lost).
 * HELD must be read before the snapshot that reads R: a run that ends between the two would
 * be taken for dead otherwise (status, an outside tryout: 5 in 2,400 runs). An UPDATE that
 * marks such a row is safe with HELD read in the same statement: the row it locks is read
 * again, no longer 'running' (PostgreSQL's recheck of an updated row). */
#define RUN_GONE(r, held)                                                                          \
    "(" r ".outcome = 'running' AND NOT (coalesce(" r ".shard, '') = ANY (" held ")))"
#define RUN_PROCESS_GONE(r) RUN_GONE(r, "(" RUN_LOCKS_HELD ")::text[]")

/* ---- the run lock and the run's instant ---- */

/* Tries the run lock of shard k/n (n = 0: the whole catalog); *got says whether it was taken. */
bool dbcycle_try_lock(PGconn *db, const char *k, const char *n, bool *got);
/* Who holds a run lock now: columns holder, started, shard (no row when nobody is seen). */
PGresult *dbcycle_lock_holder(PGconn *db, int k, int n);
/* The run's as_of (given, or now): columns as_of (ISO text) and future (boolean). */
PGresult *dbcycle_as_of(PGconn *db, const char *given);
/* Whether geo is in lethe.geos: columns known (boolean), geos (all of them, or null). */
PGresult *dbcycle_geo_known(PGconn *db, const char *geo);

/* ---- the run's record ---- */

/* Records this run, marks runs left 'running' by dead processes of an overlapping shard set as
 * died, and appends run_started and the died runs' run_finished records to the engine chain
 * (no stage needed). p: run id, trigger, operator, shard (or NULL), as_of, N. */
bool dbcycle_run_started(PGconn *db, const char *const p[6]);
/* Records the run's end and appends run_finished to the engine chain (no stage needed). p: run
 * id, outcome, events, due, batches, purged, failed items, held, error (or NULL), failed
 * batches. Only a run still 'running' is ended: one found dead by another run while its session
 * was lost keeps that record. 1 recorded, 0 already ended (nothing written), -1 error. */
int dbcycle_run_finished(PGconn *db, const char *const p[10]);

/* ---- derivation ---- */

/* The rules' and the lookahead's configured values, written only when they differ. */
bool dbcycle_sync_rule(PGconn *db, const char *rule, const char *deadline, const char *grace,
                       bool enabled);
bool dbcycle_sync_lookahead(PGconn *db, const char *lookahead);
/* Consumes the inbox of shard k/n: columns events, items, obligations. */
PGresult *dbcycle_derive_consume(PGconn *db, const char *k, const char *n);
/* Subject requests of shard k/n whose subject has no HMAC yet: tenant_id, obligation_id,
 * subject_id; at most SUBJECT_HMAC_CHUNK of them, in key order after (after_tenant, after_id),
 * or from the first when after_tenant is NULL. In chunks, a run's memory does not grow with
 * the number of new subject requests. */
#define SUBJECT_HMAC_CHUNK 10000
PGresult *dbcycle_unhashed_subjects(PGconn *db, const char *k, const char *n,
                                    const char *after_tenant, const char *after_id);
/* Stores HMACs: three array literals of the same length (tenant ids, obligation ids, hex). */
bool dbcycle_store_subject_hmacs(PGconn *db, const char *tenants, const char *ids,
                                 const char *macs);
/* Applies the derivation at as_of: columns withdrawn, expanded. */
PGresult *dbcycle_derive_apply(PGconn *db, const char *as_of, const char *k, const char *n);
/* Whether replay left proofs of purged items not in the catalog (sql/0099): 1, 0, or -1. */
int dbcycle_resent_pending(PGconn *db);
/* Puts the new items of shard K/N it proves purged in repurge batches under RUN; *BATCHES and
 * *ITEMS say how many. */
bool dbcycle_repurge_resent(PGconn *db, const char *run, const char *operator_name,
                            long long max, const char *k, const char *n, long *batches,
                            long *items);
PGresult *dbcycle_record_withdrawals(PGconn *db, const char *k, const char *n);
/* Whether the derivation and the emission would find nothing at as_of (sql/0040): columns idle,
 * held (the remembered held items, when idle). hmac: the run hashes subjects (has an audit key).
 * When idle it has made the idle derivation's one write; when not, it has written nothing. */
PGresult *dbcycle_idle_probe(PGconn *db, const char *as_of, const char *k, const char *n,
                             bool hmac);

/* ---- selection and batches ---- */

/* The dry run's plan: the due items of shard k/n at as_of go to the temp table plan (which
 * report_plan_items_text lists), and the result counts them: columns kind (total, location,
 * rule, tenant), name, due, held, in that order of kinds. */
PGresult *dbcycle_plan(PGconn *db, const char *as_of, const char *k, const char *n);
/* The fence between forming batches and placing a hold (advisory class 7283316, key 0): an
 * emission holds it shared until it commits, `hold place` exclusively until its hold commits.
 * A hold placed while batches were being formed, after they had judged the holds, was in
 * neither: it kept nothing back, and its warning, looking before those batches committed, named
 * nothing. Now a hold waits for the batches and names what it cannot recall, or the batches wait
 * for the hold and keep its items back. */
#define HOLD_FENCE_CLASS "7283316"
/* Takes the fence shared in the caller's transaction, without waiting: 1 when taken, 0 when a
 * hold being placed holds it, -1 on error (cycle_hold_fence tries until it is taken). */
int dbcycle_hold_fence_try(PGconn *db);
/* Emits the due items as batches (the audit stage must be open; the caller holds the hold
 * fence). p: run id, as_of, k, n, the largest batch, shard (or NULL). Columns batch_id,
 * location, items; *held: the due items a hold kept. */
PGresult *dbcycle_emit(PGconn *db, const char *const p[6], long *held);
/* Open batches whose tenants all belong to shard k/n: batch_id, location, items, oldest first. */
PGresult *dbcycle_open_batches(PGconn *db, const char *k, const char *n);
/* Records the executor's receipts (ack_batch): p as its parameters. Columns purged, failed,
 * foreign_receipts, state. */
PGresult *dbcycle_ack_batch(PGconn *db, const char *const p[8]);
bool dbcycle_batch_error(PGconn *db, const char *batch_id, const char *stderr_tail);
/* Adds an acknowledgement's counts to its run's record, in the acknowledgement's transaction,
 * so that a run killed after it still counts what it purged. No row for a session that is no
 * run (lethe ack). */
bool dbcycle_run_counted(PGconn *db, const char *run_id, long purged, long failed,
                         long failed_batches);
/* Adds a run's emitted batches and their items to its record, in the emission's transaction,
 * so that a run killed later still counts them (the end of the run writes the same totals). */
bool dbcycle_run_emitted(PGconn *db, const char *run_id, long batches, long items);
/* Counts an executor's start before it starts (a run killed during it still counts it); undo
 * takes the count back when a stop request came in between and the executor was not started. */
bool dbcycle_batch_attempted(PGconn *db, const char *batch_id, bool undo);

/* ---- one batch, for ack and rerun ---- */

/* Of failed BATCH_ID's failed items, those in an open batch now (emitted since it failed):
 * items, open_batch (one of them) and ids (an array literal of their item ids). */
PGresult *dbcycle_batch_failed_in_open(PGconn *db, const char *batch_id);
/* Of failed BATCH_ID's failed items, those a receipt (or an ack's --failed) declared failed,
 * not the engine for want of a receipt or at a timeout or exit: ids and reasons (array
 * literals, both in the manifest's order; an item id is in a batch once). */
PGresult *dbcycle_batch_failed_by_deleter(PGconn *db, const char *batch_id);
/* Of the items in IDS (declared failed for REASONS, array literals in one order), those now
 * purged in the batch: n, and the first by the manifest's order with its reason (first_item,
 * first_reason). NULL on error. */
PGresult *dbcycle_batch_declared_purged(PGconn *db, const char *batch_id, const char *ids,
                                        const char *reasons);
/* Of failed BATCH_ID's failed items, those purged since through another batch: failed (all
 * of them), purged (those purged), batches (through how many) and through (one of them). */
PGresult *dbcycle_batch_failed_purged_since(PGconn *db, const char *batch_id);
/* The batch's state, when it exists and (tenant given) holds items of that tenant: columns
 * state, location, now (ISO text). No row otherwise. */
PGresult *dbcycle_batch_of(PGconn *db, const char *batch_id, const char *tenant);
/* Whether item is in the batch. -1 when the query failed. */
int dbcycle_batch_has_item(PGconn *db, const char *batch_id, const char *item_id);
/* Whether any of the batch's items is purged in it, or deleted again (a repurge done). -1 when
 * the query failed. */
int dbcycle_batch_purged_any(PGconn *db, const char *batch_id);
/* How many of BATCH_ID's items are failed and not purged through another batch since (what
 * keeps it failed, as lethe.ack_batch() counts them), or -1 on error. */
long dbcycle_batch_still_failed(PGconn *db, const char *batch_id);
/* Failed BATCH_ID's failed items: ids (an array literal), read before a late acknowledgement
 * purges them, so that what it says is of those alone (an earlier ack of the open batch
 * purged others). */
PGresult *dbcycle_batch_failed_ids(PGconn *db, const char *batch_id);
/* Of the batch's items in IDS, the item_purged records that name a hold in effect at the purge
 * (sql/0064): items, hold_id (the first by id), holds (how many). */
PGresult *dbcycle_batch_purged_under_hold(PGconn *db, const char *batch_id, const char *ids);
/* Of the batch's items in IDS, those purged after the obligation they were batched under was
 * withdrawn (a late acknowledgement of a failed batch) that nothing else stood for (a purged
 * ancestor's pin, another obligation): items, rule, withdrawn_at (the earliest). */
PGresult *dbcycle_batch_purged_withdrawn(PGconn *db, const char *batch_id, const char *ids);
/* The batch's state, with LOCK its row locked FOR UPDATE in the caller's transaction (as
 * lethe.ack_batch locks it first): 0 and the state in out, 1 when there is no such batch, -1 on
 * error. */
int dbcycle_batch_state(PGconn *db, const char *batch_id, bool lock, char *out, size_t cap);
/* An open batch's items still to be purged that an active hold covers now, which a rerun hands
 * to the deleter all the same (a hold does not recall a batch, SPEC §3): one row per hold, the
 * first placed first: hold_id, items. */
PGresult *dbcycle_batch_items_held(PGconn *db, const char *batch);
/* The holds in effect placed since open batch BATCH was made, on a tenant with an item of it
 * still open: hold_id, tenant_id, the first placed first. Walks no lineage: which items each
 * covers is dbcycle_batch_items_held's (a rerun's) to count. */
PGresult *dbcycle_batch_holds_since(PGconn *db, const char *batch);
/* Orders the acknowledgements of one batch (class 7283318, the batch's hash): 'lethe ack' holds
 * it for the session from before it reads the batch's state (SESSION), each acknowledgement's
 * transaction for itself. Two acks of one batch no longer both read it open. False on error. */
bool dbcycle_batch_ack_lock(PGconn *db, const char *batch_id, bool session);
/* How many of the items in IDS (an array literal of uuids) are purged in the batch, or deleted
 * again by it (a repurge done): -1 on error. */
long dbcycle_batch_purged_among(PGconn *db, const char *batch_id, const char *ids);
/* The repurges (replay, reconcile) of BATCH_ID that failed, and were not made again since: no
 * run batches them again, the next replay or reconcile does. 0 when none or unreadable. */
long dbcycle_batch_repurges_failed(PGconn *db, const char *batch_id);
/* A late acknowledgement of the failed repurge batch BATCH_ID (sql/0113): every failed repurge
 * of it that no repurge batch took again since recorded done, in the caller's transaction, with
 * the audit staged. One row: settled, declared (of those, failed by a receipt's word),
 * rebatched (the others), into and into_state (a batch that holds one of them again: an open
 * one first, else the newest; NULL when none), state (the batch's after it). NULL after
 * printing the error. */
PGresult *dbcycle_repurge_ack_late(PGconn *db, const char *batch_id, const char *operator_name);
/* How many repurges BATCH_ID holds (a repurge batch, reconcile's or replay's, holds nothing
 * else); -1 on error. */
long long dbcycle_batch_repurges(PGconn *db, const char *batch_id);
/* The repurges of BATCH_ID done (their objects deleted again): lethe.repurges_settle() settles
 * them once, at the commit of the acknowledgement that closes the batch (a deferred trigger), so
 * that after it they are all that acknowledgement's. -1 on error. */
long dbcycle_batch_repurges_done(PGconn *db, const char *batch_id);
/* A failed batch's items that are still due go to one new batch at once (rerun; the caller
 * holds the hold fence): columns batch_id, items (no row when none is due). */
PGresult *dbcycle_emit_again(PGconn *db, const char *run_id, const char *batch_id);
/* Stages operator_rerun. p: run id, operator, batch, location, new batch (or NULL), the
 * batch's state (open: re-driven; failed without a new batch: none of its items was due). */
bool dbcycle_stage_rerun(PGconn *db, const char *const p[6]);

/* ---- after a run ---- */

/* Items of shard K/N (N = 0: every tenant) purged in batches closed since the run started:
 * rule, location, purged. */
PGresult *dbcycle_purged_by_rule(PGconn *db, const char *run_id, int k, int n);
/* status --check's gauges now: overdue, held_past_deadline, violations, failing,
 * open_batches, last_success. */
PGresult *dbcycle_gauges(PGconn *db);

/* ---- the spool ---- */

/* Closed batches whose manifests are older than keep and still on disk: batch_id, location. */
PGresult *dbcycle_manifests_to_prune(PGconn *db, const char *keep_interval);
/* Records manifests removed: ids as an array literal of UUIDs. */
bool dbcycle_manifests_removed(PGconn *db, const char *ids);
/* Of IDS (an array literal of UUIDs), those no batch has: batch_id; and in every row, when
 * `keep` ago was (seconds since the epoch, cutoff). */
PGresult *dbcycle_batches_unknown(PGconn *db, const char *ids, const char *keep_interval);
/* Sends (single-row mode) the rows a batch's manifest is written from, in order: line,
 * tenant_id, item_id, locator. The caller reads them with PQgetResult. */
bool dbcycle_send_manifest_rows(PGconn *db, const char *batch_id);

#endif
