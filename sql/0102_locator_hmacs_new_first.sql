-- The locators' HMACs of a new batch are inserted first, and looked at again only when some
-- item had one already (issue 14).
--
-- record_locator_hmacs() (sql/0094) looked every item of the batch up in lethe.locator_hmacs
-- and lethe.items before writing, to refuse a change to the HMAC of a purged item; then its
-- INSERT ... ON CONFLICT looked each one up again. An item gets its HMAC with the manifest of
-- its first batch, so for nearly every item there is nothing to find: 10,000 subject requests
-- (122,122 items, 14 batches) spent 0.62 s of a 24 s run in that lookup, as long as in the
-- INSERT itself.
--
-- Now the rows go in first, with ON CONFLICT DO NOTHING. When every one went in (no item had a
-- row), nothing was there to change, and the function is done. Otherwise (an item sent again:
-- a rerun, a repurge, an item re-sent after a restore) it does what 0094 does, over the whole
-- batch: the rows just inserted hold what it would write, so they change nothing, and the
-- refusal for a purged item is raised as before, rolling the inserts back with the rest.
-- The count returned is the same: the rows inserted, and the rows whose HMAC changed. On Citus
-- the function stays as 0094 wrote it (the edit at the end).

CREATE OR REPLACE FUNCTION lethe.record_locator_hmacs(p_location text, p_tenants uuid[],
                                                      p_items uuid[], p_hmacs text[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
    changed bigint;
    v_item uuid;
BEGIN
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
    ON CONFLICT (tenant_id, item_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = coalesce(cardinality(p_items), 0) THEN
        RETURN n;
    END IF;
    SELECT x.i INTO v_item
      FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
      JOIN lethe.locator_hmacs l ON l.tenant_id = x.t AND l.item_id = x.i
      JOIN lethe.items it ON it.tenant_id = x.t AND it.item_id = x.i
     WHERE it.locator IS NULL
       AND (l.location, l.locator_hmac) IS DISTINCT FROM (p_location, x.h)
     LIMIT 1;
    IF v_item IS NOT NULL THEN
        RAISE EXCEPTION 'locator_hmacs: item % is purged: the HMAC of its locator is what reconcile finds its objects by, and is not changed', v_item
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'an item''s HMAC is recorded with its manifest, while its locator is there';
    END IF;
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
    ON CONFLICT (tenant_id, item_id) DO UPDATE
       SET location = EXCLUDED.location, locator_hmac = EXCLUDED.locator_hmac,
           recorded_at = EXCLUDED.recorded_at
     WHERE (h.location, h.locator_hmac) IS DISTINCT FROM (EXCLUDED.location, EXCLUDED.locator_hmac);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN n + changed;
END $$;

-- On Citus the INSERT ... SELECT runs through the coordinator, and its row count is of the rows
-- it sent to the shards, not of those ON CONFLICT DO NOTHING inserted: every call would look as
-- if no item had a row, and a purged item's HMAC would go unguarded (check-citus's roles.sh
-- found it). There the function is 0094's: the lookup first, for every batch.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.record_locator_hmacs(text,uuid[],uuid[],text[])', 1,
$old$    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
    ON CONFLICT (tenant_id, item_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = coalesce(cardinality(p_items), 0) THEN
        RETURN n;
    END IF;$old$,
$new$    n := 0;  -- no rows inserted first on Citus (sql/0102)$new$,
 'Citus counts the rows an INSERT ... SELECT sent to its shards, not those it inserted');
