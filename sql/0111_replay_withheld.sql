-- The records replay left out hold their seqs until they are appended.
--
-- `lethe replay --anchors FILE` leaves out the records past every head the anchor file names
-- (a record re-hashed onto a chain's end verifies, and once appended could never be taken back);
-- after a restore they are nearly always the genuine tail written after the last run (an ack, a
-- hold, a request), and replay exits 4 saying to replay them again without --anchors. Nothing
-- remembered it: the next run, hold or request took their seqs, every check said ok, and the
-- exports that hold them never verified against this database again (the chain forked for good).
--
-- Replay now notes each record it leaves out (its chain, seq, hash, kind and time: what the
-- export says of it, not its content), and while a chain's head is short of a noted seq:
--   - every writer refuses before it writes (lethe's own check, exit 4, naming the chains), and
--     status --check fails;
--   - the database refuses to append to that chain (audit_flush, audit_append_one), whoever
--     calls them;
--   - replay puts nothing in a repurge batch.
-- A replay that appends the records (without --anchors, or with a newer anchor file) ends the
-- refusal: a note is open only while its chain's head is short of its seq. If the records are not
-- the ones shipped (a forgery), the database's owner deletes their notes, after keeping the
-- exports for the auditor (README, "Anchors"). The table is written only through
-- lethe.replay_withheld_note() and by the owner.
CREATE TABLE lethe.replay_withheld (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL CHECK (seq > 0),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    kind text NOT NULL,
    at timestamptz NOT NULL,
    noted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, seq, hash)
);
COMMENT ON TABLE lethe.replay_withheld IS
    'records lethe replay left out (past every anchored head): no record is appended to their chains until they are';

CREATE TRIGGER replay_withheld_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.replay_withheld
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions and the database''s owner write the notes of the records replay left out',
        'lethe replay notes them; the database''s owner deletes the notes of records that are not the ones shipped');
CREATE TRIGGER replay_withheld_no_truncate BEFORE TRUNCATE ON lethe.replay_withheld
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions and the database''s owner write the notes of the records replay left out',
        'lethe replay notes them; the database''s owner deletes the notes of records that are not the ones shipped');

-- Notes the records left out; returns how many were noted anew.
CREATE FUNCTION lethe.replay_withheld_note(p_tenants uuid[], p_seqs bigint[], p_hashes text[],
                                           p_kinds text[], p_ats timestamptz[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO lethe.replay_withheld (tenant_id, seq, hash, kind, at)
    SELECT x.t, x.s, x.h, x.k, x.a FROM unnest(p_tenants, p_seqs, p_hashes, p_kinds, p_ats) x (t, s, h, k, a)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_withheld_note(uuid[], bigint[], text[], text[], timestamptz[]) FROM PUBLIC;

-- The chains short of a noted record: per chain the first and last such seq, how many seqs, and
-- when the first was noted. A probe of each noted chain's head (on Citus one shard each); nothing
-- when nothing was ever noted, which is every database that never replayed with --anchors. As
-- the owner: on Citus, replay reads the heads it appended to as the owner in the same
-- transaction.
CREATE FUNCTION lethe.replay_withheld_open()
RETURNS TABLE (o_tenant uuid, o_first bigint, o_last bigint, o_records bigint, o_noted timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    c uuid;
    v_head bigint;
BEGIN
    FOR c IN SELECT DISTINCT w.tenant_id FROM lethe.replay_withheld w ORDER BY 1 LOOP
        SELECT h.seq INTO v_head FROM lethe.audit_heads h WHERE h.tenant_id = c;
        RETURN QUERY
            SELECT c, min(w.seq), max(w.seq), count(DISTINCT w.seq), min(w.noted_at)
              FROM lethe.replay_withheld w
             WHERE w.tenant_id = c AND w.seq > coalesce(v_head, 0)
            HAVING count(*) > 0;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_withheld_open() FROM PUBLIC;

-- The database's own refusal: raises when one of P_CHAINS is short of a noted record.
CREATE FUNCTION lethe.replay_withheld_refuse(p_chains uuid[]) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    w record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM lethe.replay_withheld) THEN
        RETURN;
    END IF;
    SELECT o.* INTO w FROM lethe.replay_withheld_open() o WHERE o.o_tenant = ANY (p_chains) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit: chain % is short of % record% that lethe replay left out (seq %), noted at %: nothing is appended to it until they are',
                        w.o_tenant, w.o_records, CASE WHEN w.o_records = 1 THEN '' ELSE 's' END,
                        CASE WHEN w.o_first = w.o_last THEN w.o_first::text
                             ELSE w.o_first || '-' || w.o_last END,
                        lethe.audit_time(w.o_noted)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'replay the exports that hold them again without --anchors; if they are not '
                         'the ones shipped, the database''s owner deletes their notes from '
                         'lethe.replay_withheld (README, "Anchors")';
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_withheld_refuse(uuid[]) FROM PUBLIC;

-- Both appending functions refuse a chain short of a noted record: the flush for the chains of
-- its stage, after the writers' fence (sql/0108); the single append for the engine chain, first (before it writes the heads as its caller: on Citus
-- the owner's read of them after that would be refused with another message). One text each,
-- edited in place; neither has a Citus form. Each looks only when something is noted: an
-- EXISTS on an empty table, where a call of the function costs its compilation in every session.
DO $withheld$
DECLARE
    v_fn text;
    v_at text;
    v_new text;
    v_def text;
BEGIN
    FOR v_fn, v_at, v_new IN VALUES
        ('lethe.audit_flush()',
         E'    PERFORM pg_advisory_xact_lock_shared(7283319, 0);\n',
         E'    PERFORM pg_advisory_xact_lock_shared(7283319, 0);\n'
         || E'    -- a chain short of a record lethe replay left out takes no record (sql/0111)\n'
         || E'    IF EXISTS (SELECT 1 FROM lethe.replay_withheld) THEN\n'
         || E'        PERFORM lethe.replay_withheld_refuse(\n'
         || E'            ARRAY(SELECT DISTINCT s.tenant_id FROM pg_temp.audit_stage s));\n'
         || E'    END IF;\n'),
        ('lethe.audit_append_one(text,uuid,text,bigint,text)',
         E'    -- the flush\'s cleaning of empty strings',
         E'    -- the engine chain short of a record lethe replay left out takes none (sql/0111)\n'
         || E'    IF EXISTS (SELECT 1 FROM lethe.replay_withheld) THEN\n'
         || E'        PERFORM lethe.replay_withheld_refuse(ARRAY[v_nil]);\n'
         || E'    END IF;\n'
         || E'    -- the flush\'s cleaning of empty strings')
    LOOP
        v_def := pg_get_functiondef(v_fn::regprocedure);
        IF array_length(string_to_array(v_def, v_at), 1) <> 2 THEN
            RAISE EXCEPTION 'migration 0111: % is no longer as it was written', v_fn;
        END IF;
        EXECUTE replace(v_def, v_at, v_new);
    END LOOP;
END $withheld$;

-- Replay runs as an operator's login, the writers and status as the engine's (or an operator's,
-- which holds the engine's rights): roles.sql gives the engine SELECT on every table and EXECUTE
-- on every function when it runs again.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT SELECT ON lethe.replay_withheld TO lethe_engine;
        GRANT EXECUTE ON FUNCTION lethe.replay_withheld_note(uuid[], bigint[], text[], text[], timestamptz[]),
                                  lethe.replay_withheld_open(),
                                  lethe.replay_withheld_refuse(uuid[]) TO lethe_engine;
    END IF;
END $grant$;
