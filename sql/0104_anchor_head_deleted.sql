-- An anchored head deleted from the audit is said to be deleted, not replaced.
--
-- lethe.anchor_heads_missing() (sql/0052) explains each anchored head the database does not hold
-- from lethe.audit_heads alone: a chain whose recorded head is at or past the anchored seq was
-- said to hold "another record at that seq". An outside tryout deleted the anchored head record
-- (a superuser, the audit's triggers disabled, the heads left alone): status --check said the
-- database held another record there, where it held none. A record replaced and a record
-- deleted are different incidents for an auditor. Only a head found missing is looked at again,
-- by its own statement, so the check of heads that are all there costs what it did.
CREATE OR REPLACE FUNCTION lethe.anchor_heads_missing(p_chains uuid[], p_seqs bigint[], p_hashes text[])
RETURNS TABLE (chain uuid, anchored_seq bigint, head_seq bigint, why text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    -- An anti-join rather than a correlated NOT EXISTS, which Citus refuses next to a
    -- set-returning function; (tenant_id, seq) is the audit's key.
    FOR r IN
        SELECT x.chain, x.seq, h.seq AS head
          FROM unnest(p_chains, p_seqs, p_hashes) AS x(chain, seq, hash)
          LEFT JOIN lethe.audit_heads h ON h.tenant_id = x.chain
          LEFT JOIN lethe.audit a ON a.tenant_id = x.chain AND a.seq = x.seq AND a.hash = x.hash
         WHERE a.tenant_id IS NULL
         ORDER BY x.chain
    LOOP
        chain := r.chain;
        anchored_seq := r.seq;
        head_seq := r.head;
        IF r.head IS NULL THEN
            why := 'absent from the database';
        ELSIF r.head < r.seq THEN
            why := 'the database has it up to seq ' || r.head;
        ELSIF EXISTS (SELECT 1 FROM lethe.audit a WHERE a.tenant_id = r.chain AND a.seq = r.seq) THEN
            why := 'the database holds another record at that seq';
        ELSE
            why := 'the database holds no record at that seq, though its head is recorded at seq '
                   || r.head || ' (a record was deleted)';
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
