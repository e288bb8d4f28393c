-- What producers write that no rule could ever act on is refused, with the times that say why.
--
-- A producer's tryout (as a login holding only lethe_producer) found three rows the catalog
-- took and then acted on silently:
--   - a cancellation dated before its request: SPEC §2 refuses "a cancellation that names no
--     earlier request", but only the reference was looked at; the request went on, and the
--     cancellation withdrew nothing (SPEC §3: a cancellation withdraws a request "whose
--     occurred_at is after the request's"). Refused now unless a request with that reference
--     occurred strictly before it; the hint gives both times.
--   - an item dated in the future (a clock or time-zone bug): no event covers it until its
--     created_at comes (SPEC §3: covered when created_at <= occurred_at), so a deletion request
--     for the tenant, its workspace or the item itself left it live and `status --reference`
--     said done. An item's created_at may now be at most 5 minutes ahead of the database's
--     clock at the insert (clock skew between hosts); the hint says that a time written without
--     an offset is read in the session's TimeZone (not naming it: on Citus the check runs in a
--     worker's session).
--   - a request naming one item created after the request occurred: it covers nothing, and
--     said done. Refused, with both times.
-- An event whose scope names a workspace or item that does not exist gets a hint as well.
-- Both functions keep their text otherwise (Citus makes its shard copies from it at every
-- `lethe migrate`: sql/0050_citus_shard_guards.sql).

DO $events$
DECLARE
    v_def text;
    v_old constant text :=
        E'              AND e.type = ''deletion_requested'')) THEN\n'
        '        RAISE EXCEPTION ''deletion_cancelled: no earlier deletion request with reference "%" in this tenant'',\n'
        '                        coalesce(NEW.reference, '''')\n'
        '            USING ERRCODE = ''foreign_key_violation'',\n'
        '                  HINT = ''a cancellation names its request by the request''''s reference'';\n'
        '    END IF;\n';
    v_new constant text :=
        E'              AND e.type = ''deletion_requested'' AND e.occurred_at < NEW.occurred_at)) THEN\n'
        '        -- Earlier by occurred_at: only a cancellation after its request withdraws it\n'
        '        -- (sql/0080_producer_times.sql).\n'
        '        RAISE EXCEPTION ''deletion_cancelled: no earlier deletion request with reference "%" in this tenant'',\n'
        '                        coalesce(NEW.reference, '''')\n'
        '            USING ERRCODE = ''foreign_key_violation'',\n'
        '                  HINT = coalesce((SELECT ''the request "'' || NEW.reference || ''" occurred at ''\n'
        '                                          || to_char(min(e.occurred_at) AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')\n'
        '                                          || '', the cancellation at ''\n'
        '                                          || to_char(NEW.occurred_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')\n'
        '                                          || '': a cancellation withdraws a request only when it occurs after it''\n'
        '                                     FROM lethe.events e\n'
        '                                    WHERE e.tenant_id = NEW.tenant_id AND e.reference = NEW.reference\n'
        '                                      AND e.type = ''deletion_requested''\n'
        '                                   HAVING count(*) > 0),\n'
        '                                  ''a cancellation names its request by the request''''s reference'');\n'
        '    END IF;\n'
        '    IF NEW.type = ''deletion_requested'' AND NEW.item_id IS NOT NULL AND EXISTS (\n'
        '           SELECT 1 FROM lethe.items i\n'
        '            WHERE i.tenant_id = NEW.tenant_id AND i.item_id = NEW.item_id\n'
        '              AND i.created_at > NEW.occurred_at) THEN\n'
        '        RAISE EXCEPTION ''event deletion_requested: item % was created at %, after the request occurred (%)'',\n'
        '                        NEW.item_id,\n'
        '                        (SELECT to_char(i.created_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')\n'
        '                           FROM lethe.items i WHERE i.tenant_id = NEW.tenant_id AND i.item_id = NEW.item_id),\n'
        '                        to_char(NEW.occurred_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')\n'
        '            USING ERRCODE = ''check_violation'',\n'
        '                  HINT = ''a request covers the items created by its occurred_at: give the time the request was made'';\n'
        '    END IF;\n';
    -- the scope's workspace or item missing: the message had no hint
    v_ws_old constant text :=
        E'        RAISE EXCEPTION ''event %: workspace % does not exist in its tenant'', NEW.type, NEW.workspace_id\n'
        '            USING ERRCODE = ''foreign_key_violation'';\n';
    v_ws_new constant text :=
        E'        RAISE EXCEPTION ''event %: workspace % does not exist in its tenant'', NEW.type, NEW.workspace_id\n'
        '            USING ERRCODE = ''foreign_key_violation'',\n'
        '                  HINT = ''insert the workspace into lethe.workspaces first, in the same tenant'';\n';
    v_it_old constant text :=
        E'        RAISE EXCEPTION ''event %: item % does not exist in its tenant'', NEW.type, NEW.item_id\n'
        '            USING ERRCODE = ''foreign_key_violation'';\n';
    v_it_new constant text :=
        E'        RAISE EXCEPTION ''event %: item % does not exist in its tenant'', NEW.type, NEW.item_id\n'
        '            USING ERRCODE = ''foreign_key_violation'',\n'
        '                  HINT = ''insert the item into lethe.items first, in the same tenant'';\n';
BEGIN
    v_def := pg_get_functiondef('lethe.events_check_insert()'::regprocedure);
    IF position('sql/0080_producer_times.sql' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0080: lethe.events_check_insert() checks the times already';
    END IF;
    IF array_length(string_to_array(v_def, v_old), 1) <> 2
       OR array_length(string_to_array(v_def, v_ws_old), 1) <> 2
       OR array_length(string_to_array(v_def, v_it_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0080: lethe.events_check_insert() no longer checks cancellations and scopes as 0001 wrote them';
    END IF;
    EXECUTE replace(replace(replace(v_def, v_old, v_new), v_ws_old, v_ws_new), v_it_old, v_it_new);
END $events$;

DO $items$
DECLARE
    v_def text;
    v_decl_old constant text := E'DECLARE\n    r record;\nBEGIN\n';
    v_decl_new constant text :=
        E'DECLARE\n    r record;\n'
        '    -- At most this far ahead of the clock: skew between hosts (sql/0080_producer_times.sql).\n'
        '    v_latest constant timestamptz := clock_timestamp() + interval ''5 minutes'';\n'
        'BEGIN\n';
    v_fast_old constant text :=
        E'            WHERE k.kind IS NULL OR g.geo IS NULL OR n.locator IS NULL OR w.workspace_id IS NULL\n';
    v_fast_new constant text :=
        E'            WHERE k.kind IS NULL OR g.geo IS NULL OR n.locator IS NULL OR w.workspace_id IS NULL\n'
        '               OR n.created_at > v_latest\n';
    v_check_old constant text :=
        E'    SELECT n.item_id, n.workspace_id INTO r FROM new_items n\n';
    v_check_new constant text :=
        E'    SELECT n.item_id, n.created_at INTO r FROM new_items n WHERE n.created_at > v_latest LIMIT 1;\n'
        '    IF FOUND THEN\n'
        '        RAISE EXCEPTION ''item %: created_at % is in the future'', r.item_id,\n'
        '                        to_char(r.created_at AT TIME ZONE ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')\n'
        '            USING ERRCODE = ''check_violation'',\n'
        '                  HINT = ''created_at is when the object was stored, at most 5 minutes ahead of the database''''s clock; ''\n'
        '                         || ''a time without an offset is read in the session''''s TimeZone (SHOW TimeZone)'';\n'
        '    END IF;\n'
        '    SELECT n.item_id, n.workspace_id INTO r FROM new_items n\n';
BEGIN
    v_def := pg_get_functiondef('lethe.items_check_insert()'::regprocedure);
    IF position('sql/0080_producer_times.sql' IN v_def) <> 0 THEN
        RAISE EXCEPTION 'migration 0080: lethe.items_check_insert() checks created_at already';
    END IF;
    IF array_length(string_to_array(v_def, v_decl_old), 1) <> 2
       OR array_length(string_to_array(v_def, v_fast_old), 1) <> 2
       OR array_length(string_to_array(v_def, v_check_old), 1) <> 2 THEN
        RAISE EXCEPTION 'migration 0080: lethe.items_check_insert() is no longer as 0016 wrote it';
    END IF;
    EXECUTE replace(replace(replace(v_def, v_decl_old, v_decl_new), v_fast_old, v_fast_new),
                    v_check_old, v_check_new);
END $items$;
