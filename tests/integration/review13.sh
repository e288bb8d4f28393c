# What outside tryouts of this stop found, each section the user's command and its outcome;
# each failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review13.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS review13" -c "DROP DATABASE IF EXISTS review13_l" >/dev/null 2>&1' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS review13' -c 'CREATE DATABASE review13' 2>/dev/null
export PGDATABASE=review13
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU

# ---- a purge is late when its acknowledgement commits after the deadline ----------------------
# The acknowledgement took its time before it waited for the tenant's chain (another session
# writing the tenant's audit) and wrote its records: an ack that committed after the deadline
# was recorded on time. No executor: the batch waits for 'lethe ack'.
# (Long enough for the request and the run to be done before it: on Citus they take longer.)
DL=${CITUS_WORKERS:+45s}; DL=${DL:-15s}
write_config "$WORK/short.conf" "rules: { deletion_request: { deadline = \"$DL\"; }; };"
X=$(uuid); mk_item "$T" "$X" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/short.conf" request --tenant "$T" --item "$X" --reference CASE-20
run_lethe --config "$WORK/short.conf" run
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$X'")
D=$(sql "SELECT deadline_at FROM lethe.batch_items WHERE item_id = '$X'")
assert_eq "the request's item is in an open batch, its deadline still ahead" "open|true" \
  "$(sql "SELECT b.state || '|' || (i.deadline_at > now()) FROM lethe.batches b JOIN lethe.batch_items i USING (batch_id) WHERE i.item_id = '$X'")"
# Another session holds the tenant's chain until a second after the deadline.
psql -X -q -c "BEGIN" -c "SELECT 1 FROM lethe.audit_heads WHERE tenant_id = '$T' FOR UPDATE" \
  -c "SELECT pg_sleep_until('$D'::timestamptz + interval '1 second')" -c "COMMIT" >/dev/null 2>&1 &
LOCKER=$!
for _ in $(seq 50); do
  [ "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.query LIKE 'SELECT pg_sleep_until%'")" -gt 0 ] && break
  sleep 0.1
done
assert_eq "the ack starts before the deadline" "t" "$(sql "SELECT now() < '$D'::timestamptz")"
run_lethe --config "$WORK/short.conf" ack "$B"
wait $LOCKER
assert_eq "ack: exit 0, and it says the deadline passed while it was being recorded" \
  "0|warning: ack: batch $B: a deadline passed while its acknowledgement was being recorded; recorded again, at a time past it" \
  "$RC|$(grep '^warning: ack' <<<"$ERR")"
assert_eq "the purge is recorded late: purged_at after the deadline, not before its record" "false|true|true" \
  "$(sql "SELECT on_time || '|' || (purged_at > deadline_at) || '|' || (purged_at <= at) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$X'")"
assert_eq "... once, and the batch item says the same" "1|true" \
  "$(sql "SELECT count(*) || '|' || bool_and(b.purged_at > b.deadline_at) FROM lethe.audit a JOIN lethe.batch_items b USING (tenant_id, item_id) WHERE a.kind = 'item_purged' AND a.item_id = '$X'")"
"$LETHE" export --summary -o "$WORK/summary.jsonl" 2>/dev/null
assert_eq "the summary counts it late" "1 0 1" "$(summary_rule "$WORK/summary.jsonl" deletion_request purged on_time late)"
# An ack with time to spare is recorded on time, at the first attempt.
Y=$(uuid); mk_item "$T" "$Y" "$W" prompt EU 2026-01-01T00:00:00Z
write_config "$WORK/long.conf"
run_lethe --config "$WORK/long.conf" request --tenant "$T" --item "$Y" --reference CASE-21
run_lethe --config "$WORK/long.conf" run
run_lethe --config "$WORK/long.conf" ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$Y'")"
assert_eq "an ack well before the deadline: on time, and nothing said" "0|t|" \
  "$RC|$(sql "SELECT on_time FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$Y'")|$(grep '^warning' <<<"$ERR")"
# ---- a request the catalog refuses is bad input ------------------------------------------------
# An item a producer dated a little ahead of the database's clock (the catalog takes up to five
# minutes of skew): a request for it now covers nothing, and the catalog refuses it, with both
# times. lethe exited 1, a runtime failure, as for a database that went away. (lethe request now
# says it before the catalog does, with when to record it again: requests.sh.)
Z=$(uuid); sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at) VALUES ('$T', '$Z', '$W', 'prompt', 'EU', 'file:///nowhere/$Z', now() + interval '2 minutes')" >/dev/null
run_lethe request --tenant "$T" --item "$Z" --reference CASE-22
assert_eq "request for an item created after it: exit 2, the reason, nothing recorded" \
  "2|error: request: item $Z was created at|0" \
  "$RC|$(grep -o "^error: request: item $Z was created at" <<<"$ERR")|$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'CASE-22'")"
# ---- a rerun or a repurge is no run over the catalog -----------------------------------------
# status --check raises a lookahead with no successful run: deadlines come due that no run
# batches. A rerun of one batch (or a replay's or reconcile's repurge run) was recorded as a
# run over the whole catalog and cleared it, while the timer's runs had stopped.
psql -X -q -c 'DROP DATABASE IF EXISTS review13_l' -c 'CREATE DATABASE review13_l' 2>/dev/null
PGDATABASE=review13_l "$LETHE" migrate >/dev/null
export PGDATABASE=review13_l
rm -f "$WORK/anchors.jsonl"
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" beta; mk_workspace "$T2" "$W2" EU
write_config "$WORK/fail.conf" 'executor: { command = "/bin/false"; };' 'schedule: { lookahead = "3s"; };'
write_config "$WORK/ok.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" 'schedule: { lookahead = "3s"; };'
V=$(uuid); mk_item "$T2" "$V" "$W2" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/fail.conf" request --tenant "$T2" --item "$V" --reference CASE-23
run_lethe --config "$WORK/fail.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'failed'")
sleep 4   # the lookahead passes with no run
run_lethe --config "$WORK/ok.conf" rerun "$FB" --operator user_o
assert_eq "the rerun purges the failed batch's item" "0|1" "$RC|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$V'")"
run_lethe --config "$WORK/ok.conf" status --check
assert_eq "status --check still says no run over the catalog succeeded within the lookahead" \
  "4|1" "$RC|$(grep -c 'check failed: no run succeeded within the lookahead (3s)' <<<"$ERR")"
run_lethe --config "$WORK/ok.conf" status --json
assert_eq "... and its last successful run is still the timer's, not the rerun" \
  "$(sql "SELECT run_id FROM lethe.runs WHERE trigger = 'timer'")" \
  "$(python3 -c 'import json,sys; print(*(r["run_id"] for r in json.load(sys.stdin)["last_successful_runs"]))' <<<"$OUT")"
run_lethe --config "$WORK/ok.conf" run --metrics-file "$WORK/l.prom"
assert_eq "a run clears it, and the gauge of the last success is that run's" "0|$(sql "SELECT extract(epoch FROM max(finished_at))::bigint FROM lethe.runs WHERE trigger = 'timer'")" \
  "$(PGDATABASE=review13_l "$LETHE" --config "$WORK/ok.conf" status --check >/dev/null 2>&1; echo $?)|$(sed -n 's/^lethe_last_success_timestamp_seconds{shard="all"} //p' "$WORK/l.prom")"
assert_eq "the runs say which is which" "timer rerun timer" "$(sql "SELECT string_agg(trigger, ' ' ORDER BY started_at) FROM lethe.runs WHERE trigger <> 'timer' OR outcome = 'succeeded'")"
# ---- a catch-up run --as-of a past time is no run within the lookahead -----------------------
# It judged its items at that time: whatever came due since, it batched nothing of. Finished
# just now, it cleared the check while the timer's runs had stopped.
sleep 4   # the lookahead passes with no run
PAST=$(date -u -d '-1 hour' +%FT%T)
run_lethe --config "$WORK/ok.conf" run --as-of "$PAST" --metrics-file "$WORK/past.prom"
assert_eq "a run --as-of an hour ago succeeds" "0|succeeded" "$RC|$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_eq "... and the gauge of the last success does not move to its end (the run before stays the last)" \
  "$(sql "SELECT extract(epoch FROM max(finished_at))::bigint FROM lethe.runs WHERE outcome = 'succeeded' AND as_of > '$PAST'")" \
  "$(sed -n 's/^lethe_last_success_timestamp_seconds{shard="all"} //p' "$WORK/past.prom")"
run_lethe --config "$WORK/ok.conf" status --check
assert_eq "status --check: it does not count as a run within the lookahead, and says why" \
  "4|1" "$RC|$(grep -c "check failed: no run succeeded within the lookahead (3s): the last one finished at .*, judging its items as of ${PAST}.000000Z" <<<"$ERR")"
run_lethe --config "$WORK/ok.conf" status
assert_contains "... status lists it as the last successful run, with the time it judged" \
  "run $(sql "SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1"), judging its items as of ${PAST}.000000Z" "$OUT"
run_lethe --config "$WORK/ok.conf" status --json
assert_eq "... status --json lists it as the last successful run, with its as_of" "${PAST}.000000Z" \
  "$(python3 -c 'import json,sys; print(*(r["as_of"] for r in json.load(sys.stdin)["last_successful_runs"]))' <<<"$OUT")"
run_lethe --config "$WORK/ok.conf" run
run_lethe --config "$WORK/ok.conf" status --check
assert_rc "a run now clears it" 0
finish
