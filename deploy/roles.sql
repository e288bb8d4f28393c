-- Least-privilege PostgreSQL roles for lethe: five NOLOGIN groups, each granted exactly what
-- its job needs. Idempotent: it first takes back everything the groups hold on lethe's
-- schema, then grants, in one transaction (on Citus, one more statement follows it: the
-- shards' grant at the end); run it again after every `lethe migrate`.
--
--   psql -v ON_ERROR_STOP=1 -d lethe -f deploy/roles.sql     (as the schema's owner, who
--                                                             also needs CREATEROLE, and
--                                                             once as a superuser: lethe's
--                                                             locks, below)
--   CREATE ROLE lethe LOGIN IN ROLE lethe_engine;            -- the service account
--
--   lethe_producer  inserts tenants, workspaces, items and events; reads the reference tables
--   lethe_engine    lethe run, status, explain (and export, as the monthly export unit
--                   runs it as the service account): reads the catalog, owns its own
--                   tables; tombstones items and appends to the audit only through lethe's
--                   functions
--   lethe_operator  lethe_engine (ack, rerun) plus requests and holds (through their functions)
--   lethe_auditor   reads the audit and lethe.item_status (export, export --summary)
--   lethe_restorer  appends exported records verbatim (lethe replay, after a restore): a
--                   break-glass right that nobody holds day to day. For a restore a DBA runs
--                   GRANT lethe_restorer TO <the operator's login>, the operator runs
--                   lethe replay, and the DBA runs REVOKE lethe_restorer FROM <that login>.
--                   The database cannot tell a replayed record from a forged one, correctly
--                   hashed: whoever holds this role can write the audit.
--
-- Nobody here may UPDATE, DELETE or TRUNCATE lethe.audit, and its triggers refuse even the
-- owner. Must not grant anything to PUBLIC, nor touch roles other than these five, nor make
-- anyone a member of lethe_restorer.

\set ON_ERROR_STOP on
BEGIN;

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['lethe_producer', 'lethe_engine', 'lethe_operator', 'lethe_auditor',
                             'lethe_restorer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $roles$;

-- ---- a clean slate: whatever an earlier version of this file granted is taken back --------
REVOKE ALL ON SCHEMA lethe FROM lethe_producer, lethe_engine, lethe_operator, lethe_auditor, lethe_restorer;
REVOKE ALL ON ALL TABLES IN SCHEMA lethe FROM lethe_producer, lethe_engine, lethe_operator, lethe_auditor,
    lethe_restorer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lethe FROM lethe_producer, lethe_engine, lethe_operator, lethe_auditor,
    lethe_restorer;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lethe FROM lethe_producer, lethe_engine, lethe_operator, lethe_auditor,
    lethe_restorer;
DO $db$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM lethe_producer, lethe_engine, lethe_operator, lethe_auditor, '
                   'lethe_restorer', current_database());
END $db$;

-- Migrations after 0004 create functions that PUBLIC may execute by default.
REVOKE ALL ON SCHEMA lethe FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA lethe FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lethe FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lethe FROM PUBLIC;

-- Every trigger function and every engine writer runs as the owner, the guards on the audit,
-- its heads and the tombstone stay invokers, and nothing is left to PUBLIC: the same hardening
-- `lethe migrate` applies after every upgrade (sql/0008_integrity.sql).
DO $harden$ BEGIN PERFORM lethe.harden(); END $harden$;

-- Connecting is granted here, not left to PUBLIC, so the roles work on a database whose
-- PUBLIC privileges were taken away. TEMP is the engine's alone (its set-based steps stage
-- rows in temporary tables): PUBLIC's default right to it is taken back, so producers and
-- auditors create none (lethe's writers refuse a session whose temporary tables are not plain
-- ones anyway: sql/0037_definer_temp.sql).
DO $db$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO lethe_producer, lethe_engine, lethe_auditor',
                   current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO lethe_engine', current_database());
END $db$;

-- ---- lethe's locks ---------------------------------------------------------------------------
-- lethe's runs, holds, requests and status take advisory locks keyed by two integers (the run
-- lock is 7283310, 0). PostgreSQL lets every login of the database take any advisory lock: a
-- producer's session holding the run lock made every run exit 3 ("the run lock is held by
-- another session"), which the timer counts as a success, and one holding the hold fence
-- stalled the runs. The two-integer lock functions are taken from PUBLIC here and granted to
-- lethe's engine (and through it the operators) and the schema's owner, so that no other login
-- can take a lock of lethe's; the one-bigint forms, whose keys never meet these, stay PUBLIC's
-- for other applications. Only a superuser may change what pg_catalog's functions grant: run
-- as one (as the install does), this file does it; run as the owner, it leaves them as they
-- are and says so.
DO $locks$
DECLARE
    f text;
    v_owner text := (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'lethe');
    v_locks constant text[] := ARRAY['pg_advisory_lock', 'pg_advisory_lock_shared',
                                     'pg_try_advisory_lock', 'pg_try_advisory_lock_shared',
                                     'pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared',
                                     'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared'];
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        -- Said only while it is so: once a superuser has run this file, the owner's runs of it
        -- (after every upgrade) have nothing to say. A database restored by its owner from a
        -- dump has PUBLIC's grants back (pg_restore cannot change pg_catalog as the owner).
        IF EXISTS (SELECT 1 FROM unnest(v_locks) u(fn)
                    WHERE has_function_privilege('public', format('pg_catalog.%I(integer, integer)', u.fn),
                                                 'EXECUTE')) THEN
            RAISE WARNING 'every login of this database may take lethe''s advisory locks (a producer could hold the run lock)'
                USING HINT = 'run roles.sql as a superuser once: it takes the two-integer advisory lock functions from PUBLIC and grants them to lethe_engine and the schema''s owner';
        END IF;
        RETURN;
    END IF;
    FOREACH f IN ARRAY v_locks LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION pg_catalog.%I(integer, integer) FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION pg_catalog.%I(integer, integer) TO lethe_engine, %s',
                       f, v_owner);
    END LOOP;
END $locks$;

-- ---- lethe_producer -------------------------------------------------------------------------
-- Plain INSERTs (no RETURNING, which would need SELECT). The identity of events.event_id
-- needs no sequence privilege; the triggers check what is inserted as the owner. Items and
-- events are numbered by lethe.catalog_seq (the inbox's watermark, sql/0043_inbox_watermark.sql):
-- producers draw from it through the column's default and may insert every column but seq, so
-- that no row can be numbered below what the engine has looked at already; nor
-- items.owner_digest (the engine's: with it a producer could make an item match a subject).
-- event_id stays granted: Citus sends the identity's value to the shard in the INSERT, which
-- then needs the column (an id the sequence never gave is refused: sql/0038).
GRANT USAGE ON SCHEMA lethe TO lethe_producer;
GRANT INSERT ON lethe.tenants, lethe.workspaces TO lethe_producer;
DO $catalog$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT * FROM (VALUES ('lethe_producer', 'items'), ('lethe_producer', 'events'))
                           v(who, tab) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute
                        WHERE attrelid = ('lethe.' || g.tab)::regclass AND attname = 'seq'
                          AND NOT attisdropped) THEN
            -- A schema older than version 43: no numbering yet.
            EXECUTE format('GRANT INSERT ON lethe.%I TO %I', g.tab, g.who);
            CONTINUE;
        END IF;
        EXECUTE format('GRANT INSERT (%s) ON lethe.%I TO %I',
                       (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                         WHERE attrelid = ('lethe.' || g.tab)::regclass AND attnum > 0
                           AND NOT attisdropped AND attname NOT IN ('seq', 'owner_digest')),
                       g.tab, g.who);
        -- Granted by an earlier roles.sql: owner_digest is the engine's (a tombstone's subject,
        -- kept as a digest: sql/0007).
        IF g.tab = 'items' THEN
            EXECUTE format('REVOKE INSERT (owner_digest) ON lethe.items FROM %I', g.who);
        END IF;
        EXECUTE format('GRANT USAGE ON SEQUENCE lethe.catalog_seq TO %I', g.who);
    END LOOP;
END $catalog$;
GRANT SELECT ON lethe.geos, lethe.kinds, lethe.event_types TO lethe_producer;

-- ---- lethe_engine ---------------------------------------------------------------------------
GRANT USAGE ON SCHEMA lethe TO lethe_engine;
GRANT SELECT ON ALL TABLES IN SCHEMA lethe TO lethe_engine;
-- The catalog is the producers'. The tombstone, the audit and its heads are written only by
-- the engine's own functions (SECURITY DEFINER: lethe.ack_batch, lethe.audit_flush, ...),
-- never through a grant: no role here may insert an audit row, move a head or clear a locator.
-- What the audit of a purge is made of (batch_items, hold_blocks) is read here and written
-- only by the engine's functions as well (emit_batches, ack_batch, ...; sql/0032).
-- The inbox's watermark and gaps are moved by lethe.inbox_fill() alone (it runs as the owner):
-- a role that could set the watermark forward would hide every row numbered below it.
-- Which withdrawals have their record (withdrawals_recorded) is written by
-- lethe.audit_withdrawals() alone, with the record (sql/0069).
-- The locators' HMACs, all that reconcile knows a purged item's objects by, are written by
-- lethe.record_locator_hmacs() alone, and never changed once the item is purged; the purged
-- counts status reads, and who recorded a request, by the owner's functions alone (sql/0094).
-- The late purges and the purge outcomes counted by the hour as the audit is appended (status's
-- late purges, the auditor's summary: sql/0096, sql/0097) are written by the owner's triggers
-- alone: no write granted (the engine reads them, as every table).
-- Runs, batches, rules and settings the engine writes in part, column by column: what it
-- records of a run as it goes, a batch's deleter output, attempts and manifest, and the config's
-- deadlines and lookahead (which lethe.rules refuses beyond a commitment). A run's as_of, a
-- batch's location, run and state, and the repurges are the owner's functions' alone: they
-- feed the records ack_batch() writes (sql/0091_engine_writes_narrowed.sql).
-- Every other table is the engine's own (obligations, inboxes, held items, ...), including
-- those of later migrations.
DO $engine$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
              WHERE c.relnamespace = 'lethe'::regnamespace AND c.relkind IN ('r', 'p')
                AND c.relname NOT IN ('geos', 'kinds', 'event_types', 'tenants', 'workspaces',
                                      'items', 'events', 'holds', 'audit', 'audit_heads',
                                      'batch_items', 'hold_blocks', 'schema_migrations',
                                      'inbox_watermark', 'inbox_gaps', 'withdrawals_recorded',
                                      'batches', 'repurges', 'runs', 'rules', 'settings',
                                      'locator_hmacs', 'purged_counts', 'request_operators',
                                      'late_purges', 'purge_outcomes')
              ORDER BY c.relname
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO lethe_engine', t);
    END LOOP;
END $engine$;
GRANT INSERT (run_id, trigger, operator, shard, as_of),
      UPDATE (outcome, finished_at, events, items_due, batches, purged, failed, held, error,
              failed_batches)
    ON lethe.runs TO lethe_engine;
GRANT UPDATE (error, attempts, manifest_removed_at) ON lethe.batches TO lethe_engine;
GRANT UPDATE (deadline, grace, enabled) ON lethe.rules TO lethe_engine;
GRANT UPDATE (lookahead) ON lethe.settings TO lethe_engine;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA lethe TO lethe_engine;
-- Appending exported records verbatim (lethe replay, after a restore) is lethe_restorer's alone:
-- the service account that runs every night, and the operators who inherit its grants, cannot
-- write the log around audit_flush().
-- replay_chains() appends through it, as the owner since schema version 52 (sql/0052).
REVOKE EXECUTE ON FUNCTION lethe.audit_append_verbatim(text[]), lethe.replay_chains() FROM lethe_engine;
-- No trigger function either. They run as the owner (SECURITY DEFINER), and EXECUTE is what
-- CREATE TRIGGER asks of whoever attaches one: with it the engine's login (and the operators
-- who inherit its grants) attached lethe.purge_outcomes_append() to a temporary table of its
-- own and appended whatever counts it liked to the auditor's summary; the purged counts, the
-- late purges and status's memory were open the same way. The triggers lethe made fire for
-- every role as before (PostgreSQL checks EXECUTE when a trigger is created, not when it fires).
DO $triggers$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype)
              ORDER BY 1
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM lethe_engine, PUBLIC', f);
    END LOOP;
END $triggers$;

-- ---- lethe_operator -------------------------------------------------------------------------
-- Acks and reruns are engine work; requests and holds are the operator's own.
DO $member$
BEGIN
    IF NOT pg_has_role('lethe_operator', 'lethe_engine', 'MEMBER') THEN
        GRANT lethe_engine TO lethe_operator;
    END IF;
END $member$;
-- Requests are events, and `lethe request` records them through lethe.request_record() (below)
-- with the operator's record. An operator inserting an event directly wrote a request, a
-- cancellation or a capacity deletion no audit record names anyone for: the INSERT granted
-- before schema 49 (every column but seq) is taken back, here and on Citus's shards (below).
DO $events$
BEGIN
    IF to_regprocedure('lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)') IS NULL THEN
        RETURN;
    END IF;
    REVOKE INSERT ON lethe.events FROM lethe_operator;
END $events$;
-- A hold is placed and released through lethe.hold_place() and lethe.hold_release(), which
-- write its audit record with it (sql/0039_hold_writers.sql): no direct write, and the grants
-- of earlier versions are taken back. The service account places no hold.
-- (A schema older than version 39 has no such functions: its operators keep the direct grants.)
DO $holds$
BEGIN
    IF to_regprocedure('lethe.hold_place(uuid, uuid, text, uuid, text, text, text, text)') IS NULL THEN
        GRANT INSERT, UPDATE (released_at, released_by) ON lethe.holds TO lethe_operator;
        RETURN;
    END IF;
    REVOKE INSERT, UPDATE ON lethe.holds FROM lethe_operator;
    REVOKE UPDATE (released_at, released_by) ON lethe.holds FROM lethe_operator;
    REVOKE EXECUTE ON FUNCTION lethe.hold_place(uuid, uuid, text, uuid, text, text, text, text),
                               lethe.hold_release(uuid, uuid, text, text) FROM lethe_engine;
    GRANT EXECUTE ON FUNCTION lethe.hold_place(uuid, uuid, text, uuid, text, text, text, text),
                              lethe.hold_release(uuid, uuid, text, text) TO lethe_operator;
END $holds$;
-- `lethe request` records the event, its operator and its record through lethe.request_record()
-- (sql/0049_request_writer.sql), as the owner; the service account records no request.
DO $requests$
BEGIN
    IF to_regprocedure('lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)') IS NULL THEN
        RETURN;
    END IF;
    REVOKE EXECUTE ON FUNCTION lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)
        FROM lethe_engine;
    GRANT EXECUTE ON FUNCTION lethe.request_record(uuid, uuid, text, uuid, text, text, interval, text, text)
        TO lethe_operator;
END $requests$;

-- ---- lethe_auditor --------------------------------------------------------------------------
-- The audit, its chain heads, and item_status and pending_items (its set-based form, which the
-- summary reads) for the pending part of the summary, and purge_outcomes_in (the purge records
-- counted by the hour, sql/0097) for its purged part: no item table, no locator, no subject.
-- Only the functions an export evaluates (evaluate_all: item_status's evaluation on Citus; and
-- item_status_rows, through which the view reads its rows on Citus: sql/0073).
GRANT USAGE ON SCHEMA lethe TO lethe_auditor;
GRANT SELECT ON lethe.audit, lethe.audit_heads, lethe.item_status TO lethe_auditor;
-- Every command checks at start that the schema is migrated; the auditor's too.
GRANT SELECT ON lethe.schema_migrations TO lethe_auditor;
DO $auditor$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace
                AND (p.proname IN ('audit_time', 'audit_jsonl', 'audit_canonical_head', 'evaluate_item',
                                    'evaluate_all', 'export_filter', 'item_status_rows', 'pending_items',
                                    'held_at_deadline', 'hold_kept_at', 'purge_outcomes_in')
                     OR p.proname LIKE 'audit\_json\_%')
              ORDER BY p.proname
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO lethe_auditor', f);
    END LOOP;
END $auditor$;

-- ---- lethe_restorer -------------------------------------------------------------------------
-- Only the verbatim append: the rest of replay (the run lock, the repurge batches, the run
-- record) is the engine's work, which the operator it is granted to already holds. Everything
-- else replay calls writes the audit only through audit_flush(), as every run does
-- (replay_chains() appends through audit_append_verbatim() alone; since schema version 52 it
-- runs as the owner, so it is this role's alone too). No USAGE on the schema: on its own the
-- role reaches nothing.
GRANT EXECUTE ON FUNCTION lethe.audit_append_verbatim(text[]) TO lethe_restorer;
GRANT EXECUTE ON FUNCTION lethe.replay_chains() TO lethe_restorer;
-- A grant left in place after a restore keeps the way to forge records open: say so, whenever
-- this file runs (it is run again after every migrate). Taking it back is the DBA's call.
DO $restorer$
DECLARE
    m text;
BEGIN
    SELECT string_agg(quote_ident(r.rolname), ', ' ORDER BY r.rolname) INTO m
      FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.member
     WHERE am.roleid = 'lethe_restorer'::regrole;
    IF m IS NOT NULL THEN
        RAISE WARNING 'lethe_restorer is granted to %', m
            USING HINT = format('it is for a restore only: REVOKE lethe_restorer FROM %s once replay is done', m);
    END IF;
END $restorer$;

COMMIT;

-- On Citus the coordinator fills seq from its default and sends the shard an INSERT that names
-- it, and the privilege checked there is the shard's: the shards alone get INSERT on seq. The
-- coordinator has checked the statement as it was written, where naming seq is refused. After
-- the COMMIT: run_command_on_shards() connects anew, and would wait for the locks that the
-- transaction's GRANTs hold. Until it has run, a producer's insert on Citus is refused.
DO $shards$
DECLARE
    g record;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN;
    END IF;
    FOR g IN SELECT * FROM (VALUES ('lethe_producer', 'items', 'GRANT', 'TO'),
                                   ('lethe_producer', 'events', 'GRANT', 'TO'),
                                   ('lethe_operator', 'events', 'REVOKE', 'FROM')) v(who, tab, verb, prep) LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                    WHERE logicalrelid = ('lethe.' || g.tab)::regclass)
           AND EXISTS (SELECT 1 FROM pg_attribute
                        WHERE attrelid = ('lethe.' || g.tab)::regclass AND attname = 'seq'
                          AND NOT attisdropped) THEN
            PERFORM run_command_on_shards(('lethe.' || g.tab)::regclass,
                                          format('%s INSERT (seq) ON %%s %s %I', g.verb, g.prep, g.who));
        END IF;
    END LOOP;
END $shards$;
