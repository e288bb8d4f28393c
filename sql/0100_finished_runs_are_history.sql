-- A finished run is history: its outcome, counts and error are not written over.
--
-- The service account writes a run's row as the run goes (engine/dbcycle.c: its counts, then
-- its end; a later run marks a run found dead). Its column grants (sql/0091) let it, and every
-- operator who inherits them, also rewrite a run that had ended: a failed run set to succeeded
-- with its failed items at 0, a died run's error cleared. status, status --check and the
-- metrics read those rows; the audit's run_finished record still says what happened, but
-- the operator's view at 3 a.m. would not. Every write lethe makes is to a run still
-- 'running' (the end is recorded once, WHERE outcome = 'running'), so a row whose outcome is
-- no longer 'running' is refused for every role. A DBA who must correct one disables the
-- trigger for the statement, and says why where the team keeps such notes.
--
-- lethe.runs is a table of the coordinator's own on Citus: the trigger is made on both.

CREATE FUNCTION lethe.runs_finished_kept() RETURNS trigger
LANGUAGE plpgsql
SET search_path = lethe, pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.outcome <> 'running' THEN
        RAISE EXCEPTION 'runs: run % ended % at %: a finished run is not written over',
                        OLD.run_id, OLD.outcome, lethe.iso_utc(OLD.finished_at)
            USING ERRCODE = 'check_violation',
                  HINT = 'the audit''s run_finished record and lethe.runs say what the run did; a later run records its own';
    END IF;
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION lethe.runs_finished_kept() FROM PUBLIC;
CREATE TRIGGER runs_finished_kept BEFORE UPDATE ON lethe.runs
    FOR EACH ROW EXECUTE FUNCTION lethe.runs_finished_kept();
