/* SQL for the audit log: the engine's staging and flushing wrappers, and the export's COPY
 * stream and summary. The chaining itself lives in sql/0003_audit.sql. Records leave the
 * database raw (binary COPY); engine/audit.c writes them, with the canonical form that
 * verify recomputes, so an export that drifted from the database's hashing fails to verify. */
#define _POSIX_C_SOURCE 200809L
#include "dbaudit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ids.h"
#include "log.h"

bool dbaudit_stage_open(PGconn *db)
{
    PGresult *res = db_query(db, "SELECT lethe.audit_stage_open()", 0, NULL);
    if (!res)
        return false;
    PQclear(res);
    db_audit_staged(true);
    return true;
}

bool dbaudit_commit(PGconn *db) { return dbaudit_commit_or_redo(db, NULL); }

static bool (*heads_wait)(PGconn *db);
static char heads_held[UUID_TEXT_LEN];

void dbaudit_set_heads_wait(bool (*wait)(PGconn *db)) { heads_wait = wait; }

const char *dbaudit_heads_held(void) { return heads_held; }

int dbaudit_heads_try(PGconn *db, bool engine)
{
    PGresult *r = db_query_one_row(db, "SELECT lethe.audit_heads_try($1::boolean) AS held", 1,
                                   (const char *[]){engine ? "true" : "false"});
    if (!r)
        return -1;
    const char *held = db_get(r, 0, "held");
    int free_now = held == NULL;
    if (held)
        snprintf(heads_held, sizeof heads_held, "%s", held);
    PQclear(r);
    return free_now;
}

bool dbaudit_commit_or_redo(PGconn *db, bool *redo)
{
    if (redo)
        *redo = false;
    if (heads_wait && !heads_wait(db)) {
        db_rollback(db);
        return false;
    }
    if (redo)
        db_quiet_for(AUDIT_JUDGED_TOO_EARLY);
    long long n = dbaudit_flush(db);
    db_quiet_for(NULL);
    if (n < 0) {
        if (redo)
            *redo = strcmp(db_last_sqlstate(), AUDIT_JUDGED_TOO_EARLY) == 0;
        db_rollback(db);
        return false;
    }
    db_audit_staged(false);
    if (!db_commit(db)) {
        db_rollback(db);
        return false;
    }
    return true;
}

long long dbaudit_flush(PGconn *db)
{
    /* A session that never made its stage has staged nothing: the flush would make one. */
    PGresult *res = db_query_one_row(db,
                                     "SELECT CASE WHEN to_regclass('pg_temp.audit_stage') IS NULL"
                                     " THEN 0 ELSE lethe.audit_flush() END AS appended",
                                     0, NULL);
    if (!res)
        return -1;
    long long n = strtoll(db_str(res, 0, "appended"), NULL, 10);
    PQclear(res);
    return n;
}

char *dbaudit_checkpoint(PGconn *db, const char *run_id)
{
    const char *p[] = {run_id};
    PGresult *res = db_query_one_row(db, "SELECT lethe.audit_checkpoint($1::uuid) AS detail", 1, p);
    if (!res)
        return NULL;
    char *detail = strdup(db_str(res, 0, "detail"));
    PQclear(res);
    if (!detail)
        log_error("audit: out of memory");
    return detail;
}

/* The database's clock just before the last try that took the fence. */
static char fence_clock[40];

int dbaudit_writers_fence_try(PGconn *db)
{
    /* At the session's level, so that it is let go at once inside a transaction too. The clock
     * is read before the try (the subquery is evaluated first): a writer that stamped a record
     * before it held the fence then, and has ended once the try takes it. */
    PGresult *r = db_query_one_row(
        db,
        "SELECT lethe.iso_utc(s.t) AS t,"
        "       CASE WHEN pg_try_advisory_lock(" WRITERS_FENCE_CLASS ", 0)"
        "            THEN pg_advisory_unlock(" WRITERS_FENCE_CLASS ", 0) ELSE false END AS got"
        "  FROM (SELECT clock_timestamp() AS t OFFSET 0) s",
        0, NULL);
    if (!r)
        return -1;
    int got = db_true(r, 0, "got") ? 1 : 0;
    if (got)
        snprintf(fence_clock, sizeof fence_clock, "%s", db_str(r, 0, "t"));
    PQclear(r);
    return got;
}

const char *dbaudit_writers_fence_clock(void) { return fence_clock; }

int dbaudit_withheld_pending(PGconn *db)
{
    return db_exists(db,
                     "SELECT 1 FROM lethe.replay_withheld_open()"
                     " WHERE EXISTS (SELECT 1 FROM lethe.replay_withheld)",
                     0, NULL);
}

PGresult *dbaudit_anchor_heads(PGconn *db, const char *run_id, bool may_record)
{
    /* A chain's head moves only when a record is appended, and `at` never goes back along a
     * chain: a head stamped since the last run before this one that anchored its line started
     * was moved by this run, by that one, or by what ran between them (an ack, a hold, a
     * request, a run that died before its line or failed to append it), whose heads are as
     * true and are anchored here too. That run's line holds every head stamped before its end
     * and since the start of the anchored run before it, and so on back: no head falls between
     * two lines. (Counted from the run before this one, whatever became of it, the heads an ack
     * moved before a run that then died were never anchored.) A run's line is known by its
     * record in anchor_lines (anchor_line_record). A role that may not record lines (roles.sql
     * not run again since migration 0021) counts every run that ended (succeeded, failed or
     * interrupted), as the next best thing: counted from the last recorded line, every run would
     * anchor every head moved since, a line growing without end. (A reconcile or a replay that
     * batches repurges ends as a run does, and appends its line as a run does.) The engine
     * chain's head is the run's own checkpoint record, whatever other shards appended after it.
     *
     * Since `at` never goes back along a chain, those heads are also the heads of the chains
     * with a record stamped since then. When there are few such records (an idle run: its own
     * three), the chains are found through audit_at and each head by its key (OFFSET 0 keeps
     * the planner from hashing every head instead); otherwise every
     * head is read (one pass over audit_heads: 9 ms at 10M items' 33,334 chains, which no
     * index on `at` can spare without costing every append its HOT update). The instant is
     * passed as a parameter so that the plan is made for it. */
    const char *q[] = {run_id, may_record ? "t" : "f"};
    /* With `since`, the time of that run's checkpoint, the last record it stamped before it
     * took the heads of its line: a record stamped after it was not in that line, whichever
     * run's id it carries (an ack by hand carries its batch's run). */
    PGresult *s = db_query_one_row(
        db,
        "WITH p AS (SELECT p.run_id, p.started_at FROM lethe.runs p"
        "            WHERE p.started_at < (SELECT r.started_at"
        "                   FROM lethe.runs r WHERE r.run_id = $1::uuid)"
        "              AND CASE WHEN $2::boolean"
        "                       THEN EXISTS (SELECT 1 FROM lethe.anchor_lines l"
        "                                     WHERE l.run_id = p.run_id)"
        "                       ELSE p.outcome IN ('succeeded', 'failed', 'interrupted') END"
        "            ORDER BY p.started_at DESC LIMIT 1),"
        " c AS (SELECT max(a.at) AS at FROM lethe.audit a"
        "        WHERE a.tenant_id = '00000000-0000-0000-0000-000000000000'"
        "          AND a.run_id = (SELECT p.run_id FROM p) AND a.kind = 'checkpoint')"
        " SELECT coalesce((SELECT p.started_at FROM p), '-infinity')::text AS since,"
        "        coalesce((SELECT c.at FROM c), '-infinity')::text AS vouched",
        2, q);
    if (!s)
        return NULL;
    char since[64], vouched[64];
    snprintf(since, sizeof since, "%s", db_get(s, 0, "since"));
    snprintf(vouched, sizeof vouched, "%s", db_get(s, 0, "vouched"));
    PQclear(s);
    const char *p[] = {run_id, since, vouched};
    PGresult *f = db_query_one_row(db,
                                   "SELECT count(*) < 1000 AS few FROM (SELECT 1 FROM lethe.audit a"
                                   "  WHERE a.at >= $1::timestamptz LIMIT 1000) x",
                                   1, (const char *[]){since});
    if (!f)
        return NULL;
    bool few = db_true(f, 0, "few");
    PQclear(f);
    const char *p4[] = {p[0], p[1], p[2], few ? "t" : "f"};
    /* Besides the heads, the run's first record in the engine chain (its run_started), just
     * before its checkpoint: a verifier then knows where the run began, so a window export
     * whose engine chain lost a run's first records is caught like any anchored record
     * missing, where nothing else said that the run had begun inside the window.
     *
     * And on every chain appended to since the run began (by its own records, or by those
     * stamped since, whatever run id they carry: the withdrawals it derives, another session's
     * records), the last record there stamped before the run began (on the engine chain, the
     * one before its run_started), when that record is stamped since then and was not in a line
     * already (a hold, a request or an ack made between the runs): it was that chain's head
     * when the run began. Unanchored, the records before the run's first were read by verify
     * as the run's own, so a window starting between them and the run (a request an hour
     * before the month's end, purged by the month's first run) failed as "its first records
     * were removed". Not simply the record just before the run's first one there: the owner's
     * records of the withdrawals the run derives have no run id, and one of them there stood
     * for the chain's head at the run's start, inside a window the run began in, so that an
     * untouched export of it failed verify. That record is read by its key; only on a chain
     * where it was stamped after the run began are the earlier ones read. Not in a line:
     * stamped after the checkpoint of the run that `since` counts from ($3), or, on a tenant
     * chain, of no run or of a run whose line is not recorded (a hold committed just after that
     * run took its heads, though stamped before). An ack by hand carries its batch's run id,
     * whose line was written before it: judged by that id alone, its records were left out,
     * and a window ending between the ack and the next run verified with them cut (the engine
     * chain's batch_acknowledged, and a tenant chain that run appended to again).
     *
     * And every earlier record made between the runs that ends a transaction's records on its
     * chain (the last of those stamped at one time): a window may end after any of them, and
     * the records after it, anchored, do not show it cut (an ack at 23:59 and a hold after
     * midnight, both before the next run: the ack's purge was cut from the month's export, or
     * flipped to on time and re-hashed, and both verifiers passed it). Not those stamped while
     * their run was under way (another shard's): a window ending inside a run is not covered.
     * A run that died is no such run: it is recorded running until a later run finds it dead,
     * and an ack of its batches meanwhile carries its id (a run killed at 22:00 and an ack at
     * 23:59 left the ack's purges unanchored); its own records are anchored so too. Before the
     * first recorded line (a new audit's first run: a request and a hold before it), those of a
     * log of fewer than 1,000 records ($4); a longer log without a recorded line (one that
     * predates anchor_lines) would give its first line a record of every transaction. */
#define HEADS_CP                                                                                   \
    "WITH cp AS (SELECT a.tenant_id, a.seq, a.hash, a.at FROM lethe.audit a"                       \
    "             WHERE a.run_id = $1::uuid"                                                       \
    "               AND a.tenant_id = '00000000-0000-0000-0000-000000000000'"                      \
    "               AND a.kind = 'checkpoint' ORDER BY a.seq DESC LIMIT 1),"                       \
    " first AS (SELECT a.tenant_id, a.seq, a.hash, a.at FROM lethe.audit a"                        \
    "            WHERE a.run_id = $1::uuid"                                                        \
    "              AND a.tenant_id = '00000000-0000-0000-0000-000000000000'"                       \
    "              AND a.seq < (SELECT cp.seq FROM cp) ORDER BY a.seq LIMIT 1),"              \
    " st AS (SELECT coalesce((SELECT x.at FROM first x), 'infinity') AS at),"                     \
    " b1 AS MATERIALIZED (SELECT p.tenant_id, p.seq, p.at"                                       \
    "            FROM (SELECT a.tenant_id, min(a.seq) AS seq FROM lethe.audit a"                   \
    "                   WHERE (a.run_id = $1::uuid OR a.at >= (SELECT st.at FROM st))"             \
    "                     AND a.tenant_id <> '00000000-0000-0000-0000-000000000000'"               \
    "                   GROUP BY a.tenant_id) f"                                                   \
    "            JOIN lethe.audit p ON p.tenant_id = f.tenant_id AND p.seq = f.seq - 1),"          \
    " bseq AS (SELECT b.tenant_id, b.seq FROM b1 b WHERE b.at < (SELECT st.at FROM st)"            \
    "          UNION ALL"                                                                          \
    "          SELECT '00000000-0000-0000-0000-000000000000'::uuid, f.seq - 1 FROM first f"        \
    "          UNION ALL"                                                                          \
    "          SELECT p.tenant_id, max(p.seq) FROM b1 b"                                           \
    "            JOIN lethe.audit p ON p.tenant_id = b.tenant_id AND p.seq < b.seq"                \
    "           WHERE b.at >= (SELECT st.at FROM st) AND p.at < (SELECT st.at FROM st)"            \
    "           GROUP BY p.tenant_id),"                                                            \
    " before AS MATERIALIZED (SELECT p.tenant_id, p.seq, p.hash, p.at, p.run_id"                  \
    "            FROM bseq b JOIN lethe.audit p ON p.tenant_id = b.tenant_id AND p.seq = b.seq"    \
    "           WHERE p.at >= $2::timestamptz),"                                                   \
    " prev AS (SELECT b.tenant_id, b.seq, b.hash, b.at FROM before b"                              \
    "           WHERE b.at > $3::timestamptz"                                                      \
    "              OR (b.tenant_id <> '00000000-0000-0000-0000-000000000000'"                      \
    "                  AND (b.run_id IS NULL OR NOT EXISTS (SELECT 1 FROM lethe.anchor_lines l"    \
    "                                                        WHERE l.run_id = b.run_id)))),"   \
    " gap_recs AS MATERIALIZED (SELECT a.tenant_id, a.seq, a.hash, a.at, a.run_id,"               \
    "            a.at < max(a.at) OVER (PARTITION BY a.tenant_id) AS earlier"                      \
    "             FROM lethe.audit a"                                                              \
    "           WHERE ($2::timestamptz > '-infinity' OR $4::boolean) AND a.at >= $2::timestamptz" \
    "             AND a.at > $3::timestamptz AND a.at < (SELECT st.at FROM st)),"                  \
    " gapped AS (SELECT DISTINCT ON (g.tenant_id, g.at) g.tenant_id, g.seq, g.hash, g.at"          \
    "             FROM gap_recs g WHERE g.earlier AND NOT EXISTS (SELECT 1 FROM lethe.runs r"      \
    "                   WHERE r.run_id = g.run_id AND r.outcome <> 'died'"                        \
    "                     AND g.at >= r.started_at"                                                \
    "                     AND (r.finished_at IS NULL OR g.at <= r.finished_at))"                   \
    "            ORDER BY g.tenant_id, g.at, g.seq DESC),"
#define HEADS_SINCE                                                                                \
    "            WHERE h.tenant_id <> '00000000-0000-0000-0000-000000000000'"                      \
    "              AND h.seq > 0 AND h.at >= $2::timestamptz"                                      \
    "           UNION ALL SELECT * FROM first UNION ALL SELECT * FROM prev"                        \
    "           UNION ALL SELECT * FROM gapped"                                                    \
    "           UNION ALL SELECT * FROM cp)"                                                       \
    " SELECT x.tenant_id::text AS chain, x.seq, x.hash, lethe.audit_time(x.at) AS head_at,"        \
    "        lethe.audit_time(clock_timestamp()) AS at,"                                           \
    "        CASE WHEN $2::timestamptz = '-infinity' THEN ''"                                      \
    "             ELSE lethe.audit_time($2::timestamptz) END AS since"                             \
    "   FROM heads x ORDER BY x.tenant_id, x.seq"
    return db_query(db,
                    few ? HEADS_CP " heads AS (SELECT h.tenant_id, h.seq, h.hash, h.at"
                                   "             FROM (SELECT DISTINCT a.tenant_id FROM lethe.audit a"
                                   "                    WHERE a.at >= $2::timestamptz) c"
                                   "             CROSS JOIN LATERAL (SELECT h.* FROM lethe.audit_heads h"
                                   "                                  WHERE h.tenant_id = c.tenant_id OFFSET 0) h"
                                   HEADS_SINCE
                        : HEADS_CP " heads AS (SELECT h.tenant_id, h.seq, h.hash, h.at FROM lethe.audit_heads h"
                                   HEADS_SINCE,
                    4, p4);
#undef HEADS_CP
#undef HEADS_SINCE
}

int dbaudit_may_record_anchor_line(PGconn *db)
{
    return db_may_execute(db, "lethe.anchor_line_record(text, uuid)");
}

int dbaudit_anchor_line_record(PGconn *db, const char *line, const char *run_id)
{
    const char *p[] = {line, run_id};
    PGresult *res = db_query_one_row(db, "SELECT lethe.anchor_line_record($1, $2::uuid) AS recorded", 2, p);
    if (!res)
        return -1;
    int recorded = db_true(res, 0, "recorded") ? 1 : 0;
    PQclear(res);
    return recorded;
}

PGresult *dbaudit_anchor_lines_after(PGconn *db, const char *digest)
{
    const char *p[] = {digest};
    return db_query(db,
                    "SELECT lines, newest_run::text AS newest_run, newest_at"
                    "  FROM lethe.anchor_lines_after($1)",
                    1, p);
}

int dbaudit_anchor_line_recorded(PGconn *db, const char *digest)
{
    const char *p[] = {digest};
    return db_exists(db, "SELECT 1 FROM lethe.anchor_lines WHERE digest = $1", 1, p);
}

bool dbaudit_anchor_gap_note(PGconn *db, const char *digest)
{
    return db_exec(db, "SELECT lethe.anchor_gap_note($1)", 1, (const char *[]){digest});
}

bool dbaudit_anchor_gap_settle(PGconn *db, const char *digests)
{
    return db_exec(db, "SELECT lethe.anchor_gap_settle($1::text[])", 1, (const char *[]){digests});
}

PGresult *dbaudit_anchor_gaps_open(PGconn *db)
{
    return db_query(db,
                    "SELECT lacking_digest, lacking_run::text AS lacking_run, found_at"
                    "  FROM lethe.anchor_gaps_open()",
                    0, NULL);
}

PGresult *dbaudit_missing_heads(PGconn *db, const char *chains, const char *seqs,
                                const char *hashes, const int lengths[3])
{
    const char *p[] = {chains, seqs, hashes};
    static const Oid types[] = {2951, 1016, 1009}; /* uuid[], int8[], text[] (pg_type.dat) */
    return db_query_binary(db,
                           /* read as the audit's owner (sql/0052): replay asks after appending */
                           "SELECT chain::text AS chain, anchored_seq, head_seq, why"
                           "  FROM lethe.anchor_heads_missing($1::uuid[], $2::bigint[], $3::text[])"
                           " ORDER BY chain, anchored_seq DESC",
                           3, types, p, lengths);
}

int dbaudit_chain_exists(PGconn *db, const char *tenant)
{
    const char *p[] = {tenant};
    return db_exists(db, "SELECT 1 FROM lethe.audit_heads WHERE tenant_id = $1::uuid", 1, p);
}

bool dbaudit_export_begin(PGconn *db, const struct audit_filter *f,
                          char exported_at[TIME_TEXT_LEN], bool *missing)
{
    *missing = false;
    if (!db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL))
        return false;
    /* The first statement takes the snapshot; a clock read while it runs is later than every
     * record the snapshot holds, so exported_at bounds them all (verify relies on it). */
    PGresult *res = db_query_one_row(
        db, "SELECT to_regclass('lethe.audit') IS NOT NULL"
            " AND to_regprocedure('lethe.audit_time(timestamptz)') IS NOT NULL AS present,"
            " to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
            "   AS exported_at",
        0, NULL);
    if (!res)
        goto fail;
    *missing = !db_true(res, 0, "present");
    snprintf(exported_at, TIME_TEXT_LEN, "%s", db_str(res, 0, "exported_at"));
    PQclear(res);
    if (*missing)
        goto fail;
    /* COPY takes no parameters: the filter reaches it as transaction-local settings. */
    const char *p[] = {f->from ? f->from : "", f->to ? f->to : "", f->tenant ? f->tenant : ""};
    res = db_query_one_row(db,
                           "SELECT set_config('lethe.export_from', $1, true),"
                           " set_config('lethe.export_to', $2, true),"
                           " set_config('lethe.export_tenant', $3, true)",
                           3, p);
    if (!res)
        goto fail;
    PQclear(res);
    return true;
fail:
    db_rollback(db);
    return false;
}

void dbaudit_export_end(PGconn *db)
{
    /* Read-only: ending it can lose nothing, so a failure here changes no outcome. */
    PGresult *res = PQexec(db, "COMMIT");
    PQclear(res);
}

static void report(PGconn *db, PGresult *res) { db_report_failure(db, res); }

/* An audit record's columns, in member order (wire_type below), as the export reads them. */
#define AUDIT_COLUMNS                                                                            \
    " a.seq, a.at, a.kind, a.tenant_id, a.run_id, a.batch_id, a.item_id,"                        \
    " a.rule, a.reference, a.triggered_at, a.deadline_at, a.purged_at, a.on_time,"               \
    " a.location, a.hold_id, a.subject_hmac, a.operator, a.count, a.detail,"                     \
    " a.prev_hash, a.hash"

/* The SQL is assembled from constant pieces only; which pieces depends on which bounds the
 * filter has, so that the planner sees plain range and equality conditions it can index. The
 * bounds are read through lethe.export_filter() (sql/0047_citus_statements.sql), where the
 * export runs (on Citus, the coordinator). */
static void copy_query(const struct audit_filter *f, char *sql, size_t cap)
{
    snprintf(sql, cap,
             "COPY (SELECT" AUDIT_COLUMNS " FROM lethe.audit a CROSS JOIN lethe.export_filter() f"
             " WHERE true%s%s%s"
             " ORDER BY a.tenant_id, a.seq) TO STDOUT WITH (FORMAT binary)",
             f->from ? " AND a.at >= f.from_at" : "", f->to ? " AND a.at < f.to_at" : "",
             f->tenant ? " AND a.tenant_id = f.tenant_id" : "");
}

/* The column types of the COPY above, member by member. */
enum wire { W_INT8, W_TIMESTAMPTZ, W_TEXT, W_UUID, W_BOOL };
static const enum wire wire_type[AUDIT_MEMBERS] = {
    [AM_SEQ] = W_INT8,          [AM_AT] = W_TIMESTAMPTZ,    [AM_KIND] = W_TEXT,
    [AM_TENANT_ID] = W_UUID,    [AM_RUN_ID] = W_UUID,       [AM_BATCH_ID] = W_UUID,
    [AM_ITEM_ID] = W_UUID,      [AM_RULE] = W_TEXT,         [AM_REFERENCE] = W_TEXT,
    [AM_TRIGGERED_AT] = W_TIMESTAMPTZ, [AM_DEADLINE_AT] = W_TIMESTAMPTZ,
    [AM_PURGED_AT] = W_TIMESTAMPTZ,    [AM_ON_TIME] = W_BOOL, [AM_LOCATION] = W_TEXT,
    [AM_HOLD_ID] = W_UUID,      [AM_SUBJECT_HMAC] = W_TEXT, [AM_OPERATOR] = W_TEXT,
    [AM_COUNT] = W_INT8,        [AM_DETAIL] = W_TEXT,       [AM_PREV_HASH] = W_TEXT,
    [AM_HASH] = W_TEXT,
};

static long long get_int64(const unsigned char *p)
{
    unsigned long long v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (long long)v;
}

/* PostgreSQL's epoch is 2000-01-01; ours is 1970-01-01. */
#define PG_EPOCH_UNIX_US 946684800000000LL

struct row_text {
    char ints[AUDIT_MEMBERS][24];
    char times[AUDIT_MEMBERS][AUDIT_TIME_LEN];
    char uuids[AUDIT_MEMBERS][UUID_TEXT_LEN];
};

/* Decodes member M's binary value D (LEN bytes) into R's text, kept in T. False when it is
 * not what the query asked for. */
static bool decode_field(int m, const unsigned char *d, int32_t len, struct audit_record *r,
                         struct row_text *t)
{
    static const char hex[] = "0123456789abcdef";
    switch (wire_type[m]) {
    case W_INT8:
        if (len != 8)
            return false;
        snprintf(t->ints[m], sizeof t->ints[m], "%lld", get_int64(d));
        r->v[m] = (struct audit_value){t->ints[m], strlen(t->ints[m])};
        break;
    case W_TIMESTAMPTZ:
        if (len != 8)
            return false;
        audit_format_time(get_int64(d) + PG_EPOCH_UNIX_US, t->times[m]);
        r->v[m] = (struct audit_value){t->times[m], AUDIT_TIME_LEN - 1};
        break;
    case W_UUID: {
        if (len != 16)
            return false;
        char *u = t->uuids[m];
        for (int i = 0, k = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                u[k++] = '-';
            u[k++] = hex[d[i] >> 4];
            u[k++] = hex[d[i] & 15];
        }
        u[36] = '\0';
        r->v[m] = (struct audit_value){u, 36};
        break;
    }
    case W_BOOL:
        if (len != 1)
            return false;
        r->v[m] = d[0] ? (struct audit_value){"true", 4} : (struct audit_value){"false", 5};
        break;
    case W_TEXT:
        r->v[m] = (struct audit_value){(const char *)d, (size_t)len};
        break;
    }
    return true;
}

/* Decodes one tuple of the binary COPY at *P (END bounds the message). Returns 1 for a
 * record, 0 for the trailer, -1 when the data is not what the query asked for. */
static int decode_tuple(const unsigned char **p, const unsigned char *end,
                        struct audit_record *r, struct row_text *t)
{
    if (end - *p < 2)
        return -1;
    int n = (int16_t)((*p)[0] << 8 | (*p)[1]);
    *p += 2;
    if (n == -1)
        return 0;
    if (n != AUDIT_MEMBERS)
        return -1;
    for (int m = 0; m < AUDIT_MEMBERS; m++) {
        if (end - *p < 4)
            return -1;
        int32_t len = (int32_t)((uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 |
                                (uint32_t)(*p)[2] << 8 | (*p)[3]);
        *p += 4;
        r->v[m] = (struct audit_value){NULL, 0};
        if (len == -1)
            continue;
        if (len < 0 || end - *p < len)
            return -1;
        const unsigned char *d = *p;
        *p += len;
        if (!decode_field(m, d, len, r, t))
            return -1;
    }
    return 1;
}

bool dbaudit_export_before(PGconn *db, const char *chains, const char *seqs, audit_record_fn fn,
                           void *arg)
{
    const char *p[] = {chains, seqs};
    /* Binary, as the export's COPY: the values decode the same way. One row at a time: a
     * window of every chain holds as many, and memory stays flat. */
    if (!db_send_rows(
            db,
            "SELECT" AUDIT_COLUMNS
            "  FROM lethe.audit a"
            " WHERE a.tenant_id = ANY ($1::uuid[])"
            "   AND (a.tenant_id, a.seq) IN (SELECT w.t, w.s FROM unnest($1::uuid[], $2::bigint[]) w(t, s))"
            " ORDER BY a.tenant_id",
            2, p, 1))
        return false;
    struct audit_record rec;
    struct row_text text;
    bool ok = true, failed = false;
    PGresult *res;
    while ((res = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE && ok) {
            for (int m = 0; m < AUDIT_MEMBERS && ok; m++) {
                int c;
                c = db_col(res, audit_member_names[m]); /* each member's column, by its name */
                rec.v[m] = (struct audit_value){NULL, 0};
                if (!PQgetisnull(res, 0, c))
                    ok = decode_field(m, (const unsigned char *)PQgetvalue(res, 0, c),
                                      PQgetlength(res, 0, c), &rec, &text);
            }
            if (!ok)
                log_error("export: the database sent an audit record this lethe does not read");
            ok = ok && fn(arg, &rec);
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !failed) {
            report(db, res);
            failed = true;
        }
        PQclear(res);
    }
    return ok && !failed;
}

bool dbaudit_export_stream(PGconn *db, const struct audit_filter *f, audit_record_fn fn,
                           void *arg, long long *records)
{
    static const unsigned char signature[11] = "PGCOPY\n\377\r\n";
    char sql[2048];
    copy_query(f, sql, sizeof sql);
    *records = 0;
    PGresult *res = PQexec(db, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        report(db, res);
        PQclear(res);
        return false;
    }
    PQclear(res);
    struct audit_record rec;
    struct row_text text;
    bool header = false, stopped = false, malformed = false;
    char *chunk;
    int n;
    while ((n = PQgetCopyData(db, &chunk, 0)) > 0) {
        const unsigned char *p = (const unsigned char *)chunk, *end = p + n;
        if (!header && !stopped && !malformed) {
            /* signature, flags, header extension length, extension */
            if (n < 19 || memcmp(p, signature, 11) != 0) {
                malformed = true;
            } else {
                uint32_t ext = (uint32_t)p[15] << 24 | (uint32_t)p[16] << 16 |
                               (uint32_t)p[17] << 8 | p[18];
                if (ext > (uint32_t)(n - 19))
                    malformed = true;
                p += 19 + ext;
                header = true;
            }
        }
        while (!stopped && !malformed && p < end) {
            int got = decode_tuple(&p, end, &rec, &text);
            if (got < 0)
                malformed = true;
            else if (got == 0)
                p = end;
            else if (!fn(arg, &rec))
                stopped = true;
            else
                (*records)++;
        }
        PQfreemem(chunk);
        if ((stopped || malformed) && n > 0) {
            /* Stop the server rather than stream the rest of the log into nothing. */
            PGcancel *c = PQgetCancel(db);
            char err[256];
            if (c) {
                PQcancel(c, err, sizeof err);
                PQfreeCancel(c);
            }
            while ((n = PQgetCopyData(db, &chunk, 0)) > 0)
                PQfreemem(chunk);
            break;
        }
    }
    bool ok = n == -1 && !stopped && !malformed;
    if (n == -2 && !stopped && !malformed)
        report(db, NULL);
    while ((res = PQgetResult(db))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (!stopped && !malformed)
                report(db, res);
            ok = false;
        }
        PQclear(res);
    }
    if (malformed)
        log_error("export: the database sent records in an unexpected form");
    return ok;
}

#define WINDOW_WHERE                                                                               \
    " WHERE ($1::timestamptz IS NULL OR a.at >= $1::timestamptz)"                                  \
    " AND ($2::timestamptz IS NULL OR a.at < $2::timestamptz)"                                     \
    " AND ($3::uuid IS NULL OR a.tenant_id = $3::uuid)"

PGresult *dbaudit_window_chains(PGconn *db, const struct audit_filter *f)
{
    const char *p[] = {f->from, f->to, f->tenant};
    return db_query(db,
                    "SELECT a.tenant_id::text AS tenant_id, min(a.seq) AS first_seq, max(a.seq) AS last_seq,"
                    "       count(*) AS records FROM lethe.audit a"
                    WINDOW_WHERE " GROUP BY a.tenant_id ORDER BY a.tenant_id",
                    3, p);
}

PGresult *dbaudit_window_counts(PGconn *db, const struct audit_filter *f)
{
    const char *p[] = {f->from, f->to, f->tenant};
    /* Without a window every record counts: a chain's seq is dense from 1, so its head's seq
     * is how many records it holds, read from the heads (one row a chain) in the export's
     * snapshot rather than from every record (the summary read the whole audit twice). */
    if (!f->from && !f->to)
        return db_query_one_row(db,
                                "SELECT coalesce(sum(h.seq), 0)::bigint AS records, count(*) AS chains"
                                "  FROM lethe.audit_heads h"
                                " WHERE h.seq > 0 AND ($1::uuid IS NULL OR h.tenant_id = $1::uuid)",
                                1, p + 2);
    /* Grouped by chain (hashed) rather than count(DISTINCT), which sorts every record. */
    return db_query_one_row(db,
                            "SELECT coalesce(sum(c.n), 0)::bigint AS records, count(*) AS chains"
                            "  FROM (SELECT a.tenant_id, count(*) AS n FROM lethe.audit a"
                            WINDOW_WHERE " GROUP BY a.tenant_id) c",
                            3, p);
}

/* Outcomes of item_purged records, in this order of precedence: a shared copy made while
 * opted out is a violation whenever it is purged; then on time; then held past its deadline
 * (the run cycle writes detail 'held' when a hold kept the item past it, or 'held; hold H in
 * effect at purge' when another hold also covered it at the purge: sql/0064); otherwise late.
 * The summary and the report's lateness distribution both read this one definition, and
 * lethe.purge_outcome() (sql/0097) is the same, for the counts appended by the hour. */
#define PURGED_OUTCOMES                                                                            \
    " purged AS ("                                                                                 \
    "  SELECT a.rule, CASE WHEN a.rule = 'shared_while_opted_out' THEN 'violation'"                \
    "                      WHEN a.on_time THEN 'on_time'"                                          \
    "                      WHEN " PURGE_RECORD_HELD("a") " THEN 'held'"                             \
    "                      ELSE 'late' END AS outcome,"                                            \
    "         a.purged_at - a.deadline_at AS lateness"                                             \
    "    FROM lethe.audit a" WINDOW_WHERE " AND a.kind = 'item_purged')"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
/* Pending items: not purged at the snapshot, whatever the window (the log cannot say what is
 * still to come); only --tenant narrows them. They are counted first, in a statement of their
 * own, by rule and by the week of their deadline ("violation" for a shared copy made while
 * opted out, which status lists apart from the overdue ones, "overdue", "held" when a hold in
 * effect at the deadline keeps it past it, as status counts them apart, "week" with its
 * YYYY-MM-DD, "later" beyond DBAUDIT_WEEKS_AHEAD weeks, "none" without a deadline): a few
 * rows, handed back to the summary's statement as arrays. On Citus a statement that reads one
 * tenant's audit is sent whole to that tenant's worker, where pending_items(), which reads
 * distributed tables, could not run (README, "Outgrowing one server"); here it runs where
 * lethe is connected. */
static const char PENDING_COUNTS[] =
    "WITH p AS MATERIALIZED (SELECT * FROM lethe.pending_items(now()) s"
    "                         WHERE $1::uuid IS NULL OR s.tenant_id = $1::uuid),"
    " held_kept AS MATERIALIZED (" HELD_KEPT_OF("p") ")"
    "SELECT coalesce(array_agg(g.rule), '{}') AS rules, coalesce(array_agg(g.bucket), '{}') AS buckets,"
    "       coalesce(array_agg(g.week), '{}') AS weeks, coalesce(array_agg(g.items), '{}') AS items,"
    "       coalesce(array_agg(g.nearest), '{}') AS nearest"
    "  FROM (SELECT s.rule,"
    "               CASE WHEN s.rule = 'shared_while_opted_out' THEN 'violation'"
    "                    WHEN s.deadline_at IS NULL THEN 'none'"
    "                    WHEN " HELD_AT_DEADLINE("s") " THEN 'held'"
    "                    WHEN s.deadline_at < now() THEN 'overdue'"
    "                    WHEN s.deadline_at >= date_trunc('week', now())"
    "                         + interval '" STRINGIFY(DBAUDIT_WEEKS_AHEAD) " weeks' THEN 'later'"
    "                    ELSE 'week' END AS bucket,"
    "               CASE WHEN s.deadline_at >= now() AND s.deadline_at < date_trunc('week', now())"
    "                         + interval '" STRINGIFY(DBAUDIT_WEEKS_AHEAD) " weeks' THEN"
    "                 to_char(date_trunc('week', s.deadline_at), 'YYYY-MM-DD') END AS week,"
    "               count(*) AS items, min(s.deadline_at) AS nearest"
    "          FROM p s"
    "         GROUP BY 1, 2, 3) g";

/* Each rule's purged records by outcome: every record of the window read and grouped (a
 * tenant's summary; before sql/0097) ... */
#define PURGED_READ                                                                                \
    PURGED_OUTCOMES ","                                                                            \
    " pa AS ("                                                                                     \
    "  SELECT p.rule, count(*) AS purged,"                                                         \
    "         count(*) FILTER (WHERE p.outcome = 'on_time') AS on_time,"                           \
    "         count(*) FILTER (WHERE p.outcome = 'late') AS late,"                                 \
    "         max(p.lateness) FILTER (WHERE p.outcome = 'late') AS max_lateness,"                  \
    "         count(*) FILTER (WHERE p.outcome = 'held') AS held_past_deadline,"                   \
    "         count(*) FILTER (WHERE p.outcome = 'violation') AS violations"                       \
    "    FROM purged p GROUP BY p.rule),"

/* ... or, for the whole catalog, the whole hours of the window as counted when the records were
 * appended and the records of its partial first and last hours (lethe.purge_outcomes_in,
 * sql/0097, which reads every record itself on Citus): the same counts, at the cost of the hours
 * rather than of the records. */
#define PURGED_COUNTED                                                                             \
    " pa AS ("                                                                                     \
    "  SELECT p.rule, sum(p.purged)::bigint AS purged,"                                            \
    "         coalesce(sum(p.purged) FILTER (WHERE p.outcome = 'on_time'), 0)::bigint AS on_time," \
    "         coalesce(sum(p.purged) FILTER (WHERE p.outcome = 'late'), 0)::bigint AS late,"       \
    "         max(p.max_lateness) FILTER (WHERE p.outcome = 'late') AS max_lateness,"              \
    "         coalesce(sum(p.purged) FILTER (WHERE p.outcome = 'held'), 0)::bigint"                \
    "             AS held_past_deadline,"                                                          \
    "         coalesce(sum(p.purged) FILTER (WHERE p.outcome = 'violation'), 0)::bigint"           \
    "             AS violations"                                                                   \
    "    FROM lethe.purge_outcomes_in($1::timestamptz, $2::timestamptz) p"                         \
    "   WHERE $3::uuid IS NULL GROUP BY p.rule),"

/* Each rule's purged records are counted (PURGED: one of the two above), and its pending
 * items come counted ($4..$8, from PENDING_COUNTS); the rows of the six rules and of any other
 * rule named, and the row "all" added up from them, come from those few rows. (One grouping
 * over the union of every record and pending item, with its grouping set for "all", cost twice
 * the plain GROUP BY of the audit: issue 14.) */
#define SUMMARY_SQL(PURGED, EXTRA)                                                                 \
    "WITH known(rule, ord) AS (VALUES ('deletion_request', 1), ('subject_request', 2),"            \
    "  ('capacity_deleted', 3), ('sharing_opt_out', 4), ('shared_retention', 5),"                  \
    "  ('shared_while_opted_out', 6)),"                                                            \
    PURGED                                                                                         \
    " pending AS (SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[],"          \
    "                                  $8::timestamptz[]) x (rule, bucket, week, items, nearest)),"\
    " pp AS ("                                                                                     \
    "  SELECT q.rule, sum(q.items)::bigint AS pending,"                                            \
    "         coalesce(sum(q.items) FILTER (WHERE q.bucket = 'overdue'), 0)::bigint AS overdue,"   \
    "         coalesce(sum(q.items) FILTER (WHERE q.bucket = 'violation'), 0)::bigint"             \
    "             AS violations_pending,"                                                          \
    "         min(q.nearest) AS nearest"                                                           \
    "    FROM pending q GROUP BY q.rule),"                                                         \
    " per AS ("                                                                                    \
    "  SELECT x.rule, min(x.ord) AS ord, 0 AS g,"                                                  \
    "         coalesce(min(a.purged), 0) AS purged, coalesce(min(a.on_time), 0) AS on_time,"       \
    "         coalesce(min(a.late), 0) AS late, min(a.max_lateness) AS max_lateness,"              \
    "         coalesce(min(a.held_past_deadline), 0) AS held_past_deadline,"                       \
    "         coalesce(min(a.violations), 0) AS violations, coalesce(min(q.pending), 0) AS pending," \
    "         coalesce(min(q.overdue), 0) AS overdue,"                                             \
    "         coalesce(min(q.violations_pending), 0) AS violations_pending, min(q.nearest) AS nearest"\
    "    FROM (SELECT k.rule, k.ord FROM known k UNION ALL SELECT a.rule, NULL FROM pa a"          \
    "          UNION ALL SELECT q.rule, NULL FROM pp q) x"                                         \
    "    LEFT JOIN pa a ON a.rule IS NOT DISTINCT FROM x.rule"                                     \
    "    LEFT JOIN pp q ON q.rule IS NOT DISTINCT FROM x.rule"                                     \
    "   GROUP BY x.rule),"                                                                         \
    " f AS ("                                                                                      \
    "  SELECT * FROM per"                                                                          \
    "  UNION ALL"                                                                                  \
    "  SELECT NULL, NULL, 1, sum(purged)::bigint, sum(on_time)::bigint, sum(late)::bigint,"        \
    "         max(max_lateness), sum(held_past_deadline)::bigint, sum(violations)::bigint,"        \
    "         sum(pending)::bigint, sum(overdue)::bigint, sum(violations_pending)::bigint,"        \
    "         min(nearest) FROM per)"                                                              \
    " SELECT CASE WHEN f.g = 1 THEN 'all' ELSE coalesce(f.rule, '(none)') END AS rule,"            \
    "        f.purged, f.on_time, f.late,"                                                         \
    "        extract(epoch FROM f.max_lateness) AS max_lateness_seconds,"                          \
    "        f.held_past_deadline, f.violations, f.pending, f.overdue,"                            \
    "        lethe.audit_time(f.nearest) AS nearest_deadline,"                                     \
    "        f.violations_pending" EXTRA                                                           \
    "   FROM f ORDER BY f.g, f.ord NULLS LAST, f.rule NULLS LAST"

/* The report's extra columns: each rule's pending items by the week of their deadline
 * ("overdue - 3,week 2026-12-07 5,later - 1"), from the very counts the summary adds up, and
 * the current week, where the chart's axis starts. The "all" row has no weeks of its own. */
#define PENDING_WEEKS                                                                              \
    ", CASE WHEN f.g = 0 THEN"                                                                     \
    "   (SELECT string_agg(w.bucket || ' ' || coalesce(w.week, '-') || ' ' || w.items, ','"        \
    "                      ORDER BY w.bucket, w.week)"                                             \
    "      FROM pending w WHERE w.rule IS NOT DISTINCT FROM f.rule)"                               \
    "   END AS pending_weeks,"                                                                     \
    " to_char(date_trunc('week', now()), 'YYYY-MM-DD') AS this_week"

PGresult *dbaudit_summary(PGconn *db, const struct audit_filter *f, bool with_weeks,
                          bool *pending_known)
{
    /* What is pending comes from lethe.pending_items, the set-based form of lethe.item_status
     * that status counts: it costs what is pending, where the view evaluates every item of the
     * catalog one by one. Both belong to the rules' migrations; without them the summary still
     * gives everything the log itself proves. */
    PGresult *res = db_query_one_row(
        db,
        "SELECT to_regprocedure('lethe.pending_items(timestamptz)') IS NOT NULL AS known,"
        "       CASE WHEN to_regprocedure('lethe.purge_outcomes_in(timestamptz, timestamptz)') IS NULL"
        "            THEN false"
        "            ELSE has_function_privilege('lethe.purge_outcomes_in(timestamptz, timestamptz)',"
        "                                        'EXECUTE') END AS counted",
        0, NULL);
    if (!res)
        return NULL;
    *pending_known = db_true(res, 0, "known");
    bool counted = db_true(res, 0, "counted") && !f->tenant;
    PQclear(res);
    PGresult *counts = NULL;
    if (*pending_known) {
        const char *t[] = {f->tenant};
        counts = db_query_one_row(db, PENDING_COUNTS, 1, t);
        if (!counts)
            return NULL;
    }
    const char *none = "{}";
    const char *p[] = {f->from, f->to, f->tenant,
                       counts ? db_str(counts, 0, "rules") : none,
                       counts ? db_str(counts, 0, "buckets") : none,
                       counts ? db_str(counts, 0, "weeks") : none,
                       counts ? db_str(counts, 0, "items") : none,
                       counts ? db_str(counts, 0, "nearest") : none};
    if (counted)
        res = with_weeks ? db_query(db, SUMMARY_SQL(PURGED_COUNTED, PENDING_WEEKS), 8, p)
                         : db_query(db, SUMMARY_SQL(PURGED_COUNTED, ""), 8, p);
    else
        res = with_weeks ? db_query(db, SUMMARY_SQL(PURGED_READ, PENDING_WEEKS), 8, p)
                         : db_query(db, SUMMARY_SQL(PURGED_READ, ""), 8, p);
    PQclear(counts);
    return res;
}

PGresult *dbaudit_lateness(PGconn *db, const struct audit_filter *f)
{
    /* A bucket holds lateness in (lower, upper]; the first has no lower bound, so that it
     * takes every late item the others do not, and the counts add up to the summary's. */
    static const char sql[] =
        "WITH" PURGED_OUTCOMES ","
        " buckets(ord, label, lower, upper) AS (VALUES"
        "  (1, 'up to 1 hour', NULL::interval, interval '1 hour'),"
        "  (2, '1 to 24 hours', interval '1 hour', interval '1 day'),"
        "  (3, '1 to 7 days', interval '1 day', interval '7 days'),"
        "  (4, '7 to 30 days', interval '7 days', interval '30 days'),"
        "  (5, 'over 30 days', interval '30 days', NULL::interval))"
        " SELECT b.label AS bucket,"
        "        count(p.outcome) FILTER (WHERE p.outcome = 'late') AS late,"
        "        count(p.outcome) FILTER (WHERE p.outcome = 'held') AS held_past_deadline"
        "   FROM buckets b LEFT JOIN purged p ON p.outcome IN ('late', 'held')"
        "    AND (b.lower IS NULL OR p.lateness > b.lower)"
        "    AND (b.upper IS NULL OR p.lateness <= b.upper OR p.lateness IS NULL)"
        "  GROUP BY b.ord, b.label ORDER BY b.ord";
    const char *p[] = {f->from, f->to, f->tenant};
    return db_query(db, sql, 3, p);
}

PGresult *dbaudit_chain_heads(PGconn *db, const struct audit_filter *f, int limit)
{
    /* `at` never goes backwards along a chain, so a window holds a contiguous run of each
     * chain: first_seq..last_seq, ending at the head an export of the same window ends at. */
    static const char sql[] =
        "SELECT h.tenant_id::text AS tenant_id, h.first_seq, h.last_seq, a.hash"
        "  FROM (SELECT a.tenant_id, min(a.seq) AS first_seq, max(a.seq) AS last_seq"
        "          FROM lethe.audit a" WINDOW_WHERE
        "         GROUP BY a.tenant_id ORDER BY a.tenant_id LIMIT $4::int) h"
        "  JOIN lethe.audit a ON a.tenant_id = h.tenant_id AND a.seq = h.last_seq"
        " ORDER BY h.tenant_id";
    char n[16];
    snprintf(n, sizeof n, "%d", limit);
    const char *p[] = {f->from, f->to, f->tenant, n};
    return db_query(db, sql, 4, p);
}

/* ---- the audit key in use (sql/0084) ---------------------------------------------------------- */

#define KEY_FP_LEN 17 /* 16 hex digits and the NUL */

static bool key_fingerprint(const struct audit_key *key, char out[KEY_FP_LEN])
{
    static const char text[] = "lethe audit key fingerprint";
    char hex[AUDIT_HEX_LEN];
    if (!audit_hmac_hex(key, text, sizeof text - 1, hex))
        return false;
    memcpy(out, hex, KEY_FP_LEN - 1);
    out[KEY_FP_LEN - 1] = '\0';
    return true;
}

bool dbaudit_key_check(PGconn *db, const struct audit_key *key, bool record, const char *what)
{
    if (!key || key->len == 0)
        return true;
    char fp[KEY_FP_LEN];
    if (!key_fingerprint(key, fp))
        return false;
    PGresult *r = db_query(db,
                           "SELECT previous, previous_since FROM lethe.audit_key_used($1, $2::boolean)",
                           2, (const char *[]){fp, record ? "true" : "false"});
    if (!r)
        return false;
    if (PQntuples(r) == 1) {
        log_warn("%s: the audit key (audit.key_file, fingerprint %s) is not the key in use since "
                 "%s (fingerprint %s): subject and locator HMACs made with it do not match those "
                 "made before, so reconcile does not recognise the stored objects of items purged "
                 "before, and a subject's records before and after differ",
                 what, fp, db_get(r, 0, "previous_since"), db_get(r, 0, "previous"));
        log_hint(record ? "if the key file was replaced by mistake, put the earlier key back; this "
                          "key is the one in use from now (lethe.audit_keys)"
                        : "if the key file was replaced by mistake, put the earlier key back; the "
                          "next run makes this key the one in use");
    }
    PQclear(r);
    return true;
}

/* The keys noted, the one in use first (lethe.audit_key_periods_seen: fingerprint, in_use, and
 * the periods each was in use that ended, as text), and KEY's fingerprint in FP: 1, and *R the
 * result; 0 without a key (nothing to compare); -1 when it failed (said). */
static int keys_seen(PGconn *db, const struct audit_key *key, char fp[KEY_FP_LEN], PGresult **r)
{
    *r = NULL;
    if (!key || key->len == 0)
        return 0;
    if (!key_fingerprint(key, fp))
        return -1;
    *r = db_query(db, "SELECT fingerprint, in_use, periods FROM lethe.audit_key_periods_seen()", 0,
                  NULL);
    return *r ? 1 : -1;
}

/* The keys in use before, but FP's and the one in use (R from keys_seen): one warning each, with
 * every period it was in use, since the locator HMACs recorded then are not this key's. */
static void say_keys_before(PGresult *r, const char *fp)
{
    for (int i = 0; i < PQntuples(r); i++) {
        if (db_true(r, i, "in_use") || !db_get(r, i, "periods") ||
            strcmp(db_get(r, i, "fingerprint"), fp) == 0)
            continue;
        log_warn("reconcile: the audit key with fingerprint %s was in use %s: the locator HMACs "
                 "recorded then are not this key's (fingerprint %s), so the stored objects of "
                 "items purged then are not recognised here, and are counted as naming no item",
                 db_get(r, i, "fingerprint"), db_get(r, i, "periods"), fp);
        log_hint("reconcile with that key in audit.key_file (a config of its own) to find them");
    }
}

bool dbaudit_key_for_reconcile(PGconn *db, const struct audit_key *key)
{
    char fp[KEY_FP_LEN];
    PGresult *r;
    int seen = keys_seen(db, key, fp, &r);
    if (seen <= 0)
        return seen == 0;
    /* A key in use before the present one is what the README's hint sends an operator to
     * reconcile with: it matches the locator HMACs recorded then, and the key in use stays (an
     * outside tryout found every run after such a reconcile warning to put "the earlier key"
     * back, and the keys' periods dated from the reconcile). */
    int earlier = -1, in_use = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        if (db_true(r, i, "in_use"))
            in_use = i;
        else if (strcmp(db_get(r, i, "fingerprint"), fp) == 0 && db_get(r, i, "periods"))
            earlier = i;
    }
    if (earlier >= 0 && in_use >= 0) {
        log_info("reconcile: the audit key (audit.key_file, fingerprint %s) was in use %s: it "
                 "matches the locator HMACs recorded then; the key in use stays the one with "
                 "fingerprint %s",
                 fp, db_get(r, earlier, "periods"), db_get(r, in_use, "fingerprint"));
        say_keys_before(r, fp);
        PQclear(r);
        return true;
    }
    PQclear(r);
    /* Any other key is checked, and noted as the one in use if it is not: the keys are read
     * again, the one in use until now being one before it. */
    if (!dbaudit_key_check(db, key, true, "reconcile") || keys_seen(db, key, fp, &r) < 0)
        return false;
    say_keys_before(r, fp);
    PQclear(r);
    return true;
}
