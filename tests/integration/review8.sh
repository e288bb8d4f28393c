# Review of an upgrade under running timers: `lethe migrate` with something to apply while a
# shard run is in the middle of its work (the run reads lethe.shard_of and the functions a
# migration replaces between its statements), and who a command that finds the run lock held
# is told holds it. Then the remembered start of shared_retention's seeding
# (sql/0030_idle_10m.sql): a run starts where the last run over the same tenants left off, and
# what it must still find is found: a shared item committed late with an old created_at, an
# item left unseeded by a run with an earlier --as-of, items of the shard a shard run did not
# cover, and items committed while the rule was disabled. Last, what a purge's audit record is
# made of (batch items, hold blocks: sql/0032_evidence_writers.sql) is written by the engine's
# functions only: a role holding lethe_engine or lethe_operator cannot change a deadline before
# the ack, nor add a block that excuses a late purge, and the cycle still runs as that role.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review8.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
OPR=review8_opr_$$
trap 'rm -rf "$WORK"; for d in review8_up review8_seed review8_ev; do
      psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
      psql -X -q -d postgres -c "DROP ROLE IF EXISTS $OPR" >/dev/null 2>&1' EXIT
# A deleter that says it started, then waits to be let go before deleting.
cat > "$WORK/slow.sh" <<EOF
#!/bin/sh
: > "$WORK/started"
while [ ! -e "$WORK/go" ]; do sleep 0.05; done
exec $FS_DELETE --root "$STORE" "\$@"
EOF
chmod +x "$WORK/slow.sh"
write_config "$WORK/slow.conf" "executor: { command = \"$WORK/slow.sh\"; };"
write_config "$WORK/noexec.conf"
ago() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }
wait_for() { for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }

psql -X -q -c 'DROP DATABASE IF EXISTS review8_up' -c 'CREATE DATABASE review8_up' 2>/dev/null
export PGDATABASE=review8_up
"$LETHE" migrate >/dev/null
LATEST=$(sql "SELECT max(version) FROM lethe.schema_migrations")
# The migration made pending again is 0029, which only replaces a function: applying it twice
# is harmless (0030 creates a table).
AGAIN=29
T=$(sql "SELECT u FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 100)) g
          WHERE lethe.shard_of(u, 2) = 0 LIMIT 1")
W=$(uuid); mk_tenant "$T" up; mk_workspace "$T" "$W" EU
ITEMS=()
for _ in 1 2 3; do i=$(uuid); ITEMS+=("$i"); mk_item "$T" "$i" "$W" prompt EU 2026-01-01T00:00:00Z; done
mk_event "$T" deletion_requested "$(ago 1)" "UP-1"

# ---- migrate while a shard run is at work ------------------------------------------------------
"$LETHE" --config "$WORK/slow.conf" run --shard 0/2 >"$WORK/run.out" 2>&1 & RUNPID=$!
wait_for "$WORK/started"
assert_eq "the shard run is at its deleter" "yes" "$([ -e "$WORK/started" ] && echo yes)"
RID=$(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'running'")
START=$(sql "SELECT lethe.iso_utc(started_at) FROM lethe.runs WHERE run_id = '$RID'")

run_lethe migrate
assert_eq "with nothing to apply, migrate needs no lock: exits 0" "0 migrate: schema already at version $LATEST, nothing to do" "$RC $OUT"

# The binary is newer than the schema: one of its migrations is not applied yet.
sql "DELETE FROM lethe.schema_migrations WHERE version = $AGAIN" >/dev/null
run_lethe migrate
assert_rc "with a migration to apply while the run works, migrate exits 3" 3
assert_eq "... naming the run, its shard and its start, and what to do" \
  "error: migrate: the run lock is held by run $RID of shard 0/2, started $START
hint: a migration would change the schema under it: wait for it to finish (or stop the lethe timers for the upgrade), then migrate again; nothing was applied" "$ERR"
assert_eq "... and applies nothing" "0" "$(sql "SELECT count(*) FROM lethe.schema_migrations WHERE version = $AGAIN")"

: > "$WORK/go"
wait $RUNPID; RUNRC=$?
assert_eq "the shard run finishes undisturbed" "0 succeeded" "$RUNRC $(sql "SELECT outcome FROM lethe.runs WHERE run_id = '$RID'")"
assert_eq "... its items purged once each" "3 3" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged'")"
run_lethe migrate
assert_eq "once it has finished, migrate applies the migration" "0 migrate: applied 1 migration, schema at version $LATEST" "$RC $OUT"

# ---- who holds the lock, when it is not a run ----------------------------------------------------
# A session of another lethe command (migrate, replay, reconcile take the run lock) is named
# as that command; any other session by its pid. Both hold the lock for real; the message is
# read from pg_stat_activity as lethe reads it.
SID=$(uuid)
( psql -X -q -c "SET application_name = 'lethe/migrate/$SID'" \
       -c "SELECT pg_advisory_lock(7283310, 0)" -c "SELECT pg_sleep(20)" >/dev/null 2>&1 & echo $! > "$WORK/locker" )
for _ in $(seq 100); do [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 7283310")" = 1 ] && break; sleep 0.05; done
BS=$(sql "SELECT lethe.iso_utc(backend_start) FROM pg_stat_activity WHERE application_name = 'lethe/migrate/$SID'")
run_lethe --config "$WORK/noexec.conf" run
assert_eq "a run meeting lethe migrate exits 3 and names it as such" \
  "3 error: the run lock is held by lethe migrate (session $SID), started $BS
hint: wait for it to finish; 'lethe status' shows the last runs" "$RC $ERR"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lethe/migrate/$SID'" >/dev/null
sleep 0.2

( psql -X -q -c "SET application_name = 'nightly-report'" \
       -c "SELECT pg_advisory_lock(7283310, 0)" -c "SELECT pg_sleep(20)" >/dev/null 2>&1 & )
for _ in $(seq 100); do [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 7283310")" = 1 ] && break; sleep 0.05; done
read -r PID BS <<< "$(sql "SELECT pid || ' ' || lethe.iso_utc(backend_start) FROM pg_stat_activity WHERE application_name = 'nightly-report'")"
run_lethe --config "$WORK/noexec.conf" run
assert_eq "a run meeting another session exits 3 and names it by its pid" \
  "3 error: the run lock is held by another session (pid $PID), started $BS" "$RC $(echo "$ERR" | head -1)"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nightly-report'" >/dev/null

# ---- shared_retention's seeding starts where the last run left off ----------------------------
psql -X -q -c 'DROP DATABASE IF EXISTS review8_seed' -c 'CREATE DATABASE review8_seed' 2>/dev/null
export PGDATABASE=review8_seed
"$LETHE" migrate >/dev/null
rm -f "$WORK/anchors.jsonl"
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
write_config "$WORK/off.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
  "rules: { shared_retention: { deadline = \"90d\"; grace = \"90d\"; enabled = false; }; };"
read -r T0 T1 <<< "$(sql "WITH g AS (SELECT gen_random_uuid() AS u FROM generate_series(1, 100))
                           SELECT (SELECT u FROM g WHERE lethe.shard_of(u, 2) = 0 LIMIT 1) || ' ' ||
                                  (SELECT u FROM g WHERE lethe.shard_of(u, 2) = 1 LIMIT 1)")"
W0=$(uuid); W1=$(uuid)
mk_tenant "$T0" seed0; mk_workspace "$T0" "$W0" EU; mk_tenant "$T1" seed1; mk_workspace "$T1" "$W1" EU
purged() { sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$1'"; }
A0=$(uuid); mk_item "$T0" "$A0" "$W0" prompt EU "$(ago 200)" true
A1=$(uuid); mk_item "$T1" "$A1" "$W1" prompt EU "$(ago 200)" true
run_lethe --config "$WORK/exec.conf" run --shard 0/2
assert_eq "a shard run purges the old shared item of its shard only" "1 0" "$(purged "$A0") $(purged "$A1")"
assert_eq "... and remembers where it left off for its 16 buckets only" "16 0" \
  "$(sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE bucket % 2 = 1) FROM lethe.shared_seeded")"
run_lethe --config "$WORK/exec.conf" run --shard 1/2
assert_eq "the other shard's run still reads its tenants' items from the start" "1 1" "$(purged "$A0") $(purged "$A1")"

B=$(uuid); mk_item "$T0" "$B" "$W0" prompt EU "$(ago 150)" true
run_lethe --config "$WORK/exec.conf" run
assert_eq "a shared item committed late, created before where the last run left off, is purged" \
  "0 1 no" "$RC $(purged "$B") $([ -e "$STORE/$B" ] && echo yes || echo no)"

C=$(uuid); mk_item "$T1" "$C" "$W1" prompt EU "$(ago 100)" true
run_lethe --config "$WORK/exec.conf" run --as-of "$(ago 60)"
assert_eq "a run 60 days back leaves a 100-day-old shared item alone (40 days old then)" "0 0" "$RC $(purged "$C")"
run_lethe --config "$WORK/exec.conf" run
assert_eq "... and the next run now purges it: the run back then did not move the start past it" \
  "0 1" "$RC $(purged "$C")"

D=$(uuid); mk_item "$T0" "$D" "$W0" prompt EU "$(ago 300)" true
run_lethe --config "$WORK/off.conf" run
assert_eq "with shared_retention disabled, an old shared item stays, and nothing is remembered" "0 0 0" \
  "$RC $(purged "$D") $(sql "SELECT count(*) FROM lethe.shared_seeded")"
run_lethe --config "$WORK/exec.conf" run
assert_eq "enabled again, the rule catches up with it" "0 1" "$RC $(purged "$D")"
assert_eq "every shared item purged once, by one record each" "5 5" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged'")"
run_lethe --config "$WORK/exec.conf" export -o "$WORK/seed.jsonl"
run_lethe verify "$WORK/seed.jsonl" --anchors "$WORK/anchors.jsonl"
assert_rc "the audit verifies against the anchors" 0

# ---- what a purge's audit is made of is the engine's functions' to write ------------------------
psql -X -q -c 'DROP DATABASE IF EXISTS review8_ev' -c 'CREATE DATABASE review8_ev' 2>/dev/null
export PGDATABASE=review8_ev
"$LETHE" migrate >/dev/null
rm -f "$WORK/anchors.jsonl"; rm -rf "$WORK/spool"
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
sql "CREATE ROLE $OPR LOGIN IN ROLE lethe_operator" >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" ev; mk_workspace "$T" "$W" EU
E1=$(uuid); mk_item "$T" "$E1" "$W" prompt EU 2026-01-01T00:00:00Z
E2=$(uuid); mk_item "$T" "$E2" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(ago 40)" "EV-1"
PGUSER=$OPR run_lethe --config "$WORK/noexec.conf" run
assert_rc "the operator's role runs the cycle (emission writes batch items as the owner)" 0
EB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$E1'")
for stmt in "UPDATE lethe.batch_items SET deadline_at = '2099-01-01' WHERE item_id = '$E1'" \
            "INSERT INTO lethe.hold_blocks (tenant_id, item_id, hold_id) VALUES ('$T', '$E2', gen_random_uuid())" \
            "DELETE FROM lethe.batch_items WHERE item_id = '$E2'"; do
    n=${stmt%% WHERE*}
    PGUSER=$OPR assert_sql_fails "the operator's role may not: ${n%% (*}" "$stmt" "permission denied for table"
done
PGUSER=$OPR run_lethe --config "$WORK/noexec.conf" ack "$EB"
assert_rc "the operator acknowledges the batch" 0
assert_eq "both purges are recorded late, as they were: the deadline was 10 days ago" "f f" \
  "$(sql "SELECT string_agg(on_time::text, ' ') FROM lethe.audit WHERE kind = 'item_purged'" | sed 's/false/f/g; s/true/t/g')"


# ---- a batch item's batch (sql/0087: triggers, once a statement, in place of the foreign key) ---
# The owner bypasses every grant: what is refused here is refused by the database itself.
RUN=$(sql "SELECT run_id FROM lethe.batches WHERE batch_id = '$EB'")
NOB=$(uuid)
assert_sql_fails "an item naming a batch that does not exist is refused" \
  "INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                  triggered_at, due_at, deadline_at)
   VALUES ('$T', '$(uuid)', '$NOB', 1, 'EU', 'r', 1, now(), now(), now())" \
  "a batch item names batch $NOB, which is not in lethe.batches"
assert_sql_fails "an item is not moved to a batch that does not exist" \
  "UPDATE lethe.batch_items SET batch_id = '$NOB' WHERE item_id = '$E1'" \
  "a batch item names batch $NOB, which is not in lethe.batches"
assert_sql_fails "a batch with items is not deleted" "DELETE FROM lethe.batches WHERE batch_id = '$EB'" \
  "batch $EB has items in lethe.batch_items: it is not deleted, nor its id changed"
assert_sql_fails "nor its id changed" "UPDATE lethe.batches SET batch_id = '$NOB' WHERE batch_id = '$EB'" \
  "batch $EB has items in lethe.batch_items"
assert_sql_fails "nor the batches truncated, even with what refers to them" "TRUNCATE lethe.batches CASCADE" \
  "lethe.batches is not truncated while lethe.batch_items holds items"
assert_eq "a refused statement leaves the batch and its items" "1 2" \
  "$(sql "SELECT count(*) FROM lethe.batches WHERE batch_id = '$EB'") $(sql "SELECT count(*) FROM lethe.batch_items WHERE batch_id = '$EB'")"
EMPTY=$(uuid)
sql "INSERT INTO lethe.batches (batch_id, run_id, location, items) VALUES ('$EMPTY', '$RUN', 'EU', 1)" >/dev/null
assert_eq "a batch's other columns change as before" "UPDATE 1" \
  "$(psql -X -A -t -c "UPDATE lethe.batches SET attempts = attempts WHERE batch_id = '$EB'")"
# A delete that comes while another transaction adds items to the batch waits for it, then is
# refused (the foreign key's lock, taken once a statement).
( psql -X -q -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL
BEGIN;
INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                               triggered_at, due_at, deadline_at)
VALUES ('$T', '$(uuid)', '$EMPTY', 1, 'EU', 'r', 1, now(), now(), now());
SELECT pg_sleep(2);
COMMIT;
SQL
) &
adder=$!
sleep 1
assert_sql_fails "a batch being given items in another transaction is not deleted" \
  "DELETE FROM lethe.batches WHERE batch_id = '$EMPTY'" \
  "batch $EMPTY has items in lethe.batch_items"
wait "$adder"
assert_eq "the other transaction's item is kept, with its batch" "1 1" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE batch_id = '$EMPTY'") $(sql "SELECT count(*) FROM lethe.batches WHERE batch_id = '$EMPTY'")"
EMPTY2=$(uuid)
sql "INSERT INTO lethe.batches (batch_id, run_id, location, items) VALUES ('$EMPTY2', '$RUN', 'EU', 1)" >/dev/null
assert_eq "a batch no item names is deleted, as the foreign key allowed" "DELETE 1" \
  "$(psql -X -A -t -c "DELETE FROM lethe.batches WHERE batch_id = '$EMPTY2'")"
# REPEATABLE READ: the deleter's snapshot, taken before another transaction gives the batch an
# item and commits, does not show the item (the key looked with a newer one): refused outright.
EMPTY3=$(uuid)
sql "INSERT INTO lethe.batches (batch_id, run_id, location, items) VALUES ('$EMPTY3', '$RUN', 'EU', 1)" >/dev/null
( psql -X -q -A -t <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'snapshot ' || count(*) FROM lethe.batches WHERE batch_id = '$EMPTY3';
SELECT pg_sleep(2);
DELETE FROM lethe.batches WHERE batch_id = '$EMPTY3';
COMMIT;
SQL
) >"$WORK/rr.out" 2>&1 &
deleter=$!
sleep 1
sql "INSERT INTO lethe.batch_items (tenant_id, item_id, batch_id, ord, location, rule, obligation_id,
                                    triggered_at, due_at, deadline_at)
     VALUES ('$T', '$(uuid)', '$EMPTY3', 1, 'EU', 'r', 1, now(), now(), now())" >/dev/null
wait "$deleter"
assert_eq "a batch is not deleted in a REPEATABLE READ transaction, which cannot see an item committed since" \
  "snapshot 1|ERROR:  a batch is deleted, or its id changed, only in a READ COMMITTED transaction" \
  "$(grep -v '^$' "$WORK/rr.out" | sed 's/^psql:[^ ]* //' | head -2 | tr '\n' '|' | sed 's/|$//')"
assert_eq "... and the batch and its item are there" "1 1" \
  "$(sql "SELECT count(*) FROM lethe.batches WHERE batch_id = '$EMPTY3'") $(sql "SELECT count(*) FROM lethe.batch_items WHERE batch_id = '$EMPTY3'")"
assert_eq "the batches truncated with their items, in one command, as the foreign key allowed" "TRUNCATE TABLE|0 0" \
  "$(psql -X -q -A -t -c "BEGIN" -c "TRUNCATE lethe.batch_items, lethe.batches, lethe.repurges" \
       -c "SELECT 'TRUNCATE TABLE|' || (SELECT count(*) FROM lethe.batches) || ' ' || (SELECT count(*) FROM lethe.batch_items)" \
       -c "ROLLBACK")"
assert_eq "the key is gone and the five triggers are there" "0 5" \
  "$(sql "SELECT count(*) FROM pg_constraint WHERE conrelid = 'lethe.batch_items'::regclass AND contype = 'f'") $(sql "SELECT count(*) FROM pg_trigger
       WHERE tgname IN ('batch_items_batch_insert', 'batch_items_batch_update', 'batches_items_delete',
                        'batches_items_update', 'batches_items_truncate')")"
finish
