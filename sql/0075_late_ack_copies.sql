-- A late acknowledgement sends the copies of what it purges back to the next run.
--
-- SPEC §3: "Once a source is purged, its descendants are due under the obligation it was purged
-- under ... whatever is withdrawn later." A run derives what a copy owes when the copy is new
-- (the inbox), when an obligation is expanded over it, and when its source is batched; the
-- acknowledgement of an open batch then pins the purge on copies the run already knows of. A
-- late acknowledgement (SPEC §4: the deleter reports, after its batch failed, that it deleted)
-- purges items whose copies a run may have judged since without the purge: a request withdrawn
-- between the failure and the ack released them, and no later run looked at them again. An
-- outside tryout found such a copy (in another geo) never batched: item_status and explain
-- called it due ("the next run batches it"), while every run, dry runs, status, --check, the
-- summary and the metrics saw nothing, for ever.
--
-- ack_batch now puts the live descendants of the items a late acknowledgement purges into the
-- inbox, as if they were new: the next run (or a rerun, which derives first) derives them,
-- lineage() pins the purge on them, and they are due under the source's rule, reference and
-- deadline; until then status counts them (an item not consumed yet is evaluated in full) and
-- says so ("not consumed by a run yet"). Only a late acknowledgement pays for it: the copies of
-- an open batch's items were derived with the batch.
--
-- The walk goes down one generation per statement, by the items' (tenant_id, parent_id) index,
-- through purged copies too (theirs may have been judged the same way), at most 100 deep (a
-- lineage deeper than that is refused by lethe.lineage_max_depth() anyway). One statement per
-- generation, with arrays, so that Citus runs each (it sends no recursive walk to a worker).

CREATE FUNCTION lethe.late_ack_copies(p_ts uuid[], p_ids uuid[]) RETURNS bigint
LANGUAGE plpgsql
SET search_path = lethe, pg_catalog, pg_temp
AS $$
DECLARE
    v_ts uuid[] := p_ts;
    v_ids uuid[] := p_ids;
    v_depth integer := 0;
    v_n bigint := 0;
    v_k bigint;
BEGIN
    WHILE v_ids IS NOT NULL AND v_depth < 100 LOOP
        SELECT array_agg(c.tenant_id ORDER BY c.tenant_id, c.item_id),
               array_agg(c.item_id ORDER BY c.tenant_id, c.item_id)
          INTO v_ts, v_ids
          FROM lethe.items c
         WHERE c.tenant_id = ANY (v_ts) AND c.parent_id = ANY (v_ids)
           AND (c.tenant_id, c.parent_id) IN (SELECT x.t, x.i FROM unnest(v_ts, v_ids) x(t, i));
        EXIT WHEN v_ids IS NULL;
        INSERT INTO lethe.inbox_items (tenant_id, item_id, created_at, parent_id, shared)
        SELECT c.tenant_id, c.item_id, c.created_at, c.parent_id, c.shared
          FROM lethe.items c
          JOIN lethe.kinds k ON k.kind = c.kind AND k.customer_data
         WHERE c.tenant_id = ANY (v_ts) AND c.item_id = ANY (v_ids)
           AND (c.tenant_id, c.item_id) IN (SELECT x.t, x.i FROM unnest(v_ts, v_ids) x(t, i))
           AND c.locator IS NOT NULL
        ON CONFLICT (tenant_id, item_id) DO NOTHING;
        GET DIAGNOSTICS v_k = ROW_COUNT;
        v_n := v_n + v_k;
        v_depth := v_depth + 1;
    END LOOP;
    RETURN v_n;
END $$;
REVOKE ALL ON FUNCTION lethe.late_ack_copies(uuid[], uuid[]) FROM PUBLIC;

DO $ack$
DECLARE
    v_def text;
    v_old constant text :=
        E'        IF FOUND THEN\n'
        '            UPDATE lethe.held_tenants t SET recheck_at = ''-infinity''\n'
        '              FROM ack_its a WHERE t.tenant_id = a.tenant_id AND t.recheck_at > ''-infinity'';\n'
        '        END IF;\n';
    v_new constant text :=
        E'        IF FOUND THEN\n'
        '            UPDATE lethe.held_tenants t SET recheck_at = ''-infinity''\n'
        '              FROM ack_its a WHERE t.tenant_id = a.tenant_id AND t.recheck_at > ''-infinity'';\n'
        '        END IF;\n'
        '        -- Their copies go back to the inbox: a run may have judged them free since the\n'
        '        -- failure, and the purge is pinned on them now (sql/0075_late_ack_copies.sql).\n'
        '        PERFORM lethe.late_ack_copies(array_agg(a.tenant_id), array_agg(a.item_id))\n'
        '           FROM ack_its a WHERE a.outcome IS NOT NULL;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.ack_batch(uuid, uuid[], uuid[], text[], boolean, boolean, text, text)'::regprocedure);
    IF position('sql/0075_late_ack_copies.sql' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0075: lethe.ack_batch() sends the copies of a late acknowledgement back already';
    END IF;
    -- the text once: replace() would change every copy
    IF array_length(string_to_array(v_def, v_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0075: lethe.ack_batch() no longer forgets held items as 0071 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $ack$;
