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
--   such numbers are kept as gaps, with their writers. Each fill takes the rows of a gap that
--   have become visible (a writer committed) and keeps the numbers still unseen; once every
--   writer of a gap has ended (a lock is released only after its commit is visible) what is
--   still unseen was rolled back, and the gap goes. A prepared transaction (two-phase commit)
--   holds its locks under another id than the session's that drew its number: while one holds
--   a write lock on items or events, no gap goes. Nothing is missed and nothing is filled twice;
--   a writer left open delays only its own rows, which go to the fill after its commit.
-- - The sequence must hand out numbers one at a time, in order: no cache (a session's cached
--   numbers would be drawn after a higher last value was read), no cycle, never set back. The
--   fill refuses otherwise. Rows present before this migration are numbered 0 (a default kept
--   in the catalog: no rewrite); seq is NOT NULL, so no row can be stored unnumbered.
-- - lethe.inbox_watermark.high: every number up to it was looked at (its row filled, or kept in
--   a gap). Both tables are the engine's own; on Citus they stay on the coordinator, with the
--   sequence and the locks they are about.
--
-- A run, status and explain fill the inbox before they read it (in a transaction of their own,
-- READ COMMITTED); a dry run fills inside its own transaction, which it rolls back. A fill that
-- finds another at work skips (SKIP LOCKED): what that one fills is there for the next look.
-- What differs from the triggers: a producer's rows are in the inbox once lethe has looked, not
-- at its commit (the readers of sql/0044_inbox_readers.sql count them before); and a row whose
-- writer is still open when a run looks is taken by a later run. The rows present before this
-- migration were put in the inbox by the triggers already.

CREATE SEQUENCE lethe.catalog_seq AS bigint;

ALTER TABLE lethe.items ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE lethe.items ALTER COLUMN seq SET DEFAULT nextval('lethe.catalog_seq');
ALTER TABLE lethe.events ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE lethe.events ALTER COLUMN seq SET DEFAULT nextval('lethe.catalog_seq');
CREATE INDEX items_seq ON lethe.items (seq);
CREATE INDEX events_seq ON lethe.events (seq);

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
    CHECK (lo <= hi)
);
-- No unique key: each fill replaces the gaps in one statement (disjoint ranges by construction).
CREATE INDEX inbox_gaps_lo ON lethe.inbox_gaps (lo);

-- The transactions other than this session's that hold RowExclusiveLock on items or events, by
-- virtual transaction id; a prepared transaction's (no process: pid null) marked 'prepared '.
CREATE FUNCTION lethe.inbox_writers() RETURNS text[] LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(array_agg(DISTINCT CASE WHEN l.pid IS NULL THEN 'prepared ' ELSE '' END
                                       || l.virtualtransaction), '{}')
      FROM pg_catalog.pg_locks l
     WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
       AND l.relation IN ('lethe.items'::regclass, 'lethe.events'::regclass)
       AND l.pid IS DISTINCT FROM pg_backend_pid()
$$;

-- Moves what producers committed since the last fill into inbox_items and inbox_events, and
-- returns how many rows it moved (NULL when another fill is at work: it skips). One fill at a
-- time (the watermark's row lock). In READ COMMITTED, so that each statement sees what ended
-- before it.
CREATE FUNCTION lethe.inbox_fill() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_high bigint;
    v_w bigint;
    v_called boolean;
    v_writers text[];
    v_now text[];
    v_prepared boolean;
    v_items bigint;
    v_events bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'lethe.inbox_fill() runs in READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state',
                  HINT = 'each of its statements must see what ended before it: call it in a transaction of its own';
    END IF;
    SELECT w.high INTO v_high FROM lethe.inbox_watermark w FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_sequence q
                WHERE q.seqrelid = 'lethe.catalog_seq'::regclass AND (q.seqcache <> 1 OR q.seqcycle)) THEN
        RAISE EXCEPTION 'lethe.catalog_seq must not cache or cycle: a cached number is drawn after a higher one was read'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'ALTER SEQUENCE lethe.catalog_seq CACHE 1 NO CYCLE';
    END IF;
    SELECT s.last_value, s.is_called INTO v_w, v_called FROM lethe.catalog_seq s;
    IF NOT v_called THEN
        v_w := 0;
    END IF;
    IF v_w < v_high THEN
        RAISE EXCEPTION 'lethe.catalog_seq went back (% after %): numbers below what was looked at would be missed',
                        v_w, v_high
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'set it past the watermark again: SELECT setval(''lethe.catalog_seq'', (SELECT high FROM lethe.inbox_watermark))';
    END IF;
    -- An idle fill: nothing numbered since, and no gap waiting.
    IF v_w = v_high AND NOT EXISTS (SELECT 1 FROM lethe.inbox_gaps) THEN
        RETURN 0;
    END IF;
    -- Read after W: whoever drew a number up to W and has not ended is here.
    v_writers := lethe.inbox_writers();
    -- Which gaps' writers have all ended: read before the statement below takes its snapshot,
    -- so that every row those writers committed is visible to it. A prepared transaction holds
    -- its locks under another id: none goes while one writes.
    v_now := v_writers;
    v_prepared := EXISTS (SELECT 1 FROM unnest(v_now) x WHERE x LIKE 'prepared %');

    -- One statement, one snapshot: the old gaps and the numbers after high up to W. What it sees
    -- goes to the inbox; what it does not see stays a gap with its writers, unless they have all
    -- ended (rolled back).
    WITH old AS (
        DELETE FROM lethe.inbox_gaps g RETURNING g.lo, g.hi, g.writers
    ), ranges AS MATERIALIZED (
        SELECT o.lo, o.hi, o.writers, NOT v_prepared AND NOT (o.writers && v_now) AS settled FROM old o
        UNION ALL
        SELECT v_high + 1, v_w, v_writers, false WHERE v_w > v_high
    ), fresh AS MATERIALIZED (
        SELECT i.seq, i.tenant_id, i.item_id, NULL::bigint AS event_id, k.customer_data AS keep
          FROM ranges r JOIN lethe.items i ON i.seq BETWEEN r.lo AND r.hi
          JOIN lethe.kinds k ON k.kind = i.kind
        UNION ALL
        SELECT e.seq, e.tenant_id, NULL::uuid, e.event_id, true
          FROM ranges r JOIN lethe.events e ON e.seq BETWEEN r.lo AND r.hi
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
        SELECT r.lo, r.writers, x.seq, lag(x.seq) OVER (PARTITION BY r.lo ORDER BY x.seq) AS prev
          FROM ranges r
          CROSS JOIN LATERAL (SELECT f.seq FROM fresh f WHERE f.seq BETWEEN r.lo AND r.hi
                              UNION ALL SELECT r.lo - 1 UNION ALL SELECT r.hi + 1) x
         WHERE NOT r.settled
    ), gaps AS (
        INSERT INTO lethe.inbox_gaps (lo, hi, writers)
        SELECT n.prev + 1, n.seq - 1, n.writers FROM numbers n WHERE n.seq > n.prev + 1
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM to_items), (SELECT count(*) FROM to_events)
      INTO v_items, v_events;
    UPDATE lethe.inbox_watermark SET high = v_w WHERE high <> v_w;
    RETURN v_items + v_events;
END $$;
