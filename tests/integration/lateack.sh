# A late acknowledgement (SPEC §4: the deleter reports a deletion after its batch failed) purges
# the items it names, and their copies follow them (SPEC §3: "Once a source is purged, its
# descendants are due under the obligation it was purged under ... whatever is withdrawn
# later"). Between the failure and the ack a request can be withdrawn, and a run then judged the
# copies free: nothing had been purged. An outside tryout found such a copy never batched after
# the ack, while item_status and explain called it due and status, --check and the summary saw
# nothing. The ack now puts the purged items' live descendants back in the inbox, and the next
# run derives them with the purge pinned on them (sql/0075_late_ack_copies.sql).
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-lateack.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
STORE=$WORK/store; mkdir -p "$STORE"
psql -X -q -c 'DROP DATABASE IF EXISTS lateack_t' -c 'CREATE DATABASE lateack_t' 2>/dev/null
export PGDATABASE=lateack_t
"$LETHE" migrate >/dev/null

write_config "$WORK/fail.conf" 'executor: { command = "exit 3"; timeout = "30s"; };'
write_config "$WORK/ok.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"

T=$(uuid); WE=$(uuid); WU=$(uuid); SRC=$(uuid); COPY=$(uuid); GRAND=$(uuid); OTHER=$(uuid)
mk_tenant "$T" acme; mk_workspace "$T" "$WE" EU; mk_workspace "$T" "$WU" US
mk_item "$T" "$SRC" "$WE" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$OTHER" "$WE" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/fail.conf" -q request --tenant "$T" --item "$SRC" --reference R6 \
    --operator tester >/dev/null

run_lethe --config "$WORK/fail.conf" run
assert_rc "the deleter fails the source's batch (the run itself succeeds)" 0
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$SRC'")
assert_eq "... its batch is failed" "failed" "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B'")"
DEADLINE=$(sql "SELECT lethe.iso_utc(deadline_at) FROM lethe.batch_items WHERE item_id = '$SRC'")

# A copy in another geo, and a copy of that copy, made after the failure; then the request is
# withdrawn and a run judges both free (nothing of their lineage is purged yet).
mk_item "$T" "$COPY" "$WU" response US 2026-03-01T00:00:00Z false "$SRC"
mk_item "$T" "$GRAND" "$WU" upload US 2026-03-02T00:00:00Z false "$COPY"
mk_event "$T" deletion_cancelled "$(date -u +%FT%T.%6NZ)" R6
run_lethe --config "$WORK/fail.conf" run
assert_rc "a run after the withdrawal" 0
assert_eq "... owes the copies nothing: live, no batch" "live|live|0" \
    "$(sql "SELECT (SELECT state FROM lethe.item_status WHERE item_id = '$COPY'),
                   (SELECT state FROM lethe.item_status WHERE item_id = '$GRAND'),
                   (SELECT count(*) FROM lethe.batch_items WHERE item_id IN ('$COPY', '$GRAND'))")"

# The run recorded the withdrawal (a record without its run id, in a transaction of its own):
# its checkpoint names the chain's head, so the engine chain's head alone vouches for the
# record (SPEC §5: the head of every chain the run touched; sql/0076).
WRUN=$(sql "SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1")
THEAD=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$T'")
NIL=00000000-0000-0000-0000-000000000000
assert_eq "the run's withdrawal record heads the tenant's chain, and its checkpoint names it" \
    "obligation_withdrawn|t" \
    "$(sql "SELECT kind FROM lethe.audit WHERE tenant_id = '$T' AND hash = '$THEAD'")|$(sql "
            SELECT strpos(detail, '$T=$THEAD') > 0 FROM lethe.audit
             WHERE tenant_id = '$NIL' AND run_id = '$WRUN' AND kind = 'checkpoint'")"
"$LETHE" --config "$WORK/ok.conf" -q export -o "$WORK/all.jsonl"
EHEAD=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$NIL'")
python3 - "$WORK/all.jsonl" "$T" > "$WORK/cut.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
head, recs = json.loads(lines[0]), lines[1:]
last = max(json.loads(l)["seq"] for l in recs if json.loads(l)["tenant_id"] == sys.argv[2])
keep = [l for l in recs if not (json.loads(l)["tenant_id"] == sys.argv[2] and json.loads(l)["seq"] == last)]
head["records"] -= 1
for c in head["chains"]:
    if c["chain"] == sys.argv[2]:
        c["last_seq"] -= 1; c["records"] -= 1
print(json.dumps(head, separators=(",", ":")))
print("\n".join(keep))
PY
run_lethe verify "$WORK/cut.jsonl" --expect-head "$NIL=$EHEAD"
assert_rc "an export cut before the withdrawal record fails verify given the engine head alone" 4
assert_contains "... naming the checkpoint and the chain" "names the head ${THEAD:0:12}... of chain $T" "$ERR$OUT"

run_lethe --config "$WORK/ok.conf" ack "$B" --operator tester
assert_rc "the deleter's late ack of the failed batch" 0
assert_eq "... purges the source" "purged" "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$SRC'")"
assert_eq "... and its copies are due under the request it was purged under, its deadline" \
    "due|deletion_request|R6|$DEADLINE
due|deletion_request|R6|$DEADLINE" \
    "$(sql "SELECT s.state, s.rule, s.reference, lethe.iso_utc(s.deadline_at) FROM lethe.item_status s
             WHERE s.item_id IN ('$COPY', '$GRAND') ORDER BY s.item_id = '$GRAND'")"
run_lethe --config "$WORK/ok.conf" status --json
assert_eq "status counts them due too, and says a run has not consumed them yet" "2 2" \
    "$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["totals"]["due"], d["unconsumed"]["items"])')"
run_lethe --config "$WORK/ok.conf" run --dry-run --items
assert_contains "a dry run lists the copy as due" "$COPY" "$OUT"
assert_contains "... and the copy of the copy" "$GRAND" "$OUT"

run_lethe --config "$WORK/ok.conf" run
assert_rc "the next run" 0
assert_eq "... purges both copies, under the source's rule, reference and deadline" \
    "deletion_request|R6|$DEADLINE
deletion_request|R6|$DEADLINE" \
    "$(sql "SELECT a.rule, a.reference, lethe.iso_utc(a.deadline_at) FROM lethe.audit a
             WHERE a.kind = 'item_purged' AND a.item_id IN ('$COPY', '$GRAND') ORDER BY a.item_id = '$GRAND'")"
assert_eq "... whose files are gone" "0" "$(ls "$STORE" | grep -c -e "$COPY" -e "$GRAND")"
assert_eq "... and the other item, never requested, stays" "live" \
    "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$OTHER'")"
run_lethe --config "$WORK/ok.conf" status --check
assert_rc "status --check passes afterwards" 0

# The copy failed in a batch of its own too (its geo's deleter): after the source's late ack, a
# rerun of the copy's failed batch (it derives first, as a run does) batches and purges it. It
# said "none of its items is due any more" before.
S3=$(uuid); C3=$(uuid)
mk_item "$T" "$S3" "$WE" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$C3" "$WU" prompt US 2026-02-01T00:00:00Z false "$S3"
"$LETHE" --config "$WORK/fail.conf" -q request --tenant "$T" --item "$S3" --reference R8 \
    --operator tester >/dev/null
run_lethe --config "$WORK/fail.conf" run
BS=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$S3'")
BC=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$C3'")
assert_eq "source and copy fail in a batch each" "failed|failed" \
    "$(sql "SELECT string_agg(state, '|') FROM lethe.batches WHERE batch_id IN ('$BS', '$BC')")"
mk_event "$T" deletion_cancelled "$(date -u +%FT%T.%6NZ)" R8
run_lethe --config "$WORK/fail.conf" run
run_lethe --config "$WORK/ok.conf" ack "$BS" --operator tester
assert_rc "the source's late ack" 0
run_lethe --config "$WORK/ok.conf" rerun "$BC" --operator tester
assert_rc "a rerun of the copy's failed batch" 0
assert_contains "... puts the copy in a new batch" "still-due items put in new batch" "$ERR$OUT"
assert_eq "... which purges it under the source's request" "purged|deletion_request|R8" \
    "$(sql "SELECT state, rule, reference FROM lethe.item_status WHERE item_id = '$C3'")"

# An acknowledgement of an open batch puts nothing in the inbox: its items' copies were derived
# with the batch (the cost of every run's acks stays as it was).
SRC2=$(uuid); COPY2=$(uuid)
mk_item "$T" "$SRC2" "$WE" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$COPY2" "$WE" prompt EU 2026-02-01T00:00:00Z false "$SRC2"
"$LETHE" --config "$WORK/ok.conf" -q request --tenant "$T" --item "$SRC2" --reference R7 \
    --operator tester >/dev/null
run_lethe --config "$WORK/ok.conf" run
assert_eq "an ordinary run purges a source and its copy" "purged|purged" \
    "$(sql "SELECT string_agg(state, '|') FROM lethe.item_status WHERE item_id IN ('$SRC2', '$COPY2')")"
assert_eq "... and leaves nothing in the inbox" "0" "$(sql "SELECT count(*) FROM lethe.inbox_items")"

# A late ack of a failed batch whose items were batched again since, in a batch still open: the
# deletion counts (SPEC §4), and the open batch then hands them to no deleter. Said, since an
# ack by hand of the wrong batch leaves the objects stored with the catalog saying purged.
write_config "$WORK/noexec.conf"
# failed_then_open ITEM...: a request for each new item, a run whose deleter fails their batch
# (FB), then a run without an executor that batches them again, left open (OB).
# requested CONF ITEM...: each a new item with a request of its own, made with config CONF.
requested() {
    local conf=$1 i; shift
    for i in "$@"; do
        mk_item "$T" "$i" "$WE" prompt EU 2026-01-01T00:00:00Z
        "$LETHE" --config "$conf" -q request --tenant "$T" --item "$i" --reference "R-$i" \
            --operator tester >/dev/null
    done
}
failed_then_open() {
    requested "$WORK/fail.conf" "$@"
    run_lethe --config "$WORK/fail.conf" run
    FB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$1' AND outcome = 'failed'")
    run_lethe --config "$WORK/noexec.conf" run
    OB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$1' AND outcome IS NULL")
}
SRC3=$(uuid); failed_then_open "$SRC3"; B8=$FB; O8=$OB
assert_eq "the failed item is batched again, in a batch left open (no executor)" "open" \
    "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$O8'")"
run_lethe --config "$WORK/noexec.conf" ack "$B8" --operator tester
assert_eq "the late ack purges it, and says the open batch hands it to no deleter" \
    "0|ack: batch $B8 acknowledged: 1 purged, 0 failed|warning: ack: 1 item of failed batch $B8 was in open batch $O8 too, emitted since it failed: recorded as purged now, so that batch hands it to no deleter; left with no other item, it is closed as acknowledged" \
    "$RC|$OUT|$(printf '%s\n' "$ERR" | grep '^warning: ack:')"
assert_eq "... and purged once" "1" \
    "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$SRC3'")"
# Left with no item to hand over, the open batch is closed with the ack (sql/0079): no run or
# rerun starts its deleter on an empty manifest, and status no longer lists it as work to do.
assert_eq "... the emptied batch is acknowledged, recorded with 0 items and what superseded it" \
    "acknowledged|batch_acknowledged|0|superseded by batch $B8|tester" \
    "$(sql "SELECT b.state, a.kind, a.count, a.detail, a.operator FROM lethe.batches b
              JOIN lethe.audit a ON a.batch_id = b.batch_id AND a.kind = 'batch_acknowledged'
             WHERE b.batch_id = '$O8'")"
run_lethe --config "$WORK/noexec.conf" batches --state open
assert_not_contains "... and is not listed open" "$O8" "$OUT"
"$LETHE" --config "$WORK/noexec.conf" export -o "$WORK/all.jsonl" 2>/dev/null
run_lethe --config "$WORK/noexec.conf" verify "$WORK/all.jsonl"
assert_rc "... the audit verifies" 0

# The same while another session holds the open batch locked (a run recording its receipts):
# the ack does not wait for it and leaves it open; the run that drives it next finds nothing
# left and closes it without starting the deleter.
SRC4=$(uuid); failed_then_open "$SRC4"; B9=$FB; O9=$OB
psql -X -q -c "BEGIN" -c "SELECT 1 FROM lethe.batches WHERE batch_id = '$O9' FOR UPDATE" \
    -c "SELECT pg_sleep(6)" -c "COMMIT" >/dev/null &
LOCKER=$!
sleep 1
t0=$(date +%s)
run_lethe --config "$WORK/noexec.conf" ack "$B9" --operator tester
assert_eq "an ack while the open batch is locked elsewhere does not wait for it" \
    "0|ack: batch $B9 acknowledged: 1 purged, 0 failed|1" \
    "$RC|$OUT|$(( $(date +%s) - t0 < 5 ))"
assert_contains "... and leaves that batch open" "so that batch hands it to no deleter" "$ERR"
assert_not_contains "... not closed" "it is closed as acknowledged" "$ERR"
wait "$LOCKER"
assert_eq "... which stays open, its only item superseded" "open|superseded" \
    "$(sql "SELECT b.state, bi.outcome FROM lethe.batches b JOIN lethe.batch_items bi USING (batch_id)
             WHERE b.batch_id = '$O9'")"
cat >"$WORK/marks" <<EOS
#!/bin/sh
head -n 1 >>"$WORK/deleter-ran"
cat >/dev/null
EOS
chmod +x "$WORK/marks"
write_config "$WORK/marks.conf" "executor: { command = \"$WORK/marks\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/marks.conf" run
assert_rc "the next run succeeds" 0
assert_contains "... closes the emptied batch without its deleter" \
    "batch $O9 (EU): every item was purged through another batch; closed without starting its executor" "$ERR"
assert_not_contains "... which was not started for it" "$O9" "$(cat "$WORK/deleter-ran" 2>/dev/null)"
assert_contains "... and counts it re-driven, with nothing purged or failed" \
    "0 purged, 0 failed items, 0 failed batches, 0 held, 1 open batch re-driven" "$OUT"
assert_eq "... the batch is acknowledged with 0 items" "acknowledged|0" \
    "$(sql "SELECT b.state, a.count FROM lethe.batches b
              JOIN lethe.audit a ON a.batch_id = b.batch_id AND a.kind = 'batch_acknowledged'
             WHERE b.batch_id = '$O9'")"
assert_eq "... and the item purged once" "1" \
    "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$SRC4'")"

# A late ack that fails one of the items batched again purges only the other: the warning counts
# only that one, and the open batch, with an item left to hand over, stays open.
SRC5=$(uuid); SRC6=$(uuid); failed_then_open "$SRC5" "$SRC6"; B10=$FB; O10=$OB
run_lethe --config "$WORK/noexec.conf" ack "$B10" --failed "$SRC6:still there" --operator tester
assert_eq "a late ack failing one of two re-batched items: one purged, and the warning counts one" \
    "0|warning: ack: 1 item of failed batch $B10 was in open batch $O10 too, emitted since it failed: recorded as purged now, so that batch hands it to no deleter" \
    "$RC|$(printf '%s\n' "$ERR" | grep '^warning: ack:')"
assert_eq "... the open batch stays open with the other item" "open|$SRC6" \
    "$(sql "SELECT b.state, bi.item_id FROM lethe.batches b JOIN lethe.batch_items bi USING (batch_id)
             WHERE b.batch_id = '$O10' AND bi.outcome IS NULL")"

# A failed batch whose failed item was purged since, through the batch that took it again: a late
# ack has nothing left to purge. It changes nothing, and says so: the batch stays failed, as its
# deleter reported (lethe batches keeps its failure), and no record is added.
SRC7=$(uuid); failed_then_open "$SRC7"; B11=$FB; O11=$OB
run_lethe --config "$WORK/noexec.conf" ack "$O11" --operator tester
assert_eq "the item is purged through the batch that took it again" "0|$O11" \
    "$RC|$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$SRC7' AND outcome = 'purged'")"
RECORDS=$(sql "SELECT count(*) FROM lethe.audit")
run_lethe --config "$WORK/noexec.conf" ack "$B11" --operator tester
assert_eq "a late ack of the failed batch then says there is nothing left to acknowledge" \
    "0|ack: batch $B11 failed, and its 1 failed item has been purged since, through batch $O11; nothing left to acknowledge, nothing changed" \
    "$RC|$OUT"
assert_eq "... the batch stays failed, its item failed, and no record is added" "failed|failed|$RECORDS" \
    "$(sql "SELECT b.state, bi.outcome, (SELECT count(*) FROM lethe.audit) FROM lethe.batches b
             JOIN lethe.batch_items bi USING (batch_id) WHERE b.batch_id = '$B11'")"
run_lethe --config "$WORK/noexec.conf" batches --state failed
assert_contains "... and lethe batches still lists it failed" "$B11" "$OUT"

# A late ack of a batch whose deleter declared an item failed ("failed ID REASON"): it counts
# (SPEC §4: the deletion happened), and is said, with the reason, since the ack overrides what
# the deleter reported. A failure for want of a receipt, or at an exit or a timeout, is the case
# the late ack is for, and says nothing more (the batches above failed at "exit 3").
cat > "$WORK/refuse" <<'EOS'
#!/bin/sh
tail -n +2 "$1" | sed 's/^{"item_id":"\([^"]*\)".*/failed \1 permission denied/'
EOS
chmod +x "$WORK/refuse"
write_config "$WORK/refuse.conf" "executor: { command = \"$WORK/refuse\"; timeout = \"30s\"; };"
SRC8=$(uuid); SRC9=$(uuid); requested "$WORK/refuse.conf" "$SRC8" "$SRC9"
run_lethe --config "$WORK/refuse.conf" run
B12=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$SRC8' AND outcome = 'failed'")
FIRST=$(sql "SELECT item_id FROM lethe.batch_items WHERE batch_id = '$B12' ORDER BY ord LIMIT 1")
run_lethe --config "$WORK/noexec.conf" ack "$B12" --operator tester
assert_eq "a late ack of items its deleter declared failed: both purged, and said with the reason" \
    "0|2|warning: ack: 2 items of failed batch $B12 had a failure reported for them (item $FIRST: permission denied, and others): recorded as purged on this acknowledgement's word" \
    "$RC|$(sql "SELECT count(*) FROM lethe.batch_items WHERE batch_id = '$B12' AND outcome = 'purged'")|$(printf '%s\n' "$ERR" | grep '^warning: ack:')"
assert_contains "... with the hint to look in the storage" "hint: if the objects were not deleted, 'lethe reconcile" "$ERR"
SRC10=$(uuid); failed_then_open "$SRC10"; B13=$FB
run_lethe --config "$WORK/noexec.conf" ack "$B13" --operator tester
assert_not_contains "a late ack of a batch failed at its deleter's exit: no such warning" "had a failure reported" "$ERR"

# ---- a late ack says "owed nothing" only of items it purged, and only of those owed nothing ---
# An open batch holds a copy of a purged source (pinned: due under the source's request whatever
# is withdrawn later, SPEC §3) and an item of its own request. An ack purges the copy and fails
# the other; both requests are then cancelled, and a late ack purges the other. It warned that
# 1 item "owed nothing", counting the copy the first ack had purged (an outside tryout's
# finding): now it names the other alone, which was owed nothing.
T9=$(uuid); W9=$(uuid); mk_tenant "$T9" "t9"; mk_workspace "$T9" "$W9" EU
S9=$(uuid); C9=$(uuid); X9=$(uuid)
mk_item "$T9" "$S9" "$W9" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/noexec.conf" -q request --tenant "$T9" --item "$S9" --reference R9S --operator tester >/dev/null
run_lethe --config "$WORK/noexec.conf" run
run_lethe --config "$WORK/noexec.conf" ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$S9'")" --operator tester
mk_item "$T9" "$C9" "$W9" response EU 2026-02-01T00:00:00Z false "$S9"
mk_item "$T9" "$X9" "$W9" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/noexec.conf" -q request --tenant "$T9" --item "$X9" --reference R9X --operator tester >/dev/null
run_lethe --config "$WORK/noexec.conf" run
B9=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$C9'")
assert_eq "the copy of the purged source and the other item are in one open batch" "$B9 open" \
  "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$X9'") $(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B9'")"
run_lethe --config "$WORK/noexec.conf" ack "$B9" --failed "$X9:offline" --operator tester
assert_eq "an ack purges the copy and fails the other: the batch closes failed" "failed purged failed" \
  "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B9'") $(sql "SELECT string_agg(outcome, ' ' ORDER BY item_id = '$X9') FROM lethe.batch_items WHERE batch_id = '$B9'")"
NOW9=$(date -u +%FT%T.%6NZ)
mk_event "$T9" deletion_cancelled "$NOW9" R9S
mk_event "$T9" deletion_cancelled "$NOW9" R9X
run_lethe --config "$WORK/noexec.conf" run
run_lethe --config "$WORK/noexec.conf" ack "$B9" --operator tester
assert_eq "the late ack purges the other item" "0|ack: batch $B9 acknowledged: 1 purged, 0 failed" "$RC|$OUT"
assert_eq "... and says that it owed nothing: it alone, not the copy an earlier ack purged" \
  "warning: ack: 1 item of failed batch $B9 owed nothing when acknowledged (the deletion_request it was batched under was withdrawn at $(sql "SELECT lethe.iso_utc(withdrawn_at) FROM lethe.obligations WHERE reference = 'R9X'")): recorded as purged, as the deletion its deleter made" \
  "$(grep 'owed nothing' <<<"$ERR")"
assert_eq "the copy was owed all the same: its source's purge pins it" "1" \
  "$(sql "SELECT count(*) FROM lethe.lineage(ARRAY['$T9'::uuid], ARRAY['$C9'::uuid], now()) WHERE active AND pinned AND depth > 0")"

# An open batch no deleter was ever handed (0 attempts) whose manifest is not in the spool, while
# its location has a deleter: a run killed before it wrote the manifest (an outside tryout ran
# the deleter over the spool by hand and acknowledged every open batch: purges recorded, files
# still on disk). The ack says so, and records what it is told (SPEC §4).
T10=$(uuid); W10=$(uuid); I10=$(uuid); mk_tenant "$T10" "t10"; mk_workspace "$T10" "$W10" EU
mk_item "$T10" "$I10" "$W10" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/noexec.conf" -q request --tenant "$T10" --item "$I10" --reference R10 --operator tester >/dev/null
run_lethe --config "$WORK/noexec.conf" run
B10=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$I10'")
M10=$(find "$WORK" -name "$B10.jsonl" | head -1)
assert_eq "a run without a deleter leaves the batch open, 0 attempts, its manifest in the spool" "open 0 yes" \
  "$(sql "SELECT state || ' ' || attempts FROM lethe.batches WHERE batch_id = '$B10'") $([ -f "$M10" ] && echo yes)"
mv "$M10" "$WORK/m10.keep"
run_lethe --config "$WORK/ok.conf" ack "$B10" --operator tester
assert_eq "acknowledged by hand with a deleter configured and no manifest in the spool: exit 0, recorded, and said" \
  "0|ack: batch $B10 acknowledged: 1 purged, 0 failed|warning: ack: batch $B10 (1 item, EU) was never handed to its deleter (0 attempts) and its manifest is not in the spool: its items are recorded purged on this acknowledgement's word alone
hint: 'lethe rerun $B10' writes its manifest and hands it to the deleter, as the next run does; acknowledge by hand only what was deleted" \
  "$RC|$OUT|$ERR"
T11=$(uuid); W11=$(uuid); I11=$(uuid); mk_tenant "$T11" "t11"; mk_workspace "$T11" "$W11" EU
mk_item "$T11" "$I11" "$W11" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/noexec.conf" -q request --tenant "$T11" --item "$I11" --reference R11 --operator tester >/dev/null
run_lethe --config "$WORK/noexec.conf" run
B11=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$I11'")
run_lethe --config "$WORK/ok.conf" ack "$B11" --operator tester
assert_eq "... with its manifest in the spool (a deleter run on it by hand), nothing is said" \
  "0|ack: batch $B11 acknowledged: 1 purged, 0 failed|" "$RC|$OUT|$ERR"
finish
