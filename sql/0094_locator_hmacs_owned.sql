-- The locators' HMACs are written by lethe.record_locator_hmacs() alone, as the owner, and an
-- item's HMAC is not changed once its locator is cleared.
--
-- lethe reconcile finds the objects of purged items that are still stored by the HMAC of each
-- inventory line's address: lethe.locator_hmacs is all that is left of a purged item's locator.
-- An outside review logged in with the service account's role, let a deleter that deletes
-- nothing acknowledge two items, then rewrote their rows of lethe.locator_hmacs (the engine
-- role held INSERT, UPDATE and DELETE on it, as on every table of its own). reconcile then
-- reported "0 objects of purged items still stored" and listed both objects as orphans,
-- addresses no item names; with the rows put back it found them and purged them again.
--
-- Now:
-- - record_locator_hmacs() runs as the owner (SECURITY DEFINER, on harden()'s list), and the
--   engine role holds no write on the table (harden() takes back any given by hand, with the
--   audit's);
-- - it refuses to change the location or HMAC recorded for an item whose locator is cleared
--   (purged): the engine writes an item's HMAC with its manifest, while its locator is still
--   there; a repurge of a restored item writes the same HMAC again, which changes nothing.
--
-- The same review wrote two more tables that lethe's own functions alone write, and that
-- operators read as evidence: lethe.purged_counts (status's "purged" per rule: rows planted
-- there made status say 100,508 purged of 8) and lethe.request_operators (who recorded a
-- request: status --reference named another operator than the audit's request_recorded
-- record). Their writers are the owner's (the batch items' triggers, the status memory's fold,
-- lethe.request_record()); the engine role now only reads them.

CREATE OR REPLACE FUNCTION lethe.record_locator_hmacs(p_location text, p_tenants uuid[],
                                                      p_items uuid[], p_hmacs text[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
    v_item uuid;
BEGIN
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
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Its INSERT is written as the Citus form was (sql/0048): the time inserted with the row and
-- taken from it; the same on one server. The edits for Citus are no longer needed.
DELETE FROM lethe.citus_edits WHERE fn = 'lethe.record_locator_hmacs(text,uuid[],uuid[],text[])';
DELETE FROM lethe.citus_edited WHERE fn = 'lethe.record_locator_hmacs(text,uuid[],uuid[],text[])';

REVOKE ALL ON FUNCTION lethe.record_locator_hmacs(text, uuid[], uuid[], text[]) FROM PUBLIC;
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.record_locator_hmacs(text, uuid[], uuid[], text[])
           TO lethe_engine;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON lethe.locator_hmacs, lethe.purged_counts,
                                                   lethe.request_operators FROM lethe_engine;
    END IF;
END $grant$;

-- On harden()'s list of writers, and the three tables among those whose writes it takes back
-- from every role but the owner at every migrate.
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''withdrawals_record''))';
    v_tables_old constant text := '''batch_items'', ''hold_blocks'')';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_tables_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0094: lethe.harden() no longer reads as 0069 left it';
    END IF;
    v_def := replace(v_def, v_old, '''withdrawals_record'', ''record_locator_hmacs''))');
    v_def := replace(v_def, v_tables_old, '''batch_items'', ''hold_blocks'', ''locator_hmacs'', '
                                          '''purged_counts'', ''request_operators'')');
    EXECUTE v_def;
END $harden$;
