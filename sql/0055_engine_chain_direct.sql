-- A run's own records in the engine chain are appended without the session's stage.
--
-- Every run wrote its run_started, run_finished and checkpoint records through the session's
-- temporary stage (pg_temp.audit_stage) and lethe.audit_flush(). In a new session the stage is
-- costly to make: the session's temporary schema, the table, its sequence and its grants
-- (10-15 ms), and the flush's statement planned for the first time (13-17 ms). A run with
-- nothing to do paid all of it for its three records, about a quarter of its server time
-- (issue 14, shape 6: the idle run's target is under 100 ms).
--
-- These three records are single records of the engine chain (the nil tenant), so they are
-- now appended by one small function, lethe.audit_append_one(), with the same canonical form
-- (lethe.audit_canonical_head) and the same chaining step (lethe.audit_chain_step) as the flush,
-- under the same lock on the chain's head. A session that stages nothing never makes a stage.
--
-- Who may append what does not change:
-- - lethe.audit_append_one() runs as its caller (SECURITY INVOKER): the engine's roles may
--   execute it, but no role but the owner may write lethe.audit_heads or lethe.audit (no grant,
--   and whatever is granted, the tables' require_owner triggers), so it appends only inside one
--   of lethe's own SECURITY DEFINER functions. It is the owner's building block, not a way in.
-- - lethe.audit_append_run() (SECURITY DEFINER) appends run_started and run_finished only,
--   the two kinds the engine could already stage unsealed and have flushed (audit_flush's
--   check of unsealed rows, sql/0037). Anything the session staged before it is flushed
--   first, so that the chain keeps the order the records were made in.
-- - checkpoint records are still made by lethe.audit_checkpoint() alone, as the owner.

CREATE FUNCTION lethe.audit_append_one(p_kind text, p_run_id uuid, p_operator text,
                                       p_count bigint, p_detail text) RETURNS bigint
LANGUAGE plpgsql SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
    h record;
    v_at timestamptz;
    v_seq bigint;
    v_hash text;
BEGIN
    -- the flush's cleaning of empty strings (sql/0003_audit.sql, "cleaned")
    p_operator := nullif(p_operator, '');
    p_detail := nullif(p_detail, '');
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_nil, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT x.seq, x.hash, x.at INTO h FROM lethe.audit_heads x WHERE x.tenant_id = v_nil FOR UPDATE;
    -- values, not calls in the statements (on Citus an INSERT or UPDATE of a distributed table
    -- may not call a volatile function); the time never goes back along a chain
    v_at := greatest(clock_timestamp(), h.at);
    v_seq := h.seq + 1;
    v_hash := lethe.audit_chain_step(NULL, h.hash,
                  lethe.audit_canonical_head(v_seq, v_at, p_kind, v_nil, p_run_id, NULL, NULL,
                                             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                             p_operator, p_count, p_detail));
    INSERT INTO lethe.audit (seq, at, kind, tenant_id, run_id, operator, count, detail,
                             prev_hash, hash)
    VALUES (v_seq, v_at, p_kind, v_nil, p_run_id, p_operator, p_count, p_detail, h.hash, v_hash);
    UPDATE lethe.audit_heads SET seq = v_seq, hash = v_hash, at = v_at WHERE tenant_id = v_nil;
    RETURN v_seq;
END $$;

CREATE FUNCTION lethe.audit_append_run(p_kind text, p_run_id uuid, p_operator text,
                                       p_count bigint, p_detail text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF p_kind IS NULL THEN
        RAISE EXCEPTION 'audit: a record needs its kind' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_kind NOT IN ('run_started', 'run_finished') THEN
        RAISE EXCEPTION 'audit: % records are written only by lethe''s own functions', p_kind
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'a run appends its run_started and run_finished records here; every other '
                         'kind is made by the function that makes its evidence';
    END IF;
    IF p_run_id IS NULL THEN
        RAISE EXCEPTION 'audit: a % record needs a run id', p_kind
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- What the session staged comes first.
    IF to_regclass('pg_temp.audit_stage') IS NOT NULL THEN
        PERFORM lethe.definer_temp_guard();
        PERFORM lethe.audit_flush();
    END IF;
    RETURN lethe.audit_append_one(p_kind, p_run_id, p_operator, p_count, p_detail);
END $$;

-- The checkpoint: flushes what the session staged, if it made a stage, then appends its record
-- directly. The rest is sql/0029_checkpoint_heads.sql's. The session is checked (sql/0037) where
-- the function touches its temporary relations, before the flush; a session without a stage
-- is not looked at (nothing here reads a temporary relation then).
CREATE OR REPLACE FUNCTION lethe.audit_checkpoint(p_run_id uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
    v_detail text;
BEGIN
    IF p_run_id IS NULL THEN
        RAISE EXCEPTION 'audit: a checkpoint needs a run id' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Anything the caller staged belongs before the checkpoint that sums it up.
    IF to_regclass('pg_temp.audit_stage') IS NOT NULL THEN
        PERFORM lethe.definer_temp_guard();
        PERFORM lethe.audit_flush();
    END IF;
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_nil, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM lethe.audit_heads WHERE tenant_id = v_nil FOR UPDATE;
    SELECT string_agg(h.tenant_id::text || '=' || h.hash, ' ' ORDER BY h.tenant_id) INTO v_detail
      FROM (SELECT h.tenant_id, h.hash FROM lethe.audit_heads h WHERE h.tenant_id = v_nil
            UNION ALL
            SELECT h.tenant_id, h.hash FROM lethe.audit_heads h
             WHERE h.tenant_id <> v_nil
               AND h.tenant_id IN (SELECT a.tenant_id FROM lethe.audit a WHERE a.run_id = p_run_id)) h;
    PERFORM lethe.audit_append_one('checkpoint', p_run_id, NULL, NULL, v_detail);
    RETURN v_detail;
END $$;

-- A database upgraded after deploy/roles.sql ran: lethe.harden() leaves the new functions to no
-- one. The engine gets what roles.sql gives it on every function (EXECUTE).
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.audit_append_run(text, uuid, text, bigint, text),
                                  lethe.audit_append_one(text, uuid, text, bigint, text)
           TO lethe_engine;
    END IF;
END $grant$;

-- A new writer of the audit goes on lethe.harden()'s list (sql/0008): every migrate then keeps
-- it SECURITY DEFINER with its search_path, whatever a later migration does to it.
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''repurge_emit''))';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0055: lethe.harden() no longer ends its list of writers as 0032 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, '''repurge_emit'', ''audit_append_run''))');
END $harden$;
