/* The audit log's SQL, behind functions named for what they do: staging and flushing records
 * for the engine (sql/0003_audit.sql does the chaining), and the export's streaming and summary
 * queries. Nothing here builds SQL from values; filters travel as $n or through set_config. */
#ifndef LETHE_DBAUDIT_H
#define LETHE_DBAUDIT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "audit.h"
#include "timefmt.h"

/* ---- writing (the run cycle) ----
 * In the caller's transaction: dbaudit_stage_open(), then INSERT INTO audit_stage (tenant_id,
 * kind, ...) as set-based statements, then dbaudit_commit(). */

/* Creates the session's temp table audit_stage if needed. From here the transaction ends only
 * with dbaudit_commit() or a rollback: db_commit() refuses it. */
bool dbaudit_stage_open(PGconn *db);
/* Flushes what is staged and commits, the one way to end a transaction that staged audit
 * records. Rolls back and returns false on any failure. */
bool dbaudit_commit(PGconn *db);
/* The SQLSTATE of a flush refused because a purge it records as on time has passed its deadline
 * since the acknowledgement took its time (sql/0093_purge_judged_at_commit.sql). */
#define AUDIT_JUDGED_TOO_EARLY "LE001"
/* dbaudit_commit(), but such a refusal is not printed: it rolls back and sets *REDO, for the
 * caller to make the acknowledgement again, at a time that judges it. */
bool dbaudit_commit_or_redo(PGconn *db, bool *redo);
/* The heads of the chains staged in this session, and the engine chain's with ENGINE: 1 when
 * none is held by another transaction now (looked at with FOR UPDATE NOWAIT and let go at once,
 * sql/0116_heads_probe.sql; on Citus the engine chain's alone), 0 when one is, -1 on error. */
int dbaudit_heads_try(PGconn *db, bool engine);
/* The chain found held by the last try that returned 0. */
const char *dbaudit_heads_held(void);
/* WAIT, called by dbaudit_commit() before the flush, until set again (NULL: none): it returns
 * false to roll the transaction back instead (a stop requested while it waited). */
void dbaudit_set_heads_wait(bool (*wait)(PGconn *db));
/* Appends everything staged to its chains; returns how many records, or -1 after printing
 * the error. */
long long dbaudit_flush(PGconn *db);
/* Flushes anything staged, appends the checkpoint of RUN_ID to the engine chain and returns
 * its detail ("TENANT=HASH ..."), which the caller logs and frees; NULL after printing the
 * error. */
char *dbaudit_checkpoint(PGconn *db, const char *run_id);

/* ---- anchors ---- */

/* The writers' fence (advisory class 7283319, key 0): every append to the audit holds it shared
 * from before it takes its time until its transaction ends (sql/0108_writers_fence.sql). Taken
 * exclusively and let go at once, without waiting: 1 when taken (every record stamped before is
 * committed or rolled back), 0 while a writer holds it, -1 on error. */
#define WRITERS_FENCE_CLASS "7283319"
int dbaudit_writers_fence_try(PGconn *db);
/* The database's clock (audit time form) read just before the last try that took the fence:
 * every record stamped before it had committed (or rolled back) when the try took it. "" before
 * any. */
const char *dbaudit_writers_fence_clock(void);
/* 1 while records a replay left out are not appended (lethe.replay_withheld_open()): genuine
 * records past every anchored head, stamped before now; 0 when none; -1 on error. */
int dbaudit_withheld_pending(PGconn *db);

/* After RUN_ID committed: rows (chain, seq, hash, head_at, at) for every chain appended to
 * since the start of the last run whose line was recorded (MAY_RECORD: this role records
 * lines; else the last run that ended), and for the run's first record and its checkpoint
 * record on the engine chain, ordered by chain and seq. */
PGresult *dbaudit_anchor_heads(PGconn *db, const char *run_id, bool may_record);
/* 1 when this role may record anchor lines (lethe.anchor_line_record), 0 when it may not
 * (this schema or role cannot), -1 after printing an error. */
int dbaudit_may_record_anchor_line(PGconn *db);
/* After LINE (without its newline) of RUN_ID was appended to the anchor file: records its
 * SHA-256, which the database does only when the audit holds every head LINE names
 * (sql/0021_status_anchor.sql). 1: recorded; 0: the database would not record it; -1: the
 * query failed (printed). Only for a role that may (dbaudit_may_record_anchor_line). */
int dbaudit_anchor_line_record(PGconn *db, const char *line, const char *run_id);
/* The lines the database recorded as appended to the anchor file more than a minute after the
 * line whose digest is DIGEST (NULL: the file is missing or empty): one row (lines, newest_run,
 * newest_at) when there are any, none otherwise (sql/0057_anchor_lines_after.sql). */
PGresult *dbaudit_anchor_lines_after(PGconn *db, const char *digest);
/* 1 when the database recorded an anchor line of that digest (lethe.anchor_lines), 0 when not,
 * -1 on error (logged). The database's own word: it decides only how far back a check reads. */
int dbaudit_anchor_line_recorded(PGconn *db, const char *digest);
/* Notes each line the anchor file lacks after its newest line DIGEST (NULL: missing or empty),
 * so that every later run and status say it until it is back; SETTLE: the lines whose digests
 * are in DIGESTS (an array literal) are in the file again; OPEN: the lines noted and not settled
 * (lacking_digest, lacking_run, found_at), in the order they were recorded
 * (sql/0081_anchor_gaps.sql). */
bool dbaudit_anchor_gap_note(PGconn *db, const char *digest);
bool dbaudit_anchor_gap_settle(PGconn *db, const char *digests);
PGresult *dbaudit_anchor_gaps_open(PGconn *db);
/* Anchored heads that are not in the database: rows (chain, anchored seq, database seq or
 * null, what the database has instead). CHAINS, SEQS and HASHES are uuid[], bigint[] and
 * text[] in PostgreSQL's binary form, LENGTHS[0..2] bytes long. */
PGresult *dbaudit_missing_heads(PGconn *db, const char *chains, const char *seqs,
                                const char *hashes, const int lengths[3]);

/* ---- reading (export) ---- */

/* A window of the log: normalised times and a lower-case uuid, or NULL for no bound. */
struct audit_filter {
    const char *from; /* at >= from */
    const char *to;   /* at < to */
    const char *tenant;
};

/* 1 when the audit holds a chain of TENANT (a record of it, any time), 0 when none, -1 on
 * error (logged). */
int dbaudit_chain_exists(PGconn *db, const char *tenant);
/* Opens a read-only REPEATABLE READ transaction, so that everything the export writes comes
 * from one snapshot, and passes the filter to it. Fills the snapshot's time. Returns
 * false after printing the error; *missing is set when the database has no audit log. */
bool dbaudit_export_begin(PGconn *db, const struct audit_filter *f,
                          char exported_at[TIME_TEXT_LEN], bool *missing);
/* Streams the records in the window, ordered by tenant_id, seq, with COPY (binary, so that
 * memory stays flat and nothing is formatted twice), handing each to FN as text values: digits,
 * "true"/"false", times as in SPEC §3, lower-case uuids. FN returns false to stop. */
typedef bool (*audit_record_fn)(void *arg, const struct audit_record *r);
bool dbaudit_export_stream(PGconn *db, const struct audit_filter *f, audit_record_fn fn,
                           void *arg, long long *records);
/* The records of CHAINS (a uuid[] literal) at SEQS (a bigint[] literal, pairwise), ordered by
 * chain, handed to FN as dbaudit_export_stream hands them: the record before each chain's
 * first in a window (SPEC §5 verify: "a chain's removed first records"). */
bool dbaudit_export_before(PGconn *db, const char *chains, const char *seqs, audit_record_fn fn,
                           void *arg);
/* The chains in the window, for the export header's claims: columns tenant_id, first_seq,
 * last_seq, records, ordered by chain. */
PGresult *dbaudit_window_chains(PGconn *db, const struct audit_filter *f);
/* Records and chains in the window: one row, columns records and chains. Without --from and
 * --to they are read from the chains' heads. */
PGresult *dbaudit_window_counts(PGconn *db, const struct audit_filter *f);
/* The compliance summary: one row per rule (the six of SPEC §3 always, then any other), then
 * the row "all". Columns: rule, purged, on_time, late, max_lateness_seconds,
 * held_past_deadline, violations, pending, overdue, nearest_deadline. The pending columns are
 * null when the database has no lethe.item_status view (*pending_known false).
 * WITH_WEEKS adds, for the HTML report, pending_weeks: the rule's pending items as
 * comma-separated "BUCKET WEEK ITEMS", bucket being "overdue", "week" (WEEK is its Monday,
 * YYYY-MM-DD, else "-"), "later" (beyond DBAUDIT_WEEKS_AHEAD weeks) or "none" (no deadline);
 * null on the "all" row and for a rule with nothing pending; and this_week, the current
 * week's Monday. Overdue is exactly the summary's overdue. */
#define DBAUDIT_WEEKS_AHEAD 26
PGresult *dbaudit_summary(PGconn *db, const struct audit_filter *f, bool with_weeks,
                          bool *pending_known);
/* The report's lateness distribution: one row per bucket, in order, with columns bucket (its
 * label), late and held_past_deadline, counted exactly as the summary counts them. */
PGresult *dbaudit_lateness(PGconn *db, const struct audit_filter *f);
/* The first LIMIT chains of the window by tenant_id: tenant_id, first_seq, last_seq and hash
 * (the head an export of the same window ends at). */
PGresult *dbaudit_chain_heads(PGconn *db, const struct audit_filter *f, int limit);
/* Ends the export's transaction. */
void dbaudit_export_end(PGconn *db);

/* The audit key's fingerprint (the first 16 hex digits of HMAC-SHA256 of a fixed text under it:
 * it names the key and says nothing of it) against the key in use (sql/0084): when another key
 * is, warns that the HMACs made with this one do not match theirs, naming both and since when;
 * RECORD makes this key the one in use from now (a dry run records nothing). No key: nothing
 * to check. False when the query failed (said). WHAT names the command in messages. */
bool dbaudit_key_check(PGconn *db, const struct audit_key *key, bool record, const char *what);
/* reconcile's key: one in use before the present one is said as such and left as it was (the
 * key in use stays); any other is checked and noted as dbaudit_key_check does. Then one warning
 * for each other key in use before, since the locator HMACs recorded then are not this key's.
 * False when a query failed (said). */
bool dbaudit_key_for_reconcile(PGconn *db, const struct audit_key *key);

#endif
