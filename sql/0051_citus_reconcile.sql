-- Citus: reconcile (SPEC §7) on a distributed catalog. reconcile_candidates() (sql/0022) left
-- out the inventory's lines that a live item names with a subquery correlated with the
-- inventory (a temporary table on the coordinator) on items.locator, which is not the
-- distribution column: Citus refused the whole statement ("complex joins are only supported
-- when all distributed tables are co-located and joined on their distribution columns"), so
-- reconcile failed on Citus. Its Citus form finds those lines first, in a statement of its own
-- (the live items whose locator the inventory lists, read across the shards), and joins the
-- lines that are left. The same lines on both; applied by citus_layout() on Citus only.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.reconcile_candidates(text)', 1,
$old$    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT DISTINCT ON (h.tenant_id, h.item_id)$old$,
$new$    CREATE TEMP TABLE inventory_unnamed ON COMMIT DROP AS
    SELECT v.* FROM inventory v
     WHERE v.locator NOT IN (SELECT l.locator FROM lethe.items l
                              WHERE l.locator IN (SELECT x.locator FROM inventory x));
    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT DISTINCT ON (h.tenant_id, h.item_id)$new$,
 'the lines no live item names, found in a statement of their own'),
('lethe.reconcile_candidates(text)', 2,
$old$      FROM inventory v
      JOIN lethe.locator_hmacs h ON h.location = p_location AND h.locator_hmac = v.locator_hmac$old$,
$new$      FROM inventory_unnamed v
      JOIN lethe.locator_hmacs h ON h.location = p_location AND h.locator_hmac = v.locator_hmac$new$,
 'the candidates are read from those lines'),
('lethe.reconcile_candidates(text)', 3,
$old$
       AND NOT EXISTS (SELECT 1 FROM lethe.items l WHERE l.locator = v.locator)$old$,
'',
 'Citus plans no subquery correlated with a temporary table on a column other than tenant_id');

-- The orphans (reconcile_orphans(), sql/0046): the lines neither an item's locator nor a
-- recorded HMAC names, read the same way. A line without a locator or an HMAC (none is loaded
-- so) would be kept by NOT EXISTS and is kept here too.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.reconcile_orphans(text)', 1,
$old$     WHERE NOT EXISTS (SELECT 1 FROM lethe.locator_hmacs h WHERE h.locator_hmac = v.locator_hmac)
       AND NOT EXISTS (SELECT 1 FROM lethe.items i WHERE i.locator = v.locator)$old$,
$new$     WHERE (v.locator_hmac IS NULL
            OR v.locator_hmac NOT IN (SELECT h.locator_hmac FROM lethe.locator_hmacs h
                                       WHERE h.locator_hmac IN (SELECT x.locator_hmac FROM inventory x)))
       AND (v.locator IS NULL
            OR v.locator NOT IN (SELECT i.locator FROM lethe.items i
                                  WHERE i.locator IN (SELECT x.locator FROM inventory x)))$new$,
 'Citus plans no subquery correlated with a temporary table on a column other than tenant_id');

-- The repurge's facts (repurge_emit(), sql/0035): each candidate's obligation and whether its
-- purge is recorded were read by subqueries correlated with the candidates (a temporary
-- table). The Citus form reads the candidates' tenants' obligations and purges first, each in a
-- statement of its own, into temporary tables, which the same subqueries then read.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.repurge_emit(uuid,text,integer)', 1,
$old$    CREATE TEMP TABLE repurge_facts ON COMMIT DROP AS
    SELECT c.*,
           coalesce((SELECT o.obligation_id FROM lethe.obligations o$old$,
$new$    CREATE TEMP TABLE repurge_obligations ON COMMIT DROP AS
    SELECT o.tenant_id, o.rule, o.triggered_at, o.reference, o.obligation_id FROM lethe.obligations o
     WHERE o.tenant_id IN (SELECT c.tenant_id FROM repurge_candidates c);
    CREATE TEMP TABLE repurge_purged ON COMMIT DROP AS
    SELECT DISTINCT x.tenant_id, x.item_id FROM lethe.batch_items x
     WHERE x.outcome = 'purged' AND x.tenant_id IN (SELECT c.tenant_id FROM repurge_candidates c);
    CREATE TEMP TABLE repurge_facts ON COMMIT DROP AS
    SELECT c.*,
           coalesce((SELECT o.obligation_id FROM repurge_obligations o$new$,
 'the obligations read in a statement of their own'),
('lethe.repurge_emit(uuid,text,integer)', 2,
$old$           NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = c.tenant_id AND x.item_id = c.item_id
                          AND x.outcome = 'purged') AS purge_missing$old$,
$new$           NOT EXISTS (SELECT 1 FROM repurge_purged x
                        WHERE x.tenant_id = c.tenant_id AND x.item_id = c.item_id) AS purge_missing$new$,
 'Citus plans no subquery correlated with a temporary table');
