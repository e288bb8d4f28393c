# What an outside tryout that killed and stopped lethe at chosen moments found, each section the
# user's command and its outcome; each failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review14.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS review14" >/dev/null 2>&1' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS review14' -c 'CREATE DATABASE review14' 2>/dev/null
export PGDATABASE=review14
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
write_config "$WORK/ack.conf"
write_config "$WORK/del.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"


# ---- a stop request during the attempt's count starts no deleter ------------------------------
# The run checked for a stop request, then counted the attempt (a round trip), then started the
# deleter: a SIGTERM that came during the count started it all the same.
X=$(uuid); mk_item "$T" "$X" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$X" --reference CASE-30
run_lethe --config "$WORK/ack.conf" run    # no executor: the batch stays open, for the next run
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$X'")
cat >"$WORK/marking" <<EOS
#!/bin/sh
touch "$WORK/deleter-ran"
exec $FS_DELETE --root $STORE "\$@"
EOS
chmod +x "$WORK/marking"
write_config "$WORK/marking.conf" "executor: { command = \"$WORK/marking\"; };"
# Another session holds the batch's row: the count waits for it.
psql -X -q -c "BEGIN" -c "SELECT 1 FROM lethe.batches WHERE batch_id = '$B' FOR UPDATE" \
  -c "SELECT pg_sleep(30)" -c "COMMIT" >/dev/null 2>&1 &
LOCKER=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'"
"$LETHE" --config "$WORK/marking.conf" run >"$WORK/stop.out" 2>"$WORK/stop.err" &
RUN=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE lethe.batches SET attempts%'"
assert_eq "the run waits on counting the deleter's attempt" "0" "$?"
kill -TERM $RUN
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'" >/dev/null
wait $RUN; RC=$?; wait $LOCKER 2>/dev/null
assert_eq "SIGTERM then: the run ends interrupted (exit 1), its deleter never started" "1|no" \
  "$RC|$([ -e "$WORK/deleter-ran" ] && echo yes || echo no)"
assert_eq "... the batch still open, no attempt counted, the item not purged" "open|0|0" \
  "$(sql "SELECT state || '|' || attempts FROM lethe.batches WHERE batch_id = '$B'")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$X'")"
assert_eq "... and the run is recorded interrupted" "interrupted" \
  "$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
run_lethe --config "$WORK/marking.conf" run
assert_eq "the next run drives the batch: one attempt, the item purged once" "0|yes|acknowledged|1|1" \
  "$RC|$([ -e "$WORK/deleter-ran" ] && echo yes || echo no)|$(sql "SELECT state || '|' || attempts FROM lethe.batches WHERE batch_id = '$B'")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$X'")"

# ---- a run found dead by another keeps that record --------------------------------------------
# Run A loses its database session while its deleter works. Run B finds A dead (records it
# died, with a run_finished), drives A's open batch itself and ends. A's deleter ends, A gets
# its session and its lock back and recorded its own end over B's record: a second
# run_finished for A, and 'died' overwritten with 'failed'.
Y=$(uuid); mk_item "$T" "$Y" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$Y" --reference CASE-31
cat >"$WORK/slow" <<EOS
#!/bin/sh
touch "$WORK/slow-started"
while [ ! -e "$WORK/go" ]; do sleep 0.1; done
exec $FS_DELETE --root $STORE "\$@"
EOS
chmod +x "$WORK/slow"
write_config "$WORK/slow.conf" "executor: { command = \"$WORK/slow\"; };"
"$LETHE" --config "$WORK/slow.conf" run >"$WORK/a.out" 2>"$WORK/a.err" &
A_PID=$!
for _ in $(seq 100); do [ -e "$WORK/slow-started" ] && break; sleep 0.1; done
A=$(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'running'")
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lethe%' AND pid <> pg_backend_pid()" >/dev/null
run_lethe --config "$WORK/del.conf" run
BR=$(sql "SELECT run_id FROM lethe.runs WHERE run_id <> '$A' ORDER BY started_at DESC LIMIT 1")
assert_eq "run B finds A dead and purges A's batch itself" "0|died|1" \
  "$RC|$(sql "SELECT outcome FROM lethe.runs WHERE run_id = '$A'")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$Y'")"
touch "$WORK/go"
wait $A_PID; RC=$?
assert_eq "run A, back after its deleter: exit 1, and it says another run recorded it as died" \
  "1|error: run $A: another run recorded this one as died while its database session was lost (lethe.runs.error says which); its end (failed) is not recorded over that" \
  "$RC|$(grep "^error: run $A: another run" "$WORK/a.err")"
assert_eq "... A stays 'died', found dead by B, with one run_finished record" "died|true|1" \
  "$(sql "SELECT outcome || '|' || (error LIKE '%found dead by run $BR%')::text FROM lethe.runs WHERE run_id = '$A'")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'run_finished' AND run_id = '$A'")"
assert_eq "... the item purged once, and the audit verifies" "1|0" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$Y'")|$("$LETHE" export -o "$WORK/a.jsonl" 2>/dev/null; "$LETHE" verify "$WORK/a.jsonl" >/dev/null 2>&1; echo $?)"

# ---- a killed export -o leaves no temporary behind for good ------------------------------------
# export -o writes a hidden temporary beside its target and renames it. One killed before the
# rename left ".all.jsonl.<hex>.tmp", a whole export's worth of audit, there for good.
"$LETHE" export -o "$WORK/all.jsonl" 2>/dev/null
cp "$WORK/all.jsonl" "$WORK/before.jsonl"
# The audit locked away from readers: the export has made its temporary and waits.
psql -X -q -c "BEGIN" -c "LOCK TABLE lethe.audit IN ACCESS EXCLUSIVE MODE" \
  -c "SELECT pg_sleep(31)" -c "COMMIT" >/dev/null 2>&1 &
LOCKER=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(31)'"
"$LETHE" export -o "$WORK/all.jsonl" 2>/dev/null &
E1=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name LIKE 'lethe%'"
temps() { find "$WORK" -maxdepth 1 -name '.all.jsonl.*.tmp' | wc -l; }
assert_eq "a waiting export has its temporary" "1" "$(temps)"
DEAD=$(find "$WORK" -maxdepth 1 -name '.all.jsonl.*.tmp')
kill -KILL $E1; wait $E1 2>/dev/null
# A second export that waits as well, alive: the first one's temporary is gone, its own is there.
"$LETHE" export -o "$WORK/all.jsonl" 2>"$WORK/e2.err" &
E2=$!
for _ in $(seq 100); do
  LIVE=$(find "$WORK" -maxdepth 1 -name '.all.jsonl.*.tmp' ! -path "$DEAD")
  [ -n "$LIVE" ] && [ ! -e "$DEAD" ] && break; sleep 0.1
done
assert_eq "the next export -o removes the killed one's temporary, and makes its own" "1" "$(temps)"
# A third, given up at once (lock_timeout): it leaves the live export's temporary alone.
PGOPTIONS='-c lock_timeout=200ms' run_lethe export -o "$WORK/all.jsonl"
assert_eq "an export beside a live one: exit 1, the live one's temporary untouched" "1|$LIVE" \
  "$RC|$(find "$WORK" -maxdepth 1 -name '.all.jsonl.*.tmp')"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(31)'" >/dev/null
wait $LOCKER 2>/dev/null
wait $E2; RC=$?
assert_eq "the live export then ends well: exit 0, the file whole (it verifies), no temporary left" \
  "0|$(wc -l <"$WORK/before.jsonl")|0|0" \
  "$RC|$(wc -l <"$WORK/all.jsonl")|$("$LETHE" verify "$WORK/all.jsonl" >/dev/null 2>&1; echo $?)|$(temps)"
# The same for the run's metrics file and reconcile's list of orphans, which -o's writer writes.
: >"$WORK/.metrics.prom.0123456789abcdef.tmp"; : >"$WORK/.orphans.txt.0123456789abcdef.tmp"; : >"$WORK/inventory.txt"
run_lethe --config "$WORK/ack.conf" run --metrics-file "$WORK/metrics.prom"
RUNRC=$RC
head -c 32 /dev/urandom >"$WORK/audit.key"; chmod 0600 "$WORK/audit.key"
write_config "$WORK/key.conf" "audit: { key_file = \"$WORK/audit.key\"; };"
run_lethe --config "$WORK/key.conf" reconcile --location EU "$WORK/inventory.txt" --orphans "$WORK/orphans.txt"
assert_eq "--metrics-file and reconcile --orphans remove a dead writer's temporary too" "0|0|yes|yes|0" \
  "$RUNRC|$RC|$([ -s "$WORK/metrics.prom" ] && echo yes)|$([ -e "$WORK/orphans.txt" ] && echo yes)|$(find "$WORK" -maxdepth 1 -name '.*.tmp' ! -name '.all.jsonl.*' | wc -l)"

# ---- an export's tail cut off, its claims edited, with a later anchor line ---------------------
# verify excused every head of an anchor line written after the export's snapshot, since its
# record might have committed after it. Records made between two runs (here an ack) were cut from
# an export taken before the next run, the header's claims edited to match, and the file
# verified against that later line. A record stamped a minute before the snapshot had committed.
Z=$(uuid); mk_item "$T" "$Z" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$Z" --reference CASE-32
run_lethe --config "$WORK/ack.conf" run
CUT=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/ack.conf" ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$Z'")" --operator user_a
sleep 61
"$LETHE" export -o "$WORK/open.jsonl" 2>/dev/null
run_lethe --config "$WORK/ack.conf" run    # its line anchors the ack's heads, after the export
python3 - "$WORK/open.jsonl" "$WORK/cut.jsonl" "$CUT" <<'PY'
import json, sys
src, dst, cut = sys.argv[1:4]
lines = open(src, encoding="utf-8").read().splitlines()
head, recs = json.loads(lines[0]), [json.loads(l) for l in lines[1:]]
recs = [r for r in recs if r["at"] < cut]
sys.path.insert(0, "tests/harness")
from claims import reclaim
reclaim(head, recs)
out = [json.dumps(head, separators=(",", ":"))] + [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in recs]
open(dst, "w", encoding="utf-8").write("\n".join(out) + "\n")
PY
both() { # FILE: both verifiers' exit codes against the anchor file
  "$LETHE" verify "$1" --anchors "$WORK/anchors.jsonl" >"$WORK/v.out" 2>&1; local a=$?
  python3 tests/verify_export.py "$1" --anchors "$WORK/anchors.jsonl" >/dev/null 2>&1; echo "$a $?"
}
assert_eq "the whole export verifies against the later line, by both verifiers" "0 0" "$(both "$WORK/open.jsonl")"
assert_eq "... its ack's records cut off, the claims edited: both verifiers exit 4" "4 4" "$(both "$WORK/cut.jsonl")"
assert_contains "... lethe names a chain whose anchored tail is missing (the engine chain's first, where the ack wrote its batch_acknowledged)" \
  "chain 00000000-0000-0000-0000-000000000000 is anchored at seq" "$(cat "$WORK/v.out")"
assert_contains "... and, since a commit held up (a synchronous standby down) would look the same, what to do then" \
  "or that record committed more than a minute after it was stamped, after the export was taken: export the window again and verify that" "$(cat "$WORK/v.out")"

# ---- a request for an item already in an open batch with a later deadline -----------------------
# The item keeps the rule and deadline its batch was made under (SPEC §6): a request with an
# earlier deadline is met only if that batch is acknowledged by then. Nothing said so: status
# --check stayed 0 past the request's deadline, and the purge was recorded on time under the
# batch's rule.
V=$(uuid); mk_item "$T" "$V" "$W" prompt EU 2026-01-01T00:00:00Z
C=$(uuid); mk_item "$T" "$C" "$W" prompt EU 2026-01-02T00:00:00Z false "$V"   # a copy of it
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$V" --reference CASE-33
run_lethe --config "$WORK/ack.conf" run
VB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$V'")
VD=$(sql "SELECT lethe.iso_utc(deadline_at) FROM lethe.batch_items WHERE item_id = '$V'")
write_config "$WORK/short.conf" 'rules: { deletion_request: { deadline = "1h"; }; subject_request: { deadline = "1h"; }; };'
run_lethe --config "$WORK/short.conf" request --tenant "$T" --item "$V" --reference CASE-34
assert_eq "request: recorded (exit 0), with a warning that the item and its copy go with their batch, under its rule" \
  "0|warning: request: 2 items in its scope are already in open batch $VB (EU), whose deadline ($VD) is later than this request's: they go with that batch, under its rule" \
  "$RC|$(grep '^warning: request' <<<"$ERR")"
assert_contains "... and what to do" "hint: acknowledge the batch before" "$ERR"
S=$(uuid); mk_item "$T" "$S" "$W" prompt EU 2026-01-01T00:00:00Z false "" subject-7
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$S" --reference CASE-36
run_lethe --config "$WORK/ack.conf" run
SB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$S'")
run_lethe --config "$WORK/short.conf" request --tenant "$T" --subject subject-7 --reference CASE-37
assert_eq "... a subject's request: the subject's item in its open batch, no subject id said" \
  "0|warning: request: 1 item in its scope is already in open batch $SB|0" \
  "$RC|$(grep -o "^warning: request: 1 item in its scope is already in open batch $SB" <<<"$ERR")|$(grep -c subject-7 <<<"$ERR")"
write_config "$WORK/later.conf"
run_lethe --config "$WORK/later.conf" request --tenant "$T" --workspace "$W" --reference CASE-35
assert_eq "a request whose deadline is not earlier than the batch's: nothing to say" "0|" \
  "$RC|$(grep '^warning: request' <<<"$ERR")"

# ---- the run in the way is the one named ------------------------------------------------------
# With runs of shards 0/2 and 1/2 both at work, another run of shard 1/2 was told the lock was
# held by the oldest of them, the run of 0/2, which is not in its way.
rm -f "$WORK/go" "$WORK/slow-started"
TA=$(uuid); while [ "$(sql "SELECT lethe.shard_of('$TA', 2)")" != 0 ]; do TA=$(uuid); done
TB=$(uuid); while [ "$(sql "SELECT lethe.shard_of('$TB', 2)")" != 1 ]; do TB=$(uuid); done
WA=$(uuid); WB=$(uuid); mk_tenant "$TA" shard-a; mk_tenant "$TB" shard-b
mk_workspace "$TA" "$WA" EU; mk_workspace "$TB" "$WB" EU
IA=$(uuid); IB=$(uuid); mk_item "$TA" "$IA" "$WA" prompt EU 2026-01-01T00:00:00Z; mk_item "$TB" "$IB" "$WB" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/ack.conf" request --tenant "$TA" --reference CASE-38
run_lethe --config "$WORK/ack.conf" request --tenant "$TB" --reference CASE-39
"$LETHE" --config "$WORK/slow.conf" run --shard 0/2 >/dev/null 2>&1 &
S0=$!
for _ in $(seq 100); do [ -e "$WORK/slow-started" ] && break; sleep 0.1; done
rm -f "$WORK/slow-started"
"$LETHE" --config "$WORK/slow.conf" run --shard 1/2 >/dev/null 2>&1 &
S1=$!
for _ in $(seq 100); do [ -e "$WORK/slow-started" ] && break; sleep 0.1; done
R1=$(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'running' AND shard = '1/2'")
R0=$(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'running' AND shard = '0/2'")
run_lethe --config "$WORK/ack.conf" run --shard 1/2
assert_eq "run --shard 1/2 beside 0/2 and 1/2: exit 3, naming the run of 1/2" "3|error: the run lock is held by run $R1 of shard 1/2" \
  "$RC|$(grep -o '^error: the run lock is held by run [^,]*' <<<"$ERR")"
run_lethe --config "$WORK/ack.conf" run --shard 0/2
assert_eq "... and run --shard 0/2, the run of 0/2" "3|error: the run lock is held by run $R0 of shard 0/2" \
  "$RC|$(grep -o '^error: the run lock is held by run [^,]*' <<<"$ERR")"
touch "$WORK/go"; wait $S0 $S1

finish
