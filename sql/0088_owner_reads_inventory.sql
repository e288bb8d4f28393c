-- Reconcile and replay with a schema owner that is not a superuser (README, "Installing": run
-- migrate as a dedicated owner role rather than a superuser). Tried that way, both failed for
-- every operator:
--   - `lethe reconcile`: "permission denied for table repurge_candidates". reconcile_candidates()
--     ran as its caller and made the candidates a temporary table of the caller's, which
--     repurge_emit() (a definer, sql/0035) reads and drops as the owner: only a superuser
--     owner may;
--   - `lethe replay`: "permission denied for table replay_lines", the caller's temporary table
--     of exported lines, which replay_chains() (a definer, sql/0052) reads as the owner.
-- Every suite ran with a superuser owner, so neither was seen. Now reconcile_candidates() is a
-- definer as replay_candidates() is (sql/0052): it first refuses temporary objects of the
-- caller's that could act as the owner (definer_temp_guard, sql/0037), then makes the
-- candidates as the owner. The caller's own temporary tables that a definer reads (the
-- inventory, the exported lines) are granted to the owner by lethe when it makes them (SELECT
-- only; they are dropped at commit). tests/integration/owner.sh runs every command with such
-- an owner.
DO $definer$
DECLARE
    f constant text := 'lethe.reconcile_candidates(text)';
    v_def text := pg_get_functiondef(f::regprocedure);
BEGIN
    IF (length(v_def) - length(replace(v_def, E'\nBEGIN\n', ''))) / length(E'\nBEGIN\n') <> 1 THEN
        RAISE EXCEPTION 'migration 0088: % no longer has one BEGIN', f;
    END IF;
    IF position('definer_temp_guard' IN v_def) = 0 THEN
        EXECUTE replace(v_def, E'\nBEGIN\n', E'\nBEGIN\n    PERFORM lethe.definer_temp_guard();\n');
    END IF;
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp', f);
END $definer$;
REVOKE ALL ON FUNCTION lethe.reconcile_candidates(text) FROM PUBLIC;
