-- A late acknowledgement of a failed repurge batch settles its repurges (SPEC §4: a late ack of
-- an earlier attempt still counts, because the deletion happened; §7).
--
-- A repurge (replay, reconcile: sql/0009_restore.sql) deletes again an item purged before. Its
-- batch failed (the deleter said `failed`, or nothing, or exited non-zero), the repurge was
-- recorded failed (sql/0031_ack_evidence.sql), and nothing settled it after: ack_batch leaves a
-- repurge's items out of what a late acknowledgement purges (each was purged once already), yet
-- it closed the batch acknowledged and audited it so, with the repurge still failed (an outside
-- tryout's finding; `lethe ack` refused such a batch since). A failed repurge of reconcile's
-- whose object the deleter did delete before it failed could then never be settled: reconcile
-- batches only what its inventory still lists, and `status --check` counted it for ever.
--
-- lethe.repurge_ack_late(): the failed repurges of a failed batch, but those named failed again
-- (P_FAILED), are recorded done on the acknowledgement's word: their batch items superseded (as
-- a repurge done leaves them), their catalog rows tombstoned again. No item record is written
-- (the item's purge is recorded once, as for a repurge acknowledged in time); the batch's
-- record is batch_acknowledged with the detail 'late' (and 'N still failed' while some stay
-- failed), and the batch is acknowledged once none is left failed. One statement per item: on
-- Citus the batch (a table of the coordinator) and its items (distributed) are never read in
-- one statement, and an item id may stand in two tenants.
CREATE FUNCTION lethe.repurge_ack_late(p_batch uuid, p_failed uuid[], p_operator text,
                                       OUT settled integer, OUT still_failed integer,
                                       OUT state text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    b lethe.batches;
    v_now timestamptz := clock_timestamp();
    v_tenants uuid[];
    v_items uuid[];
BEGIN
    PERFORM lethe.definer_temp_guard();
    settled := 0;
    still_failed := 0;
    SELECT * INTO b FROM lethe.batches x WHERE x.batch_id = p_batch FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown batch %', p_batch USING ERRCODE = 'no_data_found';
    END IF;
    state := b.state;
    IF b.state <> 'failed' THEN
        RETURN;
    END IF;
    SELECT array_agg(r.tenant_id ORDER BY r.tenant_id, r.item_id),
           array_agg(r.item_id ORDER BY r.tenant_id, r.item_id)
      INTO v_tenants, v_items
      FROM lethe.repurges r
     WHERE r.batch_id = p_batch AND r.state = 'failed'
       AND NOT (r.item_id = ANY (coalesce(p_failed, '{}')));
    FOR i IN 1 .. coalesce(cardinality(v_items), 0) LOOP
        UPDATE lethe.repurges r SET state = 'done', settled_at = v_now, locator = NULL
         WHERE r.tenant_id = v_tenants[i] AND r.item_id = v_items[i] AND r.batch_id = p_batch
           AND r.state = 'failed';
        UPDATE lethe.batch_items bi SET outcome = 'superseded', reason = NULL
         WHERE bi.tenant_id = v_tenants[i] AND bi.item_id = v_items[i] AND bi.batch_id = p_batch
           AND bi.outcome = 'failed';
        UPDATE lethe.items it SET locator = NULL, owner_id = NULL
         WHERE it.tenant_id = v_tenants[i] AND it.item_id = v_items[i] AND it.locator IS NOT NULL;
        settled := settled + 1;
    END LOOP;
    IF settled = 0 THEN
        RETURN;
    END IF;
    SELECT count(*) INTO still_failed FROM lethe.repurges r
     WHERE r.batch_id = p_batch AND r.state = 'failed';
    IF still_failed = 0 THEN
        UPDATE lethe.batches x SET state = 'acknowledged', closed_at = v_now
         WHERE x.batch_id = p_batch;
        state := 'acknowledged';
    END IF;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
    VALUES ('00000000-0000-0000-0000-000000000000', 'batch_acknowledged', b.run_id, p_batch,
            b.location, 0, p_operator,
            concat_ws(', ', 'late', CASE WHEN still_failed > 0 THEN still_failed || ' still failed' END));
END $$;
REVOKE ALL ON FUNCTION lethe.repurge_ack_late(uuid, uuid[], text) FROM PUBLIC;

DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.repurge_ack_late(uuid, uuid[], text) TO lethe_engine;
    END IF;
END $grant$;
