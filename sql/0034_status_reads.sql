-- status at 10M items (issue 14, shape 8): two reads of every status that grew with the
-- catalog. Measured on the bench's 10M catalog (10,050,000 items, 33,334 tenants, 45,042 held
-- due items) after a full cycle, server time of status's statements.
--
-- 1. The remembered rows a hold keeps. The memory's standing rows (sql/0017_status_memory.sql:
-- rows that lethe.standing() decides at every read) are mostly shared items past their due
-- time that a hold keeps: 4,332 standing rows, of which 4,314 are held items of tenants whose
-- held memory holds (lethe.held_valid), which status reads where they are. pending_items_unheld
-- ruled those out by looking each one up in held_items, which the planner did by hashing all of
-- held_items (45,042 rows). The memory now records, when it is taken, whether a standing row is
-- a held item (held), and the rows are ruled out by that flag and their tenant's held memory,
-- as before. pending_rest, median of 7: 101 -> 67 ms.
--
-- The flag is as exact as the rest of the memory: a change to held_items marks its tenants in
-- status_dirty, as changes to items, batch_items and obligations do, so that a tenant whose
-- held items changed since its memory was taken is worked out afresh until the next refresh.
-- The memory taken before this migration gets its flags from held_items as they are now (the
-- migration holds the run lock: no run changes them meanwhile).
--
-- 2. The tenants without memory yet. status_unusable (sql/0025_status_held.sql) found whether
-- any tenant had no memory by counting every tenant and every memory row (33,334 each: 25 ms),
-- and status calls it twice (the refresh, then the report). Tenants without memory are now
-- listed as they come: a statement trigger on tenants queues each new tenant in
-- status_new_tenants, and the refresh takes it off when it takes the tenant's memory (or queues
-- every tenant again when it forgets the whole memory: new rules or kinds). What the queue
-- holds when this migration runs: every tenant without memory.
--
-- On Citus there is no memory (no triggers there): none of this is laid out.

ALTER TABLE lethe.status_memory ADD COLUMN held boolean NOT NULL DEFAULT false;
UPDATE lethe.status_memory m SET held = true
 WHERE m.standing
   AND EXISTS (SELECT 1 FROM lethe.held_items h WHERE h.tenant_id = m.tenant_id AND h.item_id = m.item_id);
-- The standing rows with their flag, read without the table.
CREATE INDEX status_memory_standing_held ON lethe.status_memory (tenant_id, item_id, held)
    WHERE standing;
DROP INDEX lethe.status_memory_standing;

DO $triggers$
DECLARE
    t record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    FOR t IN SELECT * FROM (VALUES ('held_items', 'INSERT', 'NEW'),
                                   ('held_items', 'UPDATE', 'NEW'),
                                   ('held_items', 'DELETE', 'OLD')) v(tab, ev, side) LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER %s ON lethe.%I REFERENCING %s TABLE AS changed'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION lethe.status_dirty_mark()',
                       t.tab || '_status_dirty_' || lower(t.ev), t.ev, t.tab, t.side);
    END LOOP;
END $triggers$;

CREATE OR REPLACE FUNCTION lethe.pending_items_unheld(p_as_of timestamptz, p_unusable uuid[], p_cts uuid[],
                                           p_cids uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), unusable AS MATERIALIZED (
        SELECT DISTINCT u.tenant_id FROM unnest(p_unusable) u(tenant_id)
    ), live AS MATERIALIZED (
        SELECT array_agg(u.tenant_id) AS ids FROM unusable u
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), complex AS MATERIALIZED (
        SELECT DISTINCT c.tenant_id, c.item_id FROM unnest(p_cts, p_cids) c(tenant_id, item_id)
    ), ccand AS MATERIALIZED (  -- what may carry more: standing() decides, as in 0015
        SELECT c.tenant_id, c.item_id, true AS complex, NULL::uuid AS parent_id,
               NULL::uuid AS workspace_id, NULL::text AS owner_id, NULL::bytea AS owner_digest,
               NULL::boolean AS shared, NULL::timestamptz AS created_at, NULL::text AS location
          FROM complex c
         WHERE EXISTS (SELECT 1 FROM lethe.items i
                        WHERE i.tenant_id = c.tenant_id AND i.item_id = c.item_id
                          AND i.locator IS NOT NULL
                          AND i.kind = ANY ((SELECT cd.kinds FROM cd)::text[]))
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
           AND NOT coalesce((SELECT true FROM lethe.held_items h
                              WHERE h.tenant_id = c.tenant_id AND h.item_id = c.item_id
                                AND h.tenant_id IN (SELECT valid.tenant_id FROM valid) LIMIT 1), false)
    ), fresh AS MATERIALIZED (  -- the cheap path of the tenants not read from memory
        SELECT s.tenant_id, s.item_id, s.location, s.due_at, s.deadline_at, s.standing
          FROM live CROSS JOIN LATERAL lethe.shared_schedule(p_as_of, live.ids) s
         WHERE live.ids IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM complex x
                            WHERE x.tenant_id = s.tenant_id AND x.item_id = s.item_id)
           AND NOT (s.tenant_id IN (SELECT valid.tenant_id FROM valid)
                    AND EXISTS (SELECT 1 FROM lethe.held_items h
                                 WHERE h.tenant_id = s.tenant_id AND h.item_id = s.item_id))
    ), arr AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM (SELECT c.tenant_id, c.item_id FROM ccand c
                UNION ALL
                SELECT f.tenant_id, f.item_id FROM fresh f WHERE f.standing
                UNION ALL
                SELECT m.tenant_id, m.item_id
                  FROM lethe.status_memory m
                 WHERE m.standing
                   AND NOT EXISTS (SELECT 1 FROM unusable u WHERE u.tenant_id = m.tenant_id)
                   AND NOT EXISTS (SELECT 1 FROM complex x
                                    WHERE x.tenant_id = m.tenant_id AND x.item_id = m.item_id)
                   AND NOT (m.held AND m.tenant_id IN (SELECT valid.tenant_id FROM valid))) x
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT f.tenant_id, f.item_id, f.location, 'scheduled', 'shared_retention', NULL::text,
           f.due_at, f.deadline_at, NULL::uuid, NULL::uuid
      FROM fresh f WHERE NOT f.standing
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;

-- 2. The tenants without memory yet.
CREATE TABLE lethe.status_new_tenants (
    tenant_id uuid PRIMARY KEY
);
ALTER TABLE lethe.status_new_tenants SET (vacuum_index_cleanup = on);  -- a queue (0026)

CREATE FUNCTION lethe.status_new_tenant_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO lethe.status_new_tenants (tenant_id)
    SELECT n.tenant_id FROM new_tenants n
    ON CONFLICT (tenant_id) DO NOTHING;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lethe.status_new_tenant_mark() FROM PUBLIC;

DO $queue$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- A tenant deleted takes its place in the queue with it (the refresh would otherwise take
    -- a memory for a tenant that is gone).
    ALTER TABLE lethe.status_new_tenants ADD CONSTRAINT status_new_tenants_tenant
        FOREIGN KEY (tenant_id) REFERENCES lethe.tenants ON DELETE CASCADE;
    CREATE TRIGGER tenants_status_new AFTER INSERT ON lethe.tenants
        REFERENCING NEW TABLE AS new_tenants
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.status_new_tenant_mark();
    INSERT INTO lethe.status_new_tenants (tenant_id)
    SELECT t.tenant_id FROM lethe.tenants t
     WHERE NOT EXISTS (SELECT 1 FROM lethe.status_memory_tenants m WHERE m.tenant_id = t.tenant_id);
END $queue$;

CREATE OR REPLACE FUNCTION lethe.status_unusable(p_as_of timestamptz) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT t.tenant_id FROM lethe.tenants t
     WHERE NOT EXISTS (SELECT 1 FROM lethe.status_memory_meta m
                        WHERE m.digest = lethe.status_memory_digest() AND m.taken_as_of <= p_as_of)
    UNION
    SELECT n.tenant_id FROM lethe.status_new_tenants n  -- no memory yet
     WHERE NOT EXISTS (SELECT 1 FROM lethe.status_memory_tenants m WHERE m.tenant_id = n.tenant_id)
    UNION
    SELECT m.tenant_id FROM lethe.status_memory_tenants m
     WHERE m.holds_until <= p_as_of OR m.taken_as_of > p_as_of
    UNION
    SELECT d.tenant_id FROM lethe.status_dirty d JOIN lethe.status_memory_tenants m USING (tenant_id)
     WHERE NOT pg_visible_in_snapshot(d.changed_in, m.taken_in)
    UNION
    SELECT b.tenant_id FROM lethe.inbox_events b
$$;

CREATE OR REPLACE FUNCTION lethe.status_memory_refresh() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    v_digest text := lethe.status_memory_digest();
    v_now timestamptz := now();
    v_ids uuid[];
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN 0;
    END IF;
    IF current_setting('transaction_isolation') <> 'repeatable read' THEN
        RAISE EXCEPTION 'status memory is taken in a repeatable read transaction only';
    END IF;
    PERFORM lethe.status_memory_fold();
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM lethe.status_memory_meta m WHERE m.digest = v_digest) THEN
            DELETE FROM lethe.status_memory;
            DELETE FROM lethe.status_memory_tenants;
            DELETE FROM lethe.status_memory_meta;
            INSERT INTO lethe.status_memory_meta (digest, taken_as_of) VALUES (v_digest, v_now);
            INSERT INTO lethe.status_new_tenants (tenant_id)
            SELECT t.tenant_id FROM lethe.tenants t
            ON CONFLICT (tenant_id) DO NOTHING;
        END IF;
        SELECT array_agg(u.tenant_id ORDER BY u.tenant_id) INTO v_ids
          FROM lethe.status_unusable(v_now) u
         WHERE NOT EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE b.tenant_id = u.tenant_id);
        IF v_ids IS NULL THEN
            RETURN 0;
        END IF;
        DELETE FROM lethe.status_memory WHERE tenant_id = ANY (v_ids);
        DELETE FROM lethe.status_memory_tenants WHERE tenant_id = ANY (v_ids);
        DELETE FROM lethe.status_new_tenants WHERE tenant_id = ANY (v_ids);
        INSERT INTO lethe.status_memory (tenant_id, item_id, location, due_at, deadline_at, standing,
                                         held)
        SELECT s.tenant_id, s.item_id, s.location, s.due_at, s.deadline_at, s.standing,
               s.standing AND EXISTS (SELECT 1 FROM lethe.held_items h
                                       WHERE h.tenant_id = s.tenant_id AND h.item_id = s.item_id)
          FROM lethe.shared_schedule(v_now, v_ids) s;
        INSERT INTO lethe.status_memory_tenants (tenant_id, taken_as_of, taken_in, holds_until,
                                                 scheduled)
        SELECT t.id, v_now, pg_current_snapshot(), coalesce(m.first_due, 'infinity'),
               coalesce(m.n, 0)
          FROM unnest(v_ids) t(id)
          LEFT JOIN LATERAL (SELECT min(m.due_at) AS first_due, count(*) AS n
                               FROM lethe.status_memory m
                              WHERE m.tenant_id = t.id AND NOT m.standing) m ON true;
        -- What the memory absorbed (every writer it had to see has committed: no writer holds
        -- the shared lock while this runs).
        DELETE FROM lethe.status_dirty d USING lethe.status_memory_tenants m
         WHERE m.tenant_id = d.tenant_id AND pg_visible_in_snapshot(d.changed_in, m.taken_in);
        UPDATE lethe.status_memory_meta
           SET scheduled = (SELECT coalesce(sum(t.scheduled), 0) FROM lethe.status_memory_tenants t);
        RETURN cardinality(v_ids);
    EXCEPTION WHEN serialization_failure OR deadlock_detected THEN
        RETURN 0;
    END;
END $$;
