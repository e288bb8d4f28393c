-- On Citus, appends to the audit by different sessions no longer wait for each other's commits.
--
-- lethe.audit_flush() moves the heads it appended to with one UPDATE of lethe.audit_heads joined
-- with the records it has just inserted. On one server that UPDATE locks the heads' rows alone.
-- On Citus it is a multi-shard modification, and Citus serializes those by a ShareUpdateExclusive
-- lock on every shard they touch, held until the transaction ends: an append by a `lethe request`
-- (or a hold, or an acknowledgement) whose commit was held up held up every other append, a run's
-- first record included, for as long. The run then waited inside that statement, before it
-- reached the writers' fence (sql/0108_writers_fence.sql), whose wait is bounded at 10 s and ends
-- on a stop request: the run waited as long as the writer, and a SIGTERM stopped it only once the
-- writer had committed (anchors.sh under `make check-citus`, now tests/integration/fence.sh).
--
-- That lock is Citus's deadlock prevention: concurrent multi-shard modifications could take row
-- locks in different orders on different nodes. audit_flush takes the row lock of every head it
-- moves first, one tenant after another in uuid order (FOR UPDATE), before its one statement
-- that appends the records and moves the heads: that statement waits for no row, and two appends
-- to one chain take their turns at the FOR UPDATE as on one server. So that statement alone runs
-- with citus.enable_deadlock_prevention off (put back as it was after it): its shards take the
-- RowExclusive lock a single-shard write takes, which no other append waits for. (Shards with
-- more than one replica, which lethe's layout does not make, keep Citus's stronger locks: the
-- setting does not touch them.)
--
-- A Citus form (lethe.citus_edits): on one server the function stays as it was; `make check`'s
-- citus_forms.sh applies the edits to a plain database, where the setting is a placeholder.

INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.audit_flush()', 1,
$old$    v_first_on_time timestamptz;
$old$,
$new$    v_first_on_time timestamptz;
    v_prevention text;
$new$,
 'a variable for the setting put back after the append (sql/0115)'),
('lethe.audit_flush()', 2,
$old$    v_now := clock_timestamp();
$old$,
$new$    v_now := clock_timestamp();
    -- The heads' rows are locked above, in order: the append waits for no other append's shard
    -- locks (sql/0115_citus_append_locks.sql).
    v_prevention := coalesce(current_setting('citus.enable_deadlock_prevention', true), 'on');
    PERFORM set_config('citus.enable_deadlock_prevention', 'off', true);
$new$,
 'Citus serializes multi-shard modifications by shard locks held to commit (deadlock prevention): an append held up held up every other'),
('lethe.audit_flush()', 3,
$old$      INTO v_n, v_first_on_time FROM appended a;
$old$,
$new$      INTO v_n, v_first_on_time FROM appended a;
    PERFORM set_config('citus.enable_deadlock_prevention', v_prevention, true);
$new$,
 'the setting as it was, after the append');
