/* SQL for SPEC §7: locator HMACs, replay, the reconcile inventory and the repurge run. The
 * work itself is set-based in sql/0009_restore.sql; this file moves rows in (COPY) and
 * results out, and computes the HMACs, whose key the database never sees. */
#define _POSIX_C_SOURCE 200809L
#include "dbrestore.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dbaudit.h"
#include "log.h"

#define NIL_CHAIN "00000000-0000-0000-0000-000000000000"

static void report(PGconn *db, const PGresult *res) { db_report_failure(db, res); }

/* Drains the results of a query sent with PQsendQueryParams, so the connection is usable. */
static void drain(PGconn *db)
{
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL)
        PQclear(r);
}

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

bool dbrestore_replay_load(PGconn *db, struct copy_in *c)
{
    if (!db_exec(db, "CREATE TEMP TABLE replay_lines (line text NOT NULL) ON COMMIT DROP", 0, NULL))
        return false;
    return copy_in_begin(c, db, "COPY replay_lines (line) FROM STDIN");
}

PGresult *dbrestore_replay_keep_vouched(PGconn *db, const char *chains, const char *seqs,
                                        const char *first_at)
{
    const char *p[] = {chains, seqs, first_at};
    return db_query(db,
                    "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) v(chain, seq)),"
                    " r AS (SELECT l.ctid AS c, (x.j->>'tenant_id')::uuid AS tenant_id,"
                    "              (x.j->>'seq')::bigint AS seq, (x.j->>'at')::timestamptz AS at"
                    "         FROM replay_lines l CROSS JOIN LATERAL (SELECT l.line::json AS j) x"
                    "        WHERE l.line NOT LIKE '{\"kind\":\"export_header\"%'),"
                    " d AS (DELETE FROM replay_lines l USING r"
                    "        WHERE l.ctid = r.c AND r.at > $3::timestamptz"
                    "          AND r.seq > coalesce((SELECT v.seq FROM v WHERE v.chain = r.tenant_id), 0)"
                    "        RETURNING r.tenant_id, r.seq)"
                    "SELECT d.tenant_id::text AS tenant_id, min(d.seq) - 1 AS after_seq,"
                    "       count(*) AS dropped"
                    "  FROM d GROUP BY d.tenant_id ORDER BY d.tenant_id",
                    3, p);
}

PGresult *dbrestore_replay_chains(PGconn *db)
{
    return db_query(db,
                    "SELECT o_tenant::text AS tenant_id, o_outcome AS outcome, o_seq AS seq,"
                    "       o_records AS records FROM lethe.replay_chains()",
                    0, NULL);
}

/* A hold recorded again matches its hold_placed record by item, reference and scope (the record's
 * detail, lethe.scope_detail's words), and was placed after the record was written: a hold the
 * backup holds under the same reference (released, active, or released since at replay's
 * bidding) is not the one placed after the backup. A subject hold's record names no subject
 * (only its HMAC), so a subject hold placed again is matched by its reference. */
PGresult *dbrestore_catalog_behind_audit(PGconn *db)
{
    return db_query(db,
                    "SELECT a.kind, a.tenant_id::text AS tenant_id, a.seq, coalesce(a.reference, '') AS reference,"
                    "       coalesce(a.hold_id::text, '') AS hold_id"
                    "  FROM lethe.audit a"
                    " WHERE (a.kind = 'request_recorded'"
                    "        AND NOT EXISTS (SELECT 1 FROM lethe.events e"
                    "                         WHERE e.tenant_id = a.tenant_id AND e.reference = a.reference"
                    "                           AND e.type = 'deletion_requested'))"
                    "    OR (a.kind = 'hold_placed'"
                    "        AND NOT EXISTS (SELECT 1 FROM lethe.holds h"
                    "                         WHERE h.tenant_id = a.tenant_id"
                    "                           AND (h.hold_id = a.hold_id"
                    "                                OR (h.item_id IS NOT DISTINCT FROM a.item_id"
                    "                                    AND h.reference IS NOT DISTINCT FROM a.reference"
                    "                                    AND a.detail IS NOT DISTINCT FROM"
                    "                                        CASE WHEN h.workspace_id IS NOT NULL"
                    "                                             THEN 'scope workspace ' || h.workspace_id"
                    "                                             WHEN h.subject_id IS NOT NULL THEN 'scope subject'"
                    "                                             WHEN h.item_id IS NOT NULL THEN 'scope item'"
                    "                                             ELSE 'scope tenant' END"
                    "                                    AND h.placed_at >= a.at))))"
                    "    OR (a.kind = 'hold_released'"
                    "        AND EXISTS (SELECT 1 FROM lethe.holds h"
                    "                     WHERE h.tenant_id = a.tenant_id AND h.hold_id = a.hold_id"
                    "                       AND h.released_at IS NULL))"
                    " ORDER BY a.tenant_id, a.seq",
                    0, NULL);
}

/* What a restore or a reconciliation purges again was never seen by the memory of held items
 * (sql/0013_held.sql): the next run evaluates every held item again. */
long long dbrestore_replay_candidates(PGconn *db)
{
    if (!db_exec(db, "SELECT lethe.held_forget()", 0, NULL))
        return -1;
    return db_count(db, "SELECT lethe.replay_candidates() AS n", 0, NULL);
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
                 0, NULL))
        return false;
    return copy_in_begin(c, db, "COPY inventory (ord, line, locator, locator_hmac) FROM STDIN");
}

long long dbrestore_reconcile_candidates(PGconn *db, const char *geo)
{
    if (!db_exec(db, "ANALYZE inventory", 0, NULL) || !db_exec(db, "SELECT lethe.held_forget()", 0, NULL))
        return -1;
    const char *p[] = {geo};
    return db_count(db, "SELECT lethe.reconcile_candidates($1) AS n", 1, p);
}

/* The inventory (a temporary table) is matched with the catalog by locator or HMAC, which are
 * not the distribution column on Citus: uncorrelated IN over the lines' own values, which Citus
 * reads across the shards first and PostgreSQL runs as a semi-join, rather than a subquery
 * correlated with the inventory, which Citus refuses. */
long long dbrestore_reconcile_other_geos(PGconn *db, const char *geo)
{
    const char *p[] = {geo};
    return db_count(db,
                     "SELECT count(*) AS n FROM inventory v"
                     " WHERE v.locator IN (SELECT i.locator FROM lethe.items i"
                     "                      WHERE i.location <> $1"
                     "                        AND i.locator IN (SELECT x.locator FROM inventory x))"
                     "    OR v.locator_hmac IN (SELECT h.locator_hmac FROM lethe.locator_hmacs h"
                     "                           WHERE h.location <> $1"
                     "                             AND h.locator_hmac IN (SELECT x.locator_hmac FROM inventory x))",
                     1, p);
}

long long dbrestore_reconcile_live_named(PGconn *db, const char *geo)
{
    const char *p[] = {geo};
    return db_count(db,
                     "SELECT count(*) AS n FROM inventory v"
                     " WHERE v.locator_hmac IN (SELECT h.locator_hmac FROM lethe.locator_hmacs h"
                     "                           JOIN lethe.items i ON i.tenant_id = h.tenant_id"
                     "                            AND i.item_id = h.item_id AND i.locator IS NULL"
                     "                          WHERE h.location = $1"
                     "                            AND h.locator_hmac IN (SELECT x.locator_hmac FROM inventory x))"
                     "   AND v.locator IN (SELECT l.locator FROM lethe.items l"
                     "                      WHERE l.locator IN (SELECT x.locator FROM inventory x))",
                     1, p);
}

long long dbrestore_reconcile_orphans(PGconn *db, const char *geo, FILE *out, bool *write_failed)
{
    const char *p[] = {geo};
    *write_failed = false;
    if (!PQsendQueryParams(db, "SELECT lethe.reconcile_orphans($1) AS line", 1, NULL, p, NULL, NULL, 0) ||
        !PQsetSingleRowMode(db)) {
        report(db, NULL);
        drain(db);
        return -1;
    }
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
                   " VALUES ($1::uuid, 'operator', $2, now())",
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
