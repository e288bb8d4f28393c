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
-- The statement itself is written this way in derive_apply as sql/0020_subject_requests.sql
-- defines it; this migration adds the index it reads.

CREATE INDEX items_shared_due ON lethe.items ((CASE WHEN shared THEN created_at END))
    WHERE shared AND locator IS NOT NULL;
DROP INDEX lethe.items_shared_live;

ANALYZE lethe.items;
