-- The inbox without triggers (issue 13: SPEC §4 "Outgrowing one server").
--
-- Until now statement triggers on items and events (0002: items_to_inbox, events_to_inbox) put
-- every new row's key into inbox_items and inbox_events, in the producer's own transaction, and
-- a run consumed what it could see. Citus refuses triggers with transition tables on its
-- tables (and every trigger without citus.enable_unsafe_triggers), so on Citus nothing reached
-- the inbox. Here the engine finds the new rows itself, by a number, with the same result on
-- one server and on Citus:
--
-- - items and events take a seq from one sequence, lethe.catalog_seq (a default on the
--   coordinator on Citus, where every producer writes). Producers may not name the column
--   (deploy/roles.sql grants them every other column), so no row can be numbered into the past.
-- - lethe.inbox_fill() moves new rows into the inbox. It reads the sequence's last value W, and
--   only then the sessions writing to items or events: every transaction holding
--   RowExclusiveLock on either table, by virtual transaction id, in pg_locks. A number up to W
--   was drawn (under that lock, which the INSERT takes before it evaluates its defaults) by a
--   transaction that had ended by then, or that is in that list. So the rows numbered up to W
--   that the function cannot see yet belong to the listed writers, or to none (rolled back):
--   such numbers are kept as gaps, with their writers, and filled once every one of those
--   writers has ended (a lock is released only after the commit is visible). Nothing is missed
--   and nothing is filled twice; a writer that stays open delays only the numbers it may hold.
-- - lethe.inbox_watermark.high: every number up to it was looked at (its row filled, or kept in
--   a gap). Both tables are the engine's own; on Citus they stay on the coordinator, with the
--   sequence and the locks they are about.
--
-- A run, a dry run (in its own transaction, before the plan's), status and explain fill the
-- inbox before they read it, so every reader sees what the triggers gave it. What differs: a
-- producer's rows are in the inbox once a command of lethe has looked, not at its commit; and a
-- row whose writer is still open when a run looks is taken by a later run. The rows present
-- before this migration have no seq: the triggers put them in the inbox already.

CREATE SEQUENCE lethe.catalog_seq AS bigint;

ALTER TABLE lethe.items ADD COLUMN seq bigint;
ALTER TABLE lethe.items ALTER COLUMN seq SET DEFAULT nextval('lethe.catalog_seq');
ALTER TABLE lethe.events ADD COLUMN seq bigint;
ALTER TABLE lethe.events ALTER COLUMN seq SET DEFAULT nextval('lethe.catalog_seq');
CREATE INDEX items_seq ON lethe.items (seq) WHERE seq IS NOT NULL;
CREATE INDEX events_seq ON lethe.events (seq) WHERE seq IS NOT NULL;

DROP TRIGGER items_to_inbox ON lethe.items;
DROP TRIGGER events_to_inbox ON lethe.events;
DROP FUNCTION lethe.items_to_inbox();
DROP FUNCTION lethe.events_to_inbox();

CREATE TABLE lethe.inbox_watermark (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    high bigint NOT NULL CHECK (high >= 0)
);
INSERT INTO lethe.inbox_watermark (high) VALUES (0);

CREATE TABLE lethe.inbox_gaps (
    lo bigint NOT NULL,
    hi bigint NOT NULL,
    writers text[] NOT NULL,     -- virtual transaction ids writing when the gap was found
    found_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (lo),
    CHECK (lo <= hi)
);

-- The transactions other than this session's that hold RowExclusiveLock on items or events.
CREATE FUNCTION lethe.inbox_writers() RETURNS text[] LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(array_agg(DISTINCT l.virtualtransaction), '{}')
      FROM pg_catalog.pg_locks l
     WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
       AND l.relation IN ('lethe.items'::regclass, 'lethe.events'::regclass)
       AND l.pid IS DISTINCT FROM pg_backend_pid()
$$;

-- Moves what producers committed since the last fill into inbox_items and inbox_events, and
-- returns how many rows it moved. One fill at a time (the watermark's row lock); each in its
-- own short transaction, READ COMMITTED, so that each statement sees what ended before it.
CREATE FUNCTION lethe.inbox_fill() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_high bigint;
    v_w bigint;
    v_called boolean;
    v_writers text[];
    v_now text[];
    v_settled bigint[];
    v_items bigint := 0;
    v_events bigint := 0;
    n bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'lethe.inbox_fill() runs in READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state',
                  HINT = 'each of its statements must see what ended before it: call it in a transaction of its own';
    END IF;
    SELECT w.high INTO v_high FROM lethe.inbox_watermark w FOR UPDATE;
    SELECT s.last_value, s.is_called INTO v_w, v_called FROM lethe.catalog_seq s;
    IF NOT v_called THEN
        v_w := 0;
    END IF;
    -- An idle fill: nothing numbered since, and no gap waiting.
    IF v_w <= v_high AND NOT EXISTS (SELECT 1 FROM lethe.inbox_gaps) THEN
        RETURN 0;
    END IF;
    -- Read after W: whoever drew a number up to W and has not ended is here.
    v_writers := lethe.inbox_writers();

    -- Gaps whose writers have all ended: every row they will ever hold is visible to the
    -- statements below (each takes its snapshot after this one read the locks).
    v_now := lethe.inbox_writers();
    SELECT coalesce(array_agg(g.lo), '{}') INTO v_settled
      FROM lethe.inbox_gaps g WHERE NOT (g.writers && v_now);
    IF cardinality(v_settled) > 0 THEN
        INSERT INTO lethe.inbox_items (tenant_id, item_id)
        SELECT i.tenant_id, i.item_id
          FROM lethe.inbox_gaps g
          JOIN lethe.items i ON i.seq BETWEEN g.lo AND g.hi
          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
         WHERE g.lo = ANY (v_settled)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        v_items := v_items + n;
        INSERT INTO lethe.inbox_events (tenant_id, event_id)
        SELECT e.tenant_id, e.event_id
          FROM lethe.inbox_gaps g
          JOIN lethe.events e ON e.seq BETWEEN g.lo AND g.hi
         WHERE g.lo = ANY (v_settled)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        v_events := v_events + n;
        DELETE FROM lethe.inbox_gaps g WHERE g.lo = ANY (v_settled);
    END IF;

    -- The numbers after high, up to W, in one statement (one snapshot): the rows it sees go to
    -- the inbox, the numbers it does not see become gaps kept with the writers read above.
    IF v_w > v_high THEN
        WITH fresh AS MATERIALIZED (
            SELECT i.seq, i.tenant_id, i.item_id, NULL::bigint AS event_id, k.customer_data AS keep
              FROM lethe.items i JOIN lethe.kinds k ON k.kind = i.kind
             WHERE i.seq > v_high AND i.seq <= v_w
            UNION ALL
            SELECT e.seq, e.tenant_id, NULL::uuid, e.event_id, true
              FROM lethe.events e
             WHERE e.seq > v_high AND e.seq <= v_w
        ), to_items AS (
            INSERT INTO lethe.inbox_items (tenant_id, item_id)
            SELECT f.tenant_id, f.item_id FROM fresh f WHERE f.item_id IS NOT NULL AND f.keep
            ON CONFLICT DO NOTHING
            RETURNING 1
        ), to_events AS (
            INSERT INTO lethe.inbox_events (tenant_id, event_id)
            SELECT f.tenant_id, f.event_id FROM fresh f WHERE f.event_id IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING 1
        ), numbers AS (
            SELECT s.seq, lag(s.seq, 1, v_high) OVER (ORDER BY s.seq) AS prev
              FROM (SELECT f.seq FROM fresh f UNION ALL SELECT v_w + 1) s
        ), gaps AS (
            INSERT INTO lethe.inbox_gaps (lo, hi, writers)
            SELECT x.prev + 1, x.seq - 1, v_writers FROM numbers x WHERE x.seq > x.prev + 1
            RETURNING 1
        )
        SELECT v_items + (SELECT count(*) FROM to_items), v_events + (SELECT count(*) FROM to_events)
          INTO v_items, v_events;
        UPDATE lethe.inbox_watermark SET high = v_w;
    END IF;
    RETURN v_items + v_events;
END $$;
