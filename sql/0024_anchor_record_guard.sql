-- The recorded anchor line (0021), made to stand only for what the audit holds (SPEC §7).
--
-- 0021 trusted a record that any role holding lethe_engine could write: deploy/roles.sql grants
-- the engine INSERT on every table of the schema but a few, and anchor_line_record took any
-- digest. The nightly service account could so silence the restore check of a database behind
-- its anchor file, which it can neither heal (replay is the operator's) nor append to by hand.
-- And the audit's file (pg_relation_filenode) is kept when its rows are replaced in place (the
-- guards lifted, DELETE, an older dump loaded): the record then stood for heads no longer there.
--
-- Now: the record is written only by anchor_line_record (a statement guard refuses every other
-- writer but the owner, as on the audit itself), which takes the line, computes its SHA-256 and
-- records it only when every head the line names is in the audit; it keeps the line's newest
-- head (the head whose record is the latest), and anchor_line_known asks for that one record
-- too: one probe, which an audit restored to before the line, in place or not, cannot pass.
-- Records written before this migration carry no head and count for nothing (one comparison
-- head by head, until the next run records its line).

ALTER TABLE lethe.anchor_lines
    ADD COLUMN head_chain uuid,
    ADD COLUMN head_seq bigint,
    ADD COLUMN head_hash text;

CREATE TRIGGER anchor_lines_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.anchor_lines
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions record an anchor line',
        'a run records the line it appended to the anchor file');
CREATE TRIGGER anchor_lines_no_truncate BEFORE TRUNCATE ON lethe.anchor_lines
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions record an anchor line',
        'a run records the line it appended to the anchor file');

DROP FUNCTION lethe.anchor_line_record(text, uuid);

-- True when recorded; false (nothing written) when the line is not an anchor line or a head it
-- names is not in the audit.
CREATE FUNCTION lethe.anchor_line_record(p_line text, p_run uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_line jsonb;
    v_heads int;
    v_found int;
    v_chain uuid;
    v_seq bigint;
    v_hash text;
BEGIN
    BEGIN
        v_line := p_line::jsonb;
    EXCEPTION WHEN others THEN
        RETURN false;
    END;
    IF jsonb_typeof(v_line -> 'heads') IS DISTINCT FROM 'array' THEN
        RETURN false;
    END IF;
    SELECT count(*) INTO v_heads FROM jsonb_array_elements(v_line -> 'heads');
    IF v_heads = 0 THEN
        RETURN false;
    END IF;
    SELECT count(*) INTO v_found
      FROM jsonb_array_elements(v_line -> 'heads') h
      JOIN lethe.audit a ON a.tenant_id = (h ->> 'chain')::uuid AND a.seq = (h ->> 'seq')::bigint
                        AND a.hash = h ->> 'hash';
    IF v_found <> v_heads THEN
        RETURN false;
    END IF;
    SELECT a.tenant_id, a.seq, a.hash INTO v_chain, v_seq, v_hash
      FROM jsonb_array_elements(v_line -> 'heads') h
      JOIN lethe.audit a ON a.tenant_id = (h ->> 'chain')::uuid AND a.seq = (h ->> 'seq')::bigint
                        AND a.hash = h ->> 'hash'
     ORDER BY a.at DESC, a.tenant_id, a.seq DESC LIMIT 1;
    INSERT INTO lethe.anchor_lines (digest, run_id, audit_file, head_chain, head_seq, head_hash)
    VALUES (encode(sha256(convert_to(p_line, 'UTF8')), 'hex'), p_run,
            pg_relation_filenode('lethe.audit'), v_chain, v_seq, v_hash)
        ON CONFLICT (digest) DO UPDATE
       SET run_id = EXCLUDED.run_id, audit_file = EXCLUDED.audit_file,
           head_chain = EXCLUDED.head_chain, head_seq = EXCLUDED.head_seq,
           head_hash = EXCLUDED.head_hash, recorded_at = EXCLUDED.recorded_at;
    DELETE FROM lethe.anchor_lines a
     WHERE a.recorded_at < (SELECT x.recorded_at FROM lethe.anchor_lines x
                             ORDER BY x.recorded_at DESC OFFSET 999 LIMIT 1);
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION lethe.anchor_line_record(text, uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION lethe.anchor_line_known(p_digest text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM lethe.anchor_lines l
                     JOIN lethe.audit a ON a.tenant_id = l.head_chain AND a.seq = l.head_seq
                                       AND a.hash = l.head_hash
                    WHERE l.digest = p_digest AND l.audit_file = pg_relation_filenode('lethe.audit'))
$$;
