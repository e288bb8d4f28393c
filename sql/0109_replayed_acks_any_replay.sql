-- A batch open at the backup is closed by its acknowledgement replayed in any replay.
--
-- repurge_emit() (sql/0035) closes a batch that was open when the backup was taken and whose
-- batch_acknowledged record is among the replayed records, so that status does not list it open
-- and a receipt that comes again does not acknowledge it twice. It read that record from
-- replay_records: the records of the replay at hand alone. Exports replayed one at a time (as the
-- README allows, "in any order") put the acknowledgement in by the first replay, which batches
-- nothing while a chain is still short of its exports, and the items' repurges in by the last,
-- which no longer saw it: the batch stayed open beside its items' repurge batch, and the next run
-- drove it again and recorded a second batch_acknowledged (an outside tryout's finding). The
-- record is now read from the audit's engine chain, whichever replay appended it.
--
-- The statement is edited in place, in whichever form the function holds (its own, or its Citus
-- form on a database laid out on Citus already, sql/0052), and so is the Citus form kept in
-- lethe.citus_edits; the migration refuses a text it does not know.

DO $acks$
DECLARE
    v_fn constant text := 'lethe.repurge_emit(uuid,text,integer)';
    v_pat constant text := 'max\(a\.at\) AS at(\s+)FROM replay_records rr\s+'
                           'JOIN lethe\.audit a ON a\.tenant_id = rr\.tenant_id AND a\.seq = rr\.seq '
                           'AND a\.hash = rr\.hash(\s+)WHERE rr\.kind = ''batch_acknowledged''';
    v_new constant text := 'max(rr.at) AS at\1FROM lethe.audit rr\2WHERE rr.tenant_id = '
                           '''00000000-0000-0000-0000-000000000000''::uuid'
                           '\2  AND rr.kind = ''batch_acknowledged''';
    v_def text;
    v_citus boolean;
BEGIN
    v_def := pg_get_functiondef(v_fn::regprocedure);
    IF (SELECT count(*) FROM regexp_matches(v_def, v_pat, 'g')) <> 1 THEN
        RAISE EXCEPTION 'migration 0109: lethe.repurge_emit() no longer reads replayed acknowledgements as sql/0035 wrote it';
    END IF;
    v_citus := position('repurge_closed' IN v_def) > 0;
    EXECUTE regexp_replace(v_def, v_pat, v_new);
    IF v_citus THEN
        -- laid out on Citus already: citus_layout() is told it still holds its Citus form
        UPDATE lethe.citus_edited x SET src_md5 = md5(p.prosrc)
          FROM pg_proc p WHERE p.oid = v_fn::regprocedure AND x.fn = v_fn;
    END IF;

    UPDATE lethe.citus_edits c
       SET old = regexp_replace(c.old, v_pat, v_new), new = regexp_replace(c.new, v_pat, v_new)
     WHERE c.fn = v_fn AND c.step = 3
       AND c.old ~ v_pat AND c.new ~ v_pat;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'migration 0109: the Citus form of lethe.repurge_emit()''s closing of replayed batches is not as sql/0052 wrote it';
    END IF;
END $acks$;
