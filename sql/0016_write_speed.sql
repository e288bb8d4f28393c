-- Speed of what every run and every producer writes (issue 14): the same refusals and the same
-- rows, cheaper. Nothing is accepted that was refused, nor refused that was accepted; every
-- message is the same.

-- ---- producers' inserts ------------------------------------------------------------------

-- As sql/0001_catalog.sql wrote it, with the checks run one after another only when one of
-- them fails. A statement of good rows is checked by one pass over its new rows (a join with
-- kinds, geos and workspaces, and a lookup of each named parent), not nine; the walk that
-- finds loops runs only when some new row's parent is in the same statement (an item that is
-- its own parent is one). 20,000 new items: the trigger took 106 ms, now 36 ms
-- (tests/bench/RESULTS.md, "The matrix at 1M items").
CREATE OR REPLACE FUNCTION lethe.items_check_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (
           SELECT 1 FROM new_items n
             LEFT JOIN lethe.kinds k ON k.kind = n.kind
             LEFT JOIN lethe.geos g ON g.geo = n.location
             LEFT JOIN lethe.workspaces w ON w.tenant_id = n.tenant_id AND w.workspace_id = n.workspace_id
            WHERE k.kind IS NULL OR g.geo IS NULL OR n.locator IS NULL OR w.workspace_id IS NULL
               OR (n.parent_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM lethe.items p
                                    WHERE p.tenant_id = n.tenant_id AND p.item_id = n.parent_id))
               OR (n.kind = 'upload' AND (n.shared OR n.location <> w.geo)))
       -- A set operation, which hashes or sorts: the planner knows nothing of a transition
       -- table's size, and a join of it with itself went to a nested loop (40,000 rows: 2 min).
       AND NOT EXISTS (SELECT n.tenant_id, n.parent_id FROM new_items n WHERE n.parent_id IS NOT NULL
                       INTERSECT
                       SELECT n.tenant_id, n.item_id FROM new_items n) THEN
        RETURN NULL;
    END IF;
    -- Something is wrong, or a loop is possible: the checks in their order, each naming the
    -- first row it refuses.
    SELECT n.item_id, n.kind INTO r FROM new_items n
     WHERE NOT EXISTS (SELECT 1 FROM lethe.kinds k WHERE k.kind = n.kind) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: unknown kind "%"', r.item_id, r.kind
            USING ERRCODE = 'check_violation',
                  HINT = 'kinds are prompt, response, retrieved, pinned, upload, m365, system_log';
    END IF;
    SELECT n.item_id, n.location INTO r FROM new_items n
     WHERE NOT EXISTS (SELECT 1 FROM lethe.geos g WHERE g.geo = n.location) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: unknown geo "%" in location', r.item_id, r.location
            USING ERRCODE = 'check_violation',
                  HINT = 'geos are listed in lethe.geos; an operator adds new ones there first';
    END IF;
    SELECT n.item_id INTO r FROM new_items n WHERE n.locator IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: locator must not be null', r.item_id
            USING ERRCODE = 'not_null_violation',
                  HINT = 'the locator is the address of the stored object, handed to the deleter';
    END IF;
    SELECT n.item_id, n.workspace_id INTO r FROM new_items n
     WHERE NOT EXISTS (SELECT 1 FROM lethe.workspaces w
                        WHERE w.tenant_id = n.tenant_id AND w.workspace_id = n.workspace_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: workspace % does not exist in its tenant', r.item_id, r.workspace_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'insert the workspace into lethe.workspaces first';
    END IF;
    SELECT n.item_id INTO r FROM new_items n WHERE n.parent_id = n.item_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: an item cannot be its own parent', r.item_id
            USING ERRCODE = 'check_violation',
                  HINT = 'parent_id names the item this one was copied or derived from';
    END IF;
    SELECT n.item_id, n.parent_id INTO r FROM new_items n
     WHERE n.parent_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lethe.items p
                        WHERE p.tenant_id = n.tenant_id AND p.item_id = n.parent_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: parent % does not exist in its tenant', r.item_id, r.parent_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'insert the parent first, in the same tenant';
    END IF;
    -- Rows inserted earlier can only name parents that already existed, so a loop can only
    -- be made within one statement. Walk down from the rows whose parent lies outside it;
    -- a row never reached sits on (or hangs from) a loop, which would make lineage endless.
    -- Found with EXCEPT rather than NOT EXISTS: the planner cannot estimate CTE sizes,
    -- and a nested-loop anti join would make a 10,000-row load quadratic.
    WITH RECURSIVE lineage AS (
        SELECT n.tenant_id, n.item_id, n.parent_id, p.item_id IS NOT NULL AS parent_in_statement
          FROM new_items n
          LEFT JOIN new_items p ON p.tenant_id = n.tenant_id AND p.item_id = n.parent_id
    ), reached (tenant_id, item_id) AS (
        SELECT tenant_id, item_id FROM lineage WHERE NOT parent_in_statement
        UNION ALL
        SELECT l.tenant_id, l.item_id FROM reached x
          JOIN lineage l ON l.parent_in_statement AND l.tenant_id = x.tenant_id AND l.parent_id = x.item_id
    )
    SELECT u.item_id INTO r
      FROM (SELECT tenant_id, item_id FROM lineage EXCEPT SELECT tenant_id, item_id FROM reached) u
     ORDER BY u.item_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: its chain of parents loops back on itself', r.item_id
            USING ERRCODE = 'check_violation',
                  HINT = 'parent_id names the item this one was copied or derived from; a copy cannot be its own ancestor';
    END IF;
    SELECT n.item_id INTO r FROM new_items n WHERE n.kind = 'upload' AND n.shared LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: an upload cannot be shared', r.item_id
            USING ERRCODE = 'check_violation',
                  HINT = 'uploaded files stay in their workspace; share a derived copy instead';
    END IF;
    SELECT n.item_id, n.location, w.geo INTO r FROM new_items n
      JOIN lethe.workspaces w ON w.tenant_id = n.tenant_id AND w.workspace_id = n.workspace_id
     WHERE n.kind = 'upload' AND n.location <> w.geo LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: an upload must be stored in its workspace''s geo %, not %',
                        r.item_id, r.geo, r.location
            USING ERRCODE = 'check_violation',
                  HINT = 'a workspace''s storage geo is fixed at creation and uploads stay in it';
    END IF;
    RETURN NULL;
END $$;

-- ---- hex formats ------------------------------------------------------------------------

-- Lower-case hex: no character outside the sixteen. ltrim(x, '0123456789abcdef') walked the
-- set for every character (3 us a value); a negated bracket expression without ranges (which
-- no collation can widen) is 0.4 us. 50,000 values: 157 ms against 22 ms. The audit checks
-- two or three values a record, the locator HMACs one a purged item.
ALTER TABLE lethe.audit
    DROP CONSTRAINT audit_hash_format,
    ADD CONSTRAINT audit_hash_format CHECK (octet_length(hash) = 64 AND hash !~ '[^0123456789abcdef]'
        AND octet_length(prev_hash) = 64 AND prev_hash !~ '[^0123456789abcdef]'),
    DROP CONSTRAINT audit_subject_hmac_format,
    ADD CONSTRAINT audit_subject_hmac_format CHECK (octet_length(subject_hmac) = 64
        AND subject_hmac !~ '[^0123456789abcdef]');
ALTER TABLE lethe.locator_hmacs
    DROP CONSTRAINT locator_hmacs_format,
    ADD CONSTRAINT locator_hmacs_format CHECK (octet_length(locator_hmac) = 64
        AND locator_hmac !~ '[^0123456789abcdef]');

-- ---- locator HMACs -----------------------------------------------------------------------

-- Every purged item's HMAC is recorded as its manifest is written; reconcile is the only reader
-- that looks them up by value, and it compares a storage location's whole inventory with the
-- catalog (its orphans are found against every item of the location, which no index serves
-- either): a hash join, for which this index is not needed. Keeping it cost every purge a
-- random insert into it: 20,000 HMACs recorded in a 1M-item catalog, 236 ms with it and 128 ms
-- without (medians of 3, each after a checkpoint, as a run finds the index).
DROP INDEX lethe.locator_hmacs_match;

-- ---- the run -----------------------------------------------------------------------------

-- As sql/0002_rules.sql wrote it, with the new items looked up one by one by key (the OFFSET 0
-- keeps the lookup a subquery). Joined as a set, the planner merged them with a scan of every
-- item: 100,000 new items in a 1M-item catalog, 1.61 s, of which 1.28 s reading the whole
-- index of items; looked up, 0.56 s, and a cost that follows the new items, not the catalog.
CREATE OR REPLACE FUNCTION lethe.derive_consume(p_k integer, p_n integer,
                                     OUT events integer, OUT items integer, OUT obligations integer)
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS seeds (
        tenant_id uuid, item_id uuid, rule text, obligation_id bigint, triggered_at timestamptz,
        depth integer, PRIMARY KEY (tenant_id, item_id, rule, obligation_id)) ON COMMIT DROP;
    CREATE TEMP TABLE new_events ON COMMIT DROP AS
    WITH d AS (DELETE FROM lethe.inbox_events b WHERE lethe.in_shard(b.tenant_id, p_k, p_n)
               RETURNING b.tenant_id, b.event_id)
    SELECT e.* FROM d JOIN lethe.events e USING (tenant_id, event_id);
    GET DIAGNOSTICS events = ROW_COUNT;
    CREATE TEMP TABLE new_items ON COMMIT DROP AS
    WITH d AS (DELETE FROM lethe.inbox_items b WHERE lethe.in_shard(b.tenant_id, p_k, p_n)
               RETURNING b.tenant_id, b.item_id)
    SELECT i.* FROM d
     CROSS JOIN LATERAL (SELECT i.* FROM lethe.items i
                          WHERE i.tenant_id = d.tenant_id AND i.item_id = d.item_id
                            AND i.locator IS NOT NULL
                         OFFSET 0) i;
    GET DIAGNOSTICS items = ROW_COUNT;

    -- Events become obligations at the scope they were given.
    INSERT INTO lethe.obligations (tenant_id, rule, event_id, reference, workspace_id, subject_id,
                                   item_id, shared_only, triggered_at, covers_until)
    SELECT e.tenant_id,
           CASE e.type WHEN 'deletion_requested' THEN
                    CASE WHEN e.subject_id IS NULL THEN 'deletion_request' ELSE 'subject_request' END
                WHEN 'capacity_deleted' THEN 'capacity_deleted'
                ELSE 'sharing_opt_out' END,
           e.event_id, e.reference, e.workspace_id, e.subject_id, e.item_id,
           e.type = 'sharing_opted_out', e.occurred_at, e.occurred_at
      FROM new_events e
     WHERE e.type IN ('deletion_requested', 'capacity_deleted', 'sharing_opted_out')
    ON CONFLICT (tenant_id, event_id) DO NOTHING;
    GET DIAGNOSTICS obligations = ROW_COUNT;
END $$;

-- As sql/0014_cycle_speed.sql wrote it, with acknowledgements of the same tenants taking turns
-- (below), and the search for other open batches of the batch's items done only for the items
-- that can have one. The batch's items were written in this run, so the statistics of
-- batch_items know nothing of them; told there was one open batch item,
-- the planner read every open batch item and looked each up in the batch: a tenant-wide
-- request over 100,000 fresh items (ten batches) read 90,000 open items per acknowledgement,
-- 70 ms each, and a run with more batches pays that once per batch for every item in flight.
CREATE OR REPLACE FUNCTION lethe.ack_batch(p_batch uuid, p_acked uuid[], p_failed uuid[], p_reasons text[],
                                p_ack_rest boolean, p_whole_failed boolean, p_detail text,
                                p_operator text,
                                OUT purged integer, OUT failed integer, OUT foreign_receipts integer,
                                OUT state text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    b lethe.batches;
    was_open boolean;
    purge_time timestamptz;
    n_left integer;
    lock_key integer;
BEGIN
    purged := 0;
    failed := 0;
    SELECT * INTO b FROM lethe.batches x WHERE x.batch_id = p_batch FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown batch %', p_batch USING ERRCODE = 'no_data_found';
    END IF;
    -- The receipts, each item once: acked, or failed with the first reason given for it.
    CREATE TEMP TABLE ack_receipts ON COMMIT DROP AS
    SELECT coalesce(f.item_id, a.item_id) AS item_id, f.item_id IS NOT NULL AS failed,
           a.item_id IS NOT NULL AS acked, f.reason
      FROM (SELECT DISTINCT x.item_id FROM unnest(coalesce(p_acked, '{}')) x(item_id)) a
      FULL JOIN (SELECT DISTINCT ON (x.item_id) x.item_id, x.reason
                   FROM unnest(coalesce(p_failed, '{}'), p_reasons) WITH ORDINALITY x(item_id, reason, n)
                  WHERE x.item_id IS NOT NULL
                  ORDER BY x.item_id, x.n) f ON f.item_id = a.item_id;
    ANALYZE ack_receipts;
    SELECT count(*) INTO foreign_receipts
      FROM ack_receipts r
     WHERE NOT EXISTS (SELECT 1 FROM lethe.batch_items bi
                        WHERE bi.batch_id = p_batch AND bi.item_id = r.item_id);
    state := b.state;
    IF b.state = 'acknowledged' THEN
        DROP TABLE ack_receipts;
        RETURN;
    END IF;
    was_open := b.state = 'open';

    -- Acknowledgements that touch the same tenants take turns, taking their locks in one
    -- order, so that two of them never wait on each other's items (a deadlock), and each
    -- chooses its items below only once it has its turn, seeing what the other purged: a late
    -- acknowledgement of a failed batch and the acknowledgement of the batch that holds its
    -- items again, made at the same time, purged the items once but failed the second on the
    -- unique purge index.
    FOR lock_key IN SELECT DISTINCT hashtext(bi.tenant_id::text) FROM lethe.batch_items bi
                     WHERE bi.batch_id = p_batch ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(7283314, lock_key);
    END LOOP;

    -- The items this acknowledgement may settle: the open ones, or after a failure the failed
    -- ones (a late ack). Items purged through another batch meanwhile are left as they are:
    -- each item is purged, and audited, once.
    CREATE TEMP TABLE ack_its ON COMMIT DROP AS
    SELECT bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.subject_hmac, bi.triggered_at,
           bi.deadline_at, bi.outcome,
           (p_ack_rest AND NOT coalesce(r.failed, false)) OR coalesce(r.acked, false) AS acked,
           r.reason
      FROM lethe.batch_items bi
      LEFT JOIN ack_receipts r ON r.item_id = bi.item_id
     WHERE bi.batch_id = p_batch
       AND (bi.outcome IS NULL OR (NOT was_open AND bi.outcome = 'failed'))
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');
    ALTER TABLE ack_its ADD PRIMARY KEY (tenant_id, item_id);
    ANALYZE ack_its;


    -- Open items without an acknowledging receipt fail, and are due again at the next run.
    IF EXISTS (SELECT 1 FROM ack_its a WHERE a.outcome IS NULL AND NOT a.acked) THEN
        WITH f AS (
            UPDATE lethe.batch_items bi
               SET outcome = 'failed',
                   reason = coalesce(a.reason, CASE WHEN p_whole_failed THEN p_detail ELSE 'no receipt' END)
              FROM ack_its a
             WHERE bi.batch_id = p_batch AND bi.tenant_id = a.tenant_id AND bi.item_id = a.item_id
               AND a.outcome IS NULL AND NOT a.acked
            RETURNING bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.triggered_at, bi.deadline_at)
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                                 triggered_at, deadline_at, location, operator)
        SELECT f.tenant_id, 'item_failed', b.run_id, p_batch, f.item_id, f.rule, f.reference,
               f.triggered_at, f.deadline_at, b.location, p_operator
          FROM f ORDER BY f.tenant_id, f.item_id;
        GET DIAGNOSTICS failed = ROW_COUNT;
        DELETE FROM ack_its WHERE NOT acked;
    ELSIF EXISTS (SELECT 1 FROM ack_its a WHERE NOT a.acked) THEN
        DELETE FROM ack_its WHERE NOT acked;
    END IF;

    -- Another open batch holding one of these items gives it up. An item has one open batch
    -- item at most (batch_items_one_open), so only an item whose row here is closed already
    -- (a late acknowledgement after a failure) can be open in another batch.
    IF EXISTS (SELECT 1 FROM ack_its a WHERE a.outcome IS NOT NULL) THEN
        UPDATE lethe.batch_items x SET outcome = 'superseded'
          FROM ack_its a
         WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id AND x.outcome IS NULL
           AND x.batch_id <> p_batch AND a.outcome IS NOT NULL;
    END IF;
    purge_time := clock_timestamp();
    UPDATE lethe.items i SET locator = NULL, owner_id = NULL
      FROM ack_its a WHERE i.tenant_id = a.tenant_id AND i.item_id = a.item_id;
    UPDATE lethe.batch_items bi SET outcome = 'purged', purged_at = purge_time, reason = NULL
      FROM ack_its a
     WHERE bi.batch_id = p_batch AND bi.tenant_id = a.tenant_id AND bi.item_id = a.item_id;
    GET DIAGNOSTICS purged = ROW_COUNT;
    DELETE FROM lethe.item_obligations p USING ack_its a
     WHERE p.tenant_id = a.tenant_id AND p.item_id = a.item_id;
    -- An item held past its deadline is recorded with on_time = false and the hold's
    -- reference, and counted as held (detail 'held'), not late.
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                             triggered_at, deadline_at, purged_at, on_time, location,
                             hold_id, subject_hmac, operator, detail)
    SELECT a.tenant_id, 'item_purged', b.run_id, p_batch, a.item_id, a.rule,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN h.reference
                ELSE a.reference END,
           a.triggered_at, a.deadline_at, purge_time, purge_time <= a.deadline_at, b.location,
           CASE WHEN purge_time > a.deadline_at THEN hb.hold_id END,
           a.subject_hmac, p_operator,
           CASE WHEN hb.hold_id IS NOT NULL AND purge_time > a.deadline_at THEN 'held' END
      FROM ack_its a
      LEFT JOIN LATERAL (SELECT x.hold_id FROM lethe.hold_blocks x
                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id
                          ORDER BY x.blocked_at DESC LIMIT 1) hb ON true
      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id
     ORDER BY a.tenant_id, a.item_id;
    DROP TABLE ack_its, ack_receipts;

    SELECT count(*) INTO n_left FROM lethe.batch_items bi
     WHERE bi.batch_id = p_batch AND bi.outcome = 'failed'
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');
    state := CASE WHEN n_left = 0 THEN 'acknowledged' ELSE 'failed' END;
    IF state = b.state AND purged = 0 AND failed = 0 THEN
        RETURN;   -- a retry that settles nothing new records nothing
    END IF;
    UPDATE lethe.batches x
       SET state = ack_batch.state, closed_at = clock_timestamp(),
           error = CASE WHEN p_whole_failed THEN p_detail ELSE x.error END
     WHERE x.batch_id = p_batch;
    IF state = 'acknowledged' OR NOT was_open THEN
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
        VALUES ('00000000-0000-0000-0000-000000000000', 'batch_acknowledged', b.run_id, p_batch,
                b.location, purged, p_operator,
                nullif(concat_ws(', ', CASE WHEN NOT was_open THEN 'late' END,
                                 CASE WHEN n_left > 0 THEN n_left || ' still failed' END), ''));
    ELSE
        INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
        VALUES ('00000000-0000-0000-0000-000000000000', 'batch_failed', b.run_id, p_batch,
                b.location, failed, p_operator,
                CASE WHEN p_whole_failed THEN p_detail
                     ELSE failed || ' of ' || b.items || ' items failed' END);
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text) FROM PUBLIC;

-- ---- remembered blocks -------------------------------------------------------------------

-- As sql/0013_held.sql wrote it, and a tenant with an event not consumed yet is not valid
-- either. A run consumes events before it reads the memory, which then forgets their tenants;
-- status, export --summary and explain read it without consuming, and a sharing event dated
-- earlier (an opt-in before a shared copy was made) changed what they should say while they
-- still said what the memory held (a violation that no longer was one) until the next run.
CREATE OR REPLACE FUNCTION lethe.held_valid(p_as_of timestamptz, p_k integer, p_n integer)
RETURNS TABLE (tenant_id uuid, items bigint)
LANGUAGE sql STABLE AS $$
    WITH d AS MATERIALIZED (SELECT lethe.rules_digest() AS digest)
    SELECT t.tenant_id, t.items
      FROM lethe.held_tenants t CROSS JOIN d
     WHERE lethe.in_shard(t.tenant_id, p_k, p_n)
       AND p_as_of >= t.checked_as_of AND p_as_of < t.recheck_at
       AND t.rules_digest = d.digest
       AND t.holds = (SELECT count(*) FROM lethe.holds h WHERE h.tenant_id = t.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = t.tenant_id AND h.hold_id = ANY (t.hold_ids)
                          AND NOT (h.placed_at <= p_as_of
                                   AND (h.released_at IS NULL OR h.released_at > p_as_of)))
       AND NOT EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE b.tenant_id = t.tenant_id)
$$;
