-- The purges recorded late, counted by the hour as they are appended: `lethe status` reads what
-- it says of the last seven days from a few rows, whatever number of purges were late.
--
-- sql/0095 gave status's line "purged late in the last 7 days" a partial index of the purge
-- records not on time. Status still read every such record of the week: after the deleters
-- come back from an outage, every purge of the backlog is late, and each status read them all
-- for a week (71,417 records on the bench's 1M catalog, whose first run purged its backlog:
-- 20-29 ms of a status of 125 ms; about 0.4 s a status after an outage of 1M items).
--
-- Now a statement trigger on the audit appends, for every statement that appended late purge
-- records, one row per hour and per "held past its deadline" (the summary's outcome: detail
-- 'held' or 'held; ...'): how many, the largest lateness and the latest record. Rows are only
-- appended, so writers never wait for each other here; a steady state appends none. Status
-- reads the whole hours of the week from them, and the records of the first, partial hour
-- from the audit through 0095's index, so the line is the same as read from the audit alone.
-- The audit is append-only, so what was counted stays true. On Citus (no triggers on the
-- audit) the line reads the audit as before.

CREATE TABLE lethe.late_purges (
    id bigserial PRIMARY KEY,
    hour timestamptz NOT NULL,   -- the hour of the records' `at` (UTC hours)
    held boolean NOT NULL,       -- held past the deadline, not late
    purged bigint NOT NULL,
    max_lateness interval,
    latest timestamptz
);
CREATE INDEX late_purges_hour ON lethe.late_purges (hour);

-- Whether a purge record not on time was kept past its deadline by a hold (detail 'held', or
-- 'held; hold H in effect at purge': sql/0031, sql/0064), as the summary counts it apart
-- (PURGE_RECORD_HELD in engine/db.h). Inlined where it is read.
CREATE FUNCTION lethe.purge_record_held(p_detail text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_detail = 'held' OR p_detail LIKE 'held;%', false)
$$;

-- Owned by lethe's owner and run as it (every trigger function is SECURITY DEFINER: harden()).
CREATE FUNCTION lethe.late_purges_append() RETURNS trigger
LANGUAGE plpgsql SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
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
REVOKE ALL ON FUNCTION lethe.late_purges_append() FROM PUBLIC;

-- The purge records not on time since p_since (a copy made while opted out apart, as status
-- says it apart): how many were late, how many held past the deadline, the largest lateness of
-- the late ones and when the latest late one was recorded.
CREATE FUNCTION lethe.late_purges_since(p_since timestamptz)
RETURNS TABLE (late bigint, held bigint, max_lateness interval, latest timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    -- The first whole hour after p_since: the rows from it on count whole.
    v_cut timestamptz := date_bin(interval '1 hour', p_since, timestamptz '2000-01-01 00:00:00+00')
                         + interval '1 hour';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        v_cut := 'infinity';
    END IF;
    RETURN QUERY
    SELECT coalesce(sum(x.purged) FILTER (WHERE NOT x.held), 0)::bigint,
           coalesce(sum(x.purged) FILTER (WHERE x.held), 0)::bigint,
           max(x.max_lateness) FILTER (WHERE NOT x.held),
           max(x.latest) FILTER (WHERE NOT x.held)
      FROM (SELECT l.held, l.purged, l.max_lateness, l.latest
              FROM lethe.late_purges l
             WHERE l.hour >= v_cut
            UNION ALL
            SELECT lethe.purge_record_held(a.detail), 1,
                   a.purged_at - a.deadline_at, a.at
              FROM lethe.audit a
             WHERE a.kind = 'item_purged' AND a.on_time IS FALSE
               AND a.at > p_since AND a.at < v_cut
               AND a.rule IS DISTINCT FROM 'shared_while_opted_out') x;
END $$;
REVOKE ALL ON FUNCTION lethe.late_purges_since(timestamptz) FROM PUBLIC;

DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.late_purges_since(timestamptz) TO lethe_engine;
    END IF;
END $grant$;

DO $late$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    CREATE TRIGGER audit_late_purges AFTER INSERT ON lethe.audit
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.late_purges_append();
    -- The late purges recorded so far (the trigger holds the audit against appends until this
    -- commits), through 0095's index.
    INSERT INTO lethe.late_purges (hour, held, purged, max_lateness, latest)
    SELECT date_bin(interval '1 hour', n.at, timestamptz '2000-01-01 00:00:00+00'), n.held,
           count(*), max(n.purged_at - n.deadline_at), max(n.at)
      FROM (SELECT a.at, a.purged_at, a.deadline_at,
                   lethe.purge_record_held(a.detail) AS held
              FROM lethe.audit a
             WHERE a.kind = 'item_purged' AND a.on_time IS FALSE
               AND a.rule IS DISTINCT FROM 'shared_while_opted_out') n
     GROUP BY 1, 2;
END $late$;

-- Written by the owner alone: harden() takes back any write given by hand at every migrate, as
-- for the purged counts (sql/0094).
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''request_operators'')';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0096: lethe.harden() no longer reads as 0094 left it';
    END IF;
    v_def := replace(v_def, v_old, '''request_operators'', ''late_purges'')');
    EXECUTE v_def;
END $harden$;

-- What lethe.citus_outgrow() drops: 0087's list and the trigger above.
DO $outgrow$
DECLARE
    v_def text;
    v_old constant text := '(''batches'', ''batches_items_truncate'', ''trigger'')';
BEGIN
    v_def := pg_get_functiondef('lethe.citus_one_server_only()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0096: lethe.citus_one_server_only() no longer reads as 0087 left it';
    END IF;
    EXECUTE replace(v_def, v_old, v_old || E',\n        -- 0096: the late purges by the hour\n'
                                         || '        (''audit'', ''audit_late_purges'', ''trigger'')');
END $outgrow$;
