-- The audit log (SPEC §5): append-only, hash-chained per tenant, engine records on the nil-UUID
-- chain. Writers never INSERT into lethe.audit themselves: they stage rows in the session's
-- temp table audit_stage and call lethe.audit_flush(), which chains them under the head locks.
-- Must not depend on any table of a later migration; it reads none of the rules' tables.

CREATE TABLE lethe.audit (
    seq bigint NOT NULL,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    tenant_id uuid NOT NULL,
    run_id uuid,
    batch_id uuid,
    item_id uuid,
    rule text,
    reference text,
    triggered_at timestamptz,
    deadline_at timestamptz,
    purged_at timestamptz,
    on_time boolean,
    location text,
    hold_id uuid,
    subject_hmac text,
    operator text,
    count bigint,
    detail text,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CONSTRAINT audit_kind_known CHECK (kind IN ('run_started', 'run_finished', 'batch_emitted',
        'batch_acknowledged', 'batch_failed', 'item_failed', 'item_purged', 'obligation_withdrawn',
        'hold_blocked', 'operator_rerun', 'checkpoint')),
    CONSTRAINT audit_seq_positive CHECK (seq >= 1),
    -- Lower-case hex SHA-256. ltrim() rather than a regular expression: a third of the cost
    -- of an append was going into regex matching.
    CONSTRAINT audit_hash_format CHECK (octet_length(hash) = 64 AND ltrim(hash, '0123456789abcdef') = ''
        AND octet_length(prev_hash) = 64 AND ltrim(prev_hash, '0123456789abcdef') = ''),
    CONSTRAINT audit_subject_hmac_format CHECK (octet_length(subject_hmac) = 64
        AND ltrim(subject_hmac, '0123456789abcdef') = ''),
    -- An export writes null as an empty CSV field; with no empty strings stored, an empty field
    -- can only mean null, and a spreadsheet or csv reader needs no quoting rules to tell.
    CONSTRAINT audit_no_empty_text CHECK (rule <> '' AND reference <> '' AND location <> ''
        AND operator <> '' AND detail <> ''),
    -- Exports write every time as YYYY-MM-DDTHH:MI:SS.ffffffZ: four-digit years, no infinity.
    CONSTRAINT audit_times_in_range CHECK (
        at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
        AND triggered_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
        AND deadline_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
        AND purged_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
);
-- Exports select by time window.
CREATE INDEX audit_at ON lethe.audit (at);
-- Checkpoints find the chains a run touched.
CREATE INDEX audit_run ON lethe.audit (run_id, tenant_id) WHERE run_id IS NOT NULL;

-- The head of each chain: its last seq and hash, and the time of its last record. seq 0 and
-- 64 zeros mean an empty chain. Rows are locked FOR UPDATE while a chain is appended to.
CREATE TABLE lethe.audit_heads (
    tenant_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL,
    at timestamptz
);

-- Append-only, even for the table's owner: statement triggers refuse the statement itself,
-- so even one that would touch no row fails. ENABLE ALWAYS keeps them firing under
-- session_replication_role = replica.
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON lethe.audit
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.refuse(
        'the audit log is append-only; a correction is a new record');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON lethe.audit
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.refuse(
        'the audit log is append-only; a correction is a new record');
ALTER TABLE lethe.audit ENABLE ALWAYS TRIGGER audit_no_update_delete;
ALTER TABLE lethe.audit ENABLE ALWAYS TRIGGER audit_no_truncate;

-- ---- the canonical form -----------------------------------------------------------------
-- One definition, used by audit_flush to hash and by export to write JSON Lines. Members in
-- column order, no whitespace; times UTC with microseconds and 'Z'; to_json() escapes text
-- minimally (", \, \b \f \n \r \t, other control characters as \u00xx). These are plain SQL
-- expressions so that the planner inlines them into the set-based statements.

CREATE FUNCTION lethe.audit_time(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION lethe.audit_json_time(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce('"' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"', 'null')
$$;

CREATE FUNCTION lethe.audit_json_text(v text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(to_json(v)::text, 'null')
$$;

CREATE FUNCTION lethe.audit_json_uuid(v uuid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce('"' || v::text || '"', 'null')
$$;

-- The canonical form up to (not including) its prev_hash member: everything the chain needs
-- besides the link itself.
CREATE FUNCTION lethe.audit_canonical_head(seq bigint, at timestamptz, kind text, tenant_id uuid,
    run_id uuid, batch_id uuid, item_id uuid, rule text, reference text, triggered_at timestamptz,
    deadline_at timestamptz, purged_at timestamptz, on_time boolean, location text, hold_id uuid,
    subject_hmac text, operator text, count bigint, detail text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT '{"seq":' || seq::text
        || ',"at":' || lethe.audit_json_time(at)
        || ',"kind":' || lethe.audit_json_text(kind)
        || ',"tenant_id":' || lethe.audit_json_uuid(tenant_id)
        || ',"run_id":' || lethe.audit_json_uuid(run_id)
        || ',"batch_id":' || lethe.audit_json_uuid(batch_id)
        || ',"item_id":' || lethe.audit_json_uuid(item_id)
        || ',"rule":' || lethe.audit_json_text(rule)
        || ',"reference":' || lethe.audit_json_text(reference)
        || ',"triggered_at":' || lethe.audit_json_time(triggered_at)
        || ',"deadline_at":' || lethe.audit_json_time(deadline_at)
        || ',"purged_at":' || lethe.audit_json_time(purged_at)
        || ',"on_time":' || coalesce(on_time::text, 'null')
        || ',"location":' || lethe.audit_json_text(location)
        || ',"hold_id":' || lethe.audit_json_uuid(hold_id)
        || ',"subject_hmac":' || lethe.audit_json_text(subject_hmac)
        || ',"operator":' || lethe.audit_json_text(operator)
        || ',"count":' || coalesce(count::text, 'null')
        || ',"detail":' || lethe.audit_json_text(detail)
$$;

-- The exported JSON Lines line of a record: the canonical form plus its hash member.
CREATE FUNCTION lethe.audit_jsonl(a lethe.audit) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT lethe.audit_canonical_head(a.seq, a.at, a.kind, a.tenant_id, a.run_id, a.batch_id,
               a.item_id, a.rule, a.reference, a.triggered_at, a.deadline_at, a.purged_at,
               a.on_time, a.location, a.hold_id, a.subject_hmac, a.operator, a.count, a.detail)
        || ',"prev_hash":"' || a.prev_hash || '","hash":"' || a.hash || '"}'
$$;

-- One link: the hash of the record after PREV, given its canonical head. As an aggregate's
-- step it chains a whole partition in one pass of a window; plpgsql measured faster than a
-- SQL-language step (and than a loop over a cursor, or a recursive CTE join per link).
CREATE FUNCTION lethe.audit_chain_step(prev text, head text, canonical_head text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    prev := coalesce(prev, head);
    RETURN encode(sha256(convert_to(prev || E'\n' || canonical_head
                                    || ',"prev_hash":"' || prev || '"}', 'UTF8')), 'hex');
END $$;
-- audit_chain(head, canonical_head) OVER (PARTITION BY chain ORDER BY seq ROWS UNBOUNDED
-- PRECEDING): the hash of each record, starting from the chain's head hash.
CREATE AGGREGATE lethe.audit_chain(text, text) (sfunc = lethe.audit_chain_step, stype = text);

-- ---- writing -----------------------------------------------------------------------------

-- Creates the session's staging table once. ON COMMIT DELETE ROWS: whatever a transaction
-- stages and does not flush is gone at its end, never carried into the next one.
CREATE FUNCTION lethe.audit_stage_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.audit_stage') IS NULL THEN
        CREATE TEMP TABLE audit_stage (
            ord bigserial,
            tenant_id uuid NOT NULL,
            kind text NOT NULL,
            run_id uuid,
            batch_id uuid,
            item_id uuid,
            rule text,
            reference text,
            triggered_at timestamptz,
            deadline_at timestamptz,
            purged_at timestamptz,
            on_time boolean,
            location text,
            hold_id uuid,
            subject_hmac text,
            operator text,
            count bigint,
            detail text
        ) ON COMMIT DELETE ROWS;
    END IF;
END $$;

-- Appends every staged row to its chain, in ord order within each chain; returns how many.
-- The heads of all chains involved are locked in tenant_id order, so two writers (shards)
-- wait for each other instead of forking a chain, and never deadlock within one flush. `at`
-- is taken once the locks are held and never goes back along a chain. Callers run in READ
-- COMMITTED (the default); a transaction should flush once, or stage in tenant order.
CREATE FUNCTION lethe.audit_flush() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_n bigint;
    v_now timestamptz;
    v_bad record;
BEGIN
    PERFORM lethe.audit_stage_open();
    IF NOT EXISTS (SELECT 1 FROM pg_temp.audit_stage) THEN
        RETURN 0;
    END IF;
    SELECT s.kind INTO v_bad FROM pg_temp.audit_stage s
     WHERE s.kind NOT IN ('run_started', 'run_finished', 'batch_emitted', 'batch_acknowledged',
                          'batch_failed', 'item_failed', 'item_purged', 'obligation_withdrawn',
                          'hold_blocked', 'operator_rerun', 'checkpoint')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'audit: unknown record kind "%"', v_bad.kind
            USING ERRCODE = 'check_violation',
                  HINT = 'kinds are run_started, run_finished, batch_emitted, batch_acknowledged, '
                         'batch_failed, item_failed, item_purged, obligation_withdrawn, '
                         'hold_blocked, operator_rerun, checkpoint';
    END IF;

    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    SELECT DISTINCT s.tenant_id, 0, repeat('0', 64), NULL::timestamptz
      FROM pg_temp.audit_stage s ORDER BY 1
        ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM lethe.audit_heads h
      WHERE h.tenant_id IN (SELECT s.tenant_id FROM pg_temp.audit_stage s)
      ORDER BY h.tenant_id FOR UPDATE;
    v_now := clock_timestamp();

    WITH numbered AS (
        SELECT s.*, h.hash AS head_hash, greatest(v_now, h.at) AS at,
               h.seq + row_number() OVER (PARTITION BY s.tenant_id ORDER BY s.ord) AS seq
          FROM pg_temp.audit_stage s JOIN lethe.audit_heads h ON h.tenant_id = s.tenant_id
    ), cleaned AS (
        SELECT n.seq, n.at, n.kind, n.tenant_id, n.run_id, n.batch_id, n.item_id,
               nullif(n.rule, '') AS rule, nullif(n.reference, '') AS reference,
               n.triggered_at, n.deadline_at, n.purged_at, n.on_time,
               nullif(n.location, '') AS location, n.hold_id, nullif(n.subject_hmac, '') AS subject_hmac,
               nullif(n.operator, '') AS operator, n.count, nullif(n.detail, '') AS detail,
               n.head_hash
          FROM numbered n
    ), chained AS (
        SELECT c.*, lethe.audit_chain(c.head_hash,
                   lethe.audit_canonical_head(c.seq, c.at, c.kind, c.tenant_id, c.run_id,
                       c.batch_id, c.item_id, c.rule, c.reference, c.triggered_at,
                       c.deadline_at, c.purged_at, c.on_time, c.location, c.hold_id,
                       c.subject_hmac, c.operator, c.count, c.detail))
                   OVER (PARTITION BY c.tenant_id ORDER BY c.seq
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS hash
          FROM cleaned c
    ), appended AS (
        INSERT INTO lethe.audit (seq, at, kind, tenant_id, run_id, batch_id, item_id, rule,
                                 reference, triggered_at, deadline_at, purged_at, on_time,
                                 location, hold_id, subject_hmac, operator, count, detail,
                                 prev_hash, hash)
        SELECT x.seq, x.at, x.kind, x.tenant_id, x.run_id, x.batch_id, x.item_id, x.rule,
               x.reference, x.triggered_at, x.deadline_at, x.purged_at, x.on_time,
               x.location, x.hold_id, x.subject_hmac, x.operator, x.count, x.detail,
               coalesce(lag(x.hash) OVER (PARTITION BY x.tenant_id ORDER BY x.seq), x.head_hash),
               x.hash
          FROM chained x
        RETURNING tenant_id, seq, hash, at
    ), moved AS (
        -- A data-modifying WITH runs to completion whether or not it is read.
        UPDATE lethe.audit_heads h SET seq = l.seq, hash = l.hash, at = l.at
          FROM (SELECT DISTINCT ON (a.tenant_id) a.tenant_id, a.seq, a.hash, a.at
                  FROM appended a ORDER BY a.tenant_id, a.seq DESC) l
         WHERE h.tenant_id = l.tenant_id
    )
    SELECT count(*) INTO v_n FROM appended;

    TRUNCATE pg_temp.audit_stage;
    RETURN v_n;
END $$;

-- Appends a checkpoint to the engine chain: detail lists, as TENANT=HASH pairs sorted by
-- tenant, the head of every chain holding a record of the run, and the engine chain's head
-- just before the checkpoint. Returns the detail, for the engine to log and anchor elsewhere.
-- Only the engine head is locked; the others are read as committed (or as written by this
-- transaction), which is what they are at this point.
CREATE FUNCTION lethe.audit_checkpoint(p_run_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_nil constant uuid := '00000000-0000-0000-0000-000000000000';
    v_detail text;
BEGIN
    IF p_run_id IS NULL THEN
        RAISE EXCEPTION 'audit: a checkpoint needs a run id' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Anything the caller staged belongs before the checkpoint that sums it up.
    PERFORM lethe.audit_flush();
    INSERT INTO lethe.audit_heads (tenant_id, seq, hash, at)
    VALUES (v_nil, 0, repeat('0', 64), NULL) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM lethe.audit_heads WHERE tenant_id = v_nil FOR UPDATE;
    SELECT string_agg(h.tenant_id::text || '=' || h.hash, ' ' ORDER BY h.tenant_id) INTO v_detail
      FROM lethe.audit_heads h
     WHERE h.tenant_id = v_nil
        OR h.tenant_id IN (SELECT a.tenant_id FROM lethe.audit a WHERE a.run_id = p_run_id);
    INSERT INTO pg_temp.audit_stage (tenant_id, kind, run_id, detail)
    VALUES (v_nil, 'checkpoint', p_run_id, v_detail);
    PERFORM lethe.audit_flush();
    RETURN v_detail;
END $$;
