-- A request's record names a deadline after the request, or none.
--
-- lethe.request_record() recorded the deadline its caller gave (sql/0066 left it the caller's:
-- `lethe request` reads it from the config, whose deadlines are positive, and gives none for a
-- rule disabled there). Called by SQL it took any interval: a deadline of "-5 days" made a
-- request_recorded record whose deadline_at lay before the request itself, and the audit then
-- vouched for a deadline that no config can give. Now a deadline that is not after the request
-- is refused; none (NULL, the rule disabled) is still recorded as none.

DO $request$
DECLARE
    v_def text;
    v_old constant text :=
        E'    IF p_subject IS NULL AND p_subject_hmac IS NOT NULL THEN\n';
    v_new constant text :=
        E'    IF p_deadline <= interval ''0'' THEN\n'
        || E'        RAISE EXCEPTION ''request: a deadline must lie after the request (% given)'', p_deadline\n'
        || E'            USING ERRCODE = ''check_violation'',\n'
        || E'                  HINT = ''give a positive interval, as the config does, or none for a disabled rule'';\n'
        || E'    END IF;\n';
BEGIN
    v_def := pg_get_functiondef(
        'lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_old IN substr(v_def, position(v_old IN v_def) + 1)) <> 0 THEN
        RAISE EXCEPTION 'migration 0070: lethe.request_record() does not check the subject''s HMAC as sql/0062 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new || v_old);
END $request$;
