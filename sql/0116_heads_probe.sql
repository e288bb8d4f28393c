-- A run says when another session's record holds a chain it appends to, and stops on a signal.
--
-- Appends to one chain take turns: lethe.audit_flush() and lethe.audit_append_run() lock the
-- chain's head row (FOR UPDATE) until their transaction ends. An acknowledgement, a request or a
-- hold whose transaction stayed open (its commit held up by a synchronous standby that is down,
-- or a psql session left in a transaction) held every run that appended to the same chain: for
-- an acknowledgement, the engine chain, which every run appends to first. The run waited inside
-- its append for as long, said nothing, and a SIGTERM stopped it only after (an outside tryout
-- held an ack open 30 s: the run sat in its first statement, on one server and on Citus).
--
-- lethe.audit_heads_try() looks before the append: it takes the head of every chain staged in
-- the session (and the engine chain's, when asked) with FOR UPDATE NOWAIT, in uuid order, and
-- lets them go again at once; it returns the first chain whose head another transaction holds,
-- or NULL. The run tries every 50 ms before each append, says at once that it waits (and each
-- minute for how long), and a SIGTERM ends the wait as it ends the writers' and the hold
-- fences' (engine/cycle.c). Letting go keeps every lock order as it was: the append takes its
-- locks as before, and a writer that comes between the look and the append is waited for as
-- before. A chain whose first record another session has staged but not committed has no head
-- row to look at yet: the append still waits for that one inside its statement.

CREATE FUNCTION lethe.audit_heads_try(p_engine boolean) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_chains uuid[] := '{}';
    v_chain uuid;
BEGIN
    PERFORM lethe.definer_temp_guard();
    IF to_regclass('pg_temp.audit_stage') IS NOT NULL THEN
        v_chains := ARRAY(SELECT DISTINCT s.tenant_id FROM pg_temp.audit_stage s);
    END IF;
    IF p_engine THEN
        v_chains := v_chains || '00000000-0000-0000-0000-000000000000'::uuid;
    END IF;
    IF cardinality(v_chains) = 0 THEN
        RETURN NULL;
    END IF;
    BEGIN
        -- one statement, the rows locked in uuid order as the appends lock them
        PERFORM 1 FROM lethe.audit_heads h WHERE h.tenant_id = ANY (v_chains)
         ORDER BY h.tenant_id FOR UPDATE NOWAIT;
        -- every head was free: the block is undone, and its locks with it
        RAISE EXCEPTION 'audit_heads_try: every head is free' USING ERRCODE = 'LE002';
    EXCEPTION
        WHEN SQLSTATE 'LE002' THEN
            RETURN NULL;
        WHEN lock_not_available THEN
            NULL;  -- which one: looked at one by one below
    END;
    FOR v_chain IN SELECT DISTINCT c FROM unnest(v_chains) c ORDER BY 1 LOOP
        BEGIN
            PERFORM 1 FROM lethe.audit_heads h WHERE h.tenant_id = v_chain FOR UPDATE NOWAIT;
            RAISE EXCEPTION 'audit_heads_try: head free' USING ERRCODE = 'LE002';
        EXCEPTION
            WHEN SQLSTATE 'LE002' THEN
                NULL;
            WHEN lock_not_available THEN
                RETURN v_chain::text;
        END;
    END LOOP;
    RETURN NULL;  -- let go meanwhile
END $$;
REVOKE ALL ON FUNCTION lethe.audit_heads_try(boolean) FROM PUBLIC;

-- The engine's login runs it (an operator's holds the engine's rights): roles.sql gives the
-- engine EXECUTE on every function when it runs again.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.audit_heads_try(boolean) TO lethe_engine;
    END IF;
END $grant$;

-- On Citus a SELECT ... FOR UPDATE must name one shard: the engine chain's head is looked at
-- alone there (the head every run appends to first, and an acknowledgement holds), one by one.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.audit_heads_try(boolean)', 1,
$old$        -- one statement, the rows locked in uuid order as the appends lock them
        PERFORM 1 FROM lethe.audit_heads h WHERE h.tenant_id = ANY (v_chains)
         ORDER BY h.tenant_id FOR UPDATE NOWAIT;
$old$,
$new$        -- Citus: the engine chain's head alone, which names one shard (sql/0116)
        v_chains := ARRAY(SELECT c FROM unnest(v_chains) c
                           WHERE c = '00000000-0000-0000-0000-000000000000'::uuid);
        PERFORM 1 FROM lethe.audit_heads h
         WHERE h.tenant_id = '00000000-0000-0000-0000-000000000000'::uuid
           AND cardinality(v_chains) > 0 FOR UPDATE NOWAIT;
$new$,
 'Citus runs SELECT ... FOR UPDATE on one shard only: the engine chain''s head is looked at alone');
