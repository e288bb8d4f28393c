-- A batch item's batch, checked once a statement instead of once a row (issue 14, the steady
-- cycle's write floor).
--
-- batch_items.batch_id referenced lethe.batches through a foreign key, which PostgreSQL checks
-- row by row: a SELECT ... FOR KEY SHARE of the batch for every item. Inserting 120,000 items
-- of one batch took 2.6-3.6 s with it and 1.8-2.5 s without (the bench's 1M catalog, in
-- alternation), and every run inserts each due item once. The key is replaced by triggers
-- that refuse the same things with one statement each:
--   - an INSERT of batch items: their batches are locked FOR KEY SHARE (as the key locked each
--     one: a batch cannot be deleted under a transaction that is adding items to it), then
--     one anti-join over the statement's new rows finds any item whose batch is not there;
--   - an UPDATE that changes an item's batch (no writer of lethe's does): the same, for that
--     row;
--   - a DELETE of batches, or an UPDATE of a batch's id: refused while an item names it, and
--     refused in a REPEATABLE READ or SERIALIZABLE transaction whatever it names: its snapshot
--     does not show the items another transaction committed after it began (the key looked
--     with a newer snapshot, which a trigger cannot take), and lethe never deletes a batch;
--   - a TRUNCATE of batches: refused when batch_items still holds a row after it (the
--     statement may truncate both; the key refused one that left items behind, and
--     `TRUNCATE lethe.batches CASCADE` emptied batch_items, the record of every purge).
-- What the key did and these do not: `ALTER TABLE ... DISABLE TRIGGER USER` (the owner's)
-- turns them off, as dropping the key did; a dump holding an item without its batch restores
-- without a complaint (the key's ALTER TABLE failed), but no database these triggers kept can
-- give such a dump.
-- On Citus the key was never kept (sql/0011: no foreign key from a distributed table to a
-- local one): the triggers are made on one server only, and lethe.citus_outgrow() drops them
-- when a deployment moves onto Citus (they are added to lethe.citus_one_server_only()).

-- After an INSERT, once a statement (its new rows); before an UPDATE that moves an item to
-- another batch, for that row.
CREATE FUNCTION lethe.batch_items_batch_known() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_batch uuid;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM 1 FROM lethe.batches b WHERE b.batch_id = NEW.batch_id FOR KEY SHARE OF b;
        IF NOT FOUND THEN
            v_batch := NEW.batch_id;
        END IF;
    ELSE
        PERFORM 1 FROM lethe.batches b
         WHERE b.batch_id IN (SELECT DISTINCT n.batch_id FROM new_rows n)
           FOR KEY SHARE OF b;
        SELECT n.batch_id INTO v_batch FROM new_rows n
         WHERE NOT EXISTS (SELECT 1 FROM lethe.batches b WHERE b.batch_id = n.batch_id)
         LIMIT 1;
    END IF;
    IF v_batch IS NOT NULL THEN
        RAISE EXCEPTION 'a batch item names batch %, which is not in lethe.batches', v_batch
            USING ERRCODE = 'foreign_key_violation', TABLE = 'batch_items',
                  CONSTRAINT = 'batch_items_batch_known',
                  HINT = CASE TG_OP WHEN 'INSERT' THEN 'a batch is inserted before its items, in the same transaction'
                                    ELSE 'an item stays in the batch it was emitted in' END;
    END IF;
    IF TG_LEVEL = 'ROW' THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION lethe.batch_items_batch_known() FROM PUBLIC;

CREATE FUNCTION lethe.batches_kept_for_items() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = lethe, pg_catalog, pg_temp AS $$
DECLARE
    v_batch uuid;
BEGIN
    IF TG_OP <> 'TRUNCATE' AND current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'a batch is deleted, or its id changed, only in a READ COMMITTED transaction'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'batches',
                  CONSTRAINT = 'batch_items_batch_known',
                  DETAIL = format('This transaction is %s: its snapshot does not show the items '
                                  'another transaction committed to the batch since.',
                                  upper(current_setting('transaction_isolation'))),
                  HINT = 'a batch is the record of what was handed to a deleter: batches are kept';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM lethe.batch_items) THEN
            RAISE EXCEPTION 'lethe.batches is not truncated while lethe.batch_items holds items'
                USING ERRCODE = 'foreign_key_violation', TABLE = 'batches',
                      CONSTRAINT = 'batch_items_batch_known',
                      HINT = 'a batch is the record of what was handed to a deleter: batches are kept';
        END IF;
        RETURN NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        v_batch := OLD.batch_id;
        IF NOT EXISTS (SELECT 1 FROM lethe.batch_items bi WHERE bi.batch_id = v_batch) THEN
            RETURN NEW;
        END IF;
    ELSE
        SELECT o.batch_id INTO v_batch FROM old_rows o
         WHERE EXISTS (SELECT 1 FROM lethe.batch_items bi WHERE bi.batch_id = o.batch_id)
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'batch % has items in lethe.batch_items: it is not deleted, nor its id changed', v_batch
        USING ERRCODE = 'foreign_key_violation', TABLE = 'batches',
              CONSTRAINT = 'batch_items_batch_known',
              HINT = 'a batch is the record of what was handed to a deleter: batches are kept';
END $$;
REVOKE ALL ON FUNCTION lethe.batches_kept_for_items() FROM PUBLIC;

DO $key$
DECLARE
    v_orphans bigint;
    v_batch text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- Nothing is lost by dropping it: every row it checked is there (the triggers check what
    -- comes after), and a database it was never kept on (restored from a Citus one) is
    -- checked here first.
    SELECT count(*), min(bi.batch_id::text) INTO v_orphans, v_batch FROM lethe.batch_items bi
     WHERE NOT EXISTS (SELECT 1 FROM lethe.batches b WHERE b.batch_id = bi.batch_id);
    IF v_orphans > 0 THEN
        RAISE EXCEPTION 'sql/0087: lethe.batch_items holds % item(s) whose batch is not in lethe.batches (batch %, for one)',
                        v_orphans, v_batch
            USING HINT = 'they were written with the foreign key dropped, or restored without their batches: '
                         'restore lethe.batches from the same backup as lethe.batch_items, then run lethe migrate '
                         'again; nothing was changed';
    END IF;
    ALTER TABLE lethe.batch_items DROP CONSTRAINT IF EXISTS batch_items_batch_id_fkey;
    CREATE TRIGGER batch_items_batch_insert AFTER INSERT ON lethe.batch_items
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.batch_items_batch_known();
    CREATE TRIGGER batch_items_batch_update BEFORE UPDATE OF batch_id ON lethe.batch_items
        FOR EACH ROW WHEN (OLD.batch_id IS DISTINCT FROM NEW.batch_id)
        EXECUTE FUNCTION lethe.batch_items_batch_known();
    CREATE TRIGGER batches_items_delete AFTER DELETE ON lethe.batches
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.batches_kept_for_items();
    CREATE TRIGGER batches_items_update BEFORE UPDATE OF batch_id ON lethe.batches
        FOR EACH ROW WHEN (OLD.batch_id IS DISTINCT FROM NEW.batch_id)
        EXECUTE FUNCTION lethe.batches_kept_for_items();
    CREATE TRIGGER batches_items_truncate AFTER TRUNCATE ON lethe.batches
        FOR EACH STATEMENT EXECUTE FUNCTION lethe.batches_kept_for_items();
END $key$;

-- What lethe.citus_outgrow() drops: 0085's list and the triggers above.
CREATE OR REPLACE FUNCTION lethe.citus_one_server_only() RETURNS TABLE (tbl text, name text, kind text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES
        -- 0017: status's memory, told of every change that decides it
        ('items', 'items_status_dirty_update', 'trigger'),
        ('inbox_items', 'inbox_items_status_dirty_delete', 'trigger'),
        ('inbox_events', 'inbox_events_status_dirty_delete', 'trigger'),
        ('batch_items', 'batch_items_status_dirty_insert', 'trigger'),
        ('batch_items', 'batch_items_status_dirty_update', 'trigger'),
        ('batch_items', 'batch_items_status_dirty_delete', 'trigger'),
        ('obligations', 'obligations_status_dirty_insert', 'trigger'),
        ('obligations', 'obligations_status_dirty_update', 'trigger'),
        ('obligations', 'obligations_status_dirty_delete', 'trigger'),
        -- 0017: the purged counts
        ('batch_items', 'batch_items_purged_insert', 'trigger'),
        ('batch_items', 'batch_items_purged_update', 'trigger'),
        ('batch_items', 'batch_items_purged_delete', 'trigger'),
        -- 0034: held items in the memory, and the new tenants' queue
        ('held_items', 'held_items_status_dirty_insert', 'trigger'),
        ('held_items', 'held_items_status_dirty_update', 'trigger'),
        ('held_items', 'held_items_status_dirty_delete', 'trigger'),
        ('tenants', 'tenants_status_new', 'trigger'),
        -- 0077: the checks on obligations (listed in citus_gaps on Citus)
        ('obligations', 'obligations_borne_out_insert', 'trigger'),
        ('obligations', 'obligations_borne_out_update', 'trigger'),
        ('obligations', 'obligations_by_engine', 'trigger'),
        ('obligations', 'obligations_no_truncate', 'trigger'),
        -- 0025 and 0034: the memories' tenants (no foreign key from a local table on Citus)
        ('status_memory_tenants', 'status_memory_tenants_tenant', 'fkey'),
        ('status_new_tenants', 'status_new_tenants_tenant', 'fkey'),
        -- 0087: batch items' batches (no foreign key from a distributed table to a local one)
        ('batch_items', 'batch_items_batch_insert', 'trigger'),
        ('batch_items', 'batch_items_batch_update', 'trigger'),
        ('batches', 'batches_items_delete', 'trigger'),
        ('batches', 'batches_items_update', 'trigger'),
        ('batches', 'batches_items_truncate', 'trigger')
$$;
