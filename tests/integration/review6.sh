# Review of the SQL layer (every statement in engine/db*.c, every result read by column name):
# the reads no other suite asserts, each on the path that reaches it, word for word as the
# reads by position printed them before. A column name that a statement does not give aborts
# ("internal error: no column"), and a wrong one prints another column's value; both show only
# on the path that reads it: explain's rarer lines, rerun's "where its items went", batches'
# rerun_of, status's held list and purged violations, and replay's anchor that a database
# holds another record for.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review6.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS review6_t' -c 'CREATE DATABASE review6_t' 2>/dev/null
export PGDATABASE=review6_t
"$LETHE" migrate >/dev/null
cat > "$WORK/fail" <<'EOS'
#!/bin/sh
tail -n +2 "$1" | sed -e 's/^{"item_id":"\([^"]*\)".*/failed \1 disk offline/'
EOS
chmod +x "$WORK/fail"
write_config "$WORK/noexec.conf"
write_config "$WORK/fail.conf" "executor: { command = \"$WORK/fail\"; };"
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
ago() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }
no_abort() { assert_not_contains "$1: no aborted read" "internal error" "$ERR"; }

T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
A=$(uuid); B=$(uuid); P=$(uuid); C=$(uuid)
mk_item "$T" "$A" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$B" "$W" prompt EU 2026-01-01T00:00:01Z
mk_item "$T" "$P" "$W" prompt EU 2026-01-01T00:00:02Z
mk_item "$T" "$C" "$W" retrieved ANZ 2026-01-02T00:00:00Z false "$P"
mk_event "$T" deletion_requested "$(ago 1)" REQ-1 workspace_id "$W"

# ---- rerun: a failed batch whose items another batch purged ------------------------------
run_lethe --config "$WORK/fail.conf" run
assert_rc "the first run fails its batches" 0
FAILED=$(sql "SELECT batch_id FROM lethe.batches WHERE location = 'EU'")
run_lethe --config "$WORK/exec.conf" run
assert_rc "the next run purges them in new batches" 0
AGAIN=$(sql "SELECT batch_id FROM lethe.batches WHERE location = 'EU' AND state = 'acknowledged'")
run_lethe --config "$WORK/exec.conf" rerun "$FAILED"
assert_rc "rerun of a batch none of whose items is due exits 0" 0
assert_eq "rerun says where its items went, in the plural" \
  "rerun: 3 of its items were purged in batch $AGAIN" "$(grep 'of its items' <<<"$ERR")"
no_abort "rerun"

# ---- batches: a rerun's new batch names the batch it reruns ------------------------------
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" globex; mk_workspace "$T2" "$W2" UK
G=$(uuid); mk_item "$T2" "$G" "$W2" upload UK 2026-01-01T00:00:00Z
mk_event "$T2" deletion_requested "$(ago 1)" REQ-G item_id "$G"
run_lethe --config "$WORK/fail.conf" run
GF=$(sql "SELECT batch_id FROM lethe.batches WHERE location = 'UK'")
run_lethe --config "$WORK/noexec.conf" rerun "$GF"
assert_rc "rerun of a failed batch with a due item exits 0" 0
GN=$(sql "SELECT batch_id FROM lethe.batches WHERE rerun_of = '$GF'")
assert_contains "rerun puts the due item in a new batch" \
  "rerun: failed batch $GF: still-due items put in new batch $GN: 0 purged, 0 failed" "$OUT"
run_lethe batches --tenant "$T2" --state open
assert_contains "batches shows what a batch reruns" "  rerun of: $GF
  tenant:   $T2 (globex)" "$OUT"
run_lethe batches --tenant "$T2" --state open --json
assert_contains "batches --json names the batch it reruns, then the shard" \
  "\"rerun_of\": \"$GF\", \"shard\": null, \"tenant_count\": 1" "$OUT"
no_abort "batches"

# ---- explain: governing, holds (blocking, via an ancestor, not yet placed), withdrawal to come
T3=$(uuid); W3=$(uuid); mk_tenant "$T3" initech; mk_workspace "$T3" "$W3" EU
X=$(uuid); Y=$(uuid); Z=$(uuid)
mk_item "$T3" "$X" "$W3" prompt EU 2026-01-01T00:00:00Z false "" carol
mk_item "$T3" "$Y" "$W3" retrieved ANZ 2026-01-02T00:00:00Z false "$X"
mk_item "$T3" "$Z" "$W3" upload EU 2026-01-03T00:00:00Z
mk_event "$T3" deletion_requested "$(ago 1)" REQ-X item_id "$X"
run_lethe --config "$WORK/noexec.conf" run
assert_rc "the request's items go to open batches" 0
XB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$X'")
# Capacity deleted long ago: its deadline has passed, so it governs the item in flight now.
mk_event "$T3" capacity_deleted "$(ago 200)"
run_lethe hold place --tenant "$T3" --subject carol --reason litigation --operator op
HX=$OUT
run_lethe hold place --tenant "$T3" --item "$Z" --reason audit --operator op
HZ=$OUT
HF=$(sql "INSERT INTO lethe.holds (tenant_id, item_id, reason, placed_at) VALUES ('$T3', '$Z', 'later', now() + interval '1 day') RETURNING hold_id")
run_lethe --config "$WORK/noexec.conf" run
assert_rc "the run derives the capacity deletion" 0
mk_event "$T3" deletion_cancelled "$(date -u -d '+1 day' +%FT%TZ)" REQ-X
run_lethe explain "$X"
assert_rc "explain an item in flight under another rule" 0
assert_contains "explain says the batch keeps its rule" \
  "governing  capacity_deleted now (the batch keeps the rule it was made under)" "$OUT"
assert_contains "explain marks the governing obligation" "  capacity_deleted (governing)" "$OUT"
assert_contains "explain shows the batch with its state and rule" "  $XB open, item in flight
    rule      deletion_request, deadline" "$OUT"
no_abort "explain in flight"
run_lethe explain "$Y"
assert_contains "explain shows a hold through the ancestor" "  $HX active
    scope     subject carol
    via       ancestor $X
    reason    litigation" "$OUT"
run_lethe explain "$Z"
assert_contains "explain shows the hold that keeps the item" \
  "  $HZ active, keeps the item from being due" "$OUT"
assert_contains "explain shows a hold not placed yet" "  $HF not yet placed
    scope     item $Z
    reason    later" "$OUT"
no_abort "explain held"
run_lethe --config "$WORK/noexec.conf" run
run_lethe explain "$X"
assert_contains "explain shows a withdrawal that is not in effect yet" \
  "(not in effect yet)" "$(grep '^    withdrawn ' <<<"$OUT")"
N=$(uuid); mk_item "$T3" "$N" "$W3" prompt EU 2026-01-04T00:00:00Z
run_lethe explain "$N"
assert_contains "explain notes an item not consumed yet" \
  "note: the item itself is not consumed by a run yet" "$OUT"
run_lethe explain "$N" --json
assert_contains "explain --json says the item is not consumed yet" '"unconsumed_item": true' "$OUT"
no_abort "explain not consumed"

# ---- status: a held item past its deadline names its hold; purged violations are counted ---
T4=$(uuid); W4=$(uuid); mk_tenant "$T4" hooli; mk_workspace "$T4" "$W4" EU
mk_event "$T4" sharing_opted_out "$(ago 30)"
V=$(uuid); mk_item "$T4" "$V" "$W4" prompt EU "$(ago 20)" true
run_lethe --config "$WORK/exec.conf" run
run_lethe status
assert_contains "status lists the held item past its deadline with its hold" \
  " held      item $Z tenant $T3 (initech) hold $HZ" "$OUT"
assert_contains "status counts the violations purged" \
  "violations not purged yet (shared copies made while opted out): 0
  and 1 purged" "$OUT"
no_abort "status"

# ---- replay: an anchored chain the database holds another record for ----------------------
run_lethe export --tenant "$T3" -o "$WORK/t3.jsonl"
assert_rc "the tenant's chain is exported" 0
tail -n 1 "$WORK/anchors.jsonl" | sed "s/\(\"chain\":\"$T2\",\"seq\":[0-9]*,\"hash\":\"\)[0-9a-f]*/\1$(printf '0%.0s' $(seq 64))/" \
  > "$WORK/tampered.jsonl"
seq2=$(grep -o "\"chain\":\"$T2\",\"seq\":[0-9]*" "$WORK/tampered.jsonl" | grep -o '[0-9]*$')
# The chain goes on past the anchored record, which the database holds in another form.
run_lethe hold place --tenant "$T2" --reason review --operator op
run_lethe replay --anchors "$WORK/tampered.jsonl" "$WORK/t3.jsonl"
assert_rc "replay against an anchor the database diverges from exits 4" 4
assert_contains "replay names the chain whose anchored record the database replaced" \
  "error: replay: the database is still behind its anchor: chain $T2 holds another record at seq $seq2" "$ERR"
no_abort "replay"

finish
