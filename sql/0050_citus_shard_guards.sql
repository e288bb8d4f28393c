-- Citus: the catalog's and the audit's refusals, made on the shards (issue 13). Citus refuses a
-- trigger on a distributed table unless citus.enable_unsafe_triggers is on, so the layout
-- (sql/0011) drops them and lists them in lethe.citus_gaps. A shard is a plain table of its
-- worker, though, and takes a trigger like any other: there the trigger runs in the worker's
-- own transaction, on the rows of that shard, with no distributed statement inside it. Here
-- each dropped trigger is created again on every placement of every shard of its table:
--   - a trigger whose function reads only its row, or the catalog (refuse(), require_owner(),
--     items_check_update(), workspaces_check_update(), holds_check_update()), is created on
--     the shard as it was, with the same function;
--   - a trigger whose function reads other lethe tables (items_check_insert(),
--     events_check_insert(), workspaces_check_insert()) gets, on each shard, a copy of the
--     function in which every lethe table is the placement of the same tenants' shard (a
--     colocated shard, or the node's copy of a reference table). The copy is the function's
--     current text with only the names changed, so the messages and hints are the same as on
--     one server. One part cannot be made there: 0038's check that an event_id was given by
--     the coordinator's sequence (a worker does not have its value). It is listed in
--     lethe.citus_gaps as events.event_id_given.
-- The guards are made after migrate's transaction has committed (a shard created in that
-- transaction is not visible to another connection before), by lethe.citus_guard_shards(),
-- which migrate calls every time: a shard moved or split by the rebalancer is a new table
-- without them, and the next `lethe migrate` guards it. A trigger leaves lethe.citus_gaps for
-- lethe.citus_shard_guards only once every placement of its table has it. On plain
-- PostgreSQL none of this runs.

-- A refusal names the table refused, which on a shard is the shard: the name without a shard's
-- suffix (no table of lethe's ends in _ and digits), so that the message is the same on both.
CREATE OR REPLACE FUNCTION lethe.refuse() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% on lethe.% is not allowed', TG_OP, regexp_replace(TG_TABLE_NAME, '_[0-9]+$', '')
        USING ERRCODE = 'insufficient_privilege',
              HINT = TG_ARGV[0];
END $$;

CREATE TABLE lethe.citus_shard_guards (
    what text PRIMARY KEY,          -- TABLE.TRIGGER, as in citus_gaps
    enforced text NOT NULL,         -- the trigger's definition on the distributed table
    guarded_at timestamptz NOT NULL DEFAULT now()
);

-- On a worker: makes trigger P_NAME on shard P_SHARD as P_DEF says (P_DEF names the shard and
-- the function to call), unless it is there already as P_DEF says (its comment holds the md5 of
-- P_DEF); P_ALWAYS: it also fires under session_replication_role = replica.
CREATE FUNCTION lethe.citus_guard_shard(p_shard regclass, p_name text, p_def text, p_always boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_tag constant text := 'lethe guard ' || md5(p_def);
BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger t
                WHERE t.tgrelid = p_shard AND t.tgname = p_name
                  AND obj_description(t.oid, 'pg_trigger') = v_tag) THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = p_shard AND t.tgname = p_name) THEN
        EXECUTE format('DROP TRIGGER %I ON %s', p_name, p_shard);
    END IF;
    EXECUTE p_def;
    IF p_always THEN
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p_shard, p_name);
    END IF;
    EXECUTE format('COMMENT ON TRIGGER %I ON %s IS %L', p_name, p_shard, v_tag);
    RETURN true;
END $$;

-- On a worker: the guards of the shards placed there, in one statement (so that the
-- coordinator sees its error, if any). P_FUNCTIONS are the copies to create first (the node's
-- own DDL, not propagated: a function of one shard belongs on its node only). Returns how many
-- of the P_SHARDS' triggers are there as P_DEFS say, which the coordinator checks.
CREATE FUNCTION lethe.citus_guard_node(p_functions text[], p_shards text[], p_names text[],
                                       p_defs text[], p_always boolean[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    f text;
    i integer;
    v_ok integer := 0;
BEGIN
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    FOREACH f IN ARRAY p_functions LOOP
        EXECUTE f;
    END LOOP;
    FOR i IN 1 .. cardinality(p_shards) LOOP
        PERFORM lethe.citus_guard_shard(p_shards[i]::regclass, p_names[i], p_defs[i], p_always[i]);
    END LOOP;
    SELECT count(*) INTO v_ok
      FROM unnest(p_shards, p_names, p_defs) u(shard, name, def)
      JOIN pg_trigger t ON t.tgrelid = u.shard::regclass AND t.tgname = u.name
     WHERE obj_description(t.oid, 'pg_trigger') = 'lethe guard ' || md5(u.def);
    RETURN v_ok;
END $$;

-- On the coordinator: what each worker runs, one command a node, and how many triggers it must
-- report. Reads the trigger definitions from citus_gaps and citus_shard_guards.
CREATE FUNCTION lethe.citus_guard_plan()
RETURNS TABLE (nodename text, nodeport integer, command text, triggers integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_tables constant text := 'items|workspaces|events|holds|tenants|audit|audit_heads|kinds|geos|event_types'
        '|rules|settings|inbox_events|inbox_items|obligations|item_obligations|hold_blocks'
        '|batch_items|request_operators|locator_hmacs|repurges';
BEGIN
    CREATE TEMP TABLE guard_defs ON COMMIT DROP AS
    SELECT g.what, split_part(g.what, '.', 1) AS tbl, split_part(g.what, '.', 2) AS name,
           -- the function the trigger calls, as the definition names it
           substring(g.enforced FROM 'EXECUTE FUNCTION (?:lethe\.)?([a-z_]+)\(') AS fn,
           g.enforced,
           split_part(g.what, '.', 2) IN ('audit_append_by_engine', 'audit_heads_by_engine',
                                          'audit_heads_no_truncate', 'items_tombstone_by_ack') AS always
      FROM (SELECT what, enforced FROM lethe.citus_gaps
             WHERE enforced LIKE 'CREATE TRIGGER %' AND what LIKE '%.%'
            UNION
            SELECT what, enforced FROM lethe.citus_shard_guards) g;
    -- Functions that read lethe tables get a copy a shard; the others are called as they are.
    CREATE TEMP TABLE guard_fns ON COMMIT DROP AS
    SELECT d.fn, pg_get_functiondef(p.oid) AS def
      FROM (SELECT DISTINCT fn FROM guard_defs) d
      JOIN pg_proc p ON p.proname = d.fn AND p.pronamespace = 'lethe'::regnamespace AND p.pronargs = 0
     WHERE p.prosrc ~ ('lethe\.(' || v_tables || ')\M');
    RETURN QUERY
    WITH placements AS (
        SELECT d.what, d.tbl, d.name, d.fn, d.enforced, d.always, s.shardid, s.shardminvalue,
               shard_name(s.logicalrelid, s.shardid) AS shard, n.nodename::text AS nodename,
               n.nodeport::integer AS nodeport, n.groupid
          FROM guard_defs d
          JOIN pg_dist_shard s ON s.logicalrelid = ('lethe.' || d.tbl)::regclass
          JOIN pg_dist_placement pl ON pl.shardid = s.shardid
          JOIN pg_dist_node n ON n.groupid = pl.groupid AND n.noderole = 'primary' AND n.isactive
    ), renamed AS (
        -- per placement, each lethe table and its shard on the same node: the colocated shard
        -- of a distributed table, the node's copy of a reference table
        SELECT pp.shardid, pp.groupid, t.name AS tbl,
               shard_name(s2.logicalrelid, s2.shardid) AS shard
          FROM (SELECT DISTINCT shardid, shardminvalue, groupid FROM placements) pp
          CROSS JOIN LATERAL regexp_split_to_table(v_tables, '\|') t(name)
          JOIN pg_dist_partition dp ON dp.logicalrelid = to_regclass('lethe.' || t.name)
          JOIN pg_dist_shard s2 ON s2.logicalrelid = dp.logicalrelid
                               AND (dp.partmethod = 'n' OR s2.shardminvalue = pp.shardminvalue)
          JOIN pg_dist_placement pl2 ON pl2.shardid = s2.shardid AND pl2.groupid = pp.groupid
    ), copies AS (
        SELECT DISTINCT p.nodename, p.nodeport, p.shardid, f.fn,
               lethe.citus_guard_copy(f.def, f.fn, p.shardid,
                   (SELECT array_agg(r.tbl ORDER BY r.tbl) FROM renamed r
                     WHERE r.shardid = p.shardid AND r.groupid = p.groupid),
                   (SELECT array_agg(r.shard ORDER BY r.tbl) FROM renamed r
                     WHERE r.shardid = p.shardid AND r.groupid = p.groupid)) AS def
          FROM placements p JOIN guard_fns f ON f.fn = p.fn
    ), triggers AS (
        SELECT p.nodename, p.nodeport, p.what, p.shard, p.name, p.always,
               lethe.citus_guard_trigger(p.enforced, p.tbl, p.shard,
                                         CASE WHEN f.fn IS NOT NULL THEN p.shardid END) AS def
          FROM placements p LEFT JOIN guard_fns f ON f.fn = p.fn
    )
    SELECT t.nodename, t.nodeport,
           format('SELECT lethe.citus_guard_node(%L::text[], %L::text[], %L::text[], %L::text[], %L::boolean[]) AS guarded',
                  coalesce((SELECT array_agg(c.def ORDER BY c.fn, c.shardid) FROM copies c
                             WHERE c.nodename = t.nodename AND c.nodeport = t.nodeport), '{}'),
                  array_agg(t.shard ORDER BY t.what, t.shard), array_agg(t.name ORDER BY t.what, t.shard),
                  array_agg(t.def ORDER BY t.what, t.shard), array_agg(t.always ORDER BY t.what, t.shard)),
           count(*)::integer
      FROM triggers t GROUP BY t.nodename, t.nodeport;
END $$;

-- A function's copy for one shard: named FN_SHARDID, every lethe table in P_TABLES that a
-- statement reads (after FROM or JOIN: the functions write them in capitals) replaced by the
-- placement in P_SHARDS; a hint that names lethe.geos keeps naming it. events_check_insert's
-- bound on the sequence is left out (a worker does not have the coordinator's sequence).
CREATE FUNCTION lethe.citus_guard_copy(p_def text, p_fn text, p_shardid bigint, p_tables text[],
                                       p_shards text[])
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_seq constant text := E'\n       OR NEW.event_id > coalesce(pg_sequence_last_value(''lethe.events_event_id_seq''::regclass), 0)';
    v text := p_def;
    i integer;
BEGIN
    IF p_fn = 'events_check_insert' THEN
        IF position(v_seq IN v) = 0 THEN
            RAISE EXCEPTION 'lethe.events_check_insert() no longer checks event_id as 0038 wrote it';
        END IF;
        v := replace(v, v_seq, '');
    END IF;
    v := replace(v, 'FUNCTION lethe.' || p_fn || '()', 'FUNCTION lethe.' || p_fn || '_' || p_shardid || '()');
    FOR i IN 1 .. coalesce(cardinality(p_tables), 0) LOOP
        v := regexp_replace(v, '((?:FROM|JOIN) )lethe\.' || p_tables[i] || '\M', '\1' || p_shards[i], 'g');
    END LOOP;
    RETURN v;
END $$;

-- A trigger's definition on the distributed table P_TABLE (as pg_get_triggerdef wrote it) made
-- the definition on its shard P_SHARD; with P_COPY, it calls the function's copy for that shard.
CREATE FUNCTION lethe.citus_guard_trigger(p_enforced text, p_table text, p_shard text, p_copy bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(
               regexp_replace(p_enforced, ' ON lethe\.' || p_table || ' ', ' ON ' || p_shard || ' '),
               'EXECUTE FUNCTION (?:lethe\.)?([a-z_]+)\(',
               CASE WHEN p_copy IS NULL THEN 'EXECUTE FUNCTION lethe.\1('
                    ELSE 'EXECUTE FUNCTION lethe.\1_' || p_copy || '(' END)
$$;

-- Runs the plan on every node that holds a guarded shard; raises the node's error if one fails.
-- Then moves what is guarded everywhere from citus_gaps to citus_shard_guards. Returns the
-- number of nodes. Called by migrate after its transaction commits; does nothing without Citus.
CREATE FUNCTION lethe.citus_guard_shards() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    r record;
    v_nodes integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN 0;
    END IF;
    -- migrate's own lock: two migrates guard the shards one after the other
    PERFORM pg_advisory_xact_lock(7283310001);
    FOR p IN SELECT * FROM lethe.citus_guard_plan() LOOP
        SELECT * INTO r FROM master_run_on_worker(ARRAY[p.nodename], ARRAY[p.nodeport],
                                                  ARRAY[p.command], false);
        IF NOT r.success OR r.result IS DISTINCT FROM p.triggers::text THEN
            RAISE EXCEPTION 'guarding the shards on %:%: % (% triggers expected)',
                            p.nodename, p.nodeport, r.result, p.triggers
                USING HINT = 'run lethe migrate again once the node is reachable';
        END IF;
        v_nodes := v_nodes + 1;
    END LOOP;
    INSERT INTO lethe.citus_shard_guards (what, enforced)
    SELECT what, enforced FROM lethe.citus_gaps
     WHERE enforced LIKE 'CREATE TRIGGER %' AND what LIKE '%.%'
    ON CONFLICT (what) DO NOTHING;
    IF EXISTS (SELECT 1 FROM lethe.citus_gaps WHERE what = 'events.events_check_insert') THEN
        INSERT INTO lethe.citus_gaps (what, enforced) VALUES ('events.event_id_given',
            'events_check_insert (sql/0038): an event_id above the last value of the coordinator''s '
            'lethe.events_event_id_seq is refused')
        ON CONFLICT (what) DO NOTHING;
    END IF;
    DELETE FROM lethe.citus_gaps WHERE enforced LIKE 'CREATE TRIGGER %' AND what LIKE '%.%';
    RETURN v_nodes;
END $$;
