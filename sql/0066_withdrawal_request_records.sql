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
--   the obligations the derivation withdrew, from the catalog itself: each obligation must be
--   withdrawn by an event that withdraws it (a deletion_cancelled with its reference for a
--   request, a capacity_provisioned for a capacity deletion, after its trigger), at that
--   event's time; the record is what it was (rule, reference, triggered_at, subject HMAC, items
--   released, 'withdrawn at ...'). derive_apply calls it instead of staging the rows.
-- - lethe.request_record() appends its record itself, in the call that writes the event, and
--   the rule is the scope's (subject_request for a data subject's items, else
--   deletion_request), not the caller's to choose. The deadline it records is the one the
--   caller gives (`lethe request` reads it from the config; an engine role also writes
--   lethe.rules, so the table would vouch for nothing more), and so is the subject's HMAC:
--   the database holds no key to check it with.
-- - audit_flush() refuses an unsealed row of either kind: what a session stages by hand is a
--   run's own record (run_started, run_finished, operator_rerun) or nothing.

CREATE FUNCTION lethe.audit_withdrawals(p_tenants uuid[], p_obligations bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    i integer;
BEGIN
    PERFORM lethe.audit_stage_open();
    IF coalesce(array_length(p_tenants, 1), 0) <> coalesce(array_length(p_obligations, 1), 0) THEN
        RAISE EXCEPTION 'audit: withdrawals need one obligation per tenant given'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One obligation at a time, by its key (withdrawals are rare; on Citus each is a router
    -- statement on its tenant's shard).
    FOR i IN 1 .. coalesce(array_length(p_tenants, 1), 0) LOOP
        INSERT INTO pg_temp.audit_stage (tenant_id, kind, rule, reference, triggered_at, subject_hmac,
                                         count, detail)
        SELECT o.tenant_id, 'obligation_withdrawn', o.rule, o.reference, o.triggered_at, o.subject_hmac,
               (SELECT count(*) FROM lethe.item_obligations p
                 WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id),
               'withdrawn at ' || lethe.iso_utc(o.withdrawn_at)
          FROM lethe.obligations o
          JOIN lethe.events e ON e.tenant_id = o.tenant_id AND e.event_id = o.withdrawn_by
         WHERE o.tenant_id = p_tenants[i] AND o.obligation_id = p_obligations[i]
           AND e.occurred_at = o.withdrawn_at AND e.occurred_at > o.triggered_at
           AND ((o.rule IN ('deletion_request', 'subject_request')
                 AND e.type = 'deletion_cancelled' AND e.reference = o.reference)
             OR (o.rule = 'capacity_deleted' AND e.type = 'capacity_provisioned'));
        IF NOT FOUND THEN
            RAISE EXCEPTION 'audit: obligation % of tenant % is not withdrawn by an event of the catalog',
                            p_obligations[i], p_tenants[i]
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'an obligation_withdrawn record is made from the cancellation or '
                             're-provisioning event that withdrew the obligation, and only then';
        END IF;
    END LOOP;
    RETURN coalesce(array_length(p_tenants, 1), 0);
END $$;
REVOKE ALL ON FUNCTION lethe.audit_withdrawals(uuid[], bigint[]) FROM PUBLIC;

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
        || E'    PERFORM lethe.audit_withdrawals(array_agg(w.tenant_id ORDER BY w.tenant_id, w.obligation_id),\n'
        || E'                                    array_agg(w.obligation_id ORDER BY w.tenant_id, w.obligation_id))\n'
        || E'       FROM withdrawals w HAVING count(*) > 0;\n'
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
        GRANT EXECUTE ON FUNCTION lethe.audit_withdrawals(uuid[], bigint[]) TO lethe_engine;
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
