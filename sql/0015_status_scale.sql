-- Status at scale (issue 14, shape 8). `lethe status` and `export --summary` read
-- lethe.pending_items(now()); sql/0013_held.sql evaluated the whole lineage (lethe.standing) of
-- every candidate, and the candidates include every live shared item and its copies: each one is
-- scheduled under shared_retention for 90 days, so that set grows with the catalog (1.2% of the
-- bench's items), at 65 us an item at 1M items and 91 us at 10M.
--
-- Now the candidates come in two parts. Those that may carry any obligation other than sharing's
-- own (marked in item_obligations, held items not remembered, items not consumed yet, the scopes
-- of obligations not expanded yet, and every descendant of those) are evaluated by standing() as
-- before. The rest, live shared items and their descendants, are evaluated by a cheaper path
-- that gives the same row as standing() when their lineage holds nothing but the per-item
-- shared_retention rows, and hands every other item to standing():
--   - no ancestor is purged (a purge pins its obligation on the copies);
--   - no obligation that is not withdrawn by p_as_of covers the item or an ancestor, by the same
--     scope test as lineage() (disabled rules count too: the test may only send more items to
--     standing(), never fewer);
--   - no shared Customer Data ancestor was made while opted out (a violation);
--   - its due time is still to come (a due item needs its holds looked up).
-- Then its active rows are one shared_retention row per shared Customer Data item on its lineage,
-- triggered at that item's created_at: due is the earliest due time, and the governing row the
-- first by standing()'s own order (trigger to come last, deadline, depth). The result is the
-- same rows as before, item for item. The cost is still one walk per shared item, about 3 times
-- less (24 us at 1M, 28 us at 10M): exact counts of what is scheduled look at every scheduled
-- item, as long as nothing remembers their standing (tests/bench/RESULTS.md, "Status at scale").
--
-- The walks look up parents and children through LATERAL ... OFFSET 0, so that each step is an
-- index probe: the planner, unable to estimate a recursive walk, otherwise hashed every item of
-- the catalog that has a parent. The function runs without JIT: its estimates are large and its
-- work small, and compiling cost more than running (2.4 s against 70 ms at 100k items).

CREATE OR REPLACE FUNCTION lethe.pending_items(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), roots AS (  -- what may carry more than sharing's own obligations
        SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p WHERE NOT p.held
        UNION
        SELECT h.tenant_id, h.item_id FROM lethe.held_items h
         WHERE h.tenant_id NOT IN (SELECT valid.tenant_id FROM valid)
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
    ), walk AS (
        SELECT r.tenant_id, r.item_id, 0 AS depth FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.depth + 1
          FROM walk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 64
    ), swalk AS (  -- live shared items and their copies, with what the cheaper path reads
        SELECT i.tenant_id, i.item_id, i.parent_id, i.workspace_id, i.owner_id, i.owner_digest,
               i.shared, i.created_at, i.location, i.kind, true AS live, 0 AS depth
          FROM lethe.items i
         WHERE i.shared AND i.locator IS NOT NULL
        UNION ALL
        SELECT c.tenant_id, c.item_id, c.parent_id, c.workspace_id, c.owner_id, c.owner_digest,
               c.shared, c.created_at, c.location, c.kind, c.live, w.depth + 1
          FROM swalk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id, c.parent_id, c.workspace_id,
                                     c.owner_id, c.owner_digest, c.shared, c.created_at,
                                     c.location, c.kind, c.locator IS NOT NULL AS live
                                FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 64
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), complex AS MATERIALIZED (
        SELECT DISTINCT w.tenant_id, w.item_id FROM walk w
    ), cand AS MATERIALIZED (  -- live Customer Data, not handed over, not remembered held
        SELECT c.tenant_id, c.item_id, true AS complex, NULL::uuid AS parent_id,
               NULL::uuid AS workspace_id, NULL::text AS owner_id, NULL::bytea AS owner_digest,
               NULL::boolean AS shared, NULL::timestamptz AS created_at, NULL::text AS location
          FROM complex c
         WHERE EXISTS (SELECT 1 FROM lethe.items i
                        WHERE i.tenant_id = c.tenant_id AND i.item_id = c.item_id
                          AND i.locator IS NOT NULL
                          AND i.kind = ANY ((SELECT cd.kinds FROM cd)::text[]))
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
           AND NOT coalesce((SELECT true FROM lethe.held_items h
                              WHERE h.tenant_id = c.tenant_id AND h.item_id = c.item_id
                                AND h.tenant_id IN (SELECT valid.tenant_id FROM valid) LIMIT 1), false)
        UNION ALL
        SELECT * FROM (
        SELECT DISTINCT ON (w.tenant_id, w.item_id) w.tenant_id, w.item_id, false, w.parent_id,
               w.workspace_id, w.owner_id, w.owner_digest, w.shared, w.created_at, w.location
          FROM swalk w
         WHERE w.live AND w.kind = ANY ((SELECT cd.kinds FROM cd)::text[])
           AND NOT EXISTS (SELECT 1 FROM complex x
                            WHERE x.tenant_id = w.tenant_id AND x.item_id = w.item_id)
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = w.tenant_id AND b.item_id = w.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
           AND NOT (w.tenant_id IN (SELECT valid.tenant_id FROM valid)
                    AND EXISTS (SELECT 1 FROM lethe.held_items h
                                 WHERE h.tenant_id = w.tenant_id AND h.item_id = w.item_id))
         ORDER BY w.tenant_id, w.item_id) s
    ), ups AS (  -- the shared part's lineage, the item itself at depth 0
        SELECT c.tenant_id, c.item_id, c.item_id AS anc, c.parent_id, c.workspace_id, c.owner_id,
               c.owner_digest, c.shared, c.created_at, true AS customer_data, false AS purged,
               0 AS depth
          FROM cand c WHERE NOT c.complex
        UNION ALL
        SELECT u.tenant_id, u.item_id, a.item_id, a.parent_id, a.workspace_id, a.owner_id,
               a.owner_digest, a.shared, a.created_at, a.kind = ANY ((SELECT cd.kinds FROM cd)::text[]),
               a.locator IS NULL, u.depth + 1
          FROM ups u
          CROSS JOIN LATERAL (SELECT a.item_id, a.parent_id, a.workspace_id, a.owner_id,
                                     a.owner_digest, a.shared, a.created_at, a.kind, a.locator
                                FROM lethe.items a
                               WHERE a.tenant_id = u.tenant_id AND a.item_id = u.parent_id
                              OFFSET 0) a
         WHERE u.depth < 64 AND u.parent_id IS NOT NULL
    ), optout AS MATERIALIZED (
        SELECT DISTINCT e.tenant_id FROM lethe.events e WHERE e.type = 'sharing_opted_out'
    ), spoiled AS MATERIALIZED (  -- more than sharing's own: standing() decides
        SELECT u.tenant_id, u.item_id FROM ups u WHERE u.purged
        UNION
        SELECT u.tenant_id, u.item_id
          FROM ups u
          JOIN lethe.obligations o ON o.tenant_id = u.tenant_id
           AND u.created_at <= o.covers_until AND (NOT o.shared_only OR u.shared)
           AND (o.workspace_id IS NULL OR o.workspace_id = u.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, u.owner_id, u.owner_digest)
           AND (o.item_id IS NULL OR o.item_id = u.anc)
         WHERE u.customer_data AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION
        SELECT u.tenant_id, u.item_id  -- (the CASE keeps the call above the join: only the
          FROM ups u JOIN optout t ON t.tenant_id = u.tenant_id  -- tenants that opted out pay)
         WHERE u.customer_data AND u.shared
           AND CASE WHEN t.tenant_id IS NOT NULL
                    THEN lethe.opted_out_at(u.tenant_id, u.workspace_id, u.created_at) END
    ), fast AS MATERIALIZED (  -- the rest: shared_retention rows only
        SELECT DISTINCT ON (u.tenant_id, u.item_id) u.tenant_id, u.item_id,
               u.created_at + r.deadline AS deadline_at,
               min(lethe.due_time(u.created_at, r.deadline, r.grace, s.lookahead))
                   OVER (PARTITION BY u.tenant_id, u.item_id) AS due_at
          FROM ups u
          JOIN lethe.rules r ON r.rule = 'shared_retention' AND r.enabled
          CROSS JOIN lethe.settings s
         WHERE u.customer_data AND u.shared
           AND NOT EXISTS (SELECT 1 FROM spoiled x
                            WHERE x.tenant_id = u.tenant_id AND x.item_id = u.item_id)
         ORDER BY u.tenant_id, u.item_id, u.created_at > p_as_of, u.created_at + r.deadline,
                  u.depth
    ), arr AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM (SELECT c.tenant_id, c.item_id FROM cand c WHERE c.complex
                UNION ALL
                SELECT x.tenant_id, x.item_id FROM spoiled x
                UNION ALL
                SELECT f.tenant_id, f.item_id FROM fast f WHERE f.due_at <= p_as_of) x
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT f.tenant_id, f.item_id, c.location, 'scheduled', 'shared_retention', NULL::text, f.due_at, f.deadline_at, NULL::uuid, NULL::uuid
      FROM fast f JOIN cand c ON c.tenant_id = f.tenant_id AND c.item_id = f.item_id
     WHERE f.due_at > p_as_of
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h JOIN valid ON valid.tenant_id = h.tenant_id
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;
REVOKE ALL ON FUNCTION lethe.pending_items(timestamptz) FROM PUBLIC;
