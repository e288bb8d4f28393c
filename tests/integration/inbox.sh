# The inbox without triggers (sql/0043_inbox_watermark.sql): items and events are numbered from
# one sequence, and lethe moves what was committed into the inbox when it looks. The cases are
# the producers a trigger never had to think about: one whose transaction stays open across a
# run while others commit after it, one that rolls back, many at once in any order.
. tests/harness/lib.sh
. tests/harness/catalog.sh
. tests/harness/pg.sh
WORK=$(mktemp -d /tmp/lethe-inbox.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'psql -X -q -c "INSERT INTO public.go VALUES (0)" >/dev/null 2>&1; wait; rm -rf "$WORK"' EXIT
write_config "$WORK/lethe.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
run() { run_lethe --config "$WORK/lethe.conf" run; }
state() { sql "SELECT CASE WHEN locator IS NULL THEN 'purged' ELSE 'live' END FROM lethe.items WHERE item_id = '$1'"; }
purges() { sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$1'"; }
gaps() { sql "SELECT count(*) FROM lethe.inbox_gaps"; }

psql -X -q -c 'DROP DATABASE IF EXISTS inbox_t' -c 'CREATE DATABASE inbox_t' >/dev/null 2>&1
export PGDATABASE=inbox_t
"$LETHE" migrate >/dev/null
sql "CREATE TABLE public.go (n int)" >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" inbox; mk_workspace "$T" "$W" EU
# A tenant-wide request, due long ago and expanded by the first run: every item of the tenant
# created before it that comes in later is due at once (a late copy, SPEC §3).
mk_item "$T" "$(uuid)" "$W" prompt EU 2026-02-01T00:00:00Z
mk_event "$T" deletion_requested 2026-03-01T00:00:00Z R-1
run
assert_contains "the request is expanded and its first item purged" "1 due, 1 batches, 1 purged" "$OUT"

# writer ID SQL END: a producer's session that inserts (SQL), then waits, its transaction open,
# until public.go holds ID (or 0, or 60 s), then ends with END (COMMIT or ROLLBACK).
writer() {
    psql -X -q -v ON_ERROR_STOP=1 -c "BEGIN" -c "$2" \
         -c "DO \$\$ BEGIN FOR i IN 1..1200 LOOP
               EXIT WHEN EXISTS (SELECT 1 FROM public.go WHERE n IN ($1, 0));
               PERFORM pg_sleep(0.05); END LOOP; END \$\$" -c "$3" >/dev/null 2>"$WORK/writer.$1.err" &
    eval "WPID_$1=$!"
}
# waiting N: until N sessions but this one's hold a write lock on items or events.
waiting() {
    for _ in $(seq 200); do
        [ "$(sql "SELECT count(DISTINCT pid) FROM pg_locks WHERE mode = 'RowExclusiveLock'
                   AND relation IN ('lethe.items'::regclass, 'lethe.events'::regclass)")" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
release() { sql "INSERT INTO public.go VALUES ($1)" >/dev/null; eval "wait \$WPID_$1"; }
item_sql() { # ID: an item of the tenant created before the request
    echo "content of $1" > "$STORE/$1"
    echo "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
          VALUES ('$T', '$1', '$W', 'prompt', 'EU', 'file://$STORE/$1', '2026-02-15T00:00:00Z')"
}

# ---- a producer's transaction open across a run, another's committed after it ----------------
A=$(uuid); B=$(uuid)
writer 1 "$(item_sql "$A")" COMMIT
waiting 1 || not_ok "the first writer never took its lock"
mk_item "$T" "$B" "$W" prompt EU 2026-02-15T00:00:00Z   # numbered after A, committed first
run
assert_contains "open writer: the run purges the item committed after it" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "open writer: that item is purged" purged "$(state "$B")"
assert_eq "open writer: the open one's number is kept as a gap, with its writer" 1 "$(gaps)"
run
assert_contains "open writer: a second run while it is still open purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
assert_eq "open writer: ... and keeps the gap (its writer has not ended)" 1 "$(gaps)"
release 1
assert_eq "open writer: its item is committed now, live" live "$(state "$A")"
run
assert_contains "open writer: the next run purges it" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "open writer: purged, once" "purged 1 1" "$(state "$A") $(purges "$A") $(purges "$B")"
assert_eq "open writer: no gap is left" 0 "$(gaps)"

# ---- a producer that rolls back ---------------------------------------------------------------
C=$(uuid)
writer 2 "$(item_sql "$C")" ROLLBACK
waiting 1 || not_ok "the rolled-back writer never took its lock"
run
assert_contains "rolled back: a run while it is open purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
assert_eq "rolled back: its number waits as a gap" 1 "$(gaps)"
release 2
run
assert_contains "rolled back: the run after it purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
assert_eq "rolled back: the gap is let go, the item never was" "0 0" \
  "$(gaps) $(sql "SELECT count(*) FROM lethe.items WHERE item_id = '$C'")"

# ---- an event from a writer open across a run: a request for an item of another tenant -------
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" other; mk_workspace "$T2" "$W2" EU
X=$(uuid); mk_item "$T2" "$X" "$W2" prompt EU 2026-01-01T00:00:00Z
writer 3 "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, item_id)
          VALUES ('$T2', 'deletion_requested', '2026-03-01T00:00:00Z', 'R-X', '$X')" COMMIT
waiting 1 || not_ok "the event's writer never took its lock"
run
assert_contains "open event: nothing to purge while its writer is open" "0 due, 0 batches, 0 purged" "$OUT"
release 3
run
assert_contains "open event: the request is purged by the next run" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "open event: under R-X" "deletion_request R-X" \
  "$(sql "SELECT rule || ' ' || reference FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$X'")"

# ---- a dry run and status look too -------------------------------------------------------------
D=$(uuid); mk_item "$T" "$D" "$W" prompt EU 2026-02-15T00:00:00Z
assert_eq "before lethe looks: the inbox holds nothing of it, SQL's pending rows count it due" "0 due" \
  "$(sql "SELECT count(*) FROM lethe.inbox_items") $(sql "SELECT state FROM lethe.pending_items(now()) WHERE item_id = '$D'")"
run_lethe --config "$WORK/lethe.conf" explain "$D" --json
assert_eq "before lethe looks: explain says the item is not consumed yet, and writes nothing" "true 0" \
  "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["unconsumed_item"]).lower())') $(sql "SELECT count(*) FROM lethe.inbox_items")"
run_lethe --config "$WORK/lethe.conf" run --dry-run
assert_contains "dry run: a late copy committed since the last run is in the plan" "due 1 item, held 0" "$OUT"
assert_eq "dry run: ... and it wrote nothing (the fill rolled back with the plan)" "0 0" \
  "$(sql "SELECT count(*) FROM lethe.inbox_items") $(sql "SELECT count(*) FROM lethe.inbox_gaps")"
run_lethe --config "$WORK/lethe.conf" status --json
assert_eq "status: ... and due in status, overdue (its request's deadline passed long ago)" "1 1" \
  "$(printf '%s' "$OUT" | python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["totals"]["due"], d["overdue"]["count"])')"
run
assert_contains "dry run and status wrote nothing a run would miss: it purges the copy" \
  "1 due, 1 batches, 1 purged" "$OUT"

# ---- one writer left open does not hold back the others' rows ---------------------------------
# L inserts and stays open; A inserts after it, still open when a run looks (both numbers are
# gaps of the same writers), then commits. The next run takes A's row; L's waits for L.
L1=$(uuid); A1=$(uuid)
writer 4 "$(item_sql "$L1")" COMMIT
writer 5 "$(item_sql "$A1")" COMMIT
waiting 2 || not_ok "the two writers never took their locks"
run
assert_contains "two open writers: the run purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
release 5
run
assert_contains "one of them committed: its row is purged while the other is still open" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "... that one's" "purged live" "$(state "$A1") $(sql "SELECT count(*) FROM lethe.items WHERE item_id = '$L1'" | sed 's/^0$/live/')"
release 4
run
assert_contains "the other committed: the next run purges it" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "... each once, no gap left" "1 1 0" "$(purges "$A1") $(purges "$L1") $(gaps)"

# ---- a prepared transaction (two-phase commit) ---------------------------------------------------
# PREPARE moves a transaction's locks to another id than the session's that drew its number:
# while it is prepared, the gap of its number must not go.
if [ "$(sql "SHOW max_prepared_transactions")" = 0 ]; then
    sql "ALTER SYSTEM SET max_prepared_transactions = 4" >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$PGHOST/data" -l "$PGHOST/server.log" -m fast -w restart >/dev/null 2>&1
fi
P1=$(uuid)
echo "content of $P1" > "$STORE/$P1"
psql -X -q -v ON_ERROR_STOP=1 -c "BEGIN" -c "$(item_sql "$P1")" \
     -c "DO \$\$ BEGIN FOR i IN 1..1200 LOOP EXIT WHEN EXISTS (SELECT 1 FROM public.go WHERE n IN (20, 0));
           PERFORM pg_sleep(0.05); END LOOP; END \$\$" -c "PREPARE TRANSACTION 'lethe_inbox_p1'" >/dev/null 2>"$WORK/writer.20.err" &
WPID_20=$!
waiting 1 || not_ok "the prepared writer never took its lock"
run
assert_eq "2PC: its number is a gap while it is open" 1 "$(gaps)"
release 20
assert_eq "2PC: prepared, its lock held under another id" 1 \
  "$(sql "SELECT count(*) FROM pg_locks WHERE pid IS NULL AND mode = 'RowExclusiveLock' AND relation = 'lethe.items'::regclass")"
run
assert_contains "2PC: a run while it is prepared purges nothing" "0 due, 0 batches, 0 purged" "$OUT"
assert_eq "2PC: ... and keeps the gap" 1 "$(gaps)"
sql "COMMIT PREPARED 'lethe_inbox_p1'" >/dev/null
run
assert_contains "2PC: committed, the next run purges it" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "2PC: once, no gap left" "1 0" "$(purges "$P1") $(gaps)"

# ---- what the numbering refuses --------------------------------------------------------------------
out=$(psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, seq)
       VALUES ('$T', '$(uuid)', '$W', 'prompt', 'EU', 'file:///x', now(), NULL)" 2>&1)
assert_contains "a row stored unnumbered is refused" 'null value in column "seq"' "$out"
sql "ALTER SEQUENCE lethe.catalog_seq CACHE 20" >/dev/null
run
assert_eq "a cached sequence: the run fails, saying why and how to mend it" \
  "1 error: query failed: lethe.catalog_seq must not cache or cycle: a cached number is drawn after a higher one was read" \
  "$RC $(printf '%s\n' "$ERR" | grep -m1 '^error: query failed')"
assert_contains "... with the command" "ALTER SEQUENCE lethe.catalog_seq CACHE 1 NO CYCLE" "$ERR"
sql "ALTER SEQUENCE lethe.catalog_seq CACHE 1" >/dev/null
run
assert_rc "mended, the next run exits 0" 0

# ---- the fill refuses a snapshot older than its own statements ----------------------------------
out=$(psql -X -q -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT lethe.inbox_fill()" 2>&1)
assert_contains "fill: refused inside a repeatable-read transaction" \
  "lethe.inbox_fill() runs in READ COMMITTED, not repeatable read" "$out"

# ---- an idle fill writes nothing (sql/0060_inbox_fill_idle.sql) ----------------------------------
# Nothing numbered since the last fill and no gap: no transaction id, so its commit does not wait
# for the disk (status and explain fill before they read). A new row is filled as before.
fill_xid() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -c "BEGIN" \
         -c "SELECT lethe.inbox_fill() || ' ' || (txid_current_if_assigned() IS NOT NULL)" -c "COMMIT"
}
fill_xid >/dev/null
assert_eq "fill: idle, it returns 0 and takes no transaction id" "0 false" "$(fill_xid)"
mk_item "$T" "$(uuid)" "$W" prompt EU 2026-02-15T00:00:00Z
assert_eq "fill: a new row is filled, under the watermark's lock" "1 true" "$(fill_xid)"
assert_eq "fill: ... and the next is idle again" "0 false" "$(fill_xid)"

# ---- many producers at once, committing and rolling back in any order --------------------------
# The model: every committed item is purged exactly once; no rolled-back item exists; no gap is
# left once every writer has ended.
RANDOM=43
committed=""; ids=""
for w in $(seq 10 17); do
    I=$(uuid); ids="$ids $I"
    if [ $((RANDOM % 3)) = 0 ]; then end=ROLLBACK; else end=COMMIT; committed="$committed $I"; fi
    writer "$w" "$(item_sql "$I")" "$end"
    [ $((RANDOM % 2)) = 0 ] && { M=$(uuid); committed="$committed $M"; ids="$ids $M"
                                 mk_item "$T" "$M" "$W" prompt EU 2026-02-15T00:00:00Z; }
done
waiting 8 || not_ok "the eight writers never all took their locks"
order=$(for w in $(seq 10 17); do echo "$RANDOM $w"; done | sort -n | cut -d' ' -f2)
for w in $order; do
    release "$w"
    [ $((RANDOM % 2)) = 0 ] && run
done
run; run
assert_eq "many writers: no gap is left" 0 "$(gaps)"
want=$(for I in $committed; do echo "$I 1"; done | sort)
got=$(for I in $ids; do n=$(purges "$I"); [ "$n" != 0 ] && echo "$I $n"; done | sort)
assert_eq "many writers: every committed item purged once, nothing else" "$want" "$got"
assert_eq "many writers: the rolled-back items never were" "$(echo $committed | wc -w)" \
  "$(for I in $ids; do sql "SELECT count(*) FROM lethe.items WHERE item_id = '$I'"; done | paste -sd+ | bc)"
for w in 1 2 3 4 5 20 $(seq 10 17); do
    [ -s "$WORK/writer.$w.err" ] && not_ok "writer $w: $(cat "$WORK/writer.$w.err")"
done
finish
