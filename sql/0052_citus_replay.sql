-- Citus: replay (SPEC §7) on a distributed catalog restored from a backup. replay_candidates()
-- (sql/0045) left out the items of chains replay refused with a subquery correlated with
-- replay_chains (a temporary table on the coordinator); Citus refused the whole statement
-- ("direct joins between distributed and local tables are not supported"), so replay failed
-- on Citus once it had appended the records. Its Citus form reads the refused chains
-- uncorrelated (replay_chains.tenant_id is its primary key, never NULL, so NOT IN means NOT
-- EXISTS). The same items on both; applied by citus_layout() on Citus only.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.replay_candidates()', 1,
$old$       AND NOT EXISTS (SELECT 1 FROM replay_chains ch
                        WHERE ch.tenant_id = a.tenant_id
                          AND ch.outcome NOT IN ('replayed', 'present', 'gap'))$old$,
$new$       AND a.tenant_id NOT IN (SELECT ch.tenant_id FROM replay_chains ch
                                WHERE ch.outcome NOT IN ('replayed', 'present', 'gap'))$new$,
 'Citus plans no subquery correlated with a temporary table');

-- Replay as the operator it is granted to (lethe_restorer). Citus refuses, in one transaction,
-- a read by one user of a shard that another user has written ("cannot perform query on
-- placements that were modified in this transaction by a different user"): replay appends
-- records as the owner (audit_append_verbatim, a definer), then read the audit as its caller
-- (replay_chains() between one chain and the next, replay_candidates(), the check of the anchor
-- file), so an operator's replay failed on Citus while the owner's worked. Those reads run as the
-- owner too now, as every writer of the audit does (README, "One user per transaction"):
-- replay_chains() and replay_candidates() are definers, which first refuse temporary objects
-- of the caller's that could act as the owner (definer_temp_guard, sql/0037), and the heads an
-- anchor line names but the database lacks are read by a definer function of their own.
-- replay_chains() appends verbatim: like audit_append_verbatim() it is lethe_restorer's alone.
DO $definers$
DECLARE
    f text;
    v_def text;
BEGIN
    FOREACH f IN ARRAY ARRAY['lethe.replay_chains()', 'lethe.replay_candidates()'] LOOP
        v_def := pg_get_functiondef(f::regprocedure);
        IF (length(v_def) - length(replace(v_def, E'\nBEGIN\n', ''))) / length(E'\nBEGIN\n') <> 1 THEN
            RAISE EXCEPTION 'migration 0052: % no longer has one BEGIN', f;
        END IF;
        EXECUTE replace(v_def, E'\nBEGIN\n', E'\nBEGIN\n    PERFORM lethe.definer_temp_guard();\n');
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp', f);
    END LOOP;
END $definers$;
REVOKE ALL ON FUNCTION lethe.replay_chains(), lethe.replay_candidates() FROM PUBLIC;

-- The anchored heads the database does not hold (SPEC §7): the statement engine/dbaudit.c read
-- directly, for the run's, the writers', status --check's and replay's check of the anchor file.
CREATE FUNCTION lethe.anchor_heads_missing(p_chains uuid[], p_seqs bigint[], p_hashes text[])
RETURNS TABLE (chain uuid, anchored_seq bigint, head_seq bigint, why text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    -- An anti-join rather than a correlated NOT EXISTS, which Citus refuses next to a
    -- set-returning function; (tenant_id, seq) is the audit's key.
    RETURN QUERY
    SELECT x.chain, x.seq, h.seq,
           CASE WHEN h.seq IS NULL THEN 'absent from the database'
                WHEN h.seq < x.seq THEN 'the database has it up to seq ' || h.seq
                ELSE 'the database holds another record at that seq' END
      FROM unnest(p_chains, p_seqs, p_hashes) AS x(chain, seq, hash)
      LEFT JOIN lethe.audit_heads h ON h.tenant_id = x.chain
      LEFT JOIN lethe.audit a ON a.tenant_id = x.chain AND a.seq = x.seq AND a.hash = x.hash
     WHERE a.tenant_id IS NULL
     ORDER BY x.chain;
END $$;
REVOKE ALL ON FUNCTION lethe.anchor_heads_missing(uuid[], bigint[], text[]) FROM PUBLIC;

-- A database upgraded after deploy/roles.sql ran: whoever may read the heads may run the
-- check (the engine and the operators through it), and replay_chains() goes where
-- audit_append_verbatim() went (lethe_restorer), no longer to the engine. roles.sql does the
-- same when it runs again.
DO $grants$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT x.grantee::regrole::text AS who
               FROM pg_class c, aclexplode(c.relacl) x
              WHERE c.oid = 'lethe.audit_heads'::regclass AND x.privilege_type = 'SELECT'
                AND x.grantee <> 0 AND x.grantee <> c.relowner LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lethe.anchor_heads_missing(uuid[], bigint[], text[]) TO %s', r.who);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        REVOKE EXECUTE ON FUNCTION lethe.replay_chains() FROM lethe_engine;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_restorer') THEN
        GRANT EXECUTE ON FUNCTION lethe.replay_chains() TO lethe_restorer;
    END IF;
END $grants$;

-- repurge_emit() (sql/0035) closes a batch that replay's records acknowledged with an UPDATE of
-- batches (a table of the coordinator) whose FROM joins the audit and whose NOT EXISTS reads
-- batch_items (distributed): Citus refuses that ("relation batches is not distributed"). Its
-- Citus form finds the batches with an item left unsettled, then those to close, each in a
-- statement of its own, and updates them from the last.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.repurge_emit(uuid,text,integer)', 3,
$old$        UPDATE lethe.batches x SET state = 'acknowledged', closed_at = r.at
          FROM (SELECT rr.batch_id, max(a.at) AS at
                  FROM replay_records rr
                  JOIN lethe.audit a ON a.tenant_id = rr.tenant_id AND a.seq = rr.seq AND a.hash = rr.hash
                 WHERE rr.kind = 'batch_acknowledged'
                   AND rr.batch_id IN (SELECT f.purged_in FROM repurge_facts f)
                 GROUP BY rr.batch_id) r
         WHERE x.batch_id = r.batch_id AND x.state = 'open'
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items bi
                            WHERE bi.batch_id = x.batch_id AND bi.outcome IS NULL);$old$,
$new$        CREATE TEMP TABLE repurge_unsettled ON COMMIT DROP AS
        SELECT DISTINCT bi.batch_id FROM lethe.batch_items bi
         WHERE bi.batch_id IN (SELECT f.purged_in FROM repurge_facts f) AND bi.outcome IS NULL;
        CREATE TEMP TABLE repurge_closed ON COMMIT DROP AS
        SELECT rr.batch_id, max(a.at) AS at
          FROM replay_records rr
          JOIN lethe.audit a ON a.tenant_id = rr.tenant_id AND a.seq = rr.seq AND a.hash = rr.hash
         WHERE rr.kind = 'batch_acknowledged'
           AND rr.batch_id IN (SELECT f.purged_in FROM repurge_facts f)
           AND rr.batch_id NOT IN (SELECT u.batch_id FROM repurge_unsettled u)
         GROUP BY rr.batch_id;
        UPDATE lethe.batches x SET state = 'acknowledged', closed_at = r.at
          FROM repurge_closed r
         WHERE x.batch_id = r.batch_id AND x.state = 'open';$new$,
 'Citus updates no table of the coordinator from a statement that reads distributed tables');
