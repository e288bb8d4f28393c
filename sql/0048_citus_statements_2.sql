-- More statements in their Citus form (sql/0047_citus_statements.sql), found by make
-- check-citus: rows of lethe.citus_edits, which lethe.citus_layout() applies after this migrate
-- on a Citus database, as it does every other row.
--
-- On a Citus database laid out at version 47 already, the functions these rows edit were
-- edited then, by their earlier rows, and are remembered by the digest of that body: the
-- layout would leave them as they are. Their new rows are applied here instead, to the body
-- they have (whose text the new rows replace is untouched by the earlier ones), and the
-- function is remembered again by its new digest. On plain PostgreSQL, and on a database laid
-- out from scratch, nothing is remembered yet and this does nothing.
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


DO $upgrade$
DECLARE
    f text;
    e record;
    v_def text;
BEGIN
    FOR f IN SELECT DISTINCT x.fn FROM lethe.citus_edited x
              WHERE x.fn IN ('lethe.emit_batches(uuid,timestamp with time zone,integer,integer,integer,text,uuid[],uuid)',
                             'lethe.record_locator_hmacs(text,uuid[],uuid[],text[])')
    LOOP
        v_def := pg_get_functiondef(to_regprocedure(f));
        FOR e IN SELECT * FROM lethe.citus_edits c
                  WHERE c.fn = f AND (c.fn LIKE 'lethe.record_locator_hmacs%' OR c.step >= 3)
                  ORDER BY c.step LOOP
            IF position(e.old IN v_def) = 0 THEN
                RAISE EXCEPTION 'citus: edit % of % no longer applies', e.step, f
                    USING HINT = 'lethe.citus_edits_check(false) lists every edit whose text is missing';
            END IF;
            v_def := replace(v_def, e.old, e.new);
        END LOOP;
        EXECUTE v_def;
        UPDATE lethe.citus_edited x SET src_md5 = md5(p.prosrc)
          FROM pg_proc p WHERE x.fn = f AND p.oid = to_regprocedure(f);
    END LOOP;
END $upgrade$;
