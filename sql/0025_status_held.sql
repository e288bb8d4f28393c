-- Status without copying the remembered held items (issue 14, shape 8).
--
-- status (engine/dbstatus.c) worked out what is pending once into a temporary table, and that
-- table held a row for every item a hold blocks and a run remembers (lethe.held_items): at 10M
-- items with 495,042 held due items, copying them took 673 ms of a 1.25 s status, and every
-- count and list read them again from the copy. Those rows are the held_items rows of the
-- tenants whose memory holds (lethe.held_valid), as they are: status now reads them where they
-- are, through a temporary view, and copies only the rest, which pending_items_unheld gives.
--
-- The lists status shows take the first held items in deadline order through an index (the
-- next deadlines, the held items past theirs) and the violations through one of their own.
--
-- pending_items_unheld is 0017's pending_items_rest without its held part; pending_items_rest
-- is now that and the held part, so the rows it gives are the same and its logic is written
-- once.

CREATE FUNCTION lethe.pending_items_unheld(p_as_of timestamptz, p_usable uuid[], p_cts uuid[],
                                           p_cids uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), usable AS MATERIALIZED (
        SELECT DISTINCT u.tenant_id FROM unnest(p_usable) u(tenant_id)
    ), live AS MATERIALIZED (
        SELECT array_agg(t.tenant_id) AS ids FROM lethe.tenants t
         WHERE NOT EXISTS (SELECT 1 FROM usable u WHERE u.tenant_id = t.tenant_id)
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), complex AS MATERIALIZED (
        SELECT DISTINCT c.tenant_id, c.item_id FROM unnest(p_cts, p_cids) c(tenant_id, item_id)
    ), ccand AS MATERIALIZED (  -- what may carry more: standing() decides, as in 0015
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
    ), fresh AS MATERIALIZED (  -- the cheap path of the tenants not read from memory
        SELECT s.tenant_id, s.item_id, s.location, s.due_at, s.deadline_at, s.standing
          FROM live CROSS JOIN LATERAL lethe.shared_schedule(p_as_of, live.ids) s
         WHERE live.ids IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM complex x
                            WHERE x.tenant_id = s.tenant_id AND x.item_id = s.item_id)
           AND NOT (s.tenant_id IN (SELECT valid.tenant_id FROM valid)
                    AND EXISTS (SELECT 1 FROM lethe.held_items h
                                 WHERE h.tenant_id = s.tenant_id AND h.item_id = s.item_id))
    ), arr AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM (SELECT c.tenant_id, c.item_id FROM ccand c
                UNION ALL
                SELECT f.tenant_id, f.item_id FROM fresh f WHERE f.standing
                UNION ALL
                SELECT m.tenant_id, m.item_id
                  FROM lethe.status_memory m JOIN usable u ON u.tenant_id = m.tenant_id
                 WHERE m.standing
                   AND NOT EXISTS (SELECT 1 FROM complex x
                                    WHERE x.tenant_id = m.tenant_id AND x.item_id = m.item_id)
                   AND NOT (m.tenant_id IN (SELECT valid.tenant_id FROM valid)
                            AND EXISTS (SELECT 1 FROM lethe.held_items h
                                         WHERE h.tenant_id = m.tenant_id
                                           AND h.item_id = m.item_id))) x
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT f.tenant_id, f.item_id, f.location, 'scheduled', 'shared_retention', NULL::text,
           f.due_at, f.deadline_at, NULL::uuid, NULL::uuid
      FROM fresh f WHERE NOT f.standing
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_unheld(timestamptz, uuid[], uuid[], uuid[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION lethe.pending_items_rest(p_as_of timestamptz, p_usable uuid[],
                                                    p_cts uuid[], p_cids uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    SELECT * FROM lethe.pending_items_unheld(p_as_of, p_usable, p_cts, p_cids)
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h
     WHERE h.tenant_id IN (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v)
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_rest(timestamptz, uuid[], uuid[], uuid[]) FROM PUBLIC;

CREATE INDEX held_items_deadline ON lethe.held_items (deadline_at, tenant_id, item_id);
CREATE INDEX held_items_violations ON lethe.held_items (deadline_at, tenant_id, item_id)
    WHERE rule = 'shared_while_opted_out';
