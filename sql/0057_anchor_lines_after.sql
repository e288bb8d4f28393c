-- What the database recorded of its anchor file after a line of it, so that a run and status
-- say when the file lacks lines the database saw appended to it.
--
-- Each run records the digest of the line it appended (lethe.anchor_lines, sql/0021). The checks
-- at a run's start and in status compare the file's newest line with the audit, which catches a
-- database restored behind its file; a file rolled back behind its database (replaced by an
-- older copy, cut, or removed) went unsaid: the next run appended to it, or began a new one, and
-- the lines not yet shipped elsewhere were gone with no word. The database's record of its lines
-- is the database's own word, so it is used to warn, never to vouch for anything.
--
-- P_DIGEST is the digest of the file's newest line, or NULL when the file is missing or empty.
-- A line recorded more than a minute after that one's record is one the file should hold (shard
-- runs append and record their lines concurrently, so the order of the records and the order in
-- the file may differ by the time between an append and its record). A newest line the database
-- never recorded (written by a role that could not record lines) tells nothing: no row.
CREATE FUNCTION lethe.anchor_lines_after(p_digest text)
RETURNS TABLE (lines bigint, newest_run uuid, newest_at text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT count(*), (array_agg(l.run_id ORDER BY l.recorded_at DESC))[1],
           lethe.iso_utc(max(l.recorded_at))
      FROM lethe.anchor_lines l
     WHERE p_digest IS NULL
        OR l.recorded_at > (SELECT x.recorded_at FROM lethe.anchor_lines x WHERE x.digest = p_digest)
                           + interval '1 minute'
    HAVING count(*) > 0
$$;
REVOKE ALL ON FUNCTION lethe.anchor_lines_after(text) FROM PUBLIC;

-- A database upgraded after deploy/roles.sql ran: the engine (and the operators through it) get
-- what roles.sql gives it on every function (EXECUTE).
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.anchor_lines_after(text) TO lethe_engine;
    END IF;
END $grant$;
