-- Citus (SPEC §4 "Outgrowing one server"): on a database with the citus extension, lethe
-- migrate calls lethe.citus_layout() after every migration, and it lays the schema out
-- distributed by tenant_id. On plain PostgreSQL the function does nothing, so every migration
-- runs unchanged on both, and the Citus-specific steps all live here.
--
-- The layout:
--   reference tables (a copy on every node, read by every shard, written rarely): geos, kinds,
--   event_types, rules, settings.
--   distributed by tenant_id, all colocated with lethe.tenants: tenants, workspaces, items,
--   events, holds, inbox_events, inbox_items, obligations, item_obligations, hold_blocks,
--   batch_items, audit, audit_heads, request_operators, locator_hmacs, repurges.
--   local tables on the coordinator, outside Citus's metadata, for what describes runs and
--   batches as a whole (SPEC §2 exempts them from tenant_id): runs, batches. They are written
--   once or a few times per run, in the run's own transaction, with clock_timestamp() (which
--   Citus refuses in an UPDATE of a reference or distributed table), and keep their triggers.
--   The foreign keys between them and the other tables (batch_items.batch_id,
--   repurges.batch_id, batches.location) are not kept on Citus: Citus has no foreign key from
--   a distributed table to a local one, and one from a local table to a reference table would
--   silently make it a Citus local table. The engine writes both sides itself.
--   schema_migrations and citus_gaps stay local too: only migrate reads them.
-- Foreign keys are dropped before and added back after distributing (Citus cannot distribute a
-- table that local tables reference), except the three above.
--
-- What Citus refuses without the settings its authors call unsafe, and what this layout does:
--   triggers on distributed and reference tables: dropped. Each one dropped is recorded in
--   lethe.citus_gaps with what it enforced, since on Citus that check is not made (yet) by
--   the database; `lethe migrate` warns with their number. This is the open part of the work: the
--   refusals and the inbox feeds need a trigger-free form that means the same on both.
--   unique indexes that do not lead with tenant_id (holds_id on hold_id): replaced by a plain
--   index on the same columns, recorded in lethe.citus_gaps too.

CREATE TABLE lethe.citus_gaps (
    what text PRIMARY KEY,          -- trigger TABLE.NAME or index NAME
    enforced text NOT NULL,         -- its definition
    dropped_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION lethe.citus_layout() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t text;
    fk record;
    g record;
    reference_tables constant text[] := ARRAY['geos', 'kinds', 'event_types', 'rules', 'settings'];
    distributed_tables constant text[] := ARRAY['tenants', 'workspaces', 'items', 'events', 'holds',
        'inbox_events', 'inbox_items', 'obligations', 'item_obligations', 'hold_blocks',
        'batch_items', 'audit', 'audit_heads', 'request_operators', 'locator_hmacs', 'repurges'];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- Only tables not laid out yet (a later migration may add one).
    IF NOT EXISTS (
        SELECT 1 FROM unnest(reference_tables || distributed_tables) u(name)
         WHERE to_regclass('lethe.' || u.name) IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p
                            WHERE p.logicalrelid = ('lethe.' || u.name)::regclass)) THEN
        RETURN;
    END IF;
    SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
    FOR g IN SELECT tg.tgrelid::regclass::text AS rel, tg.tgname::text AS name,
                    pg_get_triggerdef(tg.oid) AS def
               FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'lethe' AND NOT tg.tgisinternal
                AND c.relname = ANY (reference_tables || distributed_tables) LOOP
        INSERT INTO lethe.citus_gaps (what, enforced) VALUES (g.rel || '.' || g.name, g.def)
            ON CONFLICT (what) DO NOTHING;
        EXECUTE format('DROP TRIGGER %I ON %s', g.name, g.rel);
    END LOOP;
    FOR g IN SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
               FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'lethe' AND i.indisunique AND NOT i.indisprimary
                AND c.relname = ANY (distributed_tables)
                AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                                 WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                                   AND a.attnum = ANY (i.indkey)) LOOP
        INSERT INTO lethe.citus_gaps (what, enforced) VALUES (g.name, g.def)
            ON CONFLICT (what) DO NOTHING;
        EXECUTE format('DROP INDEX %s', g.name);
        EXECUTE replace(g.def, 'CREATE UNIQUE INDEX', 'CREATE INDEX');
    END LOOP;
    CREATE TEMP TABLE citus_fks ON COMMIT DROP AS
        SELECT c.conrelid::regclass AS rel, c.conname::text AS name,
               pg_get_constraintdef(c.oid) AS def, c.confrelid::regclass AS target
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = 'lethe' AND c.contype = 'f';
    FOR fk IN SELECT * FROM citus_fks LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.name);
    END LOOP;
    FOREACH t IN ARRAY reference_tables LOOP
        IF to_regclass('lethe.' || t) IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pg_dist_partition WHERE logicalrelid = ('lethe.' || t)::regclass) THEN
            PERFORM create_reference_table('lethe.' || t);
        END IF;
    END LOOP;
    FOREACH t IN ARRAY distributed_tables LOOP
        IF to_regclass('lethe.' || t) IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pg_dist_partition WHERE logicalrelid = ('lethe.' || t)::regclass) THEN
            PERFORM create_distributed_table('lethe.' || t, 'tenant_id',
                colocate_with => CASE WHEN t = 'tenants' THEN 'default' ELSE 'lethe.tenants' END);
        END IF;
    END LOOP;
    FOR fk IN SELECT * FROM citus_fks
               WHERE (target IN ('lethe.runs'::regclass, 'lethe.batches'::regclass))
                     = (rel IN ('lethe.runs'::regclass, 'lethe.batches'::regclass)) LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.name, fk.def);
    END LOOP;
END $$;

-- ---- statements that mean the same on both -----------------------------------------------

-- audit_flush locks the heads of the chains it appends to, in tenant order. 0003 did it in one
-- SELECT ... FOR UPDATE over all of them, which Citus refuses across shards: here each head is
-- locked by a statement of its own, still in tenant order (single-shard on Citus; the same
-- locks in the same order on PostgreSQL). Like 0009 and 0010, the function is edited as it
-- stands, so that it keeps whatever else it became.
DO $lock$
DECLARE
    v_def text;
    v_old constant text := $old$    PERFORM 1 FROM lethe.audit_heads h
      WHERE h.tenant_id IN (SELECT s.tenant_id FROM pg_temp.audit_stage s)
      ORDER BY h.tenant_id FOR UPDATE;$old$;
    v_new constant text := $new$    FOR v_lock_tenant IN SELECT DISTINCT s.tenant_id FROM pg_temp.audit_stage s ORDER BY 1 LOOP
        PERFORM 1 FROM lethe.audit_heads h WHERE h.tenant_id = v_lock_tenant FOR UPDATE;
    END LOOP;$new$;
BEGIN
    v_def := pg_get_functiondef('lethe.audit_flush()'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position('DECLARE' || chr(10) IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0011: lethe.audit_flush() no longer locks its heads as 0003 wrote it';
    END IF;
    v_def := replace(v_def, v_old, v_new);
    v_def := regexp_replace(v_def, 'DECLARE\n', 'DECLARE' || chr(10) || '    v_lock_tenant uuid;' || chr(10));
    EXECUTE v_def;
END $lock$;

-- An interval's three fields (months, days, time in seconds), compared where a change of
-- representation matters ('1 mon' is not '30 days'): the same test as comparing interval::text,
-- but IMMUTABLE, so Citus accepts it on columns in an UPDATE (interval_out is STABLE).
CREATE FUNCTION lethe.interval_parts(i interval) RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[extract(year FROM i) * 12 + extract(month FROM i), extract(day FROM i),
                 extract(hour FROM i) * 3600 + extract(minute FROM i) * 60 + extract(second FROM i)]
$$;
