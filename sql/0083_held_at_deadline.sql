-- A purge counts as held past its deadline only when a hold was in effect at that deadline.
--
-- SPEC §3: "An item held past its deadline and purged after release is recorded with
-- on_time = false and the hold's reference. It is counted as held, not late." ack_batch took
-- any hold that had blocked the item and was still in effect after the deadline
-- (sql/0031_ack_evidence.sql), placed before the deadline or after it. So an item already late
-- (its deadline passed, its batch failed or the timer stopped) that a hold then blocked for a
-- moment was recorded with the hold's reference instead of its request's, and counted as held,
-- not late: `export --summary` showed `late 0, held_past_deadline N` for a deadline missed by
-- weeks, and the request's reference was in none of the tenant's records (an outside tryout
-- as an auditor). The lateness was there before the hold: such a purge is late now, under its
-- own rule's reference, and names the hold only if it is still in effect at the purge ('hold in
-- effect at purge', sql/0064). A hold placed at or before the deadline and still in effect
-- after it keeps it as before.
--
-- The function is edited in place (one text, which the function holds once; the migration
-- refuses a text it does not know), and so is the Citus form of that statement
-- (lethe.citus_edits, sql/0047), which citus_layout() puts in its place on a Citus database;
-- on a database laid out on Citus before this migration the function holds that form, and it is
-- the one edited.

DO $ack$
DECLARE
    v_fn constant text := 'lethe.ack_batch(uuid,uuid[],uuid[],text[],boolean,boolean,text,text)';
    v_old constant text := E'                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id\n'
                            '                            AND (y.released_at IS NULL OR y.released_at > a.deadline_at)';
    v_new constant text := E'                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id\n'
                            '                            AND y.placed_at <= a.deadline_at'
                            || E'\n                            AND (y.released_at IS NULL OR y.released_at > a.deadline_at)';
    v_citus_old constant text := '                  WHERE y.released_at IS NULL OR y.released_at > t.deadline_at';
    v_citus_new constant text := '                  WHERE y.placed_at <= t.deadline_at'
                                  || E'\n                    AND (y.released_at IS NULL OR y.released_at > t.deadline_at)';
    v_def text;
BEGIN
    v_def := pg_get_functiondef(v_fn::regprocedure);
    IF array_length(string_to_array(v_def, v_old), 1) = 2 THEN
        EXECUTE replace(v_def, v_old, v_new);
    ELSIF array_length(string_to_array(v_def, v_citus_old), 1) = 2 THEN
        -- A database laid out on Citus already: the function holds the Citus form, which is
        -- edited the same way, and citus_layout() is told it is still its Citus form.
        EXECUTE replace(v_def, v_citus_old, v_citus_new);
        UPDATE lethe.citus_edited x SET src_md5 = md5(p.prosrc)
          FROM pg_proc p WHERE p.oid = v_fn::regprocedure AND x.fn = v_fn;
    ELSE
        RAISE EXCEPTION 'migration 0083: lethe.ack_batch() no longer finds the hold that kept an item past its deadline as sql/0031 wrote it';
    END IF;

    UPDATE lethe.citus_edits c
       SET old = replace(c.old, v_old, v_new), new = replace(c.new, v_citus_old, v_citus_new)
     WHERE c.fn = v_fn AND c.step = 2
       AND position(v_old IN c.old) > 0 AND position(v_citus_old IN c.new) > 0;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'migration 0083: the Citus form of lethe.ack_batch()''s hold lookup is not as sql/0047 wrote it';
    END IF;
END $ack$;
