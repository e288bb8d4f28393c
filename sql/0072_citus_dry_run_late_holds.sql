-- The dry run on Citus, with a hold placed after its as_of.
--
-- lethe.due_items() (sql/0024_hold_during_run.sql) is what `lethe run --dry-run` plans from.
-- A due item whose tenant has a hold placed after as_of (a dry run with --as-of in the past and
-- a hold placed since, or a hold written with a placed_at still to come) is matched against
-- those holds by hold_matches(), the lineage walk, in the statement that also reads the
-- holds' rows. Its Citus form (sql/0047) kept that statement whole, and Citus sent the walk to
-- a worker with the holds it joined: every such dry run failed there with "cannot execute a
-- distributed query from a query on a shard" (an outside tryout of governance.sh on the
-- cluster; the run itself, emit_batches(), had its own form since sql/0048).
--
-- Its Citus form now does what emit_batches()'s does, in a function that stays STABLE (so with
-- arrays instead of temporary tables): the tenants with such a hold, the due items of those
-- tenants that nothing holds yet (due_fresh() once more, only when there is such a hold), the
-- walk, and the holds' rows, each in a statement of its own, then the items joined with what
-- they found. Two steps of lethe.citus_edits, which citus_layout() applies after this migrate
-- on a Citus database (after the steps a database laid out earlier was given); on one server
-- nothing changes, and citus_forms.sh checks that both texts are still in the function.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.due_items(timestamp with time zone,integer,integer)', 2,
$old$BEGIN
RETURN QUERY

    WITH valid AS MATERIALIZED (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, p_k, p_n) v),$old$,
$new$DECLARE
    v_valid uuid[];
    v_late uuid[];
    v_ts uuid[];
    v_ids uuid[];
    v_mt uuid[];
    v_mi uuid[];
    v_mh uuid[];
    v_ht uuid[];
    v_hh uuid[];
    v_hp timestamptz[];
BEGIN
    -- Citus: the holds placed after as_of, the items they may hold, the walk and the holds'
    -- rows, each in a statement of its own (sql/0072).
    SELECT array_agg(DISTINCT h.tenant_id) INTO v_late
      FROM lethe.holds h
     WHERE h.placed_at > p_as_of AND h.released_at IS NULL;
    IF v_late IS NOT NULL THEN
        SELECT coalesce(array_agg(v.tenant_id), '{}') INTO v_valid
          FROM lethe.held_valid(p_as_of, p_k, p_n) v;
        SELECT array_agg(f.tenant_id ORDER BY f.tenant_id, f.item_id),
               array_agg(f.item_id ORDER BY f.tenant_id, f.item_id)
          INTO v_ts, v_ids
          FROM lethe.due_fresh(p_as_of, p_k, p_n, v_valid) f
         WHERE f.hold_id IS NULL AND f.tenant_id = ANY (v_late);
    END IF;
    IF v_ids IS NOT NULL THEN
        SELECT array_agg(m.tenant_id), array_agg(m.item_id), array_agg(m.hold_id)
          INTO v_mt, v_mi, v_mh
          FROM lethe.hold_matches(v_ts, v_ids, p_as_of) m;
        SELECT array_agg(h.tenant_id), array_agg(h.hold_id), array_agg(h.placed_at)
          INTO v_ht, v_hh, v_hp
          FROM lethe.holds h
         WHERE h.tenant_id = ANY (v_late) AND h.placed_at > p_as_of AND h.released_at IS NULL;
    END IF;
RETURN QUERY

    WITH valid AS MATERIALIZED (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, p_k, p_n) v),$new$,
 'Citus sends no lineage walk to a worker: the late holds, their items, the walk and the holds'' rows first, each alone'),
('lethe.due_items(timestamp with time zone,integer,integer)', 3,
$old$    ), late AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM d x
         WHERE x.hold_id IS NULL
           AND x.tenant_id IN (SELECT h.tenant_id FROM lethe.holds h
                                WHERE h.placed_at > p_as_of AND h.released_at IS NULL)
    ), m AS (
        SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
          FROM late CROSS JOIN LATERAL lethe.hold_matches(late.ts, late.ids, p_as_of) m
          JOIN lethe.holds h ON h.tenant_id = m.tenant_id AND h.hold_id = m.hold_id
         WHERE late.ids IS NOT NULL AND h.placed_at > p_as_of AND h.released_at IS NULL
         ORDER BY m.tenant_id, m.item_id, h.placed_at, m.hold_id
    )$old$,
$new$    ), m AS (
        SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
          FROM unnest(v_mt, v_mi, v_mh) AS m (tenant_id, item_id, hold_id)
          JOIN unnest(v_ht, v_hh, v_hp) AS h (tenant_id, hold_id, placed_at)
            ON h.tenant_id = m.tenant_id AND h.hold_id = m.hold_id
         ORDER BY m.tenant_id, m.item_id, h.placed_at, m.hold_id
    )$new$,
 'the matches and the holds'' rows found before, joined');
