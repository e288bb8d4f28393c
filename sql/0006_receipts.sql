-- Receipts (SPEC §4): only a "deleted" or "absent" receipt acknowledges an item; an item
-- without one fails ("no receipt"), and a batch that is not wholly purged ends failed. Runs
-- count failed batches as well as failed items.

ALTER TABLE lethe.runs ADD COLUMN failed_batches integer NOT NULL DEFAULT 0;

DROP FUNCTION lethe.ack_batch(uuid, uuid[], text[], boolean, text, text);

-- Acknowledges a batch, in the caller's transaction, with its audit records staged.
-- p_acked: items with a deleted/absent receipt; p_failed/p_reasons: items with a failed
-- receipt (reasons are cleaned free text, kept on the batch item, never audited). p_ack_rest
-- (an operator's `lethe ack`) acknowledges every item not in p_failed. Any other item of the
-- batch fails: with p_detail when the executor failed as a whole (p_whole_failed), else with
-- "no receipt". Receipts for items outside the batch are counted as foreign and change
-- nothing. A late acknowledgement of a failed batch still purges what it names, since the
-- deletion happened; an open batch holding the same items gives them up. Idempotent.
-- The batch ends 'acknowledged' when every item is purged, else 'failed'.
CREATE FUNCTION lethe.ack_batch(p_batch uuid, p_acked uuid[], p_failed uuid[], p_reasons text[],
                                p_ack_rest boolean, p_whole_failed boolean, p_detail text,
                                p_operator text,
                                OUT purged integer, OUT failed integer, OUT foreign_receipts integer,
                                OUT state text)
LANGUAGE plpgsql AS $$
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
    SELECT count(*) INTO foreign_receipts
      FROM (SELECT unnest(coalesce(p_acked, '{}')) UNION SELECT unnest(coalesce(p_failed, '{}'))) r(item_id)
     WHERE NOT EXISTS (SELECT 1 FROM lethe.batch_items bi
                        WHERE bi.batch_id = p_batch AND bi.item_id = r.item_id);
    state := b.state;
    IF b.state = 'acknowledged' THEN
        RETURN;
    END IF;
    was_open := b.state = 'open';

    -- The items this acknowledgement may settle: the open ones, or after a failure the failed
    -- ones (a late ack). Items purged through another batch meanwhile are left as they are:
    -- each item is purged, and audited, once.
    CREATE TEMP TABLE ack_its ON COMMIT DROP AS
    SELECT bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.subject_hmac, bi.triggered_at,
           bi.deadline_at, bi.outcome,
           (p_ack_rest AND NOT bi.item_id = ANY (coalesce(p_failed, '{}')))
             OR bi.item_id = ANY (coalesce(p_acked, '{}')) AS acked
      FROM lethe.batch_items bi
     WHERE bi.batch_id = p_batch
       AND (bi.outcome IS NULL OR (NOT was_open AND bi.outcome = 'failed'))
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');

    -- Open items without an acknowledging receipt fail, and are due again at the next run.
    WITH f AS (
        UPDATE lethe.batch_items bi
           SET outcome = 'failed',
               reason = coalesce((SELECT x.reason FROM unnest(p_failed, p_reasons) AS x(item_id, reason)
                                   WHERE x.item_id = bi.item_id LIMIT 1),
                                 CASE WHEN p_whole_failed THEN p_detail ELSE 'no receipt' END)
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
    DROP TABLE ack_its;

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

-- The run lock (SPEC §4). A run over the whole catalog holds (7283310, 0) exclusively; a shard
-- run holds it shared, (7283311, N * 65536 + K) exclusively and (7283312, N) shared. Shard
-- runs of different N could overlap, so one is refused while another N is held; the check
-- and the taking are serialised by a transaction lock, so two of them cannot both pass it.
CREATE FUNCTION lethe.run_lock(p_k integer, p_n integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_n = 0 THEN
        RETURN pg_try_advisory_lock(7283310, 0);
    END IF;
    PERFORM pg_advisory_xact_lock(7283313, 0);
    IF NOT pg_try_advisory_lock_shared(7283310, 0) THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
                  AND l.classid = 7283312::oid AND l.objsubid = 2 AND l.objid <> p_n::oid)
       OR NOT pg_try_advisory_lock(7283311, p_n * 65536 + p_k) THEN
        PERFORM pg_advisory_unlock_shared(7283310, 0);
        RETURN false;
    END IF;
    PERFORM pg_advisory_lock_shared(7283312, p_n);
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION lethe.run_lock(integer, integer) FROM PUBLIC;
