-- What the operator commands read and write beside the rules core: lookups by item id for
-- explain, who recorded a request, the holds covering an item, and the set-based picture of
-- every pending item that status counts. Nothing here changes how obligations are derived or
-- batched; it only reads what sql/0002_rules.sql keeps.

-- explain (and any command taking an item id) finds the tenant from the id alone before it
-- knows it, and an id in two tenants must be refused: without this, that is a catalog scan.
CREATE INDEX items_by_id ON lethe.items (item_id);

-- Who recorded a deletion request with `lethe request --operator`. Events belong to the
-- producers (SPEC §2) and have no such column, so the engine keeps it beside them. No foreign
-- key: one would make TRUNCATE on events fail on it instead of on events' own refusal, and
-- the row is written in the same statement as its event, which is never deleted.
CREATE TABLE lethe.request_operators (
    tenant_id uuid NOT NULL,
    event_id bigint NOT NULL,
    operator text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

-- Every hold that covers one item: placed on the item itself or on one of its ancestors (a
-- hold reaches copies, never sources), active at p_as_of or not. via_item is the item the
-- hold's scope matched. explain lists them; lethe.holding() picks the blocking one.
CREATE FUNCTION lethe.holds_of(p_tenant uuid, p_item uuid, p_as_of timestamptz)
RETURNS TABLE (hold_id uuid, workspace_id uuid, subject_id text, item_id uuid, reason text,
               reference text, placed_at timestamptz, released_at timestamptz, active boolean,
               via_item uuid)
LANGUAGE sql STABLE AS $$
    WITH up AS (SELECT * FROM lethe.ancestry(p_tenant, p_item)), matched AS (
        SELECT DISTINCT ON (h.hold_id) h.*, up.item_id AS via
          FROM lethe.holds h JOIN up ON
               (h.workspace_id IS NULL OR h.workspace_id = up.workspace_id)
           AND (h.subject_id IS NULL OR h.subject_id = up.owner_id)
           AND (h.item_id IS NULL OR h.item_id = up.item_id)
         WHERE h.tenant_id = p_tenant
         ORDER BY h.hold_id, up.depth
    )
    SELECT m.hold_id, m.workspace_id, m.subject_id, m.item_id, m.reason, m.reference,
           m.placed_at, m.released_at,
           m.placed_at <= p_as_of AND (m.released_at IS NULL OR m.released_at > p_as_of),
           m.via
      FROM matched m
     ORDER BY m.placed_at, m.hold_id
$$;

-- The item through which an obligation reaches p_item: the item itself or its nearest ancestor
-- in the obligation's scope (for the per-item rules, obligation 0, the nearest shared one made
-- at the trigger). lethe.obligations_of() names one such item when several qualify; explain
-- wants the nearest, every time.
CREATE FUNCTION lethe.obligation_via(p_tenant uuid, p_item uuid, p_obligation bigint,
                                     p_triggered timestamptz)
RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT up.item_id FROM lethe.ancestry(p_tenant, p_item) up
      LEFT JOIN lethe.obligations o ON o.tenant_id = p_tenant AND o.obligation_id = p_obligation
     WHERE CASE WHEN p_obligation = 0 THEN up.shared AND up.created_at = p_triggered
                ELSE (o.workspace_id IS NULL OR o.workspace_id = up.workspace_id)
                 AND (o.subject_id IS NULL OR o.subject_id = up.owner_id)
                 AND (o.item_id IS NULL OR o.item_id = up.item_id)
                 AND up.created_at <= o.covers_until AND (NOT o.shared_only OR up.shared) END
     ORDER BY up.depth
     LIMIT 1
$$;

-- Every item that is not purged and has an active obligation at p_as_of, with the state,
-- governing rule, due time and deadline that lethe.item_status would give it: what
-- `lethe status` counts. It is computed set-based rather than with one evaluate_item() per
-- item, so it costs what is pending, not the catalog:
--   - in_flight: items in an open batch (lethe.batch_items), with the rule and deadline they
--     were batched under;
--   - the rest from three sources, walked down to every descendant where a run would do so:
--     expanded obligations (lethe.item_obligations); obligations not expanded yet, over the
--     items in their scope; every live shared copy's own shared_retention; and what producers
--     committed since the last run (lethe.inbox_items) under obligations already expanded, as
--     copies of items already handed over, or as shared copies made while opted out;
--   - held when due and an active hold covers the item (lethe.holding, called only for due
--     items of tenants that have an active hold), else due, else scheduled.
CREATE FUNCTION lethe.pending_items(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE roots AS (
        SELECT i.tenant_id, i.item_id, o.rule, o.obligation_id, o.triggered_at
          FROM lethe.obligations o
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND (o.subject_id IS NULL OR i.owner_id = o.subject_id)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
         WHERE o.expanded_at IS NULL AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION ALL
        SELECT i.tenant_id, i.item_id, 'shared_retention', 0, i.created_at
          FROM lethe.items i WHERE i.shared AND i.locator IS NOT NULL
        UNION ALL
        SELECT i.tenant_id, i.item_id, o.rule, o.obligation_id, o.triggered_at
          FROM lethe.inbox_items b
          JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
          JOIN lethe.obligations o ON o.tenant_id = i.tenant_id AND o.expanded_at IS NOT NULL
           AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND (o.subject_id IS NULL OR i.owner_id = o.subject_id)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
         WHERE o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of
        UNION ALL
        SELECT i.tenant_id, i.item_id, p.rule, p.obligation_id, p.triggered_at
          FROM lethe.inbox_items b
          JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
          JOIN lethe.item_obligations p ON p.tenant_id = i.tenant_id AND p.item_id = i.parent_id
        UNION ALL
        SELECT i.tenant_id, i.item_id, x.rule, x.obligation_id, x.triggered_at
          FROM lethe.inbox_items b
          JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
          JOIN lethe.batch_items x ON x.tenant_id = i.tenant_id AND x.item_id = i.parent_id
           AND (x.outcome IS NULL OR x.outcome = 'purged')
        UNION ALL
        SELECT i.tenant_id, i.item_id, 'shared_while_opted_out', 0, i.created_at
          FROM lethe.inbox_items b
          JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
         WHERE i.shared AND lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at)
    ), walk AS (
        SELECT r.tenant_id, r.item_id, r.rule, r.obligation_id, r.triggered_at, 0 AS depth
          FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.rule, w.obligation_id, w.triggered_at, w.depth + 1
          FROM walk w JOIN lethe.items c ON c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
         WHERE w.depth < 64
    ), cand AS (
        SELECT w.tenant_id, w.item_id, w.rule, w.obligation_id, w.triggered_at FROM walk w
        UNION ALL
        SELECT p.tenant_id, p.item_id, p.rule, p.obligation_id, p.triggered_at
          FROM lethe.item_obligations p
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
         WHERE p.obligation_id = 0 OR o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of
    ), timed AS (
        SELECT c.tenant_id, c.item_id, c.rule, c.obligation_id,
               lethe.due_time(c.triggered_at, r.deadline, r.grace, s.lookahead) AS due_at,
               c.triggered_at + r.deadline AS deadline_at, r.priority
          FROM cand c
          JOIN lethe.rules r ON r.rule = c.rule AND r.enabled
          CROSS JOIN lethe.settings s
    ), g AS (
        SELECT DISTINCT ON (t.tenant_id, t.item_id) t.tenant_id, t.item_id, t.rule,
               t.obligation_id, t.deadline_at,
               min(t.due_at) OVER (PARTITION BY t.tenant_id, t.item_id) AS due_at
          FROM timed t
         ORDER BY t.tenant_id, t.item_id, t.deadline_at, t.priority, t.obligation_id
    ), waiting AS (
        SELECT g.tenant_id, g.item_id, i.location, g.rule, o.reference, g.due_at, g.deadline_at,
               CASE WHEN g.due_at <= p_as_of AND EXISTS (
                        SELECT 1 FROM lethe.holds h
                         WHERE h.tenant_id = g.tenant_id AND h.placed_at <= p_as_of
                           AND (h.released_at IS NULL OR h.released_at > p_as_of))
                    THEN lethe.holding(g.tenant_id, g.item_id, p_as_of) END AS hold_id
          FROM g
          JOIN lethe.items i ON i.tenant_id = g.tenant_id AND i.item_id = g.item_id
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = g.tenant_id AND o.obligation_id = g.obligation_id
         WHERE i.locator IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                            WHERE b.tenant_id = g.tenant_id AND b.item_id = g.item_id
                              AND (b.outcome IS NULL OR b.outcome = 'purged'))
    )
    SELECT w.tenant_id, w.item_id, w.location,
           CASE WHEN w.due_at > p_as_of THEN 'scheduled'
                WHEN w.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           w.rule, w.reference, w.due_at, w.deadline_at, NULL::uuid, w.hold_id
      FROM waiting w
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;
