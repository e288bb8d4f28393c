-- reconcile --orphans: the lines no catalog item names, in any geo.
--
-- An orphan is an object no catalog item names (SPEC §7), listed for a person to look at, who
-- may well delete it. The list looked only at the items of the inventory's --location: an
-- inventory given the wrong geo listed the objects of live items, under a legal hold too, as
-- orphans. A line is now an orphan only when no item names it in any geo: no live item's
-- locator, and no purged item's locator HMAC. (Purging stays by geo: reconcile batches only the
-- purged items of --location.)
CREATE OR REPLACE FUNCTION lethe.reconcile_orphans(p_location text) RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT v.line FROM inventory v
     WHERE NOT EXISTS (SELECT 1 FROM lethe.locator_hmacs h WHERE h.locator_hmac = v.locator_hmac)
       AND NOT EXISTS (SELECT 1 FROM lethe.items i WHERE i.locator = v.locator)
     ORDER BY v.ord;
END $$;
