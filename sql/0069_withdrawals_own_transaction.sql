-- A withdrawal's record is made in a transaction of its own, after the derivation commits.
--
-- The derivation (lethe.derive_apply, run as its caller) writes the obligations as the engine's
-- login, and since sql/0066 the record of each withdrawal was made in the same transaction by
-- lethe.audit_withdrawals() and audit_flush(), as the owner. On Citus one transaction cannot
-- write a tenant's shards as one user and then read or write them as another ("cannot perform
-- query on placements that were modified in this transaction by a different user"): a run as
-- a login holding only lethe_engine failed whole when it processed a cancellation or a
-- re-provisioning (README, Citus).
--
-- Now:
-- - derive_apply marks each obligation it withdraws with the number of items the withdrawal
--   releases (obligations.withdrawal_unrecorded, counted as before, when it is processed), and
--   stages no record;
-- - lethe.withdrawals_record(k, n) (SECURITY DEFINER) makes the records of the marked
--   obligations of the shard through audit_withdrawals(), which checks each against the
--   producers' events as before, clears the marks and appends the records, in one statement:
--   the engine calls it right after the derivation commits, in a transaction in which only the
--   owner writes;
-- - the idle probe does not call a run idle while a mark is left (a run killed between the two
--   transactions: the next run makes the record, whatever else it has to do).
-- A withdrawal is recorded once either way: the mark is cleared in the transaction that appends
-- the record, and audit_withdrawals() stages nothing already in the audit.
-- Left as it was: an obligation withdrawn again by an earlier event (committed late) before
-- the first withdrawal's record was made carries one mark, for the withdrawal that stands.

ALTER TABLE lethe.obligations ADD COLUMN withdrawal_unrecorded bigint
    CONSTRAINT obligations_withdrawal_unrecorded_count CHECK (withdrawal_unrecorded >= 0);
COMMENT ON COLUMN lethe.obligations.withdrawal_unrecorded IS
    'items released by the withdrawal, while its obligation_withdrawn record is still to be made (NULL once made)';
CREATE INDEX obligations_withdrawal_unrecorded ON lethe.obligations (tenant_id, obligation_id)
    WHERE withdrawal_unrecorded IS NOT NULL;

CREATE FUNCTION lethe.withdrawals_record(p_k integer, p_n integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_ts uuid[];
    v_ids bigint[];
    v_rules text[];
    v_refs text[];
    v_triggered timestamptz[];
    v_hmacs text[];
    v_counts bigint[];
    v_sources bigint[];
    v_withdrawers bigint[];
    v_staged bigint;
BEGIN
    SELECT array_agg(o.tenant_id ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.obligation_id ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.rule ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.reference ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.triggered_at ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.subject_hmac ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.withdrawal_unrecorded ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.event_id ORDER BY o.tenant_id, o.obligation_id),
           array_agg(o.withdrawn_by ORDER BY o.tenant_id, o.obligation_id)
      INTO v_ts, v_ids, v_rules, v_refs, v_triggered, v_hmacs, v_counts, v_sources, v_withdrawers
      FROM lethe.obligations o
     WHERE o.withdrawal_unrecorded IS NOT NULL AND lethe.in_shard(o.tenant_id, p_k, p_n);
    IF v_ts IS NULL THEN
        RETURN 0;
    END IF;
    v_staged := lethe.audit_withdrawals(v_ts, v_rules, v_refs, v_triggered, v_hmacs, v_counts,
                                        v_sources, v_withdrawers);
    UPDATE lethe.obligations o SET withdrawal_unrecorded = NULL
      FROM unnest(v_ts, v_ids) AS x(tenant_id, obligation_id)
     WHERE o.tenant_id = x.tenant_id AND o.obligation_id = x.obligation_id;
    PERFORM lethe.audit_flush();
    RETURN v_staged;
END $$;
REVOKE ALL ON FUNCTION lethe.withdrawals_record(integer, integer) FROM PUBLIC;

-- derive_apply: the mark instead of the record.
DO $derive$
DECLARE
    v_def text;
    v_from integer;
    v_to integer;
    v_decl_old constant text := E'    v_sig text;\n';
    v_decl_new constant text := E'    v_sig text;\n    v_obs bigint[];\n    v_released bigint[];\n';
    v_start constant text :=
        E'    -- made from the catalog by the owner (sql/0066_withdrawal_request_records.sql)\n'
        || E'    PERFORM lethe.audit_withdrawals(\n';
    v_end constant text := E'    HAVING count(*) > 0;\n';
BEGIN
    v_def := pg_get_functiondef('lethe.derive_apply(timestamptz, integer, integer)'::regprocedure);
    v_from := position(v_start IN v_def);
    IF v_from = 0 OR position(v_start IN substr(v_def, v_from + 1)) <> 0
       OR position(v_decl_old IN v_def) = 0
       OR position(v_decl_old IN substr(v_def, position(v_decl_old IN v_def) + 1)) <> 0 THEN
        RAISE EXCEPTION 'migration 0069: lethe.derive_apply() no longer records its withdrawals as sql/0066 wrote it';
    END IF;
    v_to := position(v_end IN substr(v_def, v_from));
    IF v_to = 0 THEN
        RAISE EXCEPTION 'migration 0069: lethe.derive_apply() no longer ends its withdrawals as sql/0066 wrote it';
    END IF;
    v_def := substr(v_def, 1, v_from - 1)
        || E'    -- recorded by lethe.withdrawals_record() after this transaction, as the owner\n'
        || E'    -- (sql/0069_withdrawals_own_transaction.sql): each is marked with the items it releases\n'
        || E'    SELECT array_agg(o.tenant_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'           array_agg(o.obligation_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'           array_agg((SELECT count(*) FROM lethe.item_obligations p\n'
        || E'                       WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id)\n'
        || E'                     ORDER BY o.tenant_id, o.obligation_id)\n'
        || E'      INTO ts, v_obs, v_released\n'
        || E'      FROM withdrawals w\n'
        || E'      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id;\n'
        || E'    UPDATE lethe.obligations o SET withdrawal_unrecorded = x.released\n'
        || E'      FROM unnest(ts, v_obs, v_released) AS x(tenant_id, obligation_id, released)\n'
        || E'     WHERE o.tenant_id = x.tenant_id AND o.obligation_id = x.obligation_id;\n'
        || substr(v_def, v_from + v_to - 1 + length(v_end));
    EXECUTE replace(v_def, v_decl_old, v_decl_new);
END $derive$;

-- idle_probe: a withdrawal still to be recorded is work.
DO $probe$
DECLARE
    v_def text;
    v_old constant text := E'       OR (p_hmac AND EXISTS (SELECT 1 FROM lethe.obligations o\n';
BEGIN
    v_def := pg_get_functiondef('lethe.idle_probe(timestamptz, integer, integer, boolean)'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_old IN substr(v_def, position(v_old IN v_def) + 1)) <> 0 THEN
        RAISE EXCEPTION 'migration 0069: lethe.idle_probe() no longer looks for unhashed subjects as sql/0040 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old,
        E'       OR EXISTS (SELECT 1 FROM lethe.obligations o\n'
        || E'                   WHERE o.withdrawal_unrecorded IS NOT NULL AND lethe.in_shard(o.tenant_id, p_k, p_n))\n'
        || v_old);
END $probe$;

-- A database upgraded after deploy/roles.sql ran: the engine gets what roles.sql gives it on
-- every function (EXECUTE).
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT EXECUTE ON FUNCTION lethe.withdrawals_record(integer, integer) TO lethe_engine;
    END IF;
END $grant$;

-- On harden()'s list of writers: every migrate keeps it SECURITY DEFINER with its search_path.
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''audit_withdrawals''))';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0069: lethe.harden() no longer ends its list of writers as 0066 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, '''audit_withdrawals'', ''withdrawals_record''))');
END $harden$;
