-- Deletions stay deleted (SPEC §7): a database restored from a backup is healed from its
-- exports (lethe replay), and storage that did not forget is found from its inventory (lethe
-- reconcile). Both put the items again into ordinary batches that the next run drives; an
-- acknowledgement then settles them without purging, or auditing the purge of, any item twice.
-- Must not change lethe.ack_batch, nor write lethe.audit other than through its functions.

-- ---- what a deleter was handed ----------------------------------------------------------------

-- HMAC-SHA256(audit key, locator) of every item handed to a deleter, recorded by the engine
-- (which holds the key; the database never does) when the batch's manifest is written. After
-- the tombstone this is all that is left of the locator: enough to recognise the object in an
-- inventory, never enough to name it.
CREATE TABLE lethe.locator_hmacs (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    location text NOT NULL,
    locator_hmac text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id),
    CONSTRAINT locator_hmacs_format CHECK (octet_length(locator_hmac) = 64
        AND ltrim(locator_hmac, '0123456789abcdef') = '')
);
-- reconcile looks an inventory's objects up by location and HMAC.
CREATE INDEX locator_hmacs_match ON lethe.locator_hmacs (location, locator_hmac);

-- ---- repurges ---------------------------------------------------------------------------------

-- An item purged once (its item_purged record says so) that is put into a batch again: its
-- catalog row came back with a restored database (reason 'replay'), or its object is still in
-- storage (reason 'reconcile'). The item keeps its one purged batch_items row; the repurge has
-- a row of its own in the new batch, and this one. locator is the address reconcile found in
-- the inventory: an object that exists again is addressed in clear only until its deleter
-- answers, exactly as long as a manifest holds it, and is cleared when the batch closes.
CREATE TABLE lethe.repurges (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    batch_id uuid NOT NULL REFERENCES lethe.batches,
    reason text NOT NULL CONSTRAINT repurges_reason_known CHECK (reason IN ('replay', 'reconcile')),
    proof_hash text,         -- replay: the hash of the item_purged record that proves the purge
    locator text,
    state text NOT NULL DEFAULT 'pending'
        CONSTRAINT repurges_state_known CHECK (state IN ('pending', 'done', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    PRIMARY KEY (tenant_id, item_id, batch_id),
    CONSTRAINT repurges_locator_while_pending CHECK (locator IS NULL OR state = 'pending')
);
CREATE INDEX repurges_batch ON lethe.repurges (batch_id);
CREATE UNIQUE INDEX repurges_one_pending ON lethe.repurges (tenant_id, item_id) WHERE state = 'pending';

-- ---- the new audit kind -------------------------------------------------------------------------

-- item_repurged joins the kinds the log accepts. Earlier migrations may have added kinds of
-- their own, so the list is extended as it stands rather than written out again, and
-- lethe.audit_flush() keeps whatever else it became (its security, its settings); a flush
-- whose kind check cannot be found is left alone, and the table's constraint still holds.
DO $kinds$
DECLARE
    v_kinds text[];
    v_fn text;
BEGIN
    SELECT array_agg(x.m[1] ORDER BY x.n) INTO v_kinds
      FROM pg_constraint c
     CROSS JOIN LATERAL regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g')
           WITH ORDINALITY AS x(m, n)
     WHERE c.conrelid = 'lethe.audit'::regclass AND c.conname = 'audit_kind_known';
    IF v_kinds IS NULL THEN
        RAISE EXCEPTION 'migrate: lethe.audit has no constraint audit_kind_known to extend';
    END IF;
    IF NOT 'item_repurged' = ANY (v_kinds) THEN
        ALTER TABLE lethe.audit DROP CONSTRAINT audit_kind_known;
        EXECUTE format('ALTER TABLE lethe.audit ADD CONSTRAINT audit_kind_known CHECK (kind IN (%s))',
                       (SELECT string_agg(quote_literal(k), ', ' ORDER BY n)
                          FROM unnest(v_kinds || 'item_repurged'::text) WITH ORDINALITY AS u(k, n)));
    END IF;

    v_fn := pg_get_functiondef('lethe.audit_flush()'::regprocedure);
    IF strpos(v_fn, 'item_repurged') = 0 AND v_fn ~ '''checkpoint''(, ''[a-z_]+'')*\)' THEN
        v_fn := regexp_replace(v_fn, '''checkpoint''((, ''[a-z_]+'')*)\)',
                               '''checkpoint''\1, ''item_repurged'')');
        v_fn := regexp_replace(v_fn, 'operator_rerun, checkpoint([a-z_, ]*)''',
                               'operator_rerun, checkpoint\1, item_repurged''');
        EXECUTE v_fn;
    END IF;
END $kinds$;

-- ---- replay: records appended again, verbatim ---------------------------------------------------

-- Appends exported records (JSON Lines lines, exactly as lethe export wrote them) to one chain,
-- as they were: same seq, at, prev_hash and hash, every member. They must be of one chain, in
-- seq order, and continue it at its head; each must hash to its own hash and read back from
-- the table as the very same bytes, so what goes in is what came out. The head moves once per
-- call (a row updated once per record, in one transaction, made the appends quadratic). The
-- only way besides audit_flush() to write the log; it is the operator's (lethe replay), not
-- the engine's (deploy/roles.sql). Returns how many records it appended.
CREATE FUNCTION lethe.audit_append_verbatim(p_lines text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid;
    v_seq bigint;
    v_hash text;
    v_at timestamptz;
    c record;
BEGIN
    IF coalesce(cardinality(p_lines), 0) = 0 THEN
        RETURN 0;
    END IF;
    v_tenant := (p_lines[1]::json->>'tenant_id')::uuid;
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_tenant, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT h.seq, h.hash, h.at INTO v_seq, v_hash, v_at
      FROM lethe.audit_heads h WHERE h.tenant_id = v_tenant FOR UPDATE;
    IF (p_lines[1]::json->>'seq')::bigint IS DISTINCT FROM v_seq + 1
       OR p_lines[1]::json->>'prev_hash' IS DISTINCT FROM v_hash THEN
        RAISE EXCEPTION 'replay: tenant %: seq % does not continue the chain, whose head is seq %',
                        v_tenant, p_lines[1]::json->>'seq', v_seq
            USING ERRCODE = 'check_violation';
    END IF;

    -- Parsed once (json_populate_record), appended, and checked in the same statement: any
    -- check that fails raises below, and the appends go with the transaction.
    WITH p AS MATERIALIZED (
        SELECT u.ord, u.line, r.*,
               lag(r.hash) OVER (ORDER BY u.ord) AS hash_before,
               lag(r.at) OVER (ORDER BY u.ord) AS at_before
          FROM unnest(p_lines) WITH ORDINALITY AS u(line, ord)
         CROSS JOIN LATERAL json_populate_record(NULL::lethe.audit, u.line::json) r
    ), ins AS (
        INSERT INTO lethe.audit (seq, at, kind, tenant_id, run_id, batch_id, item_id, rule,
                                 reference, triggered_at, deadline_at, purged_at, on_time,
                                 location, hold_id, subject_hmac, operator, count, detail,
                                 prev_hash, hash)
        SELECT p.seq, p.at, p.kind, p.tenant_id, p.run_id, p.batch_id, p.item_id, p.rule,
               p.reference, p.triggered_at, p.deadline_at, p.purged_at, p.on_time, p.location,
               p.hold_id, p.subject_hmac, p.operator, p.count, p.detail, p.prev_hash, p.hash
          FROM p ORDER BY p.ord
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins) AS n,
           min(p.ord) FILTER (WHERE p.tenant_id IS DISTINCT FROM v_tenant) AS other_chain,
           min(p.ord) FILTER (WHERE p.seq IS DISTINCT FROM v_seq + p.ord
                                 OR p.prev_hash IS DISTINCT FROM coalesce(p.hash_before, v_hash))
               AS not_next,
           min(p.ord) FILTER (WHERE p.at < coalesce(p.at_before, v_at)) AS backwards,
           min(p.ord) FILTER (WHERE lethe.audit_jsonl(ROW(p.seq, p.at, p.kind, p.tenant_id,
                   p.run_id, p.batch_id, p.item_id, p.rule, p.reference, p.triggered_at,
                   p.deadline_at, p.purged_at, p.on_time, p.location, p.hold_id, p.subject_hmac,
                   p.operator, p.count, p.detail, p.prev_hash, p.hash)::lethe.audit)
                   IS DISTINCT FROM p.line) AS not_verbatim,
           min(p.ord) FILTER (WHERE lethe.audit_chain_step(NULL, p.prev_hash,
                   lethe.audit_canonical_head(p.seq, p.at, p.kind, p.tenant_id, p.run_id,
                       p.batch_id, p.item_id, p.rule, p.reference, p.triggered_at, p.deadline_at,
                       p.purged_at, p.on_time, p.location, p.hold_id, p.subject_hmac, p.operator,
                       p.count, p.detail)) IS DISTINCT FROM p.hash) AS bad_hash,
           (array_agg(p.seq ORDER BY p.ord DESC))[1] AS last_seq,
           (array_agg(p.hash ORDER BY p.ord DESC))[1] AS last_hash,
           (array_agg(p.at ORDER BY p.ord DESC))[1] AS last_at
      INTO c FROM p;

    IF c.other_chain IS NOT NULL THEN
        RAISE EXCEPTION 'replay: records of more than one chain in one call (tenant % first)', v_tenant
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF c.not_verbatim IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: the record would not read back byte for byte',
                        v_tenant, v_seq + c.not_verbatim
            USING ERRCODE = 'data_exception',
                  HINT = 'replay takes records exactly as lethe export wrote them';
    ELSIF c.bad_hash IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: hash mismatch', v_tenant, v_seq + c.bad_hash
            USING ERRCODE = 'data_exception', HINT = 'check the export with lethe verify';
    ELSIF c.not_next IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant %: record % does not continue the chain, whose head is seq %',
                        v_tenant, c.not_next, v_seq
            USING ERRCODE = 'check_violation';
    ELSIF c.backwards IS NOT NULL THEN
        RAISE EXCEPTION 'replay: tenant % seq %: its time is before the record it follows',
                        v_tenant, v_seq + c.backwards
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE lethe.audit_heads SET seq = c.last_seq, hash = c.last_hash, at = c.last_at
     WHERE tenant_id = v_tenant;
    RETURN c.n;
END $$;

-- Replays the records of the session's temp table replay_lines (file, lineno, line), loaded
-- from verified exports, chain by chain in seq order, and says per chain what it found:
--   replayed   records continuing the database's head were appended (o_records of them);
--   present    the database holds every record already (it may hold more);
--   diverged   the database holds another record at o_seq: left alone;
--   conflict   two exports disagree at o_seq: left alone;
--   gap        records between o_seq and the next exported one are in no export: appended up
--              to o_seq (o_records), the rest left alone.
-- Leaves replay_records (every record, parsed) and replay_chains (these rows) for the
-- transaction. Takes the head locks of the chains it appends to.
CREATE FUNCTION lethe.replay_chains()
RETURNS TABLE (o_tenant uuid, o_outcome text, o_seq bigint, o_records bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r record;
    v_seq bigint;
    v_hash text;
    v_bad bigint;
    v_next bigint;
BEGIN
    -- Each line parsed once; the export's header has a kind of its own.
    CREATE TEMP TABLE replay_records ON COMMIT DROP AS
    SELECT a.tenant_id, a.seq, a.kind, a.prev_hash, a.hash, a.item_id, a.batch_id, a.rule,
           a.reference, a.subject_hmac, a.triggered_at, a.deadline_at, a.purged_at, l.line
      FROM replay_lines l
     CROSS JOIN LATERAL json_populate_record(NULL::lethe.audit,
                                             CASE WHEN l.line LIKE '{"kind":"export_header"%'
                                                  THEN '{}' ELSE l.line END::json) a
     WHERE l.line NOT LIKE '{"kind":"export_header"%';
    CREATE INDEX ON replay_records (tenant_id, seq);
    ANALYZE replay_records;
    CREATE TEMP TABLE replay_chains (tenant_id uuid PRIMARY KEY, outcome text, seq bigint,
                                     records bigint) ON COMMIT DROP;

    FOR c IN SELECT rr.tenant_id, min(rr.seq) AS lo, max(rr.seq) AS hi
               FROM replay_records rr GROUP BY rr.tenant_id ORDER BY rr.tenant_id LOOP
        o_tenant := c.tenant_id;
        o_records := 0;
        SELECT min(d.seq) INTO v_bad FROM (
            SELECT rr.seq FROM replay_records rr WHERE rr.tenant_id = c.tenant_id
             GROUP BY rr.seq HAVING count(DISTINCT rr.hash) > 1) d;
        IF v_bad IS NOT NULL THEN
            o_outcome := 'conflict';
            o_seq := v_bad;
            INSERT INTO replay_chains VALUES (o_tenant, o_outcome, o_seq, o_records);
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT h.seq, h.hash INTO v_seq, v_hash FROM lethe.audit_heads h WHERE h.tenant_id = c.tenant_id;
        IF NOT FOUND THEN
            v_seq := 0;
            v_hash := repeat('0', 64);
        END IF;
        -- A record the database holds with another hash, or a first record to append that was
        -- not built on the database's head: records were written after the restore.
        SELECT min(rr.seq) INTO v_bad
          FROM replay_records rr
          JOIN lethe.audit a ON a.tenant_id = rr.tenant_id AND a.seq = rr.seq
         WHERE rr.tenant_id = c.tenant_id AND a.hash <> rr.hash;
        IF v_bad IS NULL AND EXISTS (SELECT 1 FROM replay_records rr
                                      WHERE rr.tenant_id = c.tenant_id AND rr.seq = v_seq + 1
                                        AND rr.prev_hash <> v_hash) THEN
            v_bad := v_seq;
        END IF;
        IF v_bad IS NOT NULL THEN
            o_outcome := 'diverged';
            o_seq := v_bad;
        ELSIF c.hi <= v_seq THEN
            o_outcome := 'present';
            o_seq := v_seq;
        ELSE
            -- The records that follow the head without a hole, appended in chunks.
            SELECT coalesce(max(d.seq), v_seq) INTO v_next
              FROM (SELECT x.seq, row_number() OVER (ORDER BY x.seq) AS n
                      FROM (SELECT DISTINCT rr.seq FROM replay_records rr
                             WHERE rr.tenant_id = c.tenant_id AND rr.seq > v_seq) x) d
             WHERE d.seq = v_seq + d.n;
            FOR r IN SELECT array_agg(x.line ORDER BY x.seq) AS lines
                       FROM (SELECT DISTINCT ON (rr.seq) rr.seq, rr.line FROM replay_records rr
                              WHERE rr.tenant_id = c.tenant_id AND rr.seq > v_seq AND rr.seq <= v_next
                              ORDER BY rr.seq) x
                      GROUP BY (x.seq - v_seq - 1) / 5000 ORDER BY (x.seq - v_seq - 1) / 5000 LOOP
                o_records := o_records + lethe.audit_append_verbatim(r.lines);
            END LOOP;
            o_seq := v_next;
            o_outcome := CASE WHEN v_next >= c.hi THEN 'replayed' ELSE 'gap' END;
        END IF;
        INSERT INTO replay_chains VALUES (o_tenant, o_outcome, o_seq, o_records);
        RETURN NEXT;
    END LOOP;
END $$;

-- The items that replayed item_purged records prove deleted but whose catalog rows are live
-- again, into the temp table repurge_candidates for lethe.repurge_emit(). Only records the
-- database now holds count, and only in chains that were not left alone; an item already in a
-- pending repurge is not put in another. Returns how many.
CREATE FUNCTION lethe.replay_candidates() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT DISTINCT ON (i.tenant_id, i.item_id)
           i.tenant_id, i.item_id, i.location, NULL::text AS locator, 'replay'::text AS reason,
           rr.hash AS proof_hash, rr.rule, rr.reference, rr.subject_hmac, rr.triggered_at,
           rr.deadline_at, rr.purged_at, rr.batch_id AS purged_in
      FROM replay_records rr
      JOIN replay_chains ch ON ch.tenant_id = rr.tenant_id AND ch.outcome IN ('replayed', 'present', 'gap')
      JOIN lethe.audit a ON a.tenant_id = rr.tenant_id AND a.seq = rr.seq AND a.hash = rr.hash
      JOIN lethe.items i ON i.tenant_id = rr.tenant_id AND i.item_id = rr.item_id
     WHERE rr.kind = 'item_purged' AND i.locator IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lethe.repurges p
                        WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id AND p.state = 'pending')
     ORDER BY i.tenant_id, i.item_id, rr.seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ---- reconcile: objects still in storage ---------------------------------------------------------

-- The purged items of p_location whose locator_hmac an inventory line matches, from the temp
-- table inventory (ord, line, locator, locator_hmac) the engine filled, into
-- repurge_candidates. Returns how many.
CREATE FUNCTION lethe.reconcile_candidates(p_location text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT DISTINCT ON (h.tenant_id, h.item_id)
           h.tenant_id, h.item_id, i.location, v.locator, 'reconcile'::text AS reason,
           NULL::text AS proof_hash, b.rule, b.reference, b.subject_hmac, b.triggered_at,
           b.deadline_at, b.purged_at, NULL::uuid AS purged_in
      FROM inventory v
      JOIN lethe.locator_hmacs h ON h.location = p_location AND h.locator_hmac = v.locator_hmac
      JOIN lethe.items i ON i.tenant_id = h.tenant_id AND i.item_id = h.item_id AND i.locator IS NULL
      JOIN lethe.batch_items b ON b.tenant_id = h.tenant_id AND b.item_id = h.item_id AND b.outcome = 'purged'
     WHERE NOT EXISTS (SELECT 1 FROM lethe.repurges p
                        WHERE p.tenant_id = h.tenant_id AND p.item_id = h.item_id AND p.state = 'pending')
     ORDER BY h.tenant_id, h.item_id, v.ord;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The inventory lines that name no catalog item of p_location: no handed-over item's HMAC, no
-- live item's locator. For a person to look at; nothing deletes them.
-- (plpgsql: the temp table exists only when it runs.)
CREATE FUNCTION lethe.reconcile_orphans(p_location text) RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT v.line FROM inventory v
     WHERE NOT EXISTS (SELECT 1 FROM lethe.locator_hmacs h
                        WHERE h.location = p_location AND h.locator_hmac = v.locator_hmac)
       AND NOT EXISTS (SELECT 1 FROM lethe.items i
                        WHERE i.location = p_location AND i.locator = v.locator)
     ORDER BY v.ord;
END $$;

-- ---- the repurge batches -------------------------------------------------------------------------

-- Puts repurge_candidates into new open batches of at most p_max items per location, for the
-- next run to drive like any other, in the caller's transaction; audit records go to
-- audit_stage (item_repurged per item, naming the reason and, for replay, the hash of the
-- record proving the first purge; batch_emitted per batch). Returns the new batches.
--
-- An item whose purge the restored database never saw gets that purge back first, as the
-- record states it (its batch too, when that is missing, under p_run): the item then counts
-- as purged once, and the acknowledgement of the repurge, which never purges an item twice,
-- leaves it to lethe.repurges_settle() to tombstone the catalog row.
CREATE FUNCTION lethe.repurge_emit(p_run uuid, p_operator text, p_max integer)
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

    CREATE TEMP TABLE repurge_numbered ON COMMIT DROP AS
    SELECT f.*, (row_number() OVER (PARTITION BY f.location ORDER BY f.tenant_id, f.item_id) - 1) AS rn
      FROM repurge_facts f;
    CREATE TEMP TABLE repurge_batches ON COMMIT DROP AS
    SELECT gen_random_uuid() AS batch_id, n.location, n.rn / p_max AS bno, count(*)::integer AS items
      FROM repurge_numbered n GROUP BY n.location, n.rn / p_max;

    INSERT INTO lethe.batches (batch_id, run_id, location, items)
    SELECT b.batch_id, p_run, b.location, b.items FROM repurge_batches b ORDER BY b.location, b.bno;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at)
    SELECT n.tenant_id, n.item_id, b.batch_id, (n.rn % p_max)::integer, n.location, n.rule,
           n.obligation_id, n.reference, n.subject_hmac, n.triggered_at, n.due_at, n.deadline_at
      FROM repurge_numbered n JOIN repurge_batches b ON b.location = n.location AND b.bno = n.rn / p_max;
    INSERT INTO lethe.repurges (tenant_id, item_id, batch_id, reason, proof_hash, locator)
    SELECT n.tenant_id, n.item_id, b.batch_id, n.reason, n.proof_hash, n.locator
      FROM repurge_numbered n JOIN repurge_batches b ON b.location = n.location AND b.bno = n.rn / p_max;

    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                             triggered_at, deadline_at, location, subject_hmac, operator, detail)
    SELECT n.tenant_id, 'item_repurged', p_run, b.batch_id, n.item_id, n.rule, n.reference,
           n.triggered_at, n.deadline_at, n.location, n.subject_hmac, p_operator,
           n.reason || coalesce(' ' || n.proof_hash, '')
      FROM repurge_numbered n JOIN repurge_batches b ON b.location = n.location AND b.bno = n.rn / p_max
     ORDER BY n.tenant_id, n.item_id;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
    SELECT '00000000-0000-0000-0000-000000000000', 'batch_emitted', p_run, b.batch_id, b.location,
           b.items, p_operator, 'repurge'
      FROM repurge_batches b ORDER BY b.location, b.bno;

    RETURN QUERY SELECT b.batch_id, b.location, b.items FROM repurge_batches b ORDER BY b.location, b.bno;
    DROP TABLE repurge_candidates, repurge_facts, repurge_numbered, repurge_batches;
END $$;

-- When a batch holding repurges closes, at the end of the transaction that closed it (so that
-- whatever order the acknowledgement wrote in, its outcome is all there): a repurge that the
-- deleter answered for (its row still open in an acknowledged batch: the acknowledgement never
-- purges an item twice) is done, its row closes as superseded (the item's one purge is
-- recorded in its purged row) and a catalog row that came back live is tombstoned now; any
-- other is failed, for the next replay or reconcile to batch again. The locator goes either way.
CREATE FUNCTION lethe.repurges_settle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_state text;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT b.state INTO v_state FROM lethe.batches b WHERE b.batch_id = NEW.batch_id;
    IF v_state = 'open' OR NOT EXISTS (SELECT 1 FROM lethe.repurges r
                                       WHERE r.batch_id = NEW.batch_id AND r.state = 'pending') THEN
        RETURN NULL;
    END IF;
    UPDATE lethe.repurges r
       SET state = CASE WHEN v_state = 'acknowledged' AND bi.outcome IS NULL THEN 'done' ELSE 'failed' END,
           settled_at = v_now, locator = NULL
      FROM lethe.batch_items bi
     WHERE r.batch_id = NEW.batch_id AND r.state = 'pending'
       AND bi.batch_id = r.batch_id AND bi.tenant_id = r.tenant_id AND bi.item_id = r.item_id;
    UPDATE lethe.batch_items bi SET outcome = 'superseded'
      FROM lethe.repurges r
     WHERE r.batch_id = NEW.batch_id AND r.settled_at = v_now AND r.state = 'done'
       AND bi.batch_id = r.batch_id AND bi.tenant_id = r.tenant_id AND bi.item_id = r.item_id
       AND bi.outcome IS NULL;
    UPDATE lethe.items i SET locator = NULL, owner_id = NULL
      FROM lethe.repurges r
     WHERE r.batch_id = NEW.batch_id AND r.settled_at = v_now AND r.state = 'done'
       AND i.tenant_id = r.tenant_id AND i.item_id = r.item_id AND i.locator IS NOT NULL;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER batches_settle_repurges AFTER UPDATE OF state ON lethe.batches
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION lethe.repurges_settle();

-- ---- manifests ----------------------------------------------------------------------------------

-- The items of a batch as its deleter gets them, with the address to delete: the catalog's
-- locator while the item is live, else the one reconcile found for a pending repurge. One
-- definition for the manifest and for the locator HMACs the engine records with it.
CREATE FUNCTION lethe.batch_locators(p_batch uuid)
RETURNS TABLE (tenant_id uuid, item_id uuid, ord integer, workspace_id uuid, kind text,
               location text, locator text, rule text, deadline_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT bi.tenant_id, bi.item_id, bi.ord, i.workspace_id, i.kind, bi.location,
           coalesce(i.locator, r.locator), bi.rule, bi.deadline_at
      FROM lethe.batch_items bi
      JOIN lethe.items i ON i.tenant_id = bi.tenant_id AND i.item_id = bi.item_id
      LEFT JOIN lethe.repurges r
        ON r.tenant_id = bi.tenant_id AND r.item_id = bi.item_id AND r.batch_id = bi.batch_id
       AND r.state = 'pending'
     WHERE bi.batch_id = p_batch AND bi.outcome IS DISTINCT FROM 'superseded'
       AND coalesce(i.locator, r.locator) IS NOT NULL
$$;

-- As in sql/0002_rules.sql, with the repurged objects reconcile found.
CREATE OR REPLACE FUNCTION lethe.manifest_lines(p_batch uuid) RETURNS SETOF text LANGUAGE sql STABLE AS $$
    WITH its AS (SELECT * FROM lethe.batch_locators(p_batch))
    SELECT line FROM (
        SELECT -1 AS ord,
               '{"batch_id":' || to_json(b.batch_id::text) || ',"run_id":' || to_json(b.run_id::text)
               || ',"location":' || to_json(b.location) || ',"created_at":"' || lethe.iso_utc(b.created_at)
               || '","items":' || (SELECT count(*) FROM its) || '}' AS line
          FROM lethe.batches b WHERE b.batch_id = p_batch
        UNION ALL
        SELECT its.ord,
               '{"item_id":' || to_json(its.item_id::text) || ',"tenant_id":' || to_json(its.tenant_id::text)
               || ',"workspace_id":' || to_json(its.workspace_id::text) || ',"kind":' || to_json(its.kind)
               || ',"locator":' || to_json(its.locator) || ',"rule":' || to_json(its.rule)
               || ',"deadline_at":"' || lethe.iso_utc(its.deadline_at) || '"}'
          FROM its
    ) l ORDER BY ord
$$;

-- Records HMACs computed by the engine for a batch's items (arrays in step). Keeps the latest.
CREATE FUNCTION lethe.record_locator_hmacs(p_location text, p_tenants uuid[], p_items uuid[],
                                           p_hmacs text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac)
    SELECT x.t, x.i, p_location, x.h FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)
    ON CONFLICT (tenant_id, item_id) DO UPDATE
       SET location = EXCLUDED.location, locator_hmac = EXCLUDED.locator_hmac, recorded_at = now()
     WHERE (h.location, h.locator_hmac) IS DISTINCT FROM (EXCLUDED.location, EXCLUDED.locator_hmac);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Nothing through PUBLIC (sql/0004_security.sql); deploy/roles.sql grants the roles.
REVOKE ALL ON lethe.locator_hmacs, lethe.repurges FROM PUBLIC;
REVOKE ALL ON FUNCTION lethe.audit_append_verbatim(text[]), lethe.replay_chains(),
    lethe.replay_candidates(), lethe.reconcile_candidates(text), lethe.reconcile_orphans(text),
    lethe.repurge_emit(uuid, text, integer), lethe.repurges_settle(), lethe.batch_locators(uuid),
    lethe.record_locator_hmacs(text, uuid[], uuid[], text[]) FROM PUBLIC;
