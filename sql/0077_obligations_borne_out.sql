-- An obligation says what its event says, and no role changes it.
--
-- lethe.obligations is the engine's own table (deploy/roles.sql grants lethe_engine every write
-- on it): a run derives a row from each request, capacity deletion and opt-out event, and later
-- marks it expanded, withdrawn (by a cancellation or a re-provisioning) and hashed (the
-- subject's HMAC). Everything else a purge's evidence says of its obligation comes from the row:
-- the deadline and on_time of item_purged are worked out from its triggered_at, and a withdrawn
-- row owes nothing. An outside tryout, as a login holding only lethe_engine, moved a request's
-- triggered_at forward (UPDATE 1): the next run purged the item ten days late, and its
-- item_purged record, hashed, anchored and verified, said on time; setting withdrawn_at made a
-- request owe nothing, with no obligation_withdrawn record and no cancellation behind it.
--
-- Now the database refuses it, for every role, the owner's included (no function of lethe's
-- writes an obligation otherwise):
--   - a new row must be what its event makes of it (rule, reference, scope, shared_only,
--     triggered_at and covers_until = the event's occurred_at; not withdrawn);
--   - an update may set expanded_at, set subject_hmac where it was null, and withdraw the row
--     by an event that bears it out: a deletion_cancelled with its reference (a request), a
--     capacity_provisioned (a capacity deletion), occurred after it, whose time and id are the
--     ones written; nothing else of the row changes;
--   - no role but the owner deletes or truncates a row (the engine never does).
-- Statement triggers over the transition tables: one query per statement, not per row.
--
-- On Citus, triggers on distributed tables are refused (sql/0011_citus.sql): the check is
-- listed in lethe.citus_gaps instead, as not made there.

CREATE FUNCTION lethe.obligations_borne_out() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT n.tenant_id, n.obligation_id, n.event_id, n.rule, e.type INTO v
          FROM new_rows n
          LEFT JOIN lethe.events e ON e.tenant_id = n.tenant_id AND e.event_id = n.event_id
         WHERE e.event_id IS NULL
            OR n.rule IS DISTINCT FROM
               CASE e.type WHEN 'deletion_requested'
                           THEN CASE WHEN e.subject_id IS NULL THEN 'deletion_request'
                                     ELSE 'subject_request' END
                           WHEN 'capacity_deleted' THEN 'capacity_deleted'
                           WHEN 'sharing_opted_out' THEN 'sharing_opt_out' END
            OR (n.reference, n.workspace_id, n.subject_id, n.item_id, n.shared_only,
                n.triggered_at, n.covers_until)
               IS DISTINCT FROM (e.reference, e.workspace_id, e.subject_id, e.item_id,
                                 e.type = 'sharing_opted_out', e.occurred_at, e.occurred_at)
            OR n.withdrawn_at IS NOT NULL OR n.withdrawn_by IS NOT NULL
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'obligation % of tenant % (%) is not what event % makes of it',
                            v.obligation_id, v.tenant_id, v.rule, v.event_id
                USING ERRCODE = 'check_violation',
                      HINT = 'a run derives each obligation from its event (rule, reference, scope, '
                             'triggered_at = the event''s occurred_at); it is never written by hand';
        END IF;
        RETURN NULL;
    END IF;
    SELECT coalesce(n.tenant_id, o.tenant_id) AS tenant_id,
           coalesce(n.obligation_id, o.obligation_id) AS obligation_id,
           CASE WHEN n.obligation_id IS NULL OR o.obligation_id IS NULL THEN 'its key'
                WHEN (n.withdrawn_at, n.withdrawn_by) IS DISTINCT FROM (o.withdrawn_at, o.withdrawn_by)
                THEN 'its withdrawal (withdrawn_at, withdrawn_by)'
                WHEN n.subject_hmac IS DISTINCT FROM o.subject_hmac THEN 'its subject_hmac'
                ELSE 'what its event says' END AS what
      INTO v
      FROM new_rows n
      FULL JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.obligation_id = n.obligation_id
      LEFT JOIN lethe.events w ON w.tenant_id = n.tenant_id AND w.event_id = n.withdrawn_by
     WHERE n.obligation_id IS NULL OR o.obligation_id IS NULL
        OR (n.rule, n.event_id, n.reference, n.workspace_id, n.subject_id, n.item_id,
            n.shared_only, n.triggered_at, n.covers_until, n.derived_at)
           IS DISTINCT FROM (o.rule, o.event_id, o.reference, o.workspace_id, o.subject_id,
                             o.item_id, o.shared_only, o.triggered_at, o.covers_until, o.derived_at)
        OR (o.subject_hmac IS NOT NULL AND n.subject_hmac IS DISTINCT FROM o.subject_hmac)
        OR ((n.withdrawn_at, n.withdrawn_by) IS DISTINCT FROM (o.withdrawn_at, o.withdrawn_by)
            AND NOT coalesce(w.occurred_at = n.withdrawn_at AND w.occurred_at > n.triggered_at
                             AND ((n.rule IN ('deletion_request', 'subject_request')
                                   AND w.type = 'deletion_cancelled' AND w.reference = n.reference)
                                  OR (n.rule = 'capacity_deleted' AND w.type = 'capacity_provisioned')),
                             false))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'obligation % of tenant %: % cannot be changed so', v.obligation_id,
                        v.tenant_id, v.what
            USING ERRCODE = 'check_violation',
                  HINT = 'a run marks an obligation expanded, hashed, or withdrawn by the event that '
                         'withdraws it (a later cancellation with its reference, a re-provisioning); '
                         'nothing else of it changes';
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lethe.obligations_borne_out() FROM PUBLIC;

DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        INSERT INTO lethe.citus_gaps (what, enforced) VALUES
            ('obligations.obligations_borne_out',
             'obligations_borne_out (sql/0077): an obligation that is not what its event makes of it, '
             'or changed beyond its expansion, hash and withdrawal, is refused'),
            ('obligations.obligations_by_engine',
             'obligations_by_engine (sql/0077): no role but the owner deletes or truncates an obligation')
        ON CONFLICT (what) DO NOTHING;
        RETURN;
    END IF;
    CREATE TRIGGER obligations_borne_out_insert AFTER INSERT ON lethe.obligations
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.obligations_borne_out();
    CREATE TRIGGER obligations_borne_out_update AFTER UPDATE ON lethe.obligations
        REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.obligations_borne_out();
    CREATE TRIGGER obligations_by_engine BEFORE DELETE ON lethe.obligations
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
            'an obligation is never deleted: a withdrawal marks it (withdrawn_at)',
            'an obligation owes nothing once a later event withdraws it; deleting it would hide what it owed');
    CREATE TRIGGER obligations_no_truncate BEFORE TRUNCATE ON lethe.obligations
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.require_owner(
            'an obligation is never deleted: a withdrawal marks it (withdrawn_at)',
            'an obligation owes nothing once a later event withdraws it; deleting it would hide what it owed');
END $guard$;
