-- An item purged while a hold covered it says so in its record.
--
-- SPEC §3: a hold does not recall a batch already emitted. A hold placed while a batch waits for
-- its deleter does not keep the batch's items, and when the receipt comes they are purged. hold
-- place warns of those batches and explain names the hold in effect at the purge, but the
-- item_purged record, the evidence an auditor keeps, read as any other purge: nothing in the
-- export showed that a legal hold covered the item when it was deleted.
--
-- ack_batch now finds, for the items it purges, the first hold (by placed_at) in effect at the
-- purge, and the record carries it: hold_id, and detail 'hold in effect at purge'. When a hold
-- also kept the item past its deadline (detail 'held', with that hold's id and reference, as
-- sql/0031_ack_evidence.sql records it), the detail reads 'held; hold H in effect at purge', or
-- 'held; hold in effect at purge' when that same hold is still in effect (hold_id names it; a
-- hold placed on an item already overdue, after a failed attempt, blocks it as it is due again).
-- on_time, the reference and the counts are as before ('held' and 'held; ...' count as held).
--
-- The lookup costs nothing when no hold has been placed since the as_of of the batch's run: an
-- older hold kept the item out of the batch, so it cannot be in effect at the purge. Otherwise
-- it walks the lineage of the acknowledged items of the tenants with such a hold.
--
-- The function is changed in place, as sql/0037_definer_temp.sql changed audit_flush, so that
-- the rest of it stays as 0031 and 0037 left it; the migration refuses a text it does not know.

DO $ack$
DECLARE
    v_def text;
    v_old_decl constant text := E'    n_repurge_failed integer := 0;\n';
    v_new_decl constant text := E'    n_repurge_failed integer := 0;\n'
        '    v_uh_ts uuid[];\n'
        '    v_uh_ids uuid[];\n'
        '    v_uh_holds uuid[];\n'
        '    v_uh_since timestamptz;\n';
    v_old constant text := $old$    -- An item held past its deadline is recorded with on_time = false and the hold's
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
$old$;
    v_new constant text := $new$    -- A hold in effect when the receipt is recorded: placed after the batch was emitted, which
    -- it does not recall (SPEC §3). The record names it (sql/0064_purged_under_hold.sql). Only
    -- a hold placed since the as_of of the batch's run can be one: the run kept back the items
    -- of every hold placed before (and, as it emitted, of those placed since its as_of).
    SELECT r.as_of INTO v_uh_since FROM lethe.runs r WHERE r.run_id = b.run_id;
    SELECT array_agg(t.tenant_id) INTO v_uh_ts
      FROM (SELECT DISTINCT h.tenant_id FROM lethe.holds h
             WHERE h.placed_at >= v_uh_since
               AND (h.released_at IS NULL OR h.released_at > purge_time)) t;
    IF v_uh_ts IS NOT NULL THEN
        SELECT array_agg(a.tenant_id), array_agg(a.item_id) INTO v_uh_ts, v_uh_ids
          FROM ack_its a WHERE a.tenant_id = ANY (v_uh_ts);
    END IF;
    IF v_uh_ids IS NOT NULL THEN
        -- The first placed, when more than one covers the item (explain lists them all).
        SELECT array_agg(m.tenant_id), array_agg(m.item_id), array_agg(m.hold_id)
          INTO v_uh_ts, v_uh_ids, v_uh_holds
          FROM (SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
                  FROM lethe.hold_matches(v_uh_ts, v_uh_ids, purge_time) m
                 WHERE m.active
                 ORDER BY m.tenant_id, m.item_id, m.placed_at, m.hold_id) m;
    END IF;
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
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN hb.hold_id
                ELSE uh.hold_id END,
           a.subject_hmac, p_operator,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at
                THEN 'held' || CASE WHEN uh.hold_id = hb.hold_id THEN '; hold in effect at purge'
                                    WHEN uh.hold_id IS NOT NULL
                                    THEN '; hold ' || uh.hold_id || ' in effect at purge'
                                    ELSE '' END
                WHEN uh.hold_id IS NOT NULL THEN 'hold in effect at purge' END
      FROM ack_its a
      LEFT JOIN LATERAL (SELECT x.hold_id FROM lethe.hold_blocks x
                           JOIN lethe.holds y ON y.tenant_id = x.tenant_id AND y.hold_id = x.hold_id
                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id
                            AND (y.released_at IS NULL OR y.released_at > a.deadline_at)
                          ORDER BY x.blocked_at DESC LIMIT 1) hb ON true
      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id
      LEFT JOIN unnest(v_uh_ts, v_uh_ids, v_uh_holds) uh(tenant_id, item_id, hold_id)
             ON uh.tenant_id = a.tenant_id AND uh.item_id = a.item_id
     ORDER BY a.tenant_id, a.item_id;
    DROP TABLE ack_its, ack_receipts;
$new$;
BEGIN
    v_def := pg_get_functiondef('lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text)'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_old_decl IN v_def) = 0
       OR position('v_uh_ts' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0064: lethe.ack_batch() no longer records item_purged as 0031 wrote it';
    END IF;
    EXECUTE replace(replace(v_def, v_old_decl, v_new_decl), v_old, v_new);
END $ack$;
