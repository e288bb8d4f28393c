-- The run's statements on Citus (issue 13: SPEC §4 "Outgrowing one server").
--
-- A few statements of the derivation are written in a form Citus's planner refuses, although
-- it accepts another form with the same meaning. The form one server gets stays as it is (it
-- was chosen for one server's planner, and `make bench` measures it); on a Citus database the
-- other form replaces it, statement by statement, in the function that holds it. Each such
-- edit is a row of lethe.citus_edits: the function, the text it replaces, the text it puts in
-- its place, and why.
--
-- - lethe.citus_layout() applies the edits after every migrate on a Citus database. An edit
--   already applied is left as it is; one whose text is no longer in its function (a later
--   migration rewrote the statement) stops the migrate, by name, instead of leaving the new
--   statement to fail at run time.
-- - On one server nothing is edited, but lethe.citus_edits_check() says which edits would no
--   longer apply: `make check` calls it (tests/integration/citus_forms.sh), so a statement
--   rewritten for one server without its Citus form is found there, not on a cluster. That
--   suite also applies every edit to a plain database and checks that the runs give the same
--   result as without them.
--
-- Citus sends a statement that names one tenant whole to the worker holding its shard, calls
-- of lethe's functions included; a function there that reads distributed tables would be a
-- distributed query inside a distributed one, which Citus refuses (without a setting its
-- authors call unsafe). So in a Citus form a statement that calls the lineage walk, the
-- evaluation or the opt-outs reads no distributed table itself: it runs on the coordinator,
-- and the next statement joins its rows.
--
-- The first kinds of edit, and why each means the same (the others say so where they are):
--   OFFSET 0 at the end of a correlated subquery is a fence for one server's planner only (it
--   keeps a per-row index probe from being flattened into a join): without it the subquery
--   returns the same rows. Citus refuses OFFSET in a subquery that references an outer column.
--   A correlated subquery over a temp table (the run's own sets, which live on the coordinator)
--   is written as an uncorrelated one (IN / NOT IN of a column list with no NULLs): Citus plans
--   an uncorrelated subquery over a local table first and ships its rows to the workers.

CREATE TABLE lethe.citus_edits (
    fn text NOT NULL,               -- the function, as regprocedure prints it
    step integer NOT NULL,          -- the order of the edits within a function
    old text NOT NULL,              -- the text replaced (a regular expression when regex)
    new text NOT NULL,
    regex boolean NOT NULL DEFAULT false,
    why text NOT NULL,
    CHECK (old <> ''),
    PRIMARY KEY (fn, step)
);

-- A SQL function as PL/pgSQL: the same query, returned by RETURN QUERY (or RETURN), with
-- names resolved to columns first (as in the SQL function). Citus refuses to plan a SQL
-- function's query with parameters (it is inlined or planned generically); PL/pgSQL hands it
-- the values. A function already in PL/pgSQL is returned as it is.
CREATE FUNCTION lethe.citus_plpgsql(p_def text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_start integer := position('AS $function$' IN p_def);
    v_body text;
BEGIN
    IF p_def !~ '\n LANGUAGE sql\n' OR v_start = 0 OR p_def !~ '\$function\$\s*$' THEN
        RETURN p_def;
    END IF;
    v_body := substr(p_def, v_start + length('AS $function$'));
    v_body := regexp_replace(v_body, '\$function\$\s*$', '');
    v_body := regexp_replace(v_body, ';?\s*$', '');
    IF p_def ~ '\n RETURNS (SETOF|TABLE)' THEN
        v_body := E'RETURN QUERY\n' || v_body || ';';
    ELSE
        v_body := E'RETURN (\n' || v_body || ');';
    END IF;
    RETURN replace(left(p_def, v_start - 1), E'\n LANGUAGE sql\n', E'\n LANGUAGE plpgsql\n')
        || E'AS $function$\n#variable_conflict use_column\nBEGIN\n' || v_body
        || E'\nEND\n$function$\n';
END $$;

-- The functions as the edits left them, by the digest of their body: a function whose body
-- is still that one is not edited again. (The body, not the whole definition: lethe.harden(),
-- after every migrate, changes the definition's header, and an edited function's old text is
-- gone, so editing it again would fail.)
CREATE TABLE lethe.citus_edited (
    fn text PRIMARY KEY,
    src_md5 text NOT NULL
);

-- The edits whose text is not in their function as it is now (a row per edit); with p_apply,
-- the functions edited (on Citus). A regular expression applies whether or not it matches.
CREATE FUNCTION lethe.citus_edits_check(p_apply boolean DEFAULT false)
RETURNS TABLE (fn text, step integer, problem text) LANGUAGE plpgsql AS $$
DECLARE
    f record;
    e record;
    v_def text;
    v_bad boolean;
BEGIN
    FOR f IN SELECT DISTINCT c.fn FROM lethe.citus_edits c ORDER BY 1 LOOP
        IF to_regprocedure(f.fn) IS NULL THEN
            fn := f.fn; step := NULL; problem := 'no such function';
            RETURN NEXT;
            CONTINUE;
        END IF;
        v_def := pg_get_functiondef(to_regprocedure(f.fn));
        IF p_apply AND EXISTS (SELECT 1 FROM lethe.citus_edited x JOIN pg_proc p
                                   ON p.oid = to_regprocedure(x.fn)
                                WHERE x.fn = f.fn AND x.src_md5 = md5(p.prosrc)) THEN
            CONTINUE;
        END IF;
        v_bad := false;
        FOR e IN SELECT * FROM lethe.citus_edits c WHERE c.fn = f.fn ORDER BY c.step LOOP
            IF e.old = 'LANGUAGE sql' AND e.new = 'LANGUAGE plpgsql' THEN
                v_def := lethe.citus_plpgsql(v_def);
            ELSIF e.regex THEN
                v_def := regexp_replace(v_def, e.old, e.new, 'g');
            ELSIF position(e.old IN v_def) > 0 THEN
                v_def := replace(v_def, e.old, e.new);
            ELSE
                fn := f.fn; step := e.step; problem := 'its text is not in the function';
                v_bad := true;
                RETURN NEXT;
            END IF;
        END LOOP;
        IF p_apply AND NOT v_bad THEN
            EXECUTE v_def;
            INSERT INTO lethe.citus_edited AS x (fn, src_md5)
            SELECT f.fn, md5(p.prosrc) FROM pg_proc p WHERE p.oid = to_regprocedure(f.fn)
            ON CONFLICT ON CONSTRAINT citus_edited_pkey DO UPDATE SET src_md5 = EXCLUDED.src_md5;
        END IF;
    END LOOP;
END $$;

-- Every live item not in a batch, evaluated at p_as_of in one call: what lethe.item_status
-- reads on Citus. The view's form for one server calls evaluate_item() for each item, in the
-- same query that reads items: Citus would run that call on the worker holding the item's
-- shard, which is a distributed query inside a distributed query (refused, or with
-- citus.allow_nested_distributed_execution "possibly incorrect"). Here one call on the
-- coordinator walks every such item's lineage at once (lethe.standing), so that a read of the
-- view costs a walk of the catalog's live items, whatever the view is asked. It runs with its
-- owner's rights, as evaluate_item() does (sql/0004_security.sql), and returns what it does.
CREATE FUNCTION lethe.evaluate_all(p_as_of timestamptz)
RETURNS TABLE (tenant_id uuid, item_id uuid, rule text, obligation_id bigint, reference text,
               triggered_at timestamptz, due_at timestamptz, deadline_at timestamptz, hold_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp
SET "TimeZone" = 'UTC' AS $$
DECLARE
    ts uuid[];
    ids uuid[];
BEGIN
    PERFORM lethe.definer_temp_guard();
    SELECT array_agg(i.tenant_id ORDER BY i.tenant_id, i.item_id),
           array_agg(i.item_id ORDER BY i.tenant_id, i.item_id)
      INTO ts, ids
      FROM lethe.items i
     WHERE i.locator IS NOT NULL
       AND (i.tenant_id, i.item_id) NOT IN (SELECT b.tenant_id, b.item_id FROM lethe.batch_items b
                                             WHERE b.outcome IS NULL OR b.outcome = 'purged');
    IF ids IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.tenant_id, s.item_id, s.rule, s.obligation_id, s.reference, s.triggered_at,
           s.due_at, s.deadline_at, s.hold_id
      FROM lethe.standing(ts, ids, p_as_of) s;
END $$;
REVOKE ALL ON FUNCTION lethe.evaluate_all(timestamptz) FROM PUBLIC;

-- lethe.item_status on Citus: the same columns, with the evaluation above, and the failed
-- attempts counted by a join (Citus plans no subquery correlated with the outer row here).
-- Its tenant_id is written as an expression (the same value), so that a read naming one
-- tenant is still planned across the shards: Citus would send a read of one tenant whole to
-- the worker holding its shard, evaluation included, and evaluate_all() cannot run there (a
-- distributed query inside a distributed one). Across the shards, Citus calls it once, on the
-- coordinator, and ships its rows.
CREATE FUNCTION lethe.citus_item_status() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE OR REPLACE VIEW lethe.item_status AS
    SELECT i.tenant_id::text::uuid AS tenant_id, i.item_id, i.kind, i.location,
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
           coalesce(f.attempts, 0) AS attempts,
           ev.hold_id,
           coalesce(pb.reference, ob.reference, ev.reference) AS reference
      FROM lethe.items i
      LEFT JOIN lethe.batch_items pb
        ON pb.tenant_id = i.tenant_id AND pb.item_id = i.item_id AND pb.outcome = 'purged'
      LEFT JOIN lethe.batch_items ob
        ON ob.tenant_id = i.tenant_id AND ob.item_id = i.item_id AND ob.outcome IS NULL
      LEFT JOIN (SELECT f.tenant_id, f.item_id, count(*)::integer AS attempts
                   FROM lethe.batch_items f WHERE f.outcome = 'failed'
                  GROUP BY f.tenant_id, f.item_id) f
        ON f.tenant_id = i.tenant_id AND f.item_id = i.item_id
      LEFT JOIN lethe.evaluate_all(now()) ev
        ON ev.tenant_id = i.tenant_id AND ev.item_id = i.item_id;
END $$;

ALTER FUNCTION lethe.citus_layout() RENAME TO citus_layout_0027;
CREATE FUNCTION lethe.citus_layout() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    PERFORM lethe.citus_layout_0027();
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    SELECT * INTO bad FROM lethe.citus_edits_check(true) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the Citus form of a statement of % (edit %) no longer applies: %',
            bad.fn, bad.step, bad.problem
            USING HINT = 'a migration rewrote the statement; lethe.citus_edits needs its Citus form';
    END IF;
    PERFORM lethe.citus_item_status();
END $$;

-- ---- the edits ----------------------------------------------------------------------------

INSERT INTO lethe.citus_edits (fn, step, old, new, regex, why)
SELECT f, 1, '\n\s*OFFSET 0\)', ')', true,
       'OFFSET 0 fences a correlated subquery for one server''s planner; Citus refuses OFFSET there'
  FROM unnest(ARRAY['lethe.derive_consume(integer,integer)',
                    'lethe.derive_apply(timestamp with time zone,integer,integer)',
                    'lethe.idle_probe(timestamp with time zone,integer,integer,boolean)',
                    'lethe.pending_items_live(timestamp with time zone)',
                    'lethe.shared_schedule(timestamp with time zone,uuid[])',
                    'lethe.held_valid(timestamp with time zone,integer,integer)',
                    'lethe.pending_complex(timestamp with time zone)']) f;

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.derive_apply(timestamp with time zone,integer,integer)', 2,
$old$     WHERE n.tenant_id NOT IN (
            SELECT q.tenant_id FROM (SELECT DISTINCT x.tenant_id FROM new_items x) q
             WHERE NOT EXISTS (SELECT 1 FROM lethe.obligations o
                                WHERE o.tenant_id = q.tenant_id
                                  AND NOT EXISTS (SELECT 1 FROM to_expand t
                                                   WHERE t.tenant_id = o.tenant_id
                                                     AND t.obligation_id = o.obligation_id))
               AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b WHERE b.tenant_id = q.tenant_id)
               AND NOT EXISTS (SELECT 1 FROM lethe.items i
                                WHERE i.tenant_id = q.tenant_id AND i.shared));$old$,
$new$     WHERE n.tenant_id NOT IN (
            SELECT x.tenant_id FROM new_items x
            EXCEPT
            SELECT o.tenant_id FROM lethe.obligations o
             WHERE o.tenant_id IN (SELECT x.tenant_id FROM new_items x)
               AND (o.tenant_id, o.obligation_id) NOT IN (SELECT t.tenant_id, t.obligation_id FROM to_expand t)
            EXCEPT
            SELECT b.tenant_id FROM lethe.batch_items b
             WHERE b.tenant_id IN (SELECT x.tenant_id FROM new_items x)
            EXCEPT
            SELECT i.tenant_id FROM lethe.items i
             WHERE i.tenant_id IN (SELECT x.tenant_id FROM new_items x) AND i.shared);$new$,
 'the tenants left to the expansion, without subqueries correlated with the run''s temp tables');

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.propagate_seeds()', 1,
$old$            AND EXISTS (SELECT 1 FROM lethe.items i
                          JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                         WHERE i.tenant_id = s.tenant_id AND i.item_id = s.item_id
                           AND i.locator IS NOT NULL))$old$,
$new$            AND (s.tenant_id, s.item_id) IN (
                    SELECT i.tenant_id, i.item_id FROM lethe.items i
                      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
                     WHERE (i.tenant_id, i.item_id) IN (SELECT x.tenant_id, x.item_id FROM seeds x
                                                         WHERE x.live IS NULL)
                       AND i.locator IS NOT NULL))$new$,
 'the seeds whose item is live Customer Data, without a subquery correlated with the seeds');

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.derive_apply(timestamp with time zone,integer,integer)', 3,
$old$    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT x.tenant_id, x.item_id, x.rule, x.obligation_id, x.triggered_at, 0, x.locator IS NOT NULL
      FROM (
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
         WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL  -- the subject's purged items: their copies follow them
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i
            ON i.tenant_id = t.tenant_id AND i.owner_digest = t.subject_digest
         WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.owner_id IS NULL
           AND i.created_at <= t.covers_until
           AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
           AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
        UNION ALL
        SELECT i.tenant_id, i.item_id, i.kind, i.locator, t.rule, t.obligation_id, t.triggered_at
          FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id
         WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NULL
           AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
      ) x
      JOIN lethe.kinds k ON k.kind = x.kind AND k.customer_data
    ON CONFLICT DO NOTHING;$old$,
$new$    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0, i.locator IS NOT NULL
      FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.item_id = t.item_id
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE t.item_id IS NOT NULL AND i.created_at <= t.covers_until
       AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
       AND (NOT t.shared_only OR i.shared)
    ON CONFLICT DO NOTHING;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0, i.locator IS NOT NULL
      FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.owner_id = t.subject_id
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.created_at <= t.covers_until
       AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
       AND (NOT t.shared_only OR i.shared)
    ON CONFLICT DO NOTHING;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0, i.locator IS NOT NULL
      FROM to_expand t JOIN lethe.items i
        ON i.tenant_id = t.tenant_id AND i.owner_digest = t.subject_digest
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE t.item_id IS NULL AND t.subject_id IS NOT NULL AND i.owner_id IS NULL
       AND i.created_at <= t.covers_until
       AND (t.workspace_id IS NULL OR i.workspace_id = t.workspace_id)
       AND (NOT t.shared_only OR i.shared)
    ON CONFLICT DO NOTHING;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0, i.locator IS NOT NULL
      FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id AND i.workspace_id = t.workspace_id
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NOT NULL
       AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
    ON CONFLICT DO NOTHING;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth, live)
    SELECT i.tenant_id, i.item_id, t.rule, t.obligation_id, t.triggered_at, 0, i.locator IS NOT NULL
      FROM to_expand t JOIN lethe.items i ON i.tenant_id = t.tenant_id
      JOIN lethe.kinds k ON k.kind = i.kind AND k.customer_data
     WHERE t.item_id IS NULL AND t.subject_id IS NULL AND t.workspace_id IS NULL
       AND i.created_at <= t.covers_until AND (NOT t.shared_only OR i.shared)
    ON CONFLICT DO NOTHING;$new$,
 'the expansion one kind of scope at a time: Citus plans a join of the run''s temp table with items, not a union of such joins');

-- clock_timestamp() is VOLATILE, and Citus evaluates no volatile function in an UPDATE of a
-- distributed table: the instant is taken into a variable first, then written.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.derive_apply(timestamp with time zone,integer,integer)', 4,
$old$    touched_ids uuid[] := '{}';
BEGIN$old$,
$new$    touched_ids uuid[] := '{}';
    v_now timestamptz;
BEGIN$new$,
 'a variable for the instant written below'),
('lethe.derive_apply(timestamp with time zone,integer,integer)', 5,
$old$    UPDATE lethe.obligations o SET expanded_at = clock_timestamp()$old$,
$new$    v_now := clock_timestamp();
    UPDATE lethe.obligations o SET expanded_at = v_now$new$,
 'Citus evaluates no VOLATILE function in an UPDATE of a distributed table');

INSERT INTO lethe.citus_edits (fn, step, old, new, why)
SELECT f, 0, 'LANGUAGE sql', 'LANGUAGE plpgsql',
       'Citus does not plan a SQL function''s query that reads distributed tables with parameters'
  FROM unnest(ARRAY['lethe.held_valid(timestamp with time zone,integer,integer)',
                    'lethe.due_fresh(timestamp with time zone,integer,integer,uuid[])',
                    'lethe.due_items(timestamp with time zone,integer,integer)',
                    'lethe.manifest_rows(uuid)',
                    'lethe.manifest_lines(uuid)',
                    'lethe.batch_locators(uuid)',
                    'lethe.lineage(uuid[],uuid[],timestamp with time zone,boolean,boolean)',
                    'lethe.hold_matches(uuid[],uuid[],timestamp with time zone)',
                    'lethe.standing(uuid[],uuid[],timestamp with time zone)',
                    'lethe.shared_schedule(timestamp with time zone,uuid[])',
                    'lethe.opted_out_at(uuid,uuid,timestamp with time zone)']) f;

-- The held memory (sql/0013_held.sql) is a local table: on Citus nothing is remembered, and
-- every run evaluates the holds of every tenant it reaches, as a run does on one server the
-- first time or after the memory was forgotten.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.held_valid(timestamp with time zone,integer,integer)', 2,
$old$BEGIN
RETURN QUERY
$old$,
$new$BEGIN
RETURN;  -- Citus: no held memory
RETURN QUERY
$new$,
 'the held memory is local: on Citus no tenant is remembered as held'),
('lethe.held_remember(uuid,timestamp with time zone,integer,integer,uuid[])', 1,
$old$    gone uuid[];
BEGIN
$old$,
$new$    gone uuid[];
BEGIN
    RETURN;  -- Citus: no held memory
$new$,
 'the held memory is local: on Citus no tenant is remembered as held');

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.idle_probe(timestamp with time zone,integer,integer,boolean)', 2,
$old$                     AND NOT EXISTS (SELECT 1 FROM lethe.held_items h
                                      WHERE h.tenant_id = p.tenant_id AND h.item_id = p.item_id
                                        AND h.tenant_id = ANY (valid))
$old$,
$new$                     -- Citus: no held memory, so no remembered held item to pass over
$new$,
 'the held memory is local and empty on Citus');

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.due_fresh(timestamp with time zone,integer,integer,uuid[])', 1,
$old$           AND NOT EXISTS (SELECT 1 FROM lethe.held_items h  -- a new row for a remembered item
                            WHERE h.tenant_id = p.tenant_id AND h.item_id = p.item_id
                              AND h.tenant_id IN (SELECT unnest(p_valid)))
        UNION
        SELECT h.tenant_id, h.item_id
          FROM lethe.held_tenants t
          JOIN lethe.held_items h ON h.tenant_id = t.tenant_id
         WHERE lethe.in_shard(t.tenant_id, p_k, p_n) AND t.tenant_id NOT IN (SELECT unnest(p_valid))
$old$,
$new$           -- Citus: no held memory, so no remembered item or tenant to add or pass over
$new$,
 'the held memory is local and empty on Citus');

-- The walk up a lineage (sql/0019_lineage_and_receipts.sql), a generation at a time.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.ancestors(uuid[],uuid[])', 1,
$old$ LANGUAGE sql
 STABLE
AS $function$
    WITH RECURSIVE up AS (
        SELECT i.tenant_id, i.item_id, i.item_id AS anc, i.parent_id, i.workspace_id, i.owner_id,
               i.owner_digest, i.shared, i.created_at, k.customer_data, i.locator IS NULL AS purged,
               k.customer_data AS self_customer_data, 0 AS depth
          FROM unnest(p_tenants, p_items) x (t, id)
          JOIN lethe.items i ON i.tenant_id = x.t AND i.item_id = x.id
          JOIN lethe.kinds k ON k.kind = i.kind
        UNION ALL
        SELECT up.tenant_id, up.item_id, a.item_id, a.parent_id, a.workspace_id, a.owner_id,
               a.owner_digest, a.shared, a.created_at, k.customer_data, a.locator IS NULL,
               up.self_customer_data, up.depth + 1
          FROM up
          JOIN lethe.items a ON a.tenant_id = up.tenant_id AND a.item_id = up.parent_id
          JOIN lethe.kinds k ON k.kind = a.kind
         WHERE up.depth < lethe.lineage_max_depth()
    )
    SELECT up.tenant_id, up.item_id, up.anc, up.workspace_id, up.owner_id, up.owner_digest,
           up.shared, up.created_at, up.customer_data, up.purged, up.self_customer_data, up.depth
      FROM up
$function$$old$,
$new$ LANGUAGE plpgsql
 STABLE
AS $function$
-- Citus: the walk one generation at a time (Citus plans WITH RECURSIVE only within one
-- tenant): each step joins the generation found last with items, by key. No temp table: the
-- summary's read-only transaction calls it too.
DECLARE
    v_depth integer := 0;
    f_t uuid[]; f_i uuid[]; f_a uuid[]; f_p uuid[]; f_w uuid[]; f_o text[]; f_d bytea[];
    f_sh boolean[]; f_c timestamptz[]; f_cd boolean[]; f_pu boolean[]; f_s boolean[];
BEGIN
    SELECT array_agg(i.tenant_id), array_agg(i.item_id), array_agg(i.item_id), array_agg(i.parent_id),
           array_agg(i.workspace_id), array_agg(i.owner_id), array_agg(i.owner_digest),
           array_agg(i.shared), array_agg(i.created_at), array_agg(k.customer_data),
           array_agg(i.locator IS NULL), array_agg(k.customer_data)
      INTO f_t, f_i, f_a, f_p, f_w, f_o, f_d, f_sh, f_c, f_cd, f_pu, f_s
      FROM unnest(p_tenants, p_items) x (t, id)
      JOIN lethe.items i ON i.tenant_id = x.t AND i.item_id = x.id
      JOIN lethe.kinds k ON k.kind = i.kind;
    WHILE f_t IS NOT NULL LOOP
        RETURN QUERY
        SELECT u.t, u.i, u.a, u.w, u.o, u.d, u.sh, u.c, u.cd, u.pu, u.s, v_depth
          FROM unnest(f_t, f_i, f_a, f_w, f_o, f_d, f_sh, f_c, f_cd, f_pu, f_s)
               u (t, i, a, w, o, d, sh, c, cd, pu, s);
        EXIT WHEN v_depth >= lethe.lineage_max_depth();
        SELECT array_agg(u.t), array_agg(u.i), array_agg(a.item_id), array_agg(a.parent_id),
               array_agg(a.workspace_id), array_agg(a.owner_id), array_agg(a.owner_digest),
               array_agg(a.shared), array_agg(a.created_at), array_agg(k.customer_data),
               array_agg(a.locator IS NULL), array_agg(u.s)
          INTO f_t, f_i, f_a, f_p, f_w, f_o, f_d, f_sh, f_c, f_cd, f_pu, f_s
          FROM unnest(f_t, f_i, f_p, f_s) u (t, i, p, s)
          JOIN lethe.items a ON a.tenant_id = u.t AND a.item_id = u.p
          JOIN lethe.kinds k ON k.kind = a.kind
         WHERE u.p IS NOT NULL;
        v_depth := v_depth + 1;
    END LOOP;
END
$function$$new$,
 'Citus plans WITH RECURSIVE only when it is filtered on one tenant');

-- In a statement Citus pushes down to the workers, opted_out_at() cannot be called for each
-- row (it reads events: a distributed query inside one). There the same test is written out:
-- the latest sharing event up to the instant, in the function's order, is an opt-out exactly
-- when some opt-out before the instant has no opt-in at or after it, up to the instant.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.derive_apply(timestamp with time zone,integer,integer)', 6,
$old$       AND i.shared AND lethe.opted_out_at(i.tenant_id, i.workspace_id, i.created_at)$old$,
$new$       AND i.shared
       AND EXISTS (SELECT 1 FROM lethe.events o
                    WHERE o.tenant_id = i.tenant_id AND o.type = 'sharing_opted_out'
                      AND (o.workspace_id IS NULL OR o.workspace_id = i.workspace_id)
                      AND o.occurred_at < i.created_at
                      AND NOT EXISTS (SELECT 1 FROM lethe.events x
                                       WHERE x.tenant_id = o.tenant_id AND x.type = 'sharing_opted_in'
                                         AND (x.workspace_id IS NULL OR x.workspace_id = i.workspace_id)
                                         AND x.occurred_at >= o.occurred_at
                                         AND x.occurred_at <= i.created_at))$new$,
 'opted_out_at() written out: Citus runs no distributed query inside a pushed-down one');

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.seed_from_lineage(uuid[],uuid[],timestamp with time zone)', 1,
$old$            AND EXISTS (SELECT 1 FROM lethe.obligations o
                         WHERE o.tenant_id = l.tenant_id AND o.obligation_id = l.obligation_id
                           AND o.expanded_at IS NOT NULL))$old$,
$new$            AND (l.tenant_id, l.obligation_id) IN (
                    SELECT o.tenant_id, o.obligation_id FROM lethe.obligations o
                     WHERE o.tenant_id = ANY (p_tenants) AND o.expanded_at IS NOT NULL))$new$,
 'Citus plans no subquery correlated with a function''s rows');

-- lethe ack (sql/0031_ack_evidence.sql and after).
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.ack_batch(uuid,uuid[],uuid[],text[],boolean,boolean,text,text)', 1,
$old$     WHERE NOT EXISTS (SELECT 1 FROM lethe.batch_items bi
                        WHERE bi.batch_id = p_batch AND bi.item_id = r.item_id);$old$,
$new$     WHERE r.item_id NOT IN (SELECT bi.item_id FROM lethe.batch_items bi WHERE bi.batch_id = p_batch);$new$,
 'the receipts naming no item of the batch, without a subquery correlated with a temp table');

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.ack_batch(uuid,uuid[],uuid[],text[],boolean,boolean,text,text)', 2,
$old$      LEFT JOIN LATERAL (SELECT x.hold_id FROM lethe.hold_blocks x
                           JOIN lethe.holds y ON y.tenant_id = x.tenant_id AND y.hold_id = x.hold_id
                          WHERE x.tenant_id = a.tenant_id AND x.item_id = a.item_id
                            AND (y.released_at IS NULL OR y.released_at > a.deadline_at)
                          ORDER BY x.blocked_at DESC LIMIT 1) hb ON true$old$,
$new$      LEFT JOIN (SELECT DISTINCT ON (t.tenant_id, t.item_id) t.tenant_id, t.item_id, x.hold_id
                   FROM ack_its t
                   JOIN lethe.hold_blocks x ON x.tenant_id = t.tenant_id AND x.item_id = t.item_id
                   JOIN lethe.holds y ON y.tenant_id = x.tenant_id AND y.hold_id = x.hold_id
                  WHERE y.released_at IS NULL OR y.released_at > t.deadline_at
                  ORDER BY t.tenant_id, t.item_id, x.blocked_at DESC) hb
        ON hb.tenant_id = a.tenant_id AND hb.item_id = a.item_id$new$,
 'the hold that kept each item past its deadline, for all the items at once: Citus plans no LATERAL ... LIMIT over a temp table');

-- The pending items (status, export --summary) on Citus: every live item not in a batch
-- evaluated at once (evaluate_all(), as item_status reads it), and the items in flight.
-- One server's form (pending_items_live, pending_items_remembered) walks from what can carry
-- an obligation, in recursive queries over all tenants, which Citus does not plan.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.pending_items(timestamp with time zone)', 1,
$old$        RETURN QUERY SELECT * FROM lethe.pending_items_live(p_as_of);$old$,
$new$        RETURN QUERY
        SELECT e.tenant_id, e.item_id, i.location,
               CASE WHEN e.due_at > p_as_of THEN 'scheduled'
                    WHEN e.hold_id IS NOT NULL THEN 'held' ELSE 'due' END,
               e.rule, e.reference, e.due_at, e.deadline_at, NULL::uuid, e.hold_id
          FROM lethe.evaluate_all(p_as_of) e
          JOIN lethe.items i ON i.tenant_id = e.tenant_id AND i.item_id = e.item_id;
        RETURN QUERY
        SELECT b.tenant_id, b.item_id, b.location, 'in_flight', b.rule, b.reference, b.due_at,
               b.deadline_at, b.batch_id, NULL::uuid
          FROM lethe.batch_items b
          JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
         WHERE b.outcome IS NULL AND i.locator IS NOT NULL;$new$,
 'the pending items through one evaluation of the live items: Citus plans no recursive query over all tenants'),
('lethe.due_items(timestamp with time zone,integer,integer)', 1,
$old$           AND EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = x.tenant_id AND h.placed_at > p_as_of
                          AND h.released_at IS NULL)$old$,
$new$           AND x.tenant_id IN (SELECT h.tenant_id FROM lethe.holds h
                                WHERE h.placed_at > p_as_of AND h.released_at IS NULL)$new$,
 'the tenants with a hold placed after as_of, without a subquery correlated with a CTE');

-- An item's holds (explain): the holds its lineage matches (hold_matches(), which walks the
-- lineage on the coordinator) and their rows are read in two statements, so that no hold row
-- is read in the statement that calls the walk.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.holds_of(uuid,uuid,timestamp with time zone)', 1,
$old$ LANGUAGE sql
 STABLE
AS $function$
    SELECT h.hold_id, h.workspace_id, h.subject_id, h.item_id, h.reason, h.reference,
           h.placed_at, h.released_at, m.active, m.via_item
      FROM (SELECT DISTINCT ON (x.hold_id) x.*
              FROM lethe.hold_matches(ARRAY[p_tenant], ARRAY[p_item], p_as_of) x
             ORDER BY x.hold_id, x.depth) m
      JOIN lethe.holds h ON h.tenant_id = p_tenant AND h.hold_id = m.hold_id
     ORDER BY h.placed_at, h.hold_id
$function$$old$,
$new$ LANGUAGE plpgsql
 STABLE
AS $function$
-- Citus: the matching holds first, in a statement of their own, then their rows, by key.
#variable_conflict use_column
DECLARE
    v_ids uuid[];
    v_active boolean[];
    v_via uuid[];
BEGIN
    SELECT array_agg(m.hold_id), array_agg(m.active), array_agg(m.via_item)
      INTO v_ids, v_active, v_via
      FROM (SELECT DISTINCT ON (x.hold_id) x.*
              FROM lethe.hold_matches(ARRAY[p_tenant], ARRAY[p_item], p_as_of) x
             ORDER BY x.hold_id, x.depth) m;
    RETURN QUERY
    SELECT h.hold_id, h.workspace_id, h.subject_id, h.item_id, h.reason, h.reference,
           h.placed_at, h.released_at, m.active, m.via_item
      FROM unnest(v_ids, v_active, v_via) m (hold_id, active, via_item)
      JOIN lethe.holds h ON h.tenant_id = p_tenant AND h.hold_id = m.hold_id
     ORDER BY h.placed_at, h.hold_id;
END
$function$$new$,
 'Citus plans no SQL function''s query with parameters, nor a walk in a statement that reads a distributed table');

-- lethe export's filter (engine/dbaudit.c). COPY takes no parameters, so the filter reaches
-- its query as transaction-local settings. Read with current_setting() in the query's WHERE,
-- on Citus they were read on the workers, which do not have them (the export of one tenant
-- failed there). Read through this function, joined as a row, they are read where the export
-- runs: on one server as before, and on Citus on the coordinator, whose row is shipped.
CREATE FUNCTION lethe.export_filter()
RETURNS TABLE (tenant_id uuid, from_at timestamptz, to_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('lethe.export_tenant', true), '')::uuid,
           nullif(current_setting('lethe.export_from', true), '')::timestamptz,
           nullif(current_setting('lethe.export_to', true), '')::timestamptz
$$;
REVOKE ALL ON FUNCTION lethe.export_filter() FROM PUBLIC;

-- The lineage of items (lineage()): its walk (ancestors()) and the opt-outs of its shared
-- items are worked out in statements of their own, on the coordinator, before the statement
-- that reads obligations, batches and holds. Called for one tenant, that statement is sent
-- whole to the tenant's worker, where a call of either (each reads distributed tables) would
-- be a distributed query inside a distributed one.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.lineage(uuid[],uuid[],timestamp with time zone,boolean,boolean)', 1,
$old$#variable_conflict use_column
BEGIN
RETURN QUERY

    WITH walk AS MATERIALIZED (SELECT * FROM lethe.ancestors(p_tenants, p_items)),$old$,
$new$#variable_conflict use_column
DECLARE
    w_t uuid[]; w_i uuid[]; w_a uuid[]; w_w uuid[]; w_o text[]; w_d bytea[]; w_sh boolean[];
    w_c timestamptz[]; w_cd boolean[]; w_pu boolean[]; w_s boolean[]; w_depth integer[];
    w_opted boolean[];
BEGIN
    SELECT array_agg(a.tenant_id), array_agg(a.item_id), array_agg(a.anc), array_agg(a.workspace_id),
           array_agg(a.owner_id), array_agg(a.owner_digest), array_agg(a.shared),
           array_agg(a.created_at), array_agg(a.customer_data), array_agg(a.purged),
           array_agg(a.self_customer_data), array_agg(a.depth)
      INTO w_t, w_i, w_a, w_w, w_o, w_d, w_sh, w_c, w_cd, w_pu, w_s, w_depth
      FROM lethe.ancestors(p_tenants, p_items) a;
    SELECT array_agg(x.self_customer_data AND x.customer_data AND x.shared
                     AND lethe.opted_out_at(x.tenant_id, x.workspace_id, x.created_at)
                     ORDER BY x.n)
      INTO w_opted
      FROM unnest(w_t, w_w, w_sh, w_c, w_cd, w_s) WITH ORDINALITY
           x (tenant_id, workspace_id, shared, created_at, customer_data, self_customer_data, n);
RETURN QUERY
    WITH walk AS MATERIALIZED (
        SELECT * FROM unnest(w_t, w_i, w_a, w_w, w_o, w_d, w_sh, w_c, w_cd, w_pu, w_s, w_depth, w_opted)
               AS w (tenant_id, item_id, anc, workspace_id, owner_id, owner_digest, shared, created_at,
                     customer_data, purged, self_customer_data, depth, opted)),$new$,
 'the walk and the opt-outs in statements of their own, on the coordinator'),
('lethe.lineage(uuid[],uuid[],timestamp with time zone,boolean,boolean)', 2,
$old$           AND lethe.opted_out_at(up.tenant_id, up.workspace_id, up.created_at)$old$,
$new$           AND up.opted$new$,
 'the opt-out worked out above');

-- The lineage rows a run seeds from (seed_from_lineage()) are worked out first, into a
-- temporary table, by a statement that calls lineage() and reads no table itself: for one
-- tenant, the statement that reads obligations would be sent whole to its worker.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.seed_from_lineage(uuid[],uuid[],timestamp with time zone)', 2,
$old$    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT DISTINCT ON (l.tenant_id, l.item_id, l.rule, l.obligation_id)$old$,
$new$    CREATE TEMP TABLE IF NOT EXISTS lineage_rows ON COMMIT DROP AS
    SELECT * FROM lethe.lineage(p_tenants, p_items, p_as_of, true) WITH NO DATA;
    TRUNCATE lineage_rows;
    INSERT INTO lineage_rows SELECT * FROM lethe.lineage(p_tenants, p_items, p_as_of, true);
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT DISTINCT ON (l.tenant_id, l.item_id, l.rule, l.obligation_id)$new$,
 'the lineage first, on the coordinator'),
('lethe.seed_from_lineage(uuid[],uuid[],timestamp with time zone)', 3,
$old$      FROM lethe.lineage(p_tenants, p_items, p_as_of, true) l$old$,
$new$      FROM lineage_rows l$new$,
 'the lineage worked out above');

-- A rerun's items (emit_batches with p_rerun_of): the batch's own rows, uncorrelated.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.emit_batches(uuid,timestamp with time zone,integer,integer,integer,text,uuid[],uuid)', 1,
$old$                         OR EXISTS (SELECT 1 FROM lethe.batch_items x
                                     WHERE x.batch_id = p_rerun_of AND x.tenant_id = d.tenant_id
                                       AND x.item_id = d.item_id
                                       AND x.outcome IS DISTINCT FROM 'superseded')))) d;$old$,
$new$                         OR (d.tenant_id, d.item_id) IN (
                                SELECT x.tenant_id, x.item_id FROM lethe.batch_items x
                                 WHERE x.batch_id = p_rerun_of
                                   AND x.outcome IS DISTINCT FROM 'superseded')))) d;$new$,
 'Citus plans no subquery correlated with a function''s rows');

-- The holds that begin to block due items (emit_batches): the blocks not recorded yet are
-- chosen first (the run lock keeps every other writer of hold_blocks out), then written, then
-- audited, each in a statement of its own.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.emit_batches(uuid,timestamp with time zone,integer,integer,integer,text,uuid[],uuid)', 2,
$old$    WITH blocked AS (
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
     ORDER BY b.tenant_id, b.item_id;$old$,
$new$    -- Citus: the new blocks, their holds' references, then the records, each in a statement
    -- that Citus plans (a modifying CTE whose rows are joined with a distributed table is not).
    CREATE TEMP TABLE IF NOT EXISTS blocked_now (tenant_id uuid, item_id uuid, hold_id uuid,
                                                 reference text) ON COMMIT DROP;
    TRUNCATE blocked_now;
    INSERT INTO blocked_now (tenant_id, item_id, hold_id)
    SELECT d.tenant_id, d.item_id, d.hold_id FROM due_now d
     WHERE d.hold_id IS NOT NULL
       AND (d.tenant_id, d.item_id, d.hold_id) NOT IN (
            SELECT x.tenant_id, x.item_id, x.hold_id FROM lethe.hold_blocks x
             WHERE x.tenant_id IN (SELECT y.tenant_id FROM due_now y WHERE y.hold_id IS NOT NULL));
    INSERT INTO lethe.hold_blocks (tenant_id, item_id, hold_id)
    SELECT b.tenant_id, b.item_id, b.hold_id FROM blocked_now b
    ON CONFLICT DO NOTHING;
    CREATE TEMP TABLE IF NOT EXISTS blocked_refs (tenant_id uuid, hold_id uuid, reference text)
        ON COMMIT DROP;
    TRUNCATE blocked_refs;
    INSERT INTO blocked_refs
    SELECT h.tenant_id, h.hold_id, h.reference FROM lethe.holds h
     WHERE (h.tenant_id, h.hold_id) IN (SELECT b.tenant_id, b.hold_id FROM blocked_now b);
    INSERT INTO audit_stage (tenant_id, kind, run_id, item_id, rule, reference, triggered_at,
                             deadline_at, hold_id, detail)
    SELECT b.tenant_id, 'hold_blocked', p_run, b.item_id, d.rule, h.reference, d.triggered_at,
           d.deadline_at, b.hold_id, 'due ' || lethe.iso_utc(d.due_at)
      FROM blocked_now b
      JOIN due_now d ON d.tenant_id = b.tenant_id AND d.item_id = b.item_id
      JOIN blocked_refs h ON h.tenant_id = b.tenant_id AND h.hold_id = b.hold_id
     ORDER BY b.tenant_id, b.item_id;$new$,
 'Citus sent the statement whole to a worker for one tenant, temporary tables included');

-- The items that lost rows and have none left (derive_apply): uncorrelated.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.derive_apply(timestamp with time zone,integer,integer)', 7,
$old$                  FROM unnest(touched_ts, touched_ids) x (tenant_id, item_id)) t
         WHERE NOT EXISTS (SELECT 1 FROM lethe.item_obligations p
                            WHERE p.tenant_id = t.tenant_id AND p.item_id = t.item_id);$old$,
$new$                  FROM unnest(touched_ts, touched_ids) x (tenant_id, item_id)) t
         WHERE (t.tenant_id, t.item_id) NOT IN (
                SELECT p.tenant_id, p.item_id FROM lethe.item_obligations p
                 WHERE p.tenant_id = ANY (touched_ts));$new$,
 'Citus plans no subquery correlated with a function''s rows');
