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

-- ---- statements that mean the same on both --------------------------------------------------

-- sql/0003's audit_flush, with the chain heads locked one tenant at a time (still in tenant
-- order) instead of in one multi-shard SELECT ... FOR UPDATE. The rest is unchanged.
-- Appends every staged row to its chain, in ord order within each chain; returns how many.
-- The heads of all chains involved are locked in tenant_id order, so two writers (shards)
-- wait for each other instead of forking a chain, and never deadlock within one flush. `at`
-- is taken once the locks are held and never goes back along a chain. Callers run in READ
-- COMMITTED (the default); a transaction should flush once, or stage in tenant order.
CREATE OR REPLACE FUNCTION lethe.audit_flush() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_n bigint;
    v_now timestamptz;
    v_bad record;
    v_tenant uuid;
BEGIN
    PERFORM lethe.audit_stage_open();
    IF NOT EXISTS (SELECT 1 FROM pg_temp.audit_stage) THEN
        RETURN 0;
    END IF;
    SELECT s.kind INTO v_bad FROM pg_temp.audit_stage s
     WHERE s.kind NOT IN ('run_started', 'run_finished', 'batch_emitted', 'batch_acknowledged',
                          'batch_failed', 'item_failed', 'item_purged', 'obligation_withdrawn',
                          'hold_blocked', 'operator_rerun', 'checkpoint')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit: unknown record kind "%"', v_bad.kind
            USING ERRCODE = 'check_violation',
                  HINT = 'kinds are run_started, run_finished, batch_emitted, batch_acknowledged, '
                         'batch_failed, item_failed, item_purged, obligation_withdrawn, '
                         'hold_blocked, operator_rerun, checkpoint';
    END IF;

    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    SELECT DISTINCT s.tenant_id, 0, repeat('0', 64), NULL::timestamptz
      FROM pg_temp.audit_stage s ORDER BY 1
        ON CONFLICT (tenant_id) DO NOTHING;
    -- One head at a time, in tenant order: each lock is a single-shard statement on Citus,
    -- which refuses FOR UPDATE across shards.
    FOR v_tenant IN SELECT DISTINCT s.tenant_id FROM pg_temp.audit_stage s ORDER BY 1 LOOP
        PERFORM 1 FROM lethe.audit_heads h WHERE h.tenant_id = v_tenant FOR UPDATE;
    END LOOP;
    v_now := clock_timestamp();

    WITH numbered AS (
        SELECT s.*, h.hash AS head_hash, greatest(v_now, h.at) AS at,
               h.seq + row_number() OVER (PARTITION BY s.tenant_id ORDER BY s.ord) AS seq
          FROM pg_temp.audit_stage s JOIN lethe.audit_heads h ON h.tenant_id = s.tenant_id
    ), cleaned AS (
        SELECT n.seq, n.at, n.kind, n.tenant_id, n.run_id, n.batch_id, n.item_id,
               nullif(n.rule, '') AS rule, nullif(n.reference, '') AS reference,
               n.triggered_at, n.deadline_at, n.purged_at, n.on_time,
               nullif(n.location, '') AS location, n.hold_id, nullif(n.subject_hmac, '') AS subject_hmac,
               nullif(n.operator, '') AS operator, n.count, nullif(n.detail, '') AS detail,
               n.head_hash
          FROM numbered n
    ), chained AS (
        SELECT c.*, lethe.audit_chain(c.head_hash,
                   lethe.audit_canonical_head(c.seq, c.at, c.kind, c.tenant_id, c.run_id,
                       c.batch_id, c.item_id, c.rule, c.reference, c.triggered_at,
                       c.deadline_at, c.purged_at, c.on_time, c.location, c.hold_id,
                       c.subject_hmac, c.operator, c.count, c.detail))
                   OVER (PARTITION BY c.tenant_id ORDER BY c.seq
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS hash
          FROM cleaned c
    ), appended AS (
        INSERT INTO lethe.audit (seq, at, kind, tenant_id, run_id, batch_id, item_id, rule,
                                 reference, triggered_at, deadline_at, purged_at, on_time,
                                 location, hold_id, subject_hmac, operator, count, detail,
                                 prev_hash, hash)
        SELECT x.seq, x.at, x.kind, x.tenant_id, x.run_id, x.batch_id, x.item_id, x.rule,
               x.reference, x.triggered_at, x.deadline_at, x.purged_at, x.on_time,
               x.location, x.hold_id, x.subject_hmac, x.operator, x.count, x.detail,
               coalesce(lag(x.hash) OVER (PARTITION BY x.tenant_id ORDER BY x.seq), x.head_hash),
               x.hash
          FROM chained x
        RETURNING tenant_id, seq, hash, at
    ), moved AS (
        -- A data-modifying WITH runs to completion whether or not it is read.
        UPDATE lethe.audit_heads h SET seq = l.seq, hash = l.hash, at = l.at
          FROM (SELECT DISTINCT ON (a.tenant_id) a.tenant_id, a.seq, a.hash, a.at
                  FROM appended a ORDER BY a.tenant_id, a.seq DESC) l
         WHERE h.tenant_id = l.tenant_id
    )
    SELECT count(*) INTO v_n FROM appended;

    TRUNCATE pg_temp.audit_stage;
    RETURN v_n;
END $$;


-- An interval's three fields (months, days, time in seconds), compared where a change of
-- representation matters ('1 mon' is not '30 days'): the same test as comparing interval::text,
-- but IMMUTABLE, so Citus accepts it on columns in an UPDATE (interval_out is STABLE).
CREATE FUNCTION lethe.interval_parts(i interval) RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[extract(year FROM i) * 12 + extract(month FROM i), extract(day FROM i),
                 extract(hour FROM i) * 3600 + extract(minute FROM i) * 60 + extract(second FROM i)]
$$;
