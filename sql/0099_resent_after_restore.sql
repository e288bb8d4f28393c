-- Items a restore lost, sent again by their producers (SPEC §5: one item_purged record per
-- purged item; README, "Restore drill").
--
-- lethe replay appends the exported item_purged records of the items purged after the backup,
-- and repurges those whose catalog row the restore brought back live. An item written after
-- the backup and purged after it is in no catalog row at all after the restore: the producer
-- sends it again (the README tells producers to), with its locator, and the next run found it
-- due under its request again and purged it a second time, with a second item_purged record,
-- counted twice by the summary (an outside tryout: 17 items in a drill of 59).
--
-- Replay now remembers each item_purged record whose item the restored catalog does not hold
-- (lethe.purged_not_in_catalog: the record's facts, never a locator or a subject id). When a
-- run takes such an item in as new, it goes where replay sends a row that is live again: its
-- purge is recorded again from the record (item_status and explain show the original purge),
-- and it is put in a repurge batch (item_repurged, detail 'replay <hash of the record>'); the
-- deleter answers absent or deleted, and the row is tombstoned again. Never purged twice.

CREATE TABLE lethe.purged_not_in_catalog (
    tenant_id    uuid NOT NULL,
    item_id      uuid NOT NULL,
    proof_hash   text NOT NULL,        -- the hash of the item_purged record
    rule         text NOT NULL,
    reference    text,
    subject_hmac text,
    triggered_at timestamptz NOT NULL,
    deadline_at  timestamptz NOT NULL,
    purged_at    timestamptz NOT NULL,
    purged_in    uuid,                 -- the batch that purged it
    PRIMARY KEY (tenant_id, item_id)
);
COMMENT ON TABLE lethe.purged_not_in_catalog IS
    'items the audit proves purged that a restored catalog does not hold (lethe replay): a row sent again is repurged, not purged twice';

-- Replay's part: after its records are appended and before replay_candidates(), the proofs of
-- items not in the catalog, in the chains it did not refuse (as replay_candidates() takes its
-- proofs; the refused chains read uncorrelated, as Citus needs: sql/0052). A proof whose item
-- is in the catalog now (sent again between two replays) is spent: replay_candidates() takes a
-- live one. Idempotent. Returns how many it holds now.
CREATE FUNCTION lethe.replay_absent_proofs() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM lethe.definer_temp_guard();
    DELETE FROM lethe.purged_not_in_catalog p
     WHERE EXISTS (SELECT 1 FROM lethe.items i WHERE i.tenant_id = p.tenant_id AND i.item_id = p.item_id);
    INSERT INTO lethe.purged_not_in_catalog (tenant_id, item_id, proof_hash, rule, reference,
                                             subject_hmac, triggered_at, deadline_at, purged_at,
                                             purged_in)
    SELECT DISTINCT ON (a.tenant_id, a.item_id)
           a.tenant_id, a.item_id, a.hash, a.rule, a.reference, a.subject_hmac, a.triggered_at,
           a.deadline_at, a.purged_at, a.batch_id
      FROM lethe.audit a
      LEFT JOIN lethe.items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id
     WHERE a.kind = 'item_purged' AND i.item_id IS NULL
       AND a.tenant_id NOT IN (SELECT ch.tenant_id FROM replay_chains ch
                                WHERE ch.outcome NOT IN ('replayed', 'present', 'gap'))
     ORDER BY a.tenant_id, a.item_id, a.seq
    ON CONFLICT (tenant_id, item_id) DO NOTHING;
    SELECT count(*) INTO n FROM lethe.purged_not_in_catalog;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION lethe.replay_absent_proofs() FROM PUBLIC;

-- The run's part, in a transaction of its own after the inbox is filled and before the
-- derivation: the new items of the run's shard that replay remembered are repurged as replay
-- repurges a row that is live again (repurge_emit, sql/0035: the original purge recorded again,
-- a repurge batch, item_repurged), and replay's proofs of them are spent. The derivation then
-- finds their purges: a new copy of one, sent with it, is due under that purge (derived before
-- the purge was recorded, such a copy was never batched). Committed apart from the derivation:
-- on Citus the engine's reads there would follow the owner's writes in one transaction, which
-- Citus refuses. Returns nothing while the table is empty, as it is but after a restore.
CREATE FUNCTION lethe.repurge_resent(p_run uuid, p_operator text, p_max integer, p_k integer,
                                     p_n integer)
RETURNS TABLE (batch_id uuid, location text, items integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
BEGIN
    PERFORM lethe.definer_temp_guard();
    IF NOT EXISTS (SELECT 1 FROM lethe.purged_not_in_catalog) THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT i.tenant_id, i.item_id, i.location, NULL::text AS locator, 'replay'::text AS reason,
           p.proof_hash, p.rule, p.reference, p.subject_hmac, p.triggered_at, p.deadline_at,
           p.purged_at, p.purged_in
      FROM lethe.inbox_items b
      JOIN lethe.purged_not_in_catalog p ON p.tenant_id = b.tenant_id AND p.item_id = b.item_id
      JOIN lethe.items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
     WHERE i.locator IS NOT NULL AND lethe.in_shard(b.tenant_id, p_k, p_n)
       AND NOT EXISTS (SELECT 1 FROM lethe.repurges r
                        WHERE r.tenant_id = i.tenant_id AND r.item_id = i.item_id AND r.state = 'pending');
    DELETE FROM lethe.purged_not_in_catalog p USING repurge_candidates c
     WHERE p.tenant_id = c.tenant_id AND p.item_id = c.item_id;
    IF NOT EXISTS (SELECT 1 FROM repurge_candidates) THEN
        DROP TABLE repurge_candidates;
        RETURN;
    END IF;
    -- repurge_emit closes the batches replay's records acknowledged; a run replays none.
    CREATE TEMP TABLE IF NOT EXISTS replay_records (tenant_id uuid, seq bigint, kind text,
                                                   hash text, batch_id uuid) ON COMMIT DROP;
    -- What is purged again was never seen by the memory of held items (as replay does).
    PERFORM lethe.held_forget();
    RETURN QUERY SELECT e.batch_id, e.location, e.items FROM lethe.repurge_emit(p_run, p_operator, p_max) e;
END $$;
REVOKE ALL ON FUNCTION lethe.repurge_resent(uuid, text, integer, integer, integer) FROM PUBLIC;

-- A database upgraded after deploy/roles.sql ran: the engine reads the table (whether a run has
-- anything to look for) and calls the functions, as roles.sql gives it.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe_engine') THEN
        GRANT SELECT ON lethe.purged_not_in_catalog TO lethe_engine;
        GRANT EXECUTE ON FUNCTION lethe.repurge_resent(uuid, text, integer, integer, integer),
                                  lethe.replay_absent_proofs() TO lethe_engine;
    END IF;
END $grant$;

-- Written by the owner alone, through the two definers above: harden() keeps them definers and
-- takes back any write given by hand at every migrate.
DO $harden$
DECLARE
    v_def text;
    v_old constant text := '''withdrawals_record'', ''record_locator_hmacs''))';
    v_tables_old constant text := '''late_purges'', ''purge_outcomes'')';
BEGIN
    v_def := pg_get_functiondef('lethe.harden()'::regprocedure);
    IF position(v_old IN v_def) = 0 OR position(v_tables_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0099: lethe.harden() no longer reads as 0097 left it';
    END IF;
    v_def := replace(v_def, v_old, '''withdrawals_record'', ''record_locator_hmacs'', '
                                   '''replay_absent_proofs'', ''repurge_resent''))');
    v_def := replace(v_def, v_tables_old, '''late_purges'', ''purge_outcomes'', ''purged_not_in_catalog'')');
    EXECUTE v_def;
END $harden$;

-- On Citus, distributed by tenant with the rest (migrate lays out the tables it lists).
DO $layout$
DECLARE
    v_def text;
    v_old constant text := '''withdrawals_unrecorded'', ''withdrawals_recorded''];';
BEGIN
    v_def := pg_get_functiondef('lethe.citus_layout_0011()'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0099: lethe.citus_layout_0011() no longer ends its distributed tables as sql/0069 left it';
    END IF;
    EXECUTE replace(v_def, v_old, '''withdrawals_unrecorded'', ''withdrawals_recorded'', ''purged_not_in_catalog''];');
END $layout$;
