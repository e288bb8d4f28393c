-- Requests and holds a restore took from the catalog stay a failed check until recorded again.
--
-- lethe replay names each request and hold the audit records but the restored catalog does not
-- hold (a request recorded after the backup, a hold placed or released after it), and exits 4
-- until they are recorded again. Nothing else said so: an outside tryout restored a backup from
-- before a GDPR request, replayed, and from then on every run exited 0, status --check said
-- "check: ok", and status --reference said there was no such request. A request missed once in
-- replay's output was dropped with every monitor green.
--
-- Replay now notes the audit records it names here (their chain and seq: the records say the
-- rest), and status (and status --check, exit 4) names those the catalog still lacks, as replay
-- does, until they are recorded again. Only the noted records are looked at again, so a status
-- after a restore costs what the handful of them cost; the table is never emptied (a record
-- recorded again is simply not named), and is written only through lethe.restore_lost_note().
CREATE TABLE lethe.restore_lost (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL,
    noted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, seq)
);
COMMENT ON TABLE lethe.restore_lost IS
    'audit records (request_recorded, hold_placed, hold_released) replay found a restored catalog lacking: status names those still lacking';

CREATE TRIGGER restore_lost_by_engine BEFORE INSERT OR UPDATE OR DELETE ON lethe.restore_lost
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note what a restore took from the catalog',
        'lethe replay notes it');
CREATE TRIGGER restore_lost_no_truncate BEFORE TRUNCATE ON lethe.restore_lost
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
        'only lethe''s own functions note what a restore took from the catalog',
        'lethe replay notes it');

-- The records of P_TENANTS[i], P_SEQS[i] that are requests or holds of the audit (anything else
-- is not noted): returns how many were noted anew.
CREATE FUNCTION lethe.restore_lost_note(p_tenants uuid[], p_seqs bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO lethe.restore_lost (tenant_id, seq)
    SELECT a.tenant_id, a.seq
      FROM lethe.audit a
     WHERE (a.tenant_id, a.seq) IN (SELECT x.t, x.s FROM unnest(p_tenants, p_seqs) x (t, s))
       AND a.kind IN ('request_recorded', 'hold_placed', 'hold_released')
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION lethe.restore_lost_note(uuid[], bigint[]) FROM PUBLIC;

-- Replay runs as an operator's login (the engine's work, with lethe_restorer for the verbatim
-- append), status as the engine's: roles.sql gives the engine SELECT on every table and EXECUTE
-- on every function when it runs again. A note says only what the audit records: that the
-- catalog lacks a record is worked out again from the catalog at every status.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT SELECT ON lethe.restore_lost TO lethe_engine;
        GRANT EXECUTE ON FUNCTION lethe.restore_lost_note(uuid[], bigint[]) TO lethe_engine;
    END IF;
END $grant$;
