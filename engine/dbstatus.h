/* The SQL behind the operator commands request, hold, explain and status, each statement
 * behind a function named for what it does, plus the small JSON writer their --json output
 * shares. Reads the rules core (sql/0002_rules.sql, sql/0005_status.sql); never derives,
 * batches or purges anything. */
#ifndef LETHE_DBSTATUS_H
#define LETHE_DBSTATUS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "scope.h"


/* 1 when the row exists, 0 when it does not, -1 after a failed query (already reported). */
int db_tenant_exists(PGconn *db, const char *tenant);
int db_workspace_exists(PGconn *db, const char *tenant, const char *workspace);
int db_item_exists(PGconn *db, const char *tenant, const char *item);
/* What a request for one item must know of it, as one row (none when the item is not there):
 * created_ahead, its created_at when it is later than the transaction's now() (a producer's
 * clock ahead of the database's), else null; customer_data (t/f: a system_log is not). */
PGresult *db_item_for_request(PGconn *db, const char *tenant, const char *item);

/* The deletion requests of the tenant with this reference, oldest first: event_id, same scope
 * as SCOPE (t/f), occurred_at, operator (null when none was recorded). */
PGresult *db_requests_with_reference(PGconn *db, const char *tenant, const char *reference,
                                     const struct scope *scope);
/* Serialises request recording for one tenant until the transaction ends. */
bool db_lock_requests(PGconn *db, const char *tenant);
/* Takes the hold fence (dbcycle.h) for this transaction, waiting (and saying so) while a run
 * forms batches. */
bool db_hold_fence(PGconn *db);

/* In a transaction with audit_stage open (dbaudit_stage_open), the caller flushing and
 * committing: */
/* Records a deletion_requested event that occurs now (or, for a request recorded again after
 * a restore lost it, when the audit first recorded it), its operator, and stages its
 * request_recorded audit record. rule is the rule it falls under; deadline the configured rule
 * deadline as an interval literal, or NULL when the rule is disabled; subject_hmac NULL without
 * an audit key or a subject. One row: event_id, occurred_at, deadline_at (null without one),
 * first_seq (the seq of the record it repeats, null for a new request). */
PGresult *db_record_request(PGconn *db, const char *tenant, const struct scope *scope,
                            const char *reference, const char *operator_name, const char *rule,
                            const char *deadline, const char *subject_hmac);
/* Places a hold now, by operator_name, and stages its hold_placed record. One row: hold_id,
 * placed_at. */
/* The items a new hold covers that are already in an open batch, which it does not recall
 * (SPEC §3), per batch: 0 batch_id, 1 location, 2 items. */
PGresult *db_hold_in_flight(PGconn *db, const char *tenant, const char *hold);
/* The items a new request covers that are already in an open batch with a later deadline than
 * the request's (DEADLINE_AT): they go with that batch, under its rule and deadline (SPEC §6),
 * per batch: batch_id, items, deadline_at (the earliest of them). */
PGresult *db_request_in_flight(PGconn *db, const char *tenant, const struct scope *scope,
                               const char *deadline_at);
PGresult *db_place_hold(PGconn *db, const char *tenant, const struct scope *scope,
                        const char *reason, const char *reference, const char *operator_name,
                        const char *subject_hmac);
/* Sets released_at = now() and released_by when still active, and stages its hold_released
 * record. Rows: released_at (none when already released). */
PGresult *db_release_hold(PGconn *db, const char *tenant, const char *hold,
                          const char *operator_name, const char *subject_hmac);

/* The holds with this id (in one tenant when tenant is not NULL): tenant_id, released_at,
 * released_by, subject_id. */
PGresult *db_find_hold(PGconn *db, const char *hold, const char *tenant);
/* hold list: every hold (of one tenant when tenant is not NULL; only unreleased ones when
 * active_only). Columns are documented in dbstatus.c. */
PGresult *db_hold_list(PGconn *db, const char *tenant, bool active_only);
/* lethe batches: newest first; state and tenant NULL for any; limit 0 for all. Columns are
 * documented in dbstatus.c. */
PGresult *db_batches(PGconn *db, const char *state, const char *tenant, long limit);
/* One row (name) when the tenant exists, none when it does not. */
PGresult *db_tenant(PGconn *db, const char *tenant);

/* An item the audit proves purged that a restored catalog does not hold (sql/0099): its
 * purge, as replay remembered it (at most two rows, one per tenant). */
PGresult *db_item_purged_not_in_catalog(PGconn *db, const char *item, const char *tenant);
/* The tenants holding this item id (at most two rows, enough to see it is ambiguous):
 * tenant_id. */
PGresult *db_item_tenants(PGconn *db, const char *item, const char *tenant);
/* Opens the snapshot explain's queries share, so that every part tells of the same instant,
 * with the item's evaluation in temporary tables (dbstatus.c says why); db_rollback() ends it
 * and leaves nothing behind. */
bool db_explain_begin(PGconn *db, const char *tenant, const char *item);
/* explain's queries, each about one item of one tenant. Their columns are named in dbstatus.c
 * next to each statement. */
PGresult *db_explain_item(PGconn *db, const char *tenant, const char *item);
PGresult *db_explain_obligations(PGconn *db, const char *tenant, const char *item);
PGresult *db_explain_holds(PGconn *db, const char *tenant, const char *item);
PGresult *db_explain_batches(PGconn *db, const char *tenant, const char *item);
/* The audit's item_purged record of the item's purge in batch BATCH (of run RUN, purged at
 * PURGED_AT): seq, rule, reference, on_time, hold_id, detail; no row when the audit holds none. */
PGresult *db_explain_purge_record(PGconn *db, const char *tenant, const char *item,
                                  const char *batch, const char *run, const char *purged_at);

/* Takes what lethe.pending_items remembers (sql/0017_status_memory.sql) for the tenants whose
 * memory does not hold any more, in a transaction of its own, unless another status is taking
 * it or the role may not; status and export --summary call it before their snapshot. */
bool db_status_remember(PGconn *db);
/* The same, as a run that changed the catalog does once its work is recorded: waits up to
 * WAIT_SECONDS for a status taking it, or for writers between their changes and their commit
 * (another shard's run), then takes it. 1 taken, 0 not (the role may not, or the wait ran
 * out), -1 a statement failed (WHY: the server's words). An idle run asks DIRTY_ONLY: it takes
 * the memory only if a change was marked since (an acknowledgement's, a rerun's). */
int db_status_remember_waiting(PGconn *db, int wait_seconds, bool dirty_only, char *why,
                               size_t cap);

/* status: opens a repeatable-read transaction whose now() is the report's instant and holds
 * what lethe.pending_items(now()) gives in two parts: the temporary table pending, and the
 * view remembered (the scheduled rows status's memory holds). The later queries read them;
 * db_status_end() closes the transaction. */
bool db_status_begin(PGconn *db);
void db_status_end(PGconn *db);
PGresult *db_status_now(PGconn *db);
PGresult *db_status_counts(PGconn *db);
PGresult *db_status_overdue(PGconn *db, int limit);
PGresult *db_status_held_past_deadline(PGconn *db, int limit);
PGresult *db_status_disabled(PGconn *db, int limit, bool any_disabled);
PGresult *db_status_next_deadlines(PGconn *db, int limit);
PGresult *db_status_violations(PGconn *db, int limit);
PGresult *db_status_failing(PGconn *db, int limit);
PGresult *db_status_last_runs(PGconn *db);
/* The runs recorded 'running' whose process is gone, but the last run: run_id, shard ("" for
 * the whole catalog), started_at, oldest first. */
PGresult *db_status_gone_runs(PGconn *db);
/* The batches that still need someone: open ones, and failed ones with an item not purged
 * since, open first, oldest first, at most limit: batch_id, state, location, items, attempts,
 * created_at, age_seconds, open_batches and failed_batches (how many in all). */
PGresult *db_status_batches(PGconn *db, int limit);
/* The open batches that no shard run re-drives, while only shard runs run: batch_id, location,
 * n (the N of the last successful run). */
PGresult *db_status_across_shards(PGconn *db, const char *run_id);
/* Where a closed batch's items are now, for a rerun that found none of them due: one row per
 * other batch that holds some of them, open or acknowledged: batch_id, state, items. */
PGresult *db_batch_items_elsewhere(PGconn *db, const char *batch);
/* A failed batch's failed items, in no batch open or purging them, that a rerun leaves: why
 * ('held', with hold_id: the first hold that keeps them; 'scheduled', with rule and the nearest
 * due_at; 'owed_nothing': a request withdrawn, a rule disabled) and items. */
PGresult *db_batch_items_not_owed(PGconn *db, const char *batch);

/* status --reference: the requests of one tenant with one reference, and what they cover.
 * Their columns are named in dbstatus.c. */
PGresult *db_request_events(PGconn *db, const char *tenant, const char *reference);
/* Opens the read-only snapshot both are read in; db_rollback() ends it. */
bool db_request_begin(PGconn *db);
PGresult *db_request_items(PGconn *db, const char *tenant, const char *reference);
PGresult *db_request_unconsumed(PGconn *db, const char *tenant, const char *reference);

/* A dry run's items, from its temporary table plan, one row at a time (single-row mode):
 * columns tenant_id, item_id, location, state ("due" or "held"), rule, reference, due_at,
 * deadline_at, hold_id. fn returns false to stop (the rest is drained). False
 * after a failed query (reported) or a stop. */
bool db_plan_items(PGconn *db, bool (*fn)(void *arg, const PGresult *r, int row), void *arg);

/* JSON output: a string (or null when s is NULL) written with the minimal escaping SPEC §5
 * uses, and a PGresult field as a string, a number, a boolean, or null when it is SQL null. */
void json_string(FILE *out, const char *s);
void json_text(FILE *out, const PGresult *res, int row, int col);
void json_number(FILE *out, const PGresult *res, int row, int col);
void json_bool(FILE *out, const PGresult *res, int row, int col);
/* The field's text, or NULL when it is SQL null. */
const char *db_value(const PGresult *res, int row, int col);

#endif
