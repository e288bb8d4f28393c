-- The checkpoint's heads found by key (issue 14, shape 6: the idle run at 10M items).
--
-- audit_checkpoint (sql/0003_audit.sql) listed the heads of the engine chain and of the chains
-- holding a record of the run in one condition joined by OR, which no index answers: every run
-- read every chain head. At 10M items (33,334 heads, 1,487 pages after the cycles' updates) that
-- took 8-28 ms of an idle run that appended to one chain. The two parts are now asked apart,
-- each through its index (audit_heads_pkey; the run's records through audit_run): 0.6 ms warm
-- for the idle run; for the cycle's checkpoint (467,087 records of the run) the same 120 ms as
-- before. The detail is the same text (compared on the last runs at 10M). (migrate's lethe.harden() makes it SECURITY DEFINER again, as every engine writer.)
CREATE OR REPLACE FUNCTION lethe.audit_checkpoint(p_run_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
    v_detail text;
BEGIN
    IF p_run_id IS NULL THEN
        RAISE EXCEPTION 'audit: a checkpoint needs a run id' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Anything the caller staged belongs before the checkpoint that sums it up.
    PERFORM lethe.audit_flush();
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_nil, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM lethe.audit_heads WHERE tenant_id = v_nil FOR UPDATE;
    SELECT string_agg(h.tenant_id::text || '=' || h.hash, ' ' ORDER BY h.tenant_id) INTO v_detail
      FROM (SELECT h.tenant_id, h.hash FROM lethe.audit_heads h WHERE h.tenant_id = v_nil
            UNION ALL
            SELECT h.tenant_id, h.hash FROM lethe.audit_heads h
             WHERE h.tenant_id <> v_nil
               AND h.tenant_id IN (SELECT a.tenant_id FROM lethe.audit a WHERE a.run_id = p_run_id)) h;
    INSERT INTO pg_temp.audit_stage (tenant_id, kind, run_id, detail)
    VALUES (v_nil, 'checkpoint', p_run_id, v_detail);
    PERFORM lethe.audit_flush();
    RETURN v_detail;
END $$;
