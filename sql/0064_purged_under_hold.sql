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
-- the rest of it stays as 0031 and 0037 left it: three edits, each of a text the function holds
-- once; the migration refuses a text it does not know.

DO $ack$
DECLARE
    v_def text;
    v_edits constant text[][] := ARRAY[
        -- what the lookup keeps
        [E'    n_repurge_failed integer := 0;\n',
         E'    n_repurge_failed integer := 0;\n'
         '    v_uh_ts uuid[];\n'
         '    v_uh_ids uuid[];\n'
         '    v_uh_holds uuid[];\n'
         '    v_uh_since timestamptz;\n'],
        -- the lookup, before the item_purged records are staged
        [E'    -- An item held past its deadline is recorded with on_time = false and the hold''s\n',
         $new$    -- A hold in effect when the receipt is recorded: placed after the batch was emitted, which
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
$new$],
        -- the record's hold_id and detail
        [$old$           CASE WHEN purge_time > a.deadline_at THEN hb.hold_id END,
           a.subject_hmac, p_operator,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN 'held' END
$old$,
         $new$           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN hb.hold_id
                ELSE uh.hold_id END,
           a.subject_hmac, p_operator,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at
                THEN 'held' || CASE WHEN uh.hold_id = hb.hold_id THEN '; hold in effect at purge'
                                    WHEN uh.hold_id IS NOT NULL
                                    THEN '; hold ' || uh.hold_id || ' in effect at purge'
                                    ELSE '' END
                WHEN uh.hold_id IS NOT NULL THEN 'hold in effect at purge' END
$new$],
        -- the hold found for each item
        [E'      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id\n',
         E'      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id\n'
         '      LEFT JOIN unnest(v_uh_ts, v_uh_ids, v_uh_holds) uh(tenant_id, item_id, hold_id)\n'
         '             ON uh.tenant_id = a.tenant_id AND uh.item_id = a.item_id\n']];
    i integer;
BEGIN
    v_def := pg_get_functiondef('lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text)'::regprocedure);
    IF position('v_uh_ts' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0064: lethe.ack_batch() names its holds in effect already';
    END IF;
    FOR i IN 1 .. array_length(v_edits, 1) LOOP
        -- each text once: replace() would change every copy
        IF array_length(string_to_array(v_def, v_edits[i][1]), 1) <> 2 THEN
            RAISE EXCEPTION 'migration 0064: lethe.ack_batch() no longer records item_purged as 0031 wrote it (edit %)', i;
        END IF;
        v_def := replace(v_def, v_edits[i][1], v_edits[i][2]);
    END LOOP;
    EXECUTE v_def;
END $ack$;
