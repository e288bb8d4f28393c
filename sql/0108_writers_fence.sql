-- A record stamped before a run's anchor line is committed before the line takes its heads.
--
-- A record's time is taken as it is appended (lethe.audit_flush(), lethe.audit_append_one()),
-- and the record is seen once its transaction commits. A `lethe request` whose commit waited
-- (on a synchronous standby that was down) while a run took the heads of its anchor line was
-- stamped before that run began and committed after its line: the line did not name it, and no
-- later line counted it as made since, so an export with it removed verified (README, "Anchors",
-- where it was left open). A hold's commit held up was waited for already (the hold fence,
-- sql/0054, before batches are formed), an acknowledgement's too (it holds the engine chain's
-- head, which the run's checkpoint appends to); a request was not.
--
-- Every append now holds advisory lock 7283319, 0 shared from before it takes its time until its
-- transaction ends. Before a line takes its heads, anchor_append (engine/anchor.c) takes that
-- lock exclusively and lets it go at once, trying every 50 ms: every record stamped before then
-- is committed (or rolled back), and the line names it; a record stamped after is stamped after
-- the run began, and the next line counts from there. Shared holders never wait for each other,
-- and the exclusive try never waits, so no writer waits for a run.
--
-- Both functions are edited in place (one text each, which each holds once; the migration
-- refuses a text it does not know). Neither has a Citus form (lethe.citus_edits).

DO $fence$
DECLARE
    v_fn text;
    v_old text;
    v_def text;
    v_lock constant text := E'    -- held until the transaction ends: a line\'s heads wait for this record\n'
                            || E'    -- (sql/0108_writers_fence.sql)\n'
                            || E'    PERFORM pg_advisory_xact_lock_shared(7283319, 0);\n';
BEGIN
    FOR v_fn, v_old IN VALUES
        ('lethe.audit_flush()', E'    v_now := clock_timestamp();\n'),
        ('lethe.audit_append_one(text,uuid,text,bigint,text)',
         E'    -- values, not calls in the statements (on Citus')
    LOOP
        v_def := pg_get_functiondef(v_fn::regprocedure);
        IF array_length(string_to_array(v_def, v_old), 1) <> 2 THEN
            RAISE EXCEPTION 'migration 0108: % no longer takes its time as it was written', v_fn;
        END IF;
        EXECUTE replace(v_def, v_old, v_lock || v_old);
    END LOOP;
END $fence$;
