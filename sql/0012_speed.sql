-- Speed (issue 14). `lethe export --summary` reads the pending items from lethe.pending_items,
-- the set-based form of lethe.item_status that `lethe status` counts, instead of evaluating every
-- item of the catalog through the view. The auditor, who may read item_status but no item table,
-- must be able to call it: like evaluate_item() (sql/0004_security.sql) it runs with its owner's
-- rights and returns ids, rules, times, references and a hold id, never a locator or a subject
-- (deploy/roles.sql grants EXECUTE to lethe_auditor). Nothing it computes changes.
ALTER FUNCTION lethe.pending_items(timestamptz)
    SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION lethe.pending_items(timestamptz) FROM PUBLIC;
