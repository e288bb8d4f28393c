-- The idle run and status at 10M items: three reads that grew with what the catalog has
-- seen rather than with the work due (issue 14, shapes 6 and 8).
--
-- Measured on the bench's 10M catalog (10,050,000 items, 33,334 tenants, 45,042 held due
-- items, right after a full cycle and a VACUUM ANALYZE), server time of an idle run's
-- statements, warm:
--
-- 1. Withdrawals. Every run deletes the item_obligations rows of obligations withdrawn by its
--    as_of. The planner joined the 2,569 withdrawn obligations (a scan of all 27,115) with a
--    scan of all of item_obligations: 45,080 rows, but 11,014 pages, since the table holds a
--    cycle's due items between emission and acknowledgement (425,611 rows at 10M) and keeps
--    their pages. 52 ms. The withdrawn obligations now have an index of their own, and each is
--    probed in item_obligations_obligation: 7 ms, growing with the withdrawn obligations only.
-- 2. held_valid (sql/0016_write_speed.sql), which the run's emission and status read: the
--    holds no longer in effect at as_of were ruled out by a nested loop over every remembered
--    tenant and every such hold (1,028 x 188 rows compared, 27 ms); each remembered tenant now
--    probes its own holds (OFFSET 0): 4.6 ms, the same rows.
-- 3. The obligations whose subject has no HMAC yet (dbcycle_unhashed_subjects): none in a
--    steady catalog, found by a scan of every obligation (5.8 ms); now by a partial index that
--    holds exactly them.

-- 4. shared_retention's seeding re-read every live shared item past its due time on every
--    run (3,238 at 10M: those held or in flight, each looked up in item_obligations: 16-25 ms).
--    Each run now remembers, per bucket of tenants (the 32 of lethe.shard_of), the created_at up
--    to which every live shared item has its row, and starts there the next time; the items
--    committed since are looked at by themselves. The bound is kept with the rules and the
--    Customer Data kinds it was computed with, and is forgotten when they change, and when the
--    rule is disabled. (A later migration that changes what is seeded empties the table.)

CREATE TABLE lethe.shared_seeded (
    bucket integer PRIMARY KEY CHECK (bucket >= 0 AND bucket < 32),
    upto timestamptz NOT NULL,
    sig text NOT NULL
);

-- The engine writes it as it writes obligations: a role that deploy/roles.sql set up before this
-- migration gets the same rights on it, so that runs go on before roles.sql runs again.
DO $grant$
DECLARE
    g text;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::regrole::text
               FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = 'lethe.obligations'::regclass AND a.privilege_type = 'INSERT'
                AND a.grantee <> c.relowner AND a.grantee <> 0
              ORDER BY 1
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON lethe.shared_seeded TO %s', g);
    END LOOP;
END $grant$;

CREATE INDEX obligations_withdrawn ON lethe.obligations (withdrawn_at) INCLUDE (tenant_id, obligation_id)
    WHERE withdrawn_at IS NOT NULL;
CREATE INDEX obligations_unhashed ON lethe.obligations (tenant_id, obligation_id)
    WHERE subject_id IS NOT NULL AND subject_hmac IS NULL;

-- As sql/0016_write_speed.sql wrote it, with the holds no longer in effect probed per tenant.
CREATE OR REPLACE FUNCTION lethe.held_valid(p_as_of timestamptz, p_k integer, p_n integer)
RETURNS TABLE (tenant_id uuid, items bigint)
LANGUAGE sql STABLE AS $$
    WITH d AS MATERIALIZED (SELECT lethe.rules_digest() AS digest)
    SELECT t.tenant_id, t.items
      FROM lethe.held_tenants t CROSS JOIN d
     WHERE lethe.in_shard(t.tenant_id, p_k, p_n)
       AND p_as_of >= t.checked_as_of AND p_as_of < t.recheck_at
       AND t.rules_digest = d.digest
       AND t.holds = (SELECT count(*) FROM lethe.holds h WHERE h.tenant_id = t.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = t.tenant_id AND h.hold_id = ANY (t.hold_ids)
                          AND NOT (h.placed_at <= p_as_of
                                   AND (h.released_at IS NULL OR h.released_at > p_as_of))
                        OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE b.tenant_id = t.tenant_id)
$$;

-- As sql/0020_subject_requests.sql wrote it, with the withdrawals' DELETE driven by the
-- withdrawn obligations (1. above). Nothing else changes.
CREATE OR REPLACE FUNCTION lethe.derive_apply(p_as_of timestamptz, p_k integer, p_n integer,
                                   OUT withdrawn integer, OUT expanded bigint)
LANGUAGE plpgsql AS $$
DECLARE
    sr record;
    bound timestamptz;
    safe timestamptz;
    v_sig text;
    seeded_upto timestamptz;
    ts uuid[];
    ids uuid[];
    touched_ts uuid[] := '{}';  -- the items that lost rows (pairs of the two arrays)
    touched_ids uuid[] := '{}';
BEGIN
    expanded := 0;
    withdrawn := 0;

    -- An idle run (nothing consumed, nothing come due) skips each step that has no input: in a
    -- new session every statement reached is planned first, and that was most of its cost.
    IF EXISTS (SELECT 1 FROM new_events) THEN
    -- A consumed event may change the standing of a held item (sql/0013_held.sql).
    PERFORM lethe.held_forget_consumed();
    -- Withdrawals, whichever of the two events arrived first: a later cancellation with the
    -- request's reference, or a later re-provisioning. The earliest withdrawing event counts,
    -- even when it is committed after a later one has withdrawn the obligation already.
    CREATE TEMP TABLE withdrawals ON COMMIT DROP AS
    SELECT DISTINCT ON (o.tenant_id, o.obligation_id)
           o.tenant_id, o.obligation_id, e.occurred_at, e.event_id
      FROM lethe.obligations o
      JOIN lethe.events e ON e.tenant_id = o.tenant_id AND e.occurred_at > o.triggered_at
       AND ((o.rule IN ('deletion_request', 'subject_request')
             AND e.type = 'deletion_cancelled' AND e.reference = o.reference)
         OR (o.rule = 'capacity_deleted' AND e.type = 'capacity_provisioned'))
     WHERE (o.withdrawn_at IS NULL OR e.occurred_at < o.withdrawn_at)
       AND o.tenant_id IN (SELECT tenant_id FROM new_events)
     ORDER BY o.tenant_id, o.obligation_id, e.occurred_at, e.event_id;
    UPDATE lethe.obligations o SET withdrawn_at = w.occurred_at, withdrawn_by = w.event_id
      FROM withdrawals w
     WHERE o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id;
    GET DIAGNOSTICS withdrawn = ROW_COUNT;
    INSERT INTO audit_stage (tenant_id, kind, rule, reference, triggered_at, subject_hmac, count, detail)
    SELECT o.tenant_id, 'obligation_withdrawn', o.rule, o.reference, o.triggered_at, o.subject_hmac,
           (SELECT count(*) FROM lethe.item_obligations p
             WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id),
           'withdrawn at ' || to_char(w.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      FROM withdrawals w
      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id
     ORDER BY o.tenant_id, o.obligation_id;
    END IF;

    -- Obligations withdrawn by now release their items (those not already handed over); the
    -- items are evaluated again at the end, for what else (a purged source's pin) holds them.
    -- The withdrawn obligations are read through their index, and each is looked up in
    -- item_obligations by its own index (OFFSET 0 keeps the probe per obligation): joined as
    -- sets, the planner read the whole of item_obligations, whose pages hold the largest
    -- cycle's rows (sql/0030_idle_10m.sql).
    WITH d AS (
        DELETE FROM lethe.item_obligations p
         USING (SELECT o.tenant_id, o.obligation_id FROM lethe.obligations o
                 WHERE o.withdrawn_at <= p_as_of AND lethe.in_shard(o.tenant_id, p_k, p_n)
                   AND EXISTS (SELECT 1 FROM lethe.item_obligations x
                                WHERE x.tenant_id = o.tenant_id AND x.obligation_id = o.obligation_id
                                  AND x.obligation_id <> 0
                                OFFSET 0)
                OFFSET 0) o
         WHERE p.obligation_id <> 0 AND o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
        RETURNING p.tenant_id, p.item_id)
    SELECT touched_ts || coalesce(array_agg(d.tenant_id), '{}'), touched_ids || coalesce(array_agg(d.item_id), '{}')
      INTO touched_ts, touched_ids FROM d;

    -- A sharing event, however late, can make or clear a violation anywhere in a lineage: the
    -- tenant's violation rows go, and the shared Customer Data items created while opted out
    -- (purged ones too: their copies inherit it) seed them again.
    IF EXISTS (SELECT 1 FROM new_events e WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out')) THEN
    WITH d AS (
        DELETE FROM lethe.item_obligations p
         WHERE p.rule = 'shared_while_opted_out' AND p.obligation_id = 0
           AND p.tenant_id IN (SELECT e.tenant_id FROM new_events e
                                WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
        RETURNING p.tenant_id, p.item_id)
    SELECT touched_ts || coalesce(array_agg(d.tenant_id), '{}'), touched_ids || coalesce(array_agg(d.item_id), '{}')
      INTO touched_ts, touched_ids FROM d;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT i.tenant_id, i.item_id, 'shared_while_opted_out', 0, i.created_at, 0
      FROM lethe.items i
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE i.tenant_id IN (SELECT e.tenant_id FROM new_events e
                            WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
       AND i.shared AND lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at)
    ON CONFLICT DO NOTHING;
    END IF;

    -- The obligations due now and not expanded yet (expanded below, after the new items).
    CREATE TEMP TABLE to_expand ON COMMIT DROP AS
    SELECT ob.tenant_id, ob.obligation_id, ob.rule, ob.triggered_at, ob.covers_until,
           ob.workspace_id, ob.subject_id, ob.item_id, ob.shared_only,
           lethe.owner_digest(ob.tenant_id, ob.subject_id) AS subject_digest
      FROM lethe.obligations ob
      JOIN lethe.rules r ON r.rule = ob.rule AND r.enabled
      CROSS JOIN lethe.settings s
     WHERE ob.expanded_at IS NULL AND lethe.in_shard(ob.tenant_id, p_k, p_n)
       AND (ob.withdrawn_at IS NULL OR ob.withdrawn_at > p_as_of)
       AND ob.triggered_at <= p_as_of
       AND lethe.due_time(ob.triggered_at, r.deadline, r.grace, s.lookahead) <= p_as_of;
    ANALYZE to_expand;

    -- New items (and copies committed late, through any kind of ancestor): whatever their
    -- lineage makes due now. A tenant whose every obligation is expanded below, and which has
    -- no shared item (no per-item rule) and no batch item (no pin, nothing in flight, hence no
    -- tombstone), gets from lineage() exactly the rows the expansion gives its items: its new
    -- items are left to the expansion. (A new tenant's first request over 10,000 fresh items
    -- spent 0.3 s here, all of it repeated by the expansion.)
    IF EXISTS (SELECT 1 FROM new_items) THEN
    SELECT array_agg(n.tenant_id ORDER BY n.tenant_id, n.item_id),
           array_agg(n.item_id ORDER BY n.tenant_id, n.item_id)
      INTO ts, ids
      FROM new_items n
     WHERE n.tenant_id NOT IN (
            SELECT q.tenant_id FROM (SELECT DISTINCT x.tenant_id FROM new_items x) q
             WHERE NOT EXISTS (SELECT 1 FROM lethe.obligations o
                                WHERE o.tenant_id = q.tenant_id
                                  AND NOT EXISTS (SELECT 1 FROM to_expand t
                                                   WHERE t.tenant_id = o.tenant_id
                                                     AND t.obligation_id = o.obligation_id))
               AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b WHERE b.tenant_id = q.tenant_id)
               AND NOT EXISTS (SELECT 1 FROM lethe.items i
                                WHERE i.tenant_id = q.tenant_id AND i.shared));
    PERFORM lethe.seed_from_lineage(ts, ids, p_as_of);
    END IF;

    expanded := expanded + lethe.propagate_seeds();

    -- Expand the obligations that are due now into their items, all in one pass, one branch
    -- per kind of scope so that each finds its items through its own index. Scopes seed only
    -- Customer Data (a system log starts no coverage), tombstones included: their copies
    -- follow them.
    IF EXISTS (SELECT 1 FROM to_expand) THEN
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT x.tenant_id, x.item_id, x.rule, x.obligation_id, x.triggered_at, 0, x.locator IS NOT NULL
      FROM (
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
         WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL  -- the subject's purged items: their copies follow them
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i
            ON i.tenant_id = t.tenant_id AND i.owner_digest = t.subject_digest
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.owner_id IS NULL
           AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
      ) x
      JOIN lethe.kinds k ON k.kind = x.kind AND k.customer_data
    ON CONFLICT DO NOTHING;
    expanded := expanded + lethe.propagate_seeds();
    UPDATE lethe.obligations o SET expanded_at = clock_timestamp()
      FROM to_expand t WHERE o.tenant_id = t.tenant_id AND o.obligation_id = t.obligation_id;
    END IF;
    DROP TABLE to_expand;

    -- shared_retention: each live shared Customer Data item is due by its own created_at.
    -- The index range is bounded with the shortest the grace and deadline can be and the
    -- longest the lookahead can be, then checked exactly. The range is written as the
    -- expression items_shared_due indexes (sql/0023_shared_due.sql), and the items found are
    -- looked up one by one in item_obligations (OFFSET 0): see there.
    --
    -- The range starts where the last run over the same buckets left it (shared_seeded, below):
    -- every live shared item created up to there had its row then, and keeps it until it is
    -- purged (items are immutable; no statement deletes a live item's shared_retention row). An
    -- item committed since with an older created_at is a new item of this run, which lineage()
    -- has seeded above with its own shared_retention (its tenant has a shared item, so it is
    -- never left to the expansion). Without a remembered start, with other rules or other
    -- Customer Data kinds than when it was remembered, the range starts at the beginning.
    SELECT r.*, s.lookahead INTO sr FROM lethe.rules r CROSS JOIN lethe.settings s
     WHERE r.rule = 'shared_retention';
    IF sr.enabled THEN
        bound := p_as_of - greatest(interval '0', least(lethe.interval_floor(sr.grace),
                                                        lethe.interval_floor(sr.deadline)
                                                        - lethe.interval_ceil(sr.lookahead)));
        -- Every item created up to safe is due at p_as_of (the longest grace and deadline, the
        -- shortest lookahead; due_time never decreases with created_at).
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
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
        SELECT i.tenant_id, i.item_id, 'shared_retention', 0, i.created_at, 0, true
          FROM lethe.items i
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE i.shared AND i.locator IS NOT NULL AND (CASE WHEN i.shared THEN i.created_at END) <= bound
           AND (seeded_upto IS NULL OR (CASE WHEN i.shared THEN i.created_at END) > seeded_upto)
           AND lethe.in_shard(i.tenant_id, p_k, p_n)
           AND lethe.due_time(i.created_at, sr.deadline, sr.grace, sr.lookahead) <= p_as_of
           AND NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id
                              AND p.rule = 'shared_retention' AND p.obligation_id = 0
                            OFFSET 0)
        ON CONFLICT DO NOTHING;
        expanded := expanded + lethe.propagate_seeds();
        -- Remembered as this run's safe point, even when an earlier run's (a later as_of) was
        -- further: an item of this run left unseeded as not yet due may lie below it.
        INSERT INTO lethe.shared_seeded AS x (bucket, upto, sig)
        SELECT b, safe, v_sig FROM generate_series(0, 31) b WHERE p_n = 0 OR b % p_n = p_k
        ON CONFLICT (bucket) DO UPDATE SET upto = EXCLUDED.upto, sig = EXCLUDED.sig
         WHERE (x.upto, x.sig) IS DISTINCT FROM (EXCLUDED.upto, EXCLUDED.sig);
    ELSE
        DELETE FROM lethe.shared_seeded x WHERE p_n = 0 OR x.bucket % p_n = p_k;
    END IF;

    -- The items that lost rows and have none left: what still makes them due keeps them.
    IF cardinality(touched_ids) > 0 THEN
        SELECT array_agg(t.tenant_id ORDER BY t.tenant_id, t.item_id),
               array_agg(t.item_id ORDER BY t.tenant_id, t.item_id)
          INTO ts, ids
          FROM (SELECT DISTINCT x.tenant_id, x.item_id
                  FROM unnest(touched_ts, touched_ids) x (tenant_id, item_id)) t
         WHERE NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = t.tenant_id AND p.item_id = t.item_id);
        PERFORM lethe.seed_from_lineage(ts, ids, p_as_of);
        expanded := expanded + lethe.propagate_seeds();
    END IF;
    DROP TABLE IF EXISTS withdrawals;
    DROP TABLE new_events, new_items;
END $$;


ANALYZE lethe.obligations;
