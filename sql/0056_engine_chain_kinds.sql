-- The engine chain and the tenants' chains hold the kinds SPEC §5 gives them, and the database
-- says so.
--
-- SPEC §5: "Engine-level records (runs, checkpoints) form their own chain under the nil UUID".
-- Nothing in the database held to it: a session of the engine could stage a run_started or an
-- operator_rerun record for any tenant and have audit_flush() append it to that tenant's chain
-- (audit_flush checks only that unsealed rows are of the kinds the engine stages itself), and a
-- producer could create a tenant whose id is the nil UUID, whose purges would then be appended
-- to the engine chain. Every writer of lethe's keeps them apart; now the tables do too:
-- - lethe.audit: the kinds of the engine chain (runs, reruns, batches, checkpoints) are on the
--   nil UUID's chain, and every other kind is on a tenant's;
-- - lethe.tenants: no tenant has the nil UUID.
--
-- A database that already holds a row against either (no version of lethe writes one) keeps
-- it: the constraint is added NOT VALID, so that it binds every row written from now on, and
-- the migration warns with the count. The audit is append-only; such a record stays as
-- evidence of what was written, and an auditor finds it with the query in the warning.

DO $kinds$
DECLARE
    v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
    v_bad bigint;
BEGIN
    SELECT count(*) INTO v_bad FROM lethe.audit a
     WHERE (a.tenant_id = v_nil) <> (a.kind IN ('run_started', 'run_finished', 'operator_rerun',
                                                 'batch_emitted', 'batch_acknowledged',
                                                 'batch_failed', 'checkpoint'));
    EXECUTE format(
        'ALTER TABLE lethe.audit ADD CONSTRAINT audit_engine_chain_kinds CHECK ('
        '(tenant_id = %L::uuid) = (kind IN (''run_started'', ''run_finished'', ''operator_rerun'','
        ' ''batch_emitted'', ''batch_acknowledged'', ''batch_failed'', ''checkpoint''))) %s',
        v_nil, CASE WHEN v_bad > 0 THEN 'NOT VALID' ELSE '' END);
    IF v_bad > 0 THEN
        RAISE WARNING 'lethe.audit holds % records of an engine kind on a tenant''s chain, or of a tenant''s kind on the engine chain: they stay, and no more can be appended', v_bad
            USING HINT = 'find them with: SELECT tenant_id, seq, kind, at FROM lethe.audit WHERE (tenant_id = ''00000000-0000-0000-0000-000000000000'') <> (kind IN (''run_started'', ''run_finished'', ''operator_rerun'', ''batch_emitted'', ''batch_acknowledged'', ''batch_failed'', ''checkpoint''))';
    END IF;

    SELECT count(*) INTO v_bad FROM lethe.tenants t WHERE t.tenant_id = v_nil;
    EXECUTE format('ALTER TABLE lethe.tenants ADD CONSTRAINT tenants_not_nil CHECK (tenant_id <> %L::uuid) %s',
                   v_nil, CASE WHEN v_bad > 0 THEN 'NOT VALID' ELSE '' END);
    IF v_bad > 0 THEN
        RAISE WARNING 'lethe.tenants has a tenant whose id is the nil UUID, the engine chain''s: its records would be appended to the engine chain, which now refuses them'
            USING HINT = 'the nil UUID names the engine chain (SPEC §5); give the tenant another id';
    END IF;
END $kinds$;
