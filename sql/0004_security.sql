-- Least privilege (deploy/roles.sql grants the roles): the catalog's triggers run as the
-- schema's owner, so a producer needs INSERT on the catalog tables and nothing more, and
-- nothing in the schema is reachable through PUBLIC. Grants no privilege to any role itself.

-- The triggers read tables producers cannot read (items, for parents; event_types) and
-- write tables producers cannot write (the inboxes). As SECURITY DEFINER they do so with the
-- owner's rights; the fixed search_path, with pg_temp last, keeps a caller's own objects
-- from standing in for lethe's or pg_catalog's while they do.
ALTER FUNCTION lethe.refuse() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.items_check_insert() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.items_check_update() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.workspaces_check_insert() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.workspaces_check_update() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.events_check_insert() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.holds_check_update() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.events_to_inbox() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;
ALTER FUNCTION lethe.items_to_inbox() SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;

-- lethe.item_status reads the engine's tables through evaluate_item(). A view reads the
-- tables it names with its owner's rights, but the functions it calls run with the caller's:
-- without this, an auditor allowed the view (for the pending part of `lethe export
-- --summary`) would also need the items, obligations and holds themselves. The function
-- returns rules, times and a hold id, never a locator or a subject.
ALTER FUNCTION lethe.evaluate_item(uuid, uuid, timestamptz)
    SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp;

-- Nothing through PUBLIC. Schemas and tables grant nothing to PUBLIC by default; functions
-- grant EXECUTE, which matters now that some run as the owner. Objects of later migrations
-- are covered by deploy/roles.sql, which is re-run after every migrate.
REVOKE ALL ON SCHEMA lethe FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA lethe FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lethe FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lethe FROM PUBLIC;
