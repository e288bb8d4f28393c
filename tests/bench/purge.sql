-- The bare-SQL baseline, timed by bench.sh: one statement, so one transaction, that selects the
-- due items (bench.dba_due, in baseline.sql), writes one plain audit row per item and
-- tombstones the items, clearing locator and owner_id as lethe's acknowledgement does.
-- psql variable: as_of.
WITH due AS MATERIALIZED (SELECT * FROM bench.dba_due(:'as_of')),
logged AS (
    INSERT INTO bench.audit_plain (tenant_id, item_id, rule, triggered_at, deadline_at, purged_at, on_time)
    SELECT d.tenant_id, d.item_id, d.rule, d.triggered_at, d.deadline_at, now(), now() <= d.deadline_at
      FROM due d
    RETURNING tenant_id, item_id)
UPDATE lethe.items i SET locator = NULL, owner_id = NULL
  FROM logged l WHERE i.tenant_id = l.tenant_id AND i.item_id = l.item_id;
