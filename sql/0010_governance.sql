-- Governance of holds and requests (SPEC §5): who placed and who released each hold, and the
-- audit kinds for a hold placed, a hold released and a request recorded. The jobs stage those
-- records in the same transaction as the change they describe. Must not change how holds
-- block items or how requests are derived.

-- Engine-owned columns (SPEC §2: the engine owns any column it adds). A hold placed with plain
-- SQL has no placed_by; `lethe hold place` always sets it.
ALTER TABLE lethe.holds
    ADD COLUMN placed_by text,
    ADD COLUMN released_by text,
    ADD CONSTRAINT holds_operator_not_empty CHECK (placed_by <> '' AND released_by <> ''),
    ADD CONSTRAINT holds_released_by_on_release CHECK (released_by IS NULL OR released_at IS NOT NULL);

-- The only change to a hold is its release, once: released_at, and with it released_by.
-- placed_by is as fixed as the rest. Same refusals and messages as 0001; SECURITY DEFINER as
-- 0004 made it, since CREATE OR REPLACE resets what ALTER FUNCTION set.
CREATE OR REPLACE FUNCTION lethe.holds_check_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.released_at IS NOT NULL THEN
        RAISE EXCEPTION 'hold %: already released at %', OLD.hold_id, OLD.released_at
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'place a new hold instead';
    END IF;
    IF (NEW.tenant_id, NEW.hold_id, NEW.workspace_id, NEW.subject_id, NEW.item_id, NEW.reason,
        NEW.reference, NEW.placed_at, NEW.placed_by)
       IS DISTINCT FROM
       (OLD.tenant_id, OLD.hold_id, OLD.workspace_id, OLD.subject_id, OLD.item_id, OLD.reason,
        OLD.reference, OLD.placed_at, OLD.placed_by) OR NEW.released_at IS NULL THEN
        RAISE EXCEPTION 'hold %: the only change allowed is setting released_at once', OLD.hold_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'use lethe hold release HOLD_ID';
    END IF;
    RETURN NEW;
END $$;

-- hold list --tenant T reads one tenant's holds; the primary key already leads with tenant_id.

-- ---- audit kinds --------------------------------------------------------------------------
-- hold_placed, hold_released and request_recorded join the kinds the log accepts. Other
-- migrations may add kinds of their own, so this adds to whatever list is in place (the
-- constraint, and audit_flush's friendlier check of it) rather than restating it.
DO $kinds$
DECLARE
    v_new constant text[] := ARRAY['hold_placed', 'hold_released', 'request_recorded'];
    v_kinds text[];
    v_def text;
BEGIN
    SELECT array_agg(m.k[1] ORDER BY m.n) INTO v_kinds
      FROM pg_constraint c,
           regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') WITH ORDINALITY AS m(k, n)
     WHERE c.conrelid = 'lethe.audit'::regclass AND c.conname = 'audit_kind_known';
    IF v_kinds IS NULL THEN
        RAISE EXCEPTION 'migration 0010: lethe.audit has no audit_kind_known constraint to extend';
    END IF;
    v_kinds := v_kinds || ARRAY(SELECT k FROM unnest(v_new) WITH ORDINALITY AS n(k, o)
                                 WHERE k <> ALL (v_kinds) ORDER BY o);
    ALTER TABLE lethe.audit DROP CONSTRAINT audit_kind_known;
    -- Written as 0003 wrote it, IN ('a', 'b', ...), so that the next migration can read it back.
    EXECUTE format('ALTER TABLE lethe.audit ADD CONSTRAINT audit_kind_known CHECK (kind IN (%s))',
                   (SELECT string_agg(quote_literal(k), ', ' ORDER BY o)
                      FROM unnest(v_kinds) WITH ORDINALITY AS x(k, o)));

    SELECT pg_get_functiondef('lethe.audit_flush()'::regprocedure) INTO v_def;
    IF position('''hold_placed''' IN v_def) = 0 THEN
        IF position('''checkpoint''' IN v_def) = 0 THEN
            RAISE EXCEPTION 'migration 0010: lethe.audit_flush() no longer lists the kind checkpoint';
        END IF;
        v_def := replace(v_def, '''checkpoint''',
                         '''checkpoint'', ''hold_placed'', ''hold_released'', ''request_recorded''');
        v_def := replace(v_def, ' checkpoint''',
                         ' checkpoint, hold_placed, hold_released, request_recorded''');
        EXECUTE v_def;
    END IF;
END $kinds$;
