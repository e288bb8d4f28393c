-- An open batch whose every item a late acknowledgement purged is closed with it.
--
-- A late acknowledgement (SPEC §4: the deleter reports, after its batch failed, that it
-- deleted) purges items that a later run may have put into a new batch, still open; their rows
-- there are marked superseded (sql/0031_ack_evidence.sql). When that leaves the open batch with
-- no item to hand over, it stayed open: status listed it with the rerun and ack hints, and the
-- next run or a rerun started its deleter on a manifest of no items. Now the acknowledgement
-- closes such a batch in the same transaction: acknowledged, its close recorded on the engine
-- chain as `batch_acknowledged` with a count of 0 and the detail 'superseded by batch <id>'.
--
-- A batch that someone else holds locked (a run recording its receipts, `lethe ack` of it) is
-- skipped rather than waited for: that acknowledgement takes its turn after this one (the
-- tenants' locks), finds nothing left to settle and closes it the same way; a run that drives
-- an emptied batch closes it without starting the deleter (engine/cycle.c).

DO $ack$
DECLARE
    v_def text;
    v_old constant text :=
        E'        UPDATE lethe.batch_items x SET outcome = ''superseded''\n'
        '          FROM ack_its a\n'
        '         WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id AND x.outcome IS NULL\n'
        '           AND x.batch_id <> p_batch AND a.outcome IS NOT NULL;\n'
        '    END IF;\n';
    v_new constant text :=
        E'        UPDATE lethe.batch_items x SET outcome = ''superseded''\n'
        '          FROM ack_its a\n'
        '         WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id AND x.outcome IS NULL\n'
        '           AND x.batch_id <> p_batch AND a.outcome IS NOT NULL;\n'
        '        -- An open batch left with nothing to hand over is closed with this one; one\n'
        '        -- locked elsewhere is left to its holder (sql/0079_emptied_batch_closed.sql).\n'
        '        FOR v_emptied_id IN\n'
        '            SELECT DISTINCT x.batch_id FROM lethe.batch_items x\n'
        '              JOIN ack_its a ON x.tenant_id = a.tenant_id AND x.item_id = a.item_id\n'
        '             WHERE x.outcome = ''superseded'' AND x.batch_id <> p_batch\n'
        '               AND a.outcome IS NOT NULL\n'
        '             ORDER BY 1\n'
        '        LOOP\n'
        '            SELECT * INTO v_emptied FROM lethe.batches e\n'
        '             WHERE e.batch_id = v_emptied_id AND e.state = ''open'' FOR UPDATE SKIP LOCKED;\n'
        '            CONTINUE WHEN NOT FOUND;\n'
        '            CONTINUE WHEN EXISTS (SELECT 1 FROM lethe.batch_items y\n'
        '                                   WHERE y.batch_id = v_emptied_id AND y.outcome IS NULL);\n'
        '            UPDATE lethe.batches e SET state = ''acknowledged'', closed_at = clock_timestamp()\n'
        '             WHERE e.batch_id = v_emptied_id;\n'
        '            INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count,\n'
        '                                     operator, detail)\n'
        '            VALUES (''00000000-0000-0000-0000-000000000000'', ''batch_acknowledged'',\n'
        '                    v_emptied.run_id, v_emptied_id, v_emptied.location, 0, p_operator,\n'
        '                    ''superseded by batch '' || p_batch);\n'
        '        END LOOP;\n'
        '    END IF;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text)'::regprocedure);
    IF position('sql/0079_emptied_batch_closed.sql' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0079: lethe.ack_batch() closes emptied batches already';
    END IF;
    -- the text once: replace() would change every copy
    IF array_length(string_to_array(v_def, v_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0079: lethe.ack_batch() no longer supersedes items as 0031 wrote it';
    END IF;
    v_def := replace(v_def, v_old, v_new);
    v_def := replace(v_def, E'    lock_key integer;\n',
                     E'    lock_key integer;\n    v_emptied lethe.batches;\n    v_emptied_id uuid;\n');
    EXECUTE v_def;
END $ack$;
