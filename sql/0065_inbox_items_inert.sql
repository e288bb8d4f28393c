-- Between two runs, status no longer evaluates in full the new items that cannot carry an
-- obligation (issue 14, shape 8).
--
-- The pending rows (status, export --summary) treat every item no run has consumed yet as a root
-- of the full evaluation: standing() walks its lineage, its obligations and its holds, because
-- the run has not derived what applies to it. Between two hourly runs that is the hour's new
-- items, nearly all of them ordinary originals: at 1M, 4,878 items not consumed took 455 ms of
-- standing() in a 501 ms status, for no row at all.
--
-- An item can carry an obligation only through an item of its lineage (itself or an ancestor,
-- lethe.lineage()) that is shared (shared_retention, shared_while_opted_out), that was purged
-- (the purge's obligation is pinned on its copies), or that an obligation covers: one of its
-- tenant's obligations with covers_until at or after that item's created_at (every other
-- condition of coverage, scope, subject, withdrawal, only narrows it). An item none of whose
-- lineage is any of these has no obligation: standing() gives it no row, and as no item of its
-- lineage is shared the cheap paths (shared_schedule, the memory, pending_items_live's fast
-- path) give it none either. So such an item is left out of the roots, and everything else
-- stays a root as before. Its copies are items of their own: those not consumed yet are judged
-- the same way, each with its whole lineage; those consumed were derived by a run.
--
-- The test is a superset of coverage on purpose (any obligation of the tenant, withdrawn or not,
-- whatever its scope): it only decides which items are evaluated, never what they owe. The
-- obligations are read per tenant of the new items, their latest covers_until once.

-- The inbox keeps what the test reads of each item (they never change: items_check_update), so
-- that the hour's new items are not looked up one by one. A row filled before this migration
-- has none of it, and is looked up, as is a row not filled yet. The row does not say whether
-- the item was purged since (a locator cleared later); it need not: a purged item is pending
-- under no rule, whatever it owes. Its ancestors are looked up as they stand.
ALTER TABLE lethe.inbox_items ADD COLUMN created_at timestamptz, ADD COLUMN parent_id uuid,
                              ADD COLUMN shared boolean;

DO $fill$
DECLARE
    v_def text;
    v_old1 constant text := $o1$        SELECT i.seq, i.tenant_id, i.item_id, NULL::bigint AS event_id, k.customer_data AS keep
          FROM ranges r JOIN lethe.items i ON i.seq BETWEEN r.lo AND r.hi$o1$;
    v_new1 constant text := $n1$        SELECT i.seq, i.tenant_id, i.item_id, NULL::bigint AS event_id, k.customer_data AS keep,
               i.created_at, i.parent_id, i.shared
          FROM ranges r JOIN lethe.items i ON i.seq BETWEEN r.lo AND r.hi$n1$;
    v_old2 constant text := $o2$        SELECT e.seq, e.tenant_id, NULL::uuid, e.event_id, true
          FROM ranges r JOIN lethe.events e ON e.seq BETWEEN r.lo AND r.hi$o2$;
    v_new2 constant text := $n2$        SELECT e.seq, e.tenant_id, NULL::uuid, e.event_id, true, NULL::timestamptz, NULL::uuid, NULL::boolean
          FROM ranges r JOIN lethe.events e ON e.seq BETWEEN r.lo AND r.hi$n2$;
    v_old3 constant text := $o3$        INSERT INTO lethe.inbox_items (tenant_id, item_id)
        SELECT f.tenant_id, f.item_id FROM fresh f WHERE f.item_id IS NOT NULL AND f.keep$o3$;
    v_new3 constant text := $n3$        INSERT INTO lethe.inbox_items (tenant_id, item_id, created_at, parent_id, shared)
        SELECT f.tenant_id, f.item_id, f.created_at, f.parent_id, f.shared
          FROM fresh f WHERE f.item_id IS NOT NULL AND f.keep$n3$;
BEGIN
    v_def := pg_get_functiondef('lethe.inbox_fill()'::regprocedure);
    IF position(v_old1 IN v_def) = 0 OR position(v_old2 IN v_def) = 0 OR position(v_old3 IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0065: lethe.inbox_fill() no longer fills the inbox as 0060 wrote it';
    END IF;
    EXECUTE replace(replace(replace(v_def, v_old1, v_new1), v_old2, v_new2), v_old3, v_new3);
END $fill$;

CREATE VIEW lethe.inbox_items_complex AS
WITH RECURSIVE up AS (
    SELECT b.tenant_id, b.item_id, b.parent_id, b.created_at, b.shared, false AS purged, 0 AS depth
      FROM lethe.inbox_items b
     WHERE b.created_at IS NOT NULL
    UNION ALL  -- the rest, each item by its key (OFFSET 0: a probe per row, never a hash of items)
    SELECT p.tenant_id, p.item_id, i.parent_id, i.created_at, i.shared, i.purged, 0
      FROM lethe.inbox_items_pending p
     CROSS JOIN LATERAL (SELECT i.parent_id, i.created_at, i.shared, i.locator IS NULL AS purged
                           FROM lethe.items i
                          WHERE i.tenant_id = p.tenant_id AND i.item_id = p.item_id
                         OFFSET 0) i
     WHERE NOT EXISTS (SELECT 1 FROM lethe.inbox_items b
                        WHERE b.tenant_id = p.tenant_id AND b.item_id = p.item_id
                          AND b.created_at IS NOT NULL)
    UNION ALL
    SELECT u.tenant_id, u.item_id, a.parent_id, a.created_at, a.shared, a.purged, u.depth + 1
      FROM up u
     CROSS JOIN LATERAL (SELECT a.parent_id, a.created_at, a.shared, a.locator IS NULL AS purged
                           FROM lethe.items a
                          WHERE a.tenant_id = u.tenant_id AND a.item_id = u.parent_id
                         OFFSET 0) a
     WHERE u.depth < 100000 AND u.parent_id IS NOT NULL
), cov AS MATERIALIZED (  -- each tenant's latest coverage, for the tenants of the new items
    SELECT t.tenant_id,
           (SELECT max(o.covers_until) FROM lethe.obligations o
             WHERE o.tenant_id = t.tenant_id) AS covers_until
      FROM (SELECT DISTINCT u.tenant_id FROM up u) t
)
SELECT DISTINCT u.tenant_id, u.item_id
  FROM up u
  LEFT JOIN cov c ON c.tenant_id = u.tenant_id
 WHERE u.shared OR u.purged OR c.covers_until >= u.created_at;

REVOKE ALL ON lethe.inbox_items_complex FROM PUBLIC;

-- The walks call it only when the inbox holds something: right after a run it is empty, and a
-- new session would otherwise plan the view for nothing (PL/pgSQL plans a statement when it
-- first runs it).
CREATE FUNCTION lethe.inbox_items_complex() RETURNS TABLE (tenant_id uuid, item_id uuid)
LANGUAGE plpgsql STABLE ROWS 100 SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM lethe.inbox_items_pending) THEN
        RETURN QUERY SELECT c.tenant_id, c.item_id FROM lethe.inbox_items_complex c;
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.inbox_items_complex() FROM PUBLIC;

-- The two walks' roots, edited as they stand (as 0044 made them read the inbox's view).
DO $roots$
DECLARE
    f regprocedure;
    v_def text;
    v_old constant text := 'SELECT b.tenant_id, b.item_id FROM lethe.inbox_items_pending b';
    v_new constant text := 'SELECT b.tenant_id, b.item_id FROM lethe.inbox_items_complex() b';
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND p.proname IN ('pending_complex', 'pending_items_live')
              ORDER BY 1 LOOP
        v_def := pg_get_functiondef(f);
        IF position(v_old IN v_def) = 0 THEN
            RAISE EXCEPTION 'migration 0065: % no longer takes the inbox''s items as roots', f;
        END IF;
        EXECUTE replace(v_def, v_old, v_new);
    END LOOP;
END $roots$;
