-- The catalog that producers write (SPEC §2), and the refusals the database itself enforces.
-- Friendly checks run once per statement over the transition table, so bulk loads stay
-- set-based; deferred foreign keys stand behind them as a backstop.

CREATE TABLE lethe.geos (
    geo text PRIMARY KEY CONSTRAINT geos_name_format CHECK (geo ~ '^[A-Z][A-Z0-9_]{0,31}$')
);
INSERT INTO lethe.geos (geo) VALUES ('US'), ('EU'), ('UK'), ('ANZ');

-- Engine-owned reference table: which kinds exist and which are Customer Data (C7).
CREATE TABLE lethe.kinds (
    kind text PRIMARY KEY,
    customer_data boolean NOT NULL
);
INSERT INTO lethe.kinds (kind, customer_data) VALUES
    ('prompt', true), ('response', true), ('retrieved', true), ('pinned', true),
    ('upload', true), ('m365', true), ('system_log', false);

CREATE TABLE lethe.event_types (
    type text PRIMARY KEY,
    scopes text[] NOT NULL  -- the scope columns this type may name (at most one of them)
);
INSERT INTO lethe.event_types (type, scopes) VALUES
    ('deletion_requested',   '{workspace_id,subject_id,item_id}'),
    ('deletion_cancelled',   '{}'),
    ('capacity_deleted',     '{}'),
    ('capacity_provisioned', '{}'),
    ('sharing_opted_in',     '{workspace_id}'),
    ('sharing_opted_out',    '{workspace_id}'),
    ('m365_access_revoked',  '{}'),
    ('m365_access_granted',  '{}');

CREATE TABLE lethe.tenants (
    tenant_id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lethe.workspaces (
    tenant_id uuid NOT NULL REFERENCES lethe.tenants,
    workspace_id uuid NOT NULL,
    geo text NOT NULL CONSTRAINT workspaces_geo_known REFERENCES lethe.geos,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workspace_id)
);

CREATE TABLE lethe.items (
    tenant_id uuid NOT NULL,
    item_id uuid NOT NULL,
    workspace_id uuid NOT NULL,
    owner_id text,
    kind text NOT NULL,
    location text NOT NULL,
    locator text,  -- NOT NULL on insert (trigger); the engine's tombstone clears it
    shared boolean NOT NULL DEFAULT false,
    parent_id uuid,
    created_at timestamptz NOT NULL,
    bytes bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, item_id),
    CONSTRAINT items_workspace_exists FOREIGN KEY (tenant_id, workspace_id)
        REFERENCES lethe.workspaces DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT items_parent_exists FOREIGN KEY (tenant_id, parent_id)
        REFERENCES lethe.items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT items_kind_known FOREIGN KEY (kind)
        REFERENCES lethe.kinds DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT items_location_known FOREIGN KEY (location)
        REFERENCES lethe.geos DEFERRABLE INITIALLY DEFERRED
);
-- Lineage walks go parent -> children.
CREATE INDEX items_parent ON lethe.items (tenant_id, parent_id) WHERE parent_id IS NOT NULL;
-- Scope lookups for workspace- and subject-scoped obligations and holds.
CREATE INDEX items_workspace ON lethe.items (tenant_id, workspace_id, created_at);
CREATE INDEX items_owner ON lethe.items (tenant_id, owner_id) WHERE owner_id IS NOT NULL;
-- Live shared copies, for shared_retention and opt-out scans; tombstones drop out.
CREATE INDEX items_shared_live ON lethe.items (created_at, tenant_id)
    WHERE shared AND locator IS NOT NULL;

CREATE TABLE lethe.events (
    tenant_id uuid NOT NULL REFERENCES lethe.tenants,
    event_id bigint GENERATED ALWAYS AS IDENTITY,
    type text NOT NULL,
    workspace_id uuid,
    subject_id text,
    item_id uuid,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    reference text,
    PRIMARY KEY (tenant_id, event_id),
    CONSTRAINT events_type_known FOREIGN KEY (type) REFERENCES lethe.event_types
);
CREATE INDEX events_reference ON lethe.events (tenant_id, reference) WHERE reference IS NOT NULL;

CREATE TABLE lethe.holds (
    tenant_id uuid NOT NULL REFERENCES lethe.tenants,
    hold_id uuid NOT NULL DEFAULT gen_random_uuid(),
    workspace_id uuid,
    subject_id text,
    item_id uuid,
    reason text NOT NULL,
    reference text,
    placed_at timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    PRIMARY KEY (tenant_id, hold_id),
    CONSTRAINT holds_one_scope CHECK (num_nonnulls(workspace_id, subject_id, item_id) <= 1),
    CONSTRAINT holds_release_after_placing CHECK (released_at IS NULL OR released_at >= placed_at)
);
CREATE UNIQUE INDEX holds_id ON lethe.holds (hold_id);

-- ---- refusals -----------------------------------------------------------------------------

CREATE FUNCTION lethe.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on lethe.% is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = TG_ARGV[0];
END $$;

-- Items: checked once per statement over the new rows, so COPY of millions stays set-based.
CREATE FUNCTION lethe.items_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
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
CREATE TRIGGER items_check_insert AFTER INSERT ON lethe.items
    REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT
    EXECUTE FUNCTION lethe.items_check_insert();

-- The only change allowed is the tombstone: clearing locator and owner_id.
CREATE FUNCTION lethe.items_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Clearing owner_id alone would take a live item out of its subject's requests, and
    -- clearing locator alone would keep the subject id: the tombstone clears both at once.
    -- Columns the engine adds are its own and are not checked here.
    IF (NEW.tenant_id, NEW.item_id, NEW.workspace_id, NEW.kind, NEW.location, NEW.shared,
        NEW.parent_id, NEW.created_at, NEW.bytes)
       IS DISTINCT FROM
       (OLD.tenant_id, OLD.item_id, OLD.workspace_id, OLD.kind, OLD.location, OLD.shared,
        OLD.parent_id, OLD.created_at, OLD.bytes)
       OR ((NEW.locator, NEW.owner_id) IS DISTINCT FROM (OLD.locator, OLD.owner_id)
           AND (NEW.locator IS NOT NULL OR NEW.owner_id IS NOT NULL)) THEN
        RAISE EXCEPTION 'item %: items are immutable; only the engine''s tombstone may clear locator and owner_id',
                        OLD.item_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'record a new item (with parent_id) instead of changing one';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER items_check_update BEFORE UPDATE ON lethe.items
    FOR EACH ROW EXECUTE FUNCTION lethe.items_check_update();
CREATE TRIGGER items_no_delete BEFORE DELETE ON lethe.items
    FOR EACH ROW EXECUTE FUNCTION lethe.refuse('items are purged by lethe, which keeps a tombstone as evidence');
CREATE TRIGGER items_no_truncate BEFORE TRUNCATE ON lethe.items
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.refuse('items are purged by lethe, which keeps a tombstone as evidence');

CREATE FUNCTION lethe.workspaces_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geo IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lethe.geos WHERE geo = NEW.geo) THEN
        RAISE EXCEPTION 'workspace %: unknown geo "%"', NEW.workspace_id, NEW.geo
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'geos are listed in lethe.geos; an operator adds new ones there first';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER workspaces_check_insert BEFORE INSERT ON lethe.workspaces
    FOR EACH ROW EXECUTE FUNCTION lethe.workspaces_check_insert();

CREATE FUNCTION lethe.workspaces_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geo IS DISTINCT FROM OLD.geo THEN
        RAISE EXCEPTION 'workspace %: its geo is fixed at creation (% cannot become %)',
                        OLD.workspace_id, OLD.geo, NEW.geo
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'create a new workspace in the other geo';
    END IF;
    IF (NEW.tenant_id, NEW.workspace_id) IS DISTINCT FROM (OLD.tenant_id, OLD.workspace_id) THEN
        RAISE EXCEPTION 'workspace %: its ids cannot change', OLD.workspace_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER workspaces_check_update BEFORE UPDATE ON lethe.workspaces
    FOR EACH ROW EXECUTE FUNCTION lethe.workspaces_check_update();

-- Events: few and precious, so checked row by row with a message per mistake.
CREATE FUNCTION lethe.events_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    allowed text[];
    named text[];
BEGIN
    SELECT scopes INTO allowed FROM lethe.event_types WHERE type = NEW.type;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown event type "%"', NEW.type
            USING ERRCODE = 'check_violation',
                  HINT = 'types are ' || (SELECT string_agg(type, ', ' ORDER BY type) FROM lethe.event_types);
    END IF;
    named := array_remove(ARRAY[CASE WHEN NEW.workspace_id IS NOT NULL THEN 'workspace_id' END,
                                CASE WHEN NEW.subject_id IS NOT NULL THEN 'subject_id' END,
                                CASE WHEN NEW.item_id IS NOT NULL THEN 'item_id' END], NULL);
    IF cardinality(named) > 1 THEN
        RAISE EXCEPTION 'event %: more than one scope column (%)', NEW.type, array_to_string(named, ', ')
            USING ERRCODE = 'check_violation',
                  HINT = 'name at most one of workspace_id, subject_id, item_id; none means the whole tenant';
    END IF;
    IF cardinality(named) = 1 AND NOT named[1] = ANY (allowed) THEN
        RAISE EXCEPTION 'event %: does not take a % scope', NEW.type, named[1]
            USING ERRCODE = 'check_violation',
                  HINT = CASE WHEN cardinality(allowed) = 0 THEN NEW.type || ' applies to the whole tenant; leave the scope columns null'
                              ELSE NEW.type || ' takes ' || array_to_string(allowed, ' or ') END;
    END IF;
    IF NEW.workspace_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM lethe.workspaces WHERE tenant_id = NEW.tenant_id AND workspace_id = NEW.workspace_id) THEN
        RAISE EXCEPTION 'event %: workspace % does not exist in its tenant', NEW.type, NEW.workspace_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.item_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM lethe.items WHERE tenant_id = NEW.tenant_id AND item_id = NEW.item_id) THEN
        RAISE EXCEPTION 'event %: item % does not exist in its tenant', NEW.type, NEW.item_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.type = 'deletion_cancelled' AND (NEW.reference IS NULL OR NOT EXISTS (
           SELECT 1 FROM lethe.events e
            WHERE e.tenant_id = NEW.tenant_id AND e.reference = NEW.reference
              AND e.type = 'deletion_requested')) THEN
        RAISE EXCEPTION 'deletion_cancelled: no earlier deletion request with reference "%" in this tenant',
                        coalesce(NEW.reference, '')
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'a cancellation names its request by the request''s reference';
    END IF;
    IF NEW.type = 'deletion_requested' AND NEW.subject_id = '' THEN
        RAISE EXCEPTION 'event deletion_requested: subject_id must not be empty'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER events_check_insert BEFORE INSERT ON lethe.events
    FOR EACH ROW EXECUTE FUNCTION lethe.events_check_insert();
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON lethe.events
    FOR EACH ROW EXECUTE FUNCTION lethe.refuse('events are append-only; record a new event (a cancellation, a re-provisioning) instead');
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON lethe.events
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.refuse('events are append-only');

CREATE FUNCTION lethe.holds_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.released_at IS NOT NULL THEN
        RAISE EXCEPTION 'hold %: already released at %', OLD.hold_id, OLD.released_at
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'place a new hold instead';
    END IF;
    IF (NEW.tenant_id, NEW.hold_id, NEW.workspace_id, NEW.subject_id, NEW.item_id, NEW.reason,
        NEW.reference, NEW.placed_at)
       IS DISTINCT FROM
       (OLD.tenant_id, OLD.hold_id, OLD.workspace_id, OLD.subject_id, OLD.item_id, OLD.reason,
        OLD.reference, OLD.placed_at) OR NEW.released_at IS NULL THEN
        RAISE EXCEPTION 'hold %: the only change allowed is setting released_at once', OLD.hold_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'use lethe hold release HOLD_ID';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER holds_check_update BEFORE UPDATE ON lethe.holds
    FOR EACH ROW EXECUTE FUNCTION lethe.holds_check_update();
CREATE TRIGGER holds_no_delete BEFORE DELETE ON lethe.holds
    FOR EACH ROW EXECUTE FUNCTION lethe.refuse('holds are released, never deleted: lethe hold release HOLD_ID');
CREATE TRIGGER holds_no_truncate BEFORE TRUNCATE ON lethe.holds
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.refuse('holds are released, never deleted');
