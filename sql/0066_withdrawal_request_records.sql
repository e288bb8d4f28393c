-- Withdrawals and requests are recorded by the functions that make them, as the owner.
--
-- SPEC §5: only the engine's own functions write the audit; no role, the engine's and the
-- operator's included, can insert an audit row. audit_flush() still took two kinds staged by
-- any session holding lethe_engine, unsealed (sql/0037): obligation_withdrawn, which the
-- derivation (lethe.derive_apply, run as its caller) staged with its own statement, and
-- request_recorded. A login holding lethe_engine alone could stage and flush a withdrawal of a
-- request nobody cancelled, or a request nobody made, with any operator's name; both were
-- chained, anchored and verified, and a forged request_recorded later had `lethe replay` ask
-- for the request to be recorded again after a restore. And lethe.request_record() staged its
-- record for the caller to flush: called without the flush, the event was written and its
-- record never was.
--
-- Now:
-- - lethe.audit_withdrawals() (SECURITY DEFINER) stages the obligation_withdrawn records of
--   the obligations the derivation withdrew, from the producers' events, which no engine role
--   writes: the event that triggered the obligation must be of its rule (a deletion_requested
--   with its reference, with a subject for subject_request and without one otherwise, or a
--   capacity_deleted) at the record's trigger time, and the withdrawing event a later
--   deletion_cancelled with the same reference, or a later capacity_provisioned; the record
--   says when that event occurred (which may lie ahead: a cancellation dated in the future is
--   recorded when it is processed, and takes effect at its time). A withdrawal is recorded
--   once (the same again stages nothing). The subject's HMAC (only on a subject_request) and
--   the count of items released (not negative) are the engine's: the obligations are its own
--   table, and on Citus a placement the engine wrote in this transaction cannot be read as
--   another user. derive_apply calls it instead of staging the rows.
-- - lethe.request_record() appends its record itself, in the call that writes the event, and
--   the rule is the scope's (subject_request for a data subject's items, else
--   deletion_request), not the caller's to choose. The deadline it records is the one the
--   caller gives (`lethe request` reads it from the config; an engine role also writes
--   lethe.rules, so the table would vouch for nothing more), and so is the subject's HMAC:
--   the database holds no key to check it with.
-- - audit_flush() refuses an unsealed row of either kind: what a session stages by hand is a
--   run's own record (run_started, run_finished, operator_rerun) or nothing.

CREATE FUNCTION lethe.audit_withdrawals(p_tenants uuid[], p_rules text[], p_references text[],
                                        p_triggered timestamptz[], p_hmacs text[], p_counts bigint[],
                                        p_sources bigint[], p_withdrawers bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(array_length(p_tenants, 1), 0);
    v_at timestamptz;
    v_staged bigint := 0;
BEGIN
    PERFORM lethe.audit_stage_open();
    IF n <> coalesce(array_length(p_rules, 1), 0) OR n <> coalesce(array_length(p_references, 1), 0)
       OR n <> coalesce(array_length(p_triggered, 1), 0) OR n <> coalesce(array_length(p_hmacs, 1), 0)
       OR n <> coalesce(array_length(p_counts, 1), 0) OR n <> coalesce(array_length(p_sources, 1), 0)
       OR n <> coalesce(array_length(p_withdrawers, 1), 0) THEN
        RAISE EXCEPTION 'audit: withdrawals need every attribute of every obligation given'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One withdrawal at a time, by its tenant (withdrawals are rare; on Citus each lookup is a
    -- router statement on the tenant's shard). Only the events are read: the producers' table,
    -- which no engine role writes (the obligations are the engine's, and on Citus a placement
    -- the engine wrote in this transaction cannot be read as another user).
    FOR i IN 1 .. n LOOP
        SELECT w.occurred_at INTO v_at
          FROM lethe.events s
          JOIN lethe.events w ON w.tenant_id = s.tenant_id AND w.event_id = p_withdrawers[i]
         WHERE s.tenant_id = p_tenants[i] AND s.event_id = p_sources[i]
           AND s.occurred_at = p_triggered[i] AND w.occurred_at > s.occurred_at
           AND ((p_rules[i] IN ('deletion_request', 'subject_request')
                 AND s.type = 'deletion_requested' AND s.reference = p_references[i]
                 AND (s.subject_id IS NOT NULL) = (p_rules[i] = 'subject_request')
                 AND w.type = 'deletion_cancelled' AND w.reference = s.reference)
             OR (p_rules[i] = 'capacity_deleted' AND s.type = 'capacity_deleted'
                 AND s.reference IS NOT DISTINCT FROM p_references[i]
                 AND w.type = 'capacity_provisioned'));
        IF NOT FOUND THEN
            RAISE EXCEPTION 'audit: no event of tenant % withdraws a % obligation triggered at % by event %',
                            p_tenants[i], p_rules[i], lethe.iso_utc(p_triggered[i]), p_sources[i]
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'an obligation_withdrawn record is made from the request or capacity '
                             'deletion and the event that withdrew it, and only then';
        END IF;
        IF p_counts[i] IS NULL OR p_counts[i] < 0
           OR (p_hmacs[i] IS NOT NULL AND p_rules[i] <> 'subject_request') THEN
            RAISE EXCEPTION 'audit: a withdrawal of a % obligation counts items released (% given) and carries a subject''s HMAC only for a subject_request',
                            p_rules[i], coalesce(p_counts[i]::text, 'none')
                USING ERRCODE = 'check_violation';
        END IF;
        -- Recorded once: the same withdrawal again (a second call, in this transaction or
        -- after it) adds nothing. An earlier withdrawing event committed later is another
        -- record, with its own time.
        IF NOT EXISTS (SELECT 1 FROM lethe.audit a
                        WHERE a.tenant_id = p_tenants[i] AND a.kind = 'obligation_withdrawn'
                          AND a.reference IS NOT DISTINCT FROM p_references[i] AND a.rule = p_rules[i]
                          AND a.triggered_at = p_triggered[i]
                          AND a.detail = 'withdrawn at ' || lethe.iso_utc(v_at))
           AND NOT EXISTS (SELECT 1 FROM pg_temp.audit_stage a
                            WHERE a.tenant_id = p_tenants[i] AND a.kind = 'obligation_withdrawn'
                              AND a.reference IS NOT DISTINCT FROM p_references[i] AND a.rule = p_rules[i]
                              AND a.triggered_at = p_triggered[i]
                              AND a.detail = 'withdrawn at ' || lethe.iso_utc(v_at)) THEN
            INSERT INTO pg_temp.audit_stage (tenant_id, kind, rule, reference, triggered_at,
                                             subject_hmac, count, detail)
            VALUES (p_tenants[i], 'obligation_withdrawn', p_rules[i], p_references[i], p_triggered[i],
                    p_hmacs[i], p_counts[i], 'withdrawn at ' || lethe.iso_utc(v_at));
            v_staged := v_staged + 1;
        END IF;
    END LOOP;
    RETURN v_staged;
END $$;
-- The lookup for a withdrawal recorded already: a tenant's withdrawals, by reference.
CREATE INDEX audit_withdrawn ON lethe.audit (tenant_id, reference) WHERE kind = 'obligation_withdrawn';

REVOKE ALL ON FUNCTION lethe.audit_withdrawals(uuid[], text[], text[], timestamptz[], text[], bigint[],
                                                bigint[], bigint[]) FROM PUBLIC;

-- derive_apply stages its withdrawals through it, in the same order (tenant, obligation).
DO $derive$
DECLARE
    v_def text;
    v_from integer;
    v_to integer;
    v_start constant text :=
        E'    INSERT INTO audit_stage (tenant_id, kind, rule, reference, triggered_at, subject_hmac, count, detail)\n'
        || E'    SELECT o.tenant_id, ''obligation_withdrawn''';
    v_end constant text := E'     ORDER BY o.tenant_id, o.obligation_id;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.derive_apply(timestamptz, integer, integer)'::regprocedure);
    v_from := position(v_start IN v_def);
    IF v_from = 0 OR position(v_start IN substr(v_def, v_from + 1)) <> 0 THEN
        RAISE EXCEPTION 'migration 0066: lethe.derive_apply() no longer stages its withdrawals as sql/0030 wrote it';
    END IF;
    v_to := position(v_end IN substr(v_def, v_from));
    IF v_to = 0 THEN
        RAISE EXCEPTION 'migration 0066: lethe.derive_apply() no longer orders its withdrawals as sql/0030 wrote it';
    END IF;
    v_def := substr(v_def, 1, v_from - 1)
        || E'    -- made from the catalog by the owner (sql/0066_withdrawal_request_records.sql)\n'
        || E'    PERFORM lethe.audit_withdrawals(\n'
        || E'               array_agg(o.tenant_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg(o.rule ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg(o.reference ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg(o.triggered_at ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg(o.subject_hmac ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg((SELECT count(*) FROM lethe.item_obligations p\n'
        || E'                           WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id)\n'
        || E'                         ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg(o.event_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'               array_agg(w.event_id ORDER BY o.tenant_id, o.obligation_id))\n'
        || E'      FROM withdrawals w\n'
        || E'      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id\n'
        || E'    HAVING count(*) > 0;\n'
        || substr(v_def, v_from + v_to - 1 + length(v_end));
    EXECUTE v_def;
END $derive$;

-- request_record: the scope's rule, and its record appended in the same call.
DO $request$
DECLARE
    v_def text;
    v_edits constant text[][] := ARRAY[
        [E'    PERFORM lethe.audit_stage_open();\n',
         E'    PERFORM lethe.audit_stage_open();\n'
         || E'    IF p_rule IS DISTINCT FROM (CASE WHEN p_subject IS NOT NULL THEN ''subject_request''\n'
         || E'                                    ELSE ''deletion_request'' END) THEN\n'
         || E'        RAISE EXCEPTION ''request: a request of this scope falls under rule %, not %'',\n'
         || E'                        CASE WHEN p_subject IS NOT NULL THEN ''subject_request'' ELSE ''deletion_request'' END,\n'
         || E'                        coalesce(p_rule, ''none'')\n'
         || E'            USING ERRCODE = ''check_violation'';\n'
         || E'    END IF;\n'],
        [E'      FROM e;\nEND',
         E'      FROM e;\n'
         || E'    -- the record goes with the event, whatever the caller does next\n'
         || E'    PERFORM lethe.audit_flush();\nEND']];
BEGIN
    v_def := pg_get_functiondef(
        'lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)'::regprocedure);
    FOR i IN 1 .. array_length(v_edits, 1) LOOP
        IF position(v_edits[i][1] IN v_def) = 0
           OR position(v_edits[i][1] IN substr(v_def, position(v_edits[i][1] IN v_def) + 1)) <> 0 THEN
            RAISE EXCEPTION 'migration 0066: lethe.request_record() is not as sql/0062 wrote it (edit %)', i;
        END IF;
        v_def := replace(v_def, v_edits[i][1], v_edits[i][2]);
    END LOOP;
    EXECUTE v_def;
END $request$;

-- audit_flush: no unsealed withdrawal or request any more.
DO $flush$
DECLARE
    v_def text;
    v_old constant text :=
        E'       AND s.kind NOT IN (''run_started'', ''run_finished'', ''operator_rerun'',\n'
        || E'                          ''request_recorded'', ''obligation_withdrawn'')\n';
    v_new constant text :=
        E'       AND s.kind NOT IN (''run_started'', ''run_finished'', ''operator_rerun'')\n';
    v_old_hint constant text := E'(ack_batch, emit_batches, audit_checkpoint), as the owner';
    v_new_hint constant text := E'(ack_batch, emit_batches, audit_checkpoint, audit_withdrawals, request_record), as the owner';
BEGIN
    v_def := pg_get_functiondef('lethe.audit_flush()'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_old_hint IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0066: lethe.audit_flush() does not check unsealed rows as sql/0037 wrote it';
    END IF;
    EXECUTE replace(replace(v_def, v_old, v_new), v_old_hint, v_new_hint);
END $flush$;

-- A database upgraded after deploy/roles.sql ran: the engine gets what roles.sql gives it on
-- every function (EXECUTE).
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.audit_withdrawals(uuid[], text[], text[], timestamptz[], text[],
                                                          bigint[], bigint[], bigint[]) TO lethe_engine;
    END IF;
END $grant$;

-- On harden()'s list of writers (sql/0008, 0032, 0055): every migrate keeps it SECURITY DEFINER
-- with its search_path.
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''audit_append_run''))';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0066: lethe.harden() no longer ends its list of writers as 0055 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, '''audit_append_run'', ''audit_withdrawals''))');
END $harden$;
