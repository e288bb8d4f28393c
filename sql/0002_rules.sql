-- Obligations, lineage and holds (SPEC §3), batches and runs (SPEC §4): the engine's own
-- tables and the set-based functions that derive, expand and select due items.
-- Obligations are stored at the scope they were given; they are expanded into per-item rows
-- (item_obligations) only once they are due, so that a run costs what is due, not the catalog.

-- ---- rule configuration (a reference table: the engine writes it from the config) -----------

CREATE TABLE lethe.rules (
    rule text PRIMARY KEY,
    deadline interval NOT NULL,
    grace interval NOT NULL DEFAULT '0 seconds',
    enabled boolean NOT NULL DEFAULT true,
    priority integer NOT NULL UNIQUE  -- SPEC §3 tie-break order: lower wins
);
INSERT INTO lethe.rules (rule, deadline, grace, priority) VALUES
    ('shared_while_opted_out', '0 seconds', '0 seconds', 1),
    ('subject_request', '1 month', '0 seconds', 2),
    ('deletion_request', '2592000 seconds', '0 seconds', 3),
    ('sharing_opt_out', '2592000 seconds', '0 seconds', 4),
    ('capacity_deleted', '15552000 seconds', '0 seconds', 5),
    ('shared_retention', '7776000 seconds', '7776000 seconds', 6);

CREATE TABLE lethe.settings (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    lookahead interval NOT NULL DEFAULT '172800 seconds'
);
INSERT INTO lethe.settings DEFAULT VALUES;

-- due_at = max(t, min(t + grace, deadline_at - lookahead))  (SPEC §3)
CREATE FUNCTION lethe.due_time(t timestamptz, deadline interval, grace interval, lookahead interval)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT greatest(t, least(t + grace, (t + deadline) - lookahead)) $$;

-- The shortest time an interval can span: a month counts as 28 days. Used to bound index scans.
CREATE FUNCTION lethe.interval_floor(i interval) RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (extract(year FROM i) * 12 + extract(month FROM i)) * interval '28 days'
          + (i - date_trunc('month', i)) $$;

-- Shards: the first 32 bits of tenant_id as an unsigned integer, modulo N. Documented in the
-- README so that operators can tell which shard a tenant is on.
CREATE FUNCTION lethe.shard_of(t uuid, n integer) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (('x' || substr(t::text, 1, 8))::bit(32)::bigint % n)::integer $$;

CREATE FUNCTION lethe.in_shard(t uuid, k integer, n integer) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT n = 0 OR lethe.shard_of(t, n) = k $$;

-- ---- what the engine has not consumed yet -------------------------------------------------
-- Fed by statement triggers in the producer's own transaction, so a late commit is never
-- missed: a run consumes exactly the rows it can see, and deletes them in its transaction.

CREATE TABLE lethe.inbox_events (
    tenant_id uuid NOT NULL,
    event_id bigint NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE TABLE lethe.inbox_items (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, item_id)
);

CREATE FUNCTION lethe.events_to_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lethe.inbox_events (tenant_id, event_id) SELECT tenant_id, event_id FROM new_events;
    RETURN NULL;
END $$;
CREATE TRIGGER events_to_inbox AFTER INSERT ON lethe.events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION lethe.events_to_inbox();

CREATE FUNCTION lethe.items_to_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lethe.inbox_items (tenant_id, item_id)
    SELECT n.tenant_id, n.item_id FROM new_items n
      JOIN lethe.kinds k ON k.kind = n.kind AND k.customer_data;
    RETURN NULL;
END $$;
CREATE TRIGGER items_to_inbox AFTER INSERT ON lethe.items
    REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION lethe.items_to_inbox();

CREATE INDEX events_sharing ON lethe.events (tenant_id, occurred_at)
    WHERE type IN ('sharing_opted_in', 'sharing_opted_out');

-- ---- obligations -----------------------------------------------------------------------------

CREATE TABLE lethe.obligations (
    tenant_id uuid NOT NULL,
    obligation_id bigint GENERATED ALWAYS AS IDENTITY,
    rule text NOT NULL REFERENCES lethe.rules,
    event_id bigint NOT NULL,
    reference text,
    workspace_id uuid,
    subject_id text,
    item_id uuid,
    shared_only boolean NOT NULL,          -- sharing_opt_out covers shared items only
    triggered_at timestamptz NOT NULL,     -- t: the event's occurred_at
    covers_until timestamptz NOT NULL,     -- items created at or before this are covered
    subject_hmac text,                     -- HMAC-SHA256(audit key, subject_id), for the audit
    withdrawn_at timestamptz,              -- the withdrawing event's occurred_at
    withdrawn_by bigint,
    expanded_at timestamptz,               -- when it was expanded into item_obligations
    derived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, obligation_id),
    UNIQUE (tenant_id, event_id)
);
CREATE INDEX obligations_unexpanded ON lethe.obligations (triggered_at) WHERE expanded_at IS NULL;

-- Per-item obligations, materialised only once due. obligation_id 0 marks the per-item rules
-- (shared_retention, shared_while_opted_out), whose trigger is an item's own created_at.
-- Rows go when their item is purged or their obligation is withdrawn.
CREATE TABLE lethe.item_obligations (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    rule text NOT NULL,
    obligation_id bigint NOT NULL,
    triggered_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, item_id, rule, obligation_id)
);
CREATE INDEX item_obligations_obligation ON lethe.item_obligations (tenant_id, obligation_id)
    WHERE obligation_id <> 0;

-- A hold blocking a due item is recorded once, when the block begins.
CREATE TABLE lethe.hold_blocks (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    hold_id uuid NOT NULL,
    blocked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id, hold_id)
);
CREATE INDEX holds_active ON lethe.holds (tenant_id) WHERE released_at IS NULL;

-- ---- runs and batches (engine-level: they describe work as a whole) ---------------------------

CREATE TABLE lethe.runs (
    run_id uuid PRIMARY KEY,
    trigger text NOT NULL,                 -- 'timer' or 'operator'
    operator text,
    shard text,                            -- 'K/N' or null for the whole catalog
    as_of timestamptz NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    outcome text NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'succeeded', 'failed', 'interrupted', 'died')),
    events integer NOT NULL DEFAULT 0,
    items_due integer NOT NULL DEFAULT 0,
    batches integer NOT NULL DEFAULT 0,
    purged integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    held integer NOT NULL DEFAULT 0,
    error text
);
CREATE INDEX runs_recent ON lethe.runs (started_at DESC);

CREATE TABLE lethe.batches (
    batch_id uuid PRIMARY KEY,
    run_id uuid NOT NULL REFERENCES lethe.runs,
    location text NOT NULL REFERENCES lethe.geos,
    shard text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    items integer NOT NULL,
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'failed')),
    closed_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,   -- executor launches
    rerun_of uuid REFERENCES lethe.batches,
    error text,                            -- the executor's free text; never audited
    manifest_removed_at timestamptz
);
CREATE INDEX batches_open ON lethe.batches (created_at) WHERE state = 'open';

CREATE TABLE lethe.batch_items (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    batch_id uuid NOT NULL REFERENCES lethe.batches,
    ord integer NOT NULL,
    location text NOT NULL,
    rule text NOT NULL,
    obligation_id bigint NOT NULL,
    reference text,
    subject_hmac text,
    triggered_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    deadline_at timestamptz NOT NULL,
    outcome text CHECK (outcome IN ('purged', 'failed', 'superseded')),  -- null while open
    reason text,                           -- an executor's reason for a failed item; never audited
    purged_at timestamptz,
    PRIMARY KEY (tenant_id, item_id, batch_id)
);
CREATE INDEX batch_items_batch ON lethe.batch_items (batch_id, ord);
-- An item is in at most one open batch, and purged at most once: the database says so.
CREATE UNIQUE INDEX batch_items_one_open ON lethe.batch_items (tenant_id, item_id) WHERE outcome IS NULL;
CREATE UNIQUE INDEX batch_items_one_purge ON lethe.batch_items (tenant_id, item_id) WHERE outcome = 'purged';
CREATE INDEX batch_items_failed ON lethe.batch_items (tenant_id, item_id) WHERE outcome = 'failed';

-- ---- sharing state -------------------------------------------------------------------------

-- Was the item's tenant or workspace opted out of data sharing when the item was created?
-- The latest sharing event that applies wins; an opt-out at the very instant of creation
-- covers the item instead (it is not a violation), and an opt-in at that instant counts.
CREATE FUNCTION lethe.opted_out_at(p_tenant uuid, p_workspace uuid, p_at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT e.type = 'sharing_opted_out' FROM lethe.events e
         WHERE e.tenant_id = p_tenant
           AND e.type IN ('sharing_opted_in', 'sharing_opted_out')
           AND (e.workspace_id IS NULL OR e.workspace_id = p_workspace)
           AND (e.occurred_at < p_at OR (e.occurred_at = p_at AND e.type = 'sharing_opted_in'))
         ORDER BY e.occurred_at DESC, (e.type = 'sharing_opted_in') DESC, e.event_id DESC
         LIMIT 1), false)
$$;

-- ---- holds ---------------------------------------------------------------------------------

-- One item and its ancestors through parent_id (depth 0 is the item itself): the walk that
-- holds and obligations follow, since both reach copies from their sources.
CREATE FUNCTION lethe.ancestry(p_tenant uuid, p_item uuid)
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
         WHERE up.depth < 64
    )
    SELECT * FROM up
$$;

-- The first active hold covering an item or one of its ancestors (never its descendants'
-- holds), or null.
CREATE FUNCTION lethe.holding(p_tenant uuid, p_item uuid, p_as_of timestamptz)
RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT h.hold_id FROM lethe.holds h JOIN lethe.ancestry(p_tenant, p_item) up ON
           (h.workspace_id IS NULL OR h.workspace_id = up.workspace_id)
       AND (h.subject_id IS NULL OR h.subject_id = up.owner_id)
       AND (h.item_id IS NULL OR h.item_id = up.item_id)
     WHERE h.tenant_id = p_tenant AND h.placed_at <= p_as_of
       AND (h.released_at IS NULL OR h.released_at > p_as_of)
     ORDER BY h.placed_at, h.hold_id
     LIMIT 1
$$;

-- ---- derivation ----------------------------------------------------------------------------

-- Puts seeds (item, rule, obligation, trigger) and every descendant of each seed, with the
-- seed's trigger, into item_obligations for the items that are live Customer Data. Seeds may
-- be tombstoned items: their live copies still follow them (a copy never outlives its source).
-- Expects the temp table seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth).
CREATE FUNCTION lethe.propagate_seeds() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d integer := 0;
    n bigint;
BEGIN
    LOOP
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
        SELECT c.tenant_id, c.item_id, s.rule, s.obligation_id, s.triggered_at, d + 1
          FROM seeds s
          JOIN lethe.items c ON c.tenant_id = s.tenant_id AND c.parent_id = s.item_id
         WHERE s.depth = d
        ON CONFLICT DO NOTHING;
        EXIT WHEN NOT FOUND OR d > 64;
        d := d + 1;
    END LOOP;
    -- A descendant reached from two ancestors under the same per-item rule keeps the earliest.
    -- Each seed looks its item up by key (the OFFSET 0 keeps the lookup a subquery): joined
    -- as a set, the planner merged the seeds with a full scan of items, a cost that grew with
    -- the catalog (4.9 s for 140k seeds among 3M items), not with what is due.
    INSERT INTO lethe.item_obligations (tenant_id, item_id, rule, obligation_id, triggered_at)
    SELECT DISTINCT ON (s.tenant_id, s.item_id, s.rule, s.obligation_id)
           s.tenant_id, s.item_id, s.rule, s.obligation_id, s.triggered_at
      FROM seeds s
      CROSS JOIN LATERAL (SELECT 1 FROM lethe.items i
                           JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                          WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id
                            AND i.locator IS NOT NULL
                         OFFSET 0) live
     ORDER BY s.tenant_id, s.item_id, s.rule, s.obligation_id, s.triggered_at
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    TRUNCATE seeds;
    RETURN n;
END $$;

-- Derivation, inside the run's transaction: consume what producers committed since the last
-- run (events, items), turn events into obligations and withdrawals, and expand the
-- obligations that are due at p_as_of. p_n = 0 means every tenant; otherwise shard p_k of
-- p_n. Audit records for withdrawals go to the caller's audit_stage.
-- In two steps, so that the engine can add each new subject request's HMAC (computed with a
-- key the database never sees) before any audit record names the obligation:
-- derive_consume() takes the inbox and records new obligations; derive_apply() does the rest.
CREATE FUNCTION lethe.derive_consume(p_k integer, p_n integer,
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
    SELECT i.* FROM d JOIN lethe.items i USING (tenant_id, item_id) WHERE i.locator IS NOT NULL;
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

CREATE FUNCTION lethe.derive_apply(p_as_of timestamptz, p_k integer, p_n integer,
                                   OUT withdrawn integer, OUT expanded bigint)
LANGUAGE plpgsql AS $$
DECLARE
    sr record;
    bound timestamptz;
BEGIN
    expanded := 0;

    -- Withdrawals, whichever of the two events arrived first: a later cancellation with the
    -- request's reference, or a later re-provisioning. The earliest withdrawing event counts.
    CREATE TEMP TABLE withdrawals ON COMMIT DROP AS
    SELECT DISTINCT ON (o.tenant_id, o.obligation_id)
           o.tenant_id, o.obligation_id, e.occurred_at, e.event_id
      FROM lethe.obligations o
      JOIN lethe.events e ON e.tenant_id = o.tenant_id AND e.occurred_at > o.triggered_at
       AND ((o.rule IN ('deletion_request', 'subject_request')
             AND e.type = 'deletion_cancelled' AND e.reference = o.reference)
         OR (o.rule = 'capacity_deleted' AND e.type = 'capacity_provisioned'))
     WHERE o.withdrawn_at IS NULL
       AND o.tenant_id IN (SELECT tenant_id FROM new_events)
     ORDER BY o.tenant_id, o.obligation_id, e.occurred_at, e.event_id;
    UPDATE lethe.obligations o SET withdrawn_at = w.occurred_at, withdrawn_by = w.event_id
      FROM withdrawals w
     WHERE o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id;
    GET DIAGNOSTICS withdrawn = ROW_COUNT;
    INSERT INTO audit_stage (tenant_id, kind, rule, reference, triggered_at, subject_hmac, count, detail)
    SELECT o.tenant_id, 'obligation_withdrawn', o.rule, o.reference, o.triggered_at, o.subject_hmac,
           (SELECT count(*) FROM lethe.item_obligations p
             WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id),
           'withdrawn at ' || to_char(w.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      FROM withdrawals w
      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id
     ORDER BY o.tenant_id, o.obligation_id;

    -- New items: covered by obligations already expanded, or copies of items already due,
    -- in flight or purged. Items covered by obligations not yet expanded need nothing now.
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT n.tenant_id, n.item_id, o.rule, o.obligation_id, o.triggered_at, 0
      FROM new_items n
      JOIN lethe.obligations o ON o.tenant_id = n.tenant_id AND o.expanded_at IS NOT NULL
       AND n.created_at <= o.covers_until AND (NOT o.shared_only OR n.shared)
       AND (o.workspace_id IS NULL OR o.workspace_id = n.workspace_id)
       AND (o.subject_id IS NULL OR o.subject_id = n.owner_id)
       AND (o.item_id IS NULL OR o.item_id = n.item_id)
     WHERE o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of
    UNION
    SELECT n.tenant_id, n.item_id, p.rule, p.obligation_id, p.triggered_at, 0
      FROM new_items n
      JOIN lethe.item_obligations p ON p.tenant_id = n.tenant_id AND p.item_id = n.parent_id
    UNION
    SELECT n.tenant_id, n.item_id, b.rule, b.obligation_id, b.triggered_at, 0
      FROM new_items n
      JOIN lethe.batch_items b ON b.tenant_id = n.tenant_id AND b.item_id = n.parent_id
       AND (b.outcome IS NULL OR b.outcome = 'purged')
    ON CONFLICT DO NOTHING;

    -- Shared copies made while opted out are violations, due the instant they were made. The
    -- check runs for new shared items, and again for a tenant's live shared items whenever a
    -- sharing event arrives for it (a producer's late commit can change the answer).
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT n.tenant_id, n.item_id, 'shared_while_opted_out', 0, n.created_at, 0
      FROM new_items n
     WHERE n.shared AND lethe.opted_out_at(n.tenant_id, n.workspace_id, n.created_at)
    UNION
    SELECT i.tenant_id, i.item_id, 'shared_while_opted_out', 0, i.created_at, 0
      FROM lethe.items i
     WHERE i.tenant_id IN (SELECT e.tenant_id FROM new_events e
                            WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
       AND i.shared AND i.locator IS NOT NULL
       AND lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at)
    ON CONFLICT DO NOTHING;
    DELETE FROM lethe.item_obligations p USING lethe.items i
     WHERE p.rule = 'shared_while_opted_out' AND p.obligation_id = 0
       AND p.tenant_id IN (SELECT e.tenant_id FROM new_events e
                            WHERE e.type IN ('sharing_opted_in', 'sharing_opted_out'))
       AND i.tenant_id = p.tenant_id AND i.item_id = p.item_id AND i.parent_id IS NULL
       AND NOT lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at);
    expanded := expanded + lethe.propagate_seeds();

    -- Expand the obligations that are due now into their items, all in one pass: each
    -- obligation's rows carry its own obligation_id, so they never meet another's. (One
    -- obligation at a time cost a temp-table truncation and five statements each: 4 ms apiece.)
    -- One branch per kind of scope, so that each finds its items through its own index.
    CREATE TEMP TABLE todo ON COMMIT DROP AS
    SELECT ob.tenant_id, ob.obligation_id, ob.rule, ob.triggered_at, ob.covers_until,
           ob.workspace_id, ob.subject_id, ob.item_id, ob.shared_only
      FROM lethe.obligations ob
      JOIN lethe.rules r ON r.rule = ob.rule AND r.enabled
      CROSS JOIN lethe.settings s
     WHERE ob.expanded_at IS NULL AND lethe.in_shard(ob.tenant_id, p_k, p_n)
       AND (ob.withdrawn_at IS NULL OR ob.withdrawn_at > p_as_of)
       AND ob.triggered_at <= p_as_of
       AND lethe.due_time(ob.triggered_at, r.deadline, r.grace, s.lookahead) <= p_as_of;
    ANALYZE todo;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0
      FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
     WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
       AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
       AND (t.subject_id IS NULL OR i.owner_id = t.subject_id)
       AND (NOT t.shared_only OR i.shared)
    UNION ALL
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0
      FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
     WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
       AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
       AND (NOT t.shared_only OR i.shared)
    UNION ALL
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0
      FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
     WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
       AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
    UNION ALL
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0
      FROM todo t JOIN lethe.items i ON i.tenant_id = t.tenant_id
     WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NULL
       AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared);
    expanded := expanded + lethe.propagate_seeds();
    UPDATE lethe.obligations o SET expanded_at = clock_timestamp()
      FROM todo t WHERE o.tenant_id = t.tenant_id AND o.obligation_id = t.obligation_id;
    DROP TABLE todo;

    -- shared_retention: each live shared copy is due by its own created_at. The index range is
    -- bounded with the shortest the rule's durations can be, then checked exactly.
    SELECT r.*, s.lookahead INTO sr FROM lethe.rules r CROSS JOIN lethe.settings s
     WHERE r.rule = 'shared_retention';
    IF sr.enabled THEN
        bound := p_as_of - greatest(interval '0', least(lethe.interval_floor(sr.grace),
                                                        lethe.interval_floor(sr.deadline) - sr.lookahead));
        INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
        SELECT i.tenant_id, i.item_id, 'shared_retention', 0, i.created_at, 0
          FROM lethe.items i
         WHERE i.shared AND i.locator IS NOT NULL AND i.created_at <= bound
           AND lethe.in_shard(i.tenant_id, p_k, p_n)
           AND lethe.due_time(i.created_at, sr.deadline, sr.grace, sr.lookahead) <= p_as_of
           AND NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id
                              AND p.rule = 'shared_retention' AND p.obligation_id = 0)
        ON CONFLICT DO NOTHING;
        expanded := expanded + lethe.propagate_seeds();
    END IF;

    -- Obligations withdrawn by now release their items (those not already handed over).
    DELETE FROM lethe.item_obligations p USING lethe.obligations o
     WHERE p.obligation_id <> 0 AND o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
       AND o.withdrawn_at <= p_as_of AND lethe.in_shard(p.tenant_id, p_k, p_n);
    DROP TABLE new_events, new_items, withdrawals;
END $$;

-- ---- selection -----------------------------------------------------------------------------

CREATE FUNCTION lethe.iso_utc(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- The items due at p_as_of that are neither purged nor in an open batch, each with its
-- governing obligation (earliest deadline, ties in SPEC §3 order) and its earliest due time.
-- Only the expanded obligations make an item due, but the governing rule is chosen among all
-- that are in effect: a shared copy's own retention, or an obligation still in its grace,
-- may have the earlier deadline. hold_id names the active hold that blocks the item, if any:
-- such an item is reported, not batched.
CREATE FUNCTION lethe.due_items(p_as_of timestamptz, p_k integer, p_n integer)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, rule text, obligation_id bigint,
               reference text, subject_hmac text, triggered_at timestamptz, due_at timestamptz,
               deadline_at timestamptz, hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE p AS (
        SELECT p.tenant_id, p.item_id, p.rule, p.obligation_id, p.triggered_at,
               lethe.due_time(p.triggered_at, r.deadline, r.grace, s.lookahead) AS due_at,
               p.triggered_at + r.deadline AS deadline_at, r.priority
          FROM lethe.item_obligations p
          JOIN lethe.rules r ON r.rule = p.rule AND r.enabled
          CROSS JOIN lethe.settings s
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
         WHERE lethe.in_shard(p.tenant_id, p_k, p_n)
           AND (p.obligation_id = 0 OR o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
    ), due AS (
        SELECT p.tenant_id, p.item_id FROM p
         GROUP BY p.tenant_id, p.item_id HAVING min(p.due_at) <= p_as_of
    ), up AS (  -- each due item, then its ancestors
        SELECT i.tenant_id, i.item_id, i.parent_id, i.item_id AS anc, i.created_at, i.shared,
               i.workspace_id, i.owner_id, 0 AS depth
          FROM due JOIN lethe.items i ON i.tenant_id = due.tenant_id AND i.item_id = due.item_id
         WHERE i.locator IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                            WHERE b.tenant_id = due.tenant_id AND b.item_id = due.item_id
                              AND b.outcome IS NULL)
        UNION ALL
        SELECT up.tenant_id, up.item_id, a.parent_id, a.item_id, a.created_at, a.shared,
               a.workspace_id, a.owner_id, up.depth + 1
          FROM up JOIN lethe.items a ON a.tenant_id = up.tenant_id AND a.item_id = up.parent_id
         WHERE up.depth < 64
    ), c AS (
        -- The item's own obligations, read again through the primary key rather than joined
        -- with p: the planner cannot count the rows of a CTE, and under --shard it takes
        -- both for a row or two; a nested loop over two CTE scans was quadratic (40 s for
        -- 24k due items on the bench catalog).
        SELECT p.tenant_id, p.item_id, p.rule, p.obligation_id, p.triggered_at,
               lethe.due_time(p.triggered_at, r.deadline, r.grace, s.lookahead) AS due_at,
               p.triggered_at + r.deadline AS deadline_at, r.priority
          FROM up
          JOIN lethe.item_obligations p ON p.tenant_id = up.tenant_id AND p.item_id = up.item_id
          JOIN lethe.rules r ON r.rule = p.rule AND r.enabled
          CROSS JOIN lethe.settings s
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
         WHERE up.depth = 0
           AND (p.obligation_id = 0 OR o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION ALL  -- the retention of a shared copy (the item or an ancestor), due or not yet
        SELECT up.tenant_id, up.item_id, r.rule, 0, up.created_at,
               lethe.due_time(up.created_at, r.deadline, r.grace, s.lookahead),
               up.created_at + r.deadline, r.priority
          FROM up JOIN lethe.rules r ON r.rule = 'shared_retention' AND r.enabled
          CROSS JOIN lethe.settings s
         WHERE up.shared
        UNION ALL  -- obligations in effect but not expanded yet (in their grace)
        SELECT up.tenant_id, up.item_id, o.rule, o.obligation_id, o.triggered_at,
               lethe.due_time(o.triggered_at, r.deadline, r.grace, s.lookahead),
               o.triggered_at + r.deadline, r.priority
          FROM up
          JOIN lethe.obligations o
            ON o.tenant_id = up.tenant_id AND o.expanded_at IS NULL
           AND o.triggered_at <= p_as_of AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
           AND up.created_at <= o.covers_until AND (NOT o.shared_only OR up.shared)
           AND (o.workspace_id IS NULL OR o.workspace_id = up.workspace_id)
           AND (o.subject_id IS NULL OR o.subject_id = up.owner_id)
           AND (o.item_id IS NULL OR o.item_id = up.anc)
          JOIN lethe.rules r ON r.rule = o.rule AND r.enabled
          CROSS JOIN lethe.settings s
    ), g AS (
        SELECT DISTINCT ON (c.tenant_id, c.item_id) c.*,
               min(c.due_at) OVER (PARTITION BY c.tenant_id, c.item_id) AS item_due
          FROM c
         ORDER BY c.tenant_id, c.item_id, c.deadline_at, c.priority, c.obligation_id
    ), held AS (
        -- What lethe.holding() answers for each item, from the ancestors already in up: the
        -- first active hold (by placed_at, hold_id) on the item or an ancestor. One join
        -- instead of a function call per item, which held items pay at every run.
        SELECT DISTINCT ON (up.tenant_id, up.item_id) up.tenant_id, up.item_id, h.hold_id
          FROM up JOIN lethe.holds h ON h.tenant_id = up.tenant_id
           AND (h.workspace_id IS NULL OR h.workspace_id = up.workspace_id)
           AND (h.subject_id IS NULL OR h.subject_id = up.owner_id)
           AND (h.item_id IS NULL OR h.item_id = up.anc)
         WHERE h.placed_at <= p_as_of AND (h.released_at IS NULL OR h.released_at > p_as_of)
         ORDER BY up.tenant_id, up.item_id, h.placed_at, h.hold_id
    )
    SELECT g.tenant_id, g.item_id, i.location, g.rule, g.obligation_id, o.reference,
           o.subject_hmac, g.triggered_at, g.item_due, g.deadline_at, hd.hold_id
      FROM g
      JOIN lethe.items i ON i.tenant_id = g.tenant_id AND i.item_id = g.item_id
      LEFT JOIN lethe.obligations o ON o.tenant_id = g.tenant_id AND o.obligation_id = g.obligation_id
      LEFT JOIN held hd ON hd.tenant_id = g.tenant_id AND hd.item_id = g.item_id
$$;

-- Every obligation that covers one item, whether expanded or not, through the item itself or
-- any ancestor: what explain shows and what item_status is computed from.
CREATE FUNCTION lethe.obligations_of(p_tenant uuid, p_item uuid, p_as_of timestamptz)
RETURNS TABLE (rule text, obligation_id bigint, event_id bigint, reference text,
               triggered_at timestamptz, due_at timestamptz, deadline_at timestamptz,
               withdrawn_at timestamptz, active boolean, via_item uuid, priority integer)
LANGUAGE sql STABLE AS $$
    WITH up AS (SELECT * FROM lethe.ancestry(p_tenant, p_item)), raw AS (
        SELECT o.rule, o.obligation_id, o.event_id, o.reference, o.triggered_at, o.withdrawn_at,
               up.item_id AS via
          FROM lethe.obligations o
          JOIN up ON (o.workspace_id IS NULL OR o.workspace_id = up.workspace_id)
                 AND (o.subject_id IS NULL OR o.subject_id = up.owner_id)
                 AND (o.item_id IS NULL OR o.item_id = up.item_id)
                 AND up.created_at <= o.covers_until AND (NOT o.shared_only OR up.shared)
         WHERE o.tenant_id = p_tenant
        UNION ALL
        SELECT p.rule, p.obligation_id, o.event_id, o.reference, p.triggered_at, o.withdrawn_at,
               p_item
          FROM lethe.item_obligations p
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = p.tenant_id AND o.obligation_id = p.obligation_id
         WHERE p.tenant_id = p_tenant AND p.item_id = p_item
        UNION ALL  -- the one it was purged under (a tombstone no longer names its subject)
        SELECT b.rule, b.obligation_id, o.event_id, b.reference, b.triggered_at, o.withdrawn_at,
               p_item
          FROM lethe.batch_items b
          LEFT JOIN lethe.obligations o
            ON o.tenant_id = b.tenant_id AND o.obligation_id = b.obligation_id
         WHERE b.tenant_id = p_tenant AND b.item_id = p_item AND b.outcome = 'purged'
        UNION ALL
        SELECT 'shared_retention', 0, NULL, NULL, up.created_at, NULL, up.item_id
          FROM up WHERE up.shared
        UNION ALL
        SELECT 'shared_while_opted_out', 0, NULL, NULL, up.created_at, NULL, up.item_id
          FROM up WHERE up.shared AND lethe.opted_out_at(p_tenant, up.workspace_id, up.created_at)
    )
    SELECT DISTINCT ON (raw.rule, raw.obligation_id)
           raw.rule, raw.obligation_id, raw.event_id, raw.reference, raw.triggered_at,
           lethe.due_time(raw.triggered_at, r.deadline, r.grace, s.lookahead),
           raw.triggered_at + r.deadline, raw.withdrawn_at,
           r.enabled AND (raw.withdrawn_at IS NULL OR raw.withdrawn_at > p_as_of),
           raw.via, r.priority
      FROM raw
      JOIN lethe.rules r ON r.rule = raw.rule
      CROSS JOIN lethe.settings s
     WHERE EXISTS (SELECT 1 FROM up JOIN lethe.kinds k ON k.kind = up.kind
                    WHERE up.depth = 0 AND k.customer_data)
     ORDER BY raw.rule, raw.obligation_id, raw.triggered_at
$$;

-- One item's standing at p_as_of, before batches are considered: its earliest due time, its
-- governing rule and deadline, and the hold that blocks it when it is due.
CREATE FUNCTION lethe.evaluate_item(p_tenant uuid, p_item uuid, p_as_of timestamptz,
                                    OUT rule text, OUT obligation_id bigint, OUT reference text,
                                    OUT triggered_at timestamptz, OUT due_at timestamptz,
                                    OUT deadline_at timestamptz, OUT hold_id uuid)
LANGUAGE sql STABLE AS $$
    WITH a AS (SELECT * FROM lethe.obligations_of(p_tenant, p_item, p_as_of) WHERE active),
         -- An obligation whose trigger has not come yet (a future-dated event) schedules the
         -- item but governs it only when nothing in effect does.
         g AS (SELECT * FROM a ORDER BY triggered_at > p_as_of, deadline_at, priority, obligation_id
               LIMIT 1),
         d AS (SELECT min(due_at) AS due_at FROM a)
    SELECT g.rule, g.obligation_id, g.reference, g.triggered_at, d.due_at, g.deadline_at,
           CASE WHEN d.due_at <= p_as_of THEN lethe.holding(p_tenant, p_item, p_as_of) END
      FROM g CROSS JOIN d
$$;

-- SPEC §6. A purged or in-flight item keeps the rule and deadline it was batched under.
CREATE VIEW lethe.item_status AS
SELECT i.tenant_id, i.item_id, i.kind, i.location,
       CASE WHEN pb.item_id IS NOT NULL OR i.locator IS NULL THEN 'purged'
            WHEN ob.item_id IS NOT NULL THEN 'in_flight'
            WHEN ev.due_at <= now() AND ev.hold_id IS NOT NULL THEN 'held'
            WHEN ev.due_at <= now() THEN 'due'
            WHEN ev.due_at IS NOT NULL THEN 'scheduled'
            ELSE 'live' END AS state,
       coalesce(pb.rule, ob.rule, ev.rule) AS rule,
       coalesce(pb.due_at, ob.due_at, ev.due_at) AS due_at,
       coalesce(pb.deadline_at, ob.deadline_at, ev.deadline_at) AS deadline_at,
       pb.purged_at,
       coalesce(ob.batch_id, pb.batch_id) AS batch_id,
       (SELECT count(*)::integer FROM lethe.batch_items f
         WHERE f.tenant_id = i.tenant_id AND f.item_id = i.item_id AND f.outcome = 'failed') AS attempts,
       ev.hold_id,
       coalesce(pb.reference, ob.reference, ev.reference) AS reference
  FROM lethe.items i
  LEFT JOIN lethe.batch_items pb
    ON pb.tenant_id = i.tenant_id AND pb.item_id = i.item_id AND pb.outcome = 'purged'
  LEFT JOIN lethe.batch_items ob
    ON ob.tenant_id = i.tenant_id AND ob.item_id = i.item_id AND ob.outcome IS NULL
  LEFT JOIN LATERAL lethe.evaluate_item(i.tenant_id, i.item_id, now()) ev
    ON pb.item_id IS NULL AND ob.item_id IS NULL AND i.locator IS NOT NULL;

-- ---- batches -------------------------------------------------------------------------------

-- Turns the due items into batches of at most p_max items, one location each, and records the
-- holds that begin to block due items. Returns the new batches. Runs in the caller's
-- transaction; audit records go to audit_stage. p_items limits the selection to some items
-- (a rerun of a failed batch); null means every due item.
CREATE FUNCTION lethe.emit_batches(p_run uuid, p_as_of timestamptz, p_k integer, p_n integer,
                                   p_max integer, p_shard text, p_items uuid[] DEFAULT NULL,
                                   p_rerun_of uuid DEFAULT NULL)
RETURNS TABLE (batch_id uuid, location text, items integer)
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE due_now ON COMMIT DROP AS
    SELECT d.* FROM lethe.due_items(p_as_of, p_k, p_n) d
     WHERE p_items IS NULL OR d.item_id = ANY (p_items);

    WITH blocked AS (
        INSERT INTO lethe.hold_blocks (tenant_id, item_id, hold_id)
        SELECT d.tenant_id, d.item_id, d.hold_id FROM due_now d WHERE d.hold_id IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING hold_blocks.tenant_id, hold_blocks.item_id, hold_blocks.hold_id)
    INSERT INTO audit_stage (tenant_id, kind, run_id, item_id, rule, reference, triggered_at,
                             deadline_at, hold_id, detail)
    SELECT b.tenant_id, 'hold_blocked', p_run, b.item_id, d.rule, h.reference, d.triggered_at,
           d.deadline_at, b.hold_id, 'due ' || lethe.iso_utc(d.due_at)
      FROM blocked b
      JOIN due_now d ON d.tenant_id = b.tenant_id AND d.item_id = b.item_id
      JOIN lethe.holds h ON h.tenant_id = b.tenant_id AND h.hold_id = b.hold_id
     ORDER BY b.tenant_id, b.item_id;

    CREATE TEMP TABLE numbered ON COMMIT DROP AS
    SELECT d.*, (row_number() OVER (PARTITION BY d.location ORDER BY d.tenant_id, d.item_id) - 1)
                 AS rn
      FROM due_now d WHERE d.hold_id IS NULL;
    CREATE TEMP TABLE new_batches ON COMMIT DROP AS
    SELECT gen_random_uuid() AS batch_id, n.location, n.rn / p_max AS bno, count(*)::integer AS items
      FROM numbered n GROUP BY n.location, n.rn / p_max;

    INSERT INTO lethe.batches (batch_id, run_id, location, shard, items, rerun_of)
    SELECT b.batch_id, p_run, b.location, p_shard, b.items, p_rerun_of
      FROM new_batches b ORDER BY b.location, b.bno;
    INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                   reference, subject_hmac, triggered_at, due_at, deadline_at)
    SELECT n.tenant_id, n.item_id, b.batch_id, (n.rn % p_max)::integer, n.location, n.rule,
           n.obligation_id, n.reference, n.subject_hmac, n.triggered_at, n.due_at, n.deadline_at
      FROM numbered n JOIN new_batches b ON b.location = n.location AND b.bno = n.rn / p_max;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator)
    SELECT '00000000-0000-0000-0000-000000000000', 'batch_emitted', p_run, b.batch_id,
           b.location, b.items, NULL
      FROM new_batches b ORDER BY b.location, b.bno;

    -- The due items a hold blocks, for the run's summary: read back with
    -- current_setting('lethe.emit_held') in the same transaction, so that the caller need not
    -- select the due items a second time (with open batches just added, that costs as much).
    PERFORM set_config('lethe.emit_held', (SELECT count(*) FROM due_now d WHERE d.hold_id IS NOT NULL)::text,
                       true);
    RETURN QUERY SELECT b.batch_id, b.location, b.items FROM new_batches b ORDER BY b.location, b.bno;
    DROP TABLE due_now, numbered, new_batches;
END $$;

-- The manifest of one batch, line by line (SPEC §4): a header, then one object per item.
-- Deterministic, so that an open batch's manifest can be written again byte for byte. An item
-- purged meanwhile through another batch (a late ack) is left out: it is never handed to a
-- deleter again after its purge was acknowledged.
CREATE FUNCTION lethe.manifest_lines(p_batch uuid) RETURNS SETOF text LANGUAGE sql STABLE AS $$
    WITH its AS (
        SELECT bi.*, i.workspace_id, i.kind, i.locator
          FROM lethe.batch_items bi
          JOIN lethe.items i ON i.tenant_id = bi.tenant_id AND i.item_id = bi.item_id
         WHERE bi.batch_id = p_batch AND bi.outcome IS DISTINCT FROM 'superseded'
           AND i.locator IS NOT NULL
    )
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

-- Acknowledges a batch (SPEC §4), in the caller's transaction. p_failed lists the items the
-- deleter could not delete, with p_reasons (free text: kept on the batch item, never audited).
-- p_batch_failed closes the whole batch as failed (executor exit or timeout); p_detail then
-- says why in fixed words. Idempotent. A late ack of a batch that had failed still purges
-- its items, since the deletion happened; an open batch holding the same items gives them up.
-- Returns the number of items purged by this call.
CREATE FUNCTION lethe.ack_batch(p_batch uuid, p_failed uuid[], p_reasons text[],
                                p_batch_failed boolean, p_detail text, p_operator text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    b lethe.batches;
    purge_time timestamptz;
    n_purged integer := 0;
    n_failed integer := 0;
BEGIN
    SELECT * INTO b FROM lethe.batches WHERE batch_id = p_batch FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown batch %', p_batch USING ERRCODE = 'no_data_found';
    END IF;
    IF b.state = 'acknowledged' THEN
        RETURN 0;
    END IF;
    IF p_batch_failed THEN
        IF b.state = 'open' THEN
            UPDATE lethe.batch_items SET outcome = 'failed', reason = p_detail
             WHERE batch_id = p_batch AND outcome IS NULL;
            GET DIAGNOSTICS n_failed = ROW_COUNT;
            UPDATE lethe.batches SET state = 'failed', closed_at = clock_timestamp(), error = p_detail
             WHERE batch_id = p_batch;
            INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
            VALUES ('00000000-0000-0000-0000-000000000000', 'batch_failed', b.run_id, p_batch,
                    b.location, n_failed, p_operator, p_detail);
        END IF;
        RETURN 0;
    END IF;

    -- Items the deleter could not delete: due again at the next run.
    WITH f AS (
        UPDATE lethe.batch_items bi SET outcome = 'failed', reason = x.reason
          FROM unnest(p_failed, p_reasons) AS x(item_id, reason)
         WHERE bi.batch_id = p_batch AND bi.item_id = x.item_id AND bi.outcome IS NULL
        RETURNING bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.triggered_at, bi.deadline_at)
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference,
                             triggered_at, deadline_at, location, operator)
    SELECT f.tenant_id, 'item_failed', b.run_id, p_batch, f.item_id, f.rule, f.reference,
           f.triggered_at, f.deadline_at, b.location, p_operator
      FROM f ORDER BY f.tenant_id, f.item_id;
    GET DIAGNOSTICS n_failed = ROW_COUNT;

    -- Everything else in the batch is gone. Items purged through another batch meanwhile are
    -- left as they are: each item is purged, and audited, once.
    CREATE TEMP TABLE acked ON COMMIT DROP AS
    SELECT bi.tenant_id, bi.item_id, bi.rule, bi.reference, bi.subject_hmac, bi.triggered_at,
           bi.deadline_at
      FROM lethe.batch_items bi
     WHERE bi.batch_id = p_batch
       AND (bi.outcome IS NULL OR (b.state = 'failed' AND bi.outcome = 'failed'))
       AND NOT (bi.item_id = ANY (coalesce(p_failed, '{}')))
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items x
                        WHERE x.tenant_id = bi.tenant_id AND x.item_id = bi.item_id
                          AND x.outcome = 'purged');
    -- Another open batch holding one of these items gives it up.
    UPDATE lethe.batch_items x SET outcome = 'superseded'
      FROM acked a
     WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id AND x.outcome IS NULL
       AND x.batch_id <> p_batch;
    purge_time := clock_timestamp();
    UPDATE lethe.items i SET locator = NULL, owner_id = NULL
      FROM acked a WHERE i.tenant_id = a.tenant_id AND i.item_id = a.item_id;
    UPDATE lethe.batch_items bi SET outcome = 'purged', purged_at = purge_time, reason = NULL
      FROM acked a
     WHERE bi.batch_id = p_batch AND bi.tenant_id = a.tenant_id AND bi.item_id = a.item_id;
    GET DIAGNOSTICS n_purged = ROW_COUNT;
    DELETE FROM lethe.item_obligations p USING acked a
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
      FROM acked a
      LEFT JOIN LATERAL (SELECT x.hold_id FROM lethe.hold_blocks x
                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id
                          ORDER BY x.blocked_at DESC LIMIT 1) hb ON true
      LEFT JOIN lethe.holds h ON h.tenant_id = a.tenant_id AND h.hold_id = hb.hold_id
     ORDER BY a.tenant_id, a.item_id;
    UPDATE lethe.batches SET state = 'acknowledged', closed_at = clock_timestamp()
     WHERE batch_id = p_batch;
    INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count, operator, detail)
    VALUES ('00000000-0000-0000-0000-000000000000', 'batch_acknowledged', b.run_id, p_batch,
            b.location, n_purged, p_operator,
            CASE WHEN n_failed > 0 THEN n_failed || ' failed' END);
    DROP TABLE acked;
    RETURN n_purged;
END $$;
