-- The runs and batches a backup caught under way, as the audit records their ends (lethe replay).
--
-- A backup taken while a run ran holds that run as running; its run_finished record comes back
-- with the exports. Replay ends the run's row as that record says: its outcome, end time and
-- counts, from the record's words (dbcycle_run_finished, dbcycle_run_started,
-- dbrestore_run_end: the outcome first, then "due N, batches N, failed items N, failed batches N,
-- held N, events N", a died run's "found dead by run R"). Left running, the next run found it
-- dead and gave it a second end (an outside tryout's finding). Replay runs as an operator's
-- login with lethe_restorer, and on Citus it reads the audit after replay_chains() appended to
-- it as the owner: Citus refuses, in one transaction, a read by one user of shards another user
-- modified. So the records are read here, as the owner, as restore_lost_note() does (sql/0105);
-- and through a temporary table, since on Citus no statement that reads the audit
-- (distributed) updates runs (a table of the coordinator). Returns the runs ended.
CREATE FUNCTION lethe.replay_end_runs() RETURNS TABLE (o_run uuid, o_outcome text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_running uuid[];
BEGIN
    PERFORM lethe.definer_temp_guard();
    v_running := ARRAY(SELECT r.run_id FROM lethe.runs r WHERE r.outcome = 'running');
    IF cardinality(v_running) = 0 THEN
        RETURN;
    END IF;
    DROP TABLE IF EXISTS replay_run_ends;
    CREATE TEMP TABLE replay_run_ends ON COMMIT DROP AS
    SELECT a.run_id, a.at, a.count, a.detail
      FROM lethe.audit a
     WHERE a.run_id = ANY (v_running) AND a.tenant_id = '00000000-0000-0000-0000-000000000000'
       AND a.kind = 'run_finished'
       AND split_part(a.detail, ',', 1) IN ('succeeded', 'failed', 'interrupted', 'died');
    FOR o_run, o_outcome IN
        UPDATE lethe.runs u
           SET outcome = split_part(e.detail, ',', 1), finished_at = e.at,
               purged = coalesce(e.count::integer, u.purged),
               items_due = coalesce(substring(e.detail FROM '(?:^|, )due ([0-9]+)')::integer,
                                    u.items_due),
               batches = coalesce(substring(e.detail FROM '(?:^|, )batches ([0-9]+)')::integer,
                                  u.batches),
               failed = coalesce(substring(e.detail FROM ', failed items ([0-9]+)')::integer,
                                 u.failed),
               failed_batches = coalesce(substring(e.detail FROM ', failed batches ([0-9]+)')
                                         ::integer, u.failed_batches),
               held = coalesce(substring(e.detail FROM ', held ([0-9]+)')::integer, u.held),
               events = coalesce(substring(e.detail FROM ', events ([0-9]+)')::integer, u.events),
               error = coalesce(u.error, substring(e.detail FROM 'found dead by run .*'))
          FROM replay_run_ends e
         WHERE u.run_id = e.run_id AND u.outcome = 'running'
        RETURNING u.run_id, u.outcome
    LOOP
        RETURN NEXT;
    END LOOP;
    DROP TABLE replay_run_ends;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_end_runs() FROM PUBLIC;

-- A batch open in the backup and closed after it: its closing record (batch_acknowledged or
-- batch_failed, the newest) and its items' item_failed records come back with the exports, its
-- purged items' purges through repurge_emit(), which closed only a batch every item of which was
-- purged. A batch closed failed, and a repurge batch (whose items were purged before, so that
-- its acknowledgement writes no item record), stayed open: status listed it, and the next run
-- drove it again and closed it a second time (outside tryouts' findings). Each is now closed as
-- its newest closing record says, once every item of it is settled, failed by a record, or a
-- repurge pending in it (which the batches' trigger, lethe.repurges_settle, settles as the
-- state changes: done, or failed for an item failed); its failed items fail as their records
-- say (a deleter's reason is not among them, SPEC §4). Called by replay after repurge_emit(),
-- in its transaction. Each step is a statement of its own (on Citus no statement that reads
-- the audit or batch_items, distributed, updates batches, a table of the coordinator, and no
-- subquery is correlated with a temporary table). Returns the batches closed.
CREATE FUNCTION lethe.replay_close_batches() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_open uuid[];
    v_closing uuid[];
    v_tenants uuid[];
    n integer;
BEGIN
    PERFORM lethe.definer_temp_guard();
    v_open := ARRAY(SELECT b.batch_id FROM lethe.batches b WHERE b.state = 'open');
    IF cardinality(v_open) = 0 THEN
        RETURN 0;
    END IF;
    DROP TABLE IF EXISTS replay_closing, replay_closing_failed, replay_closing_unsettled;
    CREATE TEMP TABLE replay_closing ON COMMIT DROP AS
    SELECT DISTINCT ON (a.batch_id) a.batch_id, a.kind, a.at, a.detail
      FROM lethe.audit a
     WHERE a.tenant_id = '00000000-0000-0000-0000-000000000000'
       AND a.kind IN ('batch_acknowledged', 'batch_failed') AND a.batch_id = ANY (v_open)
     ORDER BY a.batch_id, a.seq DESC;
    v_closing := ARRAY(SELECT c.batch_id FROM replay_closing c);
    IF cardinality(v_closing) = 0 THEN
        RETURN 0;
    END IF;
    -- the items still unsettled, a pending repurge of the batch aside
    CREATE TEMP TABLE replay_closing_unsettled ON COMMIT DROP AS
    SELECT bi.batch_id, bi.tenant_id, bi.item_id FROM lethe.batch_items bi
     WHERE bi.batch_id = ANY (v_closing) AND bi.outcome IS NULL
       AND NOT EXISTS (SELECT 1 FROM lethe.repurges r
                        WHERE r.tenant_id = bi.tenant_id AND r.item_id = bi.item_id
                          AND r.batch_id = bi.batch_id AND r.state = 'pending');
    v_tenants := ARRAY(SELECT DISTINCT u.tenant_id FROM replay_closing_unsettled u);
    CREATE TEMP TABLE replay_closing_failed ON COMMIT DROP AS
    SELECT DISTINCT ON (a.tenant_id, a.item_id, a.batch_id) a.tenant_id, a.item_id, a.batch_id,
           a.detail
      FROM lethe.audit a
     WHERE a.tenant_id = ANY (v_tenants) AND a.kind = 'item_failed' AND a.batch_id = ANY (v_closing)
     ORDER BY a.tenant_id, a.item_id, a.batch_id, a.seq DESC;
    -- a batch with an item neither settled, failed by a record nor a pending repurge waits
    DELETE FROM replay_closing c
     WHERE c.batch_id IN (SELECT u.batch_id FROM replay_closing_unsettled u
                           WHERE NOT EXISTS (SELECT 1 FROM replay_closing_failed f
                                              WHERE f.tenant_id = u.tenant_id
                                                AND f.item_id = u.item_id
                                                AND f.batch_id = u.batch_id));
    v_closing := ARRAY(SELECT c.batch_id FROM replay_closing c);
    IF cardinality(v_closing) = 0 THEN
        RETURN 0;
    END IF;
    UPDATE lethe.batch_items bi
       SET outcome = 'failed',
           reason = coalesce(f.detail, 'failed after the backup; its reason is not in the audit')
      FROM replay_closing_failed f
     WHERE bi.tenant_id = f.tenant_id AND bi.item_id = f.item_id AND bi.batch_id = f.batch_id
       AND bi.batch_id = ANY (v_closing) AND bi.outcome IS NULL;
    UPDATE lethe.batches x
       SET state = CASE c.kind WHEN 'batch_failed' THEN 'failed' ELSE 'acknowledged' END,
           closed_at = c.at,
           error = CASE c.kind WHEN 'batch_failed' THEN coalesce(x.error, c.detail) ELSE x.error END
      FROM replay_closing c
     WHERE x.batch_id = c.batch_id AND x.state = 'open';
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE replay_closing, replay_closing_failed, replay_closing_unsettled;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_close_batches() FROM PUBLIC;

-- Replay runs as an operator's login: roles.sql gives the engine EXECUTE on every function when
-- it runs again.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.replay_end_runs(), lethe.replay_close_batches()
            TO lethe_engine;
    END IF;
END $grant$;
