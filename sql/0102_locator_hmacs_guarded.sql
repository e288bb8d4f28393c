-- The locators' HMACs: what their writer refuses, and the batch's rows written first.
--
-- lethe.record_locator_hmacs() (sql/0094) records, with each manifest, the HMAC of every item's
-- locator; reconcile finds the stored objects of purged items by it. Two outside tryouts found
-- what 0094 left open:
-- - A purged item with no HMAC (purged by a run without an audit key) was given one by any call
--   of the engine's login: 0094 looked only at items that had a row. An HMAC naming another
--   object made reconcile find that object as the item's, and the next run deleted it.
-- - After the audit key changed, reconcile finds the objects of items purged before only with
--   the earlier key (its hint: "reconcile with that key in audit.key_file (a config of its
--   own)"), and puts them in a repurge batch. The next run, with the present key, wrote that
--   manifest with the present key's HMAC, which 0094 refused for a purged item: "its manifest
--   could not be written: ... item X is purged ...", on every run after it; the repurge was
--   never sent.
--
-- Now:
-- - the rows of items whose locator is there (a new batch: nearly every call) are inserted first,
--   with ON CONFLICT DO NOTHING; when every item's went in, the call is done;
-- - otherwise each item is looked at: one the catalog does not hold is refused; a purged item
--   that has an HMAC keeps it, whatever HMAC the batch brings, and a change is refused unless a
--   repurge of it is pending (reconcile's, replay's: the engine's login cannot plant one); a
--   purged item without one is given none unless a repurge of it is pending; the rest (an item
--   sent again while its locator is there) are written as before.
-- The count returned is the rows inserted and the rows whose HMAC changed. On Citus the rows are
-- not inserted first (the edit at the end). What it costs: tests/bench/RESULTS.md.

CREATE OR REPLACE FUNCTION lethe.record_locator_hmacs(p_location text, p_tenants uuid[],
                                                      p_items uuid[], p_hmacs text[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
    changed bigint;
    v_item uuid;
    v_known text[];
    v_purged text[];
    v_kept text[];
    v_repurged text[];
BEGIN
    -- A new batch: its items' locators are there, and none has an HMAC yet.
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
      JOIN lethe.items it ON it.tenant_id = x.t AND it.item_id = x.i AND it.locator IS NOT NULL
    ON CONFLICT (tenant_id, item_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = coalesce(cardinality(p_items), 0) THEN
        RETURN n;
    END IF;
    -- The items as the catalog has them, each named by its tenant and id (the arrays are
    -- filters, not joins: Citus plans them).
    SELECT array_agg(x.t::text || x.i::text),
           array_agg(x.t::text || x.i::text) FILTER (WHERE it.locator IS NULL)
      INTO v_known, v_purged
      FROM unnest(p_tenants, p_items) AS x(t, i)
      JOIN lethe.items it ON it.tenant_id = x.t AND it.item_id = x.i;
    SELECT x.i INTO v_item FROM unnest(p_tenants, p_items) AS x(t, i)
     WHERE NOT x.t::text || x.i::text = ANY (coalesce(v_known, '{}'))
     LIMIT 1;
    IF v_item IS NOT NULL THEN
        RAISE EXCEPTION 'locator_hmacs: item % is not in the catalog', v_item
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'an item''s HMAC is recorded with its manifest, while its locator is there';
    END IF;
    IF v_purged IS NOT NULL THEN
        -- Those with a repurge pending.
        SELECT array_agg(r.tenant_id::text || r.item_id::text) INTO v_repurged
          FROM lethe.repurges r
         WHERE r.state = 'pending' AND r.tenant_id = ANY (p_tenants) AND r.item_id = ANY (p_items);
        -- A purged item that has an HMAC keeps it; a change that no pending repurge explains
        -- is refused.
        SELECT array_agg(x.t::text || x.i::text),
               (array_agg(x.i) FILTER (WHERE (l.location, l.locator_hmac) IS DISTINCT FROM (p_location, x.h)
                                         AND NOT x.t::text || x.i::text = ANY (coalesce(v_repurged, '{}'))))[1]
          INTO v_kept, v_item
          FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
          JOIN lethe.locator_hmacs l ON l.tenant_id = x.t AND l.item_id = x.i
         WHERE x.t::text || x.i::text = ANY (v_purged);
        IF v_item IS NOT NULL THEN
            RAISE EXCEPTION 'locator_hmacs: item % is purged: the HMAC of its locator is what reconcile finds its objects by, and is not changed', v_item
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'an item''s HMAC is recorded with its manifest, while its locator is there';
        END IF;
        -- A purged item without one gets none, unless a repurge of it is pending: an HMAC
        -- recorded now would send reconcile after whatever object it names.
        SELECT x.i INTO v_item FROM unnest(p_tenants, p_items) AS x(t, i)
         WHERE x.t::text || x.i::text = ANY (v_purged)
           AND NOT x.t::text || x.i::text = ANY (coalesce(v_kept, '{}'))
           AND NOT x.t::text || x.i::text = ANY (coalesce(v_repurged, '{}'))
         LIMIT 1;
        IF v_item IS NOT NULL THEN
            RAISE EXCEPTION 'locator_hmacs: item % is purged and has no locator HMAC: one recorded now would send reconcile after whatever object it names', v_item
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'an item''s HMAC is recorded with its manifest, while its locator is there';
        END IF;
    END IF;
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
     WHERE NOT x.t::text || x.i::text = ANY (coalesce(v_kept, '{}'))
    ON CONFLICT (tenant_id, item_id) DO UPDATE
       SET location = EXCLUDED.location, locator_hmac = EXCLUDED.locator_hmac,
           recorded_at = EXCLUDED.recorded_at
     WHERE (h.location, h.locator_hmac) IS DISTINCT FROM (EXCLUDED.location, EXCLUDED.locator_hmac);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN n + changed;
END $$;

-- On Citus the INSERT ... SELECT runs through the coordinator, and its row count is of the rows
-- it sent to the shards, not of those ON CONFLICT DO NOTHING inserted: a batch whose items had
-- rows would look new, and their HMACs would go unlooked at (check-citus's roles.sh found it on
-- a form without the join to items). There every batch is looked at, item by item.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.record_locator_hmacs(text,uuid[],uuid[],text[])', 1,
$old$    -- A new batch: its items' locators are there, and none has an HMAC yet.
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
      JOIN lethe.items it ON it.tenant_id = x.t AND it.item_id = x.i AND it.locator IS NOT NULL
    ON CONFLICT (tenant_id, item_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = coalesce(cardinality(p_items), 0) THEN
        RETURN n;
    END IF;$old$,
$new$    n := 0;  -- no rows inserted first on Citus (sql/0102)$new$,
 'Citus counts the rows an INSERT ... SELECT sent to its shards, not those it inserted');
