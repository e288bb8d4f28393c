-- The evidence an acknowledgement is audited from is written by the engine's functions only
-- (SPEC §5: no role can insert an audit row directly; nor, then, forge what one is made of).
--
-- ack_batch writes each item_purged record from the item's batch_items row (rule, reference,
-- triggered_at, deadline_at, subject_hmac, location) and the hold that blocked it
-- (hold_blocks). Both tables were the engine's to write through grants (deploy/roles.sql): a
-- role holding lethe_engine or lethe_operator could set a batch item's deadline_at to 2099
-- before `lethe ack`, and the audit recorded a late purge as on time; or add a batch item, or
-- a block that excuses a late one. Their only writers are emit_batches and repurge_emit (which
-- insert them), ack_batch and repurges_settle (which settle them): all four now run as the
-- owner, as ack_batch and repurges_settle did, and no other role may INSERT, UPDATE, DELETE or
-- TRUNCATE either table. lethe.harden() (sql/0008_integrity.sql) makes it so at every migrate
-- and every run of deploy/roles.sql, which no longer grants them.

CREATE OR REPLACE FUNCTION lethe.harden() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    f regprocedure;
    r record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND (p.prorettype = 'trigger'::regtype
                     OR p.proname IN ('audit_stage_open', 'audit_flush', 'audit_checkpoint',
                                      'ack_batch', 'emit_batches', 'repurge_emit'))
                AND p.proname <> 'require_owner'
              ORDER BY p.proname, p.oid
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp', f);
    END LOOP;
    ALTER FUNCTION lethe.require_owner() SECURITY INVOKER SET search_path = pg_catalog, pg_temp;

    REVOKE ALL ON SCHEMA lethe FROM PUBLIC;
    REVOKE ALL ON ALL TABLES IN SCHEMA lethe FROM PUBLIC;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA lethe FROM PUBLIC;
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lethe FROM PUBLIC;

    FOR r IN SELECT DISTINCT g.grantee, g.table_name FROM information_schema.role_table_grants g
              WHERE g.table_schema = 'lethe'
                AND g.table_name IN ('audit', 'audit_heads', 'batch_items', 'hold_blocks')
                AND g.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
                AND g.grantee <> 'PUBLIC' AND g.grantee <> (SELECT pg_get_userbyid(c.relowner) FROM pg_class c
                                   WHERE c.oid = ('lethe.' || g.table_name)::regclass)
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON lethe.%I FROM %I',
                       r.table_name, r.grantee);
    END LOOP;
    FOR r IN SELECT DISTINCT g.grantee FROM information_schema.role_column_grants g
              WHERE g.table_schema = 'lethe' AND g.table_name = 'items'
                AND g.privilege_type = 'UPDATE'
                AND g.grantee <> 'PUBLIC' AND g.grantee <> (SELECT pg_get_userbyid(c.relowner) FROM pg_class c
                                   WHERE c.oid = 'lethe.items'::regclass)
    LOOP
        EXECUTE format('REVOKE UPDATE ON lethe.items FROM %I', r.grantee);
    END LOOP;
END $$;

