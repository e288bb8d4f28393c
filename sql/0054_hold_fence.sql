-- A hold is placed after the batches being formed have committed, and at the time it is placed.
--
-- A hold committed while a run formed its batches, after they had judged the holds, kept
-- nothing back, and `lethe hold place`'s warning, which looked before those batches committed,
-- named nothing. Forming batches holds advisory lock 7283316 shared until it commits (the
-- engine's emission, engine/dbcycle.c); placing a hold now holds it exclusively until the hold
-- commits, here in the function, so that a hold placed by SQL through it is fenced as
-- `lethe hold place` is. And placed_at was now(), the start of the hold's transaction: a hold
-- that waited for an emission was recorded as placed before the batch that took its items.
-- It is the time the hold is written, after the wait (clock_timestamp()); the release likewise,
-- so that a release is never before its placing.
--
-- And each appends its own record before it returns (lethe.audit_flush(); the engine's flush at
-- commit then finds nothing left): called by SQL, with no flush before COMMIT, a hold was placed
-- or released with no hold_placed or hold_released record, since the stage is emptied at commit.
CREATE OR REPLACE FUNCTION lethe.hold_place(p_tenant uuid, p_workspace uuid, p_subject text,
                                            p_item uuid, p_reason text, p_reference text,
                                            p_operator text, p_subject_hmac text)
RETURNS TABLE (hold_id uuid, placed_at text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(7283316, 0);
    -- taken once the lock is held; a value, not a call in the statement (on Citus an UPDATE or
    -- INSERT of a distributed table may not call a volatile function)
    v_at := clock_timestamp();
    PERFORM lethe.audit_stage_open();
    IF p_subject IS NULL AND p_subject_hmac IS NOT NULL THEN
        RAISE EXCEPTION 'hold: a subject''s HMAC without a subject' USING ERRCODE = 'check_violation';
    END IF;
    RETURN QUERY
    WITH h AS (
        INSERT INTO lethe.holds (tenant_id, workspace_id, subject_id, item_id, reason, reference,
                                 placed_by, placed_at)
        VALUES (p_tenant, p_workspace, p_subject, p_item, p_reason, p_reference, p_operator, v_at)
        RETURNING *),
    a AS (
        INSERT INTO pg_temp.audit_stage (tenant_id, kind, item_id, reference, hold_id, subject_hmac,
                                         operator, detail)
        SELECT h.tenant_id, 'hold_placed', h.item_id, h.reference, h.hold_id, p_subject_hmac,
               h.placed_by, lethe.scope_detail(h.workspace_id, h.subject_id, h.item_id)
          FROM h)
    SELECT h.hold_id, lethe.iso_utc(h.placed_at) FROM h;
    PERFORM lethe.audit_flush();
END $$;

CREATE OR REPLACE FUNCTION lethe.hold_release(p_tenant uuid, p_hold uuid, p_operator text,
                                              p_subject_hmac text)
RETURNS TABLE (released_at text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_at timestamptz := clock_timestamp();
BEGIN
    PERFORM lethe.audit_stage_open();
    RETURN QUERY
    WITH h AS (
        UPDATE lethe.holds x SET released_at = greatest(v_at, x.placed_at),
                                 released_by = p_operator
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
    PERFORM lethe.audit_flush();
END $$;
