-- The bare-SQL baseline: what a DBA would write to enforce the same policy on the same catalog
-- without lethe. Loaded into the bench's template database only (schema bench).
--
-- bench.dba_due(as_of) is stateless: every time, it reads every event, works out which
-- obligations stand at as_of (requests not cancelled, capacity deletions not re-provisioned,
-- opt-outs), adds each shared item's own 90-day retention and the shared copies made while
-- opted out, follows lineage down through parent_id, and keeps the live Customer Data items
-- that are due and not under an active hold (on the item or an ancestor). Deadlines, graces and
-- the lookahead come from lethe.rules and lethe.settings, as lethe's own do. An item is due at
-- the earliest due time of its obligations; its rule is the one with the earliest deadline
-- (ties in SPEC §3 order). Its only state is its own audit table, bench.audit_plain: the purges before this one
-- (the template copies them from the priming run) are where the lineage of copies made since
-- starts. It keeps no batches, no manifests and no hash chain.

CREATE TABLE IF NOT EXISTS bench.audit_plain (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    rule text NOT NULL,
    triggered_at timestamptz NOT NULL,
    deadline_at timestamptz NOT NULL,
    purged_at timestamptz NOT NULL,
    on_time boolean NOT NULL,
    PRIMARY KEY (tenant_id, item_id)
);

CREATE OR REPLACE FUNCTION bench.dba_due(as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, rule text, triggered_at timestamptz, deadline_at timestamptz)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE obligation AS (
        SELECT e.tenant_id,
               CASE WHEN e.type = 'capacity_deleted' THEN 'capacity_deleted'
                    WHEN e.type = 'sharing_opted_out' THEN 'sharing_opt_out'
                    WHEN e.subject_id IS NULL THEN 'deletion_request' ELSE 'subject_request' END AS rule,
               e.workspace_id, e.subject_id, e.item_id, e.type = 'sharing_opted_out' AS shared_only,
               e.occurred_at AS t
          FROM lethe.events e
         WHERE e.type IN ('deletion_requested', 'capacity_deleted', 'sharing_opted_out')
           AND e.occurred_at <= as_of
           AND NOT EXISTS (SELECT 1 FROM lethe.events w
                            WHERE w.tenant_id = e.tenant_id AND w.occurred_at > e.occurred_at
                              AND w.occurred_at <= as_of
                              AND ((e.type = 'deletion_requested' AND w.type = 'deletion_cancelled'
                                    AND w.reference = e.reference)
                                OR (e.type = 'capacity_deleted' AND w.type = 'capacity_provisioned')))
    ), direct AS (
        SELECT i.tenant_id, i.item_id, o.rule, o.t
          FROM obligation o JOIN lethe.items i ON i.tenant_id = o.tenant_id
         WHERE i.created_at <= o.t
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND (o.subject_id IS NULL OR i.owner_id = o.subject_id)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
        UNION ALL
        -- items purged before keep their obligation for the copies made of them since: a
        -- copy never outlives its source, and the tombstone no longer says who owned it
        SELECT a.tenant_id, a.item_id, a.rule, a.triggered_at FROM bench.audit_plain a
        UNION ALL
        SELECT i.tenant_id, i.item_id, 'shared_retention', i.created_at
          FROM lethe.items i WHERE i.shared
        UNION ALL
        SELECT i.tenant_id, i.item_id, 'shared_while_opted_out', i.created_at
          FROM lethe.items i
         WHERE i.shared
           AND (SELECT e.type = 'sharing_opted_out' FROM lethe.events e
                 WHERE e.tenant_id = i.tenant_id AND e.type IN ('sharing_opted_in', 'sharing_opted_out')
                   AND (e.workspace_id IS NULL OR e.workspace_id = i.workspace_id)
                   AND (e.occurred_at < i.created_at
                        OR (e.occurred_at = i.created_at AND e.type = 'sharing_opted_in'))
                 ORDER BY e.occurred_at DESC, (e.type = 'sharing_opted_in') DESC, e.event_id DESC
                 LIMIT 1)
    ), lineage AS (
        SELECT d.tenant_id, d.item_id, d.rule, d.t, 0 AS depth FROM direct d
        UNION ALL
        SELECT c.tenant_id, c.item_id, l.rule, l.t, l.depth + 1
          FROM lineage l JOIN lethe.items c ON c.tenant_id = l.tenant_id AND c.parent_id = l.item_id
         WHERE l.depth < 64
    ), timed AS (
        SELECT l.tenant_id, l.item_id, l.rule, l.t,
               greatest(l.t, least(l.t + r.grace, l.t + r.deadline - s.lookahead)) AS due_at,
               l.t + r.deadline AS deadline_at, r.priority
          FROM lineage l JOIN lethe.rules r ON r.rule = l.rule AND r.enabled CROSS JOIN lethe.settings s
    ), held AS (
        SELECT i.tenant_id, i.item_id, 0 AS depth
          FROM lethe.holds h JOIN lethe.items i ON i.tenant_id = h.tenant_id
           AND (h.workspace_id IS NULL OR i.workspace_id = h.workspace_id)
           AND (h.subject_id IS NULL OR i.owner_id = h.subject_id)
           AND (h.item_id IS NULL OR i.item_id = h.item_id)
         WHERE h.placed_at <= as_of AND (h.released_at IS NULL OR h.released_at > as_of)
        UNION ALL
        SELECT c.tenant_id, c.item_id, x.depth + 1
          FROM held x JOIN lethe.items c ON c.tenant_id = x.tenant_id AND c.parent_id = x.item_id
         WHERE x.depth < 64
    )
    SELECT g.tenant_id, g.item_id, g.rule, g.t, g.deadline_at
      FROM (SELECT DISTINCT ON (t.tenant_id, t.item_id) t.*,
                   min(t.due_at) OVER (PARTITION BY t.tenant_id, t.item_id) AS item_due
              FROM timed t
              JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
               AND i.locator IS NOT NULL
              JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
             ORDER BY t.tenant_id, t.item_id, t.deadline_at, t.priority) g
     WHERE g.item_due <= as_of
       AND (g.tenant_id, g.item_id) NOT IN (SELECT x.tenant_id, x.item_id FROM held x)
$$;
