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
-- - derive_apply appends each withdrawal it makes to lethe.withdrawals_unrecorded (the
--   obligation, the withdrawing event, the number of items the withdrawal releases, counted as
--   before, when it is processed), in the order it processes them, and stages no record;
-- - lethe.withdrawals_record(k, n) (SECURITY DEFINER) makes the records of the shard's
--   unrecorded withdrawals, in that order, through audit_withdrawals(), which checks each
--   against the producers' events, deletes them and appends the records, in one statement:
--   the engine calls it right after the derivation commits, in a transaction in which only
--   the owner writes;
-- - the idle probe does not call a run idle while one is left (a run killed between the two
--   transactions: the next run makes the record, whatever else it has to do). A later run that
--   withdraws the same obligation again (an earlier cancellation committed late) appends a
--   second row: both are recorded, in the order they were made, as without the kill.
--
-- And audit_withdrawals() is tightened (an outside tryout of the above, as a login holding
-- only lethe_engine):
-- - two sessions recording the same withdrawal side by side each found no record in its own
--   snapshot and appended one (two identical records, verify and status --check content):
--   recording now takes a lock of its own (advisory class 7283317) and reads the audit after
--   it, in a READ COMMITTED transaction (a snapshot taken before the lock would not see the
--   other's records);
-- - a withdrawal by an event later than one recorded already for the same obligation was
--   taken (any later cancellation with the reference bore it out), though an obligation is
--   withdrawn by its earliest withdrawing event and lethe never records a later one after it;
-- - the count of items released is bounded by the tenant's items (an obligation covers an
--   item once);
-- - the refusal of a withdrawal that no event bears out names the withdrawing event it was
--   given and says how a hand-made one stops the runs.

CREATE TABLE lethe.withdrawals_unrecorded (
    tenant_id     uuid NOT NULL,
    ord           bigint GENERATED ALWAYS AS IDENTITY,
    obligation_id bigint NOT NULL,
    withdrawn_by  bigint NOT NULL,
    released      bigint NOT NULL CONSTRAINT withdrawals_unrecorded_released CHECK (released >= 0),
    PRIMARY KEY (tenant_id, ord)
);
COMMENT ON TABLE lethe.withdrawals_unrecorded IS
    'withdrawals the derivation made whose obligation_withdrawn records are still to be made (lethe.withdrawals_record)';

-- Which withdrawals have their record: the request (or capacity deletion) and the event that
-- withdrew it, written by audit_withdrawals() as the owner with the record it stages. The
-- record itself cannot say which obligation it is of (two requests with one reference and one
-- time, of two workspaces or two subjects, make records alike but for their count or HMAC),
-- and looking the record up by its text let the second of two such withdrawals go unrecorded
-- (an outside tryout), and an empty reference (stored as none) never found its own record.
CREATE TABLE lethe.withdrawals_recorded (
    tenant_id    uuid NOT NULL,
    source_event bigint NOT NULL,
    withdrawn_by bigint NOT NULL,
    withdrawn_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, source_event, withdrawn_by)
);
COMMENT ON TABLE lethe.withdrawals_recorded IS
    'the withdrawals whose obligation_withdrawn record is made: written only by lethe.audit_withdrawals(), as the owner';
-- The withdrawals recorded before this migration: each obligation's standing withdrawal whose
-- record is in the audit.
INSERT INTO lethe.withdrawals_recorded (tenant_id, source_event, withdrawn_by, withdrawn_at)
SELECT o.tenant_id, o.event_id, o.withdrawn_by, o.withdrawn_at
  FROM lethe.obligations o
 WHERE o.withdrawn_by IS NOT NULL
   AND EXISTS (SELECT 1 FROM lethe.audit a
                WHERE a.tenant_id = o.tenant_id AND a.kind = 'obligation_withdrawn' AND a.rule = o.rule
                  AND a.reference IS NOT DISTINCT FROM nullif(o.reference, '')
                  AND a.triggered_at = o.triggered_at
                  AND a.detail = 'withdrawn at ' || lethe.iso_utc(o.withdrawn_at));

-- On Citus, distributed by tenant with the rest (migrate lays out the tables it lists).
DO $layout$
DECLARE
    v_def text;
    v_old constant text := '''locator_hmacs'', ''repurges''];';
BEGIN
    v_def := pg_get_functiondef('lethe.citus_layout_0011()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0069: lethe.citus_layout_0011() no longer ends its distributed tables as sql/0011 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, '''locator_hmacs'', ''repurges'', ''withdrawals_unrecorded'', ''withdrawals_recorded''];');
END $layout$;

CREATE OR REPLACE FUNCTION lethe.audit_withdrawals(p_tenants uuid[], p_rules text[], p_references text[],
                                                   p_triggered timestamptz[], p_hmacs text[], p_counts bigint[],
                                                   p_sources bigint[], p_withdrawers bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(array_length(p_tenants, 1), 0);
    v_at timestamptz;
    v_first timestamptz;
    v_items bigint;
    v_staged bigint := 0;
BEGIN
    -- One recorder at a time, each reading the audit after the one before it committed.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit: withdrawals are recorded in a READ COMMITTED transaction, not %',
                        upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM pg_advisory_xact_lock(7283317, 0);
    PERFORM lethe.audit_stage_open();
    IF n <> coalesce(array_length(p_rules, 1), 0) OR n <> coalesce(array_length(p_references, 1), 0)
       OR n <> coalesce(array_length(p_triggered, 1), 0) OR n <> coalesce(array_length(p_hmacs, 1), 0)
       OR n <> coalesce(array_length(p_counts, 1), 0) OR n <> coalesce(array_length(p_sources, 1), 0)
       OR n <> coalesce(array_length(p_withdrawers, 1), 0) THEN
        RAISE EXCEPTION 'audit: withdrawals need every attribute of every obligation given'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One withdrawal at a time, by its tenant (withdrawals are rare; on Citus each lookup is a
    -- router statement on the tenant's shard). The events are the producers' table, which no
    -- engine role writes.
    FOR i IN 1 .. n LOOP
        SELECT w.occurred_at INTO v_at
          FROM lethe.events s
          JOIN lethe.events w ON w.tenant_id = s.tenant_id AND w.event_id = p_withdrawers[i]
         WHERE s.tenant_id = p_tenants[i] AND s.event_id = p_sources[i]
           AND s.occurred_at = p_triggered[i] AND w.occurred_at > s.occurred_at
           AND ((p_rules[i] IN ('deletion_request', 'subject_request')
                 AND s.type = 'deletion_requested' AND s.reference = p_references[i]
                 AND (s.subject_id IS NOT NULL) = (p_rules[i] = 'subject_request')
                 AND w.type = 'deletion_cancelled' AND w.reference = s.reference)
             OR (p_rules[i] = 'capacity_deleted' AND s.type = 'capacity_deleted'
                 AND s.reference IS NOT DISTINCT FROM p_references[i]
                 AND w.type = 'capacity_provisioned'));
        IF NOT FOUND THEN
            RAISE EXCEPTION 'audit: no event of tenant % withdraws the % obligation triggered at % by event % (reference %) as event % would',
                            p_tenants[i], p_rules[i], lethe.iso_utc(p_triggered[i]), p_sources[i],
                            coalesce(p_references[i], 'none'), coalesce(p_withdrawers[i]::text, 'none')
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'an obligation_withdrawn record is made from the request or capacity deletion and '
                             'a later cancellation or re-provisioning, and only then; a withdrawal written into '
                             'lethe.withdrawals_unrecorded by hand stops the runs of its tenant''s shard until '
                             'its row is deleted';
        END IF;
        IF p_counts[i] IS NULL OR p_counts[i] < 0
           OR (p_hmacs[i] IS NOT NULL AND p_rules[i] <> 'subject_request') THEN
            RAISE EXCEPTION 'audit: a withdrawal of a % obligation counts items released (% given) and carries a subject''s HMAC only for a subject_request',
                            p_rules[i], coalesce(p_counts[i]::text, 'none')
                USING ERRCODE = 'check_violation';
        END IF;
        IF p_counts[i] > 0 THEN
            SELECT count(*) INTO v_items FROM lethe.items x WHERE x.tenant_id = p_tenants[i];
            IF p_counts[i] > v_items THEN
                RAISE EXCEPTION 'audit: a withdrawal of tenant % cannot release % items: the tenant has %',
                                p_tenants[i], p_counts[i], v_items
                    USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        -- Recorded once: the same withdrawal again (a second call, in this transaction or after
        -- it) adds nothing. An earlier withdrawing event committed later is another record, with
        -- its own time; a later one than a withdrawal recorded already is none (the earliest
        -- withdraws, and lethe records no later one after it).
        CONTINUE WHEN EXISTS (SELECT 1 FROM lethe.withdrawals_recorded r
                               WHERE r.tenant_id = p_tenants[i] AND r.source_event = p_sources[i]
                                 AND r.withdrawn_by = p_withdrawers[i]);
        SELECT min(r.withdrawn_at) INTO v_first
          FROM lethe.withdrawals_recorded r
         WHERE r.tenant_id = p_tenants[i] AND r.source_event = p_sources[i];
        IF v_first < v_at THEN
            RAISE EXCEPTION 'audit: the % obligation of tenant % triggered at % is recorded withdrawn at % already; event %, later, does not withdraw it',
                            p_rules[i], p_tenants[i], lethe.iso_utc(p_triggered[i]), lethe.iso_utc(v_first),
                            p_withdrawers[i]
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        INSERT INTO lethe.withdrawals_recorded (tenant_id, source_event, withdrawn_by, withdrawn_at)
        VALUES (p_tenants[i], p_sources[i], p_withdrawers[i], v_at);
        INSERT INTO pg_temp.audit_stage (tenant_id, kind, rule, reference, triggered_at,
                                         subject_hmac, count, detail)
        VALUES (p_tenants[i], 'obligation_withdrawn', p_rules[i], p_references[i], p_triggered[i],
                p_hmacs[i], p_counts[i], 'withdrawn at ' || lethe.iso_utc(v_at));
        v_staged := v_staged + 1;
    END LOOP;
    RETURN v_staged;
END $$;

CREATE FUNCTION lethe.withdrawals_record(p_k integer, p_n integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_ts uuid[];
    v_ords bigint[];
    v_rules text[];
    v_refs text[];
    v_triggered timestamptz[];
    v_hmacs text[];
    v_counts bigint[];
    v_sources bigint[];
    v_withdrawers bigint[];
    v_staged bigint;
BEGIN
    -- The lock audit_withdrawals() takes, taken before the rows are read: a recorder that
    -- waited reads none of the rows the one before it deleted.
    PERFORM pg_advisory_xact_lock(7283317, 0);
    SELECT array_agg(u.tenant_id ORDER BY u.tenant_id, u.ord),
           array_agg(u.ord ORDER BY u.tenant_id, u.ord),
           array_agg(o.rule ORDER BY u.tenant_id, u.ord),
           array_agg(o.reference ORDER BY u.tenant_id, u.ord),
           array_agg(o.triggered_at ORDER BY u.tenant_id, u.ord),
           array_agg(o.subject_hmac ORDER BY u.tenant_id, u.ord),
           array_agg(u.released ORDER BY u.tenant_id, u.ord),
           array_agg(o.event_id ORDER BY u.tenant_id, u.ord),
           array_agg(u.withdrawn_by ORDER BY u.tenant_id, u.ord)
      INTO v_ts, v_ords, v_rules, v_refs, v_triggered, v_hmacs, v_counts, v_sources, v_withdrawers
      FROM lethe.withdrawals_unrecorded u
      LEFT JOIN lethe.obligations o ON o.tenant_id = u.tenant_id AND o.obligation_id = u.obligation_id
     WHERE lethe.in_shard(u.tenant_id, p_k, p_n);
    IF v_ts IS NULL THEN
        RETURN 0;
    END IF;
    v_staged := lethe.audit_withdrawals(v_ts, v_rules, v_refs, v_triggered, v_hmacs, v_counts,
                                        v_sources, v_withdrawers);
    DELETE FROM lethe.withdrawals_unrecorded u
     USING unnest(v_ts, v_ords) AS x(tenant_id, ord)
     WHERE u.tenant_id = x.tenant_id AND u.ord = x.ord;
    PERFORM lethe.audit_flush();
    RETURN v_staged;
END $$;
REVOKE ALL ON FUNCTION lethe.withdrawals_record(integer, integer) FROM PUBLIC;

-- derive_apply: the withdrawals it made, for withdrawals_record(), instead of their records.
DO $derive$
DECLARE
    v_def text;
    v_from integer;
    v_to integer;
    v_decl_old constant text := E'    v_sig text;\n';
    v_decl_new constant text := E'    v_sig text;\n    v_obs bigint[];\n    v_by bigint[];\n    v_released bigint[];\n';
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
        || E'    -- (sql/0069_withdrawals_own_transaction.sql), with the items each releases\n'
        || E'    SELECT array_agg(o.tenant_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'           array_agg(o.obligation_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'           array_agg(w.event_id ORDER BY o.tenant_id, o.obligation_id),\n'
        || E'           array_agg((SELECT count(*) FROM lethe.item_obligations p\n'
        || E'                       WHERE p.tenant_id = o.tenant_id AND p.obligation_id = o.obligation_id)\n'
        || E'                     ORDER BY o.tenant_id, o.obligation_id)\n'
        || E'      INTO ts, v_obs, v_by, v_released\n'
        || E'      FROM withdrawals w\n'
        || E'      JOIN lethe.obligations o ON o.tenant_id = w.tenant_id AND o.obligation_id = w.obligation_id;\n'
        || E'    INSERT INTO lethe.withdrawals_unrecorded (tenant_id, obligation_id, withdrawn_by, released)\n'
        || E'    SELECT x.tenant_id, x.obligation_id, x.withdrawn_by, x.released\n'
        || E'      FROM unnest(ts, v_obs, v_by, v_released) WITH ORDINALITY\n'
        || E'           AS x(tenant_id, obligation_id, withdrawn_by, released, ord)\n'
        || E'     ORDER BY x.ord;\n'
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
        E'       OR EXISTS (SELECT 1 FROM lethe.withdrawals_unrecorded u WHERE lethe.in_shard(u.tenant_id, p_k, p_n))\n'
        || v_old);
END $probe$;

-- A database upgraded after deploy/roles.sql ran: the engine gets what roles.sql gives it on
-- its own tables and on every function.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON lethe.withdrawals_unrecorded TO lethe_engine;
        GRANT SELECT ON lethe.withdrawals_recorded TO lethe_engine;
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
