# Copies committed late (sql/0042_late_copies.sql). A request is expanded into item rows once, by
# the first run at whose as_of it is due; an item inside its scope committed after that (created
# before the request: covered, SPEC §3) got a row only when the run that first saw it found the
# request due. A run that found it not due (the rule disabled for a while, its grace lengthened
# for a while, an --as-of before the due time) left the copy without a row, and no run after it
# looked again: the copy was kept for good, counted nowhere by status.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-late.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
EXEC="executor: { command = \"$FS_DELETE --root $STORE\"; };"
write_config "$WORK/on.conf" "$EXEC" 'rules: { deletion_request: { deadline = "30d"; grace = "10d"; }; };'
write_config "$WORK/off.conf" "$EXEC" 'rules: { deletion_request: { deadline = "30d"; grace = "10d"; enabled = false; }; };'
write_config "$WORK/long.conf" "$EXEC" 'rules: { deletion_request: { deadline = "30d"; grace = "20d"; }; };'
purged() { sql "SELECT CASE WHEN locator IS NULL THEN 'purged' ELSE 'live' END FROM lethe.items WHERE item_id = '$1'"; }

# fixture NAME: a database with one request (2026-03-01, due 2026-03-11) already expanded and
# its one item purged; sets T, W and PGDATABASE.
fixture() {
    psql -X -q -c "DROP DATABASE IF EXISTS late_$1" -c "CREATE DATABASE late_$1" >/dev/null 2>&1
    export PGDATABASE=late_$1
    rm -f "$WORK/anchors.jsonl"   # each database its own anchor file
    "$LETHE" migrate >/dev/null
    T=$(uuid); W=$(uuid); mk_tenant "$T" "t-$1"; mk_workspace "$T" "$W" EU
    FIRST=$(uuid); mk_item "$T" "$FIRST" "$W" prompt EU 2026-02-01T00:00:00Z
    mk_event "$T" deletion_requested 2026-03-01T00:00:00Z "R-$1"
    run_lethe --config "$WORK/on.conf" run --as-of 2026-03-12T00:00:00Z
    assert_contains "$1: the request is expanded and its item purged" "1 due, 1 batches, 1 purged" "$OUT"
}

# ---- the rule disabled while the copy comes in ------------------------------------------------
fixture off
L=$(uuid); mk_item "$T" "$L" "$W" prompt EU 2026-02-15T00:00:00Z
run_lethe --config "$WORK/off.conf" run --as-of 2026-03-12T01:00:00Z
assert_contains "off: the run with the rule disabled purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
assert_eq "off: ... but the copy has its row" 1 \
  "$(sql "SELECT count(*) FROM lethe.item_obligations WHERE item_id = '$L' AND rule = 'deletion_request'")"
run_lethe --config "$WORK/on.conf" run --as-of 2026-03-12T02:00:00Z
assert_contains "off: the rule enabled again, the copy is due at once" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "off: the copy is purged" purged "$(purged "$L")"
assert_eq "off: under the request, late (its deadline passed months before this purge)" \
  "deletion_request R-off false" \
  "$(sql "SELECT rule || ' ' || reference || ' ' || on_time FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$L'")"

# ---- a run with an --as-of before the due time sees the copy ----------------------------------
fixture past
L=$(uuid); mk_item "$T" "$L" "$W" prompt EU 2026-02-15T00:00:00Z
run_lethe --config "$WORK/on.conf" run --as-of 2026-03-05T00:00:00Z
assert_contains "past: a run before the due time purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
run_lethe --config "$WORK/on.conf" run --as-of 2026-03-12T02:00:00Z
assert_contains "past: the next run after the due time purges the copy" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "past: the copy is purged" purged "$(purged "$L")"

# ---- the grace lengthened while the copy comes in, then set back ------------------------------
fixture long
L=$(uuid); mk_item "$T" "$L" "$W" prompt EU 2026-02-15T00:00:00Z
run_lethe --config "$WORK/long.conf" run --as-of 2026-03-12T01:00:00Z
assert_contains "long: with a 20-day grace the copy is not due" "0 due, 0 batches, 0 purged" "$OUT"
run_lethe status --reference R-long --tenant "$T"
assert_contains "long: status counts the copy under its request, not purged" "covered items: 2
  purged:     1" "$OUT"
run_lethe --config "$WORK/on.conf" run --as-of 2026-03-12T02:00:00Z
assert_contains "long: the grace set back, the copy is purged" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "long: the copy is purged" purged "$(purged "$L")"

# ---- a copy of a purged item, committed while the rule is disabled ----------------------------
fixture pin
C=$(uuid)
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, parent_id)
     VALUES ('$T', '$C', '$W', 'response', 'EU', 'file://$STORE/$C', '2026-04-01T00:00:00Z', '$FIRST')" >/dev/null
echo "content of $C" >"$STORE/$C"
run_lethe --config "$WORK/off.conf" run --as-of 2026-04-02T00:00:00Z
assert_contains "pin: a copy made after the request, of its purged item, waits while the rule is off" \
  "0 due, 0 batches, 0 purged" "$OUT"
run_lethe --config "$WORK/on.conf" run --as-of 2026-04-02T01:00:00Z
assert_contains "pin: the rule enabled again, the copy follows its source" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "pin: the copy is purged" purged "$(purged "$C")"

# ---- the control: a copy that comes in while its request is due is purged at once ------------
fixture due
L=$(uuid); mk_item "$T" "$L" "$W" prompt EU 2026-02-15T00:00:00Z
run_lethe --config "$WORK/on.conf" run --as-of 2026-03-12T01:00:00Z
assert_contains "due: the copy is purged by the run that sees it" "1 due, 1 batches, 1 purged" "$OUT"
run_lethe --config "$WORK/on.conf" run --as-of 2026-03-12T02:00:00Z
assert_contains "due: the run after it has nothing to do" "0 due, 0 batches, 0 purged" "$OUT"

for d in off past long pin due; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS late_$d" >/dev/null 2>&1; done
finish
