-- Lines lost from the anchor file are said until they are back, not once.
--
-- A run warns when the anchor file lacks lines the database recorded as appended to it after
-- its newest one (sql/0057): the file was removed, rolled back to an older copy or cut. Then the
-- run appended its own line, which became the newest, and no later run or status said anything
-- again (an outside tryout: one journal line, and evidence shipped nowhere gone for good); the
-- README promised that every run warns.
--
-- The run that finds such lines now notes each of them here: its digest (SHA-256, as
-- lethe.anchor_lines keeps it), whose line it was and when the database recorded it. Every run
-- and status after it look for those lines in the file while any note is open: those still
-- missing are said again, with their number; those found (the file restored from the copy
-- shipped elsewhere, as the hint says) are settled by the next run, each on its own, so that a
-- file put back in part is still said to lack the rest. A line lost twice is noted once. Only the
-- owner writes the table, through these functions (as lethe.anchor_lines); it is the database's
-- own word, used to warn, never to vouch for anything.

CREATE TABLE lethe.anchor_gaps (
    lacking_digest text PRIMARY KEY,   -- SHA-256 (hex) of a line the file lacked
    lacking_run uuid NOT NULL,         -- the run whose line it was
    recorded_at timestamptz NOT NULL,  -- when the database recorded that line
    found_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz             -- when a run found the line in the file again
);

CREATE TRIGGER anchor_gaps_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.anchor_gaps
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note lines lost from the anchor file',
        'a run notes the lines its anchor file lacks');
CREATE TRIGGER anchor_gaps_no_truncate BEFORE TRUNCATE ON lethe.anchor_gaps
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note lines lost from the anchor file',
        'a run notes the lines its anchor file lacks');

-- Notes the lines the file lacks after its newest line P_DIGEST (NULL: the file is missing or
-- empty), as lethe.anchor_lines_after counts them; a line noted already is left as it is.
CREATE FUNCTION lethe.anchor_gap_note(p_digest text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    INSERT INTO lethe.anchor_gaps (lacking_digest, lacking_run, recorded_at)
    SELECT l.digest, l.run_id, l.recorded_at
      FROM lethe.anchor_lines l
     WHERE p_digest IS NULL
        OR l.recorded_at > (SELECT x.recorded_at FROM lethe.anchor_lines x WHERE x.digest = p_digest)
                           + interval '1 minute'
    ON CONFLICT (lacking_digest) DO NOTHING
$$;

-- The lines P_DIGESTS are in the file again.
CREATE FUNCTION lethe.anchor_gap_settle(p_digests text[]) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    UPDATE lethe.anchor_gaps SET settled_at = clock_timestamp()
     WHERE lacking_digest = ANY (p_digests) AND settled_at IS NULL
$$;

-- The lines noted and not found again, in the order the database recorded them.
CREATE FUNCTION lethe.anchor_gaps_open()
RETURNS TABLE (lacking_digest text, lacking_run uuid, found_at text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT g.lacking_digest, g.lacking_run, lethe.iso_utc(g.found_at)
      FROM lethe.anchor_gaps g WHERE g.settled_at IS NULL ORDER BY g.recorded_at, g.lacking_digest
$$;

REVOKE ALL ON FUNCTION lethe.anchor_gap_note(text), lethe.anchor_gap_settle(text[]),
                       lethe.anchor_gaps_open() FROM PUBLIC;
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.anchor_gap_note(text), lethe.anchor_gap_settle(text[]),
                                  lethe.anchor_gaps_open() TO lethe_engine;
    END IF;
END $grant$;
