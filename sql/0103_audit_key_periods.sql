-- Each time an audit key comes into use, a row: the periods reconcile names are the keys' own.
--
-- lethe.audit_keys (sql/0084) holds one row per key, with when it first came into use and when
-- it last did. A key that came back after another (K1, then K2, then K1 again) lost its earlier
-- period: reconcile dated K1's first period "from T1 until" the start of the key after K1's
-- latest one, and had no word of K2's period before K1 came back (an outside tryout, rotating
-- K1 -> K2 -> K3 -> K2, found reconcile naming periods no key was ever in use for). The locator
-- HMACs recorded in a period are that period's key's, so an operator reconciling with an earlier
-- key needs every period it was in use.
--
-- lethe.audit_key_periods has a row each time a key comes into use (a run, rerun, request or
-- reconcile with another key than the one in use, sql/0084); a period lasts until the next row.
-- The rows before this migration are rebuilt from what sql/0084 kept: each key's first and
-- latest coming into use. A key in use more than twice before it lost its periods between those
-- two; they are not known, and a period here may then be longer than it was.

CREATE TABLE lethe.audit_key_periods (
    since timestamptz NOT NULL,
    fingerprint text NOT NULL REFERENCES lethe.audit_keys (fingerprint),
    PRIMARY KEY (since, fingerprint)
);

INSERT INTO lethe.audit_key_periods (since, fingerprint)
SELECT s.since, s.fingerprint
  FROM (SELECT p.since, p.fingerprint,
               lag(p.fingerprint) OVER (ORDER BY p.since, p.fingerprint) AS before
          FROM (SELECT k.first_used_at AS since, k.fingerprint FROM lethe.audit_keys k
                UNION
                SELECT k.since, k.fingerprint FROM lethe.audit_keys k) p) s
 WHERE s.before IS DISTINCT FROM s.fingerprint;

CREATE TRIGGER audit_key_periods_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.audit_key_periods
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note the audit keys in use',
        'a run notes the key it uses');
CREATE TRIGGER audit_key_periods_no_truncate BEFORE TRUNCATE ON lethe.audit_key_periods
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note the audit keys in use',
        'a run notes the key it uses');

-- As in sql/0084: P_FP is the key of this command; when another key is the one in use (that of
-- the latest period), it says which and since when, and P_RECORD starts a period of P_FP from
-- now. Two commands noting keys at once take turns, so that each period follows the one it
-- read as the latest.
CREATE OR REPLACE FUNCTION lethe.audit_key_used(p_fp text, p_record boolean)
RETURNS TABLE (previous text, previous_since text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    cur record;
    v_now timestamptz;
BEGIN
    SELECT p.fingerprint, p.since INTO cur FROM lethe.audit_key_periods p ORDER BY p.since DESC LIMIT 1;
    IF FOUND AND cur.fingerprint = p_fp THEN
        RETURN;
    END IF;
    IF p_record THEN
        LOCK TABLE lethe.audit_key_periods IN SHARE ROW EXCLUSIVE MODE;
        SELECT p.fingerprint, p.since INTO cur FROM lethe.audit_key_periods p ORDER BY p.since DESC LIMIT 1;
        IF FOUND AND cur.fingerprint = p_fp THEN
            RETURN;
        END IF;
        v_now := clock_timestamp();
        INSERT INTO lethe.audit_keys AS k (fingerprint, first_used_at, since) VALUES (p_fp, v_now, v_now)
        ON CONFLICT (fingerprint) DO UPDATE SET since = v_now;
        INSERT INTO lethe.audit_key_periods (since, fingerprint) VALUES (v_now, p_fp);
    END IF;
    IF cur.fingerprint IS NOT NULL THEN
        previous := cur.fingerprint;
        previous_since := lethe.iso_utc(cur.since);
        RETURN NEXT;
    END IF;
END $$;

-- The keys noted, the one in use first, then by the latest period each was in use: its
-- fingerprint, whether it is the key in use, and its periods that ended, oldest first, as text
-- ("from T1 until T2 and from T3 until T4"; NULL when none has ended).
CREATE FUNCTION lethe.audit_key_periods_seen()
RETURNS TABLE (fingerprint text, in_use boolean, periods text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
    SELECT p.fingerprint, bool_or(p.until IS NULL),
           string_agg('from ' || lethe.iso_utc(p.since) || ' until ' || lethe.iso_utc(p.until),
                      ' and ' ORDER BY p.since) FILTER (WHERE p.until IS NOT NULL)
      FROM (SELECT k.fingerprint, k.since, lead(k.since) OVER (ORDER BY k.since) AS until
              FROM lethe.audit_key_periods k) p
     GROUP BY p.fingerprint
     ORDER BY max(p.since) DESC, p.fingerprint
$$;

DROP FUNCTION lethe.audit_keys_seen();

REVOKE ALL ON FUNCTION lethe.audit_key_periods_seen() FROM PUBLIC;
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.audit_key_periods_seen() TO lethe_engine;
    END IF;
END $grant$;
