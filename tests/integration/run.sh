# lethe run, ack and rerun against a real PostgreSQL and real executor processes: batches,
# manifests, acknowledgement, failures, timeouts, the run lock, shards, dry runs, metrics.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-run.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS run_t' -c 'CREATE DATABASE run_t' 2>/dev/null
export PGDATABASE=run_t
"$LETHE" migrate >/dev/null

T1=$(uuid); W1=$(uuid); W2=$(uuid)
mk_tenant "$T1" acme; mk_workspace "$T1" "$W1" EU; mk_workspace "$T1" "$W2" US
I1=$(uuid); I2=$(uuid); I3=$(uuid); C1=$(uuid); L1=$(uuid)
mk_item "$T1" "$I1" "$W1" prompt EU 2026-01-01T00:00:00Z
mk_item "$T1" "$I2" "$W1" response EU 2026-01-01T00:00:01Z
mk_item "$T1" "$I3" "$W2" upload US 2026-01-02T00:00:00Z
mk_item "$T1" "$C1" "$W1" retrieved ANZ "$(date -u -d '-3 days' +%FT%TZ)" true "$I1"   # a recent shared copy abroad
mk_item "$T1" "$L1" "$W1" system_log EU 2026-01-01T00:00:00Z
REQ_DAY=$(date -u -d '-1 day' +%F); DEADLINE_DAY=$(date -u -d "$REQ_DAY + 30 days" +%F)
mk_event "$T1" deletion_requested "${REQ_DAY}T00:00:00Z" TICKET-1 workspace_id "$W1"

# ---- dry run writes nothing ------------------------------------------------------------------
write_config "$WORK/noexec.conf"
run_lethe --config "$WORK/noexec.conf" run --dry-run --as-of "${REQ_DAY}T12:00:00Z"
assert_rc "dry run exits 0" 0
assert_contains "dry run plans 3 due items" "due 3 items, held 0" "$OUT"
assert_contains "dry run groups by location" "EU                                          2 items in 1 batch, 0 held" "$OUT"
assert_contains "dry run groups by rule" "deletion_request                            3 items" "$OUT"
assert_eq "dry run wrote no run record" "0" "$(sql 'SELECT count(*) FROM lethe.runs')"
assert_eq "dry run wrote no audit" "0" "$(sql 'SELECT count(*) FROM lethe.audit')"
assert_eq "dry run consumed nothing" "1" "$(sql 'SELECT count(*) FROM lethe.inbox_events_pending')"
assert_eq "dry run wrote no files" "no spool" "$([ -e "$WORK/spool" ] || echo no spool)"

run_lethe --config "$WORK/noexec.conf" run --as-of 2099-01-01T00:00:00Z
assert_rc "a future --as-of is refused" 2
assert_contains "future as-of message" "error: run: --as-of 2099-01-01T00:00:00.000000Z is in the future" "$ERR"
run_lethe --config "$WORK/noexec.conf" run --shard 2/2
assert_rc "a bad shard is refused" 2

# ---- without an executor batches wait for ack ------------------------------------------------
run_lethe --config "$WORK/noexec.conf" run --operator user_a
assert_rc "run without executor exits 0" 0
assert_contains "summary names the outcome" "succeeded" "$OUT"
assert_eq "two batches, one per location" "ANZ 1|EU 2" \
  "$(sql "SELECT string_agg(location || ' ' || items, '|' ORDER BY location) FROM lethe.batches")"
assert_eq "the system log is never batched" "0" "$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id = '$L1'")"
assert_eq "the upload in the other workspace is not covered" "0" "$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id = '$I3'")"
assert_eq "the run records the operator" "operator user_a succeeded" \
  "$(sql "SELECT trigger || ' ' || operator || ' ' || outcome FROM lethe.runs")"
EU_B=$(sql "SELECT batch_id FROM lethe.batches WHERE location = 'EU'")
ANZ_B=$(sql "SELECT batch_id FROM lethe.batches WHERE location = 'ANZ'")
M="$WORK/spool/EU/$EU_B.jsonl"
assert_eq "the manifest exists" "yes" "$([ -f "$M" ] && echo yes)"
assert_eq "manifest mode 0640, directory 0750" "640 750" "$(stat -c %a "$M") $(stat -c %a "$WORK/spool/EU")"
hdr=$(head -1 "$M")
assert_contains "manifest header" "{\"batch_id\":\"$EU_B\",\"run_id\":\"" "$hdr"
assert_contains "manifest header counts items" '"location":"EU","created_at":"' "$hdr"
assert_contains "manifest header ends with items" '"items":2}' "$hdr"
assert_eq "manifest item line" "{\"item_id\":\"$I1\",\"tenant_id\":\"$T1\",\"workspace_id\":\"$W1\",\"kind\":\"prompt\",\"locator\":\"file://$STORE/$I1\",\"rule\":\"deletion_request\",\"deadline_at\":\"${DEADLINE_DAY}T00:00:00.000000Z\"}" \
  "$(grep "$I1" "$M")"
assert_eq "in flight in item_status" "in_flight deletion_request" \
  "$(sql "SELECT state || ' ' || rule FROM lethe.item_status WHERE item_id = '$I1'")"
cp "$M" "$WORK/manifest.before"

# an idle run emits nothing and leaves the open batches' manifests alone
run_lethe --config "$WORK/noexec.conf" run
assert_rc "idle run exits 0" 0
assert_eq "idle run emits no batch" "2" "$(sql 'SELECT count(*) FROM lethe.batches')"
rm "$M"
run_lethe --config "$WORK/noexec.conf" run
assert_eq "a lost manifest of an open batch is written again byte for byte" "same" \
  "$(cmp -s "$M" "$WORK/manifest.before" && echo same)"

run_lethe ack 00000000-0000-0000-0000-00000000dead
assert_rc "ack of an unknown batch exits 2" 2
assert_contains "ack unknown message" "error: ack: unknown batch 00000000-0000-0000-0000-00000000dead" "$ERR"
run_lethe ack "$EU_B" --failed "$I3"
assert_rc "ack naming an item outside the batch exits 2" 2
assert_contains "ack outside message" "is not in batch $EU_B; nothing was changed" "$ERR"
assert_eq "nothing changed" "open" "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$EU_B'")"
run_lethe ack "not-a-uuid"
assert_rc "ack of a malformed id exits 2" 2

run_lethe ack "$EU_B" --failed "$I2:disk offline" --operator user_b
assert_rc "ack exits 0" 0
assert_eq "ack output: the batch is closed failed, not acknowledged" \
  "ack: batch $EU_B closed failed: 1 purged, 1 failed; its failed items are due again at the next run" "$OUT"
assert_eq "the acked item is tombstoned" "|" "$(sql "SELECT coalesce(locator,'') || '|' || coalesce(owner_id,'') FROM lethe.items WHERE item_id = '$I1'")"
assert_eq "the failed item keeps its locator" "file://$STORE/$I2" "$(sql "SELECT locator FROM lethe.items WHERE item_id = '$I2'")"
assert_eq "one item_purged record" "1" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$I1'")"
assert_eq "one item_failed record" "1" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_failed' AND item_id = '$I2'")"
assert_eq "the reason stays out of the audit" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE detail LIKE '%disk offline%'")"
assert_eq "the reason is on the batch record" "disk offline" "$(sql "SELECT reason FROM lethe.batch_items WHERE item_id = '$I2'")"
run_lethe ack "$EU_B" --failed "$I2:disk offline" --operator user_b
assert_rc "ack again exits 0" 0
assert_contains "ack again is a no-op" "was recorded already; nothing changed" "$OUT"
assert_eq "a batch with a failed item ends failed" "failed" "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$EU_B'")"
assert_eq "still one item_purged record" "1" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$I1'")"

# ---- a real executor (fs-delete) -------------------------------------------------------------
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/exec.conf" run
assert_rc "run with executor exits 0" 0
assert_eq "the failed item was retried and purged" "purged 1" \
  "$(sql "SELECT state || ' ' || attempts FROM lethe.item_status WHERE item_id = '$I2'")"
assert_eq "its file is gone" "gone" "$([ -e "$STORE/$I2" ] || echo gone)"
assert_eq "the open ANZ batch was re-driven and its copy purged" "acknowledged purged" \
  "$(sql "SELECT b.state || ' ' || s.state FROM lethe.batches b, lethe.item_status s WHERE b.batch_id = '$ANZ_B' AND s.item_id = '$C1'")"
assert_eq "the copy's file in the other region is gone" "gone" "$([ -e "$STORE/$C1" ] || echo gone)"
assert_eq "files outside the obligation stay" "kept kept" "$([ -e "$STORE/$I3" ] && echo kept) $([ -e "$STORE/$L1" ] && echo kept)"
assert_eq "each purged item audited once" "3 3" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged'")"
assert_eq "on time" "t" "$(sql "SELECT bool_and(on_time) FROM lethe.audit WHERE kind = 'item_purged'")"
assert_eq "no locator in the audit" "0" "$(sql "SELECT count(*) FROM lethe.audit a WHERE a::text LIKE '%$STORE%'")"

# ---- executor failures -----------------------------------------------------------------------
T2=$(uuid); W3=$(uuid); mk_tenant "$T2" beta; mk_workspace "$T2" "$W3" UK
J1=$(uuid); J2=$(uuid); J3=$(uuid)
mk_item "$T2" "$J1" "$W3" prompt UK 2026-01-01T00:00:00Z
mk_item "$T2" "$J2" "$W3" prompt UK 2026-01-01T00:00:00Z
mk_item "$T2" "$J3" "$W3" prompt UK 2026-01-01T00:00:00Z
mk_event "$T2" capacity_deleted "${REQ_DAY}T00:00:00Z"
cat > "$WORK/partial.sh" <<EOS
#!/bin/sh
# fails one item, receipts the others; prints to stderr
echo "partial executor for \$LETHE_BATCH_ID in \$LETHE_LOCATION" >&2
echo "deleted $J1"
echo "failed $J2 permission denied"
echo "absent $J3"
exit 0
EOS
chmod +x "$WORK/partial.sh"
write_config "$WORK/partial.conf" "executor: { locations: { UK = \"$WORK/partial.sh\"; }; };"
run_lethe --config "$WORK/partial.conf" run
assert_rc "a run with failed items still exits 0" 0
assert_contains "the executor's stderr reaches the log as it is" "executor: partial executor for" "$ERR"
assert_contains "the failed item is logged with its reason" "failed: permission denied" "$ERR"
assert_eq "two purged, one failed" "due 1|purged 2" \
  "$(sql "SELECT string_agg(state || ' ' || n, '|' ORDER BY state) FROM (SELECT state, count(*) n FROM lethe.item_status WHERE tenant_id = '$T2' GROUP BY state) s")"
assert_eq "attempts counted" "1" "$(sql "SELECT attempts FROM lethe.item_status WHERE item_id = '$J2'")"

cat > "$WORK/crash.sh" <<'EOS'
#!/bin/sh
echo "backend unavailable" >&2
exit 3
EOS
chmod +x "$WORK/crash.sh"
write_config "$WORK/crash.conf" "executor: { command = \"$WORK/crash.sh\"; };"
run_lethe --config "$WORK/crash.conf" run
assert_rc "a failed batch still exits 0" 0
FB=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'failed' ORDER BY created_at DESC LIMIT 1")
assert_eq "the batch failed with the exit status" "failed exit status 3" \
  "$(sql "SELECT state || ' ' || (SELECT detail FROM lethe.audit WHERE kind = 'batch_failed' AND batch_id = '$FB') FROM lethe.batches WHERE batch_id = '$FB'")"
assert_contains "the executor's stderr is on the batch record" "backend unavailable" "$(sql "SELECT error FROM lethe.batches WHERE batch_id = '$FB'")"
assert_eq "attempts now 2" "2" "$(sql "SELECT attempts FROM lethe.item_status WHERE item_id = '$J2'")"

cat > "$WORK/hang.sh" <<EOS
#!/bin/sh
sleep 300 &
echo \$! > $WORK/hang.child
wait
EOS
chmod +x "$WORK/hang.sh"
write_config "$WORK/hang.conf" "executor: { command = \"$WORK/hang.sh\"; timeout = \"2s\"; };"
start=$(date +%s)
run_lethe --config "$WORK/hang.conf" run
took=$(( $(date +%s) - start ))
assert_rc "a hanging executor's run exits 0" 0
assert_eq "it was stopped at the timeout" "yes" "$([ $took -lt 30 ] && echo yes)"
assert_eq "timed out batch failed" "timed out after 2s" "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'batch_failed' ORDER BY at DESC LIMIT 1")"
# The deleter wrote nothing to stderr: `batches` showed lethe's own "timed out after 2s" as its
# stderr (an outside tryout's finding); the reason is the items' own.
TB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE reason = 'timed out after 2s' LIMIT 1")
run_lethe --config "$WORK/hang.conf" batches --state failed
assert_eq "batches: the timed-out batch's items' reason, and no stderr the deleter never wrote" \
  "  failed:   1 of 1 item: timed out after 2s: 1|" \
  "$(grep -A8 "^batch $TB" <<<"$OUT" | grep '^  failed:')|$(grep -A8 "^batch $TB" <<<"$OUT" | grep -c 'stderr:' | grep -v '^0$')"
sleep 0.5
# a killed child may linger as a zombie until something reaps it: that is dead too
child_state=$(awk '{print $3}' "/proc/$(cat "$WORK/hang.child")/stat" 2>/dev/null)
assert_eq "its whole process group was killed" "dead" "$([ -z "$child_state" ] || [ "$child_state" = Z ] && echo dead)"
run_lethe --config "$WORK/exec.conf" status --check >/dev/null 2>&1 || true

# rerun of a failed batch puts the still-due item in a new batch at once
HB=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'failed' ORDER BY created_at DESC LIMIT 1")
write_config "$WORK/uk.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
run_lethe --config "$WORK/uk.conf" rerun "$HB" --operator user_c
assert_rc "rerun exits 0" 0
assert_contains "rerun says what it did" "still-due items put in new batch" "$OUT"
assert_eq "the item is purged after three failures" "purged" "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$J2'")"
assert_eq "the rerun is audited with the operator, and its new batch" "user_c new batch $(sql "SELECT batch_id FROM lethe.batches WHERE rerun_of = '$HB'")" \
  "$(sql "SELECT operator || ' ' || detail FROM lethe.audit WHERE kind = 'operator_rerun' AND batch_id = '$HB'")"
run_lethe --config "$WORK/uk.conf" rerun "$HB"
assert_rc "a second rerun of that failed batch finds nothing due" 0
assert_contains "nothing due any more" "none of its items is due any more" "$OUT"
run_lethe --config "$WORK/uk.conf" rerun "$ANZ_B"
assert_rc "rerun of an acknowledged batch exits 2" 2
assert_eq "... saying so, and where to look with the batch id the operator has" \
  "error: rerun: batch $ANZ_B is acknowledged; there is nothing to rerun
hint: 'lethe batches --state acknowledged' lists it; 'lethe explain ITEM_ID', for an item of its manifest, shows when that item was purged" "$ERR"

# a late ack of an earlier, failed attempt still counts
T3=$(uuid); W4=$(uuid); mk_tenant "$T3" gamma; mk_workspace "$T3" "$W4" US
K1=$(uuid); mk_item "$T3" "$K1" "$W4" pinned US 2026-01-01T00:00:00Z
mk_event "$T3" deletion_requested "${REQ_DAY}T00:00:00Z" TICKET-3 item_id "$K1"
run_lethe --config "$WORK/crash.conf" run
KB1=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$K1'")
run_lethe --config "$WORK/noexec.conf" run
KB2=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$K1' AND outcome IS NULL")
assert_eq "the item is in a second, open batch" "yes" "$([ -n "$KB2" ] && [ "$KB2" != "$KB1" ] && echo yes)"
run_lethe ack "$KB1"
assert_rc "late ack of the failed attempt exits 0" 0
assert_eq "the item is purged once" "purged 1" "$(sql "SELECT s.state || ' ' || (SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$K1') FROM lethe.item_status s WHERE item_id = '$K1'")"
run_lethe ack "$KB2"
assert_eq "the late ack closed the second batch: acking it says why nothing was purged in it" \
    "ack: batch $KB2 was already acknowledged: its items had been purged through another batch; nothing changed" "$OUT"
assert_eq "the second batch is acknowledged" "acknowledged" "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$KB2'")"
assert_eq "acking the second batch does not purge it again" "1" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$K1'")"

# ---- the run lock and shards -----------------------------------------------------------------
( psql -X -q -c "SET application_name = 'lethe/run/11111111-1111-1111-1111-111111111111'" \
       -c "SELECT pg_advisory_lock(7283310, 0)" -c "SELECT pg_sleep(20)" >/dev/null 2>&1 & echo $! > "$WORK/locker" )
for i in $(seq 50); do [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 7283310")" = 1 ] && break; sleep 0.1; done
run_lethe --config "$WORK/noexec.conf" run
assert_rc "a second run exits 3 while the lock is held" 3
assert_contains "the holder is named" "error: the run lock is held by run 11111111-1111-1111-1111-111111111111, started " "$ERR"
run_lethe --config "$WORK/noexec.conf" run --shard 0/2
assert_rc "a shard run also conflicts with a whole run" 3
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lethe/run/1111%'" >/dev/null
sleep 0.3

"$LETHE" --config "$WORK/exec.conf" run --shard 0/2 >"$WORK/s0.out" 2>&1 & s0=$!
"$LETHE" --config "$WORK/exec.conf" run --shard 1/2 >"$WORK/s1.out" 2>&1 & s1=$!
wait $s0; r0=$?; wait $s1; r1=$?
assert_eq "two shards run side by side" "0 0" "$r0 $r1"
assert_eq "both recorded their shard" "0/2 1/2" "$(sql "SELECT string_agg(shard, ' ' ORDER BY shard) FROM lethe.runs WHERE shard IS NOT NULL")"
# After a shard run status asks which open batches no shard run re-drives; on Citus that
# statement joined local tables with a distributed one, and every status after a shard run failed.
run_lethe --config "$WORK/exec.conf" status
assert_rc "status after shard runs exits 0" 0
run_lethe --config "$WORK/exec.conf" status --json
assert_eq "... and so does status --json, with each shard's last run" "0 True" \
  "$RC $(printf '%s' "$OUT" | python3 -c "import json,sys; s=[r['shard'] for r in json.load(sys.stdin)['last_successful_runs']]; print('0/2' in s and '1/2' in s)" 2>&1)"

# A tenant's shard is its Citus shard among 32, modulo N (sql/0027_shard_placement.sql), as
# tests/model/shard_hash.py works it out from the uuid's bytes on its own.
sql "SELECT u || ' ' || n || ' ' || lethe.shard_of(u, n)
       FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 1000)) t,
            (VALUES (1), (2), (3), (7), (32)) v (n) ORDER BY 1" > "$WORK/shards.sql.txt"
cut -d' ' -f1,2 "$WORK/shards.sql.txt" | python3 tests/model/shard_hash.py > "$WORK/shards.model.txt"
assert_eq "shards: lethe.shard_of agrees with the model on 5,000 tenant/N pairs" "5000 same" \
  "$(wc -l < "$WORK/shards.sql.txt") $(cmp -s "$WORK/shards.sql.txt" "$WORK/shards.model.txt" && echo same)"
assert_eq "shards: 1,000 tenants fall in all 32 buckets" "32" \
  "$(awk '$2 == 32 {print $3}' "$WORK/shards.sql.txt" | sort -u | wc -l)"
run_lethe --config "$WORK/noexec.conf" run --shard 3/33
assert_rc "shards: N above 32 is a usage error" 2
assert_contains "shards: ... which says why" \
  "error: run: --shard 3/33: N is at most 32: tenants are hashed into 32 buckets (Citus's shards), and shard K/N is the buckets equal to K modulo N" "$ERR"
run_lethe --config "$WORK/noexec.conf" run --shard 31/32 --dry-run
assert_rc "shards: 31/32 is a shard" 0
# A request waiting on its tenant (another session holds the tenant's chain head) held its
# lock in class 7283312, the shard runs' lock: a shard run took it for a run and exited 3 (an
# outside tryout's finding). The request's lock has a class of its own.
psql -X -q -c "BEGIN" -c "SELECT 1 FROM lethe.audit_heads WHERE tenant_id = '$T1' FOR UPDATE" \
  -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null 2>&1 & HOLDER=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(4)'"
"$LETHE" request --tenant "$T1" --item "$I3" --reference WAITING-1 >/dev/null 2>&1 & REQ=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lethe/request/%' AND wait_event_type = 'Lock'"
OTHER=$(sql "SELECT 1 - lethe.shard_of('$T1', 2)")   # a shard without the request's tenant
run_lethe --config "$WORK/noexec.conf" run --shard "$OTHER/2"
assert_rc "shards: a request waiting on its tenant is no run: a shard's run goes on" 0
wait $HOLDER $REQ
assert_eq "... and the request is recorded once its tenant's chain is free" "1" \
  "$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'WAITING-1'")"

# ---- a purged item still explains the obligation it was purged under, although the tombstone
# no longer names its subject
T5=$(uuid); W6=$(uuid); mk_tenant "$T5" epsilon; mk_workspace "$T5" "$W6" EU
S1=$(uuid); mk_item "$T5" "$S1" "$W6" prompt EU 2026-01-01T00:00:00Z false "" "subject-5@example"
"$LETHE" request --tenant "$T5" --subject "subject-5@example" --reference GDPR-5 >/dev/null
run_lethe --config "$WORK/exec.conf" run
assert_eq "the subject's item is purged" "purged subject_request" "$(sql "SELECT state || ' ' || rule FROM lethe.item_status WHERE item_id = '$S1'")"
run_lethe explain --json "$S1"
assert_eq "explain lists the obligation it was purged under" "[('subject_request', 'GDPR-5')]"   "$(echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([(o["rule"], o["reference"]) for o in d["obligations"]])')"

# ---- manifests of closed batches leave the spool after spool.keep, since they hold locators
write_config "$WORK/prune.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
sed -i 's/keep = "7d"/keep = "0s"/' "$WORK/prune.conf"
closed=$(sql "SELECT count(*) FROM lethe.batches WHERE state <> 'open' AND manifest_removed_at IS NULL")
run_lethe --config "$WORK/prune.conf" run
assert_rc "a run with keep 0s exits 0" 0
assert_eq "every closed batch's manifest is recorded as removed" "0" \
  "$(sql "SELECT count(*) FROM lethe.batches WHERE state <> 'open' AND manifest_removed_at IS NULL")"
assert_eq "and no closed batch's manifest is left in the spool" "0" \
  "$(for b in $(sql "SELECT location || '/' || batch_id FROM lethe.batches WHERE state <> 'open'"); do [ -e "$WORK/spool/$b.jsonl" ] && echo x; done | wc -l)"
assert_eq "there were closed batches to prune" "yes" "$([ "$closed" -gt 0 ] && echo yes)"

# ---- manners: -q (systemd's journal has a suite of its own: journal.sh) ------------------------
run_lethe -q --config "$WORK/exec.conf" run
assert_rc "-q run exits 0" 0
assert_eq "-q silences information" "" "$ERR"

# ---- metrics and the run record ----------------------------------------------------------------
T4=$(uuid); W5=$(uuid); mk_tenant "$T4" delta; mk_workspace "$T4" "$W5" EU
M1=$(uuid); mk_item "$T4" "$M1" "$W5" prompt EU 2026-01-01T00:00:00Z
mk_event "$T4" deletion_requested "${REQ_DAY}T00:00:00Z" TICKET-4
run_lethe --config "$WORK/exec.conf" run --metrics-file "$WORK/lethe.prom"
assert_rc "run with metrics exits 0" 0
assert_contains "metrics: purged by rule and location" 'lethe_run_items_purged_by_rule{shard="all",rule="deletion_request",location="EU"} 1' "$(cat "$WORK/lethe.prom")"
assert_contains "metrics: last success" "lethe_last_success_timestamp_seconds{shard=\"all\"} 1" "$(cat "$WORK/lethe.prom")"
assert_contains "metrics: run success" "lethe_run_success{shard=\"all\"} 1" "$(cat "$WORK/lethe.prom")"
assert_eq "no temporary metrics file left" "" "$(ls "$WORK" | grep 'prom.tmp')"
# ---- a late acknowledgement after the item went into another batch ---------------------------
# A batch fails an item; the next run hands the item out again in a new batch; then the first
# deleter's receipt arrives after all (lethe ack of the failed batch). The item is purged once:
# the new batch gives it up (superseded), and acknowledging that batch purges nothing again.
T5=$(uuid); W6=$(uuid); mk_tenant "$T5" epsilon; mk_workspace "$T5" "$W6" EU
N1=$(uuid); N2=$(uuid)
mk_item "$T5" "$N1" "$W6" prompt EU 2026-01-01T00:00:00Z
mk_item "$T5" "$N2" "$W6" response EU 2026-01-01T00:00:00Z
mk_event "$T5" deletion_requested "${REQ_DAY}T00:00:00Z" TICKET-5
run_lethe --config "$WORK/noexec.conf" run
LB1=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE item_id = '$N1'")
run_lethe ack "$LB1" --failed "$N1:not reachable"
assert_eq "late ack: the first batch failed its item" "failed" \
  "$(sql "SELECT outcome FROM lethe.batch_items WHERE batch_id = '$LB1' AND item_id = '$N1'")"
run_lethe --config "$WORK/noexec.conf" run
LB2=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$N1' AND outcome IS NULL")
assert_eq "late ack: the next run hands the item out again" "open" \
  "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$LB2' AND batch_id <> '$LB1'")"
run_lethe ack "$LB1"
assert_rc "late ack: the failed batch's late receipt is taken" 0
assert_eq "late ack: the item is purged through the first batch" "purged" \
  "$(sql "SELECT outcome FROM lethe.batch_items WHERE batch_id = '$LB1' AND item_id = '$N1'")"
assert_eq "late ack: the new batch gives the item up" "superseded" \
  "$(sql "SELECT outcome FROM lethe.batch_items WHERE batch_id = '$LB2' AND item_id = '$N1'")"
run_lethe ack "$LB2"
assert_rc "late ack: the new batch is acknowledged" 0
assert_eq "late ack: one item_purged record for the item" "1" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$N1'")"
assert_eq "late ack: and one purged batch item" "1" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id = '$N1' AND outcome = 'purged'")"
# ---- two acknowledgements of the same items at the same time ---------------------------------
# The failed batch's late acknowledgement is still open (a transaction that has purged the item
# and not committed) when the batch that holds the item again is acknowledged. The second waits
# for the first, then sees the purge: the item is purged and audited once, and the second ack
# succeeds (it failed on the unique purge index before).
T6=$(uuid); W7=$(uuid); mk_tenant "$T6" zeta; mk_workspace "$T6" "$W7" EU
P1=$(uuid); mk_item "$T6" "$P1" "$W7" prompt EU 2026-01-01T00:00:00Z
mk_event "$T6" deletion_requested "${REQ_DAY}T00:00:00Z" TICKET-6
run_lethe --config "$WORK/noexec.conf" run
PB1=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$P1'")
run_lethe ack "$PB1" --failed "$P1:not reachable"
run_lethe --config "$WORK/noexec.conf" run
PB2=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$P1' AND outcome IS NULL")
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null \
  -c "BEGIN" -c "SELECT lethe.audit_stage_open()" \
  -c "SELECT * FROM lethe.ack_batch('$PB1', ARRAY['$P1']::uuid[], NULL, NULL, false, false, NULL, 'late')" \
  -c "SELECT pg_sleep(3)" -c "SELECT lethe.audit_flush()" -c "COMMIT" > "$WORK/late.out" 2>&1 &
LATE=$!
# Wait until the late acknowledgement has done its work and sleeps, uncommitted.
for _ in $(seq 100); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)'")" = 1 ] && break
    sleep 0.1
done
run_lethe ack "$PB2"
wait $LATE; late_rc=$?
assert_eq "concurrent acks: the late acknowledgement commits" "0" "$late_rc"
assert_rc "concurrent acks: the other waits its turn and succeeds" 0
assert_eq "concurrent acks: the item is purged once, through the late batch" "$PB1 purged" \
  "$(sql "SELECT batch_id || ' ' || outcome FROM lethe.batch_items WHERE item_id = '$P1' AND outcome = 'purged'")"
assert_eq "concurrent acks: and audited once" "1" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$P1'")"
assert_eq "concurrent acks: the other batch gave it up" "superseded" \
  "$(sql "SELECT outcome FROM lethe.batch_items WHERE batch_id = '$PB2' AND item_id = '$P1'")"
# ---- lethe's sessions run without JIT (README, "Choices") ----------------------------------
# With JIT made as eager as it gets for this database and every plan logged, a psql session's
# plans show JIT at work, and a whole lethe run's show none.
LOG=${SERVER_LOG:-$PGHOST/server.log}   # the coordinator's log under make check-citus
jit_lines() { tail -c +"$1" "$LOG" | grep -c 'JIT:'; }
psql -X -q -d postgres -c "ALTER DATABASE run_t SET session_preload_libraries = 'auto_explain'" \
  -c "ALTER DATABASE run_t SET auto_explain.log_min_duration = 0" \
  -c "ALTER DATABASE run_t SET jit = on" -c "ALTER DATABASE run_t SET jit_above_cost = 0"
from=$(($(stat -c %s "$LOG") + 1))
psql -X -q -d run_t -o /dev/null -c "SELECT count(*) FROM lethe.items"
assert_eq "JIT: a psql session with these settings compiles its plan" "yes" \
  "$([ "$(jit_lines "$from")" -gt 0 ] && echo yes)"
from=$(($(stat -c %s "$LOG") + 1))
run_lethe --config "$WORK/noexec.conf" run
assert_rc "JIT: the run exits 0" 0
# Under make check-citus the coordinator's log holds its tasks' plans from the workers too, whose
# connections do not carry lethe's SET jit = off (README, "Outgrowing one server"): not asserted.
[ -z "${CITUS_DIR:-}" ] && assert_eq "JIT: none of the run's plans is compiled" "0" "$(jit_lines "$from")"
psql -X -q -d postgres -c "ALTER DATABASE run_t RESET ALL"
assert_eq "every run ended" "0" "$(sql "SELECT count(*) FROM lethe.runs WHERE outcome = 'running'")"
assert_eq "each run has start and finish records" "t" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.audit WHERE kind = 'run_started') = (SELECT count(*) FROM lethe.audit WHERE kind = 'run_finished')")"
assert_eq "each run and rerun ends with a checkpoint" "t" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.audit WHERE kind = 'checkpoint') = (SELECT count(*) FROM lethe.runs)")"

# ---- the inbox is vacuumed whole (sql/0026_queue_vacuum.sql) --------------------------------
# After a large ingest, a few rows written behind it and consumed by the next run leave dead
# items on too few pages for VACUUM to clean the index; without index cleanup the heap kept
# every page of the ingest, and every idle run read them. With it, the empty inbox is empty on
# disk too.
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS run_inbox' -c 'CREATE DATABASE run_inbox' 2>/dev/null
export PGDATABASE=run_inbox
"$LETHE" migrate >/dev/null
printf 'audit: { anchor_file = "%s"; };\n' "$WORK/anchors-inbox.jsonl" > "$WORK/inbox.conf"
assert_eq "the queues keep index cleanup on" \
  "inbox_events {vacuum_index_cleanup=on}|inbox_items {vacuum_index_cleanup=on}|status_dirty {vacuum_index_cleanup=on}" \
  "$(sql "SELECT string_agg(relname || ' ' || reloptions::text, '|' ORDER BY relname)
            FROM pg_class WHERE relnamespace = 'lethe'::regnamespace
             AND relname IN ('inbox_events', 'inbox_items', 'status_dirty')")"
TI=$(uuid); WI=$(uuid)
mk_tenant "$TI" ingest; mk_workspace "$TI" "$WI" EU
ingest() {
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
         SELECT '$TI', gen_random_uuid(), '$WI', 'prompt', 'EU', 'file:///nonexistent/x', now()
           FROM generate_series(1, $1)" >/dev/null
}
for _ in 1 2 3 4 5; do ingest 10000; done
run_lethe --config "$WORK/inbox.conf" run
assert_rc "inbox: the run over 50,000 new items exits 0" 0
ingest 300
sql "VACUUM ANALYZE lethe.inbox_items" >/dev/null
run_lethe --config "$WORK/inbox.conf" run
assert_rc "inbox: the run over 300 more exits 0" 0
# (Again while a snapshot of another session, an autovacuum's analyze, keeps the rows the run
# deleted: under load one did.)
for _ in 1 2 3 4 5; do
  sql "VACUUM lethe.inbox_items" >/dev/null
  [ "$(sql "SELECT pg_relation_size('lethe.inbox_items')")" = 0 ] && break; sleep 1
done
assert_eq "inbox: consumed and vacuumed, the inbox holds no page" "0 0" \
  "$(sql "SELECT count(*) || ' ' || pg_relation_size('lethe.inbox_items') / current_setting('block_size')::int
            FROM lethe.inbox_items")"
# ---- an ack's words follow the batch's state ---------------------------------------------------
# A second ack that purged a failed item late, while another stayed failed, said "acknowledged"
# of a batch that stayed failed.
psql -X -q -c 'DROP DATABASE IF EXISTS run_t2' -c 'CREATE DATABASE run_t2' 2>/dev/null
export PGDATABASE=run_t2
"$LETHE" migrate >/dev/null
T9=$(uuid); W9=$(uuid); K1=$(uuid); K2=$(uuid); K3=$(uuid)
mk_tenant "$T9" acme; mk_workspace "$T9" "$W9" EU
for k in "$K1" "$K2" "$K3"; do mk_item "$T9" "$k" "$W9" prompt EU 2026-01-01T00:00:00Z; done
mk_event "$T9" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" TICKET-9
rm -rf "$WORK/spool" "$WORK/anchors.jsonl"
run_lethe --config "$WORK/noexec.conf" run
B9=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe --config "$WORK/noexec.conf" ack "$B9" --failed "$K1" --failed "$K2"
assert_eq "an ack that fails items: closed failed" \
  "ack: batch $B9 closed failed: 1 purged, 2 failed; its failed items are due again at the next run" "$OUT"
run_lethe --config "$WORK/noexec.conf" ack "$B9" --failed "$K2:again"
# It said "0 failed" of the item still failed (an outside tryout read it as none left).
assert_eq "a late ack that purges one of them: still closed failed, as the batch is, saying what stays failed" \
  "ack: batch $B9 closed failed: 1 purged, 0 failed, 1 failed before and still failed (with the reason given first); its failed items are due again at the next run|failed" \
  "$OUT|$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B9'")"
assert_eq "... the reason given first kept" "$K2|failed (ack)" \
  "$(sql "SELECT item_id || '|' || reason FROM lethe.batch_items WHERE batch_id = '$B9' AND outcome = 'failed'")"
export PGDATABASE=run_t
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS run_t2' 2>/dev/null

finish
