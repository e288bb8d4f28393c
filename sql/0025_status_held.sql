-- Status at 10M items (issue 14, shape 8): what it reads grows with what is pending and what
-- is exceptional, not with the tenants or the held items.
--
-- The held items. status (engine/dbstatus.c) worked out every pending row into a temporary
-- table, a row for every item a hold blocks and a run remembers (lethe.held_items) included: at
-- 10M items with 495,042 held due items, copying them took 673 ms of a 1.25 s status, and every
-- count and list read them again from the copy. Those rows are the held_items rows of the
-- tenants whose held memory holds (lethe.held_valid), as they are: status now reads them where
-- they are, through a view, counts them once per rule, and lists the first of them through
-- held_items_deadline (the violations through an index of their own). pending_items_unheld is
-- 0017's pending_items_rest without its held part; pending_items_rest is now that and the held
-- part, so the rows it gives are the same.
--
-- The tenants. 0017 listed the tenants whose memory holds (status_usable), one probe each, and
-- every statement that used the list paid for its length again: at 33,334 tenants status_usable
-- took 67 ms, the refresh's own search 48 ms, and the rows worked out 120 ms. Now the exceptions
-- are listed (status_unusable: no memory yet, a memory expired or taken later, a change it did
-- not see, an event not consumed, or every tenant when the rules or kinds changed), each found
-- from the few rows that make it; pending_items_unheld, pending_items_remembered (export
-- --summary, the run's figures) and the refresh take that list, and the memory keeps its total
-- of scheduled rows, so that status need not add up every tenant's count.

CREATE FUNCTION lethe.pending_items_unheld(p_as_of timestamptz, p_unusable uuid[], p_cts uuid[],
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
                   AND NOT (m.tenant_id IN (SELECT valid.tenant_id FROM valid)
                            AND EXISTS (SELECT 1 FROM lethe.held_items h
                                         WHERE h.tenant_id = m.tenant_id
                                           AND h.item_id = m.item_id))) x
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
REVOKE ALL ON FUNCTION lethe.pending_items_unheld(timestamptz, uuid[], uuid[], uuid[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION lethe.pending_items_rest(p_as_of timestamptz, p_usable uuid[],
                                                    p_cts uuid[], p_cids uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    SELECT * FROM lethe.pending_items_unheld(
        p_as_of,
        ARRAY(SELECT t.tenant_id FROM lethe.tenants t
               WHERE NOT EXISTS (SELECT 1 FROM unnest(p_usable) u(tenant_id)
                                  WHERE u.tenant_id = t.tenant_id)),
        p_cts, p_cids)
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h
     WHERE h.tenant_id IN (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v)
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_rest(timestamptz, uuid[], uuid[], uuid[]) FROM PUBLIC;

CREATE INDEX held_items_deadline ON lethe.held_items (deadline_at, tenant_id, item_id);
CREATE INDEX held_items_violations ON lethe.held_items (deadline_at, tenant_id, item_id)
    WHERE rule = 'shared_while_opted_out';

-- Each memory row is a tenant's (so that comparing their counts tells whether a tenant has
-- none), and the rows that no longer hold are found by their times. On Citus there is no memory
-- (sql/0017_status_memory.sql), and no foreign key from a local table to a distributed one.
DO $memory$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        DELETE FROM lethe.status_memory_tenants m
         WHERE NOT EXISTS (SELECT 1 FROM lethe.tenants t WHERE t.tenant_id = m.tenant_id);
        ALTER TABLE lethe.status_memory_tenants ADD CONSTRAINT status_memory_tenants_tenant
            FOREIGN KEY (tenant_id) REFERENCES lethe.tenants ON DELETE CASCADE;
    END IF;
END $memory$;
-- The scheduled rows the memory holds in all, kept by the refresh, so that status need not add
-- up every tenant's count.
ALTER TABLE lethe.status_memory_meta ADD COLUMN scheduled bigint NOT NULL DEFAULT 0;
UPDATE lethe.status_memory_meta
   SET scheduled = (SELECT coalesce(sum(t.scheduled), 0) FROM lethe.status_memory_tenants t);
CREATE INDEX status_memory_tenants_holds ON lethe.status_memory_tenants (holds_until);
CREATE INDEX status_memory_tenants_taken ON lethe.status_memory_tenants (taken_as_of);

-- The tenants whose memory does not hold at p_as_of: lethe.status_usable's complement among the
-- tenants (every tenant when the memory was taken under other rules or kinds). These are the
-- exceptions, found from the few rows that make them (no memory row, one that expired or was
-- taken later, a change it did not see, an event not consumed), where status_usable listed
-- every tenant, one probe each: at 33,334 tenants that took 67 ms, and every statement that
-- used the list paid for its length again.
CREATE FUNCTION lethe.status_unusable(p_as_of timestamptz) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT t.tenant_id FROM lethe.tenants t
     WHERE NOT EXISTS (SELECT 1 FROM lethe.status_memory_meta m
                        WHERE m.digest = lethe.status_memory_digest() AND m.taken_as_of <= p_as_of)
    UNION
    SELECT t.tenant_id FROM lethe.tenants t  -- no memory yet (each memory row is a tenant's)
     WHERE (SELECT count(*) FROM lethe.tenants) > (SELECT count(*) FROM lethe.status_memory_tenants)
       AND NOT EXISTS (SELECT 1 FROM lethe.status_memory_tenants m WHERE m.tenant_id = t.tenant_id)
    UNION
    SELECT m.tenant_id FROM lethe.status_memory_tenants m
     WHERE m.holds_until <= p_as_of OR m.taken_as_of > p_as_of
    UNION
    SELECT d.tenant_id FROM lethe.status_dirty d JOIN lethe.status_memory_tenants m USING (tenant_id)
     WHERE NOT pg_visible_in_snapshot(d.changed_in, m.taken_in)
    UNION
    SELECT b.tenant_id FROM lethe.inbox_events b
$$;
REVOKE ALL ON FUNCTION lethe.status_unusable(timestamptz) FROM PUBLIC;

-- pending_items (export --summary, the run's figures) from the same parts as status: the rows
-- worked out, the remembered held items, and the remembered scheduled ones.
CREATE OR REPLACE FUNCTION lethe.pending_items_remembered(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH u AS MATERIALIZED (
        SELECT DISTINCT s.tenant_id FROM lethe.status_unusable(p_as_of) s
    ), c AS MATERIALIZED (
        SELECT array_agg(x.tenant_id) AS ts, array_agg(x.item_id) AS ids
          FROM lethe.pending_complex(p_as_of) x
    )
    SELECT r.* FROM c
     CROSS JOIN LATERAL lethe.pending_items_unheld(p_as_of, ARRAY(SELECT u.tenant_id FROM u),
                                                   c.ts, c.ids) r
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h
     WHERE h.tenant_id IN (SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v)
    UNION ALL
    SELECT m.tenant_id, m.item_id, m.location, 'scheduled', 'shared_retention', NULL::text,
           m.due_at, m.deadline_at, NULL::uuid, NULL::uuid
      FROM lethe.status_memory m
     WHERE NOT m.standing
       AND NOT EXISTS (SELECT 1 FROM u WHERE u.tenant_id = m.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM c CROSS JOIN LATERAL unnest(c.ts, c.ids) x(tenant_id, item_id)
                        WHERE x.tenant_id = m.tenant_id AND x.item_id = m.item_id)
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_remembered(timestamptz) FROM PUBLIC;

-- The refresh takes the memory of the tenants status_unusable finds (less those with events not
-- consumed yet), as 0017's did of the tenants it found one probe each. A tenant deleted while it
-- runs (its memory row references it: the check of the reference, in a repeatable read
-- transaction, cannot serialize, or the deletion's cascade and the refresh wait for each other)
-- leaves the memory as it was, and the refresh takes nothing: status reads what is there and
-- evaluates the rest, as when another status is taking it.
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
        END IF;
        SELECT array_agg(u.tenant_id ORDER BY u.tenant_id) INTO v_ids
          FROM lethe.status_unusable(v_now) u
         WHERE NOT EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE b.tenant_id = u.tenant_id);
        IF v_ids IS NULL THEN
            RETURN 0;
        END IF;
        DELETE FROM lethe.status_memory WHERE tenant_id = ANY (v_ids);
        DELETE FROM lethe.status_memory_tenants WHERE tenant_id = ANY (v_ids);
        INSERT INTO lethe.status_memory (tenant_id, item_id, location, due_at, deadline_at, standing)
        SELECT s.tenant_id, s.item_id, s.location, s.due_at, s.deadline_at, s.standing
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
REVOKE ALL ON FUNCTION lethe.status_memory_refresh() FROM PUBLIC;
