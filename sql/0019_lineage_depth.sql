-- Lineage to any depth (SPEC §3: obligations reach copies "through any number of levels"; a
-- copy never outlives its source). The walks up and down parent_id stopped at 64 levels: in a
-- chain of 80 copies under a deletion request, the copies below the 64th were never batched,
-- and item_status called them live. The walks now follow every level.
--
-- Loops of parents cannot be written through the contract (an item is immutable and names a
-- parent that exists, or one in the same statement, where the insert check walks the new rows
-- for loops), so every walk ends. Rows written around those checks (by hand as the table's
-- owner, or on Citus, where the check is one of lethe.citus_gaps) could still make one; a walk
-- that reaches lineage_max_depth() levels therefore stops the statement with an error naming
-- the item, instead of running forever or cutting the lineage short without a word.

CREATE FUNCTION lethe.lineage_max_depth() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 100000 $$;

-- Raises; the walks call it only at the bound, so it costs nothing on the way there.
CREATE FUNCTION lethe.lineage_too_deep(p_tenant uuid, p_item uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'item % (tenant %): its lineage is deeper than % levels: its chain of parents loops back on itself',
                    p_item, p_tenant, lethe.lineage_max_depth()
        USING ERRCODE = 'data_corrupted',
              HINT = 'a loop of parent_id is refused when items are inserted; these rows were written '
                     'around that check (see lethe.citus_gaps on Citus): correct them before the next run';
END $$;

-- As sql/0002_rules.sql wrote it (explain's obligation_via reads it), to any depth.
CREATE OR REPLACE FUNCTION lethe.ancestry(p_tenant uuid, p_item uuid)
RETURNS TABLE (item_id uuid, parent_id uuid, workspace_id uuid, owner_id text, shared boolean,
               created_at timestamptz, kind text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT i.item_id, i.parent_id, i.workspace_id, i.owner_id, i.shared, i.created_at,
               i.kind, 0 AS depth
          FROM lethe.items i WHERE i.tenant_id = p_tenant AND i.item_id = p_item
        UNION ALL
        SELECT p.item_id, p.parent_id, p.workspace_id, p.owner_id, p.shared, p.created_at,
               p.kind, up.depth + 1
          FROM lethe.items p JOIN up ON p.tenant_id = p_tenant AND p.item_id = up.parent_id
         WHERE CASE WHEN up.depth < lethe.lineage_max_depth() THEN true
                    ELSE lethe.lineage_too_deep(p_tenant, p_item) END
    )
    SELECT * FROM up
$$;

-- As sql/0007_lineage.sql wrote it: the one walk up that lineage(), standing(), item_status,
-- explain and every run read, to any depth.
CREATE OR REPLACE FUNCTION lethe.ancestors(p_tenants uuid[], p_items uuid[])
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
         WHERE CASE WHEN up.depth < lethe.lineage_max_depth() THEN true
                    ELSE lethe.lineage_too_deep(up.tenant_id, up.item_id) END
    )
    SELECT up.tenant_id, up.item_id, up.anc, up.workspace_id, up.owner_id, up.owner_digest,
           up.shared, up.created_at, up.customer_data, up.purged, up.self_customer_data, up.depth
      FROM up
$$;

-- As sql/0002_rules.sql wrote it, down every level. A seed is written once per item and
-- obligation (the seeds' key), so even a loop of parents ends the walk: a level that seeds
-- nothing new is the last.
CREATE OR REPLACE FUNCTION lethe.propagate_seeds() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d integer := 0;
    n bigint;
BEGIN
    LOOP
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
        SELECT c.tenant_id, c.item_id, s.rule, s.obligation_id, s.triggered_at, d + 1
          FROM seeds s
          JOIN lethe.items c ON c.tenant_id = s.tenant_id AND c.parent_id = s.item_id
         WHERE s.depth = d
        ON CONFLICT DO NOTHING;
        EXIT WHEN NOT FOUND;
        d := d + 1;
    END LOOP;
    -- A descendant reached from two ancestors under the same per-item rule keeps the earliest.
    -- Each seed looks its item up by key (the OFFSET 0 keeps the lookup a subquery): joined
    -- as a set, the planner merged the seeds with a full scan of items, a cost that grew with
    -- the catalog (4.9 s for 140k seeds among 3M items), not with what is due.
    INSERT INTO lethe.item_obligations (tenant_id, item_id, rule, obligation_id, triggered_at)
    SELECT DISTINCT ON (s.tenant_id, s.item_id, s.rule, s.obligation_id)
           s.tenant_id, s.item_id, s.rule, s.obligation_id, s.triggered_at
      FROM seeds s
      CROSS JOIN LATERAL (SELECT 1 FROM lethe.items i
                           JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                          WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id
                            AND i.locator IS NOT NULL
                         OFFSET 0) live
     ORDER BY s.tenant_id, s.item_id, s.rule, s.obligation_id, s.triggered_at
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    TRUNCATE seeds;
    RETURN n;
END $$;

-- What the cut-short walks left behind: a run expanded an obligation to 64 levels of copies
-- and no further, and never looks at those obligations again. Every live Customer Data copy
-- more than 64 levels below an original goes back to the inbox, as a copy committed late: the
-- next run evaluates its whole lineage (obligations, pins of purged ancestors, holds), and
-- status counts it from its lineage until then. The walk follows the copies only (the index of
-- parents), level by level. On Citus lethe has never run (README, "Outgrowing one server"):
-- there is nothing to repair, and a walk over every tenant is not something Citus plans.
DO $repair$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    INSERT INTO lethe.inbox_items (tenant_id, item_id)
    WITH RECURSIVE down AS (
        SELECT c.tenant_id, c.item_id, 1 AS depth
          FROM lethe.items c
          JOIN lethe.items p ON p.tenant_id = c.tenant_id AND p.item_id = c.parent_id
         WHERE c.parent_id IS NOT NULL AND p.parent_id IS NULL
        UNION ALL
        SELECT c.tenant_id, c.item_id, d.depth + 1
          FROM down d JOIN lethe.items c ON c.tenant_id = d.tenant_id AND c.parent_id = d.item_id
         WHERE CASE WHEN d.depth < lethe.lineage_max_depth() THEN true
                    ELSE lethe.lineage_too_deep(d.tenant_id, d.item_id) END
    )
    SELECT d.tenant_id, d.item_id
      FROM down d
      JOIN lethe.items i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE d.depth > 64 AND i.locator IS NOT NULL
    ON CONFLICT DO NOTHING;
END $repair$;

REVOKE ALL ON FUNCTION lethe.lineage_max_depth(), lethe.lineage_too_deep(uuid, uuid) FROM PUBLIC;
