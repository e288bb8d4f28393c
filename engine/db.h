/* All SQL access goes through here and the other engine/db*.c files: connection set-up, the
 * three checked helpers, transactions and migrations. Statements take values only as $n
 * parameters; SQL text is built from constants only. */
#ifndef LETHE_DB_H
#define LETHE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "ctx.h"

/* Opens the session: --db, else database.conninfo, else libpq's environment, with -d, -h, -p
 * and -U overriding their parts (psql's options). Sets
 * application_name lethe/<command>/<session id>, search_path, TimeZone=UTC and
 * client_encoding. Prints the error on failure. Returns EXIT_DONE when connected, EXIT_USAGE
 * when the connection string itself is malformed (a usage or configuration error), and
 * EXIT_RUNTIME when the server cannot be reached or refuses. */
int db_connect(struct lethe_ctx *ctx);
void db_disconnect(struct lethe_ctx *ctx);
/* Asks the server to cancel the statement the connection is running, if any: from a signal
 * handler about to _exit, so that a statement blocked on a lock does not keep its transaction
 * (and the run lock) until it ends. */
void db_cancel_from_signal(void);
/* After a lost connection: reconnects and sets the session up again. Session state that the
 * caller owns (advisory locks, temp tables) is gone and must be taken again. */
bool db_reconnect(struct lethe_ctx *ctx);

/* Runs a statement that returns no rows. */
bool db_exec(PGconn *db, const char *sql, int nparams, const char *const *params);
/* Runs a query; returns the result (the caller clears it) or NULL after printing the error. */
PGresult *db_query(PGconn *db, const char *sql, int nparams, const char *const *params);
/* Like db_query, with every parameter in PostgreSQL's binary form (at most 8): VALUES[i] is
 * LENGTHS[i] bytes of type TYPES[i] (an array's as array_recv reads it). For parameters whose
 * text form costs the server more to read than the statement's work (thousands of uuids). */
PGresult *db_query_binary(PGconn *db, const char *sql, int nparams, const Oid *types,
                          const char *const *values, const int *lengths);
/* Like db_query but also insists on exactly one row. */
PGresult *db_query_one_row(PGconn *db, const char *sql, int nparams, const char *const *params);
/* A count: the statement's one row has a column named n. -1 on error (logged). */
long long db_count(PGconn *db, const char *sql, int nparams, const char *const *params);

/* Results are read by column name, so that a reordered SELECT fails loudly: a missing column
 * is a programming error and aborts. db_get returns NULL for SQL null; db_get_long 0. */
int db_col(const PGresult *r, const char *name);
const char *db_get(const PGresult *r, int row, const char *name);
/* Like db_get, but "" for SQL null (as PQgetvalue), for text that is printed as it is. */
const char *db_str(const PGresult *r, int row, const char *name);
/* Whether a boolean column is true (false for SQL null). */
bool db_true(const PGresult *r, int row, const char *name);
long db_get_long(const PGresult *r, int row, const char *name);
/* 1 when the query returns a row, 0 when it returns none, -1 when it failed (logged). */
int db_exists(PGconn *db, const char *sql, int nparams, const char *const *params);

bool db_begin(PGconn *db);
/* BEGIN at READ COMMITTED, whatever the database's default (the inbox's fill needs it). */
bool db_begin_read_committed(PGconn *db);
/* Moves what producers committed since into the inbox (sql/0043_inbox_watermark.sql): outside
 * a transaction in one of its own (READ COMMITTED); inside one (a dry run's, READ COMMITTED,
 * rolled back) as part of it. A role that may not fill, or a standby, reads the inbox as it is. */
bool db_inbox_fill(PGconn *db);
/* Refuses (and rolls back) a transaction with an audit stage open: use dbaudit_commit(). */
bool db_commit(PGconn *db);
void db_rollback(PGconn *db);
/* For engine/dbaudit.c only: marks the transaction as staging audit records, or not. */
void db_audit_staged(bool staged);

/* Records and prints a failure the caller saw itself (res may be NULL: the connection's error),
 * as the helpers do. */
void db_report_failure(PGconn *db, const PGresult *res);
/* Sends SQL to be read a row at a time (PQgetResult, single-row mode; RESULT_FORMAT 1 for
 * binary): true, or false after reporting the failure, nothing left to read. */
bool db_send_rows(PGconn *db, const char *sql, int nparams, const char *const *params,
                  int result_format);
/* The SQLSTATE of the last failed statement ("" when none), for callers that map errors. */
const char *db_last_sqlstate(void);
/* The server's message of the last failed statement. */
const char *db_last_message(void);
/* A failure with this SQLSTATE is not printed by the db_* helpers (the caller expects it and
 * says what it does about it); "*" quiets every failure; NULL prints every failure again. */
void db_quiet_for(const char *sqlstate);
/* The group role whose privileges COMMAND needs (lethe_engine, lethe_operator, ...): a
 * statement PostgreSQL refuses for lack of privilege then gets a hint naming it. */
void db_set_needed_role(const char *role, const char *command);

/* Applies the embedded migrations under an advisory lock, records each one's SHA-256 and
 * applies the schema's hardening; idempotent. APPLIED is how many migrations it applied, GIVEN
 * how many objects a superuser owned it gave the schema's owner (or would have, when the run
 * lock is held). Returns EXIT_DONE, EXIT_LOCKED (nothing changed), EXIT_USAGE (an applied
 * migration's text changed: nothing is applied) or EXIT_RUNTIME, after printing why. */
int db_migrate(PGconn *db, int *applied, int *given);
/* The version the database is at, or -1 when lethe's schema is absent. */
int db_schema_version(PGconn *db);
int db_latest_version(void);
/* Checks the Citus layout could not keep (lethe.citus_gaps); 0 on plain PostgreSQL or on error. */
int db_citus_gaps(PGconn *db);
/* On Citus, the refusals made on every shard (sql/0050): nodes guarded, 0 without Citus, -1 on error. */
int db_citus_guard_shards(PGconn *db);
long db_open_batches_across_shards(PGconn *db);
/* At the start of every command but migrate: 1 when every migration embedded in the binary is
 * applied (or the role cannot read lethe.schema_migrations to tell), 0 after printing that the
 * schema is missing or behind and that 'lethe migrate' is the fix, 2 after printing that a
 * migrate is applying migrations now, -1 after a failed query. */
int db_check_schema(PGconn *db);

/* Whether FN (a regprocedure's text) exists and this role may execute it: 1 yes, 0 no, -1 the
 * query failed. A binary may meet a role set up before the function was granted. */
int db_may_execute(PGconn *db, const char *fn);

/* The pending rows of REL (tenant_id, item_id, state, hold_id, deadline_at) kept past their
 * deadline by a hold: held now, the deadline passed, and a hold in effect at that deadline
 * (sql/0089); one a hold blocked only after its deadline had passed is late, as its purge will
 * be recorded. Their tenant_id and item_id: judged once per hold and deadline, and item by item
 * only where another hold of the tenant was in effect at the deadline (sql/0089). The held rows
 * are set apart once: as a subquery, the planner (which takes a function's rows for 1,000)
 * scanned all of REL again for each hold and deadline (17 ms of the summary's 73 at 1M). */
#define HELD_KEPT_OF(REL)                                                                          \
    "WITH hk_rows AS MATERIALIZED ("                                                               \
    "  SELECT r0.tenant_id, r0.item_id, r0.hold_id, r0.deadline_at FROM " REL " r0"               \
    "   WHERE r0.state = 'held' AND r0.deadline_at < now()),"                                     \
    " hk_groups AS MATERIALIZED ("                                                                 \
    "  SELECT g.tenant_id, g.hold_id, g.deadline_at,"                                              \
    "         lethe.hold_kept_at(g.tenant_id, g.hold_id, g.deadline_at) AS kept"                   \
    "    FROM (SELECT DISTINCT r1.tenant_id, r1.hold_id, r1.deadline_at FROM hk_rows r1) g)"      \
    "SELECT r.tenant_id, r.item_id FROM hk_rows r"                                                 \
    "  JOIN hk_groups g"                                                                           \
    "    ON g.tenant_id = r.tenant_id AND g.hold_id = r.hold_id AND g.deadline_at = r.deadline_at" \
    " WHERE g.kept = 1"                                                                            \
    "    OR (g.kept = 2"                                                                           \
    "        AND lethe.held_at_deadline(r.tenant_id, r.item_id, r.hold_id, r.deadline_at))"
/* Whether purge record A (kind item_purged, not on time) was kept past its deadline by a hold
 * (its detail 'held', or 'held; hold H in effect at purge': sql/0031, sql/0064), as the summary
 * counts it apart from the late ones. Its SQL twin, lethe.purge_record_held() (sql/0096), judges
 * status's week of late purges. */
#define PURGE_RECORD_HELD(A) "(" A ".detail = 'held' OR " A ".detail LIKE 'held;%')"
/* Whether the pending row X is one of those, HELD_KEPT_OF's rows being in held_kept. */
#define HELD_AT_DEADLINE(X)                                                                        \
    "EXISTS (SELECT 1 FROM held_kept k WHERE k.tenant_id = " X ".tenant_id"                       \
    "        AND k.item_id = " X ".item_id)"

#endif
