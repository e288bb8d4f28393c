# README claims that no other suite asserted: each section quotes the claim, runs the user's
# command and asserts what it does (exit codes, exact messages, rows, files).
#   - the metrics file: lethe_violation_items for a shared copy made while opted out; the run
#     gauges and open batches after a run with a held item and two batches; a config or an
#     option lethe refuses leaves the file byte for byte as it was
#   - a purge under a second hold after a first kept the item past its deadline: 'held; hold H
#     in effect at purge', counted held past the deadline by export --summary
#   - lethe's log never carries locators or subject ids (-v, a deleter failing an item)
#   - an audit key lethe cannot read: request, reconcile and hold release exit 2, nothing audited
#   - run --dry-run takes no lock
#   - status --reference --json: tombstoned_unrecorded
#   - a run whose stdout is full: exit 1, every item purged, run_finished recorded
#   - -v: 'query was: ...' after a failed statement
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-readme_claims.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
NOPRIV=readme_claims_nopriv
DBS="readme_claims_v readme_claims_h readme_claims_l readme_claims_k readme_claims_d readme_claims_t readme_claims_f"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"; for d in $DBS; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done; psql -X -q -d postgres -c "DROP ROLE IF EXISTS $NOPRIV" >/dev/null 2>&1' EXIT

# new_db NAME: a new database, migrated, for one section; the spool and the anchor file under
# $WORK start empty (a new database has anchored nothing yet).
new_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null 2>&1
    export PGDATABASE=$1
    "$LETHE" migrate >/dev/null
    rm -rf "$WORK/spool" "$WORK/anchors.jsonl"
}
# metric FILE NAME: NAME's line for shard "all" in the metrics file FILE.
metric() { grep "^$2{shard=\"all\"} " "$1"; }
write_config "$WORK/noexec.conf"
write_config "$WORK/del.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"

# ---- lethe_violation_items -------------------------------------------------------------------
# README, metrics: `lethe_violation_items`; the sample alert LetheViolationItems "shared copies
# made while opted out: not in the one above" (lethe_overdue_items). The rules table: "a shared
# copy made while opted out is a violation" (`shared_while_opted_out`, due and deadline = its
# created_at). The opt-out is a sharing_opted_out event; a shared copy is an item with shared.
new_db readme_claims_v
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
mk_event "$T" sharing_opted_out "$(date -u -d '-10 days' +%FT%TZ)"
V=$(uuid); mk_item "$T" "$V" "$W" prompt EU "$(date -u -d '-5 days' +%FT%TZ)" true    # shared while opted out
mk_item "$T" "$(uuid)" "$W" prompt EU "$(date -u -d '-5 days' +%FT%TZ)" false          # not shared: no violation
mk_item "$T" "$(uuid)" "$W" prompt EU "$(date -u -d '-20 days' +%FT%TZ)" true          # shared before the opt-out
run_lethe --config "$WORK/noexec.conf" run --metrics-file "$WORK/v.prom"
assert_rc "a run over a copy shared while opted out (no deleter: it waits in its batch)" 0
assert_eq "the metrics file: lethe_violation_items 1, the copy shared before the opt-out and the unshared one not counted" \
  'lethe_violation_items{shard="all"} 1' "$(metric "$WORK/v.prom" lethe_violation_items)"
assert_eq "... and not in lethe_overdue_items (the sample alert: 'not in the one above')" \
  'lethe_overdue_items{shard="all"} 0' "$(metric "$WORK/v.prom" lethe_overdue_items)"
assert_eq "the violation is the item shared while opted out" "$V|shared_while_opted_out" \
  "$(sql "SELECT item_id || '|' || rule FROM lethe.batch_items WHERE rule = 'shared_while_opted_out'")"
# "not purged yet": once its batch is acknowledged, the gauge is back to 0.
for b in $(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'"); do
    "$LETHE" --config "$WORK/noexec.conf" ack "$b" --operator user_o >/dev/null 2>&1
done
run_lethe --config "$WORK/noexec.conf" run --metrics-file "$WORK/v.prom"
assert_eq "once the copy is purged, lethe_violation_items 0" \
  'lethe_violation_items{shard="all"} 0' "$(metric "$WORK/v.prom" lethe_violation_items)"

# ---- a config or an option lethe refuses leaves the metrics file as it was -------------------
# README: "a config or an option lethe refuses before that leaves the file as it was (exit 2)".
cp "$WORK/v.prom" "$WORK/v.before"
printf 'metrics: { file = "%s"; };\nspool: { directory = "%s"; keep = "forever"; };\naudit: { anchor_file = "%s"; };\n' \
  "$WORK/v.prom" "$WORK/spool" "$WORK/anchors.jsonl" >"$WORK/refused.conf"
run_lethe --config "$WORK/refused.conf" run
assert_eq "a config naming the metrics file, refused: exit 2, saying why" "2|error: config: '$WORK/refused.conf' line 2: 'spool.keep': bad duration \"forever\"" \
  "$RC|$(head -1 <<<"$ERR")"
cmp -s "$WORK/v.before" "$WORK/v.prom"
assert_eq "... and the metrics file is byte for byte as the last run wrote it" "0" "$?"
run_lethe --config "$WORK/noexec.conf" run --metrics-file "$WORK/v.prom" --as-of 2026-01-01T00:00:00.1234567
assert_eq "an option refused (--as-of with 7 fractional digits): exit 2, saying why" "2|has more than 6 fractional digits" \
  "$RC|$(head -1 <<<"$ERR" | grep -o 'has more than 6 fractional digits')"
cmp -s "$WORK/v.before" "$WORK/v.prom"
assert_eq "... and the metrics file is byte for byte as it was" "0" "$?"
run_lethe --config "$WORK/noexec.conf" run --metrics-file "$WORK/v.prom" --shard 3/2
assert_eq "an option refused (--shard 3/2): exit 2, the file as it was" \
  '2|error: run: --shard: malformed shard "3/2" (expected K/N with 0 <= K < N <= 32)|0' \
  "$RC|$(head -1 <<<"$ERR")|$(cmp -s "$WORK/v.before" "$WORK/v.prom"; echo $?)"
# The comparison does see a write: a run that fails later (the database out of reach) says so.
run_lethe --config "$WORK/noexec.conf" --db "host=$WORK/nowhere dbname=none" run --metrics-file "$WORK/v.prom"
assert_eq "(control) a run that fails past the options: exit 1, lethe_run_success 0 in the file" \
  '1|lethe_run_success{shard="all"} 0' "$RC|$(metric "$WORK/v.prom" lethe_run_success)"
# README: "an executor setting refused" sets it to 0: a deleter program gone (a package removed)
# and a spool that is no directory refuse every run; they left the last run's 1 there (an
# outside tryout's finding).
assert_eq "(the file as the last good run left it)" 'lethe_run_success{shard="all"} 1' "$(metric "$WORK/v.before" lethe_run_success)"
write_config "$WORK/gone.conf" "executor: { command = \"$WORK/no-such-deleter\"; timeout = \"30s\"; };"
cp "$WORK/v.before" "$WORK/g.prom"
run_lethe --config "$WORK/gone.conf" run --metrics-file "$WORK/g.prom"
assert_eq "a deleter program gone: exit 2, saying why, lethe_run_success 0 in the file" \
  "2|its program '$WORK/no-such-deleter': No such file or directory|lethe_run_success{shard=\"all\"} 0" \
  "$RC|$(grep -o "its program '[^']*': No such file or directory" <<<"$ERR" | head -1)|$(metric "$WORK/g.prom" lethe_run_success)"
: > "$WORK/spool-file"
sed "s|directory = \"$WORK/spool\"|directory = \"$WORK/spool-file\"|" "$WORK/noexec.conf" > "$WORK/spoolfile.conf"
cp "$WORK/v.before" "$WORK/g.prom"
run_lethe --config "$WORK/spoolfile.conf" run --metrics-file "$WORK/g.prom"
assert_eq "a spool that is a file: exit 2, lethe_run_success 0 in the file" \
  '2|lethe_run_success{shard="all"} 0' "$RC|$(metric "$WORK/g.prom" lethe_run_success)"

# ---- lethe_run_batches, lethe_run_items_held, lethe_open_batches ------------------------------
# README, metrics: lethe_run_batches and lethe_run_items_held are the last run's; "the gauges
# (overdue, held, violations, failing, open batches) are the whole catalog's". One held due
# item, two due items in two locations, no deleter: two batches emitted and left open.
T2=$(uuid); W2E=$(uuid); W2U=$(uuid); mk_tenant "$T2" beta; mk_workspace "$T2" "$W2E" EU; mk_workspace "$T2" "$W2U" US
E=$(uuid); U=$(uuid); Z=$(uuid)
mk_item "$T2" "$E" "$W2E" prompt EU 2026-01-01T00:00:00Z
mk_item "$T2" "$U" "$W2U" prompt US 2026-01-01T00:00:00Z
mk_item "$T2" "$Z" "$W2E" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/noexec.conf" request --tenant "$T2" --reference GAUGE-1 --operator user_o
run_lethe --config "$WORK/noexec.conf" hold place --tenant "$T2" --item "$Z" --reason litigation --operator user_h
rm -f "$WORK/g.prom"
run_lethe --config "$WORK/noexec.conf" run --metrics-file "$WORK/g.prom"
assert_contains "the run: 2 batches, 1 held" "2 due, 2 batches, 0 purged, 0 failed items, 0 failed batches, 1 held" "$OUT"
assert_eq "the metrics: lethe_run_batches 2, lethe_run_items_held 1, lethe_open_batches 2" \
  'lethe_run_batches{shard="all"} 2
lethe_run_items_held{shard="all"} 1
lethe_open_batches{shard="all"} 2' \
  "$(metric "$WORK/g.prom" lethe_run_batches; metric "$WORK/g.prom" lethe_run_items_held; metric "$WORK/g.prom" lethe_open_batches)"
assert_eq "... as many open batches as the catalog has" "2" "$(sql "SELECT count(*) FROM lethe.batches WHERE state = 'open'")"
run_lethe --config "$WORK/noexec.conf" run --metrics-file "$WORK/g.prom"
assert_eq "the next run emits nothing: lethe_run_batches 0 (the last run's), lethe_open_batches still 2 (the catalog's)" \
  'lethe_run_batches{shard="all"} 0
lethe_run_items_held{shard="all"} 1
lethe_open_batches{shard="all"} 2' \
  "$(metric "$WORK/g.prom" lethe_run_batches; metric "$WORK/g.prom" lethe_run_items_held; metric "$WORK/g.prom" lethe_open_batches)"

# ---- status --reference --json: tombstoned_unrecorded -----------------------------------------
# README: "An item tombstoned in the catalog with no purge recorded for it (a superuser's
# UPDATE, which the triggers let through) is not counted purged: it is counted apart
# (`tombstoned with no purge record`, `tombstoned_unrecorded`) and the request is not done."
new_db readme_claims_t
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
K=$(uuid); mk_item "$T" "$K" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/noexec.conf" request --tenant "$T" --item "$K" --reference CASE-14 --operator user_o
psql -X -q -c "SET session_replication_role = replica; UPDATE lethe.items SET locator = NULL, owner_id = NULL WHERE item_id = '$K'" >/dev/null 2>&1 \
  || sql "ALTER TABLE lethe.items DISABLE TRIGGER ALL; UPDATE lethe.items SET locator = NULL, owner_id = NULL WHERE item_id = '$K'; ALTER TABLE lethe.items ENABLE TRIGGER ALL" >/dev/null
assert_eq "the item is tombstoned by the superuser's UPDATE" "1" "$(sql "SELECT count(*) FROM lethe.items WHERE item_id = '$K' AND locator IS NULL")"
run_lethe --config "$WORK/noexec.conf" run
run_lethe --config "$WORK/noexec.conf" status --reference CASE-14 --tenant "$T" --json
assert_eq "status --reference --json: tombstoned_unrecorded 1, purged 0, not done" "0|1|1|0|False" \
  "$RC|$(python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["covered"], s["tombstoned_unrecorded"], s["purged"]["count"], s["done"], sep="|")' <<<"$OUT")"

# ---- 'held; hold H in effect at purge' ---------------------------------------------------------
# README: the item_purged record carries "`held; hold H in effect at purge` when another hold
# had already kept the item past its deadline: that one keeps `hold_id` and the reference, and
# the purge counts as held past the deadline" (sql/0064_purged_under_hold.sql). Hold A, placed
# before the deadline and in effect at it, keeps the item past it; once A is released the item
# is batched; hold B, placed while the batch waits for its deleter, is in effect at the purge.
new_db readme_claims_h
write_config "$WORK/short.conf" 'rules: { deletion_request: { deadline = "4s"; }; };'
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
X=$(uuid); mk_item "$T" "$X" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/short.conf" request --tenant "$T" --item "$X" --reference CASE-70 --operator user_o
run_lethe --config "$WORK/short.conf" hold place --tenant "$T" --item "$X" --reason litigation --reference LIT-7 --operator user_h
HA=$OUT
run_lethe --config "$WORK/short.conf" run
assert_contains "hold A keeps the item" "0 batches, 0 purged, 0 failed items, 0 failed batches, 1 held" "$OUT"
for _ in $(seq 100); do   # until the deadline has passed, with hold A in effect
    [ "$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'CASE-70' AND occurred_at + interval '4 seconds' < now()")" -gt 0 ] && break
    sleep 0.1
done
run_lethe --config "$WORK/short.conf" hold release "$HA" --operator user_h
run_lethe --config "$WORK/short.conf" run
assert_contains "released after the deadline: the item is batched (no deleter: the batch waits)" "1 batches, 0 purged" "$OUT"
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$X'")
run_lethe --config "$WORK/short.conf" hold place --tenant "$T" --item "$X" --reason inquiry --reference INQ-8 --operator user_h
HB=$OUT
assert_contains "hold B, placed while the batch waits, warns that it does not recall it" "already in open batch $B (EU), which a hold does not recall" "$ERR"
run_lethe --config "$WORK/short.conf" ack "$B" --operator user_o
assert_rc "the batch acknowledged" 0
assert_eq "the item_purged record: detail 'held; hold B in effect at purge', hold A's id and reference, not on time" \
  "held; hold $HB in effect at purge|$HA|LIT-7|false" \
  "$(sql "SELECT detail || '|' || hold_id || '|' || reference || '|' || on_time FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$X'")"
run_lethe --config "$WORK/short.conf" export --summary -o "$WORK/h.jsonl"
assert_eq "export --summary: purged 1, on time 0, late 0, held past the deadline 1" "1 0 0 1" \
  "$(summary_rule "$WORK/h.jsonl" deletion_request purged on_time late held_past_deadline)"

# ---- lethe's log carries no locator and no subject id ------------------------------------------
# README, logging: "lethe never writes customer content, locators or subject ids into its logs;
# an executor's own stderr is passed through as it is". Items whose locators and owner_id hold a
# marker, a subject request and a subject hold naming it, a run and a rerun at -v with a deleter
# that deletes two and fails one (its reason and its stderr say nothing identifying).
new_db readme_claims_l
MARK=zqMARKERq7
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
L1=$(uuid); L2=$(uuid); L3=$(uuid); L4=$(uuid)
for i in "$L1" "$L2" "$L3"; do
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id)
         VALUES ('$T', '$i', '$W', 'prompt', 'EU', 'file://$STORE/$MARK-$i', '2026-01-01', 'subject-$MARK')" >/dev/null
done
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id, parent_id)
     VALUES ('$T', '$L4', '$W', 'prompt', 'EU', 'file://$STORE/$MARK-copy', '2026-01-02', 'subject-$MARK', '$L1')" >/dev/null
cat >"$WORK/marker-deleter" <<EOS
#!/bin/sh
# deletes nothing; acknowledges every item but $L3, which it fails; never prints a locator
python3 - "\$1" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[1:]
ok = failed = 0
for l in lines:
    item = json.loads(l)["item_id"]
    if item == "$L3":
        print("failed", item, "permission denied"); failed += 1
    else:
        print("deleted", item); ok += 1
print("deleter: %d deleted, %d failed" % (ok, failed), file=sys.stderr)
PY
EOS
chmod +x "$WORK/marker-deleter"
write_config "$WORK/marker.conf" "executor: { command = \"$WORK/marker-deleter\"; };"
LOG=""
run_lethe --config "$WORK/marker.conf" -v request --tenant "$T" --subject "subject-$MARK" --reference GDPR-9 --operator user_o
assert_rc "a subject request (-v)" 0; LOG+="$OUT$ERR"
run_lethe --config "$WORK/marker.conf" -v run --dry-run --items
assert_eq "a dry run's item list (-v): the four covered items" "0|4" "$RC|$(grep -cE "$L1|$L2|$L3|$L4" <<<"$OUT")"; LOG+="$OUT$ERR"
run_lethe --config "$WORK/marker.conf" -v run
assert_contains "the run (-v): 3 purged, 1 failed" "4 due, 1 batches, 3 purged, 1 failed items, 1 failed batches" "$OUT"; LOG+="$OUT$ERR"
assert_eq "... its phases logged at debug, the deleter's stderr passed through" "yes|1" \
  "$(grep -q '^debug: phase derive' <<<"$ERR" && echo yes)|$(grep -c '^executor: deleter: 3 deleted, 1 failed' <<<"$ERR")"
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$L3'")
run_lethe --config "$WORK/marker.conf" -v rerun "$B" --operator user_o
assert_contains "a rerun of the failed batch (-v), its item failing again" "1 failed" "$OUT$ERR"; LOG+="$OUT$ERR"
run_lethe --config "$WORK/marker.conf" -v hold place --tenant "$T" --subject "subject-$MARK" --reason litigation --operator user_h
assert_rc "a subject hold (-v)" 0; LOG+="$OUT$ERR"
run_lethe --config "$WORK/marker.conf" -v run
assert_contains "a run with the item held (-v)" "1 held" "$OUT"; LOG+="$OUT$ERR"
assert_eq "the marker is in the catalog still (the failed item's locator and owner id; 3 tombstoned)" "1|1|3" \
  "$(sql "SELECT count(*) FROM lethe.items WHERE locator LIKE '%$MARK%'")|$(sql "SELECT count(*) FROM lethe.items WHERE owner_id LIKE '%$MARK%'")|$(sql "SELECT count(*) FROM lethe.items WHERE owner_id IS NULL")"
assert_not_contains "no locator and no subject id in anything lethe printed" "$MARK" "$LOG"

# ---- an audit key lethe cannot read: request, reconcile, hold release ---------------------------
# README, installing: "The commands that compute HMACs with it read it, and exit 2 when they
# cannot: ... `reconcile` (inventory lines), and `request`, `hold place` and `hold release`".
# Each is first tried with a key it cannot read (a file of mode 0000 read by another user, as
# root reads every file; and a FIFO), then with the key: each would have audited something.
new_db readme_claims_k
head -c 32 /dev/urandom >"$WORK/audit.key"; chmod 0600 "$WORK/audit.key"
write_config "$WORK/key.conf" "audit: { key_file = \"$WORK/audit.key\"; };" \
  "executor: { command = \"$FS_DELETE --root $STORE\"; };"
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
P=$(uuid); mk_item "$T" "$P" "$W" prompt EU 2026-01-01T00:00:00Z
Q=$(uuid); mk_item "$T" "$Q" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/key.conf" request --tenant "$T" --item "$P" --reference KEY-1 --operator user_o
run_lethe --config "$WORK/key.conf" run
assert_contains "an item purged with the key" "1 purged" "$OUT"
echo "restored" >"$STORE/$P"                        # a storage restore brought it back
printf 'file://%s/%s\n' "$STORE" "$P" >"$WORK/inventory"
run_lethe --config "$WORK/key.conf" hold place --tenant "$T" --item "$Q" --reason litigation --operator user_h
H=$OUT
cp "$WORK/audit.key" "$WORK/closed.key"; chmod 0000 "$WORK/closed.key"
write_config "$WORK/closed.conf" "audit: { key_file = \"$WORK/closed.key\"; };"
mkfifo "$WORK/fifo.key"
write_config "$WORK/fifo.conf" "audit: { key_file = \"$WORK/fifo.key\"; };"
chmod 0755 "$WORK"; chmod 0644 "$WORK/closed.conf" "$WORK/fifo.conf" "$WORK/inventory"
# as_other ARGS...: lethe as a user who cannot read closed.key (root reads every file: nobody)
as_other() {
    if [ "$(id -u)" = 0 ]; then
        OUT=$(cd / && runuser -u nobody -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" \
              "$LETHE" "$@" 2>"$WORK/other.err"); RC=$?
    else
        OUT=$("$LETHE" "$@" 2>"$WORK/other.err"); RC=$?
    fi
    ERR=$(cat "$WORK/other.err")
}
AUDIT0=$(sql "SELECT count(*) FROM lethe.audit")
EVENTS0=$(sql "SELECT count(*) FROM lethe.events")
for how in closed fifo; do
    if [ $how = closed ]; then run=as_other; why="cannot read the key file (Permission denied): \"$WORK/closed.key\""
    else run=run_lethe; why="the key file is not a regular file (a FIFO): \"$WORK/fifo.key\""; fi
    $run --config "$WORK/$how.conf" request --tenant "$T" --item "$Q" --reference KEY-2 --operator user_o
    assert_eq "request, the key $how: exit 2, naming the key file" "2|error: config: '$WORK/$how.conf' line 2: 'audit.key_file': $why" \
      "$RC|$(head -1 <<<"$ERR")"
    $run --config "$WORK/$how.conf" reconcile --location EU "$WORK/inventory" --operator user_o
    assert_eq "reconcile, the key $how: exit 2" "2|error: config: '$WORK/$how.conf' line 2: 'audit.key_file': $why" \
      "$RC|$(head -1 <<<"$ERR")"
    $run --config "$WORK/$how.conf" hold release "$H" --operator user_h
    assert_eq "hold release, the key $how: exit 2" "2|error: config: '$WORK/$how.conf' line 2: 'audit.key_file': $why" \
      "$RC|$(head -1 <<<"$ERR")"
    assert_eq "... no audit row, no event, no repurge, the hold still in effect" "$AUDIT0|$EVENTS0|0|1" \
      "$(sql "SELECT count(*) FROM lethe.audit")|$(sql "SELECT count(*) FROM lethe.events")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_repurged'")|$(sql "SELECT count(*) FROM lethe.holds WHERE released_at IS NULL")"
done
# With the key, each of them audits.
run_lethe --config "$WORK/key.conf" request --tenant "$T" --item "$Q" --reference KEY-2 --operator user_o
assert_eq "(control) request with the key: recorded, audited" "0|1" "$RC|$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'KEY-2'")"
run_lethe --config "$WORK/key.conf" reconcile --location EU "$WORK/inventory" --operator user_o
assert_eq "(control) reconcile with the key: the restored object audited item_repurged" "0|1" \
  "$RC|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_repurged' AND item_id = '$P'")"
run_lethe --config "$WORK/key.conf" hold release "$H" --operator user_h
assert_eq "(control) hold release with the key: released, audited" "0|1" \
  "$RC|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'hold_released' AND hold_id = '$H'")"

# ---- run --dry-run takes no lock -----------------------------------------------------------------
# README: "`--dry-run` takes no lock and writes nothing anywhere". Another session holds the run
# lock (sql/0006_receipts.sql: lethe.run_lock takes (7283310, 0)) and every other lock class of
# lethe's (7283311 to 7283316, the hold fence among them, and the bigint 7283310001).
new_db readme_claims_d
T=$(uuid); W=$(uuid); WU=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU; mk_workspace "$T" "$WU" US
mk_item "$T" "$(uuid)" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$(uuid)" "$WU" prompt US 2026-01-01T00:00:00Z
run_lethe --config "$WORK/noexec.conf" request --tenant "$T" --reference DRY-1 --operator user_o
psql -X -q -c "SELECT pg_advisory_lock(7283310, 0), pg_advisory_lock(7283311, 0), pg_advisory_lock(7283312, 0),
                      pg_advisory_lock(7283313, 0), pg_advisory_lock(7283314, 0), pg_advisory_lock(7283315, 0),
                      pg_advisory_lock(7283316, 0), pg_advisory_lock(7283310001)" -c "SELECT pg_sleep(31)" >/dev/null 2>&1 &
LOCKER=$!
wait_for "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 7283310 AND objid = 0 AND objsubid = 2"
assert_eq "the run lock is held by another session" "0" "$?"
RUNS0=$(sql "SELECT count(*) FROM lethe.runs")
OUT=$(timeout 20 "$LETHE" --config "$WORK/noexec.conf" run --dry-run 2>"$WORK/dry.err"); RC=$?; ERR=$(cat "$WORK/dry.err")
assert_eq "run --dry-run meanwhile: exit 0 at once, with its plan" "0|plan at|  due 2 items, held 0|  EU                                          1 item in 1 batch, 0 held" \
  "$RC|$(head -1 <<<"$OUT" | grep -o '^plan at')|$(grep '^  due' <<<"$OUT")|$(grep '^  EU ' <<<"$OUT")"
assert_eq "... and writes nothing (no run, no batch)" "$RUNS0|0" "$(sql "SELECT count(*) FROM lethe.runs")|$(sql "SELECT count(*) FROM lethe.batches")"
run_lethe --config "$WORK/noexec.conf" run
assert_eq "(control) a real run meanwhile: exit 3, the lock held" "3|error: the run lock is held by another session" \
  "$RC|$(head -1 <<<"$ERR" | grep -o '^error: the run lock is held by another session')"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(31)'" >/dev/null
wait $LOCKER 2>/dev/null

# ---- a run whose standard output is full ----------------------------------------------------------
# README, executors: "Nothing an executor prints can stop the engine, and neither can a closed
# output of lethe's own: a run ... goes on to its end and records every receipt (it exits 1 when
# it could not write its summary)". lethe run >/dev/full, with fs-delete.
new_db readme_claims_f
T=$(uuid); W=$(uuid); WU=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU; mk_workspace "$T" "$WU" US
FI=()
for g in EU EU US; do
    i=$(uuid); FI+=("$i")
    [ $g = EU ] && mk_item "$T" "$i" "$W" prompt EU 2026-01-01T00:00:00Z || mk_item "$T" "$i" "$WU" prompt US 2026-01-01T00:00:00Z
done
run_lethe --config "$WORK/del.conf" request --tenant "$T" --reference FULL-1 --operator user_o
"$LETHE" --config "$WORK/del.conf" run >/dev/full 2>"$WORK/full.err"; RC=$?
assert_eq "lethe run >/dev/full: exit 1, saying it could not write its summary" "1|error: run: cannot write to standard output: No space left on device" \
  "$RC|$(grep '^error:' "$WORK/full.err")"
assert_eq "... every item purged: receipts recorded, tombstoned, the files gone" "3|0|0" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE outcome = 'purged'")|$(sql "SELECT count(*) FROM lethe.items WHERE tenant_id = '$T' AND locator IS NOT NULL")|$(ls "$STORE" | grep -cF -e "${FI[0]}" -e "${FI[1]}" -e "${FI[2]}")"
R=$(sql "SELECT run_id FROM lethe.runs")
assert_eq "... and the run's end recorded: run_finished, the run succeeded with 3 purged" \
  "succeeded, due 3, batches 2, failed items 0, failed batches 0, held 0, events 1|succeeded|3" \
  "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'run_finished' AND run_id = '$R'")|$(sql "SELECT outcome || '|' || purged FROM lethe.runs WHERE run_id = '$R'")"

# ---- -v: 'query was: ...' after a failed statement -------------------------------------------------
# README, logging: -v adds debug lines, "and `query was: ...` after a failed statement, as
# PostgreSQL's own clients do". A login granted none of lethe's roles: its first statement is
# refused.
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $NOPRIV" -c "CREATE ROLE $NOPRIV LOGIN" >/dev/null 2>&1
PGUSER=$NOPRIV run_lethe --config "$WORK/noexec.conf" -v status
assert_eq "status -v as a login with no lethe role: exit 1, the refusal, then the statement" \
  "1|error: query failed: permission denied for schema lethe|debug: query was: SELECT has_function_privilege('lethe.inbox_fill()', 'EXECUTE')" \
  "$RC|$(grep '^error: query failed' <<<"$ERR")|$(grep -A2 '^error: query failed' <<<"$ERR" | grep -o "^debug: query was: SELECT has_function_privilege('lethe.inbox_fill()', 'EXECUTE')")"
assert_eq "... right after the refusal and its hint" "debug: query was:" \
  "$(grep -A2 '^error: query failed' <<<"$ERR" | sed -n 3p | grep -o '^debug: query was:')"
PGUSER=$NOPRIV run_lethe --config "$WORK/noexec.conf" status
assert_eq "... and without -v, not" "1|0" "$RC|$(grep -c 'query was' <<<"$ERR")"

finish
