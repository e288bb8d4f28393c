-- Lineage as one concept (SPEC §3 "Lineage, precisely"): an item's obligations are those in
-- effect on it or on any of its ancestors, whatever happened to them (batched, purged,
-- tombstoned, held), plus the obligation each purged ancestor was purged under. One set-based
-- function, lethe.lineage(), says so, and every reader uses it: the run (due_items), the
-- dry run, item_status, explain and status. What the run keeps in item_obligations is only a
-- set of candidates (items that may be due); lineage() decides their rule, due and deadline.
-- Must not change how batches are acknowledged or manifests written (sql/0002's ack_batch and
-- manifest_lines stay as they are).

-- ---- a tombstone remembers whose item it was ---------------------------------------------
-- The tombstone clears owner_id, but a subject's request or hold still reaches the copies of
-- the subject's purged items. The engine keeps a digest of the former owner instead, salted
-- with the tenant: it can be compared with a subject id, and never shows one in clear.

ALTER TABLE lethe.items ADD COLUMN owner_digest bytea;
CREATE INDEX items_owner_digest ON lethe.items (tenant_id, owner_digest) WHERE owner_digest IS NOT NULL;

CREATE FUNCTION lethe.owner_digest(p_tenant uuid, p_subject text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT sha256(convert_to(p_tenant::text || '/' || p_subject, 'UTF8')) $$;

-- Does a scope's subject (null: any) take an item with this owner, or this tombstone's digest?
CREATE FUNCTION lethe.subject_covers(p_subject text, p_tenant uuid, p_owner text, p_digest bytea)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT p_subject IS NULL OR p_subject = p_owner
          OR (p_owner IS NULL AND p_digest = lethe.owner_digest(p_tenant, p_subject)) $$;

CREATE OR REPLACE FUNCTION lethe.items_check_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF (NEW.tenant_id, NEW.item_id, NEW.workspace_id, NEW.kind, NEW.location, NEW.shared,
        NEW.parent_id, NEW.created_at, NEW.bytes)
       IS DISTINCT FROM
       (OLD.tenant_id, OLD.item_id, OLD.workspace_id, OLD.kind, OLD.location, OLD.shared,
        OLD.parent_id, OLD.created_at, OLD.bytes)
       OR ((NEW.locator, NEW.owner_id) IS DISTINCT FROM (OLD.locator, OLD.owner_id)
           AND (NEW.locator IS NOT NULL OR NEW.owner_id IS NOT NULL)) THEN
        RAISE EXCEPTION 'item %: items are immutable; only the engine''s tombstone may clear locator and owner_id',
                        OLD.item_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'record a new item (with parent_id) instead of changing one';
    END IF;
    -- Only the tombstone writes the digest, from the owner it clears; nobody else changes it.
    IF OLD.owner_id IS NOT NULL AND NEW.owner_id IS NULL THEN
        NEW.owner_digest := lethe.owner_digest(OLD.tenant_id, OLD.owner_id);
    ELSE
        NEW.owner_digest := OLD.owner_digest;
    END IF;
    RETURN NEW;
END $$;

-- The shortest and longest an interval can span: a month is 28 to 31 days. They bound index
-- scans from either side (a month's lookahead taken as 28 days made a due item wait a run).
CREATE FUNCTION lethe.interval_ceil(i interval) RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (extract(year FROM i) * 12 + extract(month FROM i)) * interval '31 days'
          + (i - date_trunc('month', i)) $$;

-- ---- the one definition ------------------------------------------------------------------

-- Items and their ancestors through parent_id, set-based (depth 0 is the item itself). anc is
-- the ancestor; self_customer_data says whether the item at depth 0 is Customer Data.
CREATE FUNCTION lethe.ancestors(p_tenants uuid[], p_items uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, anc uuid, workspace_id uuid, owner_id text,
               owner_digest bytea, shared boolean, created_at timestamptz, customer_data boolean,
               purged boolean, self_customer_data boolean, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT i.tenant_id, i.item_id, i.item_id AS anc, i.parent_id, i.workspace_id, i.owner_id,
               i.owner_digest, i.shared, i.created_at, k.customer_data, i.locator IS NULL AS purged,
               k.customer_data AS self_customer_data, 0 AS depth
          FROM unnest(p_tenants, p_items) x (t, id)
          JOIN lethe.items i ON i.tenant_id = x.t AND i.item_id = x.id
          JOIN lethe.kinds k ON k.kind = i.kind
        UNION ALL
        SELECT up.tenant_id, up.item_id, a.item_id, a.parent_id, a.workspace_id, a.owner_id,
               a.owner_digest, a.shared, a.created_at, k.customer_data, a.locator IS NULL,
               up.self_customer_data, up.depth + 1
          FROM up
          JOIN lethe.items a ON a.tenant_id = up.tenant_id AND a.item_id = up.parent_id
          JOIN lethe.kinds k ON k.kind = a.kind
         WHERE up.depth < 64
    )
    SELECT up.tenant_id, up.item_id, up.anc, up.workspace_id, up.owner_id, up.owner_digest,
           up.shared, up.created_at, up.customer_data, up.purged, up.self_customer_data, up.depth
      FROM up
$$;

-- lineage() and standing() are planned on their own when called (their SET
-- clause keeps the planner from inlining them): one query joining all of them cost 20 ms
-- and more to plan at every run, an idle one included, however few the items.

-- Every obligation of each item at p_as_of, through the item itself or any ancestor (SPEC §3):
--   - an event's obligation whose scope and instant cover a Customer Data ancestor (a system
--     log starts no coverage, but coverage flows through it), tombstoned ancestors included;
--   - the per-item rules (shared_retention, shared_while_opted_out) of each shared Customer
--     Data ancestor, with that ancestor's created_at;
--   - pinned: the obligation each purged ancestor was purged under, with its trigger, due
--     time and deadline as batched; no withdrawal reaches it (a purge cannot be undone).
-- active: in effect at p_as_of (rule enabled, not withdrawn by then, or pinned). A system log
-- itself has no obligation. Rows may repeat an obligation through several ancestors.
-- With p_in_flight, also the batch each ancestor in an open batch is in (in_flight, never
-- active): the pin it will become once acknowledged, for derivation to keep such copies in
-- view. With p_holds, also one row per hold on the item or an ancestor, of any kind, purged
-- ones included (rule null; active: at p_as_of): a subject hold reaches the copies of the
-- subject's purged items. One walk serves both.
CREATE FUNCTION lethe.lineage(p_tenants uuid[], p_items uuid[], p_as_of timestamptz,
                              p_in_flight boolean DEFAULT false, p_holds boolean DEFAULT false)
RETURNS TABLE (tenant_id uuid, item_id uuid, rule text, obligation_id bigint, event_id bigint,
               reference text, subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, withdrawn_at timestamptz, active boolean, pinned boolean,
               in_flight boolean, via_item uuid, depth integer, priority integer,
               hold_id uuid, hold_placed_at timestamptz)
LANGUAGE sql STABLE SET search_path = lethe, pg_catalog, pg_temp AS $$
    WITH walk AS MATERIALIZED (SELECT * FROM lethe.ancestors(p_tenants, p_items)),
    up AS (SELECT * FROM walk WHERE walk.self_customer_data),
    raw AS (
        SELECT up.tenant_id, up.item_id, o.rule, o.obligation_id, o.event_id, o.reference,
               o.subject_hmac, o.triggered_at, NULL::timestamptz AS due_at,
               NULL::timestamptz AS deadline_at, o.withdrawn_at, false AS pinned,
               false AS in_flight, up.anc, up.depth
          FROM up
          JOIN lethe.obligations o ON o.tenant_id = up.tenant_id
           AND up.created_at <= o.covers_until AND (NOT o.shared_only OR up.shared)
           AND (o.workspace_id IS NULL OR o.workspace_id = up.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, up.owner_id, up.owner_digest)
           AND (o.item_id IS NULL OR o.item_id = up.anc)
         WHERE up.customer_data
        UNION ALL
        SELECT up.tenant_id, up.item_id, 'shared_retention', 0, NULL, NULL, NULL, up.created_at,
               NULL, NULL, NULL, false, false, up.anc, up.depth
          FROM up WHERE up.customer_data AND up.shared
        UNION ALL
        SELECT up.tenant_id, up.item_id, 'shared_while_opted_out', 0, NULL, NULL, NULL,
               up.created_at, NULL, NULL, NULL, false, false, up.anc, up.depth
          FROM up
         WHERE up.customer_data AND up.shared
           AND lethe.opted_out_at(up.tenant_id, up.workspace_id, up.created_at)
        UNION ALL
        SELECT up.tenant_id, up.item_id, b.rule, b.obligation_id, o.event_id, b.reference,
               b.subject_hmac, b.triggered_at, b.due_at, b.deadline_at, o.withdrawn_at, true,
               false, up.anc, up.depth
          FROM up
          JOIN lethe.batch_items b ON b.tenant_id = up.tenant_id AND b.item_id = up.anc
           AND b.outcome = 'purged'
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = b.tenant_id AND o.obligation_id = b.obligation_id AND b.obligation_id <> 0
         WHERE up.purged
        UNION ALL
        SELECT up.tenant_id, up.item_id, b.rule, b.obligation_id, NULL, b.reference,
               b.subject_hmac, b.triggered_at, b.due_at, b.deadline_at, NULL, false, true,
               up.anc, up.depth
          FROM up
          JOIN lethe.batch_items b ON b.tenant_id = up.tenant_id AND b.item_id = up.anc
           AND b.outcome IS NULL
         WHERE p_in_flight AND up.depth > 0 AND NOT up.purged
    )
    SELECT raw.tenant_id, raw.item_id, raw.rule, raw.obligation_id, raw.event_id, raw.reference,
           raw.subject_hmac, raw.triggered_at,
           coalesce(raw.due_at, lethe.due_time(raw.triggered_at, r.deadline, r.grace, s.lookahead)),
           coalesce(raw.deadline_at, raw.triggered_at + r.deadline),
           raw.withdrawn_at,
           r.enabled AND NOT raw.in_flight
               AND (raw.pinned OR raw.withdrawn_at IS NULL OR raw.withdrawn_at > p_as_of),
           raw.pinned, raw.in_flight, raw.anc, raw.depth, r.priority, NULL::uuid, NULL::timestamptz
      FROM raw
      JOIN lethe.rules r ON r.rule = raw.rule
      CROSS JOIN lethe.settings s
    UNION ALL
    SELECT w.tenant_id, w.item_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           h.placed_at <= p_as_of AND (h.released_at IS NULL OR h.released_at > p_as_of),
           false, false, w.anc, w.depth, NULL, h.hold_id, h.placed_at
      FROM walk w
      JOIN lethe.holds h ON h.tenant_id = w.tenant_id
       AND (h.workspace_id IS NULL OR h.workspace_id = w.workspace_id)
       AND lethe.subject_covers(h.subject_id, h.tenant_id, w.owner_id, w.owner_digest)
       AND (h.item_id IS NULL OR h.item_id = w.anc)
     WHERE p_holds
$$;

-- Every hold on each item or one of its ancestors (never a descendant's), active at p_as_of
-- or not, as lineage() finds them.
CREATE FUNCTION lethe.hold_matches(p_tenants uuid[], p_items uuid[], p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, hold_id uuid, placed_at timestamptz,
               active boolean, via_item uuid, depth integer)
LANGUAGE sql STABLE AS $$
    SELECT l.tenant_id, l.item_id, l.hold_id, l.hold_placed_at, l.active, l.via_item, l.depth
      FROM lethe.lineage(p_tenants, p_items, p_as_of, false, true) l
     WHERE l.hold_id IS NOT NULL
$$;

-- Each item's standing at p_as_of, from its active obligations (SPEC §3 "Timing"): due_at is
-- the earliest due time; the governing obligation has the earliest deadline, ties in the SPEC
-- order (an obligation whose trigger has not come yet governs only when nothing in effect
-- does); hold_id is the first active hold (by placed_at) when the item is due. Items with no
-- active obligation have no row.
CREATE FUNCTION lethe.standing(p_tenants uuid[], p_items uuid[], p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, rule text, obligation_id bigint, reference text,
               subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, hold_id uuid)
LANGUAGE sql STABLE SET search_path = lethe, pg_catalog, pg_temp AS $$
    WITH l AS MATERIALIZED (
        SELECT * FROM lethe.lineage(p_tenants, p_items, p_as_of, false, true) x WHERE x.active
    ), g AS (  -- one sort serves the window and the choice
        SELECT DISTINCT ON (l.tenant_id, l.item_id) l.*, min(l.due_at) OVER w AS item_due
          FROM l
         WHERE l.rule IS NOT NULL
        WINDOW w AS (PARTITION BY l.tenant_id, l.item_id
                     ORDER BY l.triggered_at > p_as_of, l.deadline_at, l.priority, l.obligation_id, l.depth
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
         ORDER BY l.tenant_id, l.item_id, l.triggered_at > p_as_of, l.deadline_at, l.priority,
                  l.obligation_id, l.depth
    ), h AS (
        SELECT DISTINCT ON (l.tenant_id, l.item_id) l.tenant_id, l.item_id, l.hold_id
          FROM l
         WHERE l.hold_id IS NOT NULL
         ORDER BY l.tenant_id, l.item_id, l.hold_placed_at, l.hold_id
    )
    SELECT g.tenant_id, g.item_id, g.rule, g.obligation_id, g.reference, g.subject_hmac,
           g.triggered_at, g.item_due, g.deadline_at, CASE WHEN g.item_due <= p_as_of THEN h.hold_id END
      FROM g LEFT JOIN h ON h.tenant_id = g.tenant_id AND h.item_id = g.item_id
$$;

-- ---- the readers, redefined over it ----------------------------------------------------

CREATE OR REPLACE FUNCTION lethe.holding(p_tenant uuid, p_item uuid, p_as_of timestamptz)
RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT m.hold_id FROM lethe.hold_matches(ARRAY[p_tenant], ARRAY[p_item], p_as_of) m
     WHERE m.active ORDER BY m.placed_at, m.hold_id LIMIT 1
$$;

CREATE OR REPLACE FUNCTION lethe.holds_of(p_tenant uuid, p_item uuid, p_as_of timestamptz)
RETURNS TABLE (hold_id uuid, workspace_id uuid, subject_id text, item_id uuid, reason text,
               reference text, placed_at timestamptz, released_at timestamptz, active boolean,
               via_item uuid)
LANGUAGE sql STABLE AS $$
    SELECT h.hold_id, h.workspace_id, h.subject_id, h.item_id, h.reason, h.reference,
           h.placed_at, h.released_at, m.active, m.via_item
      FROM (SELECT DISTINCT ON (x.hold_id) x.*
              FROM lethe.hold_matches(ARRAY[p_tenant], ARRAY[p_item], p_as_of) x
             ORDER BY x.hold_id, x.depth) m
      JOIN lethe.holds h ON h.tenant_id = p_tenant AND h.hold_id = m.hold_id
     ORDER BY h.placed_at, h.hold_id
$$;

-- What explain lists: one row per obligation and trigger, through the nearest ancestor that
-- carries it (a pinned one first: it cannot be withdrawn).
CREATE OR REPLACE FUNCTION lethe.obligations_of(p_tenant uuid, p_item uuid, p_as_of timestamptz)
RETURNS TABLE (rule text, obligation_id bigint, event_id bigint, reference text,
               triggered_at timestamptz, due_at timestamptz, deadline_at timestamptz,
               withdrawn_at timestamptz, active boolean, via_item uuid, priority integer)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (l.rule, l.obligation_id, l.triggered_at)
           l.rule, l.obligation_id, l.event_id, l.reference, l.triggered_at, l.due_at,
           l.deadline_at, l.withdrawn_at, l.active, l.via_item, l.priority
      FROM lethe.lineage(ARRAY[p_tenant], ARRAY[p_item], p_as_of) l
     ORDER BY l.rule, l.obligation_id, l.triggered_at, l.active DESC, l.due_at, l.depth
$$;

CREATE OR REPLACE FUNCTION lethe.evaluate_item(p_tenant uuid, p_item uuid, p_as_of timestamptz,
                                    OUT rule text, OUT obligation_id bigint, OUT reference text,
                                    OUT triggered_at timestamptz, OUT due_at timestamptz,
                                    OUT deadline_at timestamptz, OUT hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT s.rule, s.obligation_id, s.reference, s.triggered_at, s.due_at, s.deadline_at, s.hold_id
      FROM lethe.standing(ARRAY[p_tenant], ARRAY[p_item], p_as_of) s
$$;

-- The items due at p_as_of, not purged and not in an open batch, with their standing. The
-- candidates are the items the run has marked in item_obligations; lineage() decides.
CREATE OR REPLACE FUNCTION lethe.due_items(p_as_of timestamptz, p_k integer, p_n integer)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, rule text, obligation_id bigint,
               reference text, subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH cand AS (
        SELECT DISTINCT p.tenant_id, p.item_id FROM lethe.item_obligations p
         WHERE lethe.in_shard(p.tenant_id, p_k, p_n)
    ), live AS MATERIALIZED (
        SELECT c.tenant_id, c.item_id, i.location
          FROM cand c
          JOIN lethe.items i ON i.tenant_id = c.tenant_id AND i.item_id = c.item_id
         WHERE i.locator IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                            WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                              AND b.outcome IS NULL)
    ), arr AS (
        SELECT array_agg(v.tenant_id ORDER BY v.tenant_id, v.item_id) AS ts,
               array_agg(v.item_id ORDER BY v.tenant_id, v.item_id) AS ids
          FROM live v
    )
    SELECT s.tenant_id, s.item_id, v.location, s.rule, s.obligation_id, s.reference,
           s.subject_hmac, s.triggered_at, s.due_at, s.deadline_at, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
      JOIN live v ON v.tenant_id = s.tenant_id AND v.item_id = s.item_id
     WHERE arr.ids IS NOT NULL AND s.due_at <= p_as_of
$$;

-- What status counts: every live item with an active obligation, with its standing. The
-- candidates are a superset (marked items, what the next run will consume, the scopes of
-- obligations not expanded yet, live shared items, and every descendant of those); lineage()
-- decides, as for item_status.
CREATE OR REPLACE FUNCTION lethe.pending_items(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE roots AS (
        SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p
        UNION
        SELECT b.tenant_id, b.item_id FROM lethe.inbox_items b
        UNION
        SELECT i.tenant_id, i.item_id
          FROM lethe.obligations o
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, i.owner_id, i.owner_digest)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
         WHERE o.expanded_at IS NULL AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION
        SELECT i.tenant_id, i.item_id FROM lethe.items i WHERE i.shared AND i.locator IS NOT NULL
    ), walk AS (
        SELECT r.tenant_id, r.item_id, 0 AS depth FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.depth + 1
          FROM walk w JOIN lethe.items c ON c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
         WHERE w.depth < 64
    ), arr AS (
        SELECT array_agg(c.tenant_id ORDER BY c.tenant_id, c.item_id) AS ts,
               array_agg(c.item_id ORDER BY c.tenant_id, c.item_id) AS ids
          FROM (SELECT DISTINCT w.tenant_id, w.item_id FROM walk w) c
          JOIN lethe.items i ON i.tenant_id = c.tenant_id AND i.item_id = c.item_id
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE i.locator IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                            WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                              AND (b.outcome IS NULL OR b.outcome = 'purged'))
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;

-- ---- derivation: keeping the candidates complete ----------------------------------------
-- Invariant: every live Customer Data item that lineage() makes due at the run's as_of has a
-- row in item_obligations. Rows go in through seeds and propagate_seeds (an item's rows reach
-- all its descendants); whenever rows go out (a withdrawal, a late sharing event), the items
-- that lost them are evaluated again and keep a row for whatever still makes them due, or
-- for an ancestor in an open batch (its purge, once acknowledged, makes them due: a pin).

-- Seeds what lineage() makes due at p_as_of for the given items (pairs of the two arrays),
-- and the batch of any ancestor in flight: once acknowledged, that purge makes them due, and
-- nothing else would bring them back into view.
CREATE FUNCTION lethe.seed_from_lineage(p_tenants uuid[], p_items uuid[], p_as_of timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Planning lineage() costs more than an idle run's whole derivation: only when needed.
    IF coalesce(cardinality(p_items), 0) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT DISTINCT ON (l.tenant_id, l.item_id, l.rule, l.obligation_id)
           l.tenant_id, l.item_id, l.rule, l.obligation_id, l.triggered_at, 0
      FROM lethe.lineage(p_tenants, p_items, p_as_of, true) l
     WHERE (l.active AND l.due_at <= p_as_of) OR l.in_flight
     ORDER BY l.tenant_id, l.item_id, l.rule, l.obligation_id, l.triggered_at
    ON CONFLICT DO NOTHING;
END $$;

CREATE OR REPLACE FUNCTION lethe.derive_apply(p_as_of timestamptz, p_k integer, p_n integer,
                                   OUT withdrawn integer, OUT expanded bigint)
LANGUAGE plpgsql AS $$
DECLARE
    sr record;
    bound timestamptz;
    ts uuid[];
    ids uuid[];
    touched_ts uuid[] := '{}';  -- the items that lost rows (pairs of the two arrays)
    touched_ids uuid[] := '{}';
BEGIN
    expanded := 0;

    -- Withdrawals, whichever of the two events arrived first: a later cancellation with the
    -- request's reference, or a later re-provisioning. The earliest withdrawing event counts,
    -- even when it is committed after a later one has withdrawn the obligation already.
    CREATE TEMP TABLE withdrawals ON COMMIT DROP AS
    SELECT DISTINCT ON (o.tenant_id, o.obligation_id)
           o.tenant_id, o.obligation_id, e.occurred_at, e.event_id
      FROM lethe.obligations o
      JOIN lethe.events e ON e.tenant_id = o.tenant_id AND e.occurred_at > o.triggered_at
       AND ((o.rule IN ('deletion_request', 'subject_request')
             AND e.type = 'deletion_cancelled' AND e.reference = o.reference)
         OR (o.rule = 'capacity_deleted' AND e.type = 'capacity_provisioned'))
     WHERE (o.withdrawn_at IS NULL OR e.occurred_at < o.withdrawn_at)
       AND o.tenant_id IN (SELECT tenant_id FROM new_events)
     ORDER BY o.tenant_id, o.obligation_id, e.occurred_at, e.event_id;
    UPDATE lethe.obligations o SET withdrawn_at = w.occurred_at, withdrawn_by = w.event_id
      FROM withdrawals w
     WHERE o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id;
    GET DIAGNOSTICS withdrawn = ROW_COUNT;
    INSERT INTO audit_stage (tenant_id, kind, rule, reference, triggered_at, subject_hmac, count, detail)
    SELECT o.tenant_id, 'obligation_withdrawn', o.rule, o.reference, o.triggered_at, o.subject_hmac,
           (SELECT count(*) FROM lethe.item_obligations p
             WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id),
           'withdrawn at ' || to_char(w.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      FROM withdrawals w
      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id
     ORDER BY o.tenant_id, o.obligation_id;

    -- Obligations withdrawn by now release their items (those not already handed over); the
    -- items are evaluated again at the end, for what else (a purged source's pin) holds them.
    WITH d AS (
        DELETE FROM lethe.item_obligations p USING lethe.obligations o
         WHERE p.obligation_id <> 0 AND o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
           AND o.withdrawn_at <= p_as_of AND lethe.in_shard(p.tenant_id, p_k, p_n)
        RETURNING p.tenant_id, p.item_id)
    SELECT touched_ts || coalesce(array_agg(d.tenant_id), '{}'), touched_ids || coalesce(array_agg(d.item_id), '{}')
      INTO touched_ts, touched_ids FROM d;

    -- A sharing event, however late, can make or clear a violation anywhere in a lineage: the
    -- tenant's violation rows go, and the shared Customer Data items created while opted out
    -- (purged ones too: their copies inherit it) seed them again.
    WITH d AS (
        DELETE FROM lethe.item_obligations p
         WHERE p.rule = 'shared_while_opted_out' AND p.obligation_id = 0
           AND p.tenant_id IN (SELECT e.tenant_id FROM new_events e
                                WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
        RETURNING p.tenant_id, p.item_id)
    SELECT touched_ts || coalesce(array_agg(d.tenant_id), '{}'), touched_ids || coalesce(array_agg(d.item_id), '{}')
      INTO touched_ts, touched_ids FROM d;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT i.tenant_id, i.item_id, 'shared_while_opted_out', 0, i.created_at, 0
      FROM lethe.items i
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE i.tenant_id IN (SELECT e.tenant_id FROM new_events e
                            WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
       AND i.shared AND lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at)
    ON CONFLICT DO NOTHING;

    -- New items (and copies committed late, through any kind of ancestor): whatever their
    -- lineage makes due now.
    SELECT array_agg(n.tenant_id ORDER BY n.tenant_id, n.item_id),
           array_agg(n.item_id ORDER BY n.tenant_id, n.item_id)
      INTO ts, ids FROM new_items n;
    PERFORM lethe.seed_from_lineage(ts, ids, p_as_of);

    expanded := expanded + lethe.propagate_seeds();

    -- Expand the obligations that are due now into their items, all in one pass, one branch
    -- per kind of scope so that each finds its items through its own index. Scopes seed only
    -- Customer Data (a system log starts no coverage), tombstones included: their copies
    -- follow them.
    CREATE TEMP TABLE todo ON COMMIT DROP AS
    SELECT ob.tenant_id, ob.obligation_id, ob.rule, ob.triggered_at, ob.covers_until,
           ob.workspace_id, ob.subject_id, ob.item_id, ob.shared_only,
           lethe.owner_digest(ob.tenant_id, ob.subject_id) AS subject_digest
      FROM lethe.obligations ob
      JOIN lethe.rules r ON r.rule = ob.rule AND r.enabled
      CROSS JOIN lethe.settings s
     WHERE ob.expanded_at IS NULL AND lethe.in_shard(ob.tenant_id, p_k, p_n)
       AND (ob.withdrawn_at IS NULL OR ob.withdrawn_at > p_as_of)
       AND ob.triggered_at <= p_as_of
       AND lethe.due_time(ob.triggered_at, r.deadline, r.grace, s.lookahead) <= p_as_of;
    ANALYZE todo;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT x.tenant_id, x.item_id, x.rule, x.obligation_id, x.triggered_at, 0
      FROM (
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
         WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL  -- the subject's purged items: their copies follow them
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM todo t JOIN lethe.items i
            ON i.tenant_id = t.tenant_id AND i.owner_digest = t.subject_digest
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.owner_id IS NULL
           AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
      ) x
      JOIN lethe.kinds k ON k.kind = x.kind AND k.customer_data
    ON CONFLICT DO NOTHING;
    expanded := expanded + lethe.propagate_seeds();
    UPDATE lethe.obligations o SET expanded_at = clock_timestamp()
      FROM todo t WHERE o.tenant_id = t.tenant_id AND o.obligation_id = t.obligation_id;
    DROP TABLE todo;

    -- shared_retention: each live shared Customer Data item is due by its own created_at.
    -- The index range is bounded with the shortest the grace and deadline can be and the
    -- longest the lookahead can be, then checked exactly.
    SELECT r.*, s.lookahead INTO sr FROM lethe.rules r CROSS JOIN lethe.settings s
     WHERE r.rule = 'shared_retention';
    IF sr.enabled THEN
        bound := p_as_of - greatest(interval '0', least(lethe.interval_floor(sr.grace),
                                                        lethe.interval_floor(sr.deadline)
                                                        - lethe.interval_ceil(sr.lookahead)));
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
        SELECT i.tenant_id, i.item_id, 'shared_retention', 0, i.created_at, 0
          FROM lethe.items i
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE i.shared AND i.locator IS NOT NULL AND i.created_at <= bound
           AND lethe.in_shard(i.tenant_id, p_k, p_n)
           AND lethe.due_time(i.created_at, sr.deadline, sr.grace, sr.lookahead) <= p_as_of
           AND NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id
                              AND p.rule = 'shared_retention' AND p.obligation_id = 0)
        ON CONFLICT DO NOTHING;
        expanded := expanded + lethe.propagate_seeds();
    END IF;

    -- The items that lost rows and have none left: what still makes them due keeps them.
    IF cardinality(touched_ids) > 0 THEN
        SELECT array_agg(t.tenant_id ORDER BY t.tenant_id, t.item_id),
               array_agg(t.item_id ORDER BY t.tenant_id, t.item_id)
          INTO ts, ids
          FROM (SELECT DISTINCT x.tenant_id, x.item_id
                  FROM unnest(touched_ts, touched_ids) x (tenant_id, item_id)) t
         WHERE NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = t.tenant_id AND p.item_id = t.item_id);
        PERFORM lethe.seed_from_lineage(ts, ids, p_as_of);
        expanded := expanded + lethe.propagate_seeds();
    END IF;
    DROP TABLE new_events, new_items, withdrawals;
END $$;
