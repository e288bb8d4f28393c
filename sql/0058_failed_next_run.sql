-- Items a batch failed in this run are due again at the next run, not in this one.
--
-- A run re-drives the open batches first (left by a run that stopped, or by a deleter that was
-- down), then emits what is due. When a re-driven batch failed, its items were due again at
-- once: the run put them into new batches and gave them to the same deleter, which failed them
-- again. Each failing item failed twice per run ("150 due, 300 failed items"), counted two
-- attempts, and was "failing" (three failures) after two runs instead of three; a deleter that
-- hung took twice the timeout. README (and the run's own summary) say failed items are due again
-- at the next run: emit_batches now leaves out the items of batches that failed since its run
-- began (a rerun names its items, and is not concerned).
--
-- The batches failed since a time are found through a partial index (a failed batch is closed
-- once, and reopened only by a rerun, which makes a new batch), so the emission reads no more
-- than them.

CREATE INDEX batches_failed_closed ON lethe.batches (closed_at) WHERE state = 'failed';

DO $edit$
DECLARE
    v_def text;
    v_old constant text := E'             WHERE p_items IS NULL\n'
                            '                OR (d.item_id = ANY (p_items)';
    v_new constant text := E'             WHERE (p_items IS NULL\n'
                            '                    AND (d.tenant_id, d.item_id) NOT IN (\n'
                            '                        SELECT f.tenant_id, f.item_id\n'
                            '                          FROM lethe.batches fb\n'
                            '                          JOIN lethe.batch_items f ON f.batch_id = fb.batch_id\n'
                            '                         WHERE fb.state = ''failed'' AND f.outcome = ''failed''\n'
                            '                           AND fb.closed_at >= (SELECT r.started_at FROM lethe.runs r\n'
                            '                                                 WHERE r.run_id = p_run)))\n'
                            '                OR (d.item_id = ANY (p_items)';
BEGIN
    v_def := pg_get_functiondef(
        'lethe.emit_batches(uuid,timestamp with time zone,integer,integer,integer,text,uuid[],uuid)'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0058: lethe.emit_batches() no longer chooses its items as 0024 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $edit$;
