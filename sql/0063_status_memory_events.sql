-- A tenant's status memory holds while a run has not consumed its events, unless one of them is
-- an opt-out or an opt-in.
--
-- The memory (sql/0017_status_memory.sql) remembers per tenant what lethe.shared_schedule()
-- gives: the shared copies scheduled under shared_retention alone. It was not read for a tenant
-- with any event a run had not consumed yet, nor taken for one, "an opt-out or opt-in changes
-- what its shared copies owe at once". That is the only way an event reaches that function: it
-- reads the events of those two types itself (its optout set and lethe.opted_out_at()); every
-- other event counts once a run has derived its obligations from it, and a run consuming an
-- event marks the tenant changed (status_dirty), so its memory is taken again then. Between two
-- runs, every tenant with a new event of any type (a deletion request, an access grant) was
-- evaluated whole on every status: a third of the catalog on the bench's 1M items after one
-- hour of producers' events (tests/bench/RESULTS.md).
--
-- Now only a tenant with an opt-out or an opt-in not consumed yet is kept from its memory (and
-- from having one taken). pending_items gives the same rows with or without the memory, as
-- before: status_memory.sh compares both with lethe.pending_items_live() between runs.

-- The tenants with an opt-out or opt-in a run has not consumed yet. Inlined where it is read
-- (no SET, not a definer): its callers run as the owner.
CREATE FUNCTION lethe.status_sharing_pending() RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT b.tenant_id
      FROM lethe.inbox_events b
      JOIN lethe.events e ON e.tenant_id = b.tenant_id AND e.event_id = b.event_id
     WHERE e.type IN ('sharing_opted_out', 'sharing_opted_in')
$$;
REVOKE ALL ON FUNCTION lethe.status_sharing_pending() FROM PUBLIC;

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
    SELECT s.tenant_id FROM lethe.status_sharing_pending() s
$$;

CREATE OR REPLACE FUNCTION lethe.status_usable(p_as_of timestamptz) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT t.tenant_id FROM lethe.status_memory_tenants t
     WHERE EXISTS (SELECT 1 FROM lethe.status_memory_meta m
                    WHERE m.digest = lethe.status_memory_digest() AND m.taken_as_of <= p_as_of)
       AND t.taken_as_of <= p_as_of AND t.holds_until > p_as_of
       AND NOT EXISTS (SELECT 1 FROM lethe.status_dirty d
                        WHERE d.tenant_id = t.tenant_id
                          AND NOT pg_visible_in_snapshot(d.changed_in, t.taken_in))
       AND NOT EXISTS (SELECT 1 FROM lethe.status_sharing_pending() s WHERE s.tenant_id = t.tenant_id)
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
         WHERE NOT EXISTS (SELECT 1 FROM lethe.status_sharing_pending() s WHERE s.tenant_id = u.tenant_id);
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
