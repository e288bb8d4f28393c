-- The write floor, timed by bench.sh: the baseline's writes alone. The due items are given
-- (bench.due_list, selected with bench.dba_due when the template was built); one statement
-- writes one plain audit row per item and tombstones the items.
WITH logged AS (
    INSERT INTO bench.audit_plain (tenant_id, item_id, rule, triggered_at, deadline_at, purged_at, on_time)
    SELECT d.tenant_id, d.item_id, d.rule, d.triggered_at, d.deadline_at, now(), now() <= d.deadline_at
      FROM bench.due_list d
    RETURNING tenant_id, item_id)
UPDATE lethe.items i SET locator = NULL, owner_id = NULL
  FROM logged l WHERE i.tenant_id = l.tenant_id AND i.item_id = l.item_id;
