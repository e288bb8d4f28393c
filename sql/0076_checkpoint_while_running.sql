-- A run's checkpoint names every chain the run touched, the records it made without its own
-- run id included.
--
-- SPEC §5: "a checkpoint at the end of each run holding the head of every chain the run
-- touched". lethe.audit_checkpoint() found those chains by the records carrying the run's id.
-- Two kinds of record a run makes carry another: the withdrawals a run records
-- (obligation_withdrawn, made in a transaction of their own since sql/0069, with no run id),
-- and the purges of a late acknowledgement or of a rerun of an older batch (item_purged,
-- batch_acknowledged: the batch's run). Two outside tryouts found the chain of such a record
-- in the run's anchor line but in no checkpoint: a tenant's chain cut just before its
-- obligation_withdrawn record verified with the engine chain's head alone (--expect-head), which
-- the README says will do.
--
-- The checkpoint now names, besides the run's own records' chains, every chain with a record
-- stamped since the run started (audit.at, by the audit_at index): the records the run made
-- whatever run id they carry, and any other session's made meanwhile (another shard's run, an
-- operator's hold). Each lies after the run's start, so an export that holds the run's start
-- and its checkpoint holds them too (which is what verify takes a checkpoint's heads to mean).
-- A record made between two runs (a hold, a request, an ack by hand) lies before the next
-- run's start: the anchor line of that run names it, as before; no checkpoint does.

CREATE OR REPLACE FUNCTION lethe.audit_checkpoint(p_run_id uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = lethe, pg_catalog, pg_temp
AS $$
DECLARE
    v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
    v_detail text;
    v_since timestamptz;
BEGIN
    IF p_run_id IS NULL THEN
        RAISE EXCEPTION 'audit: a checkpoint needs a run id' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Anything the caller staged belongs before the checkpoint that sums it up.
    IF to_regclass('pg_temp.audit_stage') IS NOT NULL THEN
        PERFORM lethe.definer_temp_guard();
        PERFORM lethe.audit_flush();
    END IF;
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_nil, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM lethe.audit_heads WHERE tenant_id = v_nil FOR UPDATE;
    -- The run's start: its records, whatever run id they carry, are stamped since (a caller
    -- without a run record is looked for by its run id alone).
    SELECT r.started_at INTO v_since FROM lethe.runs r WHERE r.run_id = p_run_id;
    SELECT string_agg(h.tenant_id::text || '=' || h.hash, ' ' ORDER BY h.tenant_id) INTO v_detail
      FROM (SELECT h.tenant_id, h.hash FROM lethe.audit_heads h WHERE h.tenant_id = v_nil
            UNION ALL
            SELECT h.tenant_id, h.hash FROM lethe.audit_heads h
             WHERE h.tenant_id <> v_nil
               AND h.tenant_id IN (SELECT a.tenant_id FROM lethe.audit a
                                    WHERE a.at >= coalesce(v_since, 'infinity')
                                       OR (v_since IS NULL AND a.run_id = p_run_id))) h;
    PERFORM lethe.audit_append_one('checkpoint', p_run_id, NULL, NULL, v_detail);
    RETURN v_detail;
END $$;
