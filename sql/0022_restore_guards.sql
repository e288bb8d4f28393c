-- Two guards for SPEC §7: a replayed record cannot be dated in the future, and reconcile never
-- hands a deleter an object that a live item names.
--
-- Replay appends exported records verbatim (SPEC §7), and lethe_operator may call
-- audit_append_verbatim() for it. It checked that a record continues its chain, hashes to
-- its own hash and reads back byte for byte, but not that its time had come: a record dated
-- in the future was appended, the chain head's time moved there, and since a chain's `at`
-- never goes backwards every record the engine appended to that chain afterwards was dated in
-- the future too (a hold placed at 17:48 was recorded at 23:00), so that every export of the
-- chain failed verify ("the header was edited") until then. An exported record was written
-- before its export, so a true replay never carries one: a record later than the database's
-- clock is refused.

CREATE OR REPLACE FUNCTION lethe.audit_append_verbatim(p_lines text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid;
    v_seq bigint;
    v_hash text;
    v_at timestamptz;
    c record;
BEGIN
    IF coalesce(cardinality(p_lines), 0) = 0 THEN
        RETURN 0;
    END IF;
    v_tenant := (p_lines[1]::json->>'tenant_id')::uuid;
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_tenant, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT h.seq, h.hash, h.at INTO v_seq, v_hash, v_at
      FROM lethe.audit_heads h WHERE h.tenant_id = v_tenant FOR UPDATE;
    IF (p_lines[1]::json->>'seq')::bigint IS DISTINCT FROM v_seq + 1
       OR p_lines[1]::json->>'prev_hash' IS DISTINCT FROM v_hash THEN
        RAISE EXCEPTION 'replay: tenant %: seq % does not continue the chain, whose head is seq %',
                        v_tenant, p_lines[1]::json->>'seq', v_seq
            USING ERRCODE = 'check_violation';
    END IF;

    -- Parsed once (json_populate_record), appended, and checked in the same statement: any
    -- check that fails raises below, and the appends go with the transaction.
    WITH p AS MATERIALIZED (
        SELECT u.ord, u.line, r.*,
               lag(r.hash) OVER (ORDER BY u.ord) AS hash_before,
               lag(r.at) OVER (ORDER BY u.ord) AS at_before
          FROM unnest(p_lines) WITH ORDINALITY AS u(line, ord)
         CROSS JOIN LATERAL json_populate_record(NULL::lethe.audit, u.line::json) r
    ), ins AS (
        INSERT INTO lethe.audit (seq, at, kind, tenant_id, run_id, batch_id, item_id, rule,
                                 reference, triggered_at, deadline_at, purged_at, on_time,
                                 location, hold_id, subject_hmac, operator, count, detail,
                                 prev_hash, hash)
        SELECT p.seq, p.at, p.kind, p.tenant_id, p.run_id, p.batch_id, p.item_id, p.rule,
               p.reference, p.triggered_at, p.deadline_at, p.purged_at, p.on_time, p.location,
               p.hold_id, p.subject_hmac, p.operator, p.count, p.detail, p.prev_hash, p.hash
          FROM p ORDER BY p.ord
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins) AS n,
           min(p.ord) FILTER (WHERE p.tenant_id IS DISTINCT FROM v_tenant) AS other_chain,
           min(p.ord) FILTER (WHERE p.seq IS DISTINCT FROM v_seq + p.ord
                                 OR p.prev_hash IS DISTINCT FROM coalesce(p.hash_before, v_hash))
               AS not_next,
           min(p.ord) FILTER (WHERE p.at < coalesce(p.at_before, v_at)) AS backwards,
           min(p.ord) FILTER (WHERE p.at > clock_timestamp()) AS future,
           min(p.ord) FILTER (WHERE lethe.audit_jsonl(ROW(p.seq, p.at, p.kind, p.tenant_id,
                   p.run_id, p.batch_id, p.item_id, p.rule, p.reference, p.triggered_at,
                   p.deadline_at, p.purged_at, p.on_time, p.location, p.hold_id, p.subject_hmac,
                   p.operator, p.count, p.detail, p.prev_hash, p.hash)::lethe.audit)
                   IS DISTINCT FROM p.line) AS not_verbatim,
           min(p.ord) FILTER (WHERE lethe.audit_chain_step(NULL, p.prev_hash,
                   lethe.audit_canonical_head(p.seq, p.at, p.kind, p.tenant_id, p.run_id,
                       p.batch_id, p.item_id, p.rule, p.reference, p.triggered_at, p.deadline_at,
                       p.purged_at, p.on_time, p.location, p.hold_id, p.subject_hmac, p.operator,
                       p.count, p.detail)) IS DISTINCT FROM p.hash) AS bad_hash,
           (array_agg(p.seq ORDER BY p.ord DESC))[1] AS last_seq,
           (array_agg(p.hash ORDER BY p.ord DESC))[1] AS last_hash,
           (array_agg(p.at ORDER BY p.ord DESC))[1] AS last_at
      INTO c FROM p;

    IF c.other_chain IS NOT NULL THEN
        RAISE EXCEPTION 'replay: records of more than one chain in one call (tenant % first)', v_tenant
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF c.not_verbatim IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: the record would not read back byte for byte',
                        v_tenant, v_seq + c.not_verbatim
            USING ERRCODE = 'data_exception',
                  HINT = 'replay takes records exactly as lethe export wrote them';
    ELSIF c.bad_hash IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: hash mismatch', v_tenant, v_seq + c.bad_hash
            USING ERRCODE = 'data_exception', HINT = 'check the export with lethe verify';
    ELSIF c.not_next IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant %: record % does not continue the chain, whose head is seq %',
                        v_tenant, c.not_next, v_seq
            USING ERRCODE = 'check_violation';
    ELSIF c.future IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: its time is later than now: no export holds such a record',
                        v_tenant, v_seq + c.future
            USING ERRCODE = 'check_violation',
                  HINT = 'replay takes records exactly as lethe export wrote them';
    ELSIF c.backwards IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: its time is before the record it follows',
                        v_tenant, v_seq + c.backwards
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE lethe.audit_heads SET seq = c.last_seq, hash = c.last_hash, at = c.last_at
     WHERE tenant_id = v_tenant;
    RETURN c.n;
END $$;

-- ---- reconcile never deletes what a live item names -------------------------------------------

-- As sql/0009_restore.sql wrote it, without the objects that a live item names. A locator can
-- be used again: a purged item's object is gone, then a new item is stored at the same
-- address. The inventory then lists an object that matches the purged item's HMAC, but it is
-- the live item's data, kept by C1; reconcile put it into a repurge batch and the deleter
-- removed it, leaving the live item without its object. Such lines are left alone (reconcile
-- warns with their number); whatever location the live item is in, since locations may share
-- a store.
CREATE OR REPLACE FUNCTION lethe.reconcile_candidates(p_location text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT DISTINCT ON (h.tenant_id, h.item_id)
           h.tenant_id, h.item_id, i.location, v.locator, 'reconcile'::text AS reason,
           NULL::text AS proof_hash, b.rule, b.reference, b.subject_hmac, b.triggered_at,
           b.deadline_at, b.purged_at, NULL::uuid AS purged_in
      FROM inventory v
      JOIN lethe.locator_hmacs h ON h.location = p_location AND h.locator_hmac = v.locator_hmac
      JOIN lethe.items i ON i.tenant_id = h.tenant_id AND i.item_id = h.item_id AND i.locator IS NULL
      JOIN lethe.batch_items b ON b.tenant_id = h.tenant_id AND b.item_id = h.item_id AND b.outcome = 'purged'
     WHERE NOT EXISTS (SELECT 1 FROM lethe.repurges p
                        WHERE p.tenant_id = h.tenant_id AND p.item_id = h.item_id AND p.state = 'pending')
       AND NOT EXISTS (SELECT 1 FROM lethe.items l WHERE l.locator = v.locator)
     ORDER BY h.tenant_id, h.item_id, v.ord;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
