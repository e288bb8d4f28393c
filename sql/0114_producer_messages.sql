-- What a producer is told when a row names a tenant that does not exist; a blank reference, and
-- one that holds its subject id.
--
-- An outside tryout, as a producer's login (lethe_producer, which reads no table):
--   - a workspace or an event of a tenant that does not exist was refused by the foreign key,
--     whose detail names the key only to a role that may read the table: the producer saw
--     'Key is not present in table "tenants"', naming no tenant (a COPY of many rows could not
--     tell which was wrong); and an item of such a tenant was refused as 'workspace ... does not
--     exist in its tenant', which blames the workspace;
--   - an event's reference of white space alone (' ') was taken, though `lethe request` refuses a
--     blank --reference ("names nothing"): a cancellation matches its request by reference, and
--     blank references are one another's.
-- Now the checks each table's insert runs already (events_check_insert and
-- workspaces_check_insert before each row, so before the foreign key; items_check_insert once a
-- statement, its refusals in order) name the tenant first: 'event deletion_requested: tenant T
-- does not exist', with the hint to insert it into lethe.tenants first. The events' check reads
-- the tenant by its key, one probe per event row; the items' fast path is as it was (its join to
-- the workspace, by tenant and workspace, finds no row for an unknown tenant), and only a refused
-- statement looks for the reason. On Citus the shards' copies of these functions are made from
-- their text at every migrate (sql/0050), lethe.tenants as the node's copy of the reference table.
-- And an event's reference, when given, holds a character that is neither white space nor a
-- zero-width or formatting one, as a subject id must (sql/0086). NOT VALID: events already there
-- are not checked (events are never updated).
ALTER TABLE lethe.events ADD CONSTRAINT events_reference_not_blank
    CHECK (reference ~ '[^[:space:]\u0085\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]')
    NOT VALID;

-- A subject's request whose reference holds the subject id (an outside tryout typed
-- `lethe request --subject user1@x --reference user1@x`): the audit records the reference in
-- clear, next to the subject's HMAC, and every export then ties that HMAC to the person in every
-- record that carries it (SPEC §5: a subject appears only as its HMAC). `lethe request` and
-- `hold place` refuse it before they connect (exit 2, for the operator's name too); the database
-- refuses a producer's such event, case ignored (an address is one person's in any case). The
-- subject counts as held where it stands as a word of its own: not inside a longer run of
-- letters and digits (subject 42 is not in TICKET-1042, bob is not in bobby), as a later tryout
-- found the plain substring refuse. Every character of the subject but letters, digits and
-- spaces is escaped for the pattern. Events are never updated, so NOT VALID leaves the rows there
-- as they are for good. (A hold is the engine's to write, and it releases a hold by an update,
-- which a NOT VALID check still judges: an old hold would have been kept for ever. `hold place`
-- refuses it instead.)
ALTER TABLE lethe.events ADD CONSTRAINT events_reference_without_subject_id
    CHECK (lower(reference) !~ ('(^|[^[:alnum:]])'
                                || regexp_replace(lower(subject_id), '([^[:alnum:][:space:]])', '\\\1', 'g')
                                || '($|[^[:alnum:]])'))
    NOT VALID;

DO $m$
DECLARE
    v_def text;
    v_old constant text := $o$    named := array_remove(ARRAY[$o$;
    v_new constant text := $n$    IF NOT EXISTS (SELECT 1 FROM lethe.tenants WHERE tenant_id = NEW.tenant_id) THEN
        RAISE EXCEPTION 'event %: tenant % does not exist', NEW.type, NEW.tenant_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'insert the tenant into lethe.tenants first';
    END IF;
    named := array_remove(ARRAY[$n$;
    v_old_i constant text := $o$    SELECT n.item_id, n.workspace_id INTO r FROM new_items n
     WHERE NOT EXISTS (SELECT 1 FROM lethe.workspaces w$o$;
    v_new_i constant text := $n$    SELECT n.item_id, n.tenant_id INTO r FROM new_items n
     WHERE NOT EXISTS (SELECT 1 FROM lethe.tenants t WHERE t.tenant_id = n.tenant_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'item %: tenant % does not exist', r.item_id, r.tenant_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'insert the tenant into lethe.tenants first, then its workspace';
    END IF;
    SELECT n.item_id, n.workspace_id INTO r FROM new_items n
     WHERE NOT EXISTS (SELECT 1 FROM lethe.workspaces w$n$;
BEGIN
    v_def := pg_get_functiondef('lethe.events_check_insert()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0114: lethe.events_check_insert() no longer reads its scope as 0080 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
    v_def := pg_get_functiondef('lethe.items_check_insert()'::regprocedure);
    IF position(v_old_i IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0114: lethe.items_check_insert() no longer checks the workspace as 0080 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old_i, v_new_i);
END $m$;

CREATE OR REPLACE FUNCTION lethe.workspaces_check_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM lethe.tenants WHERE tenant_id = NEW.tenant_id) THEN
        RAISE EXCEPTION 'workspace %: tenant % does not exist', NEW.workspace_id, NEW.tenant_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'insert the tenant into lethe.tenants first';
    END IF;
    IF NEW.geo IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lethe.geos WHERE geo = NEW.geo) THEN
        RAISE EXCEPTION 'workspace %: unknown geo "%"', NEW.workspace_id, NEW.geo
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'geos are listed in lethe.geos; an operator adds new ones there first';
    END IF;
    RETURN NEW;
END $$;
