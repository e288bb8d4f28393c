-- An idle run, known before it is planned (issue 14, shape 6).
--
-- A run with nothing new and nothing come due spent most of its server time planning the
-- statements of derive_consume, derive_apply and emit_batches (about 40 ms of a new session's
-- first calls, with their temporary tables) only to find that each had no input. idle_probe()
-- asks the same questions those functions ask of their input, through the same indexes, in
-- one short function. When every answer is "nothing", the run skips the derivation and the
-- emission; the probe then makes the one write an idle derivation makes (the shared_retention
-- range's new start). When any answer is "something", it writes nothing and the run takes the
-- full path as before, so a probe that says too little only costs time.
--
-- What an idle derivation and emission find, and the probe's question for each:
--  - derive_consume: no row of inbox_events or inbox_items in the shard;
--  - the subject HMACs (asked when the run has an audit key, p_hmac): no obligation with a
--    subject and no HMAC in the shard;
--  - derive_apply: no obligation withdrawn by as_of that still has item rows (the withdrawals'
--    DELETE); no obligation due by as_of and not expanded (to_expand); with shared_retention
--    enabled, no live shared Customer Data item in the range not seeded yet that is due and has
--    no row (the range and its start worked out as derive_apply works them out), and with it
--    disabled, no remembered start left to forget; with no new event and no new item, nothing
--    else in derive_apply has input;
--  - emit_batches: no candidate of due_fresh(): no unheld item row of a live item without an
--    open batch item (outside the remembered held items of tenants whose memory holds), and no
--    held tenant in the shard whose memory no longer holds (held_remember would forget it, and
--    due_fresh would evaluate its items). Candidates that are not due yet also send the run
--    the full way: the probe does not evaluate standing().
-- held is what emit_batches reports when nothing is due: the remembered held items of the
-- tenants whose memory holds.
CREATE FUNCTION lethe.idle_probe(p_as_of timestamptz, p_k integer, p_n integer, p_hmac boolean,
                                 OUT idle boolean, OUT held bigint)
LANGUAGE plpgsql AS $$
DECLARE
    valid uuid[];
    sr record;
    bound timestamptz;
    safe timestamptz;
    v_sig text;
    seeded_upto timestamptz;
BEGIN
    idle := false;
    held := 0;
    IF EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE lethe.in_shard(b.tenant_id, p_k, p_n))
       OR EXISTS (SELECT 1 FROM lethe.inbox_items b WHERE lethe.in_shard(b.tenant_id, p_k, p_n))
       OR (p_hmac AND EXISTS (SELECT 1 FROM lethe.obligations o
                   WHERE o.subject_id IS NOT NULL AND o.subject_hmac IS NULL
                     AND lethe.in_shard(o.tenant_id, p_k, p_n)))
       OR EXISTS (SELECT 1 FROM lethe.obligations o
                   WHERE o.withdrawn_at <= p_as_of AND lethe.in_shard(o.tenant_id, p_k, p_n)
                     AND EXISTS (SELECT 1 FROM lethe.item_obligations x
                                  WHERE x.tenant_id = o.tenant_id AND x.obligation_id = o.obligation_id
                                    AND x.obligation_id <> 0
                                 OFFSET 0))
       OR EXISTS (SELECT 1
                    FROM lethe.obligations ob
                    JOIN lethe.rules r ON r.rule = ob.rule AND r.enabled
                   CROSS JOIN lethe.settings s
                   WHERE ob.expanded_at IS NULL AND lethe.in_shard(ob.tenant_id, p_k, p_n)
                     AND (ob.withdrawn_at IS NULL OR ob.withdrawn_at > p_as_of)
                     AND ob.triggered_at <= p_as_of
                     AND lethe.due_time(ob.triggered_at, r.deadline, r.grace, s.lookahead) <= p_as_of) THEN
        RETURN;
    END IF;

    -- shared_retention, as derive_apply (sql/0030_idle_10m.sql) works out its range.
    SELECT r.*, s.lookahead INTO sr FROM lethe.rules r CROSS JOIN lethe.settings s
     WHERE r.rule = 'shared_retention';
    IF sr.enabled THEN
        bound := p_as_of - greatest(interval '0', least(lethe.interval_floor(sr.grace),
                                                        lethe.interval_floor(sr.deadline)
                                                        - lethe.interval_ceil(sr.lookahead)));
        safe := p_as_of - greatest(interval '0', least(lethe.interval_ceil(sr.grace),
                                                       lethe.interval_ceil(sr.deadline)
                                                       - lethe.interval_floor(sr.lookahead)));
        v_sig := md5(concat_ws('|', sr.deadline::text, sr.grace::text, sr.lookahead::text,
                             (SELECT string_agg(k.kind, ',' ORDER BY k.kind) FROM lethe.kinds k
                               WHERE k.customer_data)));
        SELECT CASE WHEN count(*) = count(*) FILTER (WHERE x.sig = v_sig)
                         AND count(*) = (SELECT count(*) FROM generate_series(0, 31) b
                                          WHERE p_n = 0 OR b % p_n = p_k)
                    THEN min(x.upto) END
          INTO seeded_upto
          FROM lethe.shared_seeded x WHERE p_n = 0 OR x.bucket % p_n = p_k;
        IF EXISTS (SELECT 1
                     FROM lethe.items i
                     JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                    WHERE i.shared AND i.locator IS NOT NULL
                      AND (CASE WHEN i.shared THEN i.created_at END) <= bound
                      AND (seeded_upto IS NULL OR (CASE WHEN i.shared THEN i.created_at END) > seeded_upto)
                      AND lethe.in_shard(i.tenant_id, p_k, p_n)
                      AND lethe.due_time(i.created_at, sr.deadline, sr.grace, sr.lookahead) <= p_as_of
                      AND NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                                       WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id
                                         AND p.rule = 'shared_retention' AND p.obligation_id = 0
                                       OFFSET 0)) THEN
            RETURN;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM lethe.shared_seeded x WHERE p_n = 0 OR x.bucket % p_n = p_k) THEN
        RETURN;
    END IF;

    -- emit_batches: the candidates of due_fresh() (sql/0018_cycle_passes.sql), and the held
    -- tenants held_remember would forget.
    SELECT coalesce(array_agg(v.tenant_id), '{}'), coalesce(sum(v.items), 0)
      INTO valid, held
      FROM lethe.held_valid(p_as_of, p_k, p_n) v;
    IF EXISTS (SELECT 1 FROM lethe.held_tenants t
                WHERE lethe.in_shard(t.tenant_id, p_k, p_n) AND t.tenant_id <> ALL (valid))
       OR EXISTS (SELECT 1
                    FROM lethe.item_obligations p
                    JOIN lethe.items i ON i.tenant_id = p.tenant_id AND i.item_id = p.item_id
                   WHERE NOT p.held AND lethe.in_shard(p.tenant_id, p_k, p_n)
                     AND i.locator IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM lethe.held_items h
                                      WHERE h.tenant_id = p.tenant_id AND h.item_id = p.item_id
                                        AND h.tenant_id = ANY (valid))
                     AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                                      WHERE b.tenant_id = p.tenant_id AND b.item_id = p.item_id
                                        AND b.outcome IS NULL)) THEN
        held := 0;
        RETURN;
    END IF;

    -- Idle: the one write of an idle derivation, the range's new start (as derive_apply).
    IF sr.enabled THEN
        INSERT INTO lethe.shared_seeded AS x (bucket, upto, sig)
        SELECT b, safe, v_sig FROM generate_series(0, 31) b WHERE p_n = 0 OR b % p_n = p_k
        ON CONFLICT (bucket) DO UPDATE SET upto = EXCLUDED.upto, sig = EXCLUDED.sig
         WHERE (x.upto, x.sig) IS DISTINCT FROM (EXCLUDED.upto, EXCLUDED.sig);
    END IF;
    idle := true;
END $$;

-- A database upgraded after deploy/roles.sql ran: lethe.harden() leaves the new function to no
-- one, and the engine's timer would fail at its next run until roles.sql ran again. It gets what
-- roles.sql gives lethe_engine on every function (EXECUTE), and nothing more.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.idle_probe(timestamptz, integer, integer, boolean) TO lethe_engine;
    END IF;
END $grant$;
