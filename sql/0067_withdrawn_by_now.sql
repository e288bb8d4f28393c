-- A withdrawal in effect when the run processes it withdraws, whatever the run's --as-of.
--
-- SPEC §3: "A withdrawal applies to items that are not yet purged and not in an open batch when
-- the engine processes it", and C3: data is deleted to honour a request that still stands. The
-- engine judged every withdrawal at the run's as_of: a run --as-of a past time (a catch-up run
-- after an outage) before a cancellation that had already occurred and been committed recorded
-- the withdrawal (obligation_withdrawn) and, in the same run, batched the item under the request
-- it had just recorded as withdrawn; acknowledged, the item was purged under a request cancelled
-- weeks before the deletion happened, and counted late. A capacity_provisioned after a
-- capacity_deleted did the same for a whole tenant that had re-subscribed.
--
-- A purge happens now, not at as_of. As a hold placed since the run's as_of holds in the run
-- (sql/0024_hold_during_run.sql), an obligation withdrawn by now is withdrawn for the run: every
-- statement that judged a withdrawal at p_as_of judges it at greatest(p_as_of, now()). For a run
-- at now, status and explain (as_of now) and a dry run into the future nothing changes; a run
-- or dry run --as-of a past time no longer batches what a cancellation since then withdrew. A
-- withdrawal dated in the future (occurred_at later than now) still waits for its time.
--
-- The functions are changed in place (as sql/0037, 0044, 0064 did), each of its comparisons of
-- withdrawn_at with p_as_of, and the migration refuses a database whose functions compare it
-- anywhere else than it knows.

DO $withdrawn$
DECLARE
    f record;
    v_def text;
    v_new text;
    v_done integer := 0;
BEGIN
    FOR f IN SELECT p.oid, p.oid::regprocedure AS sig, p.proname FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND p.prosrc ~ 'withdrawn_at (<=|>) p_as_of\M'
              ORDER BY p.proname
    LOOP
        v_def := pg_get_functiondef(f.oid);
        v_new := regexp_replace(v_def, 'withdrawn_at (<=|>) p_as_of\M', 'withdrawn_at \1 greatest(p_as_of, now())', 'g');
        EXECUTE v_new;
        v_done := v_done + 1;
    END LOOP;
    IF v_done <> 7 THEN
        RAISE EXCEPTION 'migration 0067: % functions compared withdrawn_at with p_as_of; derive_apply, idle_probe, lineage, pending_complex, pending_items_live, seed_from_lineage and shared_schedule did', v_done;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'lethe'::regnamespace
                  AND p.prosrc ~ 'withdrawn_at\s*(<|<=|>|>=)\s*p_as_of') THEN
        RAISE EXCEPTION 'migration 0067: a comparison of withdrawn_at with p_as_of is left in another form';
    END IF;
END $withdrawn$;
