/* The statements of request, hold, explain and status. Values only as $n parameters; every
 * time comes back already formatted by lethe.iso_utc(), so the jobs never parse one. Must not
 * change derivation or batches: the only writes are an event, a request's operator, a hold and
 * a hold's release, status's temporary tables, and status's memory (db_status_remember). */
#define _POSIX_C_SOURCE 200809L
#include "dbstatus.h"

#include <string.h>

#include "db.h"
#include "dbcycle.h"
#include "log.h"

int db_tenant_exists(PGconn *db, const char *tenant)
{
    const char *p[] = {tenant};
    return db_exists(db, "SELECT 1 FROM lethe.tenants WHERE tenant_id = $1", 1, p);
}

int db_workspace_exists(PGconn *db, const char *tenant, const char *workspace)
{
    const char *p[] = {tenant, workspace};
    return db_exists(db, "SELECT 1 FROM lethe.workspaces WHERE tenant_id = $1 AND workspace_id = $2",
                  2, p);
}

PGresult *db_item_for_request(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(db,
                    "SELECT CASE WHEN i.created_at > now() THEN lethe.iso_utc(i.created_at) END"
                    "         AS created_ahead, k.customer_data"
                    "  FROM lethe.items i JOIN lethe.kinds k ON k.kind = i.kind"
                    " WHERE i.tenant_id = $1 AND i.item_id = $2",
                    2, p);
}

int db_item_exists(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_exists(db, "SELECT 1 FROM lethe.items WHERE tenant_id = $1 AND item_id = $2", 2, p);
}

/* The scope as the three nullable columns events and holds share. */
static void scope_columns(const struct scope *s, const char *out[3])
{
    out[0] = s->kind == SCOPE_WORKSPACE ? s->value : NULL;
    out[1] = s->kind == SCOPE_SUBJECT ? s->value : NULL;
    out[2] = s->kind == SCOPE_ITEM ? s->value : NULL;
}

PGresult *db_requests_with_reference(PGconn *db, const char *tenant, const char *reference,
                                     const struct scope *scope)
{
    const char *cols[3];
    scope_columns(scope, cols);
    const char *p[] = {tenant, reference, cols[0], cols[1], cols[2]};
    return db_query(db,
                    "SELECT e.event_id,"
                    "       (e.workspace_id, e.subject_id, e.item_id)"
                    "           IS NOT DISTINCT FROM ($3::uuid, $4::text, $5::uuid) AS same_scope,"
                    "       lethe.iso_utc(e.occurred_at) AS occurred_at, o.operator,"
                    "       (SELECT lethe.iso_utc(min(c.occurred_at)) FROM lethe.events c"
                    "         WHERE c.tenant_id = e.tenant_id AND c.type = 'deletion_cancelled'"
                    "           AND c.reference = e.reference AND c.occurred_at > e.occurred_at)"
                    "           AS cancelled_at"
                    "  FROM lethe.events e"
                    "  LEFT JOIN lethe.request_operators o"
                    "    ON o.tenant_id = e.tenant_id AND o.event_id = e.event_id"
                    " WHERE e.tenant_id = $1 AND e.reference = $2 AND e.type = 'deletion_requested'"
                    " ORDER BY e.event_id",
                    5, p);
}

/* Requests of one tenant are recorded one at a time, so that two retries of the same request
 * cannot both find no earlier one. Class 7283320 is this lock's alone. It was 7283312, which
 * the run lock of shard runs took too (sql/0101, key N): a shard run took a request waiting on
 * its tenant for a run, and exited 3 (an outside tryout's finding). */
bool db_lock_requests(PGconn *db, const char *tenant)
{
    const char *p[] = {tenant};
    PGresult *res =
        db_query(db, "SELECT pg_advisory_xact_lock(7283320, hashtext($1::uuid::text))", 1, p);
    PQclear(res);
    return res != NULL;
}

/* The audit's detail names the request's scope with lethe.scope_detail(): never a subject id. */
PGresult *db_record_request(PGconn *db, const char *tenant, const struct scope *scope,
                            const char *reference, const char *operator_name, const char *rule,
                            const char *deadline, const char *subject_hmac)
{
    const char *cols[3];
    scope_columns(scope, cols);
    const char *p[] = {tenant,        cols[0], cols[1], cols[2], reference, operator_name,
                       deadline,      rule,    subject_hmac};
    /* The event, its operator and its record are written together, as the owner (sql/0049). */
    return db_query_one_row(db,
                            "SELECT event_id, occurred_at, deadline_at, first_seq"
                            "  FROM lethe.request_record($1::uuid, $2::uuid, $3, $4::uuid, $5, $6,"
                            "                            $7::interval, $8, $9)",
                            9, p);
}

PGresult *db_hold_in_flight(PGconn *db, const char *tenant, const char *hold)
{
    const char *p[] = {tenant, hold};
    /* The hold's matches are taken first, then each is looked up in the open batch items by
     * its key. Joined back to every open item instead, the matches were rescanned once per
     * open item: right after a run had emitted 300,000 items (before autovacuum had analysed
     * batch_items) the warning took over 5 minutes; this takes about 4 s there. */
    return db_query(db,
                    "WITH f AS (SELECT b.tenant_id, b.item_id"
                    "             FROM lethe.batch_items b"
                    "             JOIN lethe.batches x ON x.batch_id = b.batch_id AND x.state = 'open'"
                    "            WHERE b.tenant_id = $1::uuid AND b.outcome IS NULL),"
                    " a AS (SELECT array_agg(f.tenant_id ORDER BY f.item_id) AS ts,"
                    "              array_agg(f.item_id ORDER BY f.item_id) AS ids FROM f),"
                    " m AS MATERIALIZED ("
                    "   SELECT DISTINCT m.tenant_id, m.item_id"
                    "     FROM a CROSS JOIN LATERAL lethe.hold_matches(a.ts, a.ids, now()) m"
                    "    WHERE a.ids IS NOT NULL AND m.hold_id = $2::uuid)"
                    " SELECT b.batch_id, x.location, count(*) AS items"
                    "   FROM m"
                    "   JOIN lethe.batch_items b ON b.tenant_id = m.tenant_id AND b.item_id = m.item_id"
                    "                           AND b.outcome IS NULL"
                    "   JOIN lethe.batches x ON x.batch_id = b.batch_id AND x.state = 'open'"
                    "  GROUP BY b.batch_id, x.location ORDER BY b.batch_id",
                    2, p);
}

PGresult *db_request_in_flight(PGconn *db, const char *tenant, const struct scope *scope,
                               const char *deadline_at)
{
    /* As db_hold_in_flight: the tenant's open batch items (here those whose deadline is later
     * than the request's), then which of them the request covers, by the predicate the lineage
     * walk judges an obligation's scope with (sql/0007), on the item or an ancestor. */
    const char *p[] = {tenant, deadline_at,
                       scope->kind == SCOPE_WORKSPACE ? scope->value : NULL,
                       scope->kind == SCOPE_SUBJECT ? scope->value : NULL,
                       scope->kind == SCOPE_ITEM ? scope->value : NULL};
    return db_query(
        db,
        "WITH f AS MATERIALIZED ("
        "   SELECT b.batch_id, b.tenant_id, b.item_id, b.deadline_at FROM lethe.batch_items b"
        "    WHERE b.tenant_id = $1::uuid AND b.outcome IS NULL"
        "      AND b.deadline_at > $2::timestamptz"
        "      AND b.batch_id IN (SELECT x.batch_id FROM lethe.batches x WHERE x.state = 'open')),"
        " a AS (SELECT array_agg(f.tenant_id) AS ts, array_agg(f.item_id) AS ids FROM f),"
        " m AS MATERIALIZED ("
        "   SELECT DISTINCT u.item_id FROM a CROSS JOIN LATERAL lethe.ancestors(a.ts, a.ids) u"
        "    WHERE a.ids IS NOT NULL AND u.customer_data"
        "      AND ($3::uuid IS NULL OR u.workspace_id = $3::uuid)"
        "      AND lethe.subject_covers($4::text, u.tenant_id, u.owner_id, u.owner_digest)"
        "      AND ($5::uuid IS NULL OR u.anc = $5::uuid))"
        " SELECT f.batch_id::text AS batch_id, count(*) AS items,"
        "        lethe.iso_utc(min(f.deadline_at)) AS deadline_at,"
        "        (SELECT x.location FROM lethe.batches x WHERE x.batch_id = f.batch_id) AS location"
        "   FROM f WHERE f.item_id IN (SELECT m.item_id FROM m)"
        "  GROUP BY f.batch_id ORDER BY f.batch_id",
        5, p);
}

bool db_hold_fence(PGconn *db)
{
    PGresult *r = db_query_one_row(
        db, "SELECT pg_try_advisory_xact_lock(" HOLD_FENCE_CLASS ", 0) AS got", 0, NULL);
    if (!r)
        return false;
    bool got = strcmp(db_str(r, 0, "got"), "t") == 0;
    PQclear(r);
    if (got)
        return true;
    log_info("hold: a run is forming batches, or another hold is being placed; waiting until it "
             "commits, so that this hold either keeps the batches' items back or names the "
             "batches it cannot recall");
    return db_exec(db, "SELECT pg_advisory_xact_lock(" HOLD_FENCE_CLASS ", 0)", 0, NULL);
}

PGresult *db_place_hold(PGconn *db, const char *tenant, const struct scope *scope,
                        const char *reason, const char *reference, const char *operator_name,
                        const char *subject_hmac)
{
    const char *cols[3];
    scope_columns(scope, cols);
    const char *p[] = {tenant, cols[0], cols[1], cols[2], reason, reference, operator_name,
                       subject_hmac};
    /* The hold and its hold_placed record are written together, as the owner (sql/0039). */
    return db_query_one_row(db,
                            "SELECT hold_id, placed_at"
                            "  FROM lethe.hold_place($1::uuid, $2::uuid, $3, $4::uuid, $5, $6, $7, $8)",
                            8, p);
}

PGresult *db_find_hold(PGconn *db, const char *hold, const char *tenant)
{
    const char *p[] = {hold, tenant};
    return db_query(db,
                    "SELECT tenant_id, lethe.iso_utc(released_at) AS released_at, released_by,"
                    "       subject_id"
                    "  FROM lethe.holds"
                    " WHERE hold_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
                    " ORDER BY tenant_id LIMIT 2",
                    2, p);
}

PGresult *db_release_hold(PGconn *db, const char *tenant, const char *hold,
                          const char *operator_name, const char *subject_hmac)
{
    const char *p[] = {tenant, hold, operator_name, subject_hmac};
    return db_query(db,
                    "SELECT released_at FROM lethe.hold_release($1::uuid, $2::uuid, $3, $4)", 4, p);
}

/* Columns: hold_id, tenant_id, tenant_name, scope, scope_id (never a subject id), reason,
 * reference, placed_at, placed_by, released_at, released_by, active, state (active, released
 * or not yet placed: in effect now as explain and status take it). Oldest first. */
PGresult *db_hold_list(PGconn *db, const char *tenant, bool active_only)
{
    const char *p[] = {tenant, active_only ? "t" : "f"};
    return db_query(
        db,
        "SELECT h.hold_id, h.tenant_id, t.name AS tenant_name,"
        "       CASE WHEN h.workspace_id IS NOT NULL THEN 'workspace'"
        "            WHEN h.subject_id IS NOT NULL THEN 'subject'"
        "            WHEN h.item_id IS NOT NULL THEN 'item' ELSE 'tenant' END AS scope,"
        "       coalesce(h.workspace_id, h.item_id)::text AS scope_id, h.reason, h.reference,"
        "       lethe.iso_utc(h.placed_at) AS placed_at, h.placed_by,"
        "       lethe.iso_utc(h.released_at) AS released_at, h.released_by,"
        "       h.placed_at <= now() AND (h.released_at IS NULL OR h.released_at > now()) AS active,"
        "       CASE WHEN h.released_at <= now() THEN 'released'"
        "            WHEN h.placed_at > now() THEN 'not yet placed' ELSE 'active' END AS state"
        "  FROM lethe.holds h JOIN lethe.tenants t ON t.tenant_id = h.tenant_id"
        " WHERE ($1::uuid IS NULL OR h.tenant_id = $1)"
        "   AND (NOT $2::boolean OR h.released_at IS NULL OR h.released_at > now())"
        " ORDER BY h.placed_at, h.hold_id",
        2, p);
}

/* Columns: batch_id, state, location, items, attempts, created_at, closed_at, age_seconds
 * (since created_at), run_id, rerun_of, shard, error (the executor's stored stderr), tenants
 * as "id hex(name)" lines (the first 5, by id; a name is a producer's text and may hold
 * newlines itself), tenant_count, total (how many batches match in all). Newest first, at
 * most limit (0: all). The batches are chosen first, then their tenants looked up (batches is
 * a local table on Citus, batch_items distributed: no subquery correlated across the two). */
PGresult *db_batches(PGconn *db, const char *state, const char *tenant, long limit)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *p[] = {state, tenant, limit > 0 ? lim : NULL};
    return db_query(
        db,
        "WITH bl AS MATERIALIZED ("
        "  SELECT b.*, count(*) OVER () AS total FROM lethe.batches b"
        "   WHERE ($1::text IS NULL OR b.state = $1)"
        "     AND ($2::uuid IS NULL OR b.batch_id IN (SELECT bi.batch_id FROM lethe.batch_items bi"
        "                                              WHERE bi.tenant_id = $2))"
        "   ORDER BY b.created_at DESC, b.batch_id"
        "   LIMIT $3::bigint),"
        " d AS MATERIALIZED ("
        "  SELECT DISTINCT bi.batch_id, bi.tenant_id FROM lethe.batch_items bi"
        "   WHERE bi.batch_id IN (SELECT bl.batch_id FROM bl)),"
        " tn AS ("
        "  SELECT x.batch_id,"
        "         string_agg(x.tenant_id || ' '"
        "                    || encode(convert_to(coalesce(t.name, ''), 'UTF8'), 'hex'), E'\n'"
        "                    ORDER BY x.tenant_id) FILTER (WHERE x.ord <= 5) AS list,"
        "         count(*) AS n"
        "    FROM (SELECT d.batch_id, d.tenant_id,"
        "                 row_number() OVER (PARTITION BY d.batch_id ORDER BY d.tenant_id) AS ord"
        "            FROM d) x"
        "    LEFT JOIN lethe.tenants t ON t.tenant_id = x.tenant_id"
        "   GROUP BY x.batch_id),"
        /* Why a failed batch failed: its failed items and their reasons (a receipt's, 'no
         * receipt', or the executor's exit status when it failed as a whole), the most frequent
         * three; read for the failed batches listed only. */
        " fx AS ("
        "  SELECT g.batch_id, sum(g.c) AS failed_items, count(*) AS reason_count,"
        "         string_agg(left(coalesce(g.reason, 'no reason'), 80) || ': ' || g.c, '; '"
        "                    ORDER BY g.c DESC, g.reason) FILTER (WHERE g.rk <= 3) AS reasons"
        "    FROM (SELECT bi.batch_id, bi.reason, count(*) AS c,"
        "                 row_number() OVER (PARTITION BY bi.batch_id"
        "                                    ORDER BY count(*) DESC, bi.reason) AS rk"
        "            FROM lethe.batch_items bi"
        "           WHERE bi.batch_id IN (SELECT bl.batch_id FROM bl WHERE bl.state = 'failed')"
        "             AND bi.outcome = 'failed'"
        "           GROUP BY bi.batch_id, bi.reason) g"
        "   GROUP BY g.batch_id)"
        "SELECT b.batch_id, b.state, b.location, b.items, b.attempts,"
        "       lethe.iso_utc(b.created_at) AS created_at, lethe.iso_utc(b.closed_at) AS closed_at,"
        "       floor(extract(epoch FROM now() - b.created_at))::bigint AS age_seconds, b.run_id,"
        "       b.rerun_of, b.shard, b.error, tn.list AS tenants, coalesce(tn.n, 0) AS tenant_count,"
        "       b.total, coalesce(fx.failed_items, 0) AS failed_items,"
        "       coalesce(fx.reason_count, 0) AS reason_count, fx.reasons AS failure_reasons"
        "  FROM bl b LEFT JOIN tn ON tn.batch_id = b.batch_id"
        "  LEFT JOIN fx ON fx.batch_id = b.batch_id"
        " ORDER BY b.created_at DESC, b.batch_id",
        3, p);
}

/* One row (name) when the tenant exists, none when it does not. */
PGresult *db_tenant(PGconn *db, const char *tenant)
{
    const char *p[] = {tenant};
    return db_query(db, "SELECT name FROM lethe.tenants WHERE tenant_id = $1", 1, p);
}

PGresult *db_item_purged_not_in_catalog(PGconn *db, const char *item, const char *tenant)
{
    const char *p[] = {item, tenant};
    return db_query(db,
                    "SELECT tenant_id::text AS tenant_id, rule, reference,"
                    "       lethe.iso_utc(triggered_at) AS triggered_at,"
                    "       lethe.iso_utc(deadline_at) AS deadline_at,"
                    "       lethe.iso_utc(purged_at) AS purged_at, purged_in::text AS batch_id,"
                    "       proof_hash"
                    "  FROM lethe.purged_not_in_catalog"
                    " WHERE item_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
                    " ORDER BY tenant_id LIMIT 2",
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

/* The explanation's snapshot, and what lethe's functions work out for the item, each in a
 * statement of its own that reads no table itself: explain_item (the catalog row),
 * explain_eval (evaluate_item), explain_obligations (obligations_of), explain_holds (holds_of),
 * explain_opted (opted_out_at, for a shared item). The queries below join these with the
 * tables. On Citus a statement that names one tenant is sent whole to the worker holding its
 * shard, and a function there that reads distributed tables would be a distributed query
 * inside a distributed one, which Citus refuses; a statement that calls only functions runs
 * on the coordinator. The transaction writes nothing but its temporary tables, and explain
 * rolls it back. */
bool db_explain_begin(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL) &&
           db_exec(db,
                   "CREATE TEMP TABLE explain_item ON COMMIT DROP AS"
                   " SELECT i.* FROM lethe.items i WHERE i.tenant_id = $1 AND i.item_id = $2",
                   2, p) &&
           db_exec(db,
                   "CREATE TEMP TABLE explain_eval ON COMMIT DROP AS"
                   " SELECT * FROM lethe.evaluate_item($1, $2, now())",
                   2, p) &&
           db_exec(db,
                   "CREATE TEMP TABLE explain_obligations ON COMMIT DROP AS"
                   " SELECT * FROM lethe.obligations_of($1, $2, now())",
                   2, p) &&
           db_exec(db,
                   "CREATE TEMP TABLE explain_holds ON COMMIT DROP AS"
                   " SELECT * FROM lethe.holds_of($1, $2, now())",
                   2, p) &&
           db_exec(db,
                   "CREATE TEMP TABLE explain_opted ON COMMIT DROP AS"
                   " SELECT CASE WHEN x.shared"
                   "             THEN lethe.opted_out_at(x.tenant_id, x.workspace_id, x.created_at) END"
                   "            AS opted_out"
                   "   FROM explain_item x",
                   0, NULL);
}

/* Columns: tenant_id, item_id, workspace_id, kind, customer_data, location, owner_id, shared,
 * parent_id, created_at, as_of (now), state, rule, due_at, deadline_at, purged_at, batch_id,
 * attempts, hold_id, reference, unconsumed_events (of the tenant, not consumed by a run yet),
 * unconsumed_item (the item not consumed yet), opted_out (shared while its tenant or workspace
 * was opted out; null unless shared). */
PGresult *db_explain_item(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query_one_row(
        db,
        "SELECT i.tenant_id, i.item_id, i.workspace_id, i.kind, k.customer_data, i.location,"
        "       i.owner_id, i.shared, i.parent_id, lethe.iso_utc(i.created_at) AS created_at,"
        "       lethe.iso_utc(now()) AS as_of,"
        "       CASE WHEN pb.item_id IS NOT NULL OR i.locator IS NULL THEN 'purged'"
        "            WHEN ob.item_id IS NOT NULL THEN 'in_flight'"
        "            WHEN ev.due_at <= now() AND ev.hold_id IS NOT NULL THEN 'held'"
        "            WHEN ev.due_at <= now() THEN 'due'"
        "            WHEN ev.due_at IS NOT NULL THEN 'scheduled'"
        "            ELSE 'live' END AS state,"
        "       coalesce(pb.rule, ob.rule, ev.rule) AS rule,"
        "       lethe.iso_utc(coalesce(pb.due_at, ob.due_at, ev.due_at)) AS due_at,"
        "       lethe.iso_utc(coalesce(pb.deadline_at, ob.deadline_at, ev.deadline_at)) AS deadline_at,"
        "       lethe.iso_utc(pb.purged_at) AS purged_at, coalesce(pb.batch_id, ob.batch_id) AS batch_id,"
        "       (SELECT count(*)::integer FROM lethe.batch_items f"
        "         WHERE f.tenant_id = $1 AND f.item_id = $2 AND f.outcome = 'failed') AS attempts,"
        "       ev.hold_id, coalesce(pb.reference, ob.reference, ev.reference) AS reference,"
        "       CASE WHEN ev.hold_id IS NOT NULL AND ev.due_at <= now() AND ev.deadline_at < now()"
        "            THEN lethe.held_at_deadline($1, $2, ev.hold_id, ev.deadline_at)"
        "       END AS held_at_deadline,"
        "       (SELECT count(*) FROM lethe.inbox_events_pending b"
        "         WHERE b.tenant_id = $1) AS unconsumed_events,"
        "       EXISTS (SELECT 1 FROM lethe.inbox_items_pending b"
        "                WHERE b.tenant_id = $1 AND b.item_id = $2) AS unconsumed_item,"
        "       (SELECT x.opted_out FROM explain_opted x) AS opted_out"
        "  FROM explain_item i"
        "  JOIN lethe.kinds k ON k.kind = i.kind"
        "  LEFT JOIN lethe.batch_items pb"
        "    ON pb.tenant_id = $1 AND pb.item_id = $2 AND pb.outcome = 'purged'"
        "  LEFT JOIN lethe.batch_items ob"
        "    ON ob.tenant_id = $1 AND ob.item_id = $2 AND ob.outcome IS NULL"
        "  LEFT JOIN explain_eval ev"
        "    ON pb.item_id IS NULL AND ob.item_id IS NULL AND i.locator IS NOT NULL",
        2, p);
}

/* Columns: rule, obligation_id, event_id, reference, triggered_at, due_at, deadline_at,
 * withdrawn (by now), withdrawn_at, withdrawn_by (event id), active, via_item_id (null when
 * the item itself is in scope), governing, scope ("tenant", "workspace", "subject", "item", or
 * "copy" for the per-item rules), scope_id, expanded_at, in_effect (its trigger has come; a
 * future-dated event's has not), rule_enabled (its rule is enabled in lethe.rules, as the last
 * run's config set it), deadline_passed. Active ones first, then by deadline and the SPEC §3 order. */
PGresult *db_explain_obligations(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(
        db,
        "SELECT ob.rule, ob.obligation_id, ob.event_id, ob.reference,"
        "       lethe.iso_utc(ob.triggered_at) AS triggered_at,"
        /* The obligation's own due time (SPEC §3), from its deadline: a purged item's (or a
         * copy's of it) is read from its batch, which keeps the item's, the earliest of all
         * its obligations' (a request shown due a day before it was made). */
        "       lethe.iso_utc(greatest(ob.triggered_at, least(ob.triggered_at + r.grace,"
        "                                                     ob.deadline_at - s.lookahead)))"
        "           AS due_at,"
        "       lethe.iso_utc(ob.deadline_at) AS deadline_at,"
        "       coalesce(ob.withdrawn_at <= now(), false) AS withdrawn,"
        "       lethe.iso_utc(ob.withdrawn_at) AS withdrawn_at, o.withdrawn_by, ob.active,"
        "       NULLIF(ob.via_item, $2::uuid) AS via_item_id,"
        "       ev.rule IS NOT NULL AND ob.active AND ev.rule = ob.rule"
        "           AND ev.obligation_id = ob.obligation_id AND ev.triggered_at = ob.triggered_at"
        "           AS governing,"
        "       CASE WHEN o.obligation_id IS NULL THEN 'copy'"
        "            WHEN o.workspace_id IS NOT NULL THEN 'workspace'"
        "            WHEN o.subject_id IS NOT NULL THEN 'subject'"
        "            WHEN o.item_id IS NOT NULL THEN 'item' ELSE 'tenant' END AS scope,"
        "       coalesce(o.workspace_id::text, o.subject_id, o.item_id::text) AS scope_id,"
        "       lethe.iso_utc(o.expanded_at) AS expanded_at, ob.triggered_at <= now() AS in_effect,"
        "       coalesce(r.enabled, true) AS rule_enabled, ob.deadline_at < now() AS deadline_passed"
        "  FROM explain_obligations ob"
        "  LEFT JOIN lethe.rules r ON r.rule = ob.rule"
        "  CROSS JOIN lethe.settings s"
        "  LEFT JOIN lethe.obligations o"
        "    ON o.tenant_id = $1 AND o.obligation_id = ob.obligation_id AND ob.obligation_id <> 0"
        "  LEFT JOIN explain_eval ev ON true"
        " ORDER BY ob.active DESC, ob.deadline_at, ob.priority, ob.obligation_id",
        2, p);
}

/* Columns: hold_id, scope ("tenant", "workspace", "subject", "item"), scope_id, reason,
 * reference, placed_at, released_at, active, via_item_id (null when the item itself is in
 * scope), blocking (the hold that keeps the item from being due). Oldest first. */
PGresult *db_explain_holds(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(
        db,
        "SELECT h.hold_id,"
        "       CASE WHEN h.workspace_id IS NOT NULL THEN 'workspace'"
        "            WHEN h.subject_id IS NOT NULL THEN 'subject'"
        "            WHEN h.item_id IS NOT NULL THEN 'item' ELSE 'tenant' END AS scope,"
        "       coalesce(h.workspace_id::text, h.subject_id, h.item_id::text) AS scope_id,"
        "       h.reason, h.reference, lethe.iso_utc(h.placed_at) AS placed_at,"
        "       lethe.iso_utc(h.released_at) AS released_at, h.active,"
        "       NULLIF(h.via_item, $2::uuid) AS via_item_id,"
        "       h.hold_id IS NOT DISTINCT FROM s.hold_id AS blocking"
        "  FROM explain_holds h"
        "  LEFT JOIN (SELECT ev.hold_id FROM explain_eval ev, explain_item i"
        "              WHERE i.locator IS NOT NULL"
        "                AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b"
        "                                 WHERE b.tenant_id = $1 AND b.item_id = $2"
        "                                   AND (b.outcome IS NULL OR b.outcome = 'purged'))) s"
        "    ON true"
        " ORDER BY h.placed_at, h.hold_id",
        2, p);
}

/* Columns: batch_id, batch_state, outcome (the item's; null while open), rule, reference,
 * due_at, deadline_at, created_at and closed_at (the batch's), purged_at, reason, run_id,
 * location, attempts (of the batch's executor: 0 when it was never handed over). Oldest first. */
PGresult *db_explain_batches(PGconn *db, const char *tenant, const char *item)
{
    const char *p[] = {tenant, item};
    return db_query(
        db,
        "SELECT bi.batch_id, b.state AS batch_state, bi.outcome, bi.rule, bi.reference,"
        "       lethe.iso_utc(bi.due_at) AS due_at, lethe.iso_utc(bi.deadline_at) AS deadline_at,"
        "       lethe.iso_utc(b.created_at) AS created_at, lethe.iso_utc(b.closed_at) AS closed_at,"
        "       lethe.iso_utc(bi.purged_at) AS purged_at, bi.reason, b.run_id, b.location,"
        "       b.attempts"
        "  FROM lethe.batch_items bi JOIN lethe.batches b ON b.batch_id = bi.batch_id"
        " WHERE bi.tenant_id = $1 AND bi.item_id = $2"
        " ORDER BY b.created_at, bi.batch_id",
        2, p);
}

/* Columns: seq, rule, reference, on_time, hold_id, detail. The record is what an export shows
 * of the purge, and what its summary counts: a violation (rule shared_while_opted_out), or
 * purged on time, late, or held past its deadline (detail 'held' or 'held; ...', sql/0031 and
 * 0064). Looked for among the records of the batch's run (index audit_run), where a run's
 * purges are recorded, a late acknowledgement's included; then, for a batch recorded again by
 * a replay under the replay's run, among the tenant's records from the purge on (RUN and
 * PURGED_AT: the batch's, as explain read them). */
#define PURGE_RECORD_SQL(WHERE)                                                                    \
    "SELECT a.seq, a.rule, a.reference, a.on_time, a.hold_id, a.detail FROM lethe.audit a"         \
    " WHERE a.tenant_id = $1 AND a.item_id = $2 AND a.batch_id = $3 AND a.kind = 'item_purged'"    \
    "   AND " WHERE " ORDER BY a.seq DESC LIMIT 1"

PGresult *db_explain_purge_record(PGconn *db, const char *tenant, const char *item,
                                  const char *batch, const char *run, const char *purged_at)
{
    PGresult *res = db_query(db, PURGE_RECORD_SQL("a.run_id = $4"), 4,
                             (const char *[]){tenant, item, batch, run});
    if (!res || PQntuples(res) > 0 || !purged_at)
        return res;
    PQclear(res);
    return db_query(db, PURGE_RECORD_SQL("a.at >= $4::timestamptz"), 4,
                    (const char *[]){tenant, item, batch, purged_at});
}

/* ---- status ------------------------------------------------------------------------------ */

bool db_request_begin(PGconn *db)
{
    if (!db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL))
        return false;
    /* One pass over a request's items: compiling it (JIT) would cost more than running it. */
    if (!db_exec(db, "SET LOCAL jit = off", 0, NULL)) {
        db_rollback(db);
        return false;
    }
    return true;
}

/* Class 7283315 is the status memory's alone (the run's locks are 7283310 to 7283314). WAIT: 0
 * tries the lock once; N waits up to N seconds. 1 taken, 0 not, -1 a statement failed (FAILED
 * keeps its message, which the statements after it would replace). */
static char failed[512];
static int status_remember(PGconn *db, int wait, bool dirty_only)
{
    /* Two statements: a function's EXECUTE privilege is checked before a CASE chooses (the
     * CASE orders the checks, has_function_privilege() raising for a function not there), and
     * roles.sql leaves the lock functions to the engine and the owner (an auditor's summary
     * may take neither). */
    PGresult *res = db_query_one_row(
        db,
        "SELECT CASE WHEN to_regprocedure('lethe.status_memory_refresh()') IS NULL THEN false"
        "            WHEN NOT has_function_privilege('lethe.status_memory_refresh()', 'EXECUTE')"
        "            THEN false"
        "            ELSE has_function_privilege('pg_catalog.pg_try_advisory_lock(integer, integer)',"
        "                                        'EXECUTE') END AS may",
        0, NULL);
    if (!res)
        return -1;
    bool locked = db_true(res, 0, "may");
    PQclear(res);
    if (locked && dirty_only) {
        if (!(res = db_query_one_row(db, "SELECT EXISTS (SELECT 1 FROM lethe.status_dirty) AS dirty",
                                     0, NULL)))
            return -1;
        locked = db_true(res, 0, "dirty");
        PQclear(res);
    }
    if (locked && wait > 0) {
        char t[32];
        snprintf(t, sizeof t, "%ds", wait);
        const char *p[] = {t};
        if (!db_exec(db, "SELECT set_config('lock_timeout', $1, false)", 1, p))
            return -1;
        res = db_query(db, "SELECT pg_advisory_lock(7283315, 0)", 0, NULL);
        locked = res != NULL;
        PQclear(res);
        bool timed_out = !locked && strcmp(db_last_sqlstate(), "55P03") == 0;
        if (!locked && !timed_out)
            snprintf(failed, sizeof failed, "%s", db_last_message());
        if (!db_exec(db, "RESET lock_timeout", 0, NULL) || (!locked && !timed_out))
            return -1;
    } else if (locked) {
        if (!(res = db_query_one_row(db, "SELECT pg_try_advisory_lock(7283315, 0) AS locked", 0,
                                     NULL)))
            return -1;
        locked = db_true(res, 0, "locked");
        PQclear(res);
    }
    /* Not this schema's or not this role's, another status is taking it, or a writer (a run,
     * an ack) is between its changes and its commit: read what is there, evaluate the rest. */
    if (!locked)
        return 0;
    /* Its own transaction, taken after the lock, so that the snapshot it records is the one
     * it read; committed before the report's own snapshot is taken. */
    bool ok = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL);
    if (ok && !db_exec(db, "SELECT lethe.status_memory_refresh()", 0, NULL)) {
        snprintf(failed, sizeof failed, "%s", db_last_message());
        db_rollback(db);
        ok = false;
    } else if (ok) {
        ok = db_exec(db, "COMMIT", 0, NULL);
    }
    if (!ok && !failed[0])
        snprintf(failed, sizeof failed, "%s", db_last_message());
    res = db_query(db, "SELECT pg_advisory_unlock(7283315, 0)", 0, NULL);
    bool unlocked = res != NULL;
    PQclear(res);
    return ok && unlocked ? 1 : -1;
}

bool db_status_remember(PGconn *db)
{
    return db_status_remember_waiting(db, 0, false, NULL, 0) >= 0;
}

int db_status_remember_waiting(PGconn *db, int wait_seconds, bool dirty_only, char *why,
                               size_t cap)
{
    failed[0] = '\0';
    int rc = status_remember(db, wait_seconds, dirty_only);
    if (rc < 0 && why && cap)
        snprintf(why, cap, "%s", failed[0] ? failed : db_last_message());
    return rc;
}

bool db_status_begin(PGconn *db)
{
    if (!db_inbox_fill(db) || !db_status_remember(db))
        return false;
    /* The run locks held now, read before the report's snapshot is taken (RUN_GONE). */
    if (!db_exec(db, "SELECT set_config('lethe.status_run_locks', (" RUN_LOCKS_HELD ")::text, false)",
                 0, NULL))
        return false;
    if (!db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL))
        return false;
    /* One pass over what is pending: compiling it (JIT) would cost more than running it. */
    if (!db_exec(db, "SET LOCAL jit = off", 0, NULL)) {
        db_rollback(db);
        return false;
    }
    /* What is pending, as lethe.pending_items(now()) gives it, in two parts: the scheduled
     * rows of the tenants whose memory holds are read where they are (the view remembered),
     * every other row is worked out once into the table pending. The lists and counts below
     * read both; each row is in exactly one (sql/0017_status_memory.sql). */
    PGresult *res =
        db_query_one_row(db,
                         "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"
                         "       AS citus",
                         0, NULL);
    if (!res) {
        db_rollback(db);
        return false;
    }
    bool citus = db_true(res, 0, "citus");
    PQclear(res);
    /* On Citus there is no memory: pending_rest holds every row, and remembered none. */
    static const char *const on_citus[] = {
        "CREATE TEMP TABLE pending_unusable (tenant_id uuid) ON COMMIT DROP",
        "CREATE TEMP TABLE pending_complex (tenant_id uuid, item_id uuid) ON COMMIT DROP",
        "CREATE TEMP TABLE pending_rest ON COMMIT DROP AS SELECT * FROM lethe.pending_items(now())",
        "CREATE TEMP TABLE held_ok (tenant_id uuid) ON COMMIT DROP",
        NULL,
    };
    static const char *const on_postgres[] = {
        "CREATE TEMP TABLE pending_unusable ON COMMIT DROP AS"
        " SELECT tenant_id FROM lethe.status_unusable(now())",
        "CREATE TEMP TABLE pending_complex ON COMMIT DROP AS"
        " SELECT tenant_id, item_id FROM lethe.pending_complex(now())",
        "CREATE TEMP TABLE pending_rest ON COMMIT DROP AS"
        " SELECT * FROM lethe.pending_items_unheld(now(),"
        "   (SELECT coalesce(array_agg(tenant_id), '{}') FROM pending_unusable),"
        "   (SELECT array_agg(tenant_id) FROM pending_complex),"
        "   (SELECT array_agg(item_id) FROM pending_complex))",
        "CREATE TEMP TABLE held_ok ON COMMIT DROP AS"
        " SELECT tenant_id FROM lethe.held_valid(now(), 0, 0)",
        NULL,
    };
    /* A role set up before sql/0025_status_held.sql was granted: the tenants whose memory
     * holds as 0017 lists them, and the held rows copied with the rest (held_ok empty). */
    static const char *const before_0025[] = {
        "CREATE TEMP TABLE pending_usable ON COMMIT DROP AS"
        " SELECT tenant_id FROM lethe.status_usable(now())",
        "CREATE TEMP TABLE pending_unusable ON COMMIT DROP AS"
        " SELECT t.tenant_id FROM lethe.tenants t"
        "  WHERE NOT EXISTS (SELECT 1 FROM pending_usable u WHERE u.tenant_id = t.tenant_id)",
        "CREATE TEMP TABLE pending_complex ON COMMIT DROP AS"
        " SELECT tenant_id, item_id FROM lethe.pending_complex(now())",
        "CREATE TEMP TABLE pending_rest ON COMMIT DROP AS"
        " SELECT * FROM lethe.pending_items_rest(now(),"
        "   (SELECT coalesce(array_agg(tenant_id), '{}') FROM pending_usable),"
        "   (SELECT array_agg(tenant_id) FROM pending_complex),"
        "   (SELECT array_agg(item_id) FROM pending_complex))",
        "CREATE TEMP TABLE held_ok (tenant_id uuid) ON COMMIT DROP",
        NULL,
    };
    int unheld = citus ? 0
                       : db_may_execute(db, "lethe.pending_items_unheld(timestamptz, uuid[], uuid[],"
                                            " uuid[])");
    if (unheld > 0)
        unheld = db_may_execute(db, "lethe.status_unusable(timestamptz)");
    if (unheld < 0) {
        db_rollback(db);
        return false;
    }
    const char *const *first = citus ? on_citus : unheld ? on_postgres : before_0025;
    for (size_t i = 0; first[i]; i++) {
        if (!db_exec(db, first[i], 0, NULL)) {
            db_rollback(db);
            return false;
        }
    }
    static const char *const steps[] = {
        /* An item whose purge the audit proves (replay) or whose data came back (reconcile) is
         * purged: its repurge's open batch is counted under repurges, not again as in flight
         * under its rule, nor listed among the next deadlines (its deadline was kept). */
        "DELETE FROM pending_rest p WHERE p.state = 'in_flight'"
        "   AND (p.tenant_id, p.item_id) IN (SELECT r.tenant_id, r.item_id FROM lethe.repurges r"
        "                                     WHERE r.state = 'pending')",
        "ANALYZE pending_unusable",
        /* The tenants whose held items are remembered: an index, so that the first held
         * items in deadline order are found through held_items_deadline. */
        "ALTER TABLE held_ok ADD PRIMARY KEY (tenant_id)",
        "ANALYZE held_ok",
        "CREATE TEMP VIEW held_now AS"
        " SELECT h.tenant_id, h.item_id, h.location, 'held'::text AS state, h.rule, h.reference,"
        "        h.due_at, h.deadline_at, NULL::uuid AS batch_id, h.hold_id"
        "   FROM lethe.held_items h"
        "  WHERE h.tenant_id IN (SELECT o.tenant_id FROM held_ok o)",
        /* Every pending row but the remembered scheduled ones: the rows worked out, and the
         * remembered held items read where they are (each row is in one of the two). The views
         * are dropped with the transaction, which status always rolls back. */
        "CREATE TEMP VIEW pending AS SELECT * FROM pending_rest UNION ALL SELECT * FROM held_now",
        /* The held rows past their deadline that a hold kept at it, worked out once. */
        "CREATE TEMP TABLE held_kept ON COMMIT DROP AS " HELD_KEPT_OF("pending"),
        "CREATE INDEX ON held_kept (tenant_id, item_id)",
        "ANALYZE held_kept",
        /* The held items per rule, and how many are past their deadline, counted once. */
        "CREATE TEMP TABLE held_counts ON COMMIT DROP AS"
        " SELECT h.rule, count(*) AS n, count(*) FILTER (WHERE h.deadline_at < now()) AS past,"
        "        count(*) FILTER (WHERE " HELD_AT_DEADLINE("h") ") AS past_held,"
        "        count(*) FILTER (WHERE h.deadline_at < now() AND NOT " HELD_AT_DEADLINE("h")
        "                           AND h.rule <> 'shared_while_opted_out') AS past_late"
        "   FROM held_now h GROUP BY h.rule",
        "CREATE TEMP VIEW remembered AS"
        " SELECT m.tenant_id, m.item_id, m.location, 'scheduled'::text AS state,"
        "        'shared_retention'::text AS rule, NULL::text AS reference, m.due_at,"
        "        m.deadline_at, NULL::uuid AS batch_id, NULL::uuid AS hold_id"
        "   FROM lethe.status_memory m"
        "  WHERE NOT m.standing"
        "    AND NOT EXISTS (SELECT 1 FROM pending_unusable u WHERE u.tenant_id = m.tenant_id)"
        "    AND NOT EXISTS (SELECT 1 FROM pending_complex x"
        "                     WHERE x.tenant_id = m.tenant_id AND x.item_id = m.item_id)",
        /* How many rows the view holds, from the memory's total less the counts of the tenants
         * it does not hold for, without reading them. */
        "CREATE TEMP TABLE remembered_total ON COMMIT DROP AS"
        " SELECT (SELECT coalesce(sum(m.scheduled), 0) FROM lethe.status_memory_meta m)"
        "      - (SELECT coalesce(sum(t.scheduled), 0) FROM lethe.status_memory_tenants t"
        "          WHERE t.tenant_id IN (SELECT u.tenant_id FROM pending_unusable u))"
        "      - (SELECT count(*) FROM pending_complex x"
        "           JOIN lethe.status_memory m"
        "             ON m.tenant_id = x.tenant_id AND m.item_id = x.item_id AND NOT m.standing"
        "          WHERE NOT EXISTS (SELECT 1 FROM pending_unusable u"
        "                             WHERE u.tenant_id = x.tenant_id)) AS n",
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        if (!db_exec(db, steps[i], 0, NULL)) {
            db_rollback(db);
            return false;
        }
    }
    return true;
}

void db_status_end(PGconn *db) { db_rollback(db); }

/* The run locks db_status_begin read before the report's snapshot (RUN_LOCKS_HELD). */
#define STATUS_RUN_LOCKS "current_setting('lethe.status_run_locks')::text[]"

/* Columns: now, lookahead_months, lookahead_seconds (the lookahead less its months),
 * recent_run (a run succeeded within the lookahead), inbox_events and inbox_items (not
 * consumed yet), failed_once (items not purged that failed at least once), repurges_pending
 * and repurges_failed (items whose last repurge failed), last_run_id,
 * last_outcome, last_started_at, last_finished_at (null without a run), last_run_gone (the last
 * run is recorded running, but no session holds the run lock). */
PGresult *db_status_now(PGconn *db)
{
    return db_query_one_row(
        db,
        "SELECT lethe.iso_utc(now()) AS now, m.months AS lookahead_months,"
        "       extract(epoch FROM s.lookahead - make_interval(months => m.months))::bigint"
        "           AS lookahead_seconds,"
        /* Every tenant had a run within the lookahead: a run over the whole catalog, or one of
         * every shard K/N of some N. A shard worker that stopped leaves its tenants' deadlines
         * at risk however often the other shards run. A run counts when it finished and judged
         * its items (its as_of) within the lookahead: a catch-up run --as-of a past time batched
         * nothing that came due since. */
        "       (EXISTS (SELECT 1 FROM lethe.runs r WHERE r.outcome = 'succeeded'"
        "                   AND r.shard IS NULL AND r.finished_at >= now() - s.lookahead"
        "                   AND r.as_of >= now() - s.lookahead"
        "                   AND " RUN_OVER_CATALOG("r") ")"
        "        OR EXISTS (SELECT 1 FROM lethe.runs r WHERE r.outcome = 'succeeded'"
        "                      AND r.shard IS NOT NULL AND r.finished_at >= now() - s.lookahead"
        "                      AND r.as_of >= now() - s.lookahead"
        "                    GROUP BY split_part(r.shard, '/', 2)"
        "                   HAVING count(DISTINCT split_part(r.shard, '/', 1))"
        "                          = split_part(r.shard, '/', 2)::integer)) AS recent_run,"
        "       (SELECT count(*) FROM lethe.inbox_events) AS inbox_events,"
        "       (SELECT count(*) FROM lethe.inbox_items) AS inbox_items,"
        "       (SELECT count(DISTINCT (f.tenant_id, f.item_id)) FROM lethe.batch_items f"
        "         WHERE f.outcome = 'failed' AND NOT EXISTS ("
        "               SELECT 1 FROM lethe.batch_items x WHERE x.tenant_id = f.tenant_id"
        "                  AND x.item_id = f.item_id AND x.outcome = 'purged')) AS failed_once,"
        /* Repurges (replay, reconcile) waiting for their deleter, and items whose repurge
         * failed with none pending or done since: proven purged, their data may be stored. */
        "       (SELECT count(*) FROM lethe.repurges r WHERE r.state = 'pending')"
        "           AS repurges_pending,"
        "       (SELECT count(DISTINCT (r.tenant_id, r.item_id)) FROM lethe.repurges r"
        "         WHERE r.state = 'failed' AND NOT EXISTS ("
        "               SELECT 1 FROM lethe.repurges d WHERE d.tenant_id = r.tenant_id"
        "                  AND d.item_id = r.item_id AND (d.state = 'pending'"
        "                       OR (d.state = 'done' AND d.created_at > r.created_at))))"
        "           AS repurges_failed,"
        /* Purged late in the last seven days (sql/0096: counted by the hour as appended), as
         * the summary judges a purge record: held past the deadline and a copy made while
         * opted out apart. */
        "       lp.late AS late_week, lp.held AS held_week,"
        "       ceil(extract(epoch FROM lp.max_lateness))::bigint AS late_week_max_seconds,"
        "       lethe.iso_utc(lp.latest) AS late_week_latest,"
        "       l.run_id AS last_run_id, l.outcome AS last_outcome, l.error AS last_error,"
        /* A run holds its lock (lethe.run_lock, sql/0006) from before its row is written
         * until after its outcome is: a row still 'running' that no session's lock backs is
         * a run killed (SIGKILL, a lost session), which the next run records as died. */
        "       coalesce(" RUN_GONE("l", STATUS_RUN_LOCKS) ", false) AS last_run_gone,"
        "       lethe.iso_utc(l.started_at) AS last_started_at,"
        "       lethe.iso_utc(l.finished_at) AS last_finished_at"
        "  FROM lethe.settings s"
        "  CROSS JOIN LATERAL (SELECT (extract(year FROM s.lookahead) * 12"
        "                              + extract(month FROM s.lookahead))::integer AS months) m"
        "  LEFT JOIN LATERAL (SELECT * FROM lethe.runs ORDER BY started_at DESC LIMIT 1) l ON true"
        "  CROSS JOIN lethe.late_purges_since(now() - interval '7 days') lp",
        0, NULL);
}

/* One row per rule in SPEC §3 order: rule, enabled, scheduled, due, held, in_flight,
 * purged. */
PGresult *db_status_counts(PGconn *db)
{
    return db_query(
        db,
        "SELECT r.rule, r.enabled, coalesce(p.scheduled, 0) AS scheduled,"
        "       coalesce(p.due, 0) AS due, coalesce(p.held, 0) AS held,"
        "       coalesce(p.in_flight, 0) AS in_flight, coalesce(b.purged, 0) AS purged"
        "  FROM lethe.rules r"
        "  LEFT JOIN (SELECT rule, sum(scheduled) AS scheduled, sum(due) AS due, sum(held) AS held,"
        "                    sum(in_flight) AS in_flight"
        "               FROM (SELECT rule, count(*) FILTER (WHERE state = 'scheduled') AS scheduled,"
        "                            count(*) FILTER (WHERE state = 'due') AS due,"
        "                            count(*) FILTER (WHERE state = 'held') AS held,"
        "                            count(*) FILTER (WHERE state = 'in_flight') AS in_flight"
        "                       FROM pending_rest GROUP BY rule"
        "                     UNION ALL"
        "                     SELECT rule, 0, 0, n, 0 FROM held_counts"
        "                     UNION ALL"
        "                     SELECT 'shared_retention', n, 0, 0, 0 FROM remembered_total) x"
        "              GROUP BY rule) p ON p.rule = r.rule"
        "  LEFT JOIN lethe.purged_by_rule() b ON b.rule = r.rule"
        " ORDER BY r.priority",
        0, NULL);
}

/* The lists below share their columns: tenant_id, item_id, state, rule, reference, due_at,
 * deadline_at, batch_id, hold_id, location, tenant_name, total (how many rows there are in all:
 * the list stops at limit). What is pending is in three parts, each row in
 * one: the rows worked out (pending_rest), the remembered held items (held_now) and the
 * remembered scheduled ones (remembered). The list takes the first rows of each part in its
 * order (the held items' and the memory's through their deadline indexes), and adds up the
 * count of each part: pending_rest's counted, the others' from what db_status_begin counted
 * once (hcount: from held_counts; mcount: remembered_total less those that miss the list,
 * which the index finds). The times and the tenant's name are worked out for the rows shown
 * only (the next deadlines match nearly every pending item). */
#define PENDING_LIST(where, order, hcount, mcount)                                               \
    "SELECT p.tenant_id, p.item_id, p.state, p.rule, p.reference,"                              \
    "       lethe.iso_utc(p.due_at) AS due_at, lethe.iso_utc(p.deadline_at) AS deadline_at,"     \
    "       p.batch_id, p.hold_id, p.location, t.name AS tenant_name,"                          \
    "       (SELECT count(*) FROM pending_rest p WHERE " where ") + (" hcount ") + (" mcount ")" \
    "           AS total"                                                                       \
    "  FROM (SELECT p.* FROM (SELECT * FROM (SELECT p.* FROM pending_rest p WHERE " where        \
    "                                       ORDER BY " order " LIMIT $1) a"                      \
    "                        UNION ALL"                                                          \
    "                        SELECT * FROM (SELECT p.* FROM held_now p WHERE " where             \
    "                                       ORDER BY " order " LIMIT $1) h"                      \
    "                        UNION ALL"                                                          \
    "                        SELECT * FROM (SELECT p.* FROM remembered p WHERE " where           \
    "                                       ORDER BY " order " LIMIT $1) b) p"                   \
    "         ORDER BY " order " LIMIT $1) p"                                                    \
    "  LEFT JOIN lethe.tenants t ON t.tenant_id = p.tenant_id"                                  \
    " ORDER BY " order

static PGresult *pending_list(PGconn *db, const char *sql, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    return db_query(db, sql, 1, p);
}

/* Past the deadline, not purged, not kept past it by a hold (one held only since is late
 * already: HELD_AT_DEADLINE); violations are counted apart (SPEC §3). */
PGresult *db_status_overdue(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.deadline_at < now() AND NOT " HELD_AT_DEADLINE("p")
                                     " AND p.rule <> 'shared_while_opted_out'",
                                     "p.deadline_at, p.tenant_id, p.item_id",
                                     "SELECT coalesce(sum(c.past_late), 0) FROM held_counts c",
                                     "SELECT count(*) FROM remembered r"
                                     " WHERE r.deadline_at < now()"),
                        limit);
}

PGresult *db_status_held_past_deadline(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST(HELD_AT_DEADLINE("p"), "p.deadline_at, p.tenant_id, p.item_id",
                                     "SELECT coalesce(sum(c.past_held), 0) FROM held_counts c",
                                     "0"),
                        limit);
}

PGresult *db_status_next_deadlines(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.deadline_at >= now()", "p.deadline_at, p.tenant_id, p.item_id",
                                     "SELECT coalesce(sum(c.n - c.past), 0) FROM held_counts c",
                                     "SELECT n - (SELECT count(*) FROM remembered r"
                                     "             WHERE r.deadline_at < now())"
                                     "  FROM remembered_total"),
                        limit);
}

/* What a disabled rule leaves past the deadline it would set (sql/0074): one row per obligation
 * of such a rule, and one for shared_retention's items (tenant, obligation and reference null).
 * Columns: rule, tenant_id, tenant_name, obligation_id, reference, deadline_at, items (not
 * purged, not in an open batch, not held), total (rows in all), total_items, rules (the rules
 * of all rows, comma-separated). No rows when no rule is disabled (ANY_DISABLED false: the
 * function is not called), or when this role may not execute it (set up before it was granted). */
PGresult *db_status_disabled(PGconn *db, int limit, bool any_disabled)
{
    int may = any_disabled ? db_may_execute(db, "lethe.disabled_past_deadline(timestamptz)") : 0;
    if (may < 0)
        return NULL;
    if (!may) /* no rows, no columns: every reader counts the rows first */
        return PQmakeEmptyPGresult(db, PGRES_TUPLES_OK);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    return db_query(
        db,
        "WITH d AS MATERIALIZED (SELECT * FROM lethe.disabled_past_deadline(now()))"
        " SELECT d.rule, d.tenant_id, t.name AS tenant_name, d.obligation_id, d.reference,"
        "        lethe.iso_utc(d.deadline_at) AS deadline_at, d.items,"
        "        (SELECT count(*) FROM d) AS total,"
        "        (SELECT sum(d.items) FROM d) AS total_items,"
        "        (SELECT string_agg(DISTINCT d.rule, ', ' ORDER BY d.rule) FROM d) AS rules"
        "   FROM (SELECT * FROM d ORDER BY d.deadline_at, d.rule, d.tenant_id, d.obligation_id"
        "          LIMIT $1::int) d"
        "   LEFT JOIN lethe.tenants t ON t.tenant_id = d.tenant_id"
        "  ORDER BY d.deadline_at, d.rule, d.tenant_id, d.obligation_id",
        1, p);
}

/* Shared copies made while opted out that are not purged yet. */
PGresult *db_status_violations(PGconn *db, int limit)
{
    return pending_list(db,
                        PENDING_LIST("p.rule = 'shared_while_opted_out'",
                                     "p.deadline_at, p.tenant_id, p.item_id",
                                     "SELECT coalesce(sum(c.n), 0) FROM held_counts c"
                                     " WHERE c.rule = 'shared_while_opted_out'",
                                     "0"),
                        limit);
}

/* Items not purged that failed three times or more: tenant_id, item_id, failures,
 * last_failure_at (the failed batch's close), state (now), tenant_name, total (how many such
 * items in all). */
PGresult *db_status_failing(PGconn *db, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    return db_query(
        db,
        "WITH f AS MATERIALIZED ("
        "  SELECT f.tenant_id, f.item_id, f.batch_id FROM lethe.batch_items f"
        "   WHERE f.outcome = 'failed'"
        "     AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x WHERE x.tenant_id = f.tenant_id"
        "                        AND x.item_id = f.item_id AND x.outcome = 'purged')),"
        " g AS MATERIALIZED ("
        "  SELECT f.tenant_id, f.item_id, count(*) AS failures, max(b.closed_at) AS last_failure_at,"
        "         count(*) OVER () AS total"
        "    FROM f JOIN lethe.batches b ON b.batch_id = f.batch_id"
        "   GROUP BY f.tenant_id, f.item_id HAVING count(*) >= 3"
        "   ORDER BY count(*) DESC, f.tenant_id, f.item_id LIMIT $1)"
        "SELECT g.tenant_id, g.item_id, g.failures, lethe.iso_utc(g.last_failure_at) AS last_failure_at,"
        "       coalesce(p.state, r.state, 'live') AS state, t.name AS tenant_name, g.total"
        "  FROM g"
        "  LEFT JOIN pending p ON p.tenant_id = g.tenant_id AND p.item_id = g.item_id"
        "  LEFT JOIN remembered r ON r.tenant_id = g.tenant_id AND r.item_id = g.item_id"
        "  LEFT JOIN lethe.tenants t ON t.tenant_id = g.tenant_id"
        " ORDER BY g.failures DESC, g.tenant_id, g.item_id",
        1, p);
}

/* A failed batch's items that no batch has purged or holds open since (EXTRA narrows them):
 * batch_id, tenant_id, item_id. Status lists their batches and a rerun accounts for them, both
 * by what STANDING_NOW_OF says of them, so that the two agree. */
#define FAILED_ITEMS_LEFT(EXTRA)                                                                   \
    "SELECT DISTINCT f.batch_id, f.tenant_id, f.item_id FROM lethe.batch_items f"                  \
    " WHERE f.outcome = 'failed'" EXTRA                                                            \
    "   AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x"                                         \
    "                    WHERE x.tenant_id = f.tenant_id AND x.item_id = f.item_id"                \
    "                      AND (x.outcome = 'purged' OR x.outcome IS NULL))"
/* lethe.standing() at now of the items of CTE, evaluated together; nothing when it is empty. */
#define STANDING_NOW_OF(CTE)                                                                       \
    "SELECT s.* FROM (SELECT array_agg(u.tenant_id) AS ts, array_agg(u.item_id) AS ids"            \
    "                   FROM (SELECT DISTINCT c.tenant_id, c.item_id FROM " CTE " c) u) a"         \
    " CROSS JOIN LATERAL lethe.standing(a.ts, a.ids, now()) s WHERE a.ts IS NOT NULL"

/* Found through the open batches' index and the failed items' index, not by reading every
 * batch ever emitted. A failed batch is listed while one of its failed items, neither purged
 * nor in an open batch since, is due now and not held (lethe.standing() at now): one withdrawn
 * since (a request cancelled, a rule disabled), held, or scheduled for later needs no rerun, and
 * a rerun says so. The evaluation costs the few failed items, and nothing when there are none. */
PGresult *db_status_batches(PGconn *db, int limit)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    return db_query(
        db,
        "WITH fi AS MATERIALIZED (" FAILED_ITEMS_LEFT("") "),"
        " owed AS MATERIALIZED ("
        "  SELECT DISTINCT s.tenant_id, s.item_id FROM (" STANDING_NOW_OF("fi") ") s"
        "   WHERE s.hold_id IS NULL AND s.due_at <= now()"
        "), b AS ("
        "  SELECT b.* FROM lethe.batches b WHERE b.state = 'open'"
        "  UNION ALL"
        "  SELECT b.* FROM (SELECT DISTINCT fi.batch_id FROM fi"
        "                    JOIN owed o ON o.tenant_id = fi.tenant_id AND o.item_id = fi.item_id) f"
        "    JOIN lethe.batches b ON b.batch_id = f.batch_id"
        "   WHERE b.state = 'failed'"
        ")"
        " SELECT b.batch_id, b.state, b.location, b.items, b.attempts,"
        "        lethe.iso_utc(b.created_at) AS created_at,"
        "        floor(extract(epoch FROM now() - b.created_at))::bigint AS age_seconds,"
        "        count(*) FILTER (WHERE b.state = 'open') OVER () AS open_batches,"
        "        count(*) FILTER (WHERE b.state = 'failed') OVER () AS failed_batches"
        "   FROM b ORDER BY b.state = 'failed', b.created_at, b.batch_id LIMIT $1",
        1, p);
}

/* The open batches no run re-drives while only shard runs run: the last successful run (run_id,
 * found by the caller among db_status_last_runs) was a shard run of N, it started after the
 * batch was emitted, and the batch's tenants lie in several shards of N (one a run without
 * --shard emitted, or one left open when N or the placement changed). Oldest first: batch_id,
 * location, n. The open batches (runs and batches are local tables on Citus) and their tenants
 * (batch_items is distributed) are read in CTEs of their own, then joined: Citus joins no local
 * table with a distributed one, and every status after a shard run failed there. */
PGresult *db_status_across_shards(PGconn *db, const char *run_id)
{
    return db_query(
        db,
        "WITH l AS MATERIALIZED (SELECT split_part(r.shard, '/', 2)::integer AS n, r.started_at"
        "                          FROM lethe.runs r WHERE r.run_id = $1::uuid),"
        " ob AS MATERIALIZED (SELECT b.batch_id, b.location, b.created_at, l.n"
        "                       FROM l JOIN lethe.batches b"
        "                         ON b.state = 'open' AND b.created_at < l.started_at"
        "                      WHERE l.n IS NOT NULL),"
        " bt AS MATERIALIZED (SELECT DISTINCT bi.batch_id, bi.tenant_id FROM lethe.batch_items bi"
        "                      WHERE bi.batch_id IN (SELECT ob.batch_id FROM ob))"
        " SELECT ob.batch_id, ob.location, ob.n"
        "   FROM ob JOIN bt ON bt.batch_id = ob.batch_id"
        "  GROUP BY ob.batch_id, ob.location, ob.n, ob.created_at"
        " HAVING count(DISTINCT lethe.shard_of(bt.tenant_id, ob.n)) > 1"
        "  ORDER BY ob.created_at, ob.batch_id",
        1, (const char *[]){run_id});
}

PGresult *db_batch_items_elsewhere(PGconn *db, const char *batch)
{
    const char *p[] = {batch};
    return db_query(db,
                    "SELECT o.batch_id, b.state, count(*) AS items"
                    "  FROM lethe.batch_items f"
                    "  JOIN lethe.batch_items o ON o.tenant_id = f.tenant_id AND o.item_id = f.item_id"
                    "   AND o.batch_id <> f.batch_id"
                    "  JOIN lethe.batches b ON b.batch_id = o.batch_id"
                    " WHERE f.batch_id = $1::uuid"
                    "   AND (b.state = 'open' OR o.outcome = 'purged')"
                    /* A repurge of this batch that failed: its item's first purge is no news
                     * (rerun says the repurge failed), and "was purged" read as done. */
                    "   AND NOT EXISTS (SELECT 1 FROM lethe.repurges r"
                    "                    WHERE r.batch_id = f.batch_id AND r.tenant_id = f.tenant_id"
                    "                      AND r.item_id = f.item_id AND r.state = 'failed')"
                    " GROUP BY o.batch_id, b.state, b.created_at"
                    " ORDER BY b.created_at, o.batch_id",
                    1, p);
}

PGresult *db_batch_items_not_owed(PGconn *db, const char *batch)
{
    const char *p[] = {batch};
    return db_query(db,
                    "WITH fi AS MATERIALIZED (" FAILED_ITEMS_LEFT(" AND f.batch_id = $1::uuid") "),"
                    " s AS MATERIALIZED (" STANDING_NOW_OF("fi") ")"
                    " SELECT CASE WHEN s.item_id IS NULL THEN 'owed_nothing'"
                    "             WHEN s.hold_id IS NOT NULL THEN 'held'"
                    "             ELSE 'scheduled' END AS why,"
                    "        s.hold_id::text AS hold_id, min(s.rule) AS rule,"
                    "        lethe.iso_utc(min(s.due_at)) AS due_at, count(*) AS items"
                    "   FROM fi LEFT JOIN s ON s.tenant_id = fi.tenant_id AND s.item_id = fi.item_id"
                    "  WHERE s.item_id IS NULL OR s.hold_id IS NOT NULL OR s.due_at > now()"
                    "  GROUP BY 1, s.hold_id ORDER BY 1, s.hold_id",
                    1, p);
}

/* The runs recorded 'running' whose process is gone (RUN_PROCESS_GONE) but the last run, which
 * db_status_now judges: run_id, shard ("" for a run over the whole catalog), started_at, oldest
 * first. A shard worker killed while the other shards ran on is not the last run. */
PGresult *db_status_gone_runs(PGconn *db)
{
    return db_query(db,
                    "SELECT r.run_id, coalesce(r.shard, '') AS shard,"
                    "       lethe.iso_utc(r.started_at) AS started_at"
                    "  FROM lethe.runs r"
                    " WHERE " RUN_GONE("r", STATUS_RUN_LOCKS)
                    "   AND r.run_id <> (SELECT l.run_id FROM lethe.runs l"
                    "                     ORDER BY l.started_at DESC LIMIT 1)"
                    " ORDER BY r.started_at, r.run_id",
                    0, NULL);
}

/* The last successful run of each shard (a rerun's or a repurge's is none: RUN_OVER_CATALOG):
 * shard ("" for runs over the whole catalog), finished_at, run_id, as_of, recent (it finished
 * within the lookahead, and its as_of lies within it), stale_as_of (it finished within the
 * lookahead, but its as_of lies before it), catch_up (its as_of lies a minute or more before
 * its start: a run --as-of a past time). */
PGresult *db_status_last_runs(PGconn *db)
{
    return db_query(db,
                    "SELECT DISTINCT ON (coalesce(r.shard, '')) coalesce(r.shard, '') AS shard,"
                    "       lethe.iso_utc(r.finished_at) AS finished_at, r.run_id,"
                    "       lethe.iso_utc(r.as_of) AS as_of,"
                    "       r.finished_at >= now() - s.lookahead AND r.as_of >= now() - s.lookahead"
                    "           AS recent,"
                    "       r.as_of < now() - s.lookahead AND r.finished_at >= now() - s.lookahead"
                    "           AS stale_as_of,"
                    "       " RUN_CATCH_UP("r") " AS catch_up"
                    "  FROM lethe.runs r CROSS JOIN lethe.settings s"
                    " WHERE r.outcome = 'succeeded' AND r.finished_at IS NOT NULL"
                    "   AND " RUN_OVER_CATALOG("r")
                    " ORDER BY coalesce(r.shard, ''), r.finished_at DESC",
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

/* ---- status --reference -------------------------------------------------------------------- */

/* The deletion requests of one tenant with one reference, oldest first: event_id, scope
 * ("tenant", "workspace", "subject", "item"), scope_id (never a subject id), occurred_at,
 * recorded_at, operator, rule, deadline_at (by the rule's deadline in lethe.rules), derived (an
 * obligation exists), withdrawn_at, withdrawn_by (event id), withdrawn_ahead (the withdrawal
 * takes effect after now: a cancellation dated ahead, SPEC §3), enabled (the rule), now. */
PGresult *db_request_events(PGconn *db, const char *tenant, const char *reference)
{
    const char *p[] = {tenant, reference};
    return db_query(
        db,
        "SELECT e.event_id,"
        "       CASE WHEN e.workspace_id IS NOT NULL THEN 'workspace'"
        "            WHEN e.subject_id IS NOT NULL THEN 'subject'"
        "            WHEN e.item_id IS NOT NULL THEN 'item' ELSE 'tenant' END AS scope,"
        "       coalesce(e.workspace_id, e.item_id)::text AS scope_id,"
        "       lethe.iso_utc(e.occurred_at) AS occurred_at,"
        "       lethe.iso_utc(e.recorded_at) AS recorded_at, ro.operator, r.rule,"
        "       lethe.iso_utc(e.occurred_at + r.deadline) AS deadline_at,"
        "       o.obligation_id IS NOT NULL AS derived,"
        "       lethe.iso_utc(o.withdrawn_at) AS withdrawn_at, o.withdrawn_by,"
        "       coalesce(o.withdrawn_at > now(), false) AS withdrawn_ahead, r.enabled,"
        "       lethe.iso_utc(now()) AS now"
        "  FROM lethe.events e"
        "  JOIN lethe.rules r ON r.rule = CASE WHEN e.subject_id IS NULL THEN 'deletion_request'"
        "                                      ELSE 'subject_request' END"
        "  LEFT JOIN lethe.obligations o ON o.tenant_id = e.tenant_id AND o.event_id = e.event_id"
        "  LEFT JOIN lethe.request_operators ro"
        "    ON ro.tenant_id = e.tenant_id AND ro.event_id = e.event_id"
        " WHERE e.tenant_id = $1 AND e.reference = $2 AND e.type = 'deletion_requested'"
        " ORDER BY e.event_id",
        2, p);
}

/* What the requests with this reference cover, in one row: covered, purged, on_time (of the
 * purged, by the request's own deadline), late, held_past_deadline (late because a hold kept
 * them), in_flight, due, scheduled, held, not_due (under this request: it was withdrawn, or its
 * rule is disabled), released (of those, the items only requests withdrawn by now cover),
 * past_disabled and earliest_past_disabled (of those, the items of a standing request whose
 * rule is disabled, past the deadline it would set, and the earliest such deadline), nearest_deadline (of those not purged: the request's own, or the one an
 * item in flight was batched under), max_lateness_seconds.
 *
 * Covered: the customer-data items in a request's scope created at or before it, the items
 * its obligation was expanded to or batched under, and all their descendants (SPEC §3). A
 * data subject's item purged under another rule no longer names its owner (the tombstone
 * clears it): it is found by the digest the tombstone keeps of its owner (sql/0007). It was
 * not, and a subject request whose items another request purged said "covered items: 0", as
 * of a request that covered nothing (an outside tryout's finding).
 *
 * The state is this request's view of the item, set-based: purged and in flight from the
 * batches; otherwise due or scheduled by the request's own due time, and held when due and an
 * active hold covers the item or one of its ancestors (the tenant's held items are walked down
 * from the holds' scopes once, rather than lethe.holding() walking up from every due item). */
PGresult *db_request_items(PGconn *db, const char *tenant, const char *reference)
{
    const char *p[] = {tenant, reference};
    return db_query_one_row(
        db,
        "WITH RECURSIVE req AS ("
        "  SELECT e.occurred_at, e.workspace_id, e.subject_id, e.item_id, o.obligation_id,"
        "         e.occurred_at + r.deadline AS deadline_at,"
        "         lethe.due_time(e.occurred_at, r.deadline, r.grace, s.lookahead) AS due_at,"
        "         r.enabled AND (o.withdrawn_at IS NULL OR o.withdrawn_at > now()) AS active,"
        /* Not withdrawn (yet), whether its rule is enabled or not: an item only requests
         * withdrawn by now cover is released, not owed (SPEC §3). */
        "         (o.withdrawn_at IS NULL OR o.withdrawn_at > now()) AS standing"
        "    FROM lethe.events e"
        "    JOIN lethe.rules r ON r.rule = CASE WHEN e.subject_id IS NULL"
        "                                        THEN 'deletion_request' ELSE 'subject_request' END"
        "    CROSS JOIN lethe.settings s"
        "    LEFT JOIN lethe.obligations o ON o.tenant_id = e.tenant_id AND o.event_id = e.event_id"
        "   WHERE e.tenant_id = $1 AND e.reference = $2 AND e.type = 'deletion_requested'"
        /* One branch per scope, so that each finds its items through its own index. */
        "), scoped AS ("
        "  SELECT i.item_id, i.kind, r.deadline_at, r.due_at, r.active, r.standing FROM req r"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.workspace_id = r.workspace_id"
        "     AND i.created_at <= r.occurred_at"
        "  UNION ALL"
        "  SELECT i.item_id, i.kind, r.deadline_at, r.due_at, r.active, r.standing FROM req r"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.owner_id = r.subject_id"
        "     AND i.created_at <= r.occurred_at"
        /* the subject's tombstones, by the digest of the owner the tombstone cleared */
        "  UNION ALL"
        "  SELECT i.item_id, i.kind, r.deadline_at, r.due_at, r.active, r.standing FROM req r"
        "    JOIN lethe.items i ON i.tenant_id = $1"
        "     AND i.owner_digest = lethe.owner_digest($1, r.subject_id)"
        "     AND i.owner_id IS NULL AND i.created_at <= r.occurred_at"
        "   WHERE r.subject_id IS NOT NULL"
        "  UNION ALL"
        "  SELECT i.item_id, i.kind, r.deadline_at, r.due_at, r.active, r.standing FROM req r"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.item_id = r.item_id"
        "     AND i.created_at <= r.occurred_at"
        "  UNION ALL"
        "  SELECT i.item_id, i.kind, r.deadline_at, r.due_at, r.active, r.standing FROM req r"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.created_at <= r.occurred_at"
        "   WHERE r.workspace_id IS NULL AND r.subject_id IS NULL AND r.item_id IS NULL"
        "), roots AS ("
        "  SELECT x.item_id, x.deadline_at, x.due_at, x.active, x.standing FROM scoped x"
        "    JOIN lethe.kinds k ON k.kind = x.kind AND k.customer_data"
        "  UNION"
        "  SELECT p.item_id, r.deadline_at, r.due_at, r.active, r.standing FROM req r"
        "    JOIN lethe.item_obligations p"
        "      ON p.tenant_id = $1 AND p.obligation_id = r.obligation_id"
        /* An item this request purged pins it for the item's copies, whatever withdrew it
         * since (SPEC §3): they are due under it, as lineage() makes them. */
        "  UNION"
        "  SELECT b.item_id, r.deadline_at, r.due_at, r.active OR b.outcome = 'purged',"
        "         r.standing OR b.outcome = 'purged' FROM req r"
        "    JOIN lethe.batch_items b ON b.tenant_id = $1 AND b.obligation_id = r.obligation_id"
        "), walk AS ("
        "  SELECT item_id, deadline_at, due_at, active, standing, 0 AS depth FROM roots"
        "  UNION"
        "  SELECT c.item_id, w.deadline_at, w.due_at, w.active, w.standing, w.depth + 1 FROM walk w"
        "    JOIN lethe.items c ON c.tenant_id = $1 AND c.parent_id = w.item_id"
        "   WHERE w.depth < lethe.lineage_max_depth()"
        /* The items the tenant's active holds cover, their copies included, walked down from
         * the holds' scopes as lethe.holding() walks up from an item, for all at once. */
        "), hold_roots AS ("
        "  SELECT i.item_id FROM lethe.holds h"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.workspace_id = h.workspace_id"
        "   WHERE h.tenant_id = $1 AND h.placed_at <= now()"
        "     AND (h.released_at IS NULL OR h.released_at > now())"
        "  UNION"
        "  SELECT i.item_id FROM lethe.holds h"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.owner_id = h.subject_id"
        "   WHERE h.tenant_id = $1 AND h.placed_at <= now()"
        "     AND (h.released_at IS NULL OR h.released_at > now())"
        "  UNION"
        "  SELECT i.item_id FROM lethe.holds h"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.item_id = h.item_id"
        "   WHERE h.tenant_id = $1 AND h.placed_at <= now()"
        "     AND (h.released_at IS NULL OR h.released_at > now())"
        "  UNION"
        "  SELECT i.item_id FROM lethe.holds h"
        "    JOIN lethe.items i ON i.tenant_id = $1"
        "   WHERE h.tenant_id = $1 AND h.placed_at <= now()"
        "     AND (h.released_at IS NULL OR h.released_at > now())"
        "     AND h.workspace_id IS NULL AND h.subject_id IS NULL AND h.item_id IS NULL"
        "), held AS ("
        "  SELECT item_id, 0 AS depth FROM hold_roots"
        "  UNION"
        "  SELECT c.item_id, d.depth + 1 FROM held d"
        "    JOIN lethe.items c ON c.tenant_id = $1 AND c.parent_id = d.item_id"
        "   WHERE d.depth < lethe.lineage_max_depth()"
        "), covered AS ("
        "  SELECT w.item_id, i.locator IS NULL AS tombstone,"
        "         min(w.deadline_at) FILTER (WHERE w.active) AS req_deadline,"
        "         min(w.due_at) FILTER (WHERE w.active) AS req_due,"
        "         min(w.deadline_at) AS any_deadline, bool_or(w.standing) AS standing,"
        "         min(w.deadline_at) FILTER (WHERE w.standing) AS standing_deadline"
        "    FROM walk w"
        "    JOIN lethe.items i ON i.tenant_id = $1 AND i.item_id = w.item_id"
        "    JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data"
        "   GROUP BY w.item_id, i.locator IS NULL"
        /* Materialised: each item's state is worked out once, not once per count below. */
        "), st AS MATERIALIZED ("
        "  SELECT dl.req_deadline, pb.purged_at, c.standing, c.standing_deadline,"
        "         CASE WHEN pb.purged_at IS NOT NULL THEN 'purged'"
        /* A tombstone no purge made: changed outside lethe (as a superuser), never purged. */
        "              WHEN c.tombstone THEN 'unrecorded'"
        "              WHEN ob.deadline_at IS NOT NULL THEN 'in_flight'"
        "              WHEN c.req_due IS NULL THEN 'live'"
        "              WHEN c.req_due > now() THEN 'scheduled'"
        "              WHEN hd.item_id IS NOT NULL THEN 'held'"
        "              ELSE 'due' END AS state,"
        "         coalesce(ob.deadline_at, c.req_deadline) AS deadline_at,"
        /* Held past the deadline only by a hold in effect at it, as ack_batch records it
         * (sql/0031, sql/0083): one released before it kept nothing, and one placed after it
         * found the item late already. */
        "         EXISTS (SELECT 1 FROM lethe.hold_blocks hb"
        "                   JOIN lethe.holds h ON h.tenant_id = $1 AND h.hold_id = hb.hold_id"
        "                  WHERE hb.tenant_id = $1 AND hb.item_id = c.item_id"
        "                    AND h.placed_at <= dl.req_deadline"
        "                    AND (h.released_at IS NULL OR h.released_at > dl.req_deadline))"
        "             AS was_held"
        "    FROM covered c"
        "    LEFT JOIN (SELECT DISTINCT item_id FROM held) hd ON hd.item_id = c.item_id"
        "    LEFT JOIN LATERAL (SELECT b.purged_at, b.deadline_at, b.obligation_id"
        "                         FROM lethe.batch_items b"
        "                        WHERE b.tenant_id = $1 AND b.item_id = c.item_id"
        "                          AND b.outcome = 'purged' LIMIT 1) pb ON true"
        /* An item purged under this request is judged by the deadline its purge was recorded
         * with, as the audit and the summary judge it: the config's deadline may have changed
         * since. One purged under another is judged by this request's deadline now. */
        "    CROSS JOIN LATERAL (SELECT coalesce(CASE WHEN pb.obligation_id IN"
        "                                                  (SELECT r.obligation_id FROM req r)"
        "                                             THEN pb.deadline_at END,"
        "                                        c.req_deadline, c.any_deadline) AS req_deadline) dl"
        "    LEFT JOIN LATERAL (SELECT b.deadline_at FROM lethe.batch_items b"
        "                        WHERE b.tenant_id = $1 AND b.item_id = c.item_id"
        "                          AND b.outcome IS NULL LIMIT 1) ob ON true"
        ")"
        " SELECT count(*) AS covered, count(*) FILTER (WHERE state = 'purged') AS purged,"
        "        count(*) FILTER (WHERE state = 'purged' AND purged_at <= req_deadline) AS on_time,"
        "        count(*) FILTER (WHERE state = 'purged' AND purged_at > req_deadline"
        "                           AND NOT was_held) AS late,"
        "        count(*) FILTER (WHERE state = 'purged' AND purged_at > req_deadline"
        "                           AND was_held) AS held_past_deadline,"
        "        count(*) FILTER (WHERE state = 'in_flight') AS in_flight,"
        "        count(*) FILTER (WHERE state = 'due') AS due,"
        "        count(*) FILTER (WHERE state = 'scheduled') AS scheduled,"
        "        count(*) FILTER (WHERE state = 'held') AS held,"
        "        count(*) FILTER (WHERE state = 'live') AS not_due,"
        "        count(*) FILTER (WHERE state = 'live' AND NOT standing) AS released,"
        /* Not due under a standing request whose rule is disabled, past the deadline it would
         * set: as status says of a disabled rule's deadlines (sql/0074). */
        "        count(*) FILTER (WHERE state = 'live' AND standing"
        "                           AND standing_deadline < now()) AS past_disabled,"
        "        lethe.iso_utc(min(standing_deadline) FILTER (WHERE state = 'live' AND standing"
        "                                                      AND standing_deadline < now()))"
        "            AS earliest_past_disabled,"
        "        count(*) FILTER (WHERE state = 'unrecorded') AS unrecorded,"
        "        lethe.iso_utc(min(deadline_at) FILTER (WHERE state IN ('in_flight', 'due',"
        "                                                               'scheduled', 'held')))"
        "            AS nearest_deadline,"
        /* Not purged, and its deadline gone by: what an outage past the deadline leaves. */
        "        count(*) FILTER (WHERE state IN ('in_flight', 'due', 'scheduled', 'held')"
        "                           AND deadline_at < now()) AS past_deadline,"
        "        count(*) FILTER (WHERE state = 'held' AND deadline_at < now())"
        "            AS past_deadline_held,"
        "        floor(extract(epoch FROM max(purged_at - req_deadline)"
        "              FILTER (WHERE state = 'purged' AND purged_at > req_deadline)))::bigint"
        "            AS max_lateness_seconds"
        "   FROM st",
        2, p);
}

/* Cancellations with this reference no run has consumed yet (unconsumed), which
 * db_request_items does not count (a request not derived yet says so itself). A statement of its
 * own: on Citus the inbox's views are not one tenant's, and the items' recursive walk must be. */
PGresult *db_request_unconsumed(PGconn *db, const char *tenant, const char *reference)
{
    const char *p[] = {tenant, reference};
    return db_query_one_row(db,
                            "SELECT count(*) AS unconsumed FROM lethe.inbox_events_pending p"
                            "  JOIN lethe.events e"
                            "    ON e.tenant_id = p.tenant_id AND e.event_id = p.event_id"
                            " WHERE p.tenant_id = $1 AND e.reference = $2"
                            "   AND e.type = 'deletion_cancelled'",
                            2, p);
}

/* ---- a dry run's items ----------------------------------------------------------------------- */

bool db_plan_items(PGconn *db, bool (*fn)(void *arg, const PGresult *r, int row), void *arg)
{
    if (!db_send_rows(db,
                      "SELECT tenant_id, item_id, location,"
                      "       CASE WHEN hold_id IS NULL THEN 'due' ELSE 'held' END AS state,"
                      "       rule, reference, lethe.iso_utc(due_at) AS due_at,"
                      "       lethe.iso_utc(deadline_at) AS deadline_at, hold_id"
                      "  FROM plan ORDER BY location, tenant_id, item_id",
                      0, NULL, 0))
        return false;
    bool ok = true, stopped = false;
    PGresult *res;
    while ((res = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            if (!stopped && !fn(arg, res, 0))
                stopped = true;
        } else if (st != PGRES_TUPLES_OK) {
            db_report_failure(db, res);
            ok = false;
        }
        PQclear(res);
    }
    return ok && !stopped;
}
