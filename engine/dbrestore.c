/* SQL for SPEC §7: locator HMACs, replay, the reconcile inventory and the repurge run. The
 * work itself is set-based in sql/0009_restore.sql; this file moves rows in (COPY) and
 * results out, and computes the HMACs, whose key the database never sees. */
#define _POSIX_C_SOURCE 200809L
#include "dbrestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "anchor.h"
#include "dbaudit.h"
#include "log.h"
#include "text.h"

#define NIL_CHAIN "00000000-0000-0000-0000-000000000000"

static void report(PGconn *db, const PGresult *res) { db_report_failure(db, res); }

void locator_hmacs_init(struct locator_hmacs *h, const struct audit_key *key)
{
    *h = (struct locator_hmacs){0};
    if (!key || key->len == 0)
        return;
    h->mac = audit_mac_new(key);
    if (!h->mac)
        h->failed = true;
    audit_buf_puts(&h->tenants, "{");
    audit_buf_puts(&h->items, "{");
    audit_buf_puts(&h->hmacs, "{");
}

bool locator_hmacs_add(struct locator_hmacs *h, const char *tenant_id, const char *item_id,
                       const char *locator, size_t len)
{
    if (h->failed)
        return false;
    if (!h->mac)
        return true;
    char mac[AUDIT_HEX_LEN];
    if (!audit_mac_hex(h->mac, locator, len, mac)) {
        h->failed = true;
        return false;
    }
    const char *sep = h->n ? "," : "";
    audit_buf_puts(&h->tenants, sep);
    audit_buf_puts(&h->tenants, tenant_id);
    audit_buf_puts(&h->items, sep);
    audit_buf_puts(&h->items, item_id);
    audit_buf_puts(&h->hmacs, sep);
    audit_buf_puts(&h->hmacs, mac);
    h->n++;
    return true;
}

bool dbrestore_record_locator_hmacs(PGconn *db, struct locator_hmacs *h, const char *location,
                                    const char *batch_id)
{
    if (h->failed)
        return false;
    if (!h->mac || h->n == 0)
        return true;
    audit_buf_puts(&h->tenants, "}");
    audit_buf_puts(&h->items, "}");
    audit_buf_puts(&h->hmacs, "}");
    if (h->tenants.failed || h->items.failed || h->hmacs.failed) {
        log_error("spool: out of memory recording the locator HMACs of batch %s", batch_id);
        h->failed = true;
        return false;
    }
    const char *q[] = {location, h->tenants.data, h->items.data, h->hmacs.data};
    PGresult *r = db_query_one_row(db,
                                   "SELECT lethe.record_locator_hmacs($1, $2::uuid[],"
                                   " $3::uuid[], $4::text[])",
                                   4, q);
    if (!r) {
        h->failed = true;
        return false;
    }
    PQclear(r);
    return true;
}

void locator_hmacs_free(struct locator_hmacs *h)
{
    audit_mac_free(h->mac);
    audit_buf_free(&h->tenants);
    audit_buf_free(&h->items);
    audit_buf_free(&h->hmacs);
    *h = (struct locator_hmacs){0};
}

/* ---- COPY FROM STDIN ---- */

#define COPY_CHUNK (64 * 1024)

bool copy_in_begin(struct copy_in *c, PGconn *db, const char *sql)
{
    *c = (struct copy_in){.db = db};
    PGresult *res = PQexec(db, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        report(db, res);
        PQclear(res);
        c->failed = true;
        c->db = NULL; /* not in COPY: copy_in_end has nothing to end */
        return false;
    }
    PQclear(res);
    return true;
}

static void copy_flush(struct copy_in *c)
{
    if (c->len && !c->failed && PQputCopyData(c->db, c->buf, (int)c->len) != 1)
        c->failed = true;
    c->len = 0;
}

static void copy_byte(struct copy_in *c, char ch)
{
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : COPY_CHUNK + 64;
        char *grown = realloc(c->buf, cap);
        if (!grown) {
            c->failed = true;
            c->len = 0;
            return;
        }
        c->buf = grown;
        c->cap = cap;
    }
    c->buf[c->len++] = ch;
}

void copy_in_field(struct copy_in *c, const char *s, size_t len, bool last)
{
    if (c->failed)
        return;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        const char *esc = ch == '\\' ? "\\\\" : ch == '\n' ? "\\n" : ch == '\r' ? "\\r"
                        : ch == '\t' ? "\\t" : NULL;
        if (esc) {
            copy_byte(c, esc[0]);
            copy_byte(c, esc[1]);
        } else {
            copy_byte(c, ch);
        }
    }
    copy_byte(c, last ? '\n' : '\t');
    if (c->len >= COPY_CHUNK)
        copy_flush(c);
}

bool copy_in_end(struct copy_in *c)
{
    bool ok = !c->failed;
    if (c->db) {
        copy_flush(c);
        ok = !c->failed;
        if (PQputCopyEnd(c->db, ok ? NULL : "lethe stopped sending") != 1)
            ok = false;
        PGresult *res;
        while ((res = PQgetResult(c->db)) != NULL) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                if (ok)
                    report(c->db, res);
                ok = false;
            }
            PQclear(res);
        }
    }
    free(c->buf);
    *c = (struct copy_in){0};
    return ok;
}

/* ---- replay ---- */

/* The caller's temporary tables that a definer reads as the schema's owner (replay_chains(),
 * reconcile_candidates()): granted to that owner, which is no superuser in a deployment as the
 * README sets it up (sql/0088). A statement of constants: the table and the function are
 * lethe's names, the owner's is quoted by format(). */
#define GRANT_TEMP_TO_OWNER(table, fn)                                                             \
    "DO $grant$ BEGIN EXECUTE format('GRANT SELECT ON pg_temp." table " TO %I',"              \
    " (SELECT pg_get_userbyid(p.proowner) FROM pg_proc p WHERE p.oid = '" fn "'::regprocedure));" \
    " END $grant$"

bool dbrestore_replay_load(PGconn *db, struct copy_in *c)
{
    if (!db_exec(db, "CREATE TEMP TABLE replay_lines (line text NOT NULL) ON COMMIT DROP", 0, NULL) ||
        !db_exec(db, GRANT_TEMP_TO_OWNER("replay_lines", "lethe.replay_chains()"), 0, NULL))
        return false;
    return copy_in_begin(c, db, "COPY replay_lines (line) FROM STDIN");
}

PGresult *dbrestore_replay_keep_vouched(PGconn *db, const char *chains, const char *seqs,
                                        const char *first_at)
{
    const char *p[] = {chains, seqs, first_at};
    /* Three statements: on Citus a temporary table's rows are not deleted by a statement that
     * reads the audit (distributed). A record past the anchors at a seq the database holds is
     * kept: replay_chains() finds it present, or names the chain diverged when the database
     * holds another record there (left out, a chain diverged there was called present, exit 0,
     * and a request recorded after the last run was lost unsaid: an outside tryout's finding).
     * The same record in two exports is one record. */
    if (!db_exec(db,
                 "CREATE TEMP TABLE replay_past ON COMMIT DROP AS"
                 " WITH v AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) v(chain, seq)),"
                 " r AS (SELECT l.ctid AS c, (x.j->>'tenant_id')::uuid AS tenant_id,"
                 "              (x.j->>'seq')::bigint AS seq, (x.j->>'at')::timestamptz AS at"
                 "         FROM replay_lines l CROSS JOIN LATERAL (SELECT l.line::json AS j) x"
                 "        WHERE l.line NOT LIKE '{\"kind\":\"export_header\"%')"
                 " SELECT r.c, r.tenant_id, r.seq FROM r"
                 "  WHERE r.at > $3::timestamptz"
                 "    AND r.seq > coalesce((SELECT v.seq FROM v WHERE v.chain = r.tenant_id), 0)",
                 3, p) ||
        !db_exec(db,
                 "CREATE TEMP TABLE replay_past_held ON COMMIT DROP AS"
                 " SELECT DISTINCT a.tenant_id, a.seq FROM lethe.audit a"
                 "   JOIN replay_past r ON a.tenant_id = r.tenant_id AND a.seq = r.seq",
                 0, NULL))
        return NULL;
    /* Each record left out is noted (sql/0111): its chain takes no record until it is
     * appended. */
    if (!db_exec(db,
                 "CREATE TEMP TABLE replay_left (tenant_id uuid, seq bigint, line text)"
                 " ON COMMIT DROP",
                 0, NULL) ||
        !db_exec(db,
                 "WITH d AS (DELETE FROM replay_lines l USING replay_past r"
                 "            WHERE l.ctid = r.c"
                 "              AND NOT EXISTS (SELECT 1 FROM replay_past_held h"
                 "                               WHERE h.tenant_id = r.tenant_id AND h.seq = r.seq)"
                 "           RETURNING r.tenant_id, r.seq, l.line)"
                 "INSERT INTO replay_left SELECT d.tenant_id, d.seq, d.line FROM d",
                 0, NULL) ||
        db_count(db,
                 "SELECT lethe.replay_withheld_note(array_agg(x.tenant_id), array_agg(x.seq),"
                 "           array_agg(x.j->>'hash'), array_agg(x.j->>'kind'),"
                 "           array_agg((x.j->>'at')::timestamptz)) AS n"
                 "  FROM (SELECT l.tenant_id, l.seq, l.line::json AS j FROM replay_left l) x",
                 0, NULL) < 0)
        return NULL;
    return db_query(db,
                    "SELECT l.tenant_id::text AS tenant_id, min(l.seq) - 1 AS after_seq,"
                    "       count(DISTINCT l.seq) AS dropped"
                    "  FROM replay_left l GROUP BY l.tenant_id ORDER BY l.tenant_id",
                    0, NULL);
}

PGresult *dbrestore_withheld_open(PGconn *db, const char *chain)
{
    return db_query(db,
                    "SELECT o_tenant::text AS tenant_id, o_first AS first_seq, o_last AS last_seq,"
                    "       o_records AS records, lethe.audit_time(o_noted) AS noted_at"
                    "  FROM lethe.replay_withheld_open()"
                    /* a filter evaluated once, before the function is called: nearly always
                     * nothing is noted, and the call would cost its compilation (0.5 ms) */
                    " WHERE EXISTS (SELECT 1 FROM lethe.replay_withheld)"
                    "   AND ($1::uuid IS NULL OR o_tenant = $1::uuid)"
                    " ORDER BY o_tenant",
                    1, (const char *[]){chain});
}

void dbrestore_withheld_said(const PGresult *r, int i, char *out, size_t cap)
{
    const char *first = db_str(r, i, "first_seq"), *last = db_str(r, i, "last_seq");
    bool one = strcmp(db_str(r, i, "records"), "1") == 0;
    snprintf(out, cap, "chain %s: %s record%s that a replay left out (past every anchored head; "
             "seq%s %s%s%s, noted at %s) %s not appended, and no record is appended to the chain "
             "until %s",
             db_str(r, i, "tenant_id"), db_str(r, i, "records"), one ? "" : "s", one ? "" : "s",
             first, strcmp(first, last) == 0 ? "" : "-", strcmp(first, last) == 0 ? "" : last,
             db_str(r, i, "noted_at"), one ? "is" : "are", one ? "it is" : "they are");
}

PGresult *dbrestore_replay_against_notes(PGconn *db)
{
    /* Looked at only when something is noted (the filter is evaluated once, before any line is
     * parsed). A chain's records from the first one that contradicts a note are taken out. */
    if (!db_exec(db,
                 "CREATE TEMP TABLE replay_noted_seqs ON COMMIT DROP AS"
                 " SELECT l.ctid AS c, (x.j->>'tenant_id')::uuid AS tenant_id,"
                 "        (x.j->>'seq')::bigint AS seq, x.j->>'hash' AS hash"
                 "   FROM replay_lines l CROSS JOIN LATERAL (SELECT l.line::json AS j) x"
                 "  WHERE EXISTS (SELECT 1 FROM lethe.replay_withheld)"
                 "    AND l.line NOT LIKE '{\"kind\":\"export_header\"%'"
                 "    AND (x.j->>'tenant_id')::uuid IN (SELECT w.tenant_id FROM lethe.replay_withheld w)",
                 0, NULL) ||
        !db_exec(db,
                 "CREATE TEMP TABLE replay_contradicting ON COMMIT DROP AS"
                 " SELECT DISTINCT ON (k.tenant_id) k.* FROM ("
                 "   SELECT r.tenant_id, r.seq, r.hash AS exported,"
                 "          string_agg(w.hash, ', ' ORDER BY w.noted_at, w.hash) AS noted"
                 "     FROM replay_noted_seqs r JOIN lethe.replay_withheld w"
                 "       ON w.tenant_id = r.tenant_id AND w.seq = r.seq"
                 "    GROUP BY r.tenant_id, r.seq, r.hash"
                 "   HAVING NOT bool_or(w.hash = r.hash)) k"
                 "  ORDER BY k.tenant_id, k.seq",
                 0, NULL) ||
        !db_exec(db,
                 "DELETE FROM replay_lines l USING replay_noted_seqs r, replay_contradicting k"
                 " WHERE l.ctid = r.c AND r.tenant_id = k.tenant_id AND r.seq >= k.seq",
                 0, NULL))
        return NULL;
    return db_query(db,
                    "SELECT tenant_id::text AS tenant_id, seq, exported, noted"
                    "  FROM replay_contradicting ORDER BY tenant_id",
                    0, NULL);
}

PGresult *dbrestore_replay_chains(PGconn *db)
{
    return db_query(db,
                    "SELECT o_tenant::text AS tenant_id, o_outcome AS outcome, o_seq AS seq,"
                    "       o_records AS records FROM lethe.replay_chains()",
                    0, NULL);
}

long long dbrestore_replay_repurges_late(PGconn *db)
{
    return db_count(db, "SELECT lethe.replay_repurges_late() AS n", 0, NULL);
}

long long dbrestore_replay_close_batches(PGconn *db)
{
    return db_count(db, "SELECT lethe.replay_close_batches() AS n", 0, NULL);
}

PGresult *dbrestore_replay_runs_ended(PGconn *db)
{
    return db_query(db,
                    "SELECT o_run::text AS run_id, o_outcome AS outcome"
                    "  FROM lethe.replay_end_runs()",
                    0, NULL);
}

/* A record's scope, as `lethe request` and `lethe hold place` take it: "item I", "workspace W",
 * "subject", "tenant" (the audit's detail, lethe.scope_detail's words, and its item). */
#define RECORD_SCOPE(a)                                                                            \
    "coalesce(substring(" a ".detail FROM '^(?:event [0-9]+, )?scope (workspace [0-9a-f-]+|[a-z]+)')" \
    " || coalesce(' ' || " a ".item_id::text, ''), '')"

/* A hold's group, as text: its tenant, item, scope (the audit's detail, lethe.scope_detail's
 * words) and reference. A hold placed again after a restore has the group of the hold it
 * stands for. Sorted with COLLATE "C", as strcmp sorts. */
#define HOLD_GROUP(t, item, detail, ref)                                                           \
    "(" t "::text || '|' || coalesce(" item "::text, '-') || '|' || coalesce(" detail ", '')"     \
    " || '|' || coalesce('R' || " ref ", 'N')) COLLATE \"C\""
#define HOLD_DETAIL(h)                                                                             \
    "CASE WHEN " h ".workspace_id IS NOT NULL THEN 'scope workspace ' || " h ".workspace_id"      \
    "     WHEN " h ".subject_id IS NOT NULL THEN 'scope subject'"                                 \
    "     WHEN " h ".item_id IS NOT NULL THEN 'scope item' ELSE 'scope tenant' END"

/* Two array literals built a pair at a time, "{chain,...}" and "{seq,...}", for unnest($1, $2).
 * A failed allocation sets failed; pairs_close says it. */
struct pairs {
    char *lit[2];
    size_t len[2], cap[2];
    bool failed;
};

/* Room for N more bytes and the NUL in literal K. */
static bool pairs_room(struct pairs *p, int k, size_t n)
{
    if (p->failed)
        return false;
    if (p->len[k] + n + 1 <= p->cap[k])
        return true;
    size_t want = (p->cap[k] ? p->cap[k] * 2 : 256) + n;
    char *g = realloc(p->lit[k], want);
    if (!g) {
        p->failed = true;
        return false;
    }
    p->lit[k] = g;
    p->cap[k] = want;
    return true;
}

static void pairs_add(struct pairs *p, const char *chain, const char *seq)
{
    const char *v[2] = {chain, seq};
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(v[k]);
        if (!pairs_room(p, k, n + 1))
            return;
        p->lit[k][p->len[k]] = p->len[k] ? ',' : '{';
        memcpy(p->lit[k] + p->len[k] + 1, v[k], n);
        p->len[k] += n + 1;
    }
}

/* Closes both literals into OUT (the caller frees them): false when out of memory (said, and
 * nothing left to free). */
static bool pairs_close(struct pairs *p, char *out[2])
{
    for (int k = 0; k < 2; k++) {
        bool empty = p->len[k] == 0;
        if (!pairs_room(p, k, empty ? 2 : 1))
            break;
        if (empty)
            p->lit[k][p->len[k]++] = '{';
        p->lit[k][p->len[k]++] = '}';
        p->lit[k][p->len[k]] = '\0';
    }
    if (p->failed) {
        free(p->lit[0]);
        free(p->lit[1]);
        log_error("out of memory");
        return false;
    }
    out[0] = p->lit[0];
    out[1] = p->lit[1];
    return true;
}

/* The records looked at: every one ($1 null), or those of chains $1[i] at seqs $2[i] alone (the
 * records replay noted, lethe.restore_lost). Planned with the values known (PQexecParams), so
 * the unrestricted form scans the audit once and the restricted one looks up its records. */
#define ONLY_NOTED                                                                                 \
    "   AND ($1::uuid[] IS NULL OR (a.tenant_id, a.seq) IN"                                        \
    "        (SELECT x.t, x.s FROM unnest($1::uuid[], $2::bigint[]) x (t, s)))"

/* The hold_placed records of holds lost with a restore and not placed again, as two array
 * literals (tenants, seqs). A record is satisfied by its own hold, or by a hold of its group
 * placed after it, one hold for one record, matched in time order (each record, oldest first,
 * takes the oldest hold not yet taken placed after it). A group is the tenant, item, scope
 * and reference; a subject hold matches only a hold of the same subject, told by the HMAC of
 * the subject in each hold's own hold_placed record (a record written without an audit key,
 * which has none, matches a hold of any subject). A hold the backup holds under the reference
 * (released, active, or released since at replay's bidding) was placed before the record and
 * is not one placed again; one hold placed again does not stand for two lost. A hold placed
 * again and released since counts: its release is the operator's word on the lost one too.
 * A hold placed and released after the backup is not lost: there is nothing to place again.
 * Only the holds of the tenants looked at are read. */
static bool holds_lost(PGconn *db, const char *const only[2], char *out[2])
{
    PGresult *rec = db_query(
        db,
        "SELECT a.tenant_id::text AS tenant_id, a.seq::text AS seq,"
        "       " HOLD_GROUP("a.tenant_id", "a.item_id", "a.detail", "a.reference") " AS g,"
        "       (extract(epoch FROM a.at) * 1000000)::bigint AS t,"
        "       coalesce(a.subject_hmac, '') AS hmac"
        "  FROM lethe.audit a"
        " WHERE a.kind = 'hold_placed'" ONLY_NOTED
        "   AND NOT EXISTS (SELECT 1 FROM lethe.holds h"
        "                    WHERE h.tenant_id = a.tenant_id AND h.hold_id = a.hold_id)"
        "   AND NOT EXISTS (SELECT 1 FROM lethe.audit r"
        "                    WHERE r.tenant_id = a.tenant_id AND r.kind = 'hold_released'"
        "                      AND r.hold_id = a.hold_id)"
        " ORDER BY 3, 4, a.seq",
        2, only);
    if (!rec)
        return false;
    /* The holds of the tenants looked at: those replay noted (every tenant's for replay). */
    PGresult *held = PQntuples(rec) == 0
                         ? NULL
                         : db_query(db,
                                    "SELECT " HOLD_GROUP("h.tenant_id", "h.item_id", HOLD_DETAIL("h"),
                                                         "h.reference") " AS g,"
                                    "       (extract(epoch FROM h.placed_at) * 1000000)::bigint AS t,"
                                    "       coalesce(r.subject_hmac, '') AS hmac"
                                    "  FROM lethe.holds h"
                                    "  LEFT JOIN lethe.audit r ON r.tenant_id = h.tenant_id AND r.kind = 'hold_placed'"
                                    "        AND r.hold_id = h.hold_id AND h.subject_id IS NOT NULL"
                                    " WHERE $1::uuid[] IS NULL OR h.tenant_id = ANY ($1::uuid[])"
                                    " ORDER BY 1, 2",
                                    1, only);
    if (PQntuples(rec) > 0 && !held) {
        PQclear(rec);
        return false;
    }
    int n = PQntuples(rec), m = held ? PQntuples(held) : 0, k = 0;
    bool *taken = calloc((size_t)m + 1, sizeof *taken);
    if (!taken) {
        log_error("out of memory");
        PQclear(rec);
        PQclear(held);
        return false;
    }
    struct pairs lost = {0};
    for (int i = 0; i < n; i++) {
        const char *g = db_str(rec, i, "g"), *hmac = db_str(rec, i, "hmac");
        long long t = strtoll(db_str(rec, i, "t"), NULL, 10);
        while (k < m && strcmp(db_str(held, k, "g"), g) < 0) /* the holds of earlier groups */
            k++;
        bool again = false;
        for (int j = k; j < m && !again && strcmp(db_str(held, j, "g"), g) == 0; j++) {
            const char *h = db_str(held, j, "hmac");
            if (!taken[j] && strtoll(db_str(held, j, "t"), NULL, 10) >= t &&
                (!*hmac || !*h || strcmp(hmac, h) == 0))
                again = taken[j] = true; /* placed again */
        }
        if (!again)
            pairs_add(&lost, db_str(rec, i, "tenant_id"), db_str(rec, i, "seq"));
    }
    free(taken);
    PQclear(rec);
    PQclear(held);
    return pairs_close(&lost, out);
}

/* A deletion_requested event e that stands for the request_recorded record a: the same scope
 * (item, workspace, or the tenant), and for a subject's request the same subject, told by the
 * subject's HMAC in the request_recorded record naming e (the one `lethe request` wrote when it
 * recorded e, at e's own time); a record written without an audit key names no subject and
 * takes any subject's request. */
#define REQUEST_SAME_SCOPE                                                                         \
    " AND e.item_id IS NOT DISTINCT FROM a.item_id"                                                \
    " AND lethe.scope_detail(e.workspace_id, e.subject_id, e.item_id)"                            \
    "     = substring(a.detail FROM '^event [0-9]+, (scope (?:workspace [0-9a-f-]+|[a-z]+))')"   \
    " AND (e.subject_id IS NULL OR a.subject_hmac IS NULL"                                         \
    "      OR EXISTS (SELECT 1 FROM lethe.audit r"                                                 \
    "                  WHERE r.tenant_id = a.tenant_id AND r.kind = 'request_recorded'"            \
    "                    AND r.reference = a.reference AND r.subject_hmac = a.subject_hmac"        \
    "                    AND r.triggered_at = e.occurred_at"                                       \
    "                    AND r.detail LIKE 'event ' || e.event_id || ', %'))"

PGresult *dbrestore_catalog_behind_audit(PGconn *db, const char *const only[2])
{
    static const char *const every[2] = {NULL, NULL};
    if (!only)
        only = every;
    char *holds[2];
    if (!holds_lost(db, only, holds))
        return NULL;
    const char *p[] = {only[0], only[1], holds[0], holds[1]};
    PGresult *r = db_query(db,
                    "SELECT a.kind, a.tenant_id::text AS tenant_id, a.seq, coalesce(a.reference, '') AS reference,"
                    "       coalesce(a.hold_id::text, '') AS hold_id,"
                    "       " RECORD_SCOPE("a") " AS scope, coalesce(a.subject_hmac, '') AS subject_hmac"
                    "  FROM lethe.audit a"
                    " WHERE true" ONLY_NOTED
                    "   AND ((a.kind = 'request_recorded'"
                    "        AND NOT EXISTS (SELECT 1 FROM lethe.events e"
                    "                         WHERE e.tenant_id = a.tenant_id AND e.reference = a.reference"
                    "                           AND e.type = 'deletion_requested'" REQUEST_SAME_SCOPE "))"
                    "    OR (a.kind = 'hold_placed'"
                    "        AND (a.tenant_id, a.seq) IN (SELECT x.t, x.s FROM unnest($3::uuid[], $4::bigint[]) x (t, s)))"
                    "    OR (a.kind = 'hold_released'"
                    "        AND EXISTS (SELECT 1 FROM lethe.holds h"
                    "                     WHERE h.tenant_id = a.tenant_id AND h.hold_id = a.hold_id"
                    "                       AND h.released_at IS NULL)))"
                    " ORDER BY a.tenant_id, a.seq",
                    4, p);
    free(holds[0]);
    free(holds[1]);
    return r;
}

/* What a restore or a reconciliation purges again was never seen by the memory of held items
 * (sql/0013_held.sql): the next run evaluates every held item again. */
long long dbrestore_replay_candidates(PGconn *db)
{
    if (!db_exec(db, "SELECT lethe.held_forget()", 0, NULL))
        return -1;
    return db_count(db, "SELECT lethe.replay_candidates() AS n", 0, NULL);
}

/* The items the audit proves purged that the restored catalog does not hold, remembered for the
 * run that takes them in again (sql/0099): how many it holds, or -1. */
long long dbrestore_replay_absent_proofs(PGconn *db)
{
    return db_count(db, "SELECT lethe.replay_absent_proofs() AS n", 0, NULL);
}

bool dbrestore_lost_note(PGconn *db, const PGresult *lost)
{
    if (PQntuples(lost) == 0)
        return true;
    struct pairs noted = {0};
    for (int i = 0; i < PQntuples(lost); i++)
        pairs_add(&noted, db_str(lost, i, "tenant_id"), db_str(lost, i, "seq"));
    char *a[2];
    if (!pairs_close(&noted, a))
        return false;
    bool ok = db_count(db, "SELECT lethe.restore_lost_note($1::uuid[], $2::bigint[]) AS n", 2,
                       (const char *const *)a) >= 0;
    free(a[0]);
    free(a[1]);
    return ok;
}

PGresult *dbrestore_lost_still(PGconn *db)
{
    PGresult *noted = db_query(db,
                               "SELECT coalesce(array_agg(tenant_id ORDER BY tenant_id, seq), '{}')::text AS t,"
                               "       coalesce(array_agg(seq ORDER BY tenant_id, seq), '{}')::text AS s,"
                               "       count(*) AS n"
                               "  FROM lethe.restore_lost",
                               0, NULL);
    if (!noted)
        return NULL;
    const char *only[2] = {db_str(noted, 0, "t"), db_str(noted, 0, "s")};
    /* Nothing noted (nearly always): the restricted statement finds nothing either, and is
     * not sent. */
    PGresult *r = db_get_long(noted, 0, "n") == 0 ? PQmakeEmptyPGresult(db, PGRES_TUPLES_OK)
                                                    : dbrestore_catalog_behind_audit(db, only);
    PQclear(noted);
    return r;
}

PGresult *dbrestore_request_in_audit(PGconn *db, const char *tenant, const char *reference)
{
    const char *p[] = {tenant, reference};
    return db_query(db,
                    "SELECT seq FROM lethe.audit WHERE tenant_id = $1::uuid"
                    "   AND kind = 'request_recorded' AND reference = $2"
                    " ORDER BY seq LIMIT 1",
                    2, p);
}

void dbrestore_lost_said(const PGresult *lost, int i, char *out, size_t cap)
{
    const char *kind = db_str(lost, i, "kind"), *tenant = db_str(lost, i, "tenant_id");
    if (strcmp(kind, "request_recorded") == 0)
        snprintf(out, cap, "tenant %s: the audit records request '%s' (seq %s, scope %s), which "
                 "the restored catalog does not hold; record it again with 'lethe request'",
                 tenant, text_shown(db_str(lost, i, "reference")), db_str(lost, i, "seq"),
                 db_str(lost, i, "scope"));
    else if (strcmp(kind, "hold_placed") == 0) {
        const char *ref = db_str(lost, i, "reference");
        snprintf(out, cap, "tenant %s: the audit records hold %s placed (seq %s, scope %s%s%s%s), "
                 "which the restored catalog does not hold; place it again with 'lethe hold place'",
                 tenant, db_str(lost, i, "hold_id"), db_str(lost, i, "seq"), db_str(lost, i, "scope"),
                 *ref ? ", reference '" : "", *ref ? text_shown(ref) : "", *ref ? "'" : "");
    }
    else
        snprintf(out, cap, "tenant %s: the audit records hold %s released (seq %s), which the "
                 "restored catalog holds active; release it again with 'lethe hold release %s'",
                 tenant, db_str(lost, i, "hold_id"), db_str(lost, i, "seq"),
                 db_str(lost, i, "hold_id"));
}

/* ---- reconcile ---- */

bool dbrestore_geo_exists(PGconn *db, const char *geo, bool *ok)
{
    const char *p[] = {geo};
    long long n = db_count(db, "SELECT count(*) AS n FROM lethe.geos WHERE geo = $1", 1, p);
    *ok = n >= 0;
    return n > 0;
}

bool dbrestore_inventory_load(PGconn *db, struct copy_in *c)
{
    if (!db_exec(db,
                 "CREATE TEMP TABLE inventory (ord bigint NOT NULL, line text NOT NULL,"
                 " locator text NOT NULL, locator_hmac text NOT NULL) ON COMMIT DROP",
                 0, NULL) ||
        !db_exec(db, GRANT_TEMP_TO_OWNER("inventory", "lethe.reconcile_candidates(text)"), 0, NULL))
        return false;
    return copy_in_begin(c, db, "COPY inventory (ord, line, locator, locator_hmac) FROM STDIN");
}

/* A count the statement SQL makes of GEO ($1), in its column n. */
static long long geo_count(PGconn *db, const char *geo, const char *sql)
{
    const char *p[] = {geo};
    return db_count(db, sql, 1, p);
}

long long dbrestore_reconcile_candidates(PGconn *db, const char *geo)
{
    if (!db_exec(db, "ANALYZE inventory", 0, NULL) || !db_exec(db, "SELECT lethe.held_forget()", 0, NULL))
        return -1;
    return geo_count(db, geo, "SELECT lethe.reconcile_candidates($1) AS n");
}

/* The inventory (a temporary table) is matched with the catalog by locator or HMAC, which are
 * not the distribution column on Citus: uncorrelated IN over the lines' own values, which Citus
 * reads across the shards first and PostgreSQL runs as a semi-join, rather than a subquery
 * correlated with the inventory, which Citus refuses. */
long long dbrestore_reconcile_other_geos(PGconn *db, const char *geo)
{
    return geo_count(db, geo, "SELECT count(*) AS n FROM inventory v"
                              " WHERE v.locator IN (SELECT i.locator FROM lethe.items i"
                              "                      WHERE i.location <> $1"
                              "                        AND i.locator IN (SELECT x.locator FROM inventory x))"
                              "    OR v.locator_hmac IN (SELECT h.locator_hmac FROM lethe.locator_hmacs h"
                              "                           WHERE h.location <> $1"
                              "                             AND h.locator_hmac IN (SELECT x.locator_hmac FROM inventory x))");
}

long long dbrestore_reconcile_pending(PGconn *db, const char *geo)
{
    /* As reconcile_candidates() matches, but for the items it leaves out as pending: a line
     * naming a live item's object is left alone either way. */
    return geo_count(db, geo, "SELECT count(*) AS n FROM lethe.locator_hmacs h"
                              " WHERE h.location = $1"
                              "   AND h.locator_hmac IN (SELECT x.locator_hmac FROM inventory x"
                              "                           WHERE x.locator NOT IN"
                              "                                 (SELECT l.locator FROM lethe.items l"
                              "                                   WHERE l.locator IN (SELECT y.locator FROM inventory y)))"
                              "   AND EXISTS (SELECT 1 FROM lethe.repurges p"
                              "                WHERE p.tenant_id = h.tenant_id AND p.item_id = h.item_id"
                              "                  AND p.state = 'pending')");
}

long long dbrestore_reconcile_unmatchable(PGconn *db, const char *geo)
{
    return geo_count(db, geo, "SELECT count(*) AS n FROM lethe.items i"
                              " WHERE i.location = $1 AND i.locator IS NULL"
                              "   AND NOT EXISTS (SELECT 1 FROM lethe.locator_hmacs h"
                              "                    WHERE h.tenant_id = i.tenant_id AND h.item_id = i.item_id"
                              "                      AND h.location = $1)");
}

long long dbrestore_reconcile_live_named(PGconn *db, const char *geo)
{
    return geo_count(db, geo, "SELECT count(*) AS n FROM inventory v"
                              " WHERE v.locator_hmac IN (SELECT h.locator_hmac FROM lethe.locator_hmacs h"
                              "                           JOIN lethe.items i ON i.tenant_id = h.tenant_id"
                              "                            AND i.item_id = h.item_id AND i.locator IS NULL"
                              "                          WHERE h.location = $1"
                              "                            AND h.locator_hmac IN (SELECT x.locator_hmac FROM inventory x))"
                              "   AND v.locator IN (SELECT l.locator FROM lethe.items l"
                              "                      WHERE l.locator IN (SELECT x.locator FROM inventory x))");
}

long long dbrestore_reconcile_orphans(PGconn *db, const char *geo, FILE *out, bool *write_failed)
{
    const char *p[] = {geo};
    *write_failed = false;
    if (!db_send_rows(db, "SELECT lethe.reconcile_orphans($1) AS line", 1, p, 0))
        return -1;
    long long n = 0;
    bool failed = false;
    PGresult *res;
    while ((res = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            if (!failed && !*write_failed) {
                int c = db_col(res, "line");
                fwrite(PQgetvalue(res, 0, c), 1, (size_t)PQgetlength(res, 0, c), out);
                fputc('\n', out);
                *write_failed = ferror(out) != 0;
                n++;
            }
        } else if (st != PGRES_TUPLES_OK) {
            report(db, res);
            failed = true;
        }
        PQclear(res);
    }
    return failed || *write_failed ? -1 : n;
}

/* ---- the repurge run ---- */

bool dbrestore_run_begin(PGconn *db, const char *run_id, const char *operator_name,
                         const char *detail)
{
    const char *p[] = {run_id, operator_name, detail};
    return dbaudit_stage_open(db) &&
           db_exec(db,
                   "INSERT INTO lethe.runs (run_id, trigger, operator, as_of)"
                   " VALUES ($1::uuid, 'repurge', $2, now())",
                   2, p) &&
           db_exec(db,
                   "INSERT INTO audit_stage (tenant_id, kind, run_id, operator, detail)"
                   " VALUES ('" NIL_CHAIN "', 'run_started', $1::uuid, $2, $3)",
                   3, p);
}

PGresult *dbrestore_repurge_emit(PGconn *db, const char *run_id, const char *operator_name,
                                 long long max)
{
    char maxb[24];
    snprintf(maxb, sizeof maxb, "%lld", max);
    const char *p[] = {run_id, operator_name, maxb};
    return db_query(db,
                    "SELECT batch_id::text AS batch_id, location, items"
                    "  FROM lethe.repurge_emit($1::uuid, $2, $3::integer)",
                    3, p);
}

bool dbrestore_run_end(PGconn *db, const char *run_id, long batches, long items)
{
    char b[24], n[24];
    snprintf(b, sizeof b, "%ld", batches);
    snprintf(n, sizeof n, "%ld", items);
    const char *p[] = {run_id, b, n};
    if (!db_exec(db,
                 "UPDATE lethe.runs SET outcome = 'succeeded', finished_at = clock_timestamp(),"
                 " batches = $2::integer, items_due = $3::integer WHERE run_id = $1::uuid",
                 3, p) ||
        !db_exec(db,
                 "INSERT INTO audit_stage (tenant_id, kind, run_id, count, detail)"
                 " VALUES ('" NIL_CHAIN "', 'run_finished', $1::uuid, 0,"
                 "         'succeeded, repurge ' || $3 || ', batches ' || $2)",
                 3, p))
        return false;
    char *heads = dbaudit_checkpoint(db, run_id);
    if (!heads)
        return false;
    log_info("checkpoint: %s", heads);
    free(heads);
    return true;
}

void dbrestore_run_anchored(PGconn *db, const char *file, const char *run_id, const char *command)
{
    if (!anchor_append(db, file, run_id, command))
        log_warn("%s: run %s is recorded in the database, but not in the anchor file; the next "
                 "run's line anchors these chains too", command, run_id);
}
