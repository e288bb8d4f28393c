-- Shape 4 of the bench (issue 14, 10,000 subject requests): derivation read every item it had
-- just expanded or descended to a second time, to learn what it had read already.
--
-- ---- derivation ----------------------------------------------------------------------------

-- As sql/0016_write_speed.sql wrote it, with a column live in seeds: whether the seed's item
-- is live Customer Data (not a tombstone, of a Customer Data kind), when the statement that
-- seeded it read the item; null when it did not (lethe.seed_from_lineage()).
CREATE OR REPLACE FUNCTION lethe.derive_consume(p_k integer, p_n integer,
                                     OUT events integer, OUT items integer, OUT obligations integer)
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS seeds (
        tenant_id uuid, item_id uuid, rule text, obligation_id bigint, triggered_at timestamptz,
        depth integer, live boolean,
        PRIMARY KEY (tenant_id, item_id, rule, obligation_id)) ON COMMIT DROP;
    CREATE TEMP TABLE new_events ON COMMIT DROP AS
    WITH d AS (DELETE FROM lethe.inbox_events b WHERE lethe.in_shard(b.tenant_id, p_k, p_n)
               RETURNING b.tenant_id, b.event_id)
    SELECT e.* FROM d JOIN lethe.events e USING (tenant_id, event_id);
    GET DIAGNOSTICS events = ROW_COUNT;
    CREATE TEMP TABLE new_items ON COMMIT DROP AS
    WITH d AS (DELETE FROM lethe.inbox_items b WHERE lethe.in_shard(b.tenant_id, p_k, p_n)
               RETURNING b.tenant_id, b.item_id)
    SELECT i.* FROM d
     CROSS JOIN LATERAL (SELECT i.* FROM lethe.items i
                          WHERE i.tenant_id = d.tenant_id AND i.item_id = d.item_id
                            AND i.locator IS NOT NULL
                         OFFSET 0) i;
    GET DIAGNOSTICS items = ROW_COUNT;

    -- Events become obligations at the scope they were given.
    INSERT INTO lethe.obligations (tenant_id, rule, event_id, reference, workspace_id, subject_id,
                                   item_id, shared_only, triggered_at, covers_until)
    SELECT e.tenant_id,
           CASE e.type WHEN 'deletion_requested' THEN
                    CASE WHEN e.subject_id IS NULL THEN 'deletion_request' ELSE 'subject_request' END
                WHEN 'capacity_deleted' THEN 'capacity_deleted'
                ELSE 'sharing_opt_out' END,
           e.event_id, e.reference, e.workspace_id, e.subject_id, e.item_id,
           e.type = 'sharing_opted_out', e.occurred_at, e.occurred_at
      FROM new_events e
     WHERE e.type IN ('deletion_requested', 'capacity_deleted', 'sharing_opted_out')
    ON CONFLICT (tenant_id, event_id) DO NOTHING;
    GET DIAGNOSTICS obligations = ROW_COUNT;
END $$;

-- As sql/0014_cycle_speed.sql wrote it, with the expansion and shared_retention saying whether
-- each seed is live: both read the item, and both seed Customer Data only.
CREATE OR REPLACE FUNCTION lethe.derive_apply(p_as_of timestamptz, p_k integer, p_n integer,
                                   OUT withdrawn integer, OUT expanded bigint)
LANGUAGE plpgsql AS $$
DECLARE
    sr record;
    bound timestamptz;
    ts uuid[];
    ids uuid[];
    touched_ts uuid[] := '{}';  -- the items that lost rows (pairs of the two arrays)
    touched_ids uuid[] := '{}';
BEGIN
    expanded := 0;
    withdrawn := 0;

    -- An idle run (nothing consumed, nothing come due) skips each step that has no input: in a
    -- new session every statement reached is planned first, and that was most of its cost.
    IF EXISTS (SELECT 1 FROM new_events) THEN
    -- A consumed event may change the standing of a held item (sql/0013_held.sql).
    PERFORM lethe.held_forget_consumed();
    -- Withdrawals, whichever of the two events arrived first: a later cancellation with the
    -- request's reference, or a later re-provisioning. The earliest withdrawing event counts,
    -- even when it is committed after a later one has withdrawn the obligation already.
    CREATE TEMP TABLE withdrawals ON COMMIT DROP AS
    SELECT DISTINCT ON (o.tenant_id, o.obligation_id)
           o.tenant_id, o.obligation_id, e.occurred_at, e.event_id
      FROM lethe.obligations o
      JOIN lethe.events e ON e.tenant_id = o.tenant_id AND e.occurred_at > o.triggered_at
       AND ((o.rule IN ('deletion_request', 'subject_request')
             AND e.type = 'deletion_cancelled' AND e.reference = o.reference)
         OR (o.rule = 'capacity_deleted' AND e.type = 'capacity_provisioned'))
     WHERE (o.withdrawn_at IS NULL OR e.occurred_at < o.withdrawn_at)
       AND o.tenant_id IN (SELECT tenant_id FROM new_events)
     ORDER BY o.tenant_id, o.obligation_id, e.occurred_at, e.event_id;
    UPDATE lethe.obligations o SET withdrawn_at = w.occurred_at, withdrawn_by = w.event_id
      FROM withdrawals w
     WHERE o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id;
    GET DIAGNOSTICS withdrawn = ROW_COUNT;
    INSERT INTO audit_stage (tenant_id, kind, rule, reference, triggered_at, subject_hmac, count, detail)
    SELECT o.tenant_id, 'obligation_withdrawn', o.rule, o.reference, o.triggered_at, o.subject_hmac,
           (SELECT count(*) FROM lethe.item_obligations p
             WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id),
           'withdrawn at ' || to_char(w.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      FROM withdrawals w
      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id
     ORDER BY o.tenant_id, o.obligation_id;
    END IF;

    -- Obligations withdrawn by now release their items (those not already handed over); the
    -- items are evaluated again at the end, for what else (a purged source's pin) holds them.
    WITH d AS (
        DELETE FROM lethe.item_obligations p USING lethe.obligations o
         WHERE p.obligation_id <> 0 AND o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
           AND o.withdrawn_at <= p_as_of AND lethe.in_shard(p.tenant_id, p_k, p_n)
        RETURNING p.tenant_id, p.item_id)
    SELECT touched_ts || coalesce(array_agg(d.tenant_id), '{}'), touched_ids || coalesce(array_agg(d.item_id), '{}')
      INTO touched_ts, touched_ids FROM d;

    -- A sharing event, however late, can make or clear a violation anywhere in a lineage: the
    -- tenant's violation rows go, and the shared Customer Data items created while opted out
    -- (purged ones too: their copies inherit it) seed them again.
    IF EXISTS (SELECT 1 FROM new_events e WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out')) THEN
    WITH d AS (
        DELETE FROM lethe.item_obligations p
         WHERE p.rule = 'shared_while_opted_out' AND p.obligation_id = 0
           AND p.tenant_id IN (SELECT e.tenant_id FROM new_events e
                                WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
        RETURNING p.tenant_id, p.item_id)
    SELECT touched_ts || coalesce(array_agg(d.tenant_id), '{}'), touched_ids || coalesce(array_agg(d.item_id), '{}')
      INTO touched_ts, touched_ids FROM d;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT i.tenant_id, i.item_id, 'shared_while_opted_out', 0, i.created_at, 0
      FROM lethe.items i
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE i.tenant_id IN (SELECT e.tenant_id FROM new_events e
                            WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
       AND i.shared AND lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at)
    ON CONFLICT DO NOTHING;
    END IF;

    -- The obligations due now and not expanded yet (expanded below, after the new items).
    CREATE TEMP TABLE to_expand ON COMMIT DROP AS
    SELECT ob.tenant_id, ob.obligation_id, ob.rule, ob.triggered_at, ob.covers_until,
           ob.workspace_id, ob.subject_id, ob.item_id, ob.shared_only,
           lethe.owner_digest(ob.tenant_id, ob.subject_id) AS subject_digest
      FROM lethe.obligations ob
      JOIN lethe.rules r ON r.rule = ob.rule AND r.enabled
      CROSS JOIN lethe.settings s
     WHERE ob.expanded_at IS NULL AND lethe.in_shard(ob.tenant_id, p_k, p_n)
       AND (ob.withdrawn_at IS NULL OR ob.withdrawn_at > p_as_of)
       AND ob.triggered_at <= p_as_of
       AND lethe.due_time(ob.triggered_at, r.deadline, r.grace, s.lookahead) <= p_as_of;
    ANALYZE to_expand;

    -- New items (and copies committed late, through any kind of ancestor): whatever their
    -- lineage makes due now. A tenant whose every obligation is expanded below, and which has
    -- no shared item (no per-item rule) and no batch item (no pin, nothing in flight, hence no
    -- tombstone), gets from lineage() exactly the rows the expansion gives its items: its new
    -- items are left to the expansion. (A new tenant's first request over 10,000 fresh items
    -- spent 0.3 s here, all of it repeated by the expansion.)
    IF EXISTS (SELECT 1 FROM new_items) THEN
    SELECT array_agg(n.tenant_id ORDER BY n.tenant_id, n.item_id),
           array_agg(n.item_id ORDER BY n.tenant_id, n.item_id)
      INTO ts, ids
      FROM new_items n
     WHERE n.tenant_id NOT IN (
            SELECT q.tenant_id FROM (SELECT DISTINCT x.tenant_id FROM new_items x) q
             WHERE NOT EXISTS (SELECT 1 FROM lethe.obligations o
                                WHERE o.tenant_id = q.tenant_id
                                  AND NOT EXISTS (SELECT 1 FROM to_expand t
                                                   WHERE t.tenant_id = o.tenant_id
                                                     AND t.obligation_id = o.obligation_id))
               AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b WHERE b.tenant_id = q.tenant_id)
               AND NOT EXISTS (SELECT 1 FROM lethe.items i
                                WHERE i.tenant_id = q.tenant_id AND i.shared));
    PERFORM lethe.seed_from_lineage(ts, ids, p_as_of);
    END IF;

    expanded := expanded + lethe.propagate_seeds();

    -- Expand the obligations that are due now into their items, all in one pass, one branch
    -- per kind of scope so that each finds its items through its own index. Scopes seed only
    -- Customer Data (a system log starts no coverage), tombstones included: their copies
    -- follow them.
    IF EXISTS (SELECT 1 FROM to_expand) THEN
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT x.tenant_id, x.item_id, x.rule, x.obligation_id, x.triggered_at, 0, x.locator IS NOT NULL
      FROM (
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
         WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL  -- the subject's purged items: their copies follow them
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i
            ON i.tenant_id = t.tenant_id AND i.owner_digest = t.subject_digest
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.owner_id IS NULL
           AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
      ) x
      JOIN lethe.kinds k ON k.kind = x.kind AND k.customer_data
    ON CONFLICT DO NOTHING;
    expanded := expanded + lethe.propagate_seeds();
    UPDATE lethe.obligations o SET expanded_at = clock_timestamp()
      FROM to_expand t WHERE o.tenant_id = t.tenant_id AND o.obligation_id = t.obligation_id;
    END IF;
    DROP TABLE to_expand;

    -- shared_retention: each live shared Customer Data item is due by its own created_at.
    -- The index range is bounded with the shortest the grace and deadline can be and the
    -- longest the lookahead can be, then checked exactly. The range is written as the
    -- expression items_shared_due indexes (sql/0023_shared_due.sql), and the items found are
    -- looked up one by one in item_obligations (OFFSET 0): see there.
    SELECT r.*, s.lookahead INTO sr FROM lethe.rules r CROSS JOIN lethe.settings s
     WHERE r.rule = 'shared_retention';
    IF sr.enabled THEN
        bound := p_as_of - greatest(interval '0', least(lethe.interval_floor(sr.grace),
                                                        lethe.interval_floor(sr.deadline)
                                                        - lethe.interval_ceil(sr.lookahead)));
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
        SELECT i.tenant_id, i.item_id, 'shared_retention', 0, i.created_at, 0, true
          FROM lethe.items i
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE i.shared AND i.locator IS NOT NULL AND (CASE WHEN i.shared THEN i.created_at END) <= bound
           AND lethe.in_shard(i.tenant_id, p_k, p_n)
           AND lethe.due_time(i.created_at, sr.deadline, sr.grace, sr.lookahead) <= p_as_of
           AND NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id
                              AND p.rule = 'shared_retention' AND p.obligation_id = 0
                            OFFSET 0)
        ON CONFLICT DO NOTHING;
        expanded := expanded + lethe.propagate_seeds();
    END IF;

    -- The items that lost rows and have none left: what still makes them due keeps them.
    IF cardinality(touched_ids) > 0 THEN
        SELECT array_agg(t.tenant_id ORDER BY t.tenant_id, t.item_id),
               array_agg(t.item_id ORDER BY t.tenant_id, t.item_id)
          INTO ts, ids
          FROM (SELECT DISTINCT x.tenant_id, x.item_id
                  FROM unnest(touched_ts, touched_ids) x (tenant_id, item_id)) t
         WHERE NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = t.tenant_id AND p.item_id = t.item_id);
        PERFORM lethe.seed_from_lineage(ts, ids, p_as_of);
        expanded := expanded + lethe.propagate_seeds();
    END IF;
    DROP TABLE IF EXISTS withdrawals;
    DROP TABLE new_events, new_items;
END $$;

-- As sql/0018_cycle_passes.sql wrote it, with the descent saying whether each child it seeds
-- is live (it reads the child already), and the rows of item_obligations written without a
-- second lookup of every seed's item (140,000 lookups for 10,000 subject requests at 1M
-- items). The rows are the same: a seed goes in when its item is live Customer Data, in the
-- same order, the first row seeds took for an item and rule staying the one that counts.
CREATE OR REPLACE FUNCTION lethe.propagate_seeds() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d integer := 0;
    n bigint;
BEGIN
    LOOP
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
        SELECT c.tenant_id, c.item_id, s.rule, s.obligation_id, s.triggered_at, d + 1,
               c.locator IS NOT NULL AND coalesce(k.customer_data, false)
          FROM seeds s
          JOIN lethe.items c ON c.tenant_id = s.tenant_id AND c.parent_id = s.item_id
          LEFT JOIN lethe.kinds k ON k.kind = c.kind
         WHERE s.depth = d
        ON CONFLICT DO NOTHING;
        EXIT WHEN NOT FOUND OR d + 1 >= lethe.lineage_max_depth();
        d := d + 1;
    END LOOP;
    -- A seed whose item was read when it was seeded says whether it is live Customer Data;
    -- only the others look their item up here, each by key (a subquery under the OR, so that
    -- the planner never makes it a join with every item of the catalog).
    INSERT INTO lethe.item_obligations (tenant_id, item_id, rule, obligation_id, triggered_at)
    SELECT s.tenant_id, s.item_id, s.rule, s.obligation_id, s.triggered_at
      FROM seeds s
     WHERE s.live
        OR (s.live IS NULL
            AND EXISTS (SELECT 1 FROM lethe.items i
                          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                         WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id
                           AND i.locator IS NOT NULL))
     ORDER BY s.tenant_id, s.item_id, s.rule, s.obligation_id
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    TRUNCATE seeds;
    RETURN n;
END $$;
