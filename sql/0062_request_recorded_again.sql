-- A request recorded again after a restore keeps the time it was first recorded.
--
-- A restore brings the catalog back as it was at the backup; a request recorded through
-- `lethe request` after the backup is in the audit (its request_recorded record, replayed from
-- the exports) but not in the catalog, and replay asks for it to be recorded again (README,
-- "Restores"). Recorded again, it occurred now(): its deadline ran from the second recording,
-- up to weeks after the one the data subject was promised (SPEC §3: deleted within 30 days of
-- the request). The request was made when the audit says it was.
--
-- lethe.request_record() now first looks for the request_recorded record that the new request
-- repeats: the tenant's, with the same reference and the same scope (item, workspace, the
-- subject's HMAC), whose event the catalog does not hold (no deletion_requested event of the
-- tenant has that reference), the earliest if there are several. Its triggered_at becomes the
-- event's occurred_at, so the obligation, the deadline and the new record's triggered_at and
-- deadline_at are the first recording's; the new record's detail names the record it repeats,
-- and so does the function's new column first_seq (null for a request recorded as before, at
-- now()), which `lethe request` prints. Reads the tenant's chain (an operator's command, rare).
-- A column added changes the function's type: it is dropped and created again, with the
-- grants it had.

CREATE TEMP TABLE request_record_grants AS
SELECT DISTINCT x.grantee::regrole::text AS who
  FROM pg_proc p, aclexplode(p.proacl) x
 WHERE p.oid = 'lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)'::regprocedure
   AND x.privilege_type = 'EXECUTE' AND x.grantee <> 0 AND x.grantee <> p.proowner;

DROP FUNCTION lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text);

CREATE FUNCTION lethe.request_record(p_tenant uuid, p_workspace uuid, p_subject text,
                                     p_item uuid, p_reference text, p_operator text,
                                     p_deadline interval, p_rule text, p_subject_hmac text)
RETURNS TABLE (event_id bigint, occurred_at text, deadline_at text, first_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_at timestamptz;
BEGIN
    PERFORM lethe.audit_stage_open();
    IF p_subject IS NULL AND p_subject_hmac IS NOT NULL THEN
        RAISE EXCEPTION 'request: a subject''s HMAC without a subject' USING ERRCODE = 'check_violation';
    END IF;
    -- The record this request repeats, when a restore lost its event.
    SELECT a.seq, a.triggered_at INTO v_seq, v_at
      FROM lethe.audit a
     WHERE a.tenant_id = p_tenant AND a.kind = 'request_recorded' AND a.reference = p_reference
       AND a.item_id IS NOT DISTINCT FROM p_item
       AND a.subject_hmac IS NOT DISTINCT FROM p_subject_hmac
       AND substring(a.detail FROM '^event [0-9]+, (.*)$')
           = lethe.scope_detail(p_workspace, p_subject, p_item)
       AND a.triggered_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lethe.events e
                        WHERE e.tenant_id = p_tenant AND e.type = 'deletion_requested'
                          AND e.reference = p_reference)
     ORDER BY a.seq
     LIMIT 1;
    v_at := coalesce(v_at, now());
    RETURN QUERY
    WITH e AS (
        INSERT INTO lethe.events (tenant_id, type, workspace_id, subject_id, item_id, occurred_at,
                                  reference)
        VALUES (p_tenant, 'deletion_requested', p_workspace, p_subject, p_item, v_at, p_reference)
        RETURNING *),
    o AS (
        INSERT INTO lethe.request_operators (tenant_id, event_id, operator)
        SELECT e.tenant_id, e.event_id, p_operator FROM e),
    a AS (
        INSERT INTO pg_temp.audit_stage (tenant_id, kind, item_id, rule, reference, triggered_at,
                                         deadline_at, subject_hmac, operator, detail)
        SELECT e.tenant_id, 'request_recorded', e.item_id, p_rule, e.reference, e.occurred_at,
               e.occurred_at + p_deadline, p_subject_hmac, p_operator,
               'event ' || e.event_id || ', ' || lethe.scope_detail(e.workspace_id, e.subject_id, e.item_id)
               || CASE WHEN v_seq IS NOT NULL
                       THEN ', recorded again: first recorded at seq ' || v_seq ELSE '' END
          FROM e)
    SELECT e.event_id, lethe.iso_utc(e.occurred_at), lethe.iso_utc(e.occurred_at + p_deadline), v_seq
      FROM e;
END $$;
REVOKE ALL ON FUNCTION lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)
    FROM PUBLIC;

DO $grants$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT g.who FROM request_record_grants g LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text) TO %s', r.who);
    END LOOP;
END $grants$;
DROP TABLE request_record_grants;
