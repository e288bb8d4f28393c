-- Lineage to any depth (SPEC §3: obligations reach copies "through any number of levels"; a
-- copy never outlives its source). The walks up and down parent_id stopped at 64 levels: a
-- copy more than 64 levels below the item an obligation or a hold reached was not evaluated
-- under it. While its ancestors were held, scheduled or in flight it was missed (item_status
-- called it live), and a hold on an ancestor more than 64 levels up did not hold it (a run
-- batched 1,437 of 1,500 copies under a hold on their root). The walks now follow every level.
--
-- Every walk still stops at lineage_max_depth() levels, so that it always ends: loops of
-- parents cannot be written through the contract (an item is immutable and names a parent
-- that exists, or one in the same statement, where the insert check walks the new rows for
-- loops), but rows written around those checks (by the table's owner, or on Citus, where the
-- check is one of lethe.citus_gaps) could make one. Such rows cost a bounded walk, and never
-- stop the runs of other tenants (or a migration) with an error.

CREATE FUNCTION lethe.lineage_max_depth() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 100000 $$;

-- As sql/0002_rules.sql wrote it (explain's obligation_via reads it), to any depth.
CREATE OR REPLACE FUNCTION lethe.ancestry(p_tenant uuid, p_item uuid)
RETURNS TABLE (item_id uuid, parent_id uuid, workspace_id uuid, owner_id text, shared boolean,
               created_at timestamptz, kind text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT i.item_id, i.parent_id, i.workspace_id, i.owner_id, i.shared, i.created_at,
               i.kind, 0 AS depth
          FROM lethe.items i WHERE i.tenant_id = p_tenant AND i.item_id = p_item
        UNION ALL
        SELECT p.item_id, p.parent_id, p.workspace_id, p.owner_id, p.shared, p.created_at,
               p.kind, up.depth + 1
          FROM lethe.items p JOIN up ON p.tenant_id = p_tenant AND p.item_id = up.parent_id
         WHERE up.depth < lethe.lineage_max_depth()
    )
    SELECT * FROM up
$$;

-- As sql/0007_lineage.sql wrote it: the one walk up that lineage(), standing(), item_status,
-- explain and every run read, to any depth.
CREATE OR REPLACE FUNCTION lethe.ancestors(p_tenants uuid[], p_items uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, anc uuid, workspace_id uuid, owner_id text,
               owner_digest bytea, shared boolean, created_at timestamptz, customer_data boolean,
               purged boolean, self_customer_data boolean, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT i.tenant_id, i.item_id, i.item_id AS anc, i.parent_id, i.workspace_id, i.owner_id,
               i.owner_digest, i.shared, i.created_at, k.customer_data, i.locator IS NULL AS purged,
               k.customer_data AS self_customer_data, 0 AS depth
          FROM unnest(p_tenants, p_items) x (t, id)
          JOIN lethe.items i ON i.tenant_id = x.t AND i.item_id = x.id
          JOIN lethe.kinds k ON k.kind = i.kind
        UNION ALL
        SELECT up.tenant_id, up.item_id, a.item_id, a.parent_id, a.workspace_id, a.owner_id,
               a.owner_digest, a.shared, a.created_at, k.customer_data, a.locator IS NULL,
               up.self_customer_data, up.depth + 1
          FROM up
          JOIN lethe.items a ON a.tenant_id = up.tenant_id AND a.item_id = up.parent_id
          JOIN lethe.kinds k ON k.kind = a.kind
         WHERE up.depth < lethe.lineage_max_depth()
    )
    SELECT up.tenant_id, up.item_id, up.anc, up.workspace_id, up.owner_id, up.owner_digest,
           up.shared, up.created_at, up.customer_data, up.purged, up.self_customer_data, up.depth
      FROM up
$$;

-- What the cut-short walks left behind: a run expanded an obligation to 64 levels of copies
-- and no further, and never looks at those obligations again. Every live Customer Data copy
-- more than 64 levels below an original goes back to the inbox, as a copy committed late: the
-- next run evaluates its whole lineage (obligations, pins of purged ancestors, holds), and
-- status counts it from its lineage until then. The walk follows the copies only (the index of
-- parents), level by level. On Citus lethe has never run (README, "Outgrowing one server"):
-- there is nothing to repair, and a walk over every tenant is not something Citus plans.
DO $repair$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    INSERT INTO lethe.inbox_items (tenant_id, item_id)
    WITH RECURSIVE down AS (
        SELECT c.tenant_id, c.item_id, 1 AS depth
          FROM lethe.items c
          JOIN lethe.items p ON p.tenant_id = c.tenant_id AND p.item_id = c.parent_id
         WHERE c.parent_id IS NOT NULL AND p.parent_id IS NULL
        UNION ALL
        SELECT c.tenant_id, c.item_id, d.depth + 1
          FROM down d JOIN lethe.items c ON c.tenant_id = d.tenant_id AND c.parent_id = d.item_id
         WHERE d.depth < lethe.lineage_max_depth()
    )
    SELECT d.tenant_id, d.item_id
      FROM down d
      JOIN lethe.items i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE d.depth > 64 AND i.locator IS NOT NULL
    ON CONFLICT DO NOTHING;
END $repair$;

-- ---- receipts name items by id alone -----------------------------------------------------
-- An item id is unique in its tenant only (the key is tenant_id, item_id), and a receipt says
-- "deleted <item_id>". Two tenants' items with the same id in one batch (one location) were
-- both acknowledged by one receipt: a deleter that deleted the first object and failed the
-- second printed "deleted X" and "failed X ...", and both were recorded purged, the second
-- object still stored. Now a batch never holds an item id twice (emit_batches, in
-- sql/0018_cycle_passes.sql, and repurge_emit below), and an item that has a failed
-- receipt fails, whatever else was printed for it: a deletion is recorded only on evidence
-- that does not contradict itself (an item failed wrongly is due again, and a deleter that
-- finds it gone says "absent").

-- Batches emitted before this migration may hold one id twice; their receipts cannot tell
-- the two rows apart. In open and failed batches every row of such an id but the first
-- tenant's is given up (superseded): its item is due again and goes to a batch of its own at
-- the next run (a deleter that deleted it already says "absent" then). Nothing to do on Citus.
DO $split$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    UPDATE lethe.batch_items b SET outcome = 'superseded'
      FROM (SELECT x.batch_id, x.tenant_id, x.item_id,
                   row_number() OVER (PARTITION BY x.batch_id, x.item_id ORDER BY x.tenant_id) AS k
              FROM lethe.batch_items x JOIN lethe.batches y ON y.batch_id = x.batch_id
             WHERE y.state IN ('open', 'failed') AND (x.outcome IS NULL OR x.outcome = 'failed')) d
     WHERE d.k > 1 AND b.batch_id = d.batch_id AND b.tenant_id = d.tenant_id AND b.item_id = d.item_id;
END $split$;

-- As sql/0016_write_speed.sql wrote it; a failed receipt wins over a deleted one.
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
           NOT coalesce(r.failed, false) AND (p_ack_rest OR coalesce(r.acked, false)) AS acked,
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

-- As sql/0009_restore.sql wrote it; an item id once per batch.
CREATE OR REPLACE FUNCTION lethe.repurge_emit(p_run uuid, p_operator text, p_max integer)
RETURNS TABLE (batch_id uuid, location text, items integer)
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE repurge_facts ON COMMIT DROP AS
    SELECT c.*,
           coalesce((SELECT o.obligation_id FROM lethe.obligations o
                      WHERE o.tenant_id = c.tenant_id AND o.rule = c.rule
                        AND o.triggered_at = c.triggered_at
                        AND o.reference IS NOT DISTINCT FROM c.reference
                      ORDER BY o.obligation_id LIMIT 1), 0) AS obligation_id,
           coalesce(lethe.due_time(c.triggered_at, r.deadline, r.grace, s.lookahead), c.triggered_at)
               AS due_at,
           NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = c.tenant_id AND x.item_id = c.item_id
                          AND x.outcome = 'purged') AS purge_missing
      FROM repurge_candidates c
      LEFT JOIN lethe.rules r ON r.rule = c.rule
      CROSS JOIN lethe.settings s;

    INSERT INTO lethe.batches (batch_id, run_id, location, created_at, items, state, closed_at)
    SELECT f.purged_in, p_run, min(f.location), min(f.purged_at), count(*)::integer,
           'acknowledged', max(f.purged_at)
      FROM repurge_facts f WHERE f.purge_missing AND f.purged_in IS NOT NULL
     GROUP BY f.purged_in
    ON CONFLICT ON CONSTRAINT batches_pkey DO NOTHING;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at,
                                   outcome, purged_at)
    SELECT f.tenant_id, f.item_id, f.purged_in,
           (row_number() OVER (PARTITION BY f.purged_in ORDER BY f.tenant_id, f.item_id))::integer - 1,
           f.location, f.rule, f.obligation_id, f.reference, f.subject_hmac, f.triggered_at,
           f.due_at, f.deadline_at, 'purged', f.purged_at
      FROM repurge_facts f WHERE f.purge_missing AND f.purged_in IS NOT NULL
    ON CONFLICT ON CONSTRAINT batch_items_pkey
    DO UPDATE SET outcome = 'purged', purged_at = EXCLUDED.purged_at, reason = NULL;

    -- The repurge batch is now the one that deletes these items; any other open batch gives
    -- them up. Their obligations are spent: the items were purged.
    UPDATE lethe.batch_items x SET outcome = 'superseded'
      FROM repurge_facts f
     WHERE x.tenant_id = f.tenant_id AND x.item_id = f.item_id AND x.outcome IS NULL;
    DELETE FROM lethe.item_obligations p USING repurge_facts f
     WHERE p.tenant_id = f.tenant_id AND p.item_id = f.item_id;

    -- An item id once per batch, as emit_batches does (sql/0018_cycle_passes.sql).
    CREATE TEMP TABLE repurge_numbered ON COMMIT DROP AS
    SELECT f.*, (row_number() OVER (PARTITION BY f.location, f.dup ORDER BY f.tenant_id, f.item_id) - 1) AS rn
      FROM (SELECT f.*, row_number() OVER (PARTITION BY f.location, f.item_id ORDER BY f.tenant_id) - 1
                       AS dup
              FROM repurge_facts f) f;
    CREATE TEMP TABLE repurge_batches ON COMMIT DROP AS
    SELECT gen_random_uuid() AS batch_id, n.location, n.dup, n.rn / p_max AS bno, count(*)::integer AS items
      FROM repurge_numbered n GROUP BY n.location, n.dup, n.rn / p_max;

    INSERT INTO lethe.batches (batch_id, run_id, location, items)
    SELECT b.batch_id, p_run, b.location, b.items FROM repurge_batches b ORDER BY b.location, b.dup, b.bno;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at)
    SELECT n.tenant_id, n.item_id, b.batch_id, (n.rn % p_max)::integer, n.location, n.rule,
           n.obligation_id, n.reference, n.subject_hmac, n.triggered_at, n.due_at, n.deadline_at
      FROM repurge_numbered n JOIN repurge_batches b
        ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max;
    INSERT INTO lethe.repurges (tenant_id, item_id, batch_id, reason, proof_hash, locator)
    SELECT n.tenant_id, n.item_id, b.batch_id, n.reason, n.proof_hash, n.locator
      FROM repurge_numbered n JOIN repurge_batches b
        ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max;

    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                             triggered_at, deadline_at, location, subject_hmac, operator, detail)
    SELECT n.tenant_id, 'item_repurged', p_run, b.batch_id, n.item_id, n.rule, n.reference,
           n.triggered_at, n.deadline_at, n.location, n.subject_hmac, p_operator,
           n.reason || coalesce(' ' || n.proof_hash, '')
      FROM repurge_numbered n JOIN repurge_batches b
        ON b.location = n.location AND b.dup = n.dup AND b.bno = n.rn / p_max
     ORDER BY n.tenant_id, n.item_id;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
    SELECT '00000000-0000-0000-0000-000000000000', 'batch_emitted', p_run, b.batch_id, b.location,
           b.items, p_operator, 'repurge'
      FROM repurge_batches b ORDER BY b.location, b.dup, b.bno;

    RETURN QUERY SELECT b.batch_id, b.location, b.items FROM repurge_batches b ORDER BY b.location, b.dup, b.bno;
    DROP TABLE repurge_candidates, repurge_facts, repurge_numbered, repurge_batches;
END $$;

-- ---- the same answer in every session time zone --------------------------------------------
-- A month is a calendar month and a day a calendar day in the session's time zone: with
-- subject_request's deadline of one month, a request at 2025-10-30T23:30Z has its deadline at
-- 2025-11-30T23:30Z in UTC (what the engine, whose sessions are UTC, batches and audits) and at
-- 2025-11-29T23:30Z for an auditor whose psql runs in Europe/Berlin, reading item_status. The
-- definitions readers reach are pinned to UTC, so that item_status, explain and status say
-- what the run does, wherever they are read from. (A later CREATE OR REPLACE of one of them
-- must keep the setting.)
ALTER FUNCTION lethe.lineage(uuid[], uuid[], timestamptz, boolean, boolean) SET TimeZone = 'UTC';
ALTER FUNCTION lethe.standing(uuid[], uuid[], timestamptz) SET TimeZone = 'UTC';
ALTER FUNCTION lethe.evaluate_item(uuid, uuid, timestamptz) SET TimeZone = 'UTC';
ALTER FUNCTION lethe.pending_items(timestamptz) SET TimeZone = 'UTC';
ALTER FUNCTION lethe.pending_items_live(timestamptz) SET TimeZone = 'UTC';

REVOKE ALL ON FUNCTION lethe.lineage_max_depth() FROM PUBLIC;
