-- The purge records counted by the hour as they are appended, by rule and by the summary's
-- outcome: `lethe export --summary` (and the report) read the whole hours of their window from
-- a few rows, whatever number of purges the audit holds.
--
-- The summary grouped every purge record of its window by rule and outcome: 54 ms of a summary
-- of about 140 ms over the bench's 119,680 purge records at 1M items, as much as the plain GROUP
-- BY a DBA would write (tests/bench/summary.sql), and growing with the audit (a monthly export
-- timer over 10M records read them all). Now a statement trigger on the audit appends, for
-- every statement that appended purge records, one row per hour, rule and outcome: how many,
-- and the largest lateness. Rows are only appended, so writers never wait for each other here
-- (each acknowledgement appends its batch's purge records in one statement, so a run appends a
-- few rows per batch: 75 rows for 3,036 records in 79 batches of 50 items). The summary reads
-- the whole hours of its window from them, and the records of a partial first or last hour from
-- the audit through its index on `at`, so it says what the records alone say. The audit is
-- append-only, so what was counted stays true, and the counts are written by the owner's trigger
-- alone (no role is granted them: deploy/roles.sql). A summary of one tenant reads that tenant's
-- records, as before; so does every summary on Citus (no triggers on the audit).

CREATE TABLE lethe.purge_outcomes (
    id bigserial PRIMARY KEY,
    hour timestamptz NOT NULL,  -- the hour of the records' `at` (UTC hours)
    rule text,                  -- the records' rule, as written
    outcome text NOT NULL CHECK (outcome IN ('on_time', 'late', 'held', 'violation')),
    purged bigint NOT NULL CHECK (purged > 0),
    max_lateness interval       -- the largest purged_at - deadline_at of those records
);
CREATE INDEX purge_outcomes_hour ON lethe.purge_outcomes (hour);

-- A purge record's outcome, in the summary's order of precedence (PURGED_OUTCOMES in
-- engine/dbaudit.c): a shared copy made while opted out is a violation whenever it is purged;
-- then on time; then held past its deadline; otherwise late.
CREATE FUNCTION lethe.purge_outcome(p_rule text, p_on_time boolean, p_detail text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_rule = 'shared_while_opted_out' THEN 'violation'
                WHEN p_on_time THEN 'on_time'
                WHEN lethe.purge_record_held(p_detail) THEN 'held'
                ELSE 'late' END
$$;

-- Owned by lethe's owner and run as it (every trigger function is SECURITY DEFINER: harden()).
CREATE FUNCTION lethe.purge_outcomes_append() RETURNS trigger
LANGUAGE plpgsql SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    -- It counts the audit's records, and no other table's (deploy/roles.sql grants no role the
    -- function, so none can attach it to a table of its own: this is the second lock).
    IF TG_RELID <> 'lethe.audit'::regclass THEN
        RAISE EXCEPTION 'purge_outcomes_append() counts the records of lethe.audit only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO lethe.purge_outcomes (hour, rule, outcome, purged, max_lateness)
    SELECT date_bin(interval '1 hour', r.at, timestamptz '2000-01-01 00:00:00+00'), r.rule,
           lethe.purge_outcome(r.rule, r.on_time, r.detail), count(*),
           max(r.purged_at - r.deadline_at)
      FROM new_rows r
     WHERE r.kind = 'item_purged'
     GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lethe.purge_outcomes_append() FROM PUBLIC;

-- The purge records appended in [p_from, p_to) (either bound NULL: unbounded), counted by rule
-- and outcome, with the largest lateness of each: the whole hours from lethe.purge_outcomes,
-- the partial first and last hours from the audit. On Citus, from the audit alone.
CREATE FUNCTION lethe.purge_outcomes_in(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (rule text, outcome text, purged bigint, max_lateness interval)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    -- The whole hours [v_lo, v_hi) within the window come counted.
    v_lo timestamptz := coalesce(date_bin(interval '1 hour', p_from - interval '1 microsecond',
                                          timestamptz '2000-01-01 00:00:00+00') + interval '1 hour',
                                 '-infinity');
    v_hi timestamptz := coalesce(date_bin(interval '1 hour', p_to,
                                          timestamptz '2000-01-01 00:00:00+00'), 'infinity');
BEGIN
    IF v_lo >= v_hi OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        -- No whole hour (or nothing counted): every record of the window from the audit.
        v_lo := 'infinity';
        v_hi := 'infinity';
    END IF;
    RETURN QUERY
    SELECT x.rule, x.outcome, sum(x.purged)::bigint, max(x.max_lateness)
      FROM (SELECT o.rule, o.outcome, o.purged, o.max_lateness
              FROM lethe.purge_outcomes o
             WHERE o.hour >= v_lo AND o.hour < v_hi
            UNION ALL
            SELECT a.rule, lethe.purge_outcome(a.rule, a.on_time, a.detail), 1,
                   a.purged_at - a.deadline_at
              FROM lethe.audit a
             WHERE a.kind = 'item_purged'
               AND (p_from IS NULL OR a.at >= p_from) AND (p_to IS NULL OR a.at < p_to)
               AND (a.at < v_lo OR a.at >= v_hi)) x
     GROUP BY x.rule, x.outcome;
END $$;
REVOKE ALL ON FUNCTION lethe.purge_outcomes_in(timestamptz, timestamptz) FROM PUBLIC;

DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.purge_outcomes_in(timestamptz, timestamptz) TO lethe_engine;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_auditor') THEN
        GRANT EXECUTE ON FUNCTION lethe.purge_outcomes_in(timestamptz, timestamptz) TO lethe_auditor;
    END IF;
END $grant$;

DO $counted$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    CREATE TRIGGER audit_purge_outcomes AFTER INSERT ON lethe.audit
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.purge_outcomes_append();
    -- ENABLE ALWAYS, as the audit's guards are (sql/0008): records appended under
    -- session_replication_role = replica are counted too. 0096's count of late purges likewise.
    ALTER TABLE lethe.audit ENABLE ALWAYS TRIGGER audit_purge_outcomes;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'lethe.audit'::regclass
                                          AND tgname = 'audit_late_purges') THEN
        ALTER TABLE lethe.audit ENABLE ALWAYS TRIGGER audit_late_purges;
    END IF;
    -- The purge records appended so far (the trigger holds the audit against appends until
    -- this commits).
    INSERT INTO lethe.purge_outcomes (hour, rule, outcome, purged, max_lateness)
    SELECT date_bin(interval '1 hour', a.at, timestamptz '2000-01-01 00:00:00+00'), a.rule,
           lethe.purge_outcome(a.rule, a.on_time, a.detail), count(*),
           max(a.purged_at - a.deadline_at)
      FROM lethe.audit a
     WHERE a.kind = 'item_purged'
     GROUP BY 1, 2, 3;
END $counted$;

-- 0096's count of the late purges, likewise bound to the audit.
CREATE OR REPLACE FUNCTION lethe.late_purges_append() RETURNS trigger
LANGUAGE plpgsql SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF TG_RELID <> 'lethe.audit'::regclass THEN
        RAISE EXCEPTION 'late_purges_append() counts the records of lethe.audit only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO lethe.late_purges (hour, held, purged, max_lateness, latest)
    SELECT date_bin(interval '1 hour', n.at, timestamptz '2000-01-01 00:00:00+00'), n.held,
           count(*), max(n.purged_at - n.deadline_at), max(n.at)
      FROM (SELECT r.at, r.purged_at, r.deadline_at,
                   lethe.purge_record_held(r.detail) AS held
              FROM new_rows r
             WHERE r.kind = 'item_purged' AND r.on_time IS FALSE
               AND r.rule IS DISTINCT FROM 'shared_while_opted_out') n
     GROUP BY 1, 2;
    RETURN NULL;
END $$;

-- Written by the owner alone: harden() takes back any write given by hand at every migrate, as
-- for the late purges (sql/0096).
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''request_operators'', ''late_purges'')';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0097: lethe.harden() no longer reads as 0096 left it';
    END IF;
    v_def := replace(v_def, v_old, '''request_operators'', ''late_purges'', ''purge_outcomes'')');
    EXECUTE v_def;
END $harden$;

-- What lethe.citus_outgrow() drops: 0096's list and the trigger above.
DO $outgrow$
DECLARE
    v_def text;
    v_old constant text := '(''audit'', ''audit_late_purges'', ''trigger'')';
BEGIN
    v_def := pg_get_functiondef('lethe.citus_one_server_only()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0097: lethe.citus_one_server_only() no longer reads as 0096 left it';
    END IF;
    EXECUTE replace(v_def, v_old, v_old || E',\n        -- 0097: the purge outcomes by the hour\n'
                                         || '        (''audit'', ''audit_purge_outcomes'', ''trigger'')');
END $outgrow$;
