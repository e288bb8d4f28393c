-- A late acknowledgement of a failed repurge batch settles its repurges (SPEC §4: a late ack of
-- an earlier attempt still counts, because the deletion happened; §7).
--
-- A repurge (replay, reconcile: sql/0009_restore.sql) deletes again an item purged before. Its
-- batch failed (the deleter said `failed`, or nothing, or exited non-zero), the repurge was
-- recorded failed (sql/0031_ack_evidence.sql), and nothing settled it after: ack_batch leaves a
-- repurge's items out of what a late acknowledgement purges (each was purged once already), yet
-- it closed the batch acknowledged and audited it so, with the repurge still failed (an outside
-- tryout's finding). A failed repurge of reconcile's
-- whose object the deleter did delete before it failed could then never be settled: reconcile
-- batches only what its inventory still lists, and `status --check` counted it for ever.
--
-- lethe.repurge_ack_late(): every failed repurge of a failed batch that no repurge batch took
-- again since is recorded done on the acknowledgement's word: their batch items superseded (as
-- a repurge done leaves them), their catalog rows tombstoned again, the batch acknowledged, its
-- record batch_acknowledged with the detail 'late' (and 'N batched again since' for the others).
-- No item record is written (the item's purge is recorded once, as for a repurge acknowledged in
-- time). All of them, so that the batch's record says which: `lethe ack` names none failed here
-- (a partial one would leave no record of which). One batched again since (a second replay or
-- reconcile) is left to that newer repurge: settling it here tombstoned the catalog row that a
-- replay's newer repurge takes its locator from, and that batch handed its deleter nothing.
-- When every one was batched again since, nothing changes (the batch stays failed, as a failed
-- batch whose items were all purged since does). `lethe ack` holds the run lock meanwhile, so
-- that no replay or reconcile batches them again under it. One statement per item: on Citus
-- the batch (a table of the coordinator) and its items (distributed) are never read in one
-- statement, and an item id may stand in two tenants. o_declared: how many of those settled a
-- receipt (or an ack's --failed) had said failed, rather than the engine for want of a receipt
-- (sql/0006's words, as dbcycle_batch_failed_by_deleter()). o_into: the batch that holds one of
-- the others again (an open one first, else the newest), and o_into_state its state.
-- The failed repurges of failed batch P_BATCH that no repurge batch took again since, recorded
-- done at P_AT: their batch items superseded (as a repurge done leaves them), their catalog rows
-- tombstoned again. o_declared: how many of them a receipt (or an ack's --failed) had said
-- failed, rather than the engine for want of a receipt (sql/0006's words, as
-- dbcycle_batch_failed_by_deleter()). One statement per item: on Citus the batch (a table of
-- the coordinator) and its items (distributed) are never read in one statement, and an item id
-- may stand in two tenants. Called by the two definers below alone.
CREATE FUNCTION lethe.repurges_settle_late(p_batch uuid, p_at timestamptz,
                                           OUT o_settled integer, OUT o_declared integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_tenants uuid[];
    v_items uuid[];
    v_reason text;
BEGIN
    o_settled := 0;
    o_declared := 0;
    -- (the newer repurge found as dbcycle_batch_repurges_failed() finds it)
    SELECT array_agg(r.tenant_id ORDER BY r.tenant_id, r.item_id),
           array_agg(r.item_id ORDER BY r.tenant_id, r.item_id)
      INTO v_tenants, v_items
      FROM lethe.repurges r
     WHERE r.batch_id = p_batch AND r.state = 'failed'
       AND NOT EXISTS (SELECT 1 FROM lethe.repurges x
                        WHERE x.tenant_id = r.tenant_id AND x.item_id = r.item_id
                          AND x.created_at > r.created_at);
    FOR i IN 1 .. coalesce(cardinality(v_items), 0) LOOP
        SELECT bi.reason INTO v_reason FROM lethe.batch_items bi
         WHERE bi.tenant_id = v_tenants[i] AND bi.item_id = v_items[i] AND bi.batch_id = p_batch;
        IF v_reason IS NOT NULL AND v_reason <> 'no receipt'
           AND v_reason !~ '^(timed out after [0-9]+s|exit status [0-9]+|killed by signal [0-9]+)$' THEN
            o_declared := o_declared + 1;
        END IF;
        UPDATE lethe.repurges r SET state = 'done', settled_at = p_at, locator = NULL
         WHERE r.tenant_id = v_tenants[i] AND r.item_id = v_items[i] AND r.batch_id = p_batch
           AND r.state = 'failed';
        UPDATE lethe.batch_items bi SET outcome = 'superseded', reason = NULL
         WHERE bi.tenant_id = v_tenants[i] AND bi.item_id = v_items[i] AND bi.batch_id = p_batch
           AND bi.outcome = 'failed';
        UPDATE lethe.items it SET locator = NULL, owner_id = NULL
         WHERE it.tenant_id = v_tenants[i] AND it.item_id = v_items[i] AND it.locator IS NOT NULL;
        o_settled := o_settled + 1;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION lethe.repurges_settle_late(uuid, timestamptz) FROM PUBLIC;

CREATE FUNCTION lethe.repurge_ack_late(p_batch uuid, p_operator text,
                                       OUT o_settled integer, OUT o_declared integer,
                                       OUT o_rebatched integer, OUT o_into uuid,
                                       OUT o_into_state text, OUT o_state text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    b lethe.batches;
    v_now timestamptz := clock_timestamp();
BEGIN
    PERFORM lethe.definer_temp_guard();
    o_settled := 0;
    o_declared := 0;
    o_rebatched := 0;
    SELECT * INTO b FROM lethe.batches x WHERE x.batch_id = p_batch FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown batch %', p_batch USING ERRCODE = 'no_data_found';
    END IF;
    o_state := b.state;
    IF b.state <> 'failed' THEN
        RETURN;
    END IF;
    SELECT count(*) INTO o_rebatched
      FROM lethe.repurges r
     WHERE r.batch_id = p_batch AND r.state = 'failed'
       AND EXISTS (SELECT 1 FROM lethe.repurges x
                    WHERE x.tenant_id = r.tenant_id AND x.item_id = r.item_id
                      AND x.created_at > r.created_at);
    IF o_rebatched > 0 THEN
        SELECT x.batch_id, x.state INTO o_into, o_into_state
          FROM lethe.repurges r
          JOIN lethe.repurges x ON x.tenant_id = r.tenant_id AND x.item_id = r.item_id
           AND x.created_at > r.created_at
         WHERE r.batch_id = p_batch AND r.state = 'failed'
         ORDER BY x.state = 'pending' DESC, x.created_at DESC, x.batch_id
         LIMIT 1;
    END IF;
    SELECT x.o_settled, x.o_declared INTO o_settled, o_declared
      FROM lethe.repurges_settle_late(p_batch, v_now) x;
    IF o_settled = 0 THEN
        RETURN;
    END IF;
    UPDATE lethe.batches x SET state = 'acknowledged', closed_at = v_now WHERE x.batch_id = p_batch;
    o_state := 'acknowledged';
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
    VALUES ('00000000-0000-0000-0000-000000000000', 'batch_acknowledged', b.run_id, p_batch,
            b.location, 0, p_operator,
            concat_ws(', ', 'late',
                      CASE WHEN o_rebatched > 0 THEN o_rebatched || ' batched again since' END));
END $$;
REVOKE ALL ON FUNCTION lethe.repurge_ack_late(uuid, text) FROM PUBLIC;

-- A late acknowledgement made after a backup comes back with the exports as its record alone
-- (batch_acknowledged, detail 'late': it writes no item record): replay, after
-- replay_close_batches(), settles as that record did the failed repurges of a batch failed in
-- the restored catalog whose newest closing record it is, at the record's time, and
-- acknowledges the batch. The batch stayed failed, its repurge counted failed by status --check
-- for good, and the only way out, acknowledging it again, wrote a second record (an outside
-- tryout's finding). Each step a statement of its own, as replay_close_batches()'s. Returns
-- the batches settled.
CREATE FUNCTION lethe.replay_repurges_late() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_failed uuid[];
    v_late uuid[];
    v_at timestamptz[];
    n integer := 0;
BEGIN
    PERFORM lethe.definer_temp_guard();
    v_failed := ARRAY(SELECT b.batch_id FROM lethe.batches b WHERE b.state = 'failed');
    IF cardinality(v_failed) = 0 THEN
        RETURN 0;
    END IF;
    v_failed := ARRAY(SELECT DISTINCT r.batch_id FROM lethe.repurges r
                       WHERE r.batch_id = ANY (v_failed) AND r.state = 'failed');
    IF cardinality(v_failed) = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(c.batch_id), array_agg(c.at) INTO v_late, v_at
      FROM (SELECT DISTINCT ON (a.batch_id) a.batch_id, a.kind, a.detail, a.at
              FROM lethe.audit a
             WHERE a.tenant_id = '00000000-0000-0000-0000-000000000000'
               AND a.kind IN ('batch_acknowledged', 'batch_failed') AND a.batch_id = ANY (v_failed)
             ORDER BY a.batch_id, a.seq DESC) c
     WHERE c.kind = 'batch_acknowledged' AND c.detail LIKE 'late%';
    FOR i IN 1 .. coalesce(cardinality(v_late), 0) LOOP
        PERFORM lethe.repurges_settle_late(v_late[i], v_at[i]);
        UPDATE lethe.batches x SET state = 'acknowledged', closed_at = v_at[i]
         WHERE x.batch_id = v_late[i] AND x.state = 'failed';
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_repurges_late() FROM PUBLIC;

DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.repurge_ack_late(uuid, text), lethe.replay_repurges_late()
            TO lethe_engine;
    END IF;
END $grant$;
