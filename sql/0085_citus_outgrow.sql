-- A deployment that outgrows one server (SPEC §4, README "Outgrowing one server"): a database
-- that lethe has run on for a while, made a Citus database afterwards, ends as one made on
-- Citus from the start.
--
-- Until now only a database given the extension before its first `lethe migrate` came out
-- right (or a dump restored into such a one, README's restore drill). Tried on a cluster both
-- ways a DBA moves a running deployment:
--   - the extension added to the database in place, then `lethe migrate`: Citus makes on the
--     workers only the functions created after the extension, so lethe's were missing there;
--     migrate exited 1 ("function lethe.citus_guard_node(...) does not exist"), and every run
--     failed ("function lethe.interval_parts(interval) does not exist");
--   - the database dumped and restored into one made on Citus (the functions are then made
--     on the workers), then `lethe migrate`: migrate exited 0, but the triggers that keep the
--     one-server memories (status's memory, purged counts, the new tenants' queue: migrations
--     0017 and 0034 make them only without Citus) had been laid out as refusals and made on
--     every shard, where the tables they write do not exist: every run failed ("relation
--     lethe.status_dirty does not exist").
-- So lethe.citus_layout() now begins with lethe.citus_outgrow(), which on a Citus database:
--   1. makes again (CREATE OR REPLACE, its own definition) every function of lethe's that
--      Citus does not know (not in pg_dist_object): Citus then makes it on every worker, as it
--      does for a function created after the extension. On a database made on Citus there is
--      none, and nothing is made again;
--   2. drops what migrations make on one server only (lethe.citus_one_server_only()): the
--      memories' triggers and foreign keys, and 0077's checks on obligations, which a Citus
--      database lists in lethe.citus_gaps instead (their statement triggers read the events
--      table); a database laid out by an earlier lethe with them made on the shards has them
--      dropped there (run_command_on_placements) and taken out of citus_gaps and
--      citus_shard_guards;
--   3. lists 0077's two gaps as 0077 does on Citus;
--   4. empties the one-server memories (status's memory, its queue and its changes, the purged
--      counts): on Citus status and the summary evaluate what is pending afresh and count
--      purges from batch_items (sql/0017), but status still adds what the memory remembers,
--      which a database made on Citus never has: left as the last run on one server took it,
--      an outgrown database's status listed every shared copy twice. On plain PostgreSQL citus_outgrow()
-- does nothing. tests/integration/outgrow.sh moves a deployment onto Citus both ways under
-- `make check-citus`, and compares each with a database made on Citus.

-- What a migration makes only without Citus, by table and name: kind 'trigger' or 'fkey'.
CREATE FUNCTION lethe.citus_one_server_only() RETURNS TABLE (tbl text, name text, kind text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES
        -- 0017: status's memory, told of every change that decides it
        ('items', 'items_status_dirty_update', 'trigger'),
        ('inbox_items', 'inbox_items_status_dirty_delete', 'trigger'),
        ('inbox_events', 'inbox_events_status_dirty_delete', 'trigger'),
        ('batch_items', 'batch_items_status_dirty_insert', 'trigger'),
        ('batch_items', 'batch_items_status_dirty_update', 'trigger'),
        ('batch_items', 'batch_items_status_dirty_delete', 'trigger'),
        ('obligations', 'obligations_status_dirty_insert', 'trigger'),
        ('obligations', 'obligations_status_dirty_update', 'trigger'),
        ('obligations', 'obligations_status_dirty_delete', 'trigger'),
        -- 0017: the purged counts
        ('batch_items', 'batch_items_purged_insert', 'trigger'),
        ('batch_items', 'batch_items_purged_update', 'trigger'),
        ('batch_items', 'batch_items_purged_delete', 'trigger'),
        -- 0034: held items in the memory, and the new tenants' queue
        ('held_items', 'held_items_status_dirty_insert', 'trigger'),
        ('held_items', 'held_items_status_dirty_update', 'trigger'),
        ('held_items', 'held_items_status_dirty_delete', 'trigger'),
        ('tenants', 'tenants_status_new', 'trigger'),
        -- 0077: the checks on obligations (listed in citus_gaps on Citus)
        ('obligations', 'obligations_borne_out_insert', 'trigger'),
        ('obligations', 'obligations_borne_out_update', 'trigger'),
        ('obligations', 'obligations_by_engine', 'trigger'),
        ('obligations', 'obligations_no_truncate', 'trigger'),
        -- 0025 and 0034: the memories' tenants (no foreign key from a local table on Citus)
        ('status_memory_tenants', 'status_memory_tenants_tenant', 'fkey'),
        ('status_new_tenants', 'status_new_tenants_tenant', 'fkey')
$$;
REVOKE ALL ON FUNCTION lethe.citus_one_server_only() FROM PUBLIC;

-- Returns how many functions it made again.
CREATE FUNCTION lethe.citus_outgrow() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_made integer := 0;
    v_what text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN 0;
    END IF;
    -- 1. Functions Citus does not know: made before the extension. Aggregates are not made
    --    on the workers either way (Citus keeps them local), and pg_get_functiondef refuses them.
    FOR r IN SELECT p.oid FROM pg_proc p
              WHERE p.pronamespace = 'lethe'::regnamespace AND p.prokind = 'f'
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object o
                                 WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)
              ORDER BY p.oid LOOP
        EXECUTE pg_get_functiondef(r.oid);
        v_made := v_made + 1;
    END LOOP;
    -- 2. What only one server has.
    FOR r IN SELECT s.tbl, s.name, s.kind FROM lethe.citus_one_server_only() s
              WHERE to_regclass('lethe.' || s.tbl) IS NOT NULL LOOP
        v_what := r.tbl || '.' || r.name;
        IF r.kind = 'fkey' THEN
            EXECUTE format('ALTER TABLE lethe.%I DROP CONSTRAINT IF EXISTS %I', r.tbl, r.name);
            CONTINUE;
        END IF;
        -- (Citus refuses DROP TRIGGER on a distributed table, IF EXISTS or not.)
        IF EXISTS (SELECT 1 FROM pg_trigger t
                    WHERE t.tgrelid = ('lethe.' || r.tbl)::regclass AND t.tgname = r.name) THEN
            EXECUTE format('DROP TRIGGER %I ON lethe.%I', r.name, r.tbl);
        END IF;
        IF EXISTS (SELECT 1 FROM lethe.citus_gaps g WHERE g.what = v_what)
           OR EXISTS (SELECT 1 FROM lethe.citus_shard_guards g WHERE g.what = v_what) THEN
            IF EXISTS (SELECT 1 FROM pg_dist_partition p
                        WHERE p.logicalrelid = ('lethe.' || r.tbl)::regclass) THEN
                PERFORM run_command_on_placements(('lethe.' || r.tbl)::regclass,
                                                  format('DROP TRIGGER IF EXISTS %I ON %%s', r.name));
            END IF;
            DELETE FROM lethe.citus_gaps g WHERE g.what = v_what;
            DELETE FROM lethe.citus_shard_guards g WHERE g.what = v_what;
        END IF;
    END LOOP;
    -- 3. As 0077 lists them on Citus.
    INSERT INTO lethe.citus_gaps (what, enforced) VALUES
        ('obligations.obligations_borne_out',
         'obligations_borne_out (sql/0077): an obligation that is not what its event makes of it, '
         'or changed beyond its expansion, hash and withdrawal, is refused'),
        ('obligations.obligations_by_engine',
         'obligations_by_engine (sql/0077): no role but the owner deletes or truncates an obligation')
    ON CONFLICT (what) DO NOTHING;
    -- 4. The memories, empty as on a database made on Citus.
    DELETE FROM lethe.status_memory;
    DELETE FROM lethe.status_memory_tenants;
    DELETE FROM lethe.status_memory_meta;
    DELETE FROM lethe.status_new_tenants;
    DELETE FROM lethe.status_dirty;
    DELETE FROM lethe.purged_counts;
    RETURN v_made;
END $$;
REVOKE ALL ON FUNCTION lethe.citus_outgrow() FROM PUBLIC;

-- As 0047 did: the layout so far, called after what comes first.
ALTER FUNCTION lethe.citus_layout() RENAME TO citus_layout_0084;
CREATE FUNCTION lethe.citus_layout() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lethe.citus_outgrow();
    PERFORM lethe.citus_layout_0084();
END $$;
