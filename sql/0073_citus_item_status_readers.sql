-- lethe.item_status on Citus, for a reader who may read the view and nothing under it.
--
-- On one server a view reads its tables with its owner's rights: lethe_auditor, granted the
-- view and neither items nor batch_items (deploy/roles.sql), reads it. On Citus the view's
-- Citus form (sql/0047_citus_statements.sql) was expanded into the tables' shards and sent to
-- the workers as the reader, who was refused there ("permission denied for table items_102078";
-- an outside tryout on a cluster; export --summary, through pending_items(), did work).
--
-- The Citus form now reads its rows through lethe.item_status_rows(), which runs as the owner
-- (SECURITY DEFINER, a fixed search_path) and is granted to whoever may read the view: the
-- view is the function's rows, with the same columns, and who may read what is still decided
-- by the grant on the view. citus_layout() makes both after every migrate on a Citus database;
-- on one server nothing changes (the function is not made there).
CREATE OR REPLACE FUNCTION lethe.citus_item_status() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    CREATE OR REPLACE FUNCTION lethe.item_status_rows()
    RETURNS TABLE (tenant_id uuid, item_id uuid, kind text, location text, state text, rule text,
                   due_at timestamptz, deadline_at timestamptz, purged_at timestamptz,
                   batch_id uuid, attempts integer, hold_id uuid, reference text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp
    AS $rows$
    #variable_conflict use_column
    BEGIN
        RETURN QUERY
        SELECT i.tenant_id::text::uuid AS tenant_id, i.item_id, i.kind, i.location,
               CASE WHEN pb.item_id IS NOT NULL OR i.locator IS NULL THEN 'purged'
                    WHEN ob.item_id IS NOT NULL THEN 'in_flight'
                    WHEN ev.due_at <= now() AND ev.hold_id IS NOT NULL THEN 'held'
                    WHEN ev.due_at <= now() THEN 'due'
                    WHEN ev.due_at IS NOT NULL THEN 'scheduled'
                    ELSE 'live' END AS state,
               coalesce(pb.rule, ob.rule, ev.rule) AS rule,
               coalesce(pb.due_at, ob.due_at, ev.due_at) AS due_at,
               coalesce(pb.deadline_at, ob.deadline_at, ev.deadline_at) AS deadline_at,
               pb.purged_at,
               coalesce(ob.batch_id, pb.batch_id) AS batch_id,
               coalesce(f.attempts, 0) AS attempts,
               ev.hold_id,
               coalesce(pb.reference, ob.reference, ev.reference) AS reference
          FROM lethe.items i
          LEFT JOIN lethe.batch_items pb
            ON pb.tenant_id = i.tenant_id AND pb.item_id = i.item_id AND pb.outcome = 'purged'
          LEFT JOIN lethe.batch_items ob
            ON ob.tenant_id = i.tenant_id AND ob.item_id = i.item_id AND ob.outcome IS NULL
          LEFT JOIN (SELECT f.tenant_id, f.item_id, count(*)::integer AS attempts
                       FROM lethe.batch_items f WHERE f.outcome = 'failed'
                      GROUP BY f.tenant_id, f.item_id) f
            ON f.tenant_id = i.tenant_id AND f.item_id = i.item_id
          LEFT JOIN lethe.evaluate_all(now()) ev
            ON ev.tenant_id = i.tenant_id AND ev.item_id = i.item_id;
    END $rows$;
    REVOKE ALL ON FUNCTION lethe.item_status_rows() FROM PUBLIC;
    CREATE OR REPLACE VIEW lethe.item_status AS SELECT * FROM lethe.item_status_rows();
    FOR r IN SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
              WHERE g.table_schema = 'lethe' AND g.table_name = 'item_status'
                AND g.privilege_type = 'SELECT' AND g.grantee <> 'PUBLIC'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lethe.item_status_rows() TO %I', r.grantee);
    END LOOP;
END $$;

DO $citus$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM lethe.citus_item_status();
    END IF;
END $citus$;
