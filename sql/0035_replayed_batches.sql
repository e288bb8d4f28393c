-- A batch open at the backup and acknowledged after it, replayed (SPEC §7).
--
-- lethe replay appended the batch's batch_acknowledged record and its items' item_purged
-- records, and repurge_emit gave the items their purges back (batch_items purged) and put them
-- in a repurge batch; but the batch itself stayed open as the backup had it. status listed it
-- open, and a receipt that came again (a deleter's retry, or lethe ack) acknowledged it a
-- second time: a second batch_acknowledged record, with a count of 0, for a batch the audit
-- already shows acknowledged. repurge_emit now closes such a batch as the replayed record
-- closed it. (The function as 0019 wrote it, SECURITY DEFINER as 0032 made it, with that step.)

CREATE OR REPLACE FUNCTION lethe.repurge_emit(p_run uuid, p_operator text, p_max integer)
RETURNS TABLE (batch_id uuid, location text, items integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    CREATE TEMP TABLE repurge_facts ON COMMIT DROP AS
    SELECT c.*,
           coalesce((SELECT o.obligation_id FROM lethe.obligations o
                      WHERE o.tenant_id = c.tenant_id AND o.rule = c.rule
                        AND o.triggered_at = c.triggered_at
                        AND o.reference IS NOT DISTINCT FROM c.reference
                      ORDER BY o.obligation_id LIMIT 1), 0) AS obligation_id,
           coalesce(lethe.due_time(c.triggered_at, r.deadline, r.grace, s.lookahead), c.triggered_at)
               AS due_at,
           NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = c.tenant_id AND x.item_id = c.item_id
                          AND x.outcome = 'purged') AS purge_missing
      FROM repurge_candidates c
      LEFT JOIN lethe.rules r ON r.rule = c.rule
      CROSS JOIN lethe.settings s;

    INSERT INTO lethe.batches (batch_id, run_id, location, created_at, items, state, closed_at)
    SELECT f.purged_in, p_run, min(f.location), min(f.purged_at), count(*)::integer,
           'acknowledged', max(f.purged_at)
      FROM repurge_facts f WHERE f.purge_missing AND f.purged_in IS NOT NULL
     GROUP BY f.purged_in
    ON CONFLICT ON CONSTRAINT batches_pkey DO NOTHING;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at,
                                   outcome, purged_at)
    SELECT f.tenant_id, f.item_id, f.purged_in,
           (row_number() OVER (PARTITION BY f.purged_in ORDER BY f.tenant_id, f.item_id))::integer - 1,
           f.location, f.rule, f.obligation_id, f.reference, f.subject_hmac, f.triggered_at,
           f.due_at, f.deadline_at, 'purged', f.purged_at
      FROM repurge_facts f WHERE f.purge_missing AND f.purged_in IS NOT NULL
    ON CONFLICT ON CONSTRAINT batch_items_pkey
    DO UPDATE SET outcome = 'purged', purged_at = EXCLUDED.purged_at, reason = NULL;

    -- The repurge batch is now the one that deletes these items; any other open batch gives
    -- them up. Their obligations are spent: the items were purged.
    UPDATE lethe.batch_items x SET outcome = 'superseded'
      FROM repurge_facts f
     WHERE x.tenant_id = f.tenant_id AND x.item_id = f.item_id AND x.outcome IS NULL;
    DELETE FROM lethe.item_obligations p USING repurge_facts f
     WHERE p.tenant_id = f.tenant_id AND p.item_id = f.item_id;

    -- A batch that was open when the backup was taken and acknowledged after it: its items'
    -- purges are back above (purged_in, as for a batch the database never saw: only replay's
    -- candidates name one, and only replay has replay_records), and its acknowledgement is
    -- among the records replay just appended. It is closed as that record closed it (no new
    -- record: the replayed one is its record), so that status does not show it open, and a
    -- receipt that comes again does not acknowledge it a second time. A batch with an item the
    -- records do not settle (one that failed) stays open, for its acknowledgement to settle.
    IF EXISTS (SELECT 1 FROM repurge_facts f WHERE f.purged_in IS NOT NULL) THEN
        UPDATE lethe.batches x SET state = 'acknowledged', closed_at = r.at
          FROM (SELECT rr.batch_id, max(a.at) AS at
                  FROM replay_records rr
                  JOIN lethe.audit a ON a.tenant_id = rr.tenant_id AND a.seq = rr.seq AND a.hash = rr.hash
                 WHERE rr.kind = 'batch_acknowledged'
                   AND rr.batch_id IN (SELECT f.purged_in FROM repurge_facts f)
                 GROUP BY rr.batch_id) r
         WHERE x.batch_id = r.batch_id AND x.state = 'open'
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items bi
                            WHERE bi.batch_id = x.batch_id AND bi.outcome IS NULL);
    END IF;

    -- An item id once per batch, as emit_batches does (sql/0018_cycle_passes.sql).
    CREATE TEMP TABLE repurge_numbered ON COMMIT DROP AS
    SELECT f.*, (row_number() OVER (PARTITION BY f.location, f.dup ORDER BY f.tenant_id, f.item_id) - 1) AS rn
      FROM (SELECT f.*, row_number() OVER (PARTITION BY f.location, f.item_id ORDER BY f.tenant_id) - 1
                       AS dup
              FROM repurge_facts f) f;
    CREATE TEMP TABLE repurge_batches ON COMMIT DROP AS
    SELECT gen_random_uuid() AS batch_id, n.location, n.dup, n.rn / p_max AS bno, count(*)::integer AS items
      FROM repurge_numbered n GROUP BY n.location, n.dup, n.rn / p_max;

    INSERT INTO lethe.batches (batch_id, run_id, location, items)
    SELECT b.batch_id, p_run, b.location, b.items FROM repurge_batches b ORDER BY b.location, b.dup, b.bno;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at)
    SELECT n.tenant_id, n.item_id, b.batch_id, (n.rn % p_max)::integer, n.location, n.rule,
           n.obligation_id, n.reference, n.subject_hmac, n.triggered_at, n.due_at, n.deadline_at
      FROM repurge_numbered n JOIN repurge_batches b
        ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max;
    INSERT INTO lethe.repurges (tenant_id, item_id, batch_id, reason, proof_hash, locator)
    SELECT n.tenant_id, n.item_id, b.batch_id, n.reason, n.proof_hash, n.locator
      FROM repurge_numbered n JOIN repurge_batches b
        ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max;

    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                             triggered_at, deadline_at, location, subject_hmac, operator, detail)
    SELECT n.tenant_id, 'item_repurged', p_run, b.batch_id, n.item_id, n.rule, n.reference,
           n.triggered_at, n.deadline_at, n.location, n.subject_hmac, p_operator,
           n.reason || coalesce(' ' || n.proof_hash, '')
      FROM repurge_numbered n JOIN repurge_batches b
        ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max
     ORDER BY n.tenant_id, n.item_id;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
    SELECT '00000000-0000-0000-0000-000000000000', 'batch_emitted', p_run, b.batch_id, b.location,
           b.items, p_operator, 'repurge'
      FROM repurge_batches b ORDER BY b.location, b.dup, b.bno;

    RETURN QUERY SELECT b.batch_id, b.location, b.items FROM repurge_batches b ORDER BY b.location, b.dup, b.bno;
    DROP TABLE repurge_candidates, repurge_facts, repurge_numbered, repurge_batches;
END $$;
