-- Which audit key the engine used, and since when: a changed key_file is said, not silent.
--
-- The audit key (audit.key_file) makes every subject HMAC in the audit and every locator HMAC
-- that reconcile matches an inventory against. A key replaced by mistake (or rotated without
-- a word) left both silently wrong: reconcile counted the objects of purged items still stored
-- as "0 objects still stored" and listed them as naming no item, and a subject's records before
-- and after the change carried different HMACs, with nothing saying which key made which (an
-- outside tryout as an auditor).
--
-- The engine now gives each key a fingerprint (the first 16 hex digits of HMAC-SHA256 of a fixed
-- text under it: it says which key, and nothing of it) and notes here when a key comes into use:
-- a run, a rerun, a request or a reconcile with a key other than the one in use says so, and
-- the first such command records it. reconcile says which keys were in use before the present
-- one, and when: their locator HMACs are not this key's. Only the owner writes the table,
-- through lethe.audit_key_used().

CREATE TABLE lethe.audit_keys (
    fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{16}$'),
    first_used_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    since timestamptz NOT NULL DEFAULT clock_timestamp()  -- when it last came into use
);

CREATE TRIGGER audit_keys_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.audit_keys
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note the audit keys in use',
        'a run notes the key it uses');
CREATE TRIGGER audit_keys_no_truncate BEFORE TRUNCATE ON lethe.audit_keys
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note the audit keys in use',
        'a run notes the key it uses');

-- P_FP is the key of this command. When another key is the one in use (the latest to come into
-- use), it says which (previous, since: ISO text), and P_RECORD makes P_FP the one in use from
-- now. The first key ever noted is recorded with no previous one. Nothing is written when P_FP
-- is the key in use already.
CREATE FUNCTION lethe.audit_key_used(p_fp text, p_record boolean)
RETURNS TABLE (previous text, previous_since text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    cur record;
    v_any boolean;
BEGIN
    SELECT k.fingerprint, k.since INTO cur FROM lethe.audit_keys k ORDER BY k.since DESC LIMIT 1;
    v_any := FOUND;
    IF v_any AND cur.fingerprint = p_fp THEN
        RETURN;
    END IF;
    IF p_record THEN
        INSERT INTO lethe.audit_keys AS k (fingerprint) VALUES (p_fp)
        ON CONFLICT (fingerprint) DO UPDATE SET since = clock_timestamp();
    END IF;
    IF v_any THEN
        previous := cur.fingerprint;
        previous_since := lethe.iso_utc(cur.since);
        RETURN NEXT;
    END IF;
END $$;

-- The keys noted, the latest to come into use first: fingerprint, first_used_at, since (ISO).
CREATE FUNCTION lethe.audit_keys_seen()
RETURNS TABLE (fingerprint text, first_used_at text, since text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT k.fingerprint, lethe.iso_utc(k.first_used_at), lethe.iso_utc(k.since)
      FROM lethe.audit_keys k ORDER BY k.since DESC, k.fingerprint
$$;

REVOKE ALL ON FUNCTION lethe.audit_key_used(text, boolean), lethe.audit_keys_seen() FROM PUBLIC;
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.audit_key_used(text, boolean), lethe.audit_keys_seen()
            TO lethe_engine;
    END IF;
END $grant$;
