-- More statements in their Citus form (sql/0047_citus_statements.sql), found by make
-- check-citus: rows of lethe.citus_edits, which lethe.citus_layout() applies after this migrate
-- on a Citus database, as it does every other row.
--
-- A function edited already is remembered by the digest of its edited body, and was left as
-- it was: a row added for it later would never have been applied (emit_batches, below, on a
-- database laid out at version 47). So the memory now also keeps the last step applied, and a
-- function whose body is still the remembered one gets the steps after it, applied to that
-- body (an earlier step leaves the text a later one replaces untouched). The functions
-- remembered at version 47 were given every step that existed then: their last step is set
-- before this migration adds its rows.
ALTER TABLE lethe.citus_edited ADD COLUMN last_step integer;
UPDATE lethe.citus_edited x
   SET last_step = (SELECT max(c.step) FROM lethe.citus_edits c WHERE c.fn = x.fn);

CREATE OR REPLACE FUNCTION lethe.citus_edits_check(p_apply boolean DEFAULT false)
RETURNS TABLE (fn text, step integer, problem text) LANGUAGE plpgsql AS $$
DECLARE
    f record;
    e record;
    v_def text;
    v_bad boolean;
    v_from integer;
BEGIN
    FOR f IN SELECT c.fn, max(c.step) AS last FROM lethe.citus_edits c GROUP BY c.fn ORDER BY 1 LOOP
        IF to_regprocedure(f.fn) IS NULL THEN
            fn := f.fn; step := NULL; problem := 'no such function';
            RETURN NEXT;
            CONTINUE;
        END IF;
        v_def := pg_get_functiondef(to_regprocedure(f.fn));
        v_from := NULL;
        IF p_apply THEN
            SELECT x.last_step INTO v_from FROM lethe.citus_edited x JOIN pg_proc p
                ON p.oid = to_regprocedure(x.fn)
             WHERE x.fn = f.fn AND x.src_md5 = md5(p.prosrc);
            IF v_from >= f.last THEN
                CONTINUE;
            END IF;
        END IF;
        v_bad := false;
        FOR e IN SELECT * FROM lethe.citus_edits c
                  WHERE c.fn = f.fn AND (v_from IS NULL OR c.step > v_from) ORDER BY c.step LOOP
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
            INSERT INTO lethe.citus_edited AS x (fn, src_md5, last_step)
            SELECT f.fn, md5(p.prosrc), f.last FROM pg_proc p WHERE p.oid = to_regprocedure(f.fn)
            ON CONFLICT ON CONSTRAINT citus_edited_pkey
            DO UPDATE SET src_md5 = EXCLUDED.src_md5, last_step = EXCLUDED.last_step;
        END IF;
    END LOOP;
END $$;

-- The holds placed after as_of that hold due items (emit_batches): the tenants with such a
-- hold are read without a subquery correlated with the run's temporary table; the holds the
-- items' lineage matches (hold_matches(), a walk on the coordinator), those holds' rows and
-- the tenants' hold counts are each read in a statement of their own, and then joined.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.emit_batches(uuid,timestamp with time zone,integer,integer,integer,text,uuid[],uuid)', 3,
$old$          FROM due_now x
         WHERE x.hold_id IS NULL
           AND EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = x.tenant_id AND h.placed_at > p_as_of
                          AND h.released_at IS NULL);
    END IF;
    IF late_items IS NOT NULL THEN
        UPDATE due_now d
           SET hold_id = m.hold_id,
               holds_seen = (SELECT count(*) FROM lethe.holds c WHERE c.tenant_id = d.tenant_id)
          FROM (SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
                  FROM lethe.hold_matches(late_tenants, late_items, p_as_of) m
                  JOIN lethe.holds h ON h.tenant_id = m.tenant_id AND h.hold_id = m.hold_id
                 WHERE h.placed_at > p_as_of AND h.released_at IS NULL
                 ORDER BY m.tenant_id, m.item_id, h.placed_at, m.hold_id) m$old$,
$new$          FROM due_now x
         WHERE x.hold_id IS NULL
           AND x.tenant_id IN (SELECT h.tenant_id FROM lethe.holds h
                                WHERE h.placed_at > p_as_of AND h.released_at IS NULL);
    END IF;
    IF late_items IS NOT NULL THEN
        CREATE TEMP TABLE IF NOT EXISTS late_matches (tenant_id uuid, item_id uuid, hold_id uuid)
            ON COMMIT DROP;
        TRUNCATE late_matches;
        INSERT INTO late_matches
        SELECT m.tenant_id, m.item_id, m.hold_id
          FROM lethe.hold_matches(late_tenants, late_items, p_as_of) m;
        CREATE TEMP TABLE IF NOT EXISTS late_holds (tenant_id uuid, hold_id uuid,
                                                    placed_at timestamptz) ON COMMIT DROP;
        TRUNCATE late_holds;
        INSERT INTO late_holds
        SELECT h.tenant_id, h.hold_id, h.placed_at FROM lethe.holds h
         WHERE h.tenant_id = ANY (late_tenants) AND h.placed_at > p_as_of
           AND h.released_at IS NULL;
        CREATE TEMP TABLE IF NOT EXISTS late_seen (tenant_id uuid, n bigint) ON COMMIT DROP;
        TRUNCATE late_seen;
        INSERT INTO late_seen
        SELECT c.tenant_id, count(*) FROM lethe.holds c
         WHERE c.tenant_id = ANY (late_tenants) GROUP BY c.tenant_id;
        UPDATE due_now d
           SET hold_id = m.hold_id,
               holds_seen = coalesce((SELECT s.n FROM late_seen s WHERE s.tenant_id = d.tenant_id), 0)
          FROM (SELECT DISTINCT ON (m.tenant_id, m.item_id) m.tenant_id, m.item_id, m.hold_id
                  FROM late_matches m
                  JOIN late_holds h ON h.tenant_id = m.tenant_id AND h.hold_id = m.hold_id
                 ORDER BY m.tenant_id, m.item_id, h.placed_at, m.hold_id) m$new$,
 'Citus plans no subquery correlated with a temporary table, nor a walk in a statement that reads a distributed table');

-- The locators' digests (record_locator_hmacs): Citus takes no function but an IMMUTABLE one in
-- the DO UPDATE SET of an INSERT on a distributed table (nor, there, a variable, whose type it
-- does not send): the time is inserted with the row, on the coordinator, and taken from it.
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.record_locator_hmacs(text,uuid[],uuid[],text[])', 1,
$old$    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac)
    SELECT x.t, x.i, p_location, x.h FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)$old$,
$new$    INSERT INTO lethe.locator_hmacs AS h (tenant_id, item_id, location, locator_hmac, recorded_at)
    SELECT x.t, x.i, p_location, x.h, now() FROM unnest(p_tenants, p_items, p_hmacs) AS x(t, i, h)$new$,
 'the time of the update, with the row'),
('lethe.record_locator_hmacs(text,uuid[],uuid[],text[])', 2,
$old$locator_hmac = EXCLUDED.locator_hmac, recorded_at = now()$old$,
$new$locator_hmac = EXCLUDED.locator_hmac, recorded_at = EXCLUDED.recorded_at$new$,
 'Citus refuses a STABLE function in DO UPDATE SET on a distributed table');

