# Review of what lethe says was deleted, attacked as an adversary and checked as an auditor
# would: a monthly export whose tail was cut and whose exported_at was moved back (SPEC §5,
# verify --anchors; the verdict names the window it vouches for), a superuser's edit of one
# tenant's anchored records (SPEC §7), a purge after the deadline excused by a hold that had
# ended before it (SPEC §3, holds), and a repurge its deleter failed recorded as done (SPEC §4,
# §7). Each section failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review9.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; for d in review9_a review9_h review9_r; do
      psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done' EXIT
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
write_config "$WORK/noexec.conf"
A=$WORK/anchors.jsonl
NIL=00000000-0000-0000-0000-000000000000
now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
ago() { date -u -d "-$1" +%Y-%m-%dT%H:%M:%SZ; }

psql -X -q -c 'DROP DATABASE IF EXISTS review9_a' -c 'CREATE DATABASE review9_a' 2>/dev/null
export PGDATABASE=review9_a
"$LETHE" migrate >/dev/null
# tenant N: two items, a deletion request a day old, purged by the next run (fs-delete)
tenant() {
    local t=$1 w; w=$(uuid); mk_tenant "$t" "$2"; mk_workspace "$t" "$w" EU
    for _ in 1 2; do mk_item "$t" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:00Z; done
    mk_event "$t" deletion_requested "$(ago '1 day')" "REQ-$2"
}
T1=$(uuid); T2=$(uuid); T3=$(uuid)
tenant "$T1" one
run_lethe --config "$WORK/exec.conf" run
assert_rc "run 1 purges tenant one" 0

# ---- a monthly export cut at its tail, its exported_at moved back ------------------------------
# The window [from, to) is the export's claim. Heads anchored inside it must be in the export
# (SPEC §5); a forger who cuts the last run's records and moves exported_at back to before that
# run must not make the anchors written after the new exported_at, still inside the window,
# look like lines the export could not see.
tenant "$T2" two
run_lethe --config "$WORK/exec.conf" run
assert_rc "run 2 purges tenant two" 0
TO=$(now)
sleep 0.01
"$LETHE" export --to "$TO" -o "$WORK/month.jsonl" 2>/dev/null
run_lethe verify "$WORK/month.jsonl" --anchors "$A"
assert_rc "the honest export of a window that has ended verifies against the anchors" 0
assert_contains "... and its verdict names the window it vouches for" \
  "; records from the start of the log until $TO" "$OUT"
RUN2=$(sql "SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1")
# cut SRC DST RUN: every record of RUN and after it removed, the header's claims rewritten, and
# its exported_at moved back to RUN's start, as a careful forger would
cut() {
python3 - "$@" <<'EOF'
import json, sys
src, dst, run = sys.argv[1:4]
lines = open(src, encoding="utf-8").read().splitlines()
head, recs = json.loads(lines[0]), [json.loads(l) for l in lines[1:]]
start = [r["at"] for r in recs if r["run_id"] == run and r["kind"] == "run_started"][0]
recs = [r for r in recs if r["at"] < start]      # every record of run 2 and after it cut off
sys.path.insert(0, "tests/harness")
from claims import reclaim
reclaim(head, recs)
head["exported_at"] = start                      # "taken" before run 2 began
out = [json.dumps(head, separators=(",", ":"))] + [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in recs]
open(dst, "w", encoding="utf-8").write("\n".join(out) + "\n")
EOF
}
cut "$WORK/month.jsonl" "$WORK/cut.jsonl" "$RUN2"
run_lethe verify "$WORK/cut.jsonl"
assert_rc "without the anchors the cut export is a consistent, earlier-looking file (exit 0)" 0
run_lethe verify "$WORK/cut.jsonl" --anchors "$A"
assert_rc "with the anchors, a tail cut and exported_at moved back inside the window: exit 4" 4
# the first record of run 2 the line anchors: its run_started, just before its checkpoint
RS2=$(sql "SELECT seq FROM lethe.audit WHERE run_id = '$RUN2' AND kind = 'run_started'")
assert_contains "... naming run 2's anchor line" "verify: anchors line 2: chain $NIL is anchored at seq $RS2 (run $RUN2," "$OUT"
assert_contains "... and saying why it counts" "inside the export's window, which ends at $TO, but after its exported_at" "$OUT"
python3 tests/verify_export.py "$WORK/cut.jsonl" --anchors "$A" >/dev/null 2>&1
assert_eq "the Python verifier agrees (exit 4)" "4" "$?"
python3 tests/verify_export.py "$WORK/month.jsonl" --anchors "$A" >/dev/null 2>&1
assert_eq "... and accepts the honest export" "0" "$?"
# An honest export with --to in the future is incomplete for its window once later runs are
# anchored: verify says so rather than vouching for the whole window.
FUTURE=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
"$LETHE" export --to "$FUTURE" -o "$WORK/early.jsonl" 2>/dev/null
run_lethe verify "$WORK/early.jsonl" --anchors "$A"
assert_rc "an export whose window has not ended verifies while no later line is anchored" 0
tenant "$T3" three
run_lethe --config "$WORK/exec.conf" run
assert_rc "run 3 purges tenant three" 0
run_lethe verify "$WORK/early.jsonl" --anchors "$A"
assert_rc "once run 3, inside its window, is anchored, the early export no longer covers it: exit 4" 4
assert_contains "... said so" "after its exported_at" "$OUT"
# An open-ended export ends at its exported_at: cut the same way, it reads as an earlier export
# (nothing in the file or the anchors tells them apart), so the verdict says up to when it
# vouches, for the auditor to compare with when the export was taken.
"$LETHE" export -o "$WORK/open.jsonl" 2>/dev/null
RUN3=$(sql "SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1")
cut "$WORK/open.jsonl" "$WORK/opencut.jsonl" "$RUN3"
run_lethe verify "$WORK/opencut.jsonl" --anchors "$A"
assert_rc "an open-ended export cut before run 3, exported_at moved back: consistent (exit 0)" 0
assert_contains "... and its verdict says it holds records only until run 3 began" \
  "; records from the start of the log until its export at $(sql "SELECT lethe.audit_time(at) FROM lethe.audit
     WHERE run_id = '$RUN3' AND kind = 'run_started'")" "$OUT"

# ---- a superuser removes the tail of one tenant's anchored chain ------------------------------
# The newest anchor line names tenant three's head. Its database record (sql/0021) vouches only
# for the engine chain's newest head, which the superuser left alone: every anchored head must
# still be checked (SPEC §7: any anchored head missing -> exit 4, and a run writes nothing).
LAST3=$(sql "SELECT max(seq) FROM lethe.audit WHERE tenant_id = '$T3'")
assert_contains "the newest anchor line names tenant three at its head" "\"chain\":\"$T3\",\"seq\":$LAST3," "$(tail -1 "$A")"
sql "BEGIN;
     ALTER TABLE lethe.audit DISABLE TRIGGER audit_no_update_delete;
     DELETE FROM lethe.audit WHERE tenant_id = '$T3' AND seq = $LAST3;
     ALTER TABLE lethe.audit ENABLE ALWAYS TRIGGER audit_no_update_delete;
     COMMIT" >/dev/null
assert_eq "the superuser's edit took (tenant three's last record is gone)" "$((LAST3 - 1))" \
  "$(sql "SELECT max(seq) FROM lethe.audit WHERE tenant_id = '$T3'")"
# Its head left alone: the record was deleted, not replaced (sql/0104; an outside tryout found
# "the database holds another record at that seq" where it held none).
run_lethe --config "$WORK/noexec.conf" status --check
assert_eq "status --check: the anchored head deleted, said so (exit 4)" \
  "4|chain $T3 anchored at seq $LAST3, the database holds no record at that seq, though its head is recorded at seq $LAST3 (a record was deleted)" \
  "$RC|$(grep -o "chain $T3 anchored at seq [^;]*" <<<"$OUT")"
sql "UPDATE lethe.audit_heads h SET seq = a.seq, hash = a.hash, at = a.at
       FROM lethe.audit a WHERE h.tenant_id = '$T3' AND a.tenant_id = h.tenant_id AND a.seq = $LAST3 - 1" >/dev/null
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: an anchored tenant head missing is trouble (exit 4)" 4
assert_contains "... naming the chain and its anchored seq" \
  "chain $T3 anchored at seq $LAST3, the database has it up to seq $((LAST3 - 1))" "$OUT$ERR"
before=$(sql "SELECT (SELECT count(*) FROM lethe.audit) || ' ' || (SELECT count(*) FROM lethe.runs)")
lines=$(wc -l < "$A")
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run refuses (exit 4)" 4
assert_contains "... saying the audit is behind its anchor file" "the audit is behind its anchor file" "$ERR"
assert_eq "... and writes nothing: no audit record, no run, no anchor line" "$before $lines" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.audit) || ' ' || (SELECT count(*) FROM lethe.runs)") $(wc -l < "$A")"

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
# ---- a repurge the deleter failed is recorded failed, not done ------------------------------------
# SPEC §4: only a deleted or absent receipt acknowledges an item. A repurge (reconcile, replay:
# SPEC §7) deletes again an item purged before; its deleter saying "failed", or saying nothing
# and exiting non-zero, must not be recorded as an acknowledged batch and a repurge done, with
# the object still in storage.
psql -X -q -c 'DROP DATABASE IF EXISTS review9_r' -c 'CREATE DATABASE review9_r' 2>/dev/null
export PGDATABASE=review9_r
"$LETHE" migrate >/dev/null
rm -f "$A"
head -c 32 /dev/urandom | base64 > "$WORK/key"; chmod 600 "$WORK/key"
write_config "$WORK/rexec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" "audit: { key_file = \"$WORK/key\"; };"
printf '#!/bin/sh\ntail -n +2 "$1" | sed '"'"'s/^{"item_id":"\\([^"]*\\)".*/failed \\1 volume offline/'"'"'\n' > "$WORK/failer"
printf '#!/bin/sh\nexit 3\n' > "$WORK/crasher"
chmod +x "$WORK/failer" "$WORK/crasher"
write_config "$WORK/rfail.conf" "executor: { command = \"$WORK/failer\"; };" "audit: { key_file = \"$WORK/key\"; };"
write_config "$WORK/rcrash.conf" "executor: { command = \"$WORK/crasher\"; };" "audit: { key_file = \"$WORK/key\"; };"
T=$(uuid); W=$(uuid); I=$(uuid); mk_tenant "$T" restored; mk_workspace "$T" "$W" EU
mk_item "$T" "$I" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(ago '1 day')" REQ-R
"$LETHE" --config "$WORK/rexec.conf" run >/dev/null 2>&1
echo "restored from a backup" > "$STORE/$I"                    # the store brought it back
reconcile() {
    "$FS_DELETE" --inventory "$STORE" > "$WORK/inventory"
    "$LETHE" --config "$WORK/rexec.conf" reconcile --location EU "$WORK/inventory" >/dev/null 2>&1
}
reconcile
RB=$(sql "SELECT batch_id FROM lethe.repurges WHERE state = 'pending'")
run_lethe --config "$WORK/rexec.conf" status --check
assert_rc "a pending repurge is not a problem for status --check" 0
assert_contains "status counts it pending" "repurges (items purged before whose data came back): 1 pending, 0 failed" "$OUT"
run_lethe --config "$WORK/rfail.conf" run
assert_rc "a run whose deleter fails the repurge exits 0" 0
assert_contains "... and counts the failure truly" "0 purged, 1 failed items, 1 failed batches" "$OUT"
assert_contains "... saying who batches it again: not the next run" \
  "warning: batch $RB (EU) failed: 1 item not acknowledged (0 with no receipt); it is a repurge, which 'lethe reconcile' or 'lethe replay' batches again (no run does)" "$ERR"
assert_eq "the repurge batch failed, audited so, with the item's failure" "failed|batch_failed|item_failed repurge" \
  "$(sql "SELECT (SELECT state FROM lethe.batches WHERE batch_id = '$RB') || '|' ||
                 (SELECT string_agg(kind, ',') FROM lethe.audit WHERE batch_id = '$RB' AND tenant_id = '$NIL' AND kind <> 'batch_emitted') || '|' ||
                 (SELECT string_agg(kind || ' ' || detail, ',') FROM lethe.audit WHERE batch_id = '$RB' AND kind = 'item_failed')")"
assert_eq "the repurge is recorded failed, the object still stored" "failed yes" \
  "$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RB'") $([ -e "$STORE/$I" ] && echo yes)"
# status shows it and --check alerts: the item is purged by the audit, its data is still stored.
run_lethe --config "$WORK/rexec.conf" status --check
assert_rc "status --check fails on a failed repurge" 4
assert_contains "status names it" "repurges (items purged before whose data came back): 0 pending, 1 failed" "$OUT"
assert_contains "--check says what it means" "check: 1 item purged before whose repurge failed: its data may still be stored" "$OUT"
assert_eq "status --json counts it" "0 1" \
  "$("$LETHE" --config "$WORK/rexec.conf" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["repurges"]; print(r["pending"], r["failed"])')"
run_lethe --config "$WORK/rexec.conf" rerun "$RB"
assert_eq "a rerun of it batches nothing, and says the repurge waits for reconcile or replay" \
  "0|rerun: failed batch $RB: none of its items is due any more; no new batch|warning: rerun: 1 of its items is a repurge that failed, which no run or rerun batches again
hint: 'lethe reconcile' or 'lethe replay', whichever made it, batches it again; 'lethe status --check' counts it until then" \
  "$RC|$OUT|$(grep -A1 'repurge that failed' <<<"$ERR")"
assert_not_contains "... and does not say that item was purged in its first batch (read as done)" \
  "of its items was purged in batch" "$ERR"
reconcile
RB=$(sql "SELECT batch_id FROM lethe.repurges WHERE state = 'pending'")
run_lethe --config "$WORK/rcrash.conf" run
assert_contains "a deleter that exits 3 without a receipt fails the repurge too" "1 failed items, 1 failed batches" "$OUT"
assert_contains "... and says so" "failed: executor exit status 3; its unreceipted items are repurges, which 'lethe reconcile' or 'lethe replay' batches again (no run does)" "$ERR"
assert_eq "... recorded failed" "failed" "$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RB'")"
# An acknowledgement after the failure settles the repurge on its word (SPEC §4's late ack;
# sql/0113). It settled none, yet closed the batch acknowledged and audited it so, the repurge
# still failed (an outside tryout's finding); and a failed repurge whose object the deleter had
# deleted could never be settled (reconcile batches only what is still stored).
pg_dump -Fc -f "$WORK/late.dump" review9_r
AUDIT_N=$(sql "SELECT count(*) FROM lethe.audit")
run_lethe --config "$WORK/rexec.conf" ack "$RB" --operator user_o
assert_eq "a late ack of a failed repurge batch: acknowledged late, its repurge done on its word" \
  "0|ack: batch $RB acknowledged late: 0 purged, 1 repurged, 0 failed|acknowledged done superseded|$((AUDIT_N + 1))|batch_acknowledged late user_o" \
  "$RC|$OUT|$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$RB'") $(sql "SELECT r.state || ' ' || bi.outcome FROM lethe.repurges r JOIN lethe.batch_items bi ON bi.tenant_id = r.tenant_id AND bi.batch_id = r.batch_id AND bi.item_id = r.item_id WHERE r.batch_id = '$RB'")|$(sql "SELECT count(*) FROM lethe.audit")|$(sql "SELECT kind || ' ' || detail || ' ' || operator FROM lethe.audit ORDER BY at DESC, seq DESC LIMIT 1")"
assert_eq "... warning that it is recorded on its word (no receipt had said it failed: the deleter exited 3)" \
  "warning: ack: 1 repurge of failed batch $RB is recorded done on this acknowledgement's word" "$(grep '^warning: ack' <<<"$ERR")"
run_lethe --config "$WORK/rexec.conf" status --check
assert_eq "... and status --check passes, counting no failed repurge any more" "0|0 0" \
  "$RC|$("$LETHE" --config "$WORK/rexec.conf" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["repurges"]; print(r["pending"], r["failed"])')"
run_lethe --config "$WORK/rexec.conf" ack "$RB" --operator user_o
assert_eq "... a second ack of it changes nothing" "0|ack: batch $RB was already acknowledged; nothing changed|$((AUDIT_N + 1))" \
  "$RC|$OUT|$(sql "SELECT count(*) FROM lethe.audit")"
# Restored from a backup taken before the late ack, and replayed: its record alone comes back
# (it writes no item record). The batch stayed failed and the repurge failed, and acknowledging
# it again wrote a second record (an outside tryout's finding).
"$LETHE" --config "$WORK/rexec.conf" export -o "$WORK/late.jsonl" 2>/dev/null
restore_db review9_r "$WORK/late.dump"
run_lethe --config "$WORK/rexec.conf" replay --operator user_o "$WORK/late.jsonl"
assert_eq "replay settles the repurge as the replayed late record did, and says so" \
  "0|replay: 1 repurge batch failed in the backup and acknowledged late after it: its repurges recorded done as its record says|acknowledged|done superseded|1" \
  "$RC|$(grep '^replay: 1 repurge batch' <<<"$ERR")|$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$RB'")|$(sql "SELECT r.state || ' ' || bi.outcome FROM lethe.repurges r JOIN lethe.batch_items bi ON bi.tenant_id = r.tenant_id AND bi.batch_id = r.batch_id AND bi.item_id = r.item_id WHERE r.batch_id = '$RB'")|$(sql "SELECT count(*) FROM lethe.audit WHERE batch_id = '$RB' AND kind = 'batch_acknowledged'")"
run_lethe --config "$WORK/rexec.conf" ack "$RB" --operator user_o
assert_eq "... so that an ack of it says it is acknowledged, recording nothing twice" \
  "0|ack: batch $RB was already acknowledged; nothing changed|1" \
  "$RC|$OUT|$(sql "SELECT count(*) FROM lethe.audit WHERE batch_id = '$RB' AND kind = 'batch_acknowledged'")"
# An operator's ack failing an open repurge batch says who batches it again: not the next run.
reconcile
RB=$(sql "SELECT batch_id FROM lethe.repurges WHERE state = 'pending'")
run_lethe --config "$WORK/rexec.conf" ack "$RB" --failed "$I:still there" --operator user_o
assert_eq "ack --failed of an open repurge batch: closed failed, its repurge batched again by reconcile or replay" \
  "0|ack: batch $RB closed failed: 0 purged, 1 failed; its failed repurges are batched again by 'lethe reconcile' or 'lethe replay', never by a run|failed" \
  "$RC|$OUT|$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RB'")"
AUDIT_N=$(sql "SELECT count(*) FROM lethe.audit")
run_lethe --config "$WORK/rexec.conf" ack "$RB" --failed "$I:still there" --operator user_o
assert_eq "a late ack of a failed repurge batch naming one failed: refused (all or nothing: the batch's record says which), nothing changed" \
  "2|error: ack: batch $RB is a repurge batch that failed: a late acknowledgement of it records every repurge of it that failed done, and names none failed; nothing was changed|failed|$AUDIT_N" \
  "$RC|$(grep '^error' <<<"$ERR")|$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RB'")|$(sql "SELECT count(*) FROM lethe.audit")"
OLDRB=$RB
reconcile
RB=$(sql "SELECT batch_id FROM lethe.repurges WHERE state = 'pending'")
AUDIT_N=$(sql "SELECT count(*) FROM lethe.audit")
run_lethe --config "$WORK/rexec.conf" ack "$OLDRB" --operator user_o
assert_eq "a late ack of a failed repurge batch whose item a reconcile put in a batch again since: that batch settles it, nothing changed" \
  "0|ack: batch $OLDRB failed, and its 1 failed repurge was put in a repurge batch again since (batch $RB, open, which settles them); nothing left to acknowledge, nothing changed|failed pending|$AUDIT_N" \
  "$RC|$OUT|$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$OLDRB'") $(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RB'")|$(sql "SELECT count(*) FROM lethe.audit")"
run_lethe --config "$WORK/rexec.conf" rerun "$RB" --operator user_o
assert_eq "a rerun of the open repurge batch names the object deleted again (it said 0 purged alone)" \
  "0|rerun: batch $RB re-driven: 0 purged, 1 repurged, 0 failed" "$RC|$OUT"
assert_eq "... a deleter that deletes: done, the object gone" "done gone" \
  "$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RB'") $([ -e "$STORE/$I" ] || echo gone)"
assert_eq "once done, status counts no failed repurge" "0 0" \
  "$("$LETHE" --config "$WORK/rexec.conf" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["repurges"]; print(r["pending"], r["failed"])')"
assert_eq "the item's evidence: purged once, repurged four times, failed three times (the last by an operator's ack)" "item_purged:1 item_repurged:4 item_failed:3" \
  "$(sql "SELECT string_agg(kind || ':' || n, ' ' ORDER BY min) FROM (SELECT kind, count(*) n, min(seq) FROM lethe.audit
          WHERE tenant_id = '$T' GROUP BY kind) x")"
# An operator acknowledges a repurge batch while its deleter runs, and the deleter then says it
# failed: the contradiction is warned of, as for any batch (it was dropped without a word: a
# repurge's item is 'superseded', not 'purged', in its batch). An outside tryout's finding.
echo "restored again" > "$STORE/$I"
reconcile
RB=$(sql "SELECT batch_id FROM lethe.repurges WHERE state = 'pending'")
cat > "$WORK/waiter" <<EOW
#!/bin/sh
while [ ! -e "$WORK/waiter.go" ]; do sleep 0.1; done
tail -n +2 "\$1" | sed 's/^{"item_id":"\([^"]*\)".*/failed \1 volume offline/'
EOW
chmod +x "$WORK/waiter"
write_config "$WORK/rwait.conf" "executor: { command = \"$WORK/waiter\"; timeout = \"30s\"; };" "audit: { key_file = \"$WORK/key\"; };"
"$LETHE" --config "$WORK/rwait.conf" run >"$WORK/rwait.out" 2>"$WORK/rwait.err" & WPID=$!
for _ in $(seq 100); do [ "$(sql "SELECT attempts FROM lethe.batches WHERE batch_id = '$RB'")" = 1 ] && break; sleep 0.1; done
run_lethe --config "$WORK/rexec.conf" ack "$RB" --operator user_o
assert_eq "the operator's ack while the deleter runs: the repurge done" "0|ack: batch $RB acknowledged: 0 purged, 1 repurged, 0 failed" "$RC|$OUT"
touch "$WORK/waiter.go"; wait "$WPID"; RC=$?
assert_eq "the run's failed receipt after it is warned of as a contradiction" \
  "0|warning: batch $RB was acknowledged already, by an earlier acknowledgement: 1 failed receipt given now changes nothing; its items are purged and on record" \
  "$RC|$(grep 'by an earlier acknowledgement' "$WORK/rwait.err")"
run_lethe --config "$WORK/rexec.conf" ack "$RB" --operator user_o
assert_eq "an ack of it again: already acknowledged (not 'purged through another batch': it deleted its item again itself)" \
  "0|ack: batch $RB was already acknowledged; nothing changed" "$RC|$OUT"
# A failed repurge batch some of whose repurges a reconcile took again since (their objects still
# stored), while the deleter had deleted another before it failed: the late ack settles that one
# and leaves the others to the newer batch. Refusing it whole (as a first form did) left it failed
# for good (an outside tryout's finding).
J1=$(uuid); J2=$(uuid)
mk_item "$T" "$J1" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$J2" "$W" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/rexec.conf" run >/dev/null 2>&1
echo back > "$STORE/$J1"; echo back > "$STORE/$J2"
reconcile
RJ=$(sql "SELECT batch_id FROM lethe.repurges WHERE state = 'pending' AND item_id = '$J1'")
"$LETHE" --config "$WORK/rcrash.conf" run >/dev/null 2>&1
rm -f "$STORE/$J1"                                # deleted before the deleter failed
reconcile
"$LETHE" --config "$WORK/rexec.conf" run >/dev/null 2>&1
OTHERS=$(sql "SELECT count(*) - 1 FROM lethe.repurges WHERE batch_id = '$RJ'")
run_lethe --config "$WORK/rexec.conf" ack "$RJ" --operator user_o
assert_eq "a late ack of it settles the one no batch took again, and names the others and their batch" \
  "0|ack: batch $RJ acknowledged late: 0 purged, 1 repurged, 0 failed; $OTHERS others were put in a repurge batch again since (batch B, which settled them)|done|late, $OTHERS batched again since" \
  "$RC|$(sed 's/(batch [0-9a-f-]*, /(batch B, /' <<<"$OUT")|$(sql "SELECT state FROM lethe.repurges WHERE batch_id = '$RJ' AND item_id = '$J1'")|$(sql "SELECT detail FROM lethe.audit WHERE batch_id = '$RJ' AND kind = 'batch_acknowledged'")"
assert_eq "... and status --check passes: no failed repurge left" "0|0 0" \
  "$("$LETHE" --config "$WORK/rexec.conf" status --check >/dev/null 2>&1; echo $?)|$("$LETHE" --config "$WORK/rexec.conf" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["repurges"]; print(r["pending"], r["failed"])')"
finish
