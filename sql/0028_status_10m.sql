-- status at 10M items (issue 14, shape 8): two of its parts read what a few rows decide.
--
-- 1. What may carry more than sharing's own obligations (lethe.pending_complex,
-- sql/0017_status_memory.sql) is found from the few rows that make it.
-- At 10M items with 45,042 held items in 1,028 tenants and 27,115 obligations, it took 42 ms to
-- find nothing, two thirds of it in two scans: every held item's tenant was checked against the
-- tenants whose held memory holds (16 ms for 45,042 rows, when every one of the 1,028 tenants
-- held), and the obligations not expanded yet were found by reading every obligation through
-- the (tenant_id, event_id) index the planner chose for the join that follows (25 ms). Now the
-- tenants with held items are listed one index probe each (a skip scan of held_items_pkey) and
-- only those whose memory does not hold have their items read; the obligations not expanded
-- are taken first, through obligations_unexpanded, then joined with their items. The rows are
-- the same.
CREATE OR REPLACE FUNCTION lethe.pending_complex(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), held_tenant AS (  -- the tenants with held items, one probe each
        SELECT (SELECT h.tenant_id FROM lethe.held_items h ORDER BY h.tenant_id LIMIT 1) AS tenant_id
        UNION ALL
        SELECT (SELECT h.tenant_id FROM lethe.held_items h WHERE h.tenant_id > t.tenant_id
                 ORDER BY h.tenant_id LIMIT 1)
          FROM held_tenant t WHERE t.tenant_id IS NOT NULL
    ), unexpanded AS MATERIALIZED (
        SELECT o.* FROM lethe.obligations o
         WHERE o.expanded_at IS NULL AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
    ), roots AS (  -- what may carry more than sharing's own obligations
        SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p WHERE NOT p.held
        UNION
        SELECT h.tenant_id, h.item_id
          FROM held_tenant t JOIN lethe.held_items h ON h.tenant_id = t.tenant_id
         WHERE t.tenant_id IS NOT NULL AND t.tenant_id NOT IN (SELECT valid.tenant_id FROM valid)
        UNION
        SELECT b.tenant_id, b.item_id FROM lethe.inbox_items b
        UNION
        SELECT i.tenant_id, i.item_id
          FROM unexpanded o
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, i.owner_id, i.owner_digest)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
    ), walk AS (
        SELECT r.tenant_id, r.item_id, 0 AS depth FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.depth + 1
          FROM walk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 100000
    )
    SELECT DISTINCT w.tenant_id, w.item_id FROM walk w
$$;

-- 2. The scheduled rows of the tenants status cannot read from memory (lethe.shared_schedule,
-- sql/0017_status_memory.sql) looked for opt-outs among every tenant's events and joined every
-- obligation of the catalog with the few candidate items (a hash join over 24,546 obligations
-- at 10M items, for one tenant): both are now bounded to the tenants asked about, which the
-- items are in anyway. One tenant at 10M: 25-29 ms before, 8-20 ms after; the same rows (5,000
-- tenants, 19,355 rows, compared both ways).
CREATE OR REPLACE FUNCTION lethe.shared_schedule(p_as_of timestamptz, p_tenants uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, due_at timestamptz,
               deadline_at timestamptz, standing boolean)
LANGUAGE sql STABLE SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE swalk AS (
        SELECT i.tenant_id, i.item_id, i.parent_id, i.workspace_id, i.owner_id, i.owner_digest,
               i.shared, i.created_at, i.location, i.kind, true AS live, 0 AS depth
          FROM unnest(p_tenants) t(tenant_id)
          CROSS JOIN LATERAL (SELECT i.tenant_id, i.item_id, i.parent_id, i.workspace_id,
                                     i.owner_id, i.owner_digest, i.shared, i.created_at,
                                     i.location, i.kind
                                FROM lethe.items i
                               WHERE i.tenant_id = t.tenant_id AND i.shared
                                 AND i.locator IS NOT NULL
                              OFFSET 0) i
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
         WHERE w.depth < 100000
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), cand AS MATERIALIZED (
        SELECT DISTINCT ON (w.tenant_id, w.item_id) w.tenant_id, w.item_id, w.parent_id,
               w.workspace_id, w.owner_id, w.owner_digest, w.shared, w.created_at, w.location
          FROM swalk w
         WHERE w.live AND w.kind = ANY ((SELECT cd.kinds FROM cd)::text[])
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = w.tenant_id AND b.item_id = w.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
         ORDER BY w.tenant_id, w.item_id
    ), ups AS (
        SELECT c.tenant_id, c.item_id, c.item_id AS anc, c.parent_id, c.workspace_id, c.owner_id,
               c.owner_digest, c.shared, c.created_at, true AS customer_data, false AS purged,
               0 AS depth
          FROM cand c
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
         WHERE u.depth < 100000 AND u.parent_id IS NOT NULL
    ), optout AS MATERIALIZED (
        SELECT DISTINCT e.tenant_id FROM lethe.events e
         WHERE e.type = 'sharing_opted_out' AND e.tenant_id = ANY (p_tenants)
    ), spoiled AS MATERIALIZED (
        SELECT u.tenant_id, u.item_id FROM ups u WHERE u.purged OR u.created_at > p_as_of
        UNION
        SELECT u.tenant_id, u.item_id
          FROM ups u
          JOIN lethe.obligations o ON o.tenant_id = u.tenant_id
           AND u.created_at <= o.covers_until AND (NOT o.shared_only OR u.shared)
           AND (o.workspace_id IS NULL OR o.workspace_id = u.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, u.owner_id, u.owner_digest)
           AND (o.item_id IS NULL OR o.item_id = u.anc)
         WHERE u.customer_data AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
           AND o.tenant_id = ANY (p_tenants)
        UNION
        SELECT u.tenant_id, u.item_id
          FROM ups u JOIN optout t ON t.tenant_id = u.tenant_id
         WHERE u.customer_data AND u.shared
           AND CASE WHEN t.tenant_id IS NOT NULL
                    THEN lethe.opted_out_at(u.tenant_id, u.workspace_id, u.created_at) END
    ), fast AS MATERIALIZED (
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
    )
    SELECT c.tenant_id, c.item_id, c.location, f.due_at, f.deadline_at, false
      FROM fast f JOIN cand c ON c.tenant_id = f.tenant_id AND c.item_id = f.item_id
     WHERE f.due_at > p_as_of
    UNION ALL
    SELECT c.tenant_id, c.item_id, c.location, NULL, NULL, true
      FROM (SELECT x.tenant_id, x.item_id FROM spoiled x
            UNION ALL
            SELECT f.tenant_id, f.item_id FROM fast f WHERE f.due_at <= p_as_of) x
      JOIN cand c ON c.tenant_id = x.tenant_id AND c.item_id = x.item_id
$$;
