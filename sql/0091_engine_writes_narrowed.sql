-- What the service account may write directly, narrowed to what lethe writes so; and no rule's
-- deadline longer than its commitment, whoever writes it.
--
-- An outside security review logged in with the service account's role (and so with every
-- operator's, who inherit it) and wrote tables that the owner's functions trust:
-- - lethe.rules: a deadline of 100 years, then emit_batches() copied it into the batch and
--   ack_batch() recorded a late purge on time (restored after: nothing in the audit said so);
-- - lethe.runs: the as_of of a batch's run moved to 2999, and ack_batch(), which asks which holds
--   were placed since it, recorded a purge made under a hold without the hold;
-- - lethe.batches: the location of an open EU batch set to US, and the purge recorded in US; its
--   state set to acknowledged with a row planted in lethe.repurges, and repurges_settle()
--   tombstoned a live item with no deleter run and no audit record.
-- Every write lethe makes to these tables outside the owner's functions is of the columns below
-- (engine/dbcycle.c, engine/dbrestore.c); they stay the service account's. The rest is written
-- only by emit_batches(), ack_batch(), repurge_emit() and repurges_settle(), as the owner.
-- deploy/roles.sql grants the same when it runs again.
--
-- A run's as_of is inserted by the service account (lethe takes it from the server's clock, or
-- --as-of, which a real run refuses in the future): a run inserted with an as_of in the future,
-- then handed to emit_batches(), hid the holds placed since from ack_batch just the same. The
-- table refuses it now, and emit_batches() an instant in the future (a dry run emits nothing).
-- A negative lookahead or grace, which no config gives, would put due times past deadlines:
-- refused by the tables.
--
-- The config refuses a deadline longer than the rule's commitment (SPEC §1); the table now
-- refuses it too, as the config judges it: months and seconds each within the commitment's, or
-- the whole no longer with a month taken as 31 days and the commitment's as 28.

CREATE FUNCTION lethe.rule_commitment(p_rule text) RETURNS interval
LANGUAGE sql IMMUTABLE
SET search_path = lethe, pg_catalog, pg_temp
AS $$
    SELECT CASE p_rule
               WHEN 'deletion_request' THEN interval '30 days'
               WHEN 'subject_request' THEN interval '1 month'
               WHEN 'capacity_deleted' THEN interval '180 days'
               WHEN 'sharing_opt_out' THEN interval '30 days'
               WHEN 'shared_retention' THEN interval '90 days'
               WHEN 'shared_while_opted_out' THEN interval '0'
           END
$$;

CREATE FUNCTION lethe.within_commitment(p_deadline interval, p_commitment interval)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = lethe, pg_catalog, pg_temp
AS $$
    -- [months, seconds] of each (a day is 86,400 s, as the config's durations are).
    WITH p AS (
        SELECT d[1] AS dm, d[2] * 86400 + d[3] AS ds, c[1] AS cm, c[2] * 86400 + c[3] AS cs
          FROM (SELECT lethe.interval_parts(p_deadline) AS d,
                       lethe.interval_parts(p_commitment) AS c) x
    )
    SELECT (p.dm <= p.cm AND p.ds <= p.cs) OR p.ds + p.dm * 31 * 86400 <= p.cs + p.cm * 28 * 86400
      FROM p
$$;

CREATE FUNCTION lethe.rules_within_commitment() RETURNS trigger
LANGUAGE plpgsql
SET search_path = lethe, pg_catalog, pg_temp
AS $$
BEGIN
    IF lethe.rule_commitment(NEW.rule) IS NULL THEN
        RAISE EXCEPTION 'rules: % is not a rule of the published policy', NEW.rule
            USING ERRCODE = 'check_violation';
    END IF;
    IF NOT lethe.within_commitment(NEW.deadline, lethe.rule_commitment(NEW.rule)) THEN
        RAISE EXCEPTION 'rules: the deadline of % (%) is longer than its commitment (%)',
                        NEW.rule, NEW.deadline, lethe.rule_commitment(NEW.rule)
            USING ERRCODE = 'check_violation',
                  HINT = 'a deadline may be shortened, never lengthened: set it in the config, '
                         'which the next run writes here';
    END IF;
    RETURN NEW;
END $$;

REVOKE ALL ON FUNCTION lethe.rules_within_commitment() FROM PUBLIC;

DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        INSERT INTO lethe.citus_gaps (what, enforced) VALUES
            ('rules.rules_within_commitment',
             'rules_within_commitment (sql/0091): a rule''s deadline longer than its commitment is '
             'refused (the service account may still write only deadline, grace and enabled)')
        ON CONFLICT (what) DO NOTHING;
        RETURN;
    END IF;
    CREATE TRIGGER rules_within_commitment BEFORE INSERT OR UPDATE ON lethe.rules
        FOR EACH ROW EXECUTE FUNCTION lethe.rules_within_commitment();
END $guard$;

CREATE FUNCTION lethe.runs_as_of_past() RETURNS trigger
LANGUAGE plpgsql
SET search_path = lethe, pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.as_of > now() THEN
        RAISE EXCEPTION 'runs: a run''s as_of (%) may not lie in the future', NEW.as_of
            USING ERRCODE = 'check_violation',
                  HINT = 'a run evaluates a future instant only as a dry run, which records no run';
    END IF;
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION lethe.runs_as_of_past() FROM PUBLIC;
-- lethe.runs is a table of the coordinator's own on Citus too: the trigger is made on both.
CREATE TRIGGER runs_as_of_past BEFORE INSERT ON lethe.runs
    FOR EACH ROW EXECUTE FUNCTION lethe.runs_as_of_past();

ALTER TABLE lethe.settings ADD CONSTRAINT settings_lookahead_not_negative
    CHECK (lookahead >= interval '0');
ALTER TABLE lethe.rules ADD CONSTRAINT rules_grace_not_negative CHECK (grace >= interval '0');

-- repurge_emit() (a definer) takes its candidates from the caller's temporary table, as replay
-- and reconcile fill it: a login with the engine's role filled it with a live item, never
-- purged, and the item's object was deleted by the next run. A candidate is now refused unless
-- its item was purged before: replay's (with a proof) by the item_purged record whose hash it
-- gives, reconcile's by its purged batch item.
--
-- Each check is put first in its function, after the temporary-relation guard both begin with.
DO $checks$
DECLARE
    v_fns constant regprocedure[] := ARRAY[
        'lethe.emit_batches(uuid, timestamptz, integer, integer, integer, text, uuid[], uuid)',
        'lethe.repurge_emit(uuid, text, integer)']::regprocedure[];
    v_checks constant text[] := ARRAY[
        E'    IF p_as_of > now() THEN\n'
        || E'        RAISE EXCEPTION ''emit_batches: % is in the future: nothing is due then yet'', p_as_of\n'
        || E'            USING ERRCODE = ''check_violation'';\n'
        || E'    END IF;\n',
        E'    IF EXISTS (SELECT 1 FROM repurge_candidates c\n'
        || E'                WHERE c.proof_hash IS NULL\n'
        || E'                  AND (c.tenant_id, c.item_id) NOT IN (\n'
        || E'                      SELECT b.tenant_id, b.item_id FROM lethe.batch_items b\n'
        || E'                       WHERE b.outcome = ''purged''\n'
        || E'                         AND b.tenant_id IN (SELECT x.tenant_id FROM repurge_candidates x)\n'
        || E'                         AND b.item_id IN (SELECT x.item_id FROM repurge_candidates x)))\n'
        || E'       OR EXISTS (SELECT 1 FROM repurge_candidates c\n'
        || E'                   WHERE c.proof_hash IS NOT NULL\n'
        || E'                     AND (c.tenant_id, c.item_id, c.proof_hash) NOT IN (\n'
        || E'                         SELECT a.tenant_id, a.item_id, a.hash FROM lethe.audit a\n'
        || E'                          WHERE a.kind = ''item_purged''\n'
        || E'                            AND a.tenant_id IN (SELECT x.tenant_id FROM repurge_candidates x)\n'
        || E'                            AND a.hash IN (SELECT x.proof_hash FROM repurge_candidates x))) THEN\n'
        || E'        RAISE EXCEPTION ''repurge: a candidate is an item no purge is recorded for: nothing is purged again''\n'
        || E'            USING ERRCODE = ''insufficient_privilege'',\n'
        || E'                  HINT = ''only lethe replay and lethe reconcile choose what is purged again'';\n'
        || E'    END IF;\n'];
    v_old constant text := E'BEGIN\n    PERFORM lethe.definer_temp_guard();\n';
    v_def text;
BEGIN
    FOR i IN 1 .. cardinality(v_fns) LOOP
        v_def := pg_get_functiondef(v_fns[i]);
        IF position(v_old IN v_def) = 0
           OR position(v_old IN substr(v_def, position(v_old IN v_def) + 1)) <> 0 THEN
            RAISE EXCEPTION 'migration 0091: % does not start with its temporary-relation guard', v_fns[i];
        END IF;
        EXECUTE replace(v_def, v_old, v_old || v_checks[i]);
    END LOOP;
END $checks$;

DO $grants$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        RETURN;
    END IF;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON lethe.batches, lethe.repurges, lethe.runs,
                                               lethe.rules, lethe.settings FROM lethe_engine;
    GRANT INSERT (run_id, trigger, operator, shard, as_of),
          UPDATE (outcome, finished_at, events, items_due, batches, purged, failed, held, error,
                  failed_batches)
        ON lethe.runs TO lethe_engine;
    GRANT UPDATE (error, attempts, manifest_removed_at) ON lethe.batches TO lethe_engine;
    GRANT UPDATE (deadline, grace, enabled) ON lethe.rules TO lethe_engine;
    GRANT UPDATE (lookahead) ON lethe.settings TO lethe_engine;
END $grants$;
