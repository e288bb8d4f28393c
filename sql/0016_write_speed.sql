-- Speed of what every run and every producer writes (issue 14): the same refusals and the same
-- rows, cheaper. Nothing is accepted that was refused, nor refused that was accepted; every
-- message is the same.

-- ---- producers' inserts ------------------------------------------------------------------

-- As sql/0001_catalog.sql wrote it, with the checks run one after another only when one of
-- them fails. A statement of good rows is checked by one pass over its new rows (a join with
-- kinds, geos and workspaces, and a lookup of each named parent), not nine; the walk that
-- finds loops runs only when some new row's parent is in the same statement (an item that is
-- its own parent is one). 20,000 new items: the trigger took
-- 120-160 ms, about a third of the insert (tests/bench/RESULTS.md, "Producer inserts").
CREATE OR REPLACE FUNCTION lethe.items_check_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (
           SELECT 1 FROM new_items n
             LEFT JOIN lethe.kinds k ON k.kind = n.kind
             LEFT JOIN lethe.geos g ON g.geo = n.location
             LEFT JOIN lethe.workspaces w ON w.tenant_id = n.tenant_id AND w.workspace_id = n.workspace_id
            WHERE k.kind IS NULL OR g.geo IS NULL OR n.locator IS NULL OR w.workspace_id IS NULL
               OR (n.parent_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM lethe.items p
                                    WHERE p.tenant_id = n.tenant_id AND p.item_id = n.parent_id))
               OR (n.kind = 'upload' AND (n.shared OR n.location <> w.geo)))
       -- A set operation, which hashes or sorts: the planner knows nothing of a transition
       -- table's size, and a join of it with itself went to a nested loop (40,000 rows: 2 min).
       AND NOT EXISTS (SELECT n.tenant_id, n.parent_id FROM new_items n WHERE n.parent_id IS NOT NULL
                       INTERSECT
                       SELECT n.tenant_id, n.item_id FROM new_items n) THEN
        RETURN NULL;
    END IF;
    -- Something is wrong, or a loop is possible: the checks in their order, each naming the
    -- first row it refuses.
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

-- ---- hex formats ------------------------------------------------------------------------

-- Lower-case hex: no character outside the sixteen. ltrim(x, '0123456789abcdef') walked the
-- set for every character (3 us a value); a negated bracket expression without ranges (which
-- no collation can widen) is 0.4 us. 50,000 values: 157 ms against 22 ms. The audit checks
-- two or three values a record, the locator HMACs one a purged item.
ALTER TABLE lethe.audit
    DROP CONSTRAINT audit_hash_format,
    ADD CONSTRAINT audit_hash_format CHECK (octet_length(hash) = 64 AND hash !~ '[^0123456789abcdef]'
        AND octet_length(prev_hash) = 64 AND prev_hash !~ '[^0123456789abcdef]'),
    DROP CONSTRAINT audit_subject_hmac_format,
    ADD CONSTRAINT audit_subject_hmac_format CHECK (octet_length(subject_hmac) = 64
        AND subject_hmac !~ '[^0123456789abcdef]');
ALTER TABLE lethe.locator_hmacs
    DROP CONSTRAINT locator_hmacs_format,
    ADD CONSTRAINT locator_hmacs_format CHECK (octet_length(locator_hmac) = 64
        AND locator_hmac !~ '[^0123456789abcdef]');
