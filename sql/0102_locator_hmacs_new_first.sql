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
-- a rerun, a repurge, an item re-sent after a restore) it looks, as 0094 did, over the whole
-- batch: the rows just inserted hold what it would write, so they change nothing, and the
-- refusal for a purged item is raised as before, rolling the inserts back with the rest.
-- The count returned is the same: the rows inserted, and the rows whose HMAC changed. On Citus
-- the look comes first for every batch (the edit at the end).

-- A repurge's manifest written under another audit key than the one its item's HMAC was recorded
-- with: the HMAC recorded stays, and the manifest goes out.
--
-- After the audit key changed, reconcile recognises the objects of items purged before only with
-- the earlier key (its hint: "reconcile with that key in audit.key_file (a config of its own)").
-- That reconcile puts them in a repurge batch, which the next run, with the present key, sends.
-- Its manifest's HMAC of each object's locator is the present key's, and record_locator_hmacs()
-- (sql/0094) refused it for a purged item: "its manifest could not be written: ...
-- item X is purged: the HMAC of its locator is ... not changed", and every run after it failed
-- the same way, the repurge never sent (an outside tryout). The HMAC of a purged item must not
-- change (reconcile finds its objects by it); neither must the refusal of a change no repurge
-- asks for, which is what a login rewriting HMACs would make.
--
-- Now a purged item that already has an HMAC keeps it, whatever HMAC its batch brings, and the
-- change is refused only when the item has no repurge pending (reconcile's, replay's), as before.
-- Items whose locator is there (a restored item sent again by replay) are written as before.

CREATE OR REPLACE FUNCTION lethe.record_locator_hmacs(p_location text, p_tenants uuid[],
                                                      p_items uuid[], p_hmacs text[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
    changed bigint;
    v_item uuid;
    v_kept text[];
    v_repurged text[];
BEGIN
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
    ON CONFLICT (tenant_id, item_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = coalesce(cardinality(p_items), 0) THEN
        RETURN n;
    END IF;
    -- The items with a repurge pending (a filter, not a join: Citus plans it), each named by its
    -- tenant and id, as below.
    SELECT array_agg(r.tenant_id::text || r.item_id::text) INTO v_repurged
      FROM lethe.repurges r
     WHERE r.state = 'pending' AND r.tenant_id = ANY (p_tenants) AND r.item_id = ANY (p_items);
    -- The purged items that have an HMAC already: kept as recorded; a change that no pending
    -- repurge explains is refused.
    SELECT array_agg(x.t::text || x.i::text),
           (array_agg(x.i) FILTER (WHERE (l.location, l.locator_hmac) IS DISTINCT FROM (p_location, x.h)
                                     AND NOT x.t::text || x.i::text = ANY (coalesce(v_repurged, '{}'))))[1]
      INTO v_kept, v_item
      FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
      JOIN lethe.locator_hmacs l ON l.tenant_id = x.t AND l.item_id = x.i
      JOIN lethe.items it ON it.tenant_id = x.t AND it.item_id = x.i
     WHERE it.locator IS NULL;
    IF v_item IS NOT NULL THEN
        RAISE EXCEPTION 'locator_hmacs: item % is purged: the HMAC of its locator is what reconcile finds its objects by, and is not changed', v_item
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'an item''s HMAC is recorded with its manifest, while its locator is there';
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
-- it sent to the shards, not of those ON CONFLICT DO NOTHING inserted: every call would look as
-- if no item had a row, and a purged item's HMAC would go unguarded (check-citus's roles.sh
-- found it). There the look comes first, for every batch, as in 0094.
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
