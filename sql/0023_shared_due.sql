-- The live shared items whose shared_retention is due, found by an index on their created_at
-- that holds only them, with statistics of its own (issue 14, the idle run).
--
-- Every run seeds shared_retention for the live shared Customer Data items created before a
-- bound (as_of less the shortest deadline) that have no row yet. Once 0017 added
-- items_shared_live_tenant (the live shared items by tenant, for status), the planner read that
-- whole index and every live shared item's row, and filtered on created_at: it estimates the
-- live shared items from the table's columns one at a time (shared, then locator IS NOT NULL:
-- six times too many in the bench catalog, where old shared items are purged) and the range on
-- created_at from every item's created_at (most items are old), so the range looked as wide as
-- the index. At 1M items that statement read 11,678 rows to find 308 (the held and in-flight
-- ones), 10-16 ms of a 85 ms idle run, growing with the catalog.
--
-- An expression index on CASE WHEN shared THEN created_at END, partial to the live shared
-- items, gets statistics of its own from ANALYZE (the expression over the rows it holds): the
-- range is then estimated among the live shared items, and read as a range (1.1 ms on the same
-- catalog). It replaces items_shared_live (created_at, tenant_id), which served only this
-- statement.
--
-- The items found are then looked up in item_obligations one by one (a subquery kept apart by
-- OFFSET 0): joined as a set, the planner hashed every row of item_obligations (49,672 held
-- items' rows to rule out 308: 7 ms; 2.5 ms looked up), a cost that grew with the held items.
--
-- The statement is edited as it stands (as 0009-0011 edit audit_flush), so that derive_apply
-- keeps whatever else it became.

CREATE INDEX items_shared_due ON lethe.items ((CASE WHEN shared THEN created_at END))
    WHERE shared AND locator IS NOT NULL;
DROP INDEX lethe.items_shared_live;

DO $edit$
DECLARE
    v_def text;
    v_old constant text[] := ARRAY[
        'WHERE i.shared AND i.locator IS NOT NULL AND i.created_at <= bound',
        $o$AND p.rule = 'shared_retention' AND p.obligation_id = 0)
        ON CONFLICT DO NOTHING;$o$];
    v_new constant text[] := ARRAY[
        'WHERE i.shared AND i.locator IS NOT NULL'
        || ' AND (CASE WHEN i.shared THEN i.created_at END) <= bound',
        $n$AND p.rule = 'shared_retention' AND p.obligation_id = 0
                            OFFSET 0)
        ON CONFLICT DO NOTHING;$n$];
BEGIN
    v_def := pg_get_functiondef('lethe.derive_apply(timestamptz, integer, integer)'::regprocedure);
    FOR i IN 1 .. cardinality(v_old) LOOP
        IF (length(v_def) - length(replace(v_def, v_old[i], ''))) / length(v_old[i]) <> 1 THEN
            RAISE EXCEPTION 'migration 0023: lethe.derive_apply() no longer seeds shared_retention as 0014 wrote it';
        END IF;
        v_def := replace(v_def, v_old[i], v_new[i]);
    END LOOP;
    EXECUTE v_def;
END $edit$;

ANALYZE lethe.items;
