-- A batch replay closes as failed keeps its deleter's stderr as the backup held it.
--
-- lethe.replay_close_batches() (sql/0110) put the batch_failed record's detail, lethe's own
-- words ("timed out after 2s"), into batches.error, which holds the executor's stderr alone:
-- `lethe batches` then showed them as something the deleter wrote (an outside tryout's
-- finding; README: lethe's own words "are the failed items' reason, never shown as something
-- the deleter wrote"). The failed items take their reasons from their item_failed records, as
-- before; the batch's error is left as it was. One text, edited in place; no Citus form.
DO $close$
DECLARE
    v_fn constant text := 'lethe.replay_close_batches()';
    v_old constant text := E'           closed_at = c.at,\n'
                           || E'           error = CASE c.kind WHEN \'batch_failed\' THEN coalesce(x.error, c.detail) ELSE x.error END\n';
    v_def text;
BEGIN
    v_def := pg_get_functiondef(v_fn::regprocedure);
    IF array_length(string_to_array(v_def, v_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0112: % is no longer as it was written', v_fn;
    END IF;
    EXECUTE replace(v_def, v_old, E'           closed_at = c.at\n');
END $close$;
