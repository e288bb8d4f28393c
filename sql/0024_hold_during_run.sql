-- A hold placed while a run was under way held nothing in that run.
--
-- A run takes its as_of when it starts, then derives, then emits (sql/0018_cycle_passes.sql,
-- emit_batches), and emission judged holds at as_of: a hold placed after the run started, during
-- its derivation (seconds on a large catalog, or the wait for the lock), was not active "at
-- as_of", so the run handed the held items to their deleters, although the hold was committed
-- before the batch was. The same with "lethe run --as-of" an hour ago and a hold placed since:
-- the items of a litigation hold were purged. SPEC §3: a held item is never due; a hold does
-- not recall a batch already emitted, but this batch was not emitted yet.
--
-- emit_batches now also blocks the due items that a hold placed after p_as_of, and not released,
-- covers (through their ancestors too, as lineage() matches holds); they are recorded as
-- hold_blocked and counted as held, like any held item. Only tenants with such a hold pay for
-- the look-up (one pass over lethe.holds first sees whether there is any), so a run with no new
-- hold costs what it did. A hold released since p_as_of still blocks (it was active at
-- p_as_of): that errs on the side of keeping.

CREATE OR REPLACE FUNCTION lethe.emit_batches(p_run uuid, p_as_of timestamptz, p_k integer,
                                              p_n integer, p_max integer, p_shard text,
                                              p_items uuid[] DEFAULT NULL,
                                              p_rerun_of uuid DEFAULT NULL)
RETURNS TABLE (batch_id uuid, location text, items integer)
LANGUAGE plpgsql AS $$
DECLARE
    valid uuid[] := '{}';
    remembered bigint := 0;
    late_tenants uuid[];
    late_items uuid[];
BEGIN
    IF p_items IS NULL THEN
        SELECT coalesce(array_agg(v.tenant_id), '{}'), coalesce(sum(v.items), 0)
          INTO valid, remembered
          FROM lethe.held_valid(p_as_of, p_k, p_n) v;
    END IF;

    -- An item id appears once in a batch (receipts name items by id alone): the k-th tenant
    -- of an id in a location goes to the k-th series of batches (dup = k); with no id twice,
    -- one series. A rerun takes the rerun batch's own (tenant, item) rows.
    CREATE TEMP TABLE due_now ON COMMIT DROP AS
    SELECT d.*,
           CASE WHEN d.hold_id IS NULL
                THEN row_number() OVER (PARTITION BY d.hold_id IS NULL, d.location, d.dup
                                        ORDER BY d.tenant_id, d.item_id) - 1 END AS rn
      FROM (SELECT d.*,
                   row_number() OVER (PARTITION BY d.hold_id IS NULL, d.location, d.item_id
                                      ORDER BY d.tenant_id) - 1 AS dup
              FROM lethe.due_fresh(p_as_of, p_k, p_n, valid) d
             WHERE p_items IS NULL
                OR (d.item_id = ANY (p_items)
                    AND (p_rerun_of IS NULL
                         OR EXISTS (SELECT 1 FROM lethe.batch_items x
                                     WHERE x.batch_id = p_rerun_of AND x.tenant_id = d.tenant_id
                                       AND x.item_id = d.item_id
                                       AND x.outcome IS DISTINCT FROM 'superseded')))) d;

    -- A hold placed after p_as_of and not released is in effect now, as the batch is emitted,
    -- although due_fresh() judged the items at p_as_of: a run's as_of is taken when it starts,
    -- and a hold placed during its derivation (or after an --as-of in the past) held nothing.
    -- SPEC §3: a held item is never due; only a batch already emitted is beyond a hold.
    IF EXISTS (SELECT 1 FROM lethe.holds h WHERE h.placed_at > p_as_of AND h.released_at IS NULL) THEN
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id),
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id)
          INTO late_tenants, late_items
          FROM due_now x
         WHERE x.hold_id IS NULL
           AND EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = x.tenant_id AND h.placed_at > p_as_of
                          AND h.released_at IS NULL);
    END IF;
    IF late_items IS NOT NULL THEN
        UPDATE due_now d
           SET hold_id = m.hold_id,
               holds_seen = (SELECT count(*) FROM lethe.holds c WHERE c.tenant_id = d.tenant_id)
          FROM (SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
                  FROM lethe.hold_matches(late_tenants, late_items, p_as_of) m
                  JOIN lethe.holds h ON h.tenant_id = m.tenant_id AND h.hold_id = m.hold_id
                 WHERE h.placed_at > p_as_of AND h.released_at IS NULL
                 ORDER BY m.tenant_id, m.item_id, h.placed_at, m.hold_id) m
         WHERE d.hold_id IS NULL AND d.tenant_id = m.tenant_id AND d.item_id = m.item_id;
        IF FOUND THEN
            -- the items left to batch are numbered again, without gaps
            UPDATE due_now d SET rn = r.rn
              FROM (SELECT x.ctid AS c,
                           row_number() OVER (PARTITION BY x.location, x.dup
                                              ORDER BY x.tenant_id, x.item_id) - 1 AS rn
                      FROM due_now x WHERE x.hold_id IS NULL) r
             WHERE d.ctid = r.c;
        END IF;
    END IF;

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

    CREATE TEMP TABLE new_batches ON COMMIT DROP AS
    SELECT gen_random_uuid() AS batch_id, n.location, n.dup, n.rn / p_max AS bno, count(*)::integer AS items
      FROM due_now n WHERE n.hold_id IS NULL GROUP BY n.location, n.dup, n.rn / p_max;

    INSERT INTO lethe.batches (batch_id, run_id, location, shard, items, rerun_of)
    SELECT b.batch_id, p_run, b.location, p_shard, b.items, p_rerun_of
      FROM new_batches b ORDER BY b.location, b.dup, b.bno;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at)
    SELECT n.tenant_id, n.item_id, b.batch_id, (n.rn % p_max)::integer, n.location, n.rule,
           n.obligation_id, n.reference, n.subject_hmac, n.triggered_at, n.due_at, n.deadline_at
      FROM due_now n
      JOIN new_batches b ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max
     WHERE n.hold_id IS NULL;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator)
    SELECT '00000000-0000-0000-0000-000000000000', 'batch_emitted', p_run, b.batch_id,
           b.location, b.items, NULL
      FROM new_batches b ORDER BY b.location, b.dup, b.bno;

    IF p_items IS NULL THEN
        PERFORM lethe.held_remember(p_run, p_as_of, p_k, p_n, valid);
    END IF;

    -- The due items a hold blocks, for the run's summary: read back with
    -- current_setting('lethe.emit_held') in the same transaction, so that the caller need not
    -- select the due items a second time (with open batches just added, that costs as much).
    PERFORM set_config('lethe.emit_held',
                       (remembered + (SELECT count(*) FROM due_now d WHERE d.hold_id IS NOT NULL))::text,
                       true);
    RETURN QUERY SELECT b.batch_id, b.location, b.items FROM new_batches b ORDER BY b.location, b.dup, b.bno;
    DROP TABLE due_now, new_batches;
END $$;

-- The dry run's plan (due_items) says the same: such an item is held, by that hold.
CREATE OR REPLACE FUNCTION lethe.due_items(p_as_of timestamptz, p_k integer, p_n integer)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, rule text, obligation_id bigint,
               reference text, subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH valid AS MATERIALIZED (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, p_k, p_n) v),
    d AS MATERIALIZED (
        SELECT h.tenant_id, h.item_id, h.location, h.rule, h.obligation_id, h.reference,
               h.subject_hmac, h.triggered_at, h.due_at, h.deadline_at, h.hold_id
          FROM valid JOIN lethe.held_items h ON h.tenant_id = valid.tenant_id
        UNION ALL
        SELECT f.tenant_id, f.item_id, f.location, f.rule, f.obligation_id, f.reference,
               f.subject_hmac, f.triggered_at, f.due_at, f.deadline_at, f.hold_id
          FROM lethe.due_fresh(p_as_of, p_k, p_n,
                               coalesce((SELECT array_agg(valid.tenant_id) FROM valid), '{}')) f
    ), late AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM d x
         WHERE x.hold_id IS NULL
           AND EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = x.tenant_id AND h.placed_at > p_as_of
                          AND h.released_at IS NULL)
    ), m AS (
        SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
          FROM late CROSS JOIN LATERAL lethe.hold_matches(late.ts, late.ids, p_as_of) m
          JOIN lethe.holds h ON h.tenant_id = m.tenant_id AND h.hold_id = m.hold_id
         WHERE late.ids IS NOT NULL AND h.placed_at > p_as_of AND h.released_at IS NULL
         ORDER BY m.tenant_id, m.item_id, h.placed_at, m.hold_id
    )
    SELECT d.tenant_id, d.item_id, d.location, d.rule, d.obligation_id, d.reference,
           d.subject_hmac, d.triggered_at, d.due_at, d.deadline_at, coalesce(d.hold_id, m.hold_id)
      FROM d LEFT JOIN m ON m.tenant_id = d.tenant_id AND m.item_id = d.item_id
$$;
