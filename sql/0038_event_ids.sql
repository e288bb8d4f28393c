-- events.event_id is GENERATED ALWAYS, but a producer may still write INSERT ... OVERRIDING
-- SYSTEM VALUE (INSERT is all it needs): an id above the sequence's made another producer's
-- plain insert fail later on a duplicate key, when the sequence reached it. Ids are the
-- database's to give (SPEC §2): events_check_insert now refuses one the sequence has not given
-- yet (above its last value, or below 1). An id at or below the last value that no row holds
-- (one a rolled-back insert took) can never be given again, so it collides with nothing.
DO $ids$
DECLARE
    v_def text;
    v_check constant text := E'\nBEGIN\n'
        '    IF NEW.event_id < 1\n'
        '       OR NEW.event_id > coalesce(pg_sequence_last_value(''lethe.events_event_id_seq''::regclass), 0) THEN\n'
        '        RAISE EXCEPTION ''event %: event_id % was not given by the database'', NEW.type, NEW.event_id\n'
        '            USING ERRCODE = ''check_violation'',\n'
        '                  HINT = ''leave event_id out (no OVERRIDING SYSTEM VALUE): the database numbers events'';\n'
        '    END IF;\n';
BEGIN
    IF pg_get_serial_sequence('lethe.events', 'event_id') <> 'lethe.events_event_id_seq' THEN
        RAISE EXCEPTION 'migration 0038: events.event_id is not numbered by lethe.events_event_id_seq';
    END IF;
    v_def := pg_get_functiondef('lethe.events_check_insert()'::regprocedure);
    IF position(E'\nBEGIN\n' IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0038: lethe.events_check_insert() has no BEGIN line';
    END IF;
    EXECUTE regexp_replace(v_def, E'\nBEGIN\n', v_check);
END $ids$;
