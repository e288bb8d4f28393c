-- A deployment moved onto Citus in place is laid out as one made on Citus: sql/0091's check on
-- lethe.rules (a rule's deadline no longer than its commitment) is listed in lethe.citus_gaps
-- there, not made as a trigger. Moved in place, the trigger made on one server stayed, and went
-- to the workers with the table, and the gap was not listed: outgrow.sh's comparison of the two
-- layouts failed on it. lethe.citus_outgrow() now drops it before the table is laid out and
-- lists the gap as 0091 does. (On one server nothing changes: citus_outgrow() does nothing.)

-- What lethe.citus_outgrow() drops: 0097's list and the trigger above.
DO $outgrow$
DECLARE
    v_def text;
    v_old constant text := '(''audit'', ''audit_purge_outcomes'', ''trigger'')';
BEGIN
    v_def := pg_get_functiondef('lethe.citus_one_server_only()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0098: lethe.citus_one_server_only() no longer reads as 0097 left it';
    END IF;
    EXECUTE replace(v_def, v_old, v_old || E',\n        -- 0091: a rule''s deadline within its commitment (a gap on Citus)\n'
                                         || '        (''rules'', ''rules_within_commitment'', ''trigger'')');
END $outgrow$;

-- ... and the gap it lists, as 0091 does on Citus.
DO $gaps$
DECLARE
    v_def text;
    v_old constant text :=
        '''obligations_by_engine (sql/0077): no role but the owner deletes or truncates an obligation'')';
BEGIN
    v_def := pg_get_functiondef('lethe.citus_outgrow()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0098: lethe.citus_outgrow() no longer reads as 0085 left it';
    END IF;
    EXECUTE replace(v_def, v_old, v_old || E',\n        (''rules.rules_within_commitment'',\n'
        || E'         ''rules_within_commitment (sql/0091): a rule''''s deadline longer than its commitment is ''\n'
        || E'         ''refused (the service account may still write only deadline, grace and enabled)'')');
END $gaps$;
