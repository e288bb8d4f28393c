-- Passes a cycle made twice over the same rows (issue 14, shapes 3 and 4): the same output,
-- audit records, manifest bytes and state, with one pass where there were two.

-- ---- manifests -----------------------------------------------------------------------------

-- A batch's manifest, line by line in order, each item line with the tenant, item and locator
-- it names beside it: the engine records the locators' HMACs from the stream it writes the
-- manifest from, instead of reading lethe.batch_locators() a second time for them (121,000
-- items in 14 batches: 1.0 s of the server's time, and the run's again for the second stream).
-- The header line (ord -1) has nulls there. The lines are those of sql/0009_restore.sql's
-- lethe.manifest_lines(), which is now defined over this function.
CREATE FUNCTION lethe.manifest_rows(p_batch uuid)
RETURNS TABLE (ord integer, line text, tenant_id uuid, item_id uuid, locator text)
LANGUAGE sql STABLE AS $$
    WITH its AS (SELECT * FROM lethe.batch_locators(p_batch))
    SELECT l.ord, l.line, l.tenant_id, l.item_id, l.locator FROM (
        SELECT -1 AS ord,
               '{"batch_id":' || to_json(b.batch_id::text) || ',"run_id":' || to_json(b.run_id::text)
               || ',"location":' || to_json(b.location) || ',"created_at":"' || lethe.iso_utc(b.created_at)
               || '","items":' || (SELECT count(*) FROM its) || '}' AS line,
               NULL::uuid AS tenant_id, NULL::uuid AS item_id, NULL::text AS locator
          FROM lethe.batches b WHERE b.batch_id = p_batch
        UNION ALL
        SELECT its.ord,
               '{"item_id":' || to_json(its.item_id::text) || ',"tenant_id":' || to_json(its.tenant_id::text)
               || ',"workspace_id":' || to_json(its.workspace_id::text) || ',"kind":' || to_json(its.kind)
               || ',"locator":' || to_json(its.locator) || ',"rule":' || to_json(its.rule)
               || ',"deadline_at":"' || lethe.iso_utc(its.deadline_at) || '"}',
               its.tenant_id, its.item_id, its.locator
          FROM its
    ) l ORDER BY l.ord
$$;

CREATE OR REPLACE FUNCTION lethe.manifest_lines(p_batch uuid) RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT r.line FROM lethe.manifest_rows(p_batch) r ORDER BY r.ord
$$;

-- Nothing through PUBLIC (sql/0004_security.sql); deploy/roles.sql grants the roles.
REVOKE ALL ON FUNCTION lethe.manifest_rows(uuid) FROM PUBLIC;

-- ---- derivation ----------------------------------------------------------------------------

-- As sql/0002_rules.sql wrote it, without the DISTINCT ON of the last insert: it named the
-- primary key of seeds (tenant_id, item_id, rule, obligation_id), so every row was distinct
-- already and the node only compared each row with the one before it. A descendant reached
-- from two ancestors under the same per-item rule keeps the first row seeds took for it, as it
-- did. The order stays, so the rows go into item_obligations as before. It walks down every
-- level of copies, to lethe.lineage_max_depth() (it stopped at 64: see
-- sql/0019_lineage_and_receipts.sql, which defines the bound before any run can call this).
CREATE OR REPLACE FUNCTION lethe.propagate_seeds() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d integer := 0;
    n bigint;
BEGIN
    LOOP
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
        SELECT c.tenant_id, c.item_id, s.rule, s.obligation_id, s.triggered_at, d + 1
          FROM seeds s
          JOIN lethe.items c ON c.tenant_id = s.tenant_id AND c.parent_id = s.item_id
         WHERE s.depth = d
        ON CONFLICT DO NOTHING;
        EXIT WHEN NOT FOUND OR d + 1 >= lethe.lineage_max_depth();
        d := d + 1;
    END LOOP;
    -- Each seed looks its item up by key (the OFFSET 0 keeps the lookup a subquery): joined
    -- as a set, the planner merged the seeds with a full scan of items, a cost that grew with
    -- the catalog (4.9 s for 140k seeds among 3M items), not with what is due.
    INSERT INTO lethe.item_obligations (tenant_id, item_id, rule, obligation_id, triggered_at)
    SELECT s.tenant_id, s.item_id, s.rule, s.obligation_id, s.triggered_at
      FROM seeds s
      CROSS JOIN LATERAL (SELECT 1 FROM lethe.items i
                           JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                          WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id
                            AND i.locator IS NOT NULL
                         OFFSET 0) live
     ORDER BY s.tenant_id, s.item_id, s.rule, s.obligation_id
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    TRUNCATE seeds;
    RETURN n;
END $$;

-- ---- selection -----------------------------------------------------------------------------

-- As sql/0013_held.sql wrote it, with the two arrays handed to standing() aggregated from one
-- sorted pass: array_agg(... ORDER BY ...) twice sorted the due items twice (121,000 of them
-- in a capacity run). A subquery with an ORDER BY is never pulled up into its parent, so the
-- aggregates read its rows in that order: the same arrays, in step.
CREATE OR REPLACE FUNCTION lethe.due_fresh(p_as_of timestamptz, p_k integer, p_n integer, p_valid uuid[])
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
        SELECT array_agg(v.tenant_id) AS ts, array_agg(v.item_id) AS ids
          FROM (SELECT l.tenant_id, l.item_id FROM live l ORDER BY l.tenant_id, l.item_id) v
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

-- As sql/0013_held.sql wrote it, with each due item's place in its batches (rn) numbered while
-- the due items are written, instead of copying the unheld ones into a second temp table
-- (numbered) to number them there. The numbers are those numbered had: per location, in
-- (tenant_id, item_id) order, among the items no hold blocks; a held item has none. Also an
-- item id once per batch, and a rerun takes the rerun batch's own (tenant, item) rows (it
-- named item ids alone): receipts name items by id, unique only per tenant (see
-- sql/0019_lineage_and_receipts.sql).
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
