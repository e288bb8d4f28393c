-- The engine's writers run as the schema owner (SECURITY DEFINER) and stage audit records in
-- the session's temporary table pg_temp.audit_stage. Two ways around them, found from the
-- outside as a role holding lethe_engine (and so every operator):
--
-- 1. A temporary relation is the caller's to define. A caller who created pg_temp.audit_stage
--    first, with a trigger on it (or a view, a rule, a row security policy, a column default
--    calling a function of its own), had its own function run as the owner when audit_flush or
--    emit_batches touched the table: with postgres as the owner, as a superuser; it deleted
--    item_purged records. lethe.definer_temp_guard() now refuses, before a writer touches any
--    temporary relation, a session whose temporary schema holds anything the writer could be
--    made to run code through: an audit_stage (or its sequence) that is not the owner's, and
--    any relation not the owner's that is not a plain table of built-in or lethe types with no
--    trigger, rule, policy, default, check or expression index. Every PL/pgSQL writer that
--    touches a temporary relation calls it first (injected below; a test keeps it so).
--
-- 2. The staging table took any record from any role that may INSERT into it: an item_purged
--    record for an item that never existed, hashed and chained correctly by audit_flush itself.
--    Rows now carry `sealed`, true when the row was staged as the owner (by the engine's own
--    functions), and no role but the owner may set it; audit_flush refuses an unsealed row of
--    any kind but those the engine stages with its own statements (runs, reruns, requests and
--    withdrawals, which claim no deletion). Holds and their records are written together by
--    the owner's functions of sql/0039_hold_writers.sql.
--
-- The catalog also refuses times lethe cannot compute with: an item created at '294276-12-30'
-- or '-infinity', or an event then, made every derivation fail with "timestamp out of range"
-- (every run, dry run and status, for every tenant), or left a batch that could never be
-- acknowledged. Items' created_at and events' occurred_at now lie in [1970-01-01, 3000-01-01).
-- NOT VALID: rows already written are not checked (a catalog holding one would have failed its
-- runs already).

CREATE FUNCTION lethe.definer_temp_guard() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    -- The relations of others are few (none, or a derivation's); each is looked at closely
    -- only when there is one, so that a session without any plans nothing more.
    FOR c IN SELECT r.oid, r.relname, r.relkind, r.relrowsecurity, r.relhasrules, r.relhastriggers
               FROM pg_class r
              WHERE r.relnamespace = pg_my_temp_schema() AND pg_my_temp_schema() <> 0
                AND r.relowner <> current_user::regrole::oid
              ORDER BY r.relname
    LOOP
        IF c.relname IN ('audit_stage', 'audit_stage_ord_seq')
           OR c.relkind NOT IN ('r', 'i', 'S', 't')
           OR (c.relkind = 'r'
               AND (c.relrowsecurity OR c.relhasrules OR c.relhastriggers
                    OR EXISTS (SELECT 1 FROM pg_attrdef d WHERE d.adrelid = c.oid)
                    OR EXISTS (SELECT 1 FROM pg_constraint k
                                WHERE k.conrelid = c.oid AND k.contype NOT IN ('p', 'u'))
                    OR EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                  AND t.typnamespace NOT IN ('pg_catalog'::regnamespace,
                                                             'lethe'::regnamespace))))
           OR (c.relkind = 'i'
               AND EXISTS (SELECT 1 FROM pg_index x
                            WHERE x.indexrelid = c.oid
                              AND (x.indexprs IS NOT NULL OR x.indpred IS NOT NULL))) THEN
            RAISE EXCEPTION 'audit: the temporary relation "%" of this session is not lethe''s own', c.relname
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'lethe''s writers run as the schema owner and refuse a session whose '
                             'temporary tables could run code of another role; use a new session';
        END IF;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION lethe.audit_stage_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lethe.definer_temp_guard();
    IF to_regclass('pg_temp.audit_stage') IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = to_regclass('pg_temp.audit_stage')
                          AND a.attname = 'sealed' AND NOT a.attisdropped) THEN
        DROP TABLE pg_temp.audit_stage;  -- staged by a session older than this migration
    END IF;
    IF to_regclass('pg_temp.audit_stage') IS NULL THEN
        EXECUTE format($t$
        CREATE TEMP TABLE audit_stage (
            ord bigserial,
            tenant_id uuid NOT NULL,
            kind text NOT NULL,
            run_id uuid,
            batch_id uuid,
            item_id uuid,
            rule text,
            reference text,
            triggered_at timestamptz,
            deadline_at timestamptz,
            purged_at timestamptz,
            on_time boolean,
            location text,
            hold_id uuid,
            subject_hmac text,
            operator text,
            count bigint,
            detail text,
            sealed boolean NOT NULL DEFAULT (current_user = %L)
        ) ON COMMIT DELETE ROWS$t$, current_user);
        GRANT SELECT ON pg_temp.audit_stage TO PUBLIC;
        GRANT INSERT (tenant_id, kind, run_id, batch_id, item_id, rule, reference, triggered_at,
                      deadline_at, purged_at, on_time, location, hold_id, subject_hmac, operator,
                      count, detail)
           ON pg_temp.audit_stage TO PUBLIC;
        GRANT USAGE ON SEQUENCE pg_temp.audit_stage_ord_seq TO PUBLIC;
    END IF;
END $$;

-- audit_flush: unsealed rows only of the kinds the engine stages with its own statements.
DO $flush$
DECLARE
    v_def text;
    v_old constant text := E'    PERFORM lethe.audit_stage_open();\n';
    v_new constant text := E'    PERFORM lethe.audit_stage_open();\n'
        '    SELECT s.kind INTO v_bad FROM pg_temp.audit_stage s\n'
        '     WHERE NOT s.sealed\n'
        '       AND s.kind NOT IN (''run_started'', ''run_finished'', ''operator_rerun'',\n'
        '                          ''request_recorded'', ''obligation_withdrawn'')\n'
        '     LIMIT 1;\n'
        '    IF FOUND THEN\n'
        '        RAISE EXCEPTION ''audit: % records are written only by lethe''''s own functions'', v_bad.kind\n'
        '            USING ERRCODE = ''insufficient_privilege'',\n'
        '                  HINT = ''purges, failures, batches, blocks and checkpoints are staged by the functions ''\n'
        '                         ''that make them (ack_batch, emit_batches, audit_checkpoint), as the owner'';\n'
        '    END IF;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.audit_flush()'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position('v_bad record;' IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0037: lethe.audit_flush() no longer opens its stage as 0003 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $flush$;

-- Every other PL/pgSQL writer that touches a temporary relation checks the session first.
DO $guard$
DECLARE
    f record;
    v_def text;
BEGIN
    FOR f IN SELECT p.oid, p.oid::regprocedure AS sig FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                -- definers already, or made so by lethe.harden() when migrate ends
                AND (p.prosecdef OR p.proname IN ('audit_checkpoint', 'ack_batch', 'emit_batches',
                                                  'repurge_emit'))
                AND p.prolang = (SELECT l.oid FROM pg_language l WHERE l.lanname = 'plpgsql')
                AND p.prorettype <> 'trigger'::regtype
                AND p.proname NOT IN ('audit_stage_open', 'audit_flush')
                AND p.prosrc ~* '(temp|audit_stage)'
              ORDER BY p.proname
    LOOP
        v_def := pg_get_functiondef(f.oid);
        IF position(E'\nBEGIN\n' IN v_def) = 0 THEN
            RAISE EXCEPTION 'migration 0037: % has no BEGIN line to put the guard after', f.sig;
        END IF;
        EXECUTE regexp_replace(v_def, E'\nBEGIN\n',
                               E'\nBEGIN\n    PERFORM lethe.definer_temp_guard();\n');
    END LOOP;
END $guard$;

ALTER TABLE lethe.items ADD CONSTRAINT items_created_at_from_1970_to_2999
    CHECK (created_at >= '1970-01-01 00:00:00+00' AND created_at < '3000-01-01 00:00:00+00') NOT VALID;
ALTER TABLE lethe.events ADD CONSTRAINT events_occurred_at_from_1970_to_2999
    CHECK (occurred_at >= '1970-01-01 00:00:00+00' AND occurred_at < '3000-01-01 00:00:00+00') NOT VALID;
