-- lethe.item_status evaluates only the items it has to.
--
-- The view joins each item to lethe.evaluate_item() laterally, with the condition that the item
-- is neither purged nor in an open batch in the join's ON clause. The condition decided which
-- rows kept the evaluation, not whether it ran: every item was evaluated, purged ones
-- included (about 8 ms each on a small machine), so a count by state over 40,000 purged items
-- took more than five minutes, where the run that purged them took 14 s (deploy/demo.sh shows
-- exactly that query). The condition now stands inside the lateral subquery, where it refers
-- to the outer row only, in a subquery kept whole (OFFSET 0: pulled up, its condition became
-- the join's filter again, after the call): the planner makes it a one-time filter of each
-- row, and a purged or in-flight item is not evaluated at all. The rows are the same.
--
-- On Citus, lethe.citus_layout() puts the view's Citus form in place after every migrate
-- (sql/0047_citus_statements.sql), which evaluates the live items in one pass.

DO $view$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    CREATE OR REPLACE VIEW lethe.item_status AS
    SELECT i.tenant_id, i.item_id, i.kind, i.location,
           CASE WHEN pb.item_id IS NOT NULL OR i.locator IS NULL THEN 'purged'
                WHEN ob.item_id IS NOT NULL THEN 'in_flight'
                WHEN ev.due_at <= now() AND ev.hold_id IS NOT NULL THEN 'held'
                WHEN ev.due_at <= now() THEN 'due'
                WHEN ev.due_at IS NOT NULL THEN 'scheduled'
                ELSE 'live' END AS state,
           coalesce(pb.rule, ob.rule, ev.rule) AS rule,
           coalesce(pb.due_at, ob.due_at, ev.due_at) AS due_at,
           coalesce(pb.deadline_at, ob.deadline_at, ev.deadline_at) AS deadline_at,
           pb.purged_at,
           coalesce(ob.batch_id, pb.batch_id) AS batch_id,
           (SELECT count(*)::integer FROM lethe.batch_items f
             WHERE f.tenant_id = i.tenant_id AND f.item_id = i.item_id AND f.outcome = 'failed') AS attempts,
           ev.hold_id,
           coalesce(pb.reference, ob.reference, ev.reference) AS reference
      FROM lethe.items i
      LEFT JOIN lethe.batch_items pb
        ON pb.tenant_id = i.tenant_id AND pb.item_id = i.item_id AND pb.outcome = 'purged'
      LEFT JOIN lethe.batch_items ob
        ON ob.tenant_id = i.tenant_id AND ob.item_id = i.item_id AND ob.outcome IS NULL
      LEFT JOIN LATERAL (SELECT e.* FROM lethe.evaluate_item(i.tenant_id, i.item_id, now()) e
                          WHERE pb.item_id IS NULL AND ob.item_id IS NULL
                            AND i.locator IS NOT NULL
                         OFFSET 0) ev ON true;
END $view$;
