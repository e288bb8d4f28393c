-- Status memory (issue 14, shapes 7 and 8). `lethe status`, `status --check` and
-- `export --summary` read lethe.pending_items(now()); sql/0015_status_scale.sql made its cheap
-- path (the live shared items and their copies, scheduled under shared_retention alone) three
-- times cheaper per item, but it still looked at every one of them on every call: 123k items
-- and 3.4 s at 10M items.
--
-- Now that cheap path is remembered per tenant, and read back when nothing that decides it has
-- changed since:
--   lethe.status_memory          per tenant, the rows of the cheap path (lethe.shared_schedule):
--                                an item scheduled under shared_retention alone, with its due
--                                time and deadline (standing = false), or an item whose
--                                lineage holds more than that or whose due time has come, which
--                                lethe.standing() evaluates on every read (standing = true);
--   lethe.status_memory_tenants  per tenant, when it was taken (as_of, and the snapshot of the
--                                transaction that took it), and until when it holds by itself:
--                                the first due time of its scheduled rows;
--   lethe.status_memory_meta     lethe.rules_digest() and the Customer Data kinds it was taken
--                                under: any change of a rule, the lookahead or the kinds forgets
--                                all of it;
--   lethe.status_dirty           per tenant, transactions that changed what decides the
--                                cheap path: a consumed item or event (inbox_items and
--                                inbox_events deleted), a tombstone or any other update of an
--                                item, a batch item written, an obligation written. Statement
--                                triggers append it in the writer's own transaction, so a memory
--                                taken by a snapshot that cannot see that transaction is never
--                                read after it commits (pg_visible_in_snapshot). Appended only:
--                                writers (the run, ack, restore) never wait on it.
-- A tenant is read from memory only when all of that holds and it has no event a run has not
-- consumed (an opt-out or opt-in changes what its shared copies owe at once); every other
-- tenant is evaluated as 0015 does. What may carry other obligations (item_obligations not
-- held, held items not remembered, items not consumed, scopes of obligations not expanded and
-- their descendants) is found afresh on every read, as before, and taken out of the memory's
-- rows. So pending_items gives the same rows with or without the memory, item for item; the
-- memory only decides how much is evaluated.
--
-- The memory is taken by lethe.status_memory_refresh(), which status and the engine's export
-- --summary call in a transaction of their own before they read (the run never waits for it,
-- nor it for the run), for the tenants that need it; the auditor's role may not, and reads what
-- status last took. On Citus the triggers cannot exist (sql/0011_citus.sql), so there is no
-- memory and pending_items is 0015's.
--
-- pending_items is put together from parts that status reads apart, so as not to copy the
-- remembered rows: status_usable (the tenants read from memory), pending_complex (what
-- standing() decides), pending_items_rest (every row but the remembered scheduled ones), and
-- the memory itself, counted from each tenant's count (engine/dbstatus.c). Status's purged
-- counts per rule come from lethe.purged_counts, appended by statement triggers on batch_items.
--
-- pending_items_live is 0015's pending_items, unchanged: the reference the tests compare with.
-- Their walks, like every walk along parent_id, follow every level up to 100,000 (0015's
-- stopped at 64; lethe.lineage_max_depth() in sql/0019_lineage_and_receipts.sql says why).

CREATE FUNCTION lethe.pending_items_live(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), roots AS (  -- what may carry more than sharing's own obligations
        SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p WHERE NOT p.held
        UNION
        SELECT h.tenant_id, h.item_id FROM lethe.held_items h
         WHERE h.tenant_id NOT IN (SELECT valid.tenant_id FROM valid)
        UNION
        SELECT b.tenant_id, b.item_id FROM lethe.inbox_items b
        UNION
        SELECT i.tenant_id, i.item_id
          FROM lethe.obligations o
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, i.owner_id, i.owner_digest)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
         WHERE o.expanded_at IS NULL AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
    ), walk AS (
        SELECT r.tenant_id, r.item_id, 0 AS depth FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.depth + 1
          FROM walk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 100000
    ), swalk AS (  -- live shared items and their copies, with what the cheaper path reads
        SELECT i.tenant_id, i.item_id, i.parent_id, i.workspace_id, i.owner_id, i.owner_digest,
               i.shared, i.created_at, i.location, i.kind, true AS live, 0 AS depth
          FROM lethe.items i
         WHERE i.shared AND i.locator IS NOT NULL
        UNION ALL
        SELECT c.tenant_id, c.item_id, c.parent_id, c.workspace_id, c.owner_id, c.owner_digest,
               c.shared, c.created_at, c.location, c.kind, c.live, w.depth + 1
          FROM swalk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id, c.parent_id, c.workspace_id,
                                     c.owner_id, c.owner_digest, c.shared, c.created_at,
                                     c.location, c.kind, c.locator IS NOT NULL AS live
                                FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 100000
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), complex AS MATERIALIZED (
        SELECT DISTINCT w.tenant_id, w.item_id FROM walk w
    ), cand AS MATERIALIZED (  -- live Customer Data, not handed over, not remembered held
        SELECT c.tenant_id, c.item_id, true AS complex, NULL::uuid AS parent_id,
               NULL::uuid AS workspace_id, NULL::text AS owner_id, NULL::bytea AS owner_digest,
               NULL::boolean AS shared, NULL::timestamptz AS created_at, NULL::text AS location
          FROM complex c
         WHERE EXISTS (SELECT 1 FROM lethe.items i
                        WHERE i.tenant_id = c.tenant_id AND i.item_id = c.item_id
                          AND i.locator IS NOT NULL
                          AND i.kind = ANY ((SELECT cd.kinds FROM cd)::text[]))
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
           AND NOT coalesce((SELECT true FROM lethe.held_items h
                              WHERE h.tenant_id = c.tenant_id AND h.item_id = c.item_id
                                AND h.tenant_id IN (SELECT valid.tenant_id FROM valid) LIMIT 1), false)
        UNION ALL
        SELECT * FROM (
        SELECT DISTINCT ON (w.tenant_id, w.item_id) w.tenant_id, w.item_id, false, w.parent_id,
               w.workspace_id, w.owner_id, w.owner_digest, w.shared, w.created_at, w.location
          FROM swalk w
         WHERE w.live AND w.kind = ANY ((SELECT cd.kinds FROM cd)::text[])
           AND NOT EXISTS (SELECT 1 FROM complex x
                            WHERE x.tenant_id = w.tenant_id AND x.item_id = w.item_id)
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = w.tenant_id AND b.item_id = w.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
           AND NOT (w.tenant_id IN (SELECT valid.tenant_id FROM valid)
                    AND EXISTS (SELECT 1 FROM lethe.held_items h
                                 WHERE h.tenant_id = w.tenant_id AND h.item_id = w.item_id))
         ORDER BY w.tenant_id, w.item_id) s
    ), ups AS (  -- the shared part's lineage, the item itself at depth 0
        SELECT c.tenant_id, c.item_id, c.item_id AS anc, c.parent_id, c.workspace_id, c.owner_id,
               c.owner_digest, c.shared, c.created_at, true AS customer_data, false AS purged,
               0 AS depth
          FROM cand c WHERE NOT c.complex
        UNION ALL
        SELECT u.tenant_id, u.item_id, a.item_id, a.parent_id, a.workspace_id, a.owner_id,
               a.owner_digest, a.shared, a.created_at, a.kind = ANY ((SELECT cd.kinds FROM cd)::text[]),
               a.locator IS NULL, u.depth + 1
          FROM ups u
          CROSS JOIN LATERAL (SELECT a.item_id, a.parent_id, a.workspace_id, a.owner_id,
                                     a.owner_digest, a.shared, a.created_at, a.kind, a.locator
                                FROM lethe.items a
                               WHERE a.tenant_id = u.tenant_id AND a.item_id = u.parent_id
                              OFFSET 0) a
         WHERE u.depth < 100000 AND u.parent_id IS NOT NULL
    ), optout AS MATERIALIZED (
        SELECT DISTINCT e.tenant_id FROM lethe.events e WHERE e.type = 'sharing_opted_out'
    ), spoiled AS MATERIALIZED (  -- more than sharing's own: standing() decides
        SELECT u.tenant_id, u.item_id FROM ups u WHERE u.purged
        UNION
        SELECT u.tenant_id, u.item_id
          FROM ups u
          JOIN lethe.obligations o ON o.tenant_id = u.tenant_id
           AND u.created_at <= o.covers_until AND (NOT o.shared_only OR u.shared)
           AND (o.workspace_id IS NULL OR o.workspace_id = u.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, u.owner_id, u.owner_digest)
           AND (o.item_id IS NULL OR o.item_id = u.anc)
         WHERE u.customer_data AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION
        SELECT u.tenant_id, u.item_id  -- (the CASE keeps the call above the join: only the
          FROM ups u JOIN optout t ON t.tenant_id = u.tenant_id  -- tenants that opted out pay)
         WHERE u.customer_data AND u.shared
           AND CASE WHEN t.tenant_id IS NOT NULL
                    THEN lethe.opted_out_at(u.tenant_id, u.workspace_id, u.created_at) END
    ), fast AS MATERIALIZED (  -- the rest: shared_retention rows only
        SELECT DISTINCT ON (u.tenant_id, u.item_id) u.tenant_id, u.item_id,
               u.created_at + r.deadline AS deadline_at,
               min(lethe.due_time(u.created_at, r.deadline, r.grace, s.lookahead))
                   OVER (PARTITION BY u.tenant_id, u.item_id) AS due_at
          FROM ups u
          JOIN lethe.rules r ON r.rule = 'shared_retention' AND r.enabled
          CROSS JOIN lethe.settings s
         WHERE u.customer_data AND u.shared
           AND NOT EXISTS (SELECT 1 FROM spoiled x
                            WHERE x.tenant_id = u.tenant_id AND x.item_id = u.item_id)
         ORDER BY u.tenant_id, u.item_id, u.created_at > p_as_of, u.created_at + r.deadline,
                  u.depth
    ), arr AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM (SELECT c.tenant_id, c.item_id FROM cand c WHERE c.complex
                UNION ALL
                SELECT x.tenant_id, x.item_id FROM spoiled x
                UNION ALL
                SELECT f.tenant_id, f.item_id FROM fast f WHERE f.due_at <= p_as_of) x
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT f.tenant_id, f.item_id, c.location, 'scheduled', 'shared_retention', NULL::text, f.due_at, f.deadline_at, NULL::uuid, NULL::uuid
      FROM fast f JOIN cand c ON c.tenant_id = f.tenant_id AND c.item_id = f.item_id
     WHERE f.due_at > p_as_of
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h JOIN valid ON valid.tenant_id = h.tenant_id
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_live(timestamptz) FROM PUBLIC;

-- ---- the memory ----------------------------------------------------------------------------

CREATE TABLE lethe.status_memory (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    location text NOT NULL,
    due_at timestamptz,                -- null when standing
    deadline_at timestamptz,
    standing boolean NOT NULL,         -- evaluated by lethe.standing() on every read
    PRIMARY KEY (tenant_id, item_id)
);
CREATE INDEX status_memory_standing ON lethe.status_memory (tenant_id, item_id) WHERE standing;
-- status's lists (overdue, next deadlines) read the scheduled rows in deadline order.
CREATE INDEX status_memory_deadline ON lethe.status_memory (deadline_at, tenant_id, item_id)
    WHERE NOT standing;

CREATE TABLE lethe.status_memory_tenants (
    tenant_id uuid PRIMARY KEY,
    taken_as_of timestamptz NOT NULL,
    taken_in pg_snapshot NOT NULL,     -- the snapshot of the transaction that took it
    holds_until timestamptz NOT NULL,  -- the first due time of its scheduled rows
    scheduled bigint NOT NULL          -- how many scheduled rows it holds
);

CREATE TABLE lethe.status_memory_meta (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    digest text NOT NULL,
    taken_as_of timestamptz NOT NULL
);

CREATE TABLE lethe.status_dirty (
    tenant_id uuid NOT NULL,
    changed_in xid8 NOT NULL           -- a transaction that changed the tenant
);
CREATE INDEX status_dirty_tenant ON lethe.status_dirty (tenant_id, changed_in);

-- The live shared items of a tenant, found by tenant (the cheap path's start).
CREATE INDEX items_shared_live_tenant ON lethe.items (tenant_id)
    WHERE shared AND locator IS NOT NULL;

-- What the memory was taken under: the rules, the lookahead and the Customer Data kinds.
CREATE FUNCTION lethe.status_memory_digest() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT md5(lethe.rules_digest() || '|'
               || coalesce((SELECT string_agg(k.kind, ',' ORDER BY k.kind) FROM lethe.kinds k
                             WHERE k.customer_data), ''))
$$;

-- Rows are only appended here (never updated), so that writers never wait for each other nor
-- deadlock on them. A writer skips the tenants whose memory a row already spoils, or that have
-- no memory: while it holds the shared lock (7283315) no memory can be taken (the refresh
-- takes it exclusively, and only when no writer holds it), so the next one is taken by a
-- snapshot that sees this writer's commit. While a refresh runs, writers append for every
-- tenant they change. So the table holds about one row per changed tenant between two
-- refreshes, which delete the rows their memory absorbed.
CREATE FUNCTION lethe.status_dirty_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF pg_try_advisory_xact_lock_shared(7283315, 0) THEN
        INSERT INTO lethe.status_dirty (tenant_id, changed_in)
        SELECT DISTINCT c.tenant_id, pg_current_xact_id() FROM changed c
          JOIN lethe.status_memory_tenants m ON m.tenant_id = c.tenant_id
         WHERE NOT EXISTS (SELECT 1 FROM lethe.status_dirty d
                            WHERE d.tenant_id = c.tenant_id
                              AND NOT pg_visible_in_snapshot(d.changed_in, m.taken_in));
    ELSE
        INSERT INTO lethe.status_dirty (tenant_id, changed_in)
        SELECT DISTINCT c.tenant_id, pg_current_xact_id() FROM changed c;
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lethe.status_dirty_mark() FROM PUBLIC;

-- Not on Citus: triggers on distributed tables are refused there (sql/0011_citus.sql), and
-- without them there is no memory.
DO $triggers$
DECLARE
    t record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    FOR t IN SELECT * FROM (VALUES ('items', 'UPDATE', 'NEW'),
                                   ('inbox_items', 'DELETE', 'OLD'),
                                   ('inbox_events', 'DELETE', 'OLD'),
                                   ('batch_items', 'INSERT', 'NEW'),
                                   ('batch_items', 'UPDATE', 'NEW'),
                                   ('batch_items', 'DELETE', 'OLD'),
                                   ('obligations', 'INSERT', 'NEW'),
                                   ('obligations', 'UPDATE', 'NEW'),
                                   ('obligations', 'DELETE', 'OLD')) v(tab, ev, side) LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER %s ON lethe.%I REFERENCING %s TABLE AS changed'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION lethe.status_dirty_mark()',
                       t.tab || '_status_dirty_' || lower(t.ev), t.ev, t.tab, t.side);
    END LOOP;
END $triggers$;

-- The cheap path of 0015 for the live shared items of p_tenants and their copies, without what
-- a read decides afresh (what may carry other obligations, remembered holds): one row per live
-- Customer Data item not in a batch, scheduled (standing = false) when its lineage holds
-- nothing but per-item shared_retention rows and its due time is still to come, otherwise
-- standing (and then standing() decides). An item whose lineage holds an item created after
-- p_as_of is standing too: which row governs it changes when that time comes.
CREATE FUNCTION lethe.shared_schedule(p_as_of timestamptz, p_tenants uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, due_at timestamptz,
               deadline_at timestamptz, standing boolean)
LANGUAGE sql STABLE SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE swalk AS (
        SELECT i.tenant_id, i.item_id, i.parent_id, i.workspace_id, i.owner_id, i.owner_digest,
               i.shared, i.created_at, i.location, i.kind, true AS live, 0 AS depth
          FROM unnest(p_tenants) t(tenant_id)
          CROSS JOIN LATERAL (SELECT i.tenant_id, i.item_id, i.parent_id, i.workspace_id,
                                     i.owner_id, i.owner_digest, i.shared, i.created_at,
                                     i.location, i.kind
                                FROM lethe.items i
                               WHERE i.tenant_id = t.tenant_id AND i.shared
                                 AND i.locator IS NOT NULL
                              OFFSET 0) i
        UNION ALL
        SELECT c.tenant_id, c.item_id, c.parent_id, c.workspace_id, c.owner_id, c.owner_digest,
               c.shared, c.created_at, c.location, c.kind, c.live, w.depth + 1
          FROM swalk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id, c.parent_id, c.workspace_id,
                                     c.owner_id, c.owner_digest, c.shared, c.created_at,
                                     c.location, c.kind, c.locator IS NOT NULL AS live
                                FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 100000
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), cand AS MATERIALIZED (
        SELECT DISTINCT ON (w.tenant_id, w.item_id) w.tenant_id, w.item_id, w.parent_id,
               w.workspace_id, w.owner_id, w.owner_digest, w.shared, w.created_at, w.location
          FROM swalk w
         WHERE w.live AND w.kind = ANY ((SELECT cd.kinds FROM cd)::text[])
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = w.tenant_id AND b.item_id = w.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
         ORDER BY w.tenant_id, w.item_id
    ), ups AS (
        SELECT c.tenant_id, c.item_id, c.item_id AS anc, c.parent_id, c.workspace_id, c.owner_id,
               c.owner_digest, c.shared, c.created_at, true AS customer_data, false AS purged,
               0 AS depth
          FROM cand c
        UNION ALL
        SELECT u.tenant_id, u.item_id, a.item_id, a.parent_id, a.workspace_id, a.owner_id,
               a.owner_digest, a.shared, a.created_at, a.kind = ANY ((SELECT cd.kinds FROM cd)::text[]),
               a.locator IS NULL, u.depth + 1
          FROM ups u
          CROSS JOIN LATERAL (SELECT a.item_id, a.parent_id, a.workspace_id, a.owner_id,
                                     a.owner_digest, a.shared, a.created_at, a.kind, a.locator
                                FROM lethe.items a
                               WHERE a.tenant_id = u.tenant_id AND a.item_id = u.parent_id
                              OFFSET 0) a
         WHERE u.depth < 100000 AND u.parent_id IS NOT NULL
    ), optout AS MATERIALIZED (
        SELECT DISTINCT e.tenant_id FROM lethe.events e WHERE e.type = 'sharing_opted_out'
    ), spoiled AS MATERIALIZED (
        SELECT u.tenant_id, u.item_id FROM ups u WHERE u.purged OR u.created_at > p_as_of
        UNION
        SELECT u.tenant_id, u.item_id
          FROM ups u
          JOIN lethe.obligations o ON o.tenant_id = u.tenant_id
           AND u.created_at <= o.covers_until AND (NOT o.shared_only OR u.shared)
           AND (o.workspace_id IS NULL OR o.workspace_id = u.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, u.owner_id, u.owner_digest)
           AND (o.item_id IS NULL OR o.item_id = u.anc)
         WHERE u.customer_data AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
        UNION
        SELECT u.tenant_id, u.item_id
          FROM ups u JOIN optout t ON t.tenant_id = u.tenant_id
         WHERE u.customer_data AND u.shared
           AND CASE WHEN t.tenant_id IS NOT NULL
                    THEN lethe.opted_out_at(u.tenant_id, u.workspace_id, u.created_at) END
    ), fast AS MATERIALIZED (
        SELECT DISTINCT ON (u.tenant_id, u.item_id) u.tenant_id, u.item_id,
               u.created_at + r.deadline AS deadline_at,
               min(lethe.due_time(u.created_at, r.deadline, r.grace, s.lookahead))
                   OVER (PARTITION BY u.tenant_id, u.item_id) AS due_at
          FROM ups u
          JOIN lethe.rules r ON r.rule = 'shared_retention' AND r.enabled
          CROSS JOIN lethe.settings s
         WHERE u.customer_data AND u.shared
           AND NOT EXISTS (SELECT 1 FROM spoiled x
                            WHERE x.tenant_id = u.tenant_id AND x.item_id = u.item_id)
         ORDER BY u.tenant_id, u.item_id, u.created_at > p_as_of, u.created_at + r.deadline,
                  u.depth
    )
    SELECT c.tenant_id, c.item_id, c.location, f.due_at, f.deadline_at, false
      FROM fast f JOIN cand c ON c.tenant_id = f.tenant_id AND c.item_id = f.item_id
     WHERE f.due_at > p_as_of
    UNION ALL
    SELECT c.tenant_id, c.item_id, c.location, NULL, NULL, true
      FROM (SELECT x.tenant_id, x.item_id FROM spoiled x
            UNION ALL
            SELECT f.tenant_id, f.item_id FROM fast f WHERE f.due_at <= p_as_of) x
      JOIN cand c ON c.tenant_id = x.tenant_id AND c.item_id = x.item_id
$$;
REVOKE ALL ON FUNCTION lethe.shared_schedule(timestamptz, uuid[]) FROM PUBLIC;

-- The tenants whose memory holds at p_as_of: taken under the same rules and kinds, at or before
-- p_as_of, no due time come since, nothing changed since by a transaction its snapshot could
-- not see, and no event a run has not consumed yet.
CREATE FUNCTION lethe.status_usable(p_as_of timestamptz) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT t.tenant_id FROM lethe.status_memory_tenants t
     WHERE EXISTS (SELECT 1 FROM lethe.status_memory_meta m
                    WHERE m.digest = lethe.status_memory_digest() AND m.taken_as_of <= p_as_of)
       AND t.taken_as_of <= p_as_of AND t.holds_until > p_as_of
       AND NOT EXISTS (SELECT 1 FROM lethe.status_dirty d
                        WHERE d.tenant_id = t.tenant_id
                          AND NOT pg_visible_in_snapshot(d.changed_in, t.taken_in))
       AND NOT EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE b.tenant_id = t.tenant_id)
$$;
REVOKE ALL ON FUNCTION lethe.status_usable(timestamptz) FROM PUBLIC;

-- What may carry more than sharing's own obligations (0015's roots and their descendants):
-- standing() evaluates these, never the memory.
CREATE FUNCTION lethe.pending_complex(p_as_of timestamptz) RETURNS TABLE (tenant_id uuid, item_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH RECURSIVE valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), roots AS (  -- what may carry more than sharing's own obligations
        SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p WHERE NOT p.held
        UNION
        SELECT h.tenant_id, h.item_id FROM lethe.held_items h
         WHERE h.tenant_id NOT IN (SELECT valid.tenant_id FROM valid)
        UNION
        SELECT b.tenant_id, b.item_id FROM lethe.inbox_items b
        UNION
        SELECT i.tenant_id, i.item_id
          FROM lethe.obligations o
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, i.owner_id, i.owner_digest)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
         WHERE o.expanded_at IS NULL AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
    ), walk AS (
        SELECT r.tenant_id, r.item_id, 0 AS depth FROM roots r
        UNION ALL
        SELECT c.tenant_id, c.item_id, w.depth + 1
          FROM walk w
          CROSS JOIN LATERAL (SELECT c.tenant_id, c.item_id FROM lethe.items c
                               WHERE c.tenant_id = w.tenant_id AND c.parent_id = w.item_id
                              OFFSET 0) c
         WHERE w.depth < 100000
    )
    SELECT DISTINCT w.tenant_id, w.item_id FROM walk w
$$;
REVOKE ALL ON FUNCTION lethe.pending_complex(timestamptz) FROM PUBLIC;

-- pending_items as 0015 gives it, but for the scheduled rows of the tenants p_usable read from
-- memory, given the complex items (p_cts, p_cids: lethe.pending_complex): the tenants not in
-- p_usable are evaluated afresh (lethe.shared_schedule), and the memory's standing rows of the
-- others by standing().
CREATE FUNCTION lethe.pending_items_rest(p_as_of timestamptz, p_usable uuid[], p_cts uuid[],
                                         p_cids uuid[])
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH valid AS MATERIALIZED (
        SELECT v.tenant_id FROM lethe.held_valid(p_as_of, 0, 0) v
    ), usable AS MATERIALIZED (
        SELECT DISTINCT u.tenant_id FROM unnest(p_usable) u(tenant_id)
    ), live AS MATERIALIZED (
        SELECT array_agg(t.tenant_id) AS ids FROM lethe.tenants t
         WHERE NOT EXISTS (SELECT 1 FROM usable u WHERE u.tenant_id = t.tenant_id)
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), complex AS MATERIALIZED (
        SELECT DISTINCT c.tenant_id, c.item_id FROM unnest(p_cts, p_cids) c(tenant_id, item_id)
    ), ccand AS MATERIALIZED (  -- what may carry more: standing() decides, as in 0015
        SELECT c.tenant_id, c.item_id, true AS complex, NULL::uuid AS parent_id,
               NULL::uuid AS workspace_id, NULL::text AS owner_id, NULL::bytea AS owner_digest,
               NULL::boolean AS shared, NULL::timestamptz AS created_at, NULL::text AS location
          FROM complex c
         WHERE EXISTS (SELECT 1 FROM lethe.items i
                        WHERE i.tenant_id = c.tenant_id AND i.item_id = c.item_id
                          AND i.locator IS NOT NULL
                          AND i.kind = ANY ((SELECT cd.kinds FROM cd)::text[]))
           AND NOT coalesce((SELECT true FROM lethe.batch_items b
                              WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                                AND (b.outcome IS NULL OR b.outcome = 'purged') LIMIT 1), false)
           AND NOT coalesce((SELECT true FROM lethe.held_items h
                              WHERE h.tenant_id = c.tenant_id AND h.item_id = c.item_id
                                AND h.tenant_id IN (SELECT valid.tenant_id FROM valid) LIMIT 1), false)
    ), fresh AS MATERIALIZED (  -- the cheap path of the tenants not read from memory
        SELECT s.tenant_id, s.item_id, s.location, s.due_at, s.deadline_at, s.standing
          FROM live CROSS JOIN LATERAL lethe.shared_schedule(p_as_of, live.ids) s
         WHERE live.ids IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM complex x
                            WHERE x.tenant_id = s.tenant_id AND x.item_id = s.item_id)
           AND NOT (s.tenant_id IN (SELECT valid.tenant_id FROM valid)
                    AND EXISTS (SELECT 1 FROM lethe.held_items h
                                 WHERE h.tenant_id = s.tenant_id AND h.item_id = s.item_id))
    ), arr AS (
        SELECT array_agg(x.tenant_id ORDER BY x.tenant_id, x.item_id) AS ts,
               array_agg(x.item_id ORDER BY x.tenant_id, x.item_id) AS ids
          FROM (SELECT c.tenant_id, c.item_id FROM ccand c
                UNION ALL
                SELECT f.tenant_id, f.item_id FROM fresh f WHERE f.standing
                UNION ALL
                SELECT m.tenant_id, m.item_id
                  FROM lethe.status_memory m JOIN usable u ON u.tenant_id = m.tenant_id
                 WHERE m.standing
                   AND NOT EXISTS (SELECT 1 FROM complex x
                                    WHERE x.tenant_id = m.tenant_id AND x.item_id = m.item_id)
                   AND NOT (m.tenant_id IN (SELECT valid.tenant_id FROM valid)
                            AND EXISTS (SELECT 1 FROM lethe.held_items h
                                         WHERE h.tenant_id = m.tenant_id
                                           AND h.item_id = m.item_id))) x
    )
    SELECT s.tenant_id, s.item_id,
           (SELECT i.location FROM lethe.items i WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id),
           CASE WHEN s.due_at > p_as_of THEN 'scheduled'
                WHEN s.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
           s.rule, s.reference, s.due_at, s.deadline_at, NULL::uuid, s.hold_id
      FROM arr CROSS JOIN LATERAL lethe.standing(arr.ts, arr.ids, p_as_of) s
     WHERE arr.ids IS NOT NULL
    UNION ALL
    SELECT f.tenant_id, f.item_id, f.location, 'scheduled', 'shared_retention', NULL::text,
           f.due_at, f.deadline_at, NULL::uuid, NULL::uuid
      FROM fresh f WHERE NOT f.standing
    UNION ALL
    SELECT h.tenant_id, h.item_id, h.location, 'held', h.rule, h.reference, h.due_at,
           h.deadline_at, NULL::uuid, h.hold_id
      FROM lethe.held_items h JOIN valid ON valid.tenant_id = h.tenant_id
    UNION ALL
    SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
           b.deadline_at, b.batch_id, NULL::uuid
      FROM lethe.batch_items b
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE b.outcome IS NULL AND i.locator IS NOT NULL
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_rest(timestamptz, uuid[], uuid[], uuid[]) FROM PUBLIC;


-- pending_items as 0015 gives it, the scheduled rows of the tenants whose memory holds read
-- from it.
CREATE FUNCTION lethe.pending_items_remembered(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
    WITH u AS MATERIALIZED (
        SELECT coalesce(array_agg(s.tenant_id), '{}') AS ids FROM lethe.status_usable(p_as_of) s
    ), c AS MATERIALIZED (
        SELECT array_agg(x.tenant_id) AS ts, array_agg(x.item_id) AS ids
          FROM lethe.pending_complex(p_as_of) x
    )
    SELECT r.* FROM u CROSS JOIN c CROSS JOIN LATERAL lethe.pending_items_rest(p_as_of, u.ids, c.ts, c.ids) r
    UNION ALL
    SELECT m.tenant_id, m.item_id, m.location, 'scheduled', 'shared_retention', NULL::text,
           m.due_at, m.deadline_at, NULL::uuid, NULL::uuid
      FROM lethe.status_memory m
     WHERE NOT m.standing
       AND m.tenant_id IN (SELECT unnest(u.ids) FROM u)
       AND NOT EXISTS (SELECT 1 FROM c CROSS JOIN LATERAL unnest(c.ts, c.ids) x(tenant_id, item_id)
                        WHERE x.tenant_id = m.tenant_id AND x.item_id = m.item_id)
$$;
REVOKE ALL ON FUNCTION lethe.pending_items_remembered(timestamptz) FROM PUBLIC;

-- What status, export --summary and the run's metrics read. On Citus there is no memory.
CREATE OR REPLACE FUNCTION lethe.pending_items(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, location text, state text, rule text,
               reference text, due_at timestamptz, deadline_at timestamptz, batch_id uuid,
               hold_id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp SET jit = off AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN QUERY SELECT * FROM lethe.pending_items_live(p_as_of);
    ELSE
        RETURN QUERY SELECT * FROM lethe.pending_items_remembered(p_as_of);
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.pending_items(timestamptz) FROM PUBLIC;

-- Takes the memory of every tenant whose memory does not hold now (none yet, changed since,
-- a due time come, the rules changed), except those with events not consumed yet, which are
-- evaluated afresh until a run consumes them. Run alone, under the advisory lock 7283315 taken
-- exclusively before the transaction (db_status_remember: so no writer is between its changes
-- and its commit), and in a repeatable read transaction, so that the snapshot it records is
-- the one it read. Returns how many tenants it took.
CREATE FUNCTION lethe.status_memory_refresh() RETURNS bigint
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
    IF NOT EXISTS (SELECT 1 FROM lethe.status_memory_meta m WHERE m.digest = v_digest) THEN
        DELETE FROM lethe.status_memory;
        DELETE FROM lethe.status_memory_tenants;
        DELETE FROM lethe.status_memory_meta;
        INSERT INTO lethe.status_memory_meta (digest, taken_as_of) VALUES (v_digest, v_now);
    END IF;
    SELECT array_agg(t.tenant_id ORDER BY t.tenant_id) INTO v_ids
      FROM lethe.tenants t
     WHERE NOT EXISTS (SELECT 1 FROM lethe.inbox_events b WHERE b.tenant_id = t.tenant_id)
       AND NOT EXISTS (
           SELECT 1 FROM lethe.status_memory_tenants m
            WHERE m.tenant_id = t.tenant_id AND m.taken_as_of <= v_now AND m.holds_until > v_now
              AND NOT EXISTS (SELECT 1 FROM lethe.status_dirty d
                               WHERE d.tenant_id = m.tenant_id
                                 AND NOT pg_visible_in_snapshot(d.changed_in, m.taken_in)));
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM lethe.status_memory WHERE tenant_id = ANY (v_ids);
    DELETE FROM lethe.status_memory_tenants WHERE tenant_id = ANY (v_ids);
    INSERT INTO lethe.status_memory (tenant_id, item_id, location, due_at, deadline_at, standing)
    SELECT s.tenant_id, s.item_id, s.location, s.due_at, s.deadline_at, s.standing
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
    RETURN cardinality(v_ids);
END $$;
REVOKE ALL ON FUNCTION lethe.status_memory_refresh() FROM PUBLIC;

-- ---- purged per rule -------------------------------------------------------------------------
-- Status counts the items purged under each rule: every batch item ever purged (1.2M rows at
-- 10M items after one cycle, 0.22 s). Statement triggers on batch_items append what each
-- statement changed (purged rows in, purged rows out) per rule; lethe.purged_by_rule() adds
-- them up, and status_memory_refresh() folds them into one row per rule now and then. Rows are
-- only ever appended by the writers, so writers never wait for each other here; the fold
-- deletes only the rows its snapshot sees. On Citus (no triggers) the count reads batch_items.
CREATE TABLE lethe.purged_counts (
    id bigserial PRIMARY KEY,
    rule text NOT NULL,
    purged bigint NOT NULL
);

CREATE FUNCTION lethe.purged_count_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO lethe.purged_counts (rule, purged)
    SELECT n.rule, count(*) FROM new_rows n WHERE n.outcome = 'purged' GROUP BY n.rule;
    RETURN NULL;
END $$;
CREATE FUNCTION lethe.purged_count_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO lethe.purged_counts (rule, purged)
    SELECT x.rule, sum(x.d) FROM (SELECT n.rule, 1 AS d FROM new_rows n WHERE n.outcome = 'purged'
                                  UNION ALL
                                  SELECT o.rule, -1 FROM old_rows o WHERE o.outcome = 'purged') x
     GROUP BY x.rule HAVING sum(x.d) <> 0;
    RETURN NULL;
END $$;
CREATE FUNCTION lethe.purged_count_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO lethe.purged_counts (rule, purged)
    SELECT o.rule, -count(*) FROM old_rows o WHERE o.outcome = 'purged' GROUP BY o.rule;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lethe.purged_count_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION lethe.purged_count_update() FROM PUBLIC;
REVOKE ALL ON FUNCTION lethe.purged_count_delete() FROM PUBLIC;

DO $purged$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    CREATE TRIGGER batch_items_purged_insert AFTER INSERT ON lethe.batch_items
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.purged_count_insert();
    CREATE TRIGGER batch_items_purged_update AFTER UPDATE ON lethe.batch_items
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.purged_count_update();
    CREATE TRIGGER batch_items_purged_delete AFTER DELETE ON lethe.batch_items
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.purged_count_delete();
    -- What is purged already (the triggers hold batch_items against writes until this commits).
    INSERT INTO lethe.purged_counts (rule, purged)
    SELECT b.rule, count(*) FROM lethe.batch_items b WHERE b.outcome = 'purged' GROUP BY b.rule;
END $purged$;

CREATE FUNCTION lethe.purged_by_rule() RETURNS TABLE (rule text, purged bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN QUERY SELECT b.rule, count(*) FROM lethe.batch_items b
                      WHERE b.outcome = 'purged' GROUP BY b.rule;
    ELSE
        RETURN QUERY SELECT c.rule, sum(c.purged)::bigint FROM lethe.purged_counts c
                      GROUP BY c.rule HAVING sum(c.purged) <> 0;
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.purged_by_rule() FROM PUBLIC;

-- The refresh also folds the purged counts into one row per rule once they are many.
CREATE FUNCTION lethe.status_memory_fold() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM lethe.purged_counts LIMIT 1000) x) >= 1000 THEN
        WITH gone AS (DELETE FROM lethe.purged_counts RETURNING rule, purged)
        INSERT INTO lethe.purged_counts (rule, purged)
        SELECT g.rule, sum(g.purged) FROM gone g GROUP BY g.rule;
    END IF;
END $$;
REVOKE ALL ON FUNCTION lethe.status_memory_fold() FROM PUBLIC;
