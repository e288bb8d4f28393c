-- A subject's request recorded without an audit key, lost with a restore, keeps its first time
-- when it is recorded again with one.
--
-- Recorded without a key, a subject's request_recorded record names no subject (no HMAC).
-- After a restore took its event, replay and status take any subject's request under its
-- reference and scope for it (engine/dbrestore.c: the record cannot tell), but
-- lethe.request_record() looked for the record it repeats by the HMAC too, so a request recorded
-- again with a key found none: it occurred now, and its deadline ran from the second recording,
-- up to weeks after the one the data subject was promised (found by an outside tryout). A
-- record without an HMAC is now repeated by a subject's request with one, as status reads it.
-- (A record with an HMAC is recorded again only with a key: `lethe request` refuses one without.)

DO $request$
DECLARE
    v_def text;
    v_old constant text :=
        E'       AND a.subject_hmac IS NOT DISTINCT FROM p_subject_hmac\n';
    v_new constant text :=
        E'       AND (a.subject_hmac IS NOT DISTINCT FROM p_subject_hmac\n'
        || E'            OR (a.subject_hmac IS NULL AND p_subject IS NOT NULL))\n';
BEGIN
    v_def := pg_get_functiondef(
        'lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_old IN substr(v_def, position(v_old IN v_def) + 1)) <> 0 THEN
        RAISE EXCEPTION 'migration 0107: lethe.request_record() does not look for the record it repeats as sql/0062 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $request$;
