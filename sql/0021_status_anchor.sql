-- The anchor check, remembered (issue 14, shape 8). Every run, rerun and `status --check`
-- compares the newest line of the anchor file with the audit (SPEC §7): one probe of the audit
-- per chain the line names, so the check grew with the chains a run touched (3,334 heads and
-- 25 ms at 1M items, 33,334 and 0.2 s at 10M), and status paid it on every call.
--
-- A run appends its line only after its heads have committed, and then hands the line to
-- lethe.anchor_line_record (a statement of its own), which records the line's SHA-256 only when
-- the audit holds every head the line names, with the line's newest head (the head whose record
-- is the latest). Readers of the file look the newest line's digest up
-- (lethe.anchor_line_known), and take it as held only while that one head is still in the audit;
-- otherwise they compare head by head, as before. A copy restored to an earlier state lacks the
-- record (it was written after the heads committed), and an audit restored on its own, dropped
-- and loaded again or replaced in place, lacks the newest head; so does nothing else the check
-- must catch. After a crash between the append and the record there is no record: one
-- comparison head by head.
--
-- Only anchor_line_record writes the record: a statement guard refuses every other writer but
-- the owner, as on the audit itself. deploy/roles.sql gives the engine INSERT on the schema's
-- tables, and a record written by hand (or the digest of any line) would silence the check of a
-- database behind its anchor file, which the engine can neither heal (replay is the
-- operator's) nor append to.

CREATE TABLE lethe.anchor_lines (
    digest text PRIMARY KEY,           -- SHA-256 (hex) of the line as appended, without its newline
    run_id uuid NOT NULL,
    head_chain uuid NOT NULL,          -- the line's newest head, probed by every check
    head_seq bigint NOT NULL,
    head_hash text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER anchor_lines_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.anchor_lines
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions record an anchor line',
        'a run records the line it appended to the anchor file');
CREATE TRIGGER anchor_lines_no_truncate BEFORE TRUNCATE ON lethe.anchor_lines
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions record an anchor line',
        'a run records the line it appended to the anchor file');

-- True when recorded; false (nothing written) when the line is not an anchor line or a head it
-- names is not in the audit. Only the newest line of the file is ever compared: the record
-- keeps the last 1,000 lines (a line appended by a shard's run between another's append and its
-- record is still found).
CREATE FUNCTION lethe.anchor_line_record(p_line text, p_run uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v record;
BEGIN
    BEGIN
        WITH h AS MATERIALIZED (
            SELECT (x ->> 'chain')::uuid AS chain, (x ->> 'seq')::bigint AS seq, x ->> 'hash' AS hash
              FROM jsonb_array_elements(p_line::jsonb -> 'heads') x
        ), held AS MATERIALIZED (
            SELECT a.tenant_id, a.seq, a.hash, a.at
              FROM h JOIN lethe.audit a ON a.tenant_id = h.chain AND a.seq = h.seq AND a.hash = h.hash
        )
        SELECT (SELECT count(*) FROM h) AS named, (SELECT count(*) FROM held) AS found, n.*
          INTO v
          FROM (SELECT 1) one
          LEFT JOIN (SELECT held.tenant_id, held.seq, held.hash FROM held
                      ORDER BY held.at DESC, held.tenant_id, held.seq DESC LIMIT 1) n ON true;
    EXCEPTION WHEN others THEN
        RETURN false;  -- not an anchor line (not JSON, heads not an array of heads)
    END;
    IF v.named = 0 OR v.found <> v.named THEN
        RETURN false;
    END IF;
    INSERT INTO lethe.anchor_lines (digest, run_id, head_chain, head_seq, head_hash)
    VALUES (encode(sha256(convert_to(p_line, 'UTF8')), 'hex'), p_run, v.tenant_id, v.seq, v.hash)
        ON CONFLICT (digest) DO UPDATE
       SET run_id = EXCLUDED.run_id, head_chain = EXCLUDED.head_chain,
           head_seq = EXCLUDED.head_seq, head_hash = EXCLUDED.head_hash,
           recorded_at = EXCLUDED.recorded_at;
    DELETE FROM lethe.anchor_lines a
     WHERE a.recorded_at < (SELECT x.recorded_at FROM lethe.anchor_lines x
                             ORDER BY x.recorded_at DESC OFFSET 999 LIMIT 1);
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION lethe.anchor_line_record(text, uuid) FROM PUBLIC;

CREATE FUNCTION lethe.anchor_line_known(p_digest text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM lethe.anchor_lines l
                     JOIN lethe.audit a ON a.tenant_id = l.head_chain AND a.seq = l.head_seq
                                       AND a.hash = l.head_hash
                    WHERE l.digest = p_digest)
$$;
REVOKE ALL ON FUNCTION lethe.anchor_line_known(text) FROM PUBLIC;
