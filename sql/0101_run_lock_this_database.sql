-- The run lock read in this database only, and the runs still recorded running found by index.
--
-- lethe.run_lock() (sql/0006) refuses a shard run of N while a run of another N holds its
-- lock, and it looked for that lock in pg_locks, which lists every database of the server:
-- a shard run of 2 in one database (a staging copy, a second deployment on the same server)
-- refused the shard runs of 3 in another, whose catalogs have nothing in common. Advisory
-- locks are taken per database; the check now reads this database's alone. Nothing else
-- changes: the same keys, the same order, the same answer within one database.
--
-- status and every run ask which runs are still recorded 'running' and whether a session holds
-- their lock (engine/dbcycle.h, RUN_PROCESS_GONE: a shard worker killed while the other shards
-- ran on was left 'running' and unseen); a partial index keeps that a probe however long the
-- history of runs.

CREATE OR REPLACE FUNCTION lethe.run_lock(p_k integer, p_n integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_n = 0 THEN
        RETURN pg_try_advisory_lock(7283310, 0);
    END IF;
    PERFORM pg_advisory_xact_lock(7283313, 0);
    IF NOT pg_try_advisory_lock_shared(7283310, 0) THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
                  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                     WHERE d.datname = current_database())
                  AND l.classid = 7283312::oid AND l.objsubid = 2 AND l.objid <> p_n::oid)
       OR NOT pg_try_advisory_lock(7283311, p_n * 65536 + p_k) THEN
        PERFORM pg_advisory_unlock_shared(7283310, 0);
        RETURN false;
    END IF;
    PERFORM pg_advisory_lock_shared(7283312, p_n);
    RETURN true;
END $$;

CREATE INDEX runs_running ON lethe.runs (started_at) WHERE outcome = 'running';
