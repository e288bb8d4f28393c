-- An idle fill writes nothing.
--
-- lethe.inbox_fill() (sql/0043_inbox_watermark.sql) took its watermark row FOR UPDATE before
-- it knew whether there was anything to fill. Locking a row writes it (its xmax), so every fill
-- had a transaction id and its commit waited for the WAL to reach the disk: status and explain,
-- which fill before they read, paid one synchronous commit each on a catalog with nothing new
-- (3 to 50 ms of the 100 ms status is allowed, depending on the disk; measured in
-- tests/bench/RESULTS.md).
--
-- The function now looks first, without a lock: when the sequence's last value is the committed
-- watermark and no gap is kept, it returns 0 at once, having written nothing. That is sound
-- without the lock: the watermark only rises, to a value read from the sequence, and the
-- sequence only rises, so a watermark equal to the value just read means every number drawn so
-- far was looked at by a fill that committed; a fill still at work has numbers above the
-- committed watermark to look at only if the sequence is past it, which this look would see.
-- A number drawn after the look is the next fill's, as it always was. Everything else is
-- unchanged: the checks of the sequence, and the locked fill.

CREATE OR REPLACE FUNCTION lethe.inbox_fill() RETURNS bigint
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
    -- A look without the lock first: nothing numbered since the committed watermark, no gap
    -- kept, and a sequence as it must be (else the locked path below says what is wrong).
    SELECT w.high INTO v_high FROM lethe.inbox_watermark w;
    SELECT s.last_value, s.is_called INTO v_w, v_called FROM lethe.catalog_seq s;
    IF (CASE WHEN v_called THEN v_w ELSE 0 END) = v_high
       AND NOT EXISTS (SELECT 1 FROM lethe.inbox_gaps)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_sequence q
                        WHERE q.seqrelid = 'lethe.catalog_seq'::regclass
                          AND (q.seqcache <> 1 OR q.seqcycle)) THEN
        RETURN 0;
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
