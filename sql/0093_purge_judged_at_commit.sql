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
-- a purge judged on time whose deadline has passed since (SQLSTATE LE001, nothing written).
-- lethe then makes the acknowledgement again in a transaction of its own, whose time judges the
-- purge late (engine/cycle.c), so that no purge is recorded on time after its deadline, but for
-- the commit's own milliseconds. A purge judged late, or held, stays so. Citus runs the same
-- function (no edit of lethe.citus_edits touches it).
DO $flush$
DECLARE
    v_def text;
    v_old constant text := E'    TRUNCATE pg_temp.audit_stage;\n    RETURN v_n;\n';
    v_new constant text :=
        E'    -- A purge judged on time whose deadline passed while its acknowledgement waited\n'
        || E'    -- or wrote: made again (sql/0093_purge_judged_at_commit.sql).\n'
        || E'    IF EXISTS (SELECT 1 FROM pg_temp.audit_stage s\n'
        || E'                WHERE s.kind = ''item_purged'' AND s.on_time\n'
        || E'                  AND s.deadline_at < clock_timestamp()) THEN\n'
        || E'        RAISE EXCEPTION ''audit: a purge judged on time reached its record after its deadline''\n'
        || E'            USING ERRCODE = ''LE001'',\n'
        || E'                  HINT = ''acknowledge again: the time of a new acknowledgement judges it'';\n'
        || E'    END IF;\n'
        || E'    TRUNCATE pg_temp.audit_stage;\n    RETURN v_n;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.audit_flush()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0093: lethe.audit_flush() no longer ends as sql/0003 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $flush$;
