-- Exports replayed one at a time (SPEC §7: "replay every export taken since the backup, in any
-- order").
--
-- A repurge takes the next seqs of the engine chain and of its items' chains, so replay no longer
-- batches anything while a chain is short of its exports or the audit is behind its anchor file
-- (jobs/replay.c): written then, those seqs would be the ones a later export holds, and the
-- chains would be forked for good. The items proven purged by the exports replayed so far then
-- wait for the replay that catches every chain up. replay_candidates() took its proofs only from
-- the records of the replay at hand (replay_records), so those items were never batched: the
-- proofs are now every item_purged record of the audit whose item is live again, whichever
-- replay appended it, outside the chains this replay refuses. (An item_purged record is written
-- with its tombstone, so a live item with one was brought back by a restore.) Reading the whole
-- audit's purges costs a scan of it: replay runs after a restore, not on a timer.
CREATE OR REPLACE FUNCTION lethe.replay_candidates() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE repurge_candidates ON COMMIT DROP AS
    SELECT DISTINCT ON (i.tenant_id, i.item_id)
           i.tenant_id, i.item_id, i.location, NULL::text AS locator, 'replay'::text AS reason,
           a.hash AS proof_hash, a.rule, a.reference, a.subject_hmac, a.triggered_at,
           a.deadline_at, a.purged_at, a.batch_id AS purged_in
      FROM lethe.audit a
      JOIN lethe.items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id
     WHERE a.kind = 'item_purged' AND i.locator IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM replay_chains ch
                        WHERE ch.tenant_id = a.tenant_id
                          AND ch.outcome NOT IN ('replayed', 'present', 'gap'))
       AND NOT EXISTS (SELECT 1 FROM lethe.repurges p
                        WHERE p.tenant_id = i.tenant_id AND p.item_id = i.item_id AND p.state = 'pending')
     ORDER BY i.tenant_id, i.item_id, a.seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
