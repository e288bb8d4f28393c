-- An item an acknowledgement purges is held no more.
--
-- lethe.held_items remembers the due items a hold keeps back (sql/0013_held.sql), and status
-- and export --summary count them as held from it. An item is there when a hold placed after
-- its batch failed keeps it; a late acknowledgement of that failed batch (SPEC §4: the deletion
-- happened) purges it, and the row stayed: status counted the item held and purged at once
-- (three states for two items), export --summary gave the auditor a pending item that was
-- gone, and a dry run listed it as held, until the hold was released (an outside tryout).
--
-- ack_batch now deletes the rows of the items it purges, with the tombstone, in its
-- transaction, and forgets the memory of their tenants (held_forget()'s way: the next run
-- evaluates them again): the tenant's count of held items (held_tenants.items) stayed, and
-- every later run reported it in its summary, its run record, its run_finished record and
-- its metrics for as long as the hold lasted. Only a late acknowledgement pays for it: a run
-- remembers no item in an open batch (lethe.held_remember() takes only the due items, which
-- are in no open batch), so the acknowledgement of an open batch, every run's, has none to
-- forget (at 1M items the delete alone, unguarded, took 11 ms an ack).
--
-- The function is changed in place, as sql/0064 changed it: one edit, of a text the function
-- holds once; the migration refuses a text it does not know.

DO $ack$
DECLARE
    v_def text;
    v_old constant text :=
        E'    DELETE FROM lethe.item_obligations p USING ack_its a\n'
        '     WHERE p.tenant_id = a.tenant_id AND p.item_id = a.item_id;\n';
    v_new constant text :=
        E'    DELETE FROM lethe.item_obligations p USING ack_its a\n'
        '     WHERE p.tenant_id = a.tenant_id AND p.item_id = a.item_id;\n'
        '    -- Purged, it is held no more, and the next run counts its tenant''s held items again\n'
        '    -- (sql/0071_ack_forgets_held.sql). Only an item whose row here was closed already (a\n'
        '    -- late acknowledgement after a failure) can be remembered as held: no run remembers\n'
        '    -- an item in an open batch.\n'
        '    IF EXISTS (SELECT 1 FROM ack_its a WHERE a.outcome IS NOT NULL) THEN\n'
        '        DELETE FROM lethe.held_items h USING ack_its a\n'
        '         WHERE h.tenant_id = a.tenant_id AND h.item_id = a.item_id;\n'
        '        IF FOUND THEN\n'
        '            UPDATE lethe.held_tenants t SET recheck_at = ''-infinity''\n'
        '              FROM ack_its a WHERE t.tenant_id = a.tenant_id AND t.recheck_at > ''-infinity'';\n'
        '        END IF;\n'
        '    END IF;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text)'::regprocedure);
    IF position('sql/0071_ack_forgets_held.sql' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0071: lethe.ack_batch() forgets the held items it purges already';
    END IF;
    -- the text once: replace() would change every copy
    IF array_length(string_to_array(v_def, v_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0071: lethe.ack_batch() no longer deletes the obligations of the items it purges as 0031 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $ack$;
