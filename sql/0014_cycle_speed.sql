-- Speed of the cycle shapes (issue 14): the acknowledgement and the derivation, set-based and
-- independent of the planner's guesses about tables written a moment before. Nothing they
-- decide changes: the same items are purged, failed, superseded and audited, in the same order.
-- Must not redefine due_items, emit_batches, standing, lineage, ancestors, pending_items or
-- derive_consume, nor any trigger.

-- ---- acknowledgement --------------------------------------------------------------------

-- As sql/0006_receipts.sql wrote it, with three costs taken out:
-- - the batch's items are matched with the receipts by a join (each receipt list read once),
--   not by `= ANY (array)` per item, and a failed item's reason is looked up the same way;
-- - ack_its is analyzed, and the batch's items are read through it: the batch was written in
--   this run, so the statistics of batch_items know nothing of it, and the planner, told the
--   batch had one item, joined it to ack_its in a nested loop over both (3,000 x 3,000 rows in
--   870 ms for a batch of 3,000; 12 s for 10,000);
-- - the batch's failed items are looked for only when there are any.
CREATE OR REPLACE FUNCTION lethe.ack_batch(p_batch uuid, p_acked uuid[], p_failed uuid[], p_reasons text[],
                                p_ack_rest boolean, p_whole_failed boolean, p_detail text,
                                p_operator text,
                                OUT purged integer, OUT failed integer, OUT foreign_receipts integer,
                                OUT state text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    b lethe.batches;
    was_open boolean;
    purge_time timestamptz;
    n_left integer;
BEGIN
    purged := 0;
    failed := 0;
    SELECT * INTO b FROM lethe.batches x WHERE x.batch_id = p_batch FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown batch %', p_batch USING ERRCODE = 'no_data_found';
    END IF;
    -- The receipts, each item once: acked, or failed with the first reason given for it.
    CREATE TEMP TABLE ack_receipts ON COMMIT DROP AS
    SELECT coalesce(f.item_id, a.item_id) AS item_id, f.item_id IS NOT NULL AS failed,
           a.item_id IS NOT NULL AS acked, f.reason
      FROM (SELECT DISTINCT x.item_id FROM unnest(coalesce(p_acked, '{}')) x(item_id)) a
      FULL JOIN (SELECT DISTINCT ON (x.item_id) x.item_id, x.reason
                   FROM unnest(coalesce(p_failed, '{}'), p_reasons) WITH ORDINALITY x(item_id, reason, n)
                  WHERE x.item_id IS NOT NULL
                  ORDER BY x.item_id, x.n) f ON f.item_id = a.item_id;
    ANALYZE ack_receipts;
    SELECT count(*) INTO foreign_receipts
      FROM ack_receipts r
     WHERE NOT EXISTS (SELECT 1 FROM lethe.batch_items bi
                        WHERE bi.batch_id = p_batch AND bi.item_id = r.item_id);
    state := b.state;
    IF b.state = 'acknowledged' THEN
        DROP TABLE ack_receipts;
        RETURN;
    END IF;
    was_open := b.state = 'open';

    -- The items this acknowledgement may settle: the open ones, or after a failure the failed
    -- ones (a late ack). Items purged through another batch meanwhile are left as they are:
    -- each item is purged, and audited, once.
    CREATE TEMP TABLE ack_its ON COMMIT DROP AS
    SELECT bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.subject_hmac, bi.triggered_at,
           bi.deadline_at, bi.outcome,
           (p_ack_rest AND NOT coalesce(r.failed, false)) OR coalesce(r.acked, false) AS acked,
           r.reason
      FROM lethe.batch_items bi
      LEFT JOIN ack_receipts r ON r.item_id = bi.item_id
     WHERE bi.batch_id = p_batch
       AND (bi.outcome IS NULL OR (NOT was_open AND bi.outcome = 'failed'))
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');
    ALTER TABLE ack_its ADD PRIMARY KEY (tenant_id, item_id);
    ANALYZE ack_its;

    -- Open items without an acknowledging receipt fail, and are due again at the next run.
    IF EXISTS (SELECT 1 FROM ack_its a WHERE a.outcome IS NULL AND NOT a.acked) THEN
        WITH f AS (
            UPDATE lethe.batch_items bi
               SET outcome = 'failed',
                   reason = coalesce(a.reason, CASE WHEN p_whole_failed THEN p_detail ELSE 'no receipt' END)
              FROM ack_its a
             WHERE bi.batch_id = p_batch AND bi.tenant_id = a.tenant_id AND bi.item_id = a.item_id
               AND a.outcome IS NULL AND NOT a.acked
            RETURNING bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.triggered_at, bi.deadline_at)
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                                 triggered_at, deadline_at, location, operator)
        SELECT f.tenant_id, 'item_failed', b.run_id, p_batch, f.item_id, f.rule, f.reference,
               f.triggered_at, f.deadline_at, b.location, p_operator
          FROM f ORDER BY f.tenant_id, f.item_id;
        GET DIAGNOSTICS failed = ROW_COUNT;
        DELETE FROM ack_its WHERE NOT acked;
    ELSIF EXISTS (SELECT 1 FROM ack_its a WHERE NOT a.acked) THEN
        DELETE FROM ack_its WHERE NOT acked;
    END IF;

    -- Another open batch holding one of these items gives it up.
    UPDATE lethe.batch_items x SET outcome = 'superseded'
      FROM ack_its a
     WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id AND x.outcome IS NULL
       AND x.batch_id <> p_batch;
    purge_time := clock_timestamp();
    UPDATE lethe.items i SET locator = NULL, owner_id = NULL
      FROM ack_its a WHERE i.tenant_id = a.tenant_id AND i.item_id = a.item_id;
    UPDATE lethe.batch_items bi SET outcome = 'purged', purged_at = purge_time, reason = NULL
      FROM ack_its a
     WHERE bi.batch_id = p_batch AND bi.tenant_id = a.tenant_id AND bi.item_id = a.item_id;
    GET DIAGNOSTICS purged = ROW_COUNT;
    DELETE FROM lethe.item_obligations p USING ack_its a
     WHERE p.tenant_id = a.tenant_id AND p.item_id = a.item_id;
    -- An item held past its deadline is recorded with on_time = false and the hold's
    -- reference, and counted as held (detail 'held'), not late.
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                             triggered_at, deadline_at, purged_at, on_time, location,
                             hold_id, subject_hmac, operator, detail)
    SELECT a.tenant_id, 'item_purged', b.run_id, p_batch, a.item_id, a.rule,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN h.reference
                ELSE a.reference END,
           a.triggered_at, a.deadline_at, purge_time, purge_time <= a.deadline_at, b.location,
           CASE WHEN purge_time > a.deadline_at THEN hb.hold_id END,
           a.subject_hmac, p_operator,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN 'held' END
      FROM ack_its a
      LEFT JOIN LATERAL (SELECT x.hold_id FROM lethe.hold_blocks x
                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id
                          ORDER BY x.blocked_at DESC LIMIT 1) hb ON true
      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id
     ORDER BY a.tenant_id, a.item_id;
    DROP TABLE ack_its, ack_receipts;

    SELECT count(*) INTO n_left FROM lethe.batch_items bi
     WHERE bi.batch_id = p_batch AND bi.outcome = 'failed'
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');
    state := CASE WHEN n_left = 0 THEN 'acknowledged' ELSE 'failed' END;
    IF state = b.state AND purged = 0 AND failed = 0 THEN
        RETURN;   -- a retry that settles nothing new records nothing
    END IF;
    UPDATE lethe.batches x
       SET state = ack_batch.state, closed_at = clock_timestamp(),
           error = CASE WHEN p_whole_failed THEN p_detail ELSE x.error END
     WHERE x.batch_id = p_batch;
    IF state = 'acknowledged' OR NOT was_open THEN
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
        VALUES ('00000000-0000-0000-0000-000000000000', 'batch_acknowledged', b.run_id, p_batch,
                b.location, purged, p_operator,
                nullif(concat_ws(', ', CASE WHEN NOT was_open THEN 'late' END,
                                 CASE WHEN n_left > 0 THEN n_left || ' still failed' END), ''));
    ELSE
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
        VALUES ('00000000-0000-0000-0000-000000000000', 'batch_failed', b.run_id, p_batch,
                b.location, failed, p_operator,
                CASE WHEN p_whole_failed THEN p_detail
                     ELSE failed || ' of ' || b.items || ' items failed' END);
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text) FROM PUBLIC;

-- ---- derivation -------------------------------------------------------------------------

-- As sql/0007_lineage.sql wrote it, except that the new items of a tenant with no history
-- (every obligation due now and unexpanded, no shared item, no batch item) are not evaluated
-- through lineage(): the expansion of the obligations due now seeds the same rows for them.
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
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT x.tenant_id, x.item_id, x.rule, x.obligation_id, x.triggered_at, 0
      FROM (
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
         WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL  -- the subject's purged items: their copies follow them
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i
            ON i.tenant_id = t.tenant_id AND i.owner_digest = t.subject_digest
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.owner_id IS NULL
           AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, t.rule, t.obligation_id, t.triggered_at
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
    -- longest the lookahead can be, then checked exactly.
    SELECT r.*, s.lookahead INTO sr FROM lethe.rules r CROSS JOIN lethe.settings s
     WHERE r.rule = 'shared_retention';
    IF sr.enabled THEN
        bound := p_as_of - greatest(interval '0', least(lethe.interval_floor(sr.grace),
                                                        lethe.interval_floor(sr.deadline)
                                                        - lethe.interval_ceil(sr.lookahead)));
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
        SELECT i.tenant_id, i.item_id, 'shared_retention', 0, i.created_at, 0
          FROM lethe.items i
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE i.shared AND i.locator IS NOT NULL AND i.created_at <= bound
           AND lethe.in_shard(i.tenant_id, p_k, p_n)
           AND lethe.due_time(i.created_at, sr.deadline, sr.grace, sr.lookahead) <= p_as_of
           AND NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id
                              AND p.rule = 'shared_retention' AND p.obligation_id = 0)
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
