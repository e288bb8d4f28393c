-- What an acknowledgement records, where it said more than the receipts and holds showed.
--
-- 1. A purge after the deadline is excused as "held past its deadline" only by a hold that was
-- still in effect after that deadline (SPEC §3, holds). ack_batch (sql/0019) took the item's
-- latest hold block, whatever had become of the hold since: an item blocked once by a hold
-- released weeks before its deadline, then purged late (a deleter that failed, runs that
-- stopped), was recorded with the hold's reference and detail 'held' and counted as held past
-- its deadline, not late, while its twin that was never held counted late. An auditor reads
-- "held" as "a hold kept it past the deadline": a hold released before the deadline kept
-- nothing past it. SPEC is silent on a hold placed only after the deadline (the item was
-- already overdue); like status, which counts an item under an active hold with its deadline
-- passed as held past its deadline, such a hold still counts.
--
-- 2. A repurge's receipts count (SPEC §4: only deleted or absent acknowledges an item; §7). The
-- items of a repurge batch (replay, reconcile) were purged before, so ack_batch left them out
-- of what it settles, and the batch came out acknowledged whatever its deleter said: a repurge
-- that the deleter failed, or never answered, was audited batch_acknowledged and recorded done
-- (its catalog row tombstoned again) with the object still in storage. Now such an item fails
-- as any other (item_failed, detail 'repurge'), fails the batch, and its repurge is recorded
-- failed, per item (repurges_settle below), for the next replay or reconcile.
--
-- tests/integration/review9.sh holds each case. The functions are as 0019 and 0009 wrote them
-- but for these conditions; they stay SECURITY DEFINER (migrate's lethe.harden() would restore
-- that anyway).
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
    n_repurge_failed integer := 0;
    lock_key integer;
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

    -- Acknowledgements that touch the same tenants take turns, taking their locks in one
    -- order, so that two of them never wait on each other's items (a deadlock), and each
    -- chooses its items below only once it has its turn, seeing what the other purged: a late
    -- acknowledgement of a failed batch and the acknowledgement of the batch that holds its
    -- items again, made at the same time, purged the items once but failed the second on the
    -- unique purge index.
    FOR lock_key IN SELECT DISTINCT hashtext(bi.tenant_id::text) FROM lethe.batch_items bi
                     WHERE bi.batch_id = p_batch ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(7283314, lock_key);
    END LOOP;

    -- A repurge (replay, reconcile: sql/0009_restore.sql) deletes again an item that was purged
    -- before, so its items are left out of ack_its below (each item is purged once), and its
    -- receipts settle the repurge instead: an item with no deleted or absent receipt, or with a
    -- failed one, fails like any other, with its item_failed record (detail 'repurge'), and
    -- fails the batch, so that repurges_settle records it failed and leaves its catalog row as
    -- it is, for the next replay or reconcile. (Before 0031 they were acknowledged whatever the
    -- deleter said, and the repurge recorded done.)
    IF EXISTS (SELECT 1 FROM lethe.repurges r WHERE r.batch_id = p_batch AND r.state = 'pending') THEN
        WITH f AS (
            UPDATE lethe.batch_items bi
               SET outcome = 'failed',
                   reason = coalesce(rc.reason, CASE WHEN p_whole_failed THEN p_detail ELSE 'no receipt' END)
              FROM lethe.repurges r
              LEFT JOIN ack_receipts rc ON rc.item_id = r.item_id
             WHERE r.batch_id = p_batch AND r.state = 'pending'
               AND bi.batch_id = p_batch AND bi.tenant_id = r.tenant_id AND bi.item_id = r.item_id
               AND bi.outcome IS NULL
               AND (coalesce(rc.failed, false) OR NOT (p_ack_rest OR coalesce(rc.acked, false)))
            RETURNING bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.triggered_at, bi.deadline_at)
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                                 triggered_at, deadline_at, location, operator, detail)
        SELECT f.tenant_id, 'item_failed', b.run_id, p_batch, f.item_id, f.rule, f.reference,
               f.triggered_at, f.deadline_at, b.location, p_operator, 'repurge'
          FROM f ORDER BY f.tenant_id, f.item_id;
        GET DIAGNOSTICS n_repurge_failed = ROW_COUNT;
        failed := failed + n_repurge_failed;
    END IF;

    -- The items this acknowledgement may settle: the open ones, or after a failure the failed
    -- ones (a late ack). Items purged through another batch meanwhile are left as they are:
    -- each item is purged, and audited, once.
    CREATE TEMP TABLE ack_its ON COMMIT DROP AS
    SELECT bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.subject_hmac, bi.triggered_at,
           bi.deadline_at, bi.outcome,
           NOT coalesce(r.failed, false) AND (p_ack_rest OR coalesce(r.acked, false)) AS acked,
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
        GET DIAGNOSTICS n_left = ROW_COUNT;
        failed := failed + n_left;
        DELETE FROM ack_its WHERE NOT acked;
    ELSIF EXISTS (SELECT 1 FROM ack_its a WHERE NOT a.acked) THEN
        DELETE FROM ack_its WHERE NOT acked;
    END IF;

    -- Another open batch holding one of these items gives it up. An item has one open batch
    -- item at most (batch_items_one_open), so only an item whose row here is closed already
    -- (a late acknowledgement after a failure) can be open in another batch.
    IF EXISTS (SELECT 1 FROM ack_its a WHERE a.outcome IS NOT NULL) THEN
        UPDATE lethe.batch_items x SET outcome = 'superseded'
          FROM ack_its a
         WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id AND x.outcome IS NULL
           AND x.batch_id <> p_batch AND a.outcome IS NOT NULL;
    END IF;
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
    -- reference, and counted as held (detail 'held'), not late. Only a hold still in effect
    -- after the deadline kept it past it (sql/0031_ack_evidence.sql).
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
                           JOIN lethe.holds y ON y.tenant_id = x.tenant_id AND y.hold_id = x.hold_id
                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id
                            AND (y.released_at IS NULL OR y.released_at > a.deadline_at)
                          ORDER BY x.blocked_at DESC LIMIT 1) hb ON true
      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id
     ORDER BY a.tenant_id, a.item_id;
    DROP TABLE ack_its, ack_receipts;

    SELECT count(*) INTO n_left FROM lethe.batch_items bi
     WHERE bi.batch_id = p_batch AND bi.outcome = 'failed'
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');
    n_left := n_left + n_repurge_failed;
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

-- A repurge is done when its item's receipt acknowledged it (its batch item still open when the
-- batch closed), and failed otherwise, whatever became of the rest of its batch: ack_batch now
-- fails the repurged items without an acknowledging receipt one by one, so a batch that failed
-- for one item no longer marks the others, which were deleted, failed (and leaves their
-- restored locators in the catalog). As sql/0009_restore.sql wrote it but for that condition.
CREATE OR REPLACE FUNCTION lethe.repurges_settle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_state text;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT b.state INTO v_state FROM lethe.batches b WHERE b.batch_id = NEW.batch_id;
    IF v_state = 'open' OR NOT EXISTS (SELECT 1 FROM lethe.repurges r
                                       WHERE r.batch_id = NEW.batch_id AND r.state = 'pending') THEN
        RETURN NULL;
    END IF;
    UPDATE lethe.repurges r
       SET state = CASE WHEN bi.outcome IS NULL THEN 'done' ELSE 'failed' END,
           settled_at = v_now, locator = NULL
      FROM lethe.batch_items bi
     WHERE r.batch_id = NEW.batch_id AND r.state = 'pending'
       AND bi.batch_id = r.batch_id AND bi.tenant_id = r.tenant_id AND bi.item_id = r.item_id;
    UPDATE lethe.batch_items bi SET outcome = 'superseded'
      FROM lethe.repurges r
     WHERE r.batch_id = NEW.batch_id AND r.settled_at = v_now AND r.state = 'done'
       AND bi.batch_id = r.batch_id AND bi.tenant_id = r.tenant_id AND bi.item_id = r.item_id
       AND bi.outcome IS NULL;
    UPDATE lethe.items i SET locator = NULL, owner_id = NULL
      FROM lethe.repurges r
     WHERE r.batch_id = NEW.batch_id AND r.settled_at = v_now AND r.state = 'done'
       AND i.tenant_id = r.tenant_id AND i.item_id = r.item_id AND i.locator IS NOT NULL;
    RETURN NULL;
END $$;
