# Review of what lethe says was deleted, attacked as an adversary and checked as an auditor
# would: a superuser's edit of one tenant's anchored records (SPEC §7), a monthly export whose
# tail was cut and whose exported_at was moved back (SPEC §5, verify --anchors), and a purge
# after the deadline excused by a hold that had ended before it (SPEC §3, holds).
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review9.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; for d in review9_a review9_h; do
      psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done' EXIT
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
write_config "$WORK/noexec.conf"
A=$WORK/anchors.jsonl
NIL=00000000-0000-0000-0000-000000000000
now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
ago() { date -u -d "-$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- a hold that ended before the deadline does not excuse a late purge ------------------------
# SPEC §3: an item held past its deadline and purged after release is counted as held, not late.
# A hold released before the deadline kept nothing past it: the item that was once blocked by it
# and purged late is late, like its twin that was never held.
psql -X -q -c 'DROP DATABASE IF EXISTS review9_h' -c 'CREATE DATABASE review9_h' 2>/dev/null
export PGDATABASE=review9_h
"$LETHE" migrate >/dev/null
rm -f "$A"
T=$(uuid); W=$(uuid); I=$(uuid); J=$(uuid); K=$(uuid)
mk_tenant "$T" held; mk_workspace "$T" "$W" EU
for i in "$I" "$J" "$K"; do mk_item "$T" "$i" "$W" prompt EU 2026-01-01T00:00:00Z; done
mk_event "$T" deletion_requested "$(ago '40 days')" REQ-H     # deadline: 10 days ago
H=$(sql "INSERT INTO lethe.holds (tenant_id, item_id, reason, reference, placed_at)
         VALUES ('$T', '$I', 'brief hold', 'CASE-SHORT', '$(ago '39 days')') RETURNING hold_id" | head -1)
HK=$(sql "INSERT INTO lethe.holds (tenant_id, item_id, reason, reference, placed_at)
          VALUES ('$T', '$K', 'long hold', 'CASE-LONG', '$(ago '39 days')') RETURNING hold_id" | head -1)
run_lethe --config "$WORK/noexec.conf" run --as-of "$(ago '38 days')"
assert_rc "a run 38 days ago: I and K held, J batched" 0
assert_eq "both holds blocked their item" "2" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'hold_blocked'")"
sql "UPDATE lethe.holds SET released_at = '$(ago '37 days')' WHERE hold_id = '$H'" >/dev/null   # 27 days before the deadline
sql "UPDATE lethe.holds SET released_at = '$(ago '1 day')' WHERE hold_id = '$HK'" >/dev/null     # 9 days after it
run_lethe --config "$WORK/noexec.conf" run
assert_rc "a run now batches I and K" 0
for b in $(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'"); do
    "$LETHE" --config "$WORK/noexec.conf" ack "$b" >/dev/null 2>&1
done
purge() { sql "SELECT concat_ws(' ', on_time, reference, coalesce(detail, '-'), hold_id IS NOT NULL)
                 FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$1'"; }
assert_eq "J, never held, purged after its deadline: late" "f REQ-H - f" "$(purge "$J")"
assert_eq "I, held by a hold released 27 days before its deadline: late too, under its request" \
  "f REQ-H - f" "$(purge "$I")"
assert_eq "K, held until after its deadline: held past its deadline, under the hold's reference" \
  "f CASE-LONG held t" "$(purge "$K")"
"$LETHE" --config "$WORK/noexec.conf" export --summary -o "$WORK/summary.jsonl" 2>/dev/null
assert_contains "the summary counts two late and one held past the deadline" \
  '"purged":3,"on_time":0,"late":2,' "$(grep '"rule":"all"' "$WORK/summary.jsonl")"
assert_contains "... held_past_deadline 1" '"held_past_deadline":1,' "$(grep '"rule":"all"' "$WORK/summary.jsonl")"
run_lethe --config "$WORK/noexec.conf" status --reference REQ-H --tenant "$T"
assert_contains "status --reference agrees: two late, one held past the deadline" \
  "purged:     3 (on time 0, late 2, held past the deadline 1)" "$OUT"
finish
