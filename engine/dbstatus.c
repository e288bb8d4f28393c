/* The statements of request, hold, explain and status. Values only as $n parameters; every
 * time comes back already formatted by lethe.iso_utc(), so the jobs never parse one. Must not
 * change derivation or batches: the only writes are an event, a request's operator, a hold and
 * a hold's release, and status's temporary table. */
#define _POSIX_C_SOURCE 200809L
#include "dbstatus.h"

#include <string.h>

#include "db.h"

static int exists(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *res = db_query(db, sql, n, params);
    if (!res)
        return -1;
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

int db_tenant_exists(PGconn *db, const char *tenant)
{
    const char *p[] = {tenant};
    return exists(db, "SELECT 1 FROM lethe.tenants WHERE tenant_id = $1", 1, p);
}

int db_workspace_exists(PGconn *db, const char *tenant, const char *workspace)
{
    const char *p[] = {tenant, workspace};
    return exists(db, "SELECT 1 FROM lethe.workspaces WHERE tenant_id = $1 AND workspace_id = $2",
                  2, p);
}

int db_item_exists(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return exists(db, "SELECT 1 FROM lethe.items WHERE tenant_id = $1 AND item_id = $2", 2, p);
}

PGresult *db_requests_with_reference(PGconn *db, const char *tenant, const char *reference)
{
    const char *p[] = {tenant, reference};
    return db_query(db,
                    "SELECT event_id FROM lethe.events"
                    " WHERE tenant_id = $1 AND reference = $2 AND type = 'deletion_requested'"
                    " ORDER BY event_id",
                    2, p);
}

/* The scope as the three nullable columns events and holds share. */
static void scope_columns(const struct scope *s, const char *out[3])
{
    out[0] = s->kind == SCOPE_WORKSPACE ? s->value : NULL;
    out[1] = s->kind == SCOPE_SUBJECT ? s->value : NULL;
    out[2] = s->kind == SCOPE_ITEM ? s->value : NULL;
}

PGresult *db_record_request(PGconn *db, const char *tenant, const struct scope *scope,
                            const char *reference, const char *operator_name,
                            const char *deadline)
{
    const char *cols[3];
    scope_columns(scope, cols);
    const char *p[] = {tenant, cols[0], cols[1], cols[2], reference, operator_name, deadline};
    return db_query_one_row(
        db,
        "WITH e AS ("
        "  INSERT INTO lethe.events (tenant_id, type, workspace_id, subject_id, item_id,"
        "                            occurred_at, reference)"
        "  VALUES ($1, 'deletion_requested', $2, $3, $4, now(), $5)"
        "  RETURNING tenant_id, event_id, occurred_at),"
        " o AS ("
        "  INSERT INTO lethe.request_operators (tenant_id, event_id, operator)"
        "  SELECT e.tenant_id, e.event_id, $6 FROM e WHERE $6::text IS NOT NULL)"
        " SELECT e.event_id, lethe.iso_utc(e.occurred_at),"
        "        lethe.iso_utc(e.occurred_at + $7::interval)"
        "   FROM e",
        7, p);
}

PGresult *db_place_hold(PGconn *db, const char *tenant, const struct scope *scope,
                        const char *reason, const char *reference)
{
    const char *cols[3];
    scope_columns(scope, cols);
    const char *p[] = {tenant, cols[0], cols[1], cols[2], reason, reference};
    return db_query_one_row(db,
                            "INSERT INTO lethe.holds (tenant_id, workspace_id, subject_id, item_id,"
                            "                         reason, reference)"
                            " VALUES ($1, $2, $3, $4, $5, $6)"
                            " RETURNING hold_id, lethe.iso_utc(placed_at)",
                            6, p);
}

PGresult *db_find_hold(PGconn *db, const char *hold, const char *tenant)
{
    const char *p[] = {hold, tenant};
    return db_query(db,
                    "SELECT tenant_id, lethe.iso_utc(released_at) FROM lethe.holds"
                    " WHERE hold_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
                    " ORDER BY tenant_id LIMIT 2",
                    2, p);
}

PGresult *db_release_hold(PGconn *db, const char *tenant, const char *hold)
{
    const char *p[] = {tenant, hold};
    return db_query(db,
                    "UPDATE lethe.holds SET released_at = now()"
                    " WHERE tenant_id = $1 AND hold_id = $2 AND released_at IS NULL"
                    " RETURNING lethe.iso_utc(released_at)",
                    2, p);
}

PGresult *db_item_tenants(PGconn *db, const char *item, const char *tenant)
{
    const char *p[] = {item, tenant};
    return db_query(db,
                    "SELECT tenant_id FROM lethe.items"
                    " WHERE item_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
                    " ORDER BY tenant_id LIMIT 2",
                    2, p);
}

/* 0 tenant_id, 1 item_id, 2 workspace_id, 3 kind, 4 customer_data, 5 location, 6 owner_id,
 * 7 shared, 8 parent_id, 9 created_at, 10 as_of (now), 11 state, 12 rule, 13 due_at,
 * 14 deadline_at, 15 purged_at, 16 batch_id, 17 attempts, 18 hold_id, 19 reference,
 * 20 events of the tenant not consumed by a run yet, 21 the item not consumed yet,
 * 22 shared while its tenant or workspace was opted out (null unless shared) */
PGresult *db_explain_item(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query_one_row(
        db,
        "SELECT i.tenant_id, i.item_id, i.workspace_id, i.kind, k.customer_data, i.location,"
        "       i.owner_id, i.shared, i.parent_id, lethe.iso_utc(i.created_at),"
        "       lethe.iso_utc(now()), s.state, s.rule, lethe.iso_utc(s.due_at),"
        "       lethe.iso_utc(s.deadline_at), lethe.iso_utc(s.purged_at), s.batch_id,"
        "       s.attempts, s.hold_id, s.reference,"
        "       (SELECT count(*) FROM lethe.inbox_events b WHERE b.tenant_id = i.tenant_id),"
        "       EXISTS (SELECT 1 FROM lethe.inbox_items b"
        "                WHERE b.tenant_id = i.tenant_id AND b.item_id = i.item_id),"
        "       CASE WHEN i.shared"
        "            THEN lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at) END"
        "  FROM lethe.items i"
        "  JOIN lethe.kinds k ON k.kind = i.kind"
        "  JOIN lethe.item_status s ON s.tenant_id = i.tenant_id AND s.item_id = i.item_id"
        " WHERE i.tenant_id = $1 AND i.item_id = $2",
        2, p);
}

/* 0 rule, 1 obligation_id, 2 event_id, 3 reference, 4 triggered_at, 5 due_at, 6 deadline_at,
 * 7 withdrawn (by now), 8 withdrawn_at, 9 withdrawn_by (event id), 10 active, 11 via_item
 * (null when the item itself is in scope), 12 governing, 13 scope ("tenant", "workspace",
 * "subject", "item", or "copy" for the per-item rules), 14 scope value, 15 expanded_at,
 * 16 in effect (its trigger has come; a future-dated event's has not).
 * Active ones first, then by deadline and the SPEC §3 order. */
PGresult *db_explain_obligations(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(
        db,
        "SELECT ob.rule, ob.obligation_id, ob.event_id, ob.reference,"
        "       lethe.iso_utc(ob.triggered_at), lethe.iso_utc(ob.due_at),"
        "       lethe.iso_utc(ob.deadline_at), coalesce(ob.withdrawn_at <= now(), false),"
        "       lethe.iso_utc(ob.withdrawn_at), o.withdrawn_by, ob.active,"
        "       NULLIF(ob.via_item, $2::uuid),"
        "       ev.rule IS NOT NULL AND ob.active AND ev.rule = ob.rule"
        "           AND ev.obligation_id = ob.obligation_id AND ev.triggered_at = ob.triggered_at,"
        "       CASE WHEN o.obligation_id IS NULL THEN 'copy'"
        "            WHEN o.workspace_id IS NOT NULL THEN 'workspace'"
        "            WHEN o.subject_id IS NOT NULL THEN 'subject'"
        "            WHEN o.item_id IS NOT NULL THEN 'item' ELSE 'tenant' END,"
        "       coalesce(o.workspace_id::text, o.subject_id, o.item_id::text),"
        "       lethe.iso_utc(o.expanded_at), ob.triggered_at <= now()"
        "  FROM lethe.obligations_of($1, $2, now()) ob"
        "  LEFT JOIN lethe.obligations o"
        "    ON o.tenant_id = $1 AND o.obligation_id = ob.obligation_id AND ob.obligation_id <> 0"
        "  LEFT JOIN lethe.evaluate_item($1, $2, now()) ev ON true"
        " ORDER BY ob.active DESC, ob.deadline_at, ob.priority, ob.obligation_id",
        2, p);
}

/* 0 hold_id, 1 scope ("tenant", "workspace", "subject", "item"), 2 scope value, 3 reason,
 * 4 reference, 5 placed_at, 6 released_at, 7 active, 8 via_item (null when the item itself is
 * in scope), 9 blocking (the hold that keeps the item from being due). Oldest first. */
PGresult *db_explain_holds(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(
        db,
        "SELECT h.hold_id,"
        "       CASE WHEN h.workspace_id IS NOT NULL THEN 'workspace'"
        "            WHEN h.subject_id IS NOT NULL THEN 'subject'"
        "            WHEN h.item_id IS NOT NULL THEN 'item' ELSE 'tenant' END,"
        "       coalesce(h.workspace_id::text, h.subject_id, h.item_id::text),"
        "       h.reason, h.reference, lethe.iso_utc(h.placed_at),"
        "       lethe.iso_utc(h.released_at), h.active, NULLIF(h.via_item, $2::uuid),"
        "       h.hold_id IS NOT DISTINCT FROM s.hold_id"
        "  FROM lethe.holds_of($1, $2, now()) h"
        "  LEFT JOIN lethe.item_status s ON s.tenant_id = $1 AND s.item_id = $2"
        " ORDER BY h.placed_at, h.hold_id",
        2, p);
}

/* 0 batch_id, 1 batch state, 2 item outcome (null while open), 3 rule, 4 reference,
 * 5 due_at, 6 deadline_at, 7 batch created_at, 8 batch closed_at, 9 purged_at, 10 reason,
 * 11 run_id, 12 location. Oldest first. */
PGresult *db_explain_batches(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(
        db,
        "SELECT bi.batch_id, b.state, bi.outcome, bi.rule, bi.reference,"
        "       lethe.iso_utc(bi.due_at), lethe.iso_utc(bi.deadline_at),"
        "       lethe.iso_utc(b.created_at), lethe.iso_utc(b.closed_at),"
        "       lethe.iso_utc(bi.purged_at), bi.reason, b.run_id, b.location"
        "  FROM lethe.batch_items bi JOIN lethe.batches b ON b.batch_id = bi.batch_id"
        " WHERE bi.tenant_id = $1 AND bi.item_id = $2"
        " ORDER BY b.created_at, bi.batch_id",
        2, p);
}

/* ---- status ------------------------------------------------------------------------------ */

bool db_status_begin(PGconn *db)
{
    if (!db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL))
        return false;
    /* One pass over what is pending: compiling it (JIT) would cost more than running it. */
    if (!db_exec(db, "SET LOCAL jit = off", 0, NULL)) {
        db_rollback(db);
        return false;
    }
    if (!db_exec(db,
                 "CREATE TEMP TABLE pending ON COMMIT DROP AS"
                 " SELECT * FROM lethe.pending_items(now())",
                 0, NULL)) {
        db_rollback(db);
        return false;
    }
    return true;
}

void db_status_end(PGconn *db) { db_rollback(db); }

/* 0 now, 1 lookahead months, 2 lookahead seconds, 3 a run succeeded within the lookahead,
 * 4 events not consumed yet, 5 items not consumed yet, 6 items not purged that failed at
 * least once, 7 last run id, 8 its outcome, 9 its start, 10 its end. */
PGresult *db_status_now(PGconn *db)
{
    return db_query_one_row(
        db,
        "SELECT lethe.iso_utc(now()), m.months, extract(epoch FROM s.lookahead - make_interval("
        "           months => m.months))::bigint,"
        "       EXISTS (SELECT 1 FROM lethe.runs r WHERE r.outcome = 'succeeded'"
        "                  AND r.finished_at >= now() - s.lookahead),"
        "       (SELECT count(*) FROM lethe.inbox_events), (SELECT count(*) FROM lethe.inbox_items),"
        "       (SELECT count(DISTINCT (f.tenant_id, f.item_id)) FROM lethe.batch_items f"
        "         WHERE f.outcome = 'failed' AND NOT EXISTS ("
        "               SELECT 1 FROM lethe.batch_items x WHERE x.tenant_id = f.tenant_id"
        "                  AND x.item_id = f.item_id AND x.outcome = 'purged')),"
        "       l.run_id, l.outcome, lethe.iso_utc(l.started_at), lethe.iso_utc(l.finished_at)"
        "  FROM lethe.settings s"
        "  CROSS JOIN LATERAL (SELECT (extract(year FROM s.lookahead) * 12"
        "                              + extract(month FROM s.lookahead))::integer AS months) m"
        "  LEFT JOIN LATERAL (SELECT * FROM lethe.runs ORDER BY started_at DESC LIMIT 1) l ON true",
        0, NULL);
}

/* One row per rule in SPEC §3 order: 0 rule, 1 enabled, 2 scheduled, 3 due, 4 held,
 * 5 in_flight, 6 purged. */
PGresult *db_status_counts(PGconn *db)
{
    return db_query(
        db,
        "SELECT r.rule, r.enabled, coalesce(p.scheduled, 0), coalesce(p.due, 0),"
        "       coalesce(p.held, 0), coalesce(p.in_flight, 0), coalesce(b.purged, 0)"
        "  FROM lethe.rules r"
        "  LEFT JOIN (SELECT rule, count(*) FILTER (WHERE state = 'scheduled') AS scheduled,"
        "                    count(*) FILTER (WHERE state = 'due') AS due,"
        "                    count(*) FILTER (WHERE state = 'held') AS held,"
        "                    count(*) FILTER (WHERE state = 'in_flight') AS in_flight"
        "               FROM pending GROUP BY rule) p ON p.rule = r.rule"
        "  LEFT JOIN (SELECT rule, count(*) AS purged FROM lethe.batch_items"
        "              WHERE outcome = 'purged' GROUP BY rule) b ON b.rule = r.rule"
        " ORDER BY r.priority",
        0, NULL);
}

/* The lists below share their columns: 0 tenant_id, 1 item_id, 2 state, 3 rule, 4 reference,
 * 5 due_at, 6 deadline_at, 7 batch_id, 8 hold_id, 9 location, 10 how many rows there are in
 * all (the list stops at limit). */
#define PENDING_LIST(where, order)                                                               \
    "SELECT p.tenant_id, p.item_id, p.state, p.rule, p.reference, lethe.iso_utc(p.due_at),"     \
    "       lethe.iso_utc(p.deadline_at), p.batch_id, p.hold_id, p.location, count(*) OVER ()"  \
    "  FROM pending p WHERE " where " ORDER BY " order " LIMIT $1"

static PGresult *pending_list(PGconn *db, const char *sql, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    return db_query(db, sql, 1, p);
}

/* Past the deadline, not purged, not held; violations are counted apart (SPEC §3). */
PGresult *db_status_overdue(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.deadline_at < now() AND p.state <> 'held'"
                                     " AND p.rule <> 'shared_while_opted_out'",
                                     "p.deadline_at, p.tenant_id, p.item_id"),
                        limit);
}

PGresult *db_status_held_past_deadline(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.deadline_at < now() AND p.state = 'held'",
                                     "p.deadline_at, p.tenant_id, p.item_id"),
                        limit);
}

PGresult *db_status_next_deadlines(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.deadline_at >= now()",
                                     "p.deadline_at, p.tenant_id, p.item_id"),
                        limit);
}

/* Shared copies made while opted out that are not purged yet. */
PGresult *db_status_violations(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.rule = 'shared_while_opted_out'",
                                     "p.deadline_at, p.tenant_id, p.item_id"),
                        limit);
}

/* Items not purged that failed three times or more: 0 tenant_id, 1 item_id, 2 failures,
 * 3 last failure (the failed batch's close), 4 state now, 5 how many such items in all. */
PGresult *db_status_failing(PGconn *db, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    return db_query(
        db,
        "SELECT f.tenant_id, f.item_id, count(*), lethe.iso_utc(max(b.closed_at)),"
        "       coalesce((SELECT p.state FROM pending p"
        "                  WHERE p.tenant_id = f.tenant_id AND p.item_id = f.item_id), 'live'),"
        "       count(*) OVER ()"
        "  FROM lethe.batch_items f JOIN lethe.batches b ON b.batch_id = f.batch_id"
        " WHERE f.outcome = 'failed'"
        "   AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x WHERE x.tenant_id = f.tenant_id"
        "                      AND x.item_id = f.item_id AND x.outcome = 'purged')"
        " GROUP BY f.tenant_id, f.item_id HAVING count(*) >= 3"
        " ORDER BY count(*) DESC, f.tenant_id, f.item_id LIMIT $1",
        1, p);
}

/* The last successful run of each shard ("" for runs over the whole catalog):
 * 0 shard, 1 finished_at, 2 run_id. */
PGresult *db_status_last_runs(PGconn *db)
{
    return db_query(db,
                    "SELECT DISTINCT ON (coalesce(shard, '')) coalesce(shard, ''),"
                    "       lethe.iso_utc(finished_at), run_id"
                    "  FROM lethe.runs WHERE outcome = 'succeeded' AND finished_at IS NOT NULL"
                    " ORDER BY coalesce(shard, ''), finished_at DESC",
                    0, NULL);
}

/* ---- JSON --------------------------------------------------------------------------------- */

void json_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*c < 0x20)
                fprintf(out, "\\u%04x", *c);
            else
                fputc(*c, out);
        }
    }
    fputc('"', out);
}

const char *db_value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

void json_text(FILE *out, const PGresult *res, int row, int col)
{
    json_string(out, db_value(res, row, col));
}

void json_number(FILE *out, const PGresult *res, int row, int col)
{
    const char *v = db_value(res, row, col);
    fputs(v ? v : "null", out);
}

void json_bool(FILE *out, const PGresult *res, int row, int col)
{
    const char *v = db_value(res, row, col);
    fputs(!v ? "null" : strcmp(v, "t") == 0 ? "true" : "false", out);
}
