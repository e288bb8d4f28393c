-- Replay refuses by name two exports that disagree where they meet (SPEC §7, README "Restore
-- drill": a chain is refused by name and left alone, exit 4, when two exports disagree).
--
-- replay_chains() (sql/0009) found two exports disagreeing only where both held the same seq
-- with different hashes (overlapping windows). Two adjacent windows meet without overlapping:
-- the later one's first record names the hash of the earlier one's last in its prev_hash. An
-- outside tryout replayed a forged month (re-hashed to verify on its own) with the genuine
-- month after it: nothing caught the broken link until audit_append_verbatim() refused the
-- first record of the second month, which rolled the whole replay back with a bare "query
-- failed" and exit 1. A record whose prev_hash is not the hash of the record before it in the
-- exports is now a disagreement at its seq, like two records at one seq: the chain is left
-- alone ('conflict'), the others are healed, and replay exits 4 naming it.
--
-- The function is edited where it stands, so that what later migrations made of it (the
-- definer and its guard, sql/0052) stays as it is.
DO $edit$
DECLARE
    v_def text := pg_get_functiondef('lethe.replay_chains()'::regprocedure);
    v_old text := $old$             GROUP BY rr.seq HAVING count(DISTINCT rr.hash) > 1) d;$old$;
    v_new text := $new$             GROUP BY rr.seq HAVING count(DISTINCT rr.hash) > 1
            UNION ALL
            SELECT rr.seq FROM replay_records rr
              JOIN replay_records pr ON pr.tenant_id = rr.tenant_id AND pr.seq = rr.seq - 1
             WHERE rr.tenant_id = c.tenant_id AND rr.prev_hash <> pr.hash) d;$new$;
BEGIN
    IF (length(v_def) - length(replace(v_def, v_old, ''))) / length(v_old) <> 1 THEN
        RAISE EXCEPTION 'migration 0078: lethe.replay_chains() no longer holds its conflict check once';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $edit$;
