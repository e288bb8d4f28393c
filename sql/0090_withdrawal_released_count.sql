-- An obligation_withdrawn record counts the items the withdrawal released, not those it left in
-- an open batch.
--
-- The count was every item the obligation held when it was withdrawn. An item already handed to
-- a deleter in an open batch is not withdrawn (SPEC §3): the batch purges it under the
-- obligation, and the purge follows the withdrawal record in the chain. Counted as released, it
-- made an auditor read "1 item released" before "item_purged" for the same request (an outside
-- tryout as a compliance officer). Such items are no longer counted. (A request withdrawn
-- before any run expanded it held no item yet: it releases none, and its record says 0; the
-- README says so.)
--
-- derive_apply() is edited in place (the statement is there once, as sql/0069 wrote it).
DO $derive$
DECLARE
    v_fn constant regprocedure := 'lethe.derive_apply(timestamptz, integer, integer)'::regprocedure;
    v_old constant text :=
        E'           array_agg((SELECT count(*) FROM lethe.item_obligations p\n'
        || E'                       WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id)\n';
    v_new constant text :=
        E'           array_agg((SELECT count(*) FROM lethe.item_obligations p\n'
        || E'                       WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id\n'
        || E'                         AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b\n'
        || E'                                          WHERE b.tenant_id = p.tenant_id AND b.item_id = p.item_id\n'
        || E'                                            AND b.outcome IS NULL))\n';
    v_def text := pg_get_functiondef(v_fn);
BEGIN
    IF array_length(string_to_array(v_def, v_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0090: lethe.derive_apply() no longer counts the items a withdrawal releases as sql/0069 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $derive$;
