-- An item is late when purged_at > deadline_at, purged_at being the database time at which the
-- acknowledgement commits (SPEC §3). ack_batch() takes that time (clock_timestamp()) before it
-- tombstones the items and stages their records, and audit_flush() writes the records after it
-- has locked the heads of their chains: whatever came between, a wait for a chain's lock (another
-- acknowledgement of the same tenant, a request, a hold being placed), or the tombstones of a
-- batch of 10,000 items, was not in the judgement. An outside tryout held a tenant's head for 25
-- seconds: the ack committed 6.4 s after the item's deadline and was recorded on time (purged_at
-- 23 s before its own record's `at`), and the summary counted it on time.
--
-- The time cannot be the commit's own (the records hold it, and their hashes are taken before
-- the commit), so the judgement is checked against the clock once the records are written:
-- audit_flush(), as the last thing it does before its transaction commits, refuses a record of
-- a purge judged on time whose deadline has passed since (SQLSTATE LE001, nothing written). The
-- earliest such deadline comes with the records it appends (their INSERT returns it): no second
-- pass over what was staged.
-- lethe then makes the acknowledgement again in a transaction of its own, whose time judges the
-- purge late (engine/cycle.c), so that no purge is recorded on time after its deadline, but for
-- the commit's own milliseconds. A purge judged late, or held, stays so. Citus runs the same
-- function (no edit of lethe.citus_edits touches it).
DO $flush$
DECLARE
    v_def text;
    v_old_decl constant text := E'    v_bad record;\n';
    v_new_decl constant text := E'    v_bad record;\n    v_first_on_time timestamptz;\n';
    v_old_ret constant text := E'        RETURNING tenant_id, seq, hash, at\n';
    v_new_ret constant text := E'        RETURNING tenant_id, seq, hash, at, kind, on_time, deadline_at\n';
    v_old_count constant text := E'    SELECT count(*) INTO v_n FROM appended;\n';
    v_new_count constant text :=
        E'    SELECT count(*), min(a.deadline_at) FILTER (WHERE a.kind = ''item_purged'' AND a.on_time)\n'
        || E'      INTO v_n, v_first_on_time FROM appended a;\n';
    v_old_end constant text := E'    TRUNCATE pg_temp.audit_stage;\n    RETURN v_n;\n';
    v_new_end constant text :=
        E'    -- A purge judged on time whose deadline passed while its acknowledgement waited\n'
        || E'    -- or wrote: made again (sql/0093_purge_judged_at_commit.sql).\n'
        || E'    IF v_first_on_time < clock_timestamp() THEN\n'
        || E'        RAISE EXCEPTION ''audit: a purge judged on time reached its record after its deadline''\n'
        || E'            USING ERRCODE = ''LE001'',\n'
        || E'                  HINT = ''acknowledge again: the time of a new acknowledgement judges it'';\n'
        || E'    END IF;\n'
        || E'    TRUNCATE pg_temp.audit_stage;\n    RETURN v_n;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.audit_flush()'::regprocedure);
    IF position(v_old_decl IN v_def) = 0 OR position(v_old_ret IN v_def) = 0
       OR position(v_old_count IN v_def) = 0 OR position(v_old_end IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0093: lethe.audit_flush() no longer appends as sql/0003 wrote it';
    END IF;
    v_def := replace(v_def, v_old_decl, v_new_decl);
    v_def := replace(v_def, v_old_ret, v_new_ret);
    v_def := replace(v_def, v_old_count, v_new_count);
    EXECUTE replace(v_def, v_old_end, v_new_end);
END $flush$;
