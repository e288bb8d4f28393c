-- A deletion request recorded with `lethe request` (its event, who recorded it, and its
-- request_recorded record) is written by one function, as the owner, as a hold is
-- (sql/0039_hold_writers.sql). Until now lethe wrote the event and the operator's row as the
-- operator and then flushed the audit as the owner; on Citus one transaction cannot write a
-- tenant's shards as two users ("cannot perform query on placements that were modified in this
-- transaction by a different user"), and `lethe request` failed there. Written as the owner,
-- it is one user on both. occurred_at is now(), as `lethe request` always had it; the
-- subject's HMAC is computed by lethe (the key never enters the database) and passed in.
-- The operator keeps INSERT on events (deploy/roles.sql): a request is an event a producer may
-- write too; this function is how lethe records one with its operator and its record.
CREATE FUNCTION lethe.request_record(p_tenant uuid, p_workspace uuid, p_subject text,
                                     p_item uuid, p_reference text, p_operator text,
                                     p_deadline interval, p_rule text, p_subject_hmac text)
RETURNS TABLE (event_id bigint, occurred_at text, deadline_at text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM lethe.audit_stage_open();
    IF p_subject IS NULL AND p_subject_hmac IS NOT NULL THEN
        RAISE EXCEPTION 'request: a subject''s HMAC without a subject' USING ERRCODE = 'check_violation';
    END IF;
    RETURN QUERY
    WITH e AS (
        INSERT INTO lethe.events (tenant_id, type, workspace_id, subject_id, item_id, occurred_at,
                                  reference)
        VALUES (p_tenant, 'deletion_requested', p_workspace, p_subject, p_item, now(), p_reference)
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
          FROM e)
    SELECT e.event_id, lethe.iso_utc(e.occurred_at), lethe.iso_utc(e.occurred_at + p_deadline)
      FROM e;
END $$;
REVOKE ALL ON FUNCTION lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)
    FROM PUBLIC;
