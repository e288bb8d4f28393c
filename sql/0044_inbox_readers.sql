-- What is not consumed yet, as every reader of the inbox means it (sql/0043_inbox_watermark.sql).
--
-- Until 0043 a row was in the inbox from its producer's commit; now it is there once lethe has
-- looked (inbox_fill). Status's memory, the held items' memory and the set-based pending rows
-- ask of the inbox whether a tenant has an event or an item no run consumed yet, and read it
-- directly in SQL too (lethe.pending_items(), which the auditor's summary reads, has no fill
-- before it). Those questions now read the two views below: the inbox, and the rows committed
-- since lethe last looked (numbered above the watermark, or inside a gap). A view answers what
-- the triggers' inbox answered, on one server and on Citus. derive_consume, which deletes what
-- it consumes, and the idle probe, which runs after its run's fill, keep the tables.

CREATE VIEW lethe.inbox_events_pending AS
SELECT b.tenant_id, b.event_id FROM lethe.inbox_events b
UNION ALL
SELECT e.tenant_id, e.event_id
  FROM lethe.events e, lethe.inbox_watermark w
 WHERE e.seq > w.high
UNION ALL
SELECT e.tenant_id, e.event_id
  FROM lethe.inbox_gaps g JOIN lethe.events e ON e.seq BETWEEN g.lo AND g.hi;

CREATE VIEW lethe.inbox_items_pending AS
SELECT b.tenant_id, b.item_id FROM lethe.inbox_items b
UNION ALL
SELECT i.tenant_id, i.item_id
  FROM lethe.items i JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data, lethe.inbox_watermark w
 WHERE i.seq > w.high
UNION ALL
SELECT i.tenant_id, i.item_id
  FROM lethe.inbox_gaps g JOIN lethe.items i ON i.seq BETWEEN g.lo AND g.hi
  JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data;

REVOKE ALL ON lethe.inbox_events_pending, lethe.inbox_items_pending FROM PUBLIC;

-- The readers, edited as they stand (as 0011 edits audit_flush), so that they keep whatever
-- else they became; each must read the inbox, and none may write it.
DO $readers$
DECLARE
    f regprocedure;
    v_def text;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND p.proname IN ('status_usable', 'status_unusable', 'pending_complex', 'held_valid',
                                  'status_memory_refresh', 'pending_items_live')
              ORDER BY 1 LOOP
        v_def := pg_get_functiondef(f);
        IF v_def !~ 'lethe\.inbox_(events|items)\M' THEN
            RAISE EXCEPTION 'migration 0044: % no longer reads the inbox', f;
        END IF;
        IF v_def ~* '(insert\s+into|delete\s+from|update)\s+lethe\.inbox_' THEN
            RAISE EXCEPTION 'migration 0044: % writes the inbox', f;
        END IF;
        v_def := regexp_replace(v_def, 'lethe\.inbox_(events|items)\M', 'lethe.inbox_\1_pending', 'g');
        EXECUTE v_def;
    END LOOP;
END $readers$;

-- A deployment whose roles were set up before this version keeps working until deploy/roles.sql
-- runs again: producers that may insert items or events may draw their numbers, whoever may
-- consume the inbox may fill it, and whoever may read it may read the views. (roles.sql then
-- takes the seq column from producers' grants.)
DO $grants$
DECLARE
    r record;
BEGIN
    -- Grants made to a role itself (not those it inherits), to roles other than PUBLIC.
    FOR r IN
        WITH acl (acl, owner, privilege, grants) AS (
            SELECT c.relacl, c.relowner, 'INSERT', 'GRANT USAGE ON SEQUENCE lethe.catalog_seq TO %s'
              FROM pg_class c WHERE c.oid IN ('lethe.items'::regclass, 'lethe.events'::regclass)
            UNION ALL
            SELECT p.proacl, p.proowner, 'EXECUTE', 'GRANT EXECUTE ON FUNCTION lethe.inbox_fill() TO %s'
              FROM pg_proc p WHERE p.oid = 'lethe.derive_consume(integer, integer)'::regprocedure
            UNION ALL
            SELECT c.relacl, c.relowner, 'SELECT',
                   'GRANT SELECT ON lethe.inbox_events_pending, lethe.inbox_items_pending TO %s'
              FROM pg_class c WHERE c.oid = 'lethe.inbox_events'::regclass)
        SELECT DISTINCT format(a.grants, x.grantee::regrole::text) AS stmt
          FROM acl a, aclexplode(a.acl) x
         WHERE x.privilege_type = a.privilege AND x.grantee <> 0 AND x.grantee <> a.owner
    LOOP
        EXECUTE r.stmt;
    END LOOP;
END $grants$;
