-- The end of a run that a backup caught running, as the audit records it (lethe replay).
--
-- A backup taken while a run ran holds that run as running; its run_finished record comes back
-- with the exports. Replay ends the run's row as that record says (engine/dbrestore.c,
-- dbrestore_replay_runs_ended); left running, the next run found it dead and gave it a second
-- end (an outside tryout's finding). Replay runs as an operator's login with lethe_restorer,
-- and on Citus it reads the audit after replay_chains() appended to it as the owner: Citus
-- refuses, in one transaction, a read by one user of shards another user modified. So the
-- records are read here, as the owner, as restore_lost_note() does (sql/0105).
CREATE FUNCTION lethe.replay_run_ends(p_runs uuid[])
RETURNS TABLE (run_id uuid, at timestamptz, count bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT a.run_id, a.at, a.count, a.detail
      FROM lethe.audit a
     WHERE a.run_id = ANY (p_runs) AND a.tenant_id = '00000000-0000-0000-0000-000000000000'
       AND a.kind = 'run_finished'
       AND split_part(a.detail, ',', 1) IN ('succeeded', 'failed', 'interrupted', 'died')
$$;
REVOKE ALL ON FUNCTION lethe.replay_run_ends(uuid[]) FROM PUBLIC;

DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.replay_run_ends(uuid[]) TO lethe_engine;
    END IF;
END $grant$;

-- A batch open in the backup that was closed failed after it (a deleter's failure, or `lethe ack
-- --failed`): its batch_failed and item_failed records come back with the exports, its purged
-- items' purges through repurge_emit(), which closed only a batch every item of which was
-- purged. It stayed open: status listed it open, and the next run drove it again and closed it a
-- second time, after the replayed batch_failed (an outside tryout's finding). It is now closed
-- failed as its newest closing record says, its failed items failed as their records say
-- (a deleter's reason is not among them), once every item of it is settled. Called by replay after repurge_emit(), in its
-- transaction. Each step is a statement of its own (on Citus no statement that reads the
-- audit or batch_items, distributed, updates batches, a table of the coordinator). Returns the
-- batches closed.
CREATE FUNCTION lethe.replay_close_failed() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_open uuid[];
    v_failed uuid[];
    v_tenants uuid[];
    n integer;
BEGIN
    PERFORM lethe.definer_temp_guard();
    v_open := ARRAY(SELECT b.batch_id FROM lethe.batches b WHERE b.state = 'open');
    IF cardinality(v_open) = 0 THEN
        RETURN 0;
    END IF;
    DROP TABLE IF EXISTS replay_failed, replay_failed_items, replay_failed_unsettled;
    CREATE TEMP TABLE replay_failed ON COMMIT DROP AS
    SELECT c.batch_id, c.at, c.detail
      FROM (SELECT DISTINCT ON (a.batch_id) a.batch_id, a.kind, a.at, a.detail
              FROM lethe.audit a
             WHERE a.tenant_id = '00000000-0000-0000-0000-000000000000'
               AND a.kind IN ('batch_acknowledged', 'batch_failed') AND a.batch_id = ANY (v_open)
             ORDER BY a.batch_id, a.seq DESC) c
     WHERE c.kind = 'batch_failed';
    v_failed := ARRAY(SELECT f.batch_id FROM replay_failed f);
    IF cardinality(v_failed) = 0 THEN
        RETURN 0;
    END IF;
    v_tenants := ARRAY(SELECT DISTINCT bi.tenant_id FROM lethe.batch_items bi
                        WHERE bi.batch_id = ANY (v_failed) AND bi.outcome IS NULL);
    CREATE TEMP TABLE replay_failed_items ON COMMIT DROP AS
    SELECT DISTINCT ON (a.tenant_id, a.item_id, a.batch_id) a.tenant_id, a.item_id, a.batch_id,
           a.detail
      FROM lethe.audit a
     WHERE a.tenant_id = ANY (v_tenants) AND a.kind = 'item_failed' AND a.batch_id = ANY (v_failed)
     ORDER BY a.tenant_id, a.item_id, a.batch_id, a.seq DESC;
    -- A deleter's reason is free text, which the audit never holds (SPEC §4): it is said so.
    UPDATE lethe.batch_items bi
       SET outcome = 'failed',
           reason = coalesce(f.detail, 'failed after the backup; its reason is not in the audit')
      FROM replay_failed_items f
     WHERE bi.tenant_id = f.tenant_id AND bi.item_id = f.item_id AND bi.batch_id = f.batch_id
       AND bi.outcome IS NULL;
    CREATE TEMP TABLE replay_failed_unsettled ON COMMIT DROP AS
    SELECT DISTINCT bi.batch_id FROM lethe.batch_items bi
     WHERE bi.batch_id = ANY (v_failed) AND bi.outcome IS NULL;
    UPDATE lethe.batches x SET state = 'failed', closed_at = r.at, error = coalesce(x.error, r.detail)
      FROM replay_failed r
     WHERE x.batch_id = r.batch_id AND x.state = 'open'
       AND x.batch_id NOT IN (SELECT u.batch_id FROM replay_failed_unsettled u);
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE replay_failed, replay_failed_items, replay_failed_unsettled;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_close_failed() FROM PUBLIC;

DO $grant2$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.replay_close_failed() TO lethe_engine;
    END IF;
END $grant2$;
