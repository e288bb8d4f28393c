-- Remembered blocks (issue 14, the idle run; issue 11's bench). A due item that a hold blocks
-- stays due at every run until the hold is released; re-evaluating its whole lineage at every
-- timer tick made the idle run cost what is held, not what is new. A run now remembers the
-- standing of each held item (held_items), and per tenant the conditions under which that
-- memory is still exact (held_tenants). Later runs use the memory as it is, without walking
-- any lineage, for as long as nothing that could change a held item's standing has happened:
--
--   - no event of the tenant was consumed since (derivation forgets the tenant: withdrawals,
--     opt-ins and opt-outs, new obligations all come from events);
--   - the run's as_of is at or after the as_of the memory was taken at, and before the next
--     instant at which one of the tenant's obligations starts or is withdrawn (recheck_at):
--     a standing only changes with time at those instants;
--   - the rules and the lookahead are the ones the memory was taken under (rules_digest);
--   - every hold the memory names is still active at as_of, and the tenant has no hold the
--     memory did not see (holds: a hold placed since, or dated earlier, may be the one that
--     blocks first).
--
-- An ancestor's purge does not change a held copy's standing when the ancestor was batched
-- under an obligation in effect: the copy carries every obligation of its ancestors already,
-- and the pin the purge adds is one of them, as batched (a rule change, which could make the
-- two differ, forgets everything). It does when the obligation was withdrawn while the batch
-- was open: so nothing is remembered for a tenant with an item in another run's open batch.
-- Restores and reconciliation forget everything (lethe.held_forget).
--
-- The held items' rows in item_obligations are marked held, so that a run's candidates (read
-- through a partial index of the unmarked rows) leave them out while the memory holds; when it
-- no longer holds, the run takes the tenant's held items as candidates again, evaluates them,
-- and remembers again what is still held. A new row for a held item (a newly expanded
-- obligation) is unmarked: the item is evaluated again at the next run.
--
-- Every table here is rewritten only by runs, under the run lock of their shard set, so two
-- runs never write one tenant's memory at once.

ALTER TABLE lethe.item_obligations ADD COLUMN held boolean NOT NULL DEFAULT false;
CREATE INDEX item_obligations_unheld ON lethe.item_obligations (tenant_id, item_id) WHERE NOT held;

CREATE TABLE lethe.held_items (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    location text NOT NULL,
    rule text NOT NULL,
    obligation_id bigint NOT NULL,
    reference text,
    subject_hmac text,
    triggered_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    deadline_at timestamptz NOT NULL,
    hold_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, item_id)
);

CREATE TABLE lethe.held_tenants (
    tenant_id uuid PRIMARY KEY,
    checked_as_of timestamptz NOT NULL,   -- the as_of the memory was taken at
    recheck_at timestamptz NOT NULL,      -- the next instant a standing may change by itself
    rules_digest text NOT NULL,           -- lethe.rules_digest() when taken
    holds bigint NOT NULL,                -- the tenant's holds, counted when taken
    hold_ids uuid[] NOT NULL,             -- the holds the memory names
    items bigint NOT NULL                 -- its held items
);

-- The rules and the lookahead as one text (a change of any of them changes it).
CREATE FUNCTION lethe.rules_digest() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT md5(string_agg(r.rule || '|' || r.deadline::text || '|' || r.grace::text || '|'
                          || r.enabled::text || '|' || r.priority::text, ',' ORDER BY r.rule)
               || '|' || (SELECT s.lookahead::text FROM lethe.settings s))
      FROM lethe.rules r
$$;

-- The tenants of shard p_k/p_n whose memory holds at p_as_of, with their held item counts.
CREATE FUNCTION lethe.held_valid(p_as_of timestamptz, p_k integer, p_n integer)
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
                                   AND (h.released_at IS NULL OR h.released_at > p_as_of)))
$$;

-- The due items of shard p_k/p_n at p_as_of that are evaluated now: every candidate except
-- the remembered held items of the tenants in p_valid. holds_seen: the tenant's holds,
-- counted in the same snapshot as the evaluation (for the memory of held ones).
CREATE FUNCTION lethe.due_fresh(p_as_of timestamptz, p_k integer, p_n integer, p_valid uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, rule text, obligation_id bigint,
               reference text, subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, hold_id uuid, holds_seen bigint)
LANGUAGE sql STABLE AS $$
    WITH cand AS (
        SELECT DISTINCT p.tenant_id, p.item_id FROM lethe.item_obligations p
         WHERE NOT p.held AND lethe.in_shard(p.tenant_id, p_k, p_n)
           AND NOT EXISTS (SELECT 1 FROM lethe.held_items h  -- a new row for a remembered item
                            WHERE h.tenant_id = p.tenant_id AND h.item_id = p.item_id
                              AND h.tenant_id IN (SELECT unnest(p_valid)))
        UNION
        SELECT h.tenant_id, h.item_id
          FROM lethe.held_tenants t
          JOIN lethe.held_items h ON h.tenant_id = t.tenant_id
         WHERE lethe.in_shard(t.tenant_id, p_k, p_n) AND t.tenant_id NOT IN (SELECT unnest(p_valid))
    ), live AS MATERIALIZED (
        SELECT c.tenant_id, c.item_id, i.location
          FROM cand c
          JOIN lethe.items i ON i.tenant_id = c.tenant_id AND i.item_id = c.item_id
         WHERE i.locator IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                            WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                              AND b.outcome IS NULL)
    ), arr AS (
        SELECT array_agg(v.tenant_id ORDER BY v.tenant_id, v.item_id) AS ts,
               array_agg(v.item_id ORDER BY v.tenant_id, v.item_id) AS ids
          FROM live v
    ), hc AS (
        SELECT h.tenant_id, count(*) AS n FROM lethe.holds h GROUP BY h.tenant_id
    )
    SELECT s.tenant_id, s.item_id, v.location, s.rule, s.obligation_id, s.reference,
           s.subject_hmac, s.triggered_at, s.due_at, s.deadline_at, s.hold_id,
           CASE WHEN s.hold_id IS NOT NULL THEN coalesce(hc.n, 0) END
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
      JOIN live v ON v.tenant_id = s.tenant_id AND v.item_id = s.item_id
      LEFT JOIN hc ON hc.tenant_id = s.tenant_id AND s.hold_id IS NOT NULL
     WHERE arr.ids IS NOT NULL AND s.due_at <= p_as_of
$$;

-- The items due at p_as_of, not purged and not in an open batch, with their standing: the
-- remembered held items whose memory holds, and the rest evaluated now. The same rows as
-- before the memory existed.
CREATE OR REPLACE FUNCTION lethe.due_items(p_as_of timestamptz, p_k integer, p_n integer)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, rule text, obligation_id bigint,
               reference text, subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH valid AS MATERIALIZED (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, p_k, p_n) v)
    SELECT h.tenant_id, h.item_id, h.location, h.rule, h.obligation_id, h.reference,
           h.subject_hmac, h.triggered_at, h.due_at, h.deadline_at, h.hold_id
      FROM valid JOIN lethe.held_items h ON h.tenant_id = valid.tenant_id
    UNION ALL
    SELECT f.tenant_id, f.item_id, f.location, f.rule, f.obligation_id, f.reference,
           f.subject_hmac, f.triggered_at, f.due_at, f.deadline_at, f.hold_id
      FROM lethe.due_fresh(p_as_of, p_k, p_n,
                           coalesce((SELECT array_agg(valid.tenant_id) FROM valid), '{}')) f
$$;

-- Derivation consumed events: the memory of their tenants no longer holds (called by
-- lethe.derive_apply, sql/0014_cycle_speed.sql, while it has the consumed events in new_events).
CREATE FUNCTION lethe.held_forget_consumed() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lethe.held_tenants t SET recheck_at = '-infinity'
     WHERE t.tenant_id IN (SELECT e.tenant_id FROM new_events e) AND t.recheck_at > '-infinity';
END $$;

-- Forget every tenant's memory (restore, reconciliation): the next run evaluates again.
CREATE FUNCTION lethe.held_forget() RETURNS void LANGUAGE sql AS $$
    UPDATE lethe.held_tenants t SET recheck_at = '-infinity' WHERE t.recheck_at > '-infinity'
$$;

-- Turns the due items into batches of at most p_max items, one location each, and records the
-- holds that begin to block due items. Returns the new batches. Runs in the caller's
-- transaction; audit records go to audit_stage. p_items limits the selection to some items
-- (a rerun of a failed batch); null means every due item, and then the memory of held items
-- is brought up to date (see the top of this file).
CREATE OR REPLACE FUNCTION lethe.emit_batches(p_run uuid, p_as_of timestamptz, p_k integer,
                                              p_n integer, p_max integer, p_shard text,
                                              p_items uuid[] DEFAULT NULL,
                                              p_rerun_of uuid DEFAULT NULL)
RETURNS TABLE (batch_id uuid, location text, items integer)
LANGUAGE plpgsql AS $$
DECLARE
    valid uuid[] := '{}';
    remembered bigint := 0;
BEGIN
    IF p_items IS NULL THEN
        SELECT coalesce(array_agg(v.tenant_id), '{}'), coalesce(sum(v.items), 0)
          INTO valid, remembered
          FROM lethe.held_valid(p_as_of, p_k, p_n) v;
    END IF;

    CREATE TEMP TABLE due_now ON COMMIT DROP AS
    SELECT d.* FROM lethe.due_fresh(p_as_of, p_k, p_n, valid) d
     WHERE p_items IS NULL OR d.item_id = ANY (p_items);

    WITH blocked AS (
        INSERT INTO lethe.hold_blocks (tenant_id, item_id, hold_id)
        SELECT d.tenant_id, d.item_id, d.hold_id FROM due_now d WHERE d.hold_id IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING hold_blocks.tenant_id, hold_blocks.item_id, hold_blocks.hold_id)
    INSERT INTO audit_stage (tenant_id, kind, run_id, item_id, rule, reference, triggered_at,
                             deadline_at, hold_id, detail)
    SELECT b.tenant_id, 'hold_blocked', p_run, b.item_id, d.rule, h.reference, d.triggered_at,
           d.deadline_at, b.hold_id, 'due ' || lethe.iso_utc(d.due_at)
      FROM blocked b
      JOIN due_now d ON d.tenant_id = b.tenant_id AND d.item_id = b.item_id
      JOIN lethe.holds h ON h.tenant_id = b.tenant_id AND h.hold_id = b.hold_id
     ORDER BY b.tenant_id, b.item_id;

    CREATE TEMP TABLE numbered ON COMMIT DROP AS
    SELECT d.*, (row_number() OVER (PARTITION BY d.location ORDER BY d.tenant_id, d.item_id) - 1)
                 AS rn
      FROM due_now d WHERE d.hold_id IS NULL;
    CREATE TEMP TABLE new_batches ON COMMIT DROP AS
    SELECT gen_random_uuid() AS batch_id, n.location, n.rn / p_max AS bno, count(*)::integer AS items
      FROM numbered n GROUP BY n.location, n.rn / p_max;

    INSERT INTO lethe.batches (batch_id, run_id, location, shard, items, rerun_of)
    SELECT b.batch_id, p_run, b.location, p_shard, b.items, p_rerun_of
      FROM new_batches b ORDER BY b.location, b.bno;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at)
    SELECT n.tenant_id, n.item_id, b.batch_id, (n.rn % p_max)::integer, n.location, n.rule,
           n.obligation_id, n.reference, n.subject_hmac, n.triggered_at, n.due_at, n.deadline_at
      FROM numbered n JOIN new_batches b ON b.location = n.location AND b.bno = n.rn / p_max;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator)
    SELECT '00000000-0000-0000-0000-000000000000', 'batch_emitted', p_run, b.batch_id,
           b.location, b.items, NULL
      FROM new_batches b ORDER BY b.location, b.bno;

    IF p_items IS NULL THEN
        PERFORM lethe.held_remember(p_run, p_as_of, p_k, p_n, valid);
    END IF;

    -- The due items a hold blocks, for the run's summary: read back with
    -- current_setting('lethe.emit_held') in the same transaction, so that the caller need not
    -- select the due items a second time (with open batches just added, that costs as much).
    PERFORM set_config('lethe.emit_held',
                       (remembered + (SELECT count(*) FROM due_now d WHERE d.hold_id IS NOT NULL))::text,
                       true);
    RETURN QUERY SELECT b.batch_id, b.location, b.items FROM new_batches b ORDER BY b.location, b.bno;
    DROP TABLE due_now, numbered, new_batches;
END $$;

-- The memory, brought up to date from due_now (the items evaluated by this run): the tenants
-- whose memory did not hold (not in p_valid) are forgotten, their held items unmarked; what
-- this run found held is remembered and marked.
CREATE FUNCTION lethe.held_remember(p_run uuid, p_as_of timestamptz, p_k integer, p_n integer,
                                     p_valid uuid[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    gone uuid[];
BEGIN
    WITH d AS (
        DELETE FROM lethe.held_tenants t
         WHERE lethe.in_shard(t.tenant_id, p_k, p_n) AND t.tenant_id NOT IN (SELECT unnest(p_valid))
        RETURNING t.tenant_id)
    SELECT array_agg(d.tenant_id) INTO gone FROM d;
    IF gone IS NOT NULL THEN
        UPDATE lethe.item_obligations p SET held = false
          FROM lethe.held_items h
         WHERE h.tenant_id = ANY (gone) AND p.tenant_id = h.tenant_id AND p.item_id = h.item_id
           AND p.held;
        DELETE FROM lethe.held_items h WHERE h.tenant_id = ANY (gone);
    END IF;
    -- At an idle run nothing is evaluated: nothing more to plan.
    IF NOT EXISTS (SELECT 1 FROM due_now d WHERE d.hold_id IS NOT NULL) THEN
        RETURN;
    END IF;

    -- What this run found held, except in tenants with an item in a batch of another run
    -- still open: its acknowledgement pins an obligation that may have been withdrawn since
    -- (SPEC §3: a purge cannot be undone), which would change the standing of its copies.
    CREATE TEMP TABLE held_new ON COMMIT DROP AS
    SELECT d.* FROM due_now d
     WHERE d.hold_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b JOIN lethe.batches x ON x.batch_id = b.batch_id
                        WHERE b.tenant_id = d.tenant_id AND b.outcome IS NULL AND x.run_id <> p_run);
    INSERT INTO lethe.held_items (tenant_id, item_id, location, rule, obligation_id, reference,
                                  subject_hmac, triggered_at, due_at, deadline_at, hold_id)
    SELECT d.tenant_id, d.item_id, d.location, d.rule, d.obligation_id, d.reference,
           d.subject_hmac, d.triggered_at, d.due_at, d.deadline_at, d.hold_id
      FROM held_new d
    ON CONFLICT ON CONSTRAINT held_items_pkey DO UPDATE
       SET location = excluded.location, rule = excluded.rule,
           obligation_id = excluded.obligation_id, reference = excluded.reference,
           subject_hmac = excluded.subject_hmac, triggered_at = excluded.triggered_at,
           due_at = excluded.due_at, deadline_at = excluded.deadline_at, hold_id = excluded.hold_id;
    UPDATE lethe.item_obligations p SET held = true
      FROM held_new d
     WHERE p.tenant_id = d.tenant_id AND p.item_id = d.item_id AND NOT p.held;

    -- Per tenant: taken at p_as_of (the earlier memory of a tenant that held is still exact
    -- from there), valid until the next start or withdrawal of one of its obligations.
    INSERT INTO lethe.held_tenants AS t (tenant_id, checked_as_of, recheck_at, rules_digest,
                                         holds, hold_ids, items)
    SELECT n.tenant_id, p_as_of,
           coalesce((SELECT min(w.x) FROM lethe.obligations o,
                            LATERAL (VALUES (o.triggered_at), (o.withdrawn_at)) w (x)
                      WHERE o.tenant_id = n.tenant_id AND w.x > p_as_of), 'infinity'),
           lethe.rules_digest(), n.holds_seen,
           (SELECT array_agg(DISTINCT h.hold_id) FROM lethe.held_items h
             WHERE h.tenant_id = n.tenant_id),
           (SELECT count(*) FROM lethe.held_items h WHERE h.tenant_id = n.tenant_id)
      FROM (SELECT d.tenant_id, min(d.holds_seen) AS holds_seen FROM held_new d
             GROUP BY d.tenant_id) n
    ON CONFLICT (tenant_id) DO UPDATE
       SET checked_as_of = greatest(t.checked_as_of, excluded.checked_as_of),
           recheck_at = least(t.recheck_at, excluded.recheck_at),
           holds = least(t.holds, excluded.holds),
           hold_ids = excluded.hold_ids, items = excluded.items;
    DROP TABLE held_new;
END $$;

-- What status counts (sql/0007_lineage.sql), with the remembered held items of the tenants
-- whose memory holds at p_as_of taken from memory: the same rows, without evaluating them.
CREATE OR REPLACE FUNCTION lethe.pending_items(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    WITH RECURSIVE valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), roots AS (
        SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p WHERE NOT p.held
        UNION
        SELECT h.tenant_id, h.item_id FROM lethe.held_items h
         WHERE h.tenant_id NOT IN (SELECT valid.tenant_id FROM valid)
        UNION
        SELECT b.tenant_id, b.item_id FROM lethe.inbox_items b
        UNION
        SELECT i.tenant_id, i.item_id
          FROM lethe.obligations o
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, i.owner_id, i.owner_digest)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
         WHERE o.expanded_at IS NULL AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION
        SELECT i.tenant_id, i.item_id FROM lethe.items i WHERE i.shared AND i.locator IS NOT NULL
    ), walk AS (
        SELECT r.tenant_id, r.item_id, 0 AS depth FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.depth + 1
          FROM walk w JOIN lethe.items c ON c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
         WHERE w.depth < 64
    ), arr AS (
        SELECT array_agg(c.tenant_id ORDER BY c.tenant_id, c.item_id) AS ts,
               array_agg(c.item_id ORDER BY c.tenant_id, c.item_id) AS ids
          FROM (SELECT DISTINCT w.tenant_id, w.item_id FROM walk w) c
          JOIN lethe.items i ON i.tenant_id = c.tenant_id AND i.item_id = c.item_id
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE i.locator IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                            WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                              AND (b.outcome IS NULL OR b.outcome = 'purged'))
           AND NOT EXISTS (SELECT 1 FROM lethe.held_items h
                            WHERE h.tenant_id = c.tenant_id AND h.item_id = c.item_id
                              AND h.tenant_id IN (SELECT valid.tenant_id FROM valid))
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h JOIN valid ON valid.tenant_id = h.tenant_id
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;
REVOKE ALL ON FUNCTION lethe.pending_items(timestamptz) FROM PUBLIC;
