-- The anchor check, remembered (issue 14, shape 8). Every run, rerun and `status --check`
-- compares the newest line of the anchor file with the audit (SPEC §7): one probe of the audit
-- per chain the line names, so the check grew with the chains a run touched (3,334 heads and
-- 25 ms at 1M items, 33,334 and 0.2 s at 10M), and status paid it on every call.
--
-- A run appends its line only after its heads have committed, and then records the SHA-256 of
-- the line here (lethe.anchor_line_record, in a statement of its own). A database that holds
-- that record holds the commit before it, so every head of that line: a copy restored to an
-- earlier state lacks the record, and so does the database after a crash between the append
-- and the record. Readers of the file look the newest line's digest up first
-- (lethe.anchor_line_known) and compare head by head, as before, only when it is not there.
-- The audit and its heads are written by the engine's own functions only (0008), and only this
-- migration's function writes the record, so the record stays as true as the heads it stands for.
-- A record also names the audit table's file as it was (pg_relation_filenode): an audit table
-- restored on its own (dropped and created again, or truncated with its guards lifted, then
-- loaded from an older dump) is a new file, and the record then stands for nothing, so the
-- check compares head by head. (VACUUM FULL or CLUSTER also make a new file: one full
-- comparison, until the next run records its line.)

CREATE TABLE lethe.anchor_lines (
    digest text PRIMARY KEY,           -- SHA-256 (hex) of the line as appended, without its newline
    run_id uuid NOT NULL,
    audit_file oid NOT NULL,           -- pg_relation_filenode('lethe.audit') when recorded
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Only the newest line of the file is ever compared: the record keeps the last 1,000 lines (a
-- line appended by a shard's run between another's append and its record is still found).
CREATE FUNCTION lethe.anchor_line_record(p_digest text, p_run uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF p_digest !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'anchor line digest: 64 lowercase hex digits expected';
    END IF;
    INSERT INTO lethe.anchor_lines (digest, run_id, audit_file)
    VALUES (p_digest, p_run, pg_relation_filenode('lethe.audit'))
        ON CONFLICT (digest) DO NOTHING;
    DELETE FROM lethe.anchor_lines a
     WHERE a.recorded_at < (SELECT x.recorded_at FROM lethe.anchor_lines x
                             ORDER BY x.recorded_at DESC OFFSET 999 LIMIT 1);
END $$;
REVOKE ALL ON FUNCTION lethe.anchor_line_record(text, uuid) FROM PUBLIC;

CREATE FUNCTION lethe.anchor_line_known(p_digest text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM lethe.anchor_lines a
                    WHERE a.digest = p_digest AND a.audit_file = pg_relation_filenode('lethe.audit'))
$$;
REVOKE ALL ON FUNCTION lethe.anchor_line_known(text) FROM PUBLIC;
