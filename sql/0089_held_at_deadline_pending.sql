-- An item a hold keeps past its deadline is "held past deadline" before its purge only when a
-- hold was in effect at that deadline, as its purge will be recorded (sql/0083).
--
-- Since schema version 83 an item a hold blocked only after its deadline had passed is late: its
-- purge is recorded under its own rule's reference with on_time = false, counted as late, not
-- as held. Before its purge, though, status listed it under "held past deadline" and not under
-- "overdue", `status --check` passed, the overdue gauge left it out, and explain said
-- "reported as held, not late": placing a hold on an item already late silenced every alarm
-- about it (an outside tryout as a support engineer). What reads a pending held item past its
-- deadline now asks this function whether a hold kept it at that deadline: the hold keeping it
-- now, or one that blocked it before (lethe.hold_blocks), placed at or before the deadline and
-- not released by then. Otherwise the item is overdue, as it was before the hold.
--
-- Functions of their own (not inlined), so that on Citus each call is one tenant's query; they
-- are called only for held items whose deadline has passed, and mostly once per hold and
-- deadline (hold_kept_at, below).
CREATE FUNCTION lethe.held_at_deadline(p_tenant uuid, p_item uuid, p_hold uuid,
                                       p_deadline timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM lethe.holds y
                    WHERE y.tenant_id = p_tenant
                      AND y.placed_at <= p_deadline
                      AND (y.released_at IS NULL OR y.released_at > p_deadline)
                      AND (y.hold_id = p_hold
                           OR EXISTS (SELECT 1 FROM lethe.hold_blocks x
                                       WHERE x.tenant_id = p_tenant AND x.item_id = p_item
                                         AND x.hold_id = y.hold_id)));
END $$;
REVOKE ALL ON FUNCTION lethe.held_at_deadline(uuid, uuid, uuid, timestamptz) FROM PUBLIC;

-- The same judged once for many items that share a hold and a deadline (status, the gauges and
-- the summary group the held rows past their deadline by both: a tenant-wide hold over 200,000
-- items with one deadline is one call, where a call per item cost 10-35 us each): 1 when the
-- hold keeps them (in effect at the deadline), 0 when no hold of the tenant was in effect at it
-- (none kept any of them), 2 when another hold was, which only the item's blocks can tell
-- (held_at_deadline() then, per item).
CREATE FUNCTION lethe.hold_kept_at(p_tenant uuid, p_hold uuid, p_deadline timestamptz)
RETURNS smallint LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM lethe.holds y
                WHERE y.tenant_id = p_tenant AND y.hold_id = p_hold AND y.placed_at <= p_deadline
                  AND (y.released_at IS NULL OR y.released_at > p_deadline)) THEN
        RETURN 1;
    END IF;
    IF EXISTS (SELECT 1 FROM lethe.holds y
                WHERE y.tenant_id = p_tenant AND y.placed_at <= p_deadline
                  AND (y.released_at IS NULL OR y.released_at > p_deadline)) THEN
        RETURN 2;
    END IF;
    RETURN 0;
END $$;
REVOKE ALL ON FUNCTION lethe.hold_kept_at(uuid, uuid, timestamptz) FROM PUBLIC;

-- Whoever may read the pending items (the engine's roles, the auditor's summary) may ask both,
-- as deploy/roles.sql grants when it runs again.
DO $grants$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT x.grantee::regrole::text AS grantee
               FROM pg_proc p, aclexplode(p.proacl) x
              WHERE p.oid = 'lethe.pending_items(timestamptz)'::regprocedure
                AND x.privilege_type = 'EXECUTE' AND x.grantee <> 0 AND x.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lethe.held_at_deadline(uuid, uuid, uuid, timestamptz),'
                       ' lethe.hold_kept_at(uuid, uuid, timestamptz) TO %s', r.grantee);
    END LOOP;
END $grants$;
