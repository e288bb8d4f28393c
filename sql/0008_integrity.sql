-- Integrity by construction (SPEC §5): only the engine's own functions write the audit and its
-- chain heads, and only acknowledgement tombstones an item. No role, the engine's and the
-- operator's included, can insert an audit row, move a head or clear a locator directly; the
-- schema's owner (who can drop the triggers anyway) is the only exception.
--
-- How: a statement trigger on each of those tables lets a statement through only when the
-- current role is the table's owner (or a member of it). Outside a function that is the
-- caller; inside a SECURITY DEFINER function owned by the schema's owner it is that owner. So
-- the engine's writers (audit_stage_open, audit_flush, audit_checkpoint, ack_batch) run as
-- SECURITY DEFINER, and lethe.harden() (which `lethe migrate` calls after every upgrade, and
-- deploy/roles.sql too) keeps them so. A later migration that CREATE OR REPLACEs one of them
-- must keep SECURITY DEFINER (harden() restores it at the end of the same migrate anyway); a
-- later migration that adds a writer adds its name to harden()'s list.
-- Must not depend on the executor's or replay's migrations: it names ack_batch by name only.

-- The guard. SECURITY INVOKER on purpose: as a definer it would always see the owner.
CREATE FUNCTION lethe.require_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.pg_has_role(current_user,
                              (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID),
                              'MEMBER') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '%', TG_ARGV[0]
        USING ERRCODE = 'insufficient_privilege',
              HINT = TG_ARGV[1];
END $$;

CREATE TRIGGER audit_append_by_engine BEFORE INSERT ON lethe.audit
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions append to the audit log',
        'records are appended by lethe run, ack and rerun; none can be inserted by hand');
CREATE TRIGGER audit_heads_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions move an audit chain''s head',
        'a head moves when lethe appends a record to its chain');
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON lethe.audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions move an audit chain''s head',
        'a head moves when lethe appends a record to its chain');
CREATE TRIGGER items_tombstone_by_ack BEFORE UPDATE ON lethe.items
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only an acknowledgement tombstones an item',
        'items are purged through a batch: lethe run with an executor, or lethe ack BATCH_ID');
-- ENABLE ALWAYS: they fire under session_replication_role = replica too.
ALTER TABLE lethe.audit ENABLE ALWAYS TRIGGER audit_append_by_engine;
ALTER TABLE lethe.audit_heads ENABLE ALWAYS TRIGGER audit_heads_by_engine;
ALTER TABLE lethe.audit_heads ENABLE ALWAYS TRIGGER audit_heads_no_truncate;
ALTER TABLE lethe.items ENABLE ALWAYS TRIGGER items_tombstone_by_ack;

-- The staging table is now created by its owner's definer function, so audit_flush (which
-- runs as the owner) can read and empty it; the caller stages rows with plain INSERTs, which
-- PUBLIC may do: another session can never reach this session's temporary table.
CREATE OR REPLACE FUNCTION lethe.audit_stage_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.audit_stage') IS NULL THEN
        CREATE TEMP TABLE audit_stage (
            ord bigserial,
            tenant_id uuid NOT NULL,
            kind text NOT NULL,
            run_id uuid,
            batch_id uuid,
            item_id uuid,
            rule text,
            reference text,
            triggered_at timestamptz,
            deadline_at timestamptz,
            purged_at timestamptz,
            on_time boolean,
            location text,
            hold_id uuid,
            subject_hmac text,
            operator text,
            count bigint,
            detail text
        ) ON COMMIT DELETE ROWS;
        GRANT SELECT, INSERT ON pg_temp.audit_stage TO PUBLIC;
        GRANT USAGE ON SEQUENCE pg_temp.audit_stage_ord_seq TO PUBLIC;
    END IF;
END $$;

-- Everything migrate does to keep the schema least-privilege, in one place, idempotent:
-- - every trigger function runs as the owner with a fixed search_path (the catalog's checks
--   read tables producers cannot), except the guard, which must see its caller;
-- - the engine's writers run as the owner;
-- - nothing in the schema is reachable through PUBLIC;
-- - no role but the owner holds a write privilege on the audit, its heads or items' columns
--   beyond INSERT (the triggers refuse anyway; this keeps the grants honest).
CREATE FUNCTION lethe.harden() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    f regprocedure;
    r record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND (p.prorettype = 'trigger'::regtype
                     OR p.proname IN ('audit_stage_open', 'audit_flush', 'audit_checkpoint',
                                      'ack_batch'))
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
              WHERE g.table_schema = 'lethe' AND g.table_name IN ('audit', 'audit_heads')
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

DO $harden$ BEGIN PERFORM lethe.harden(); END $harden$;
