-- A hold and its audit record are written together, by the owner: lethe.hold_place() and
-- lethe.hold_release() replace the operator's INSERT and UPDATE on lethe.holds (deploy/roles.sql
-- takes those back). With the grants, an operator could place a hold by SQL without its
-- hold_placed record, backdated (placed_at is the hold's own), so that a purge it delayed
-- counted as held rather than late; or release one without hold_released, by any name. SPEC §5:
-- the audit records holds placed and released, with the operator's name. placed_at and
-- released_at are now() here, as `lethe hold` always had them. The subject's HMAC is computed
-- by lethe (the key never enters the database) and passed in; it is null without a subject.
-- The records are staged as the owner, hence sealed (sql/0037_definer_temp.sql).

-- What an audit record of a hold or a request says of its scope (never a subject id).
CREATE FUNCTION lethe.scope_detail(p_workspace uuid, p_subject text, p_item uuid) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_workspace IS NOT NULL THEN 'scope workspace ' || p_workspace
                WHEN p_subject IS NOT NULL THEN 'scope subject'
                WHEN p_item IS NOT NULL THEN 'scope item'
                ELSE 'scope tenant' END
$$;

CREATE FUNCTION lethe.hold_place(p_tenant uuid, p_workspace uuid, p_subject text, p_item uuid,
                                 p_reason text, p_reference text, p_operator text,
                                 p_subject_hmac text)
RETURNS TABLE (hold_id uuid, placed_at text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM lethe.audit_stage_open();
    IF p_subject IS NULL AND p_subject_hmac IS NOT NULL THEN
        RAISE EXCEPTION 'hold: a subject''s HMAC without a subject' USING ERRCODE = 'check_violation';
    END IF;
    RETURN QUERY
    WITH h AS (
        INSERT INTO lethe.holds (tenant_id, workspace_id, subject_id, item_id, reason, reference,
                                 placed_by)
        VALUES (p_tenant, p_workspace, p_subject, p_item, p_reason, p_reference, p_operator)
        RETURNING *),
    a AS (
        INSERT INTO pg_temp.audit_stage (tenant_id, kind, item_id, reference, hold_id, subject_hmac,
                                         operator, detail)
        SELECT h.tenant_id, 'hold_placed', h.item_id, h.reference, h.hold_id, p_subject_hmac,
               h.placed_by, lethe.scope_detail(h.workspace_id, h.subject_id, h.item_id)
          FROM h)
    SELECT h.hold_id, lethe.iso_utc(h.placed_at) FROM h;
END $$;

CREATE FUNCTION lethe.hold_release(p_tenant uuid, p_hold uuid, p_operator text,
                                   p_subject_hmac text)
RETURNS TABLE (released_at text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM lethe.audit_stage_open();
    RETURN QUERY
    WITH h AS (
        UPDATE lethe.holds x SET released_at = now(), released_by = p_operator
         WHERE x.tenant_id = p_tenant AND x.hold_id = p_hold AND x.released_at IS NULL
        RETURNING x.*),
    a AS (
        INSERT INTO pg_temp.audit_stage (tenant_id, kind, item_id, reference, hold_id, subject_hmac,
                                         operator, detail)
        SELECT h.tenant_id, 'hold_released', h.item_id, h.reference, h.hold_id, p_subject_hmac,
               h.released_by,
               lethe.scope_detail(h.workspace_id, h.subject_id, h.item_id)
               || ', placed ' || lethe.iso_utc(h.placed_at)
          FROM h)
    SELECT lethe.iso_utc(h.released_at) FROM h;
END $$;

REVOKE ALL ON FUNCTION lethe.hold_place(uuid, uuid, text, uuid, text, text, text, text),
                       lethe.hold_release(uuid, uuid, text, text) FROM PUBLIC;
