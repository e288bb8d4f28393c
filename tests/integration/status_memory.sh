# What status remembers (sql/0017_status_memory.sql) never goes stale: after each change that
# decides what a shared item or its copies owe, status's counts are those of lethe.item_status
# (the slow, per-item truth) on the same catalog, and pending_items gives the same rows as
# 0015's pending_items_live, item for item.
. tests/harness/lib.sh
. tests/harness/catalog.sh
. tests/harness/status_model.sh
WORK=$(mktemp -d /tmp/lethe-statusmem.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
write_config "$WORK/lethe.conf"
CONF=$WORK/lethe.conf

psql -X -q -c 'DROP DATABASE IF EXISTS statusmem_t' -c 'CREATE DATABASE statusmem_t' 2>/dev/null
export PGDATABASE=statusmem_t
"$LETHE" migrate >/dev/null

ago() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }
run_now() { "$LETHE" --config "$CONF" -q run >/dev/null; }
ack_all() {
    local b
    for b in $(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' ORDER BY created_at"); do
        "$LETHE" --config "$CONF" -q ack "$b" >/dev/null
    done
}

# status's counts per rule and state, from status --json (which takes the memory first)
status_counts() {
    "$LETHE" --config "$CONF" status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for c in d["counts"]:
    for s in ("scheduled", "due", "held", "in_flight", "purged"):
        if c[s]:
            print(c["rule"], s, c[s])'
}
truth_counts() {
    sql "SELECT s.rule, s.state, count(*) FROM lethe.item_status s
          WHERE s.state IN ('scheduled', 'due', 'held', 'in_flight', 'purged')
          GROUP BY s.rule, s.state ORDER BY 1, 2" | tr '|' ' ' | sort
}
# same NAME: status agrees with item_status and pending_items with pending_items_live
same() {
    local got want
    got=$(status_counts | sort); want=$(truth_counts)
    assert_eq "$1: status counts are item_status's" "$want" "$got"
    same_rows "$1"
    got=$(status_says | sort); want=$(status_truth | sort)
    assert_eq "$1: status's counts and lists are item_status's" "$want" "$got"
}
# same_rows NAME: pending_items gives pending_items_live's rows, as the memory stands (no refresh)
same_rows() {
    local diff
    diff=$(sql "SELECT (SELECT count(*) FROM (SELECT * FROM lethe.pending_items(now())
                                              EXCEPT ALL SELECT * FROM lethe.pending_items_live(now())) a)
                     + (SELECT count(*) FROM (SELECT * FROM lethe.pending_items_live(now())
                                              EXCEPT ALL SELECT * FROM lethe.pending_items(now())) b)")
    assert_eq "$1: pending_items is pending_items_live, row for row" 0 "$diff"
}
# scheduled TENANT: the tenant's items scheduled under shared_retention, by item_status
scheduled() {
    sql "SELECT count(*) FROM lethe.item_status
          WHERE tenant_id = '$1' AND state = 'scheduled' AND rule = 'shared_retention'"
}
# remembered TENANT: how many scheduled rows of the tenant the memory holds and a read would use
remembered() {
    sql "SELECT count(*) FROM lethe.status_memory m JOIN lethe.status_memory_tenants t USING (tenant_id)
          WHERE m.tenant_id = '$1' AND NOT m.standing AND t.holds_until > now()
            AND NOT EXISTS (SELECT 1 FROM lethe.status_dirty d WHERE d.tenant_id = t.tenant_id
                               AND NOT pg_visible_in_snapshot(d.changed_in, t.taken_in))"
}

# Two tenants, each with shared items and copies two deep, made 10 and 50 days ago (the 90-day
# shared_retention keeps them all scheduled), and a non-shared original.
T=$(uuid); T2=$(uuid); W=$(uuid); W2=$(uuid); WB=$(uuid)
mk_tenant "$T" acme; mk_tenant "$T2" globex
mk_workspace "$T" "$W" EU; mk_workspace "$T" "$W2" US; mk_workspace "$T2" "$WB" EU
declare -A S C CC
for t in "$T" "$T2"; do
    ws=$W; [ "$t" = "$T2" ] && ws=$WB
    for n in 1 2 3; do
        S[$t$n]=$(uuid); C[$t$n]=$(uuid); CC[$t$n]=$(uuid)
        mk_item "$t" "${S[$t$n]}" "$ws" prompt EU "$(ago $((n * 20 - 10)))" true
        mk_item "$t" "${C[$t$n]}" "$ws" prompt US "$(ago $((n * 20 - 11)))" true "${S[$t$n]}"
        mk_item "$t" "${CC[$t$n]}" "$ws" response US "$(ago $((n * 20 - 12)))" false "${C[$t$n]}"
    done
    mk_item "$t" "$(uuid)" "$ws" prompt EU "$(ago 5)"
done
run_now
same "after the first run"
assert_eq "the memory holds the first tenant's scheduled items" "$(scheduled "$T")" "$(remembered "$T")"
assert_eq "and the second's" "$(scheduled "$T2")" "$(remembered "$T2")"
same "read from memory"

DEADLINE=$(sql "SELECT deadline FROM lethe.rules WHERE rule = 'shared_retention'")
GRACE=$(sql "SELECT grace FROM lethe.rules WHERE rule = 'shared_retention'")
# A rule's deadline changes: the memory is forgotten (the copies made 30 and 50 days ago are due).
sql "UPDATE lethe.rules SET deadline = '25 days', grace = '0 days' WHERE rule = 'shared_retention'" >/dev/null
same "shared_retention at 25 days"
assert_eq "the memory was taken again under the new rule" "$(scheduled "$T")" "$(remembered "$T")"
sql "UPDATE lethe.rules SET deadline = '$DEADLINE', grace = '$GRACE' WHERE rule = 'shared_retention'" >/dev/null
same "shared_retention back as it was"

# An obligation arrives for a shared copy: before the run consumes it (the tenant is evaluated
# afresh while it has an event not consumed), then as an obligation.
mk_event "$T" deletion_requested "$(ago 1)" REQ-COPY item_id "${C[${T}1]}"
same "a request for a copy, not consumed yet"
# Only an opt-out or opt-in reaches the memory's rows before a run consumes it
# (sql/0063_status_memory_events.sql): with a request waiting, the tenant is read from memory.
assert_eq "a request not consumed yet: the memory still serves the tenant" "1|0" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.inbox_events WHERE tenant_id = '$T'),
                 (SELECT count(*) FROM lethe.status_unusable(now()) WHERE tenant_id = '$T')")"
run_now
# The run that consumed it took the memory again once its work was recorded: the first status
# after it has no tenant to take, and an idle run takes nothing.
assert_eq "after a run that changed the catalog, no tenant's memory is left to take" 0 \
  "$(sql "SELECT count(*) FROM lethe.status_unusable(now())")"
TAKEN=$(sql "SELECT max(taken_as_of) FROM lethe.status_memory_tenants")
run_now
assert_eq "an idle run does not take the memory again" "$TAKEN" \
  "$(sql "SELECT max(taken_as_of) FROM lethe.status_memory_tenants")"
same "a request for a copy, consumed"
ack_all
# An acknowledgement changes the memory's tenants; the idle run after it, with nothing to derive
# or emit, still takes the memory since a change was marked.
run_now
assert_eq "after acknowledgements, an idle run takes the memory they changed" 0 \
  "$(sql "SELECT count(*) FROM lethe.status_unusable(now())")"
same "the copy purged"

# A shared parent is purged: its copies carry the purge's obligation from then on.
mk_event "$T" deletion_requested "$(ago 1)" REQ-PARENT item_id "${S[${T}2]}"
run_now
same "a shared parent in flight"
ack_all
same "a shared parent purged"
assert_eq "its shared copy is pinned by the purge" "deletion_request" \
  "$(sql "SELECT rule FROM lethe.item_status WHERE tenant_id = '$T' AND item_id = '${C[${T}2]}'")"

# An opt-out dated before the second tenant's youngest shared copy: that copy is a violation.
mk_event "$T2" sharing_opted_out "$(ago 10)" "" workspace_id "$WB"
same "an opt-out not consumed yet"
assert_eq "an opt-out not consumed yet: the tenant is evaluated afresh, not read from memory" "1|1" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.inbox_events WHERE tenant_id = '$T2'),
                 (SELECT count(*) FROM lethe.status_unusable(now()) WHERE tenant_id = '$T2')")"
run_now
same "an opt-out consumed"

# A hold on the first tenant while its items are due, then released.
H=$("$LETHE" --config "$CONF" -q hold place --tenant "$T" --reason litigation --reference CASE-1)
sql "UPDATE lethe.rules SET deadline = '25 days', grace = '0 days' WHERE rule = 'shared_retention'" >/dev/null
run_now
same "due items held"
"$LETHE" --config "$CONF" -q hold release "$H" --operator user_e >/dev/null
same "the hold released"
run_now
same "the released items batched"
ack_all
sql "UPDATE lethe.rules SET deadline = '$DEADLINE', grace = '$GRACE' WHERE rule = 'shared_retention'" >/dev/null
same "after the purges"

# A copy committed late: made (created_at) 3 days ago, written now, of a remembered shared item.
SRC=$(sql "SELECT m.item_id FROM lethe.status_memory m JOIN lethe.items i USING (tenant_id, item_id)
            WHERE m.tenant_id = '$T' AND NOT m.standing AND i.shared ORDER BY i.created_at LIMIT 1")
assert_eq "the shared item copied late is remembered" "scheduled" \
  "$(sql "SELECT state FROM lethe.item_status WHERE tenant_id = '$T' AND item_id = '$SRC'")"
LATE=$(uuid); LATE2=$(uuid)
mk_item "$T" "$LATE" "$W" prompt US "$(ago 3)" true "$SRC"
mk_item "$T" "$LATE2" "$W" response US "$(ago 2)" false "$LATE"
same "a late copy not consumed yet"
run_now
same "a late copy consumed"
assert_eq "the late copies are scheduled under shared_retention" "scheduled shared_retention
scheduled shared_retention" \
  "$(sql "SELECT state || ' ' || rule FROM lethe.item_status WHERE tenant_id = '$T'
           AND item_id IN ('$LATE', '$LATE2')")"

# A shared copy whose source was made in the future (dated after now): evaluated by standing().
FUTSRC=$(uuid)
mk_item "$T" "$FUTSRC" "$W" prompt EU "$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)" true
run_now
same "a shared item dated in the future"

# A shared item made in the second tenant's workspace after it opted out (a violation), held
# from the start and remembered by the run (no batch of another run open).
ack_all
H3=$("$LETHE" --config "$CONF" -q hold place --tenant "$T2" --reason litigation --reference CASE-3)
mk_item "$T2" "$(uuid)" "$WB" prompt EU "$(ago 2)" true
run_now
assert_eq "the held violation is remembered" 1 \
  "$(sql "SELECT count(*) FROM lethe.held_items WHERE tenant_id = '$T2' AND rule = 'shared_while_opted_out'")"
same "a violation held"
# The memory records which standing rows are held items (sql/0034_status_reads.sql), and
# status rules them out by that flag while the tenant's held memory holds: a change to
# held_items must spoil the tenant's memory, or the flag goes stale. A run's held_remember
# deletes and rewrites a tenant's held items; here the held row alone goes, with nothing else
# changed, and the item must be counted once (worked out afresh), not lost.
VIOL=$(sql "SELECT item_id FROM lethe.held_items WHERE tenant_id = '$T2' AND rule = 'shared_while_opted_out'")
assert_eq "the memory flags the held violation's standing row" "t t" \
  "$(sql "SELECT standing || ' ' || held FROM lethe.status_memory WHERE tenant_id = '$T2' AND item_id = '$VIOL'" | tr -d '|' | sed 's/true/t/g; s/false/f/g')"
sql "DELETE FROM lethe.held_items WHERE tenant_id = '$T2' AND item_id = '$VIOL'" >/dev/null
assert_eq "a change to held_items spoils the tenant's memory" 1 \
  "$(sql "SELECT count(*) FROM lethe.status_dirty d JOIN lethe.status_memory_tenants m USING (tenant_id)
           WHERE d.tenant_id = '$T2' AND NOT pg_visible_in_snapshot(d.changed_in, m.taken_in)")"
same_rows "a held item forgotten, the memory not taken again"
same "a held item forgotten"
run_now
same "a held item remembered again"
# A second hold placed: the memory of the tenant's held items no longer holds (a hold it did
# not see), so they are worked out afresh until the next run, and not read twice.
H4=$("$LETHE" --config "$CONF" -q hold place --tenant "$T2" --reason audit --reference CASE-4)
assert_eq "the memory no longer holds for the tenant" 0 \
  "$(sql "SELECT count(*) FROM lethe.held_valid(now(), 0, 0) WHERE tenant_id = '$T2'")"
same "a held violation whose memory no longer holds"
"$LETHE" --config "$CONF" -q hold release "$H3" --operator user_e >/dev/null
"$LETHE" --config "$CONF" -q hold release "$H4" --operator user_e >/dev/null

# A tenant made since status last took the memory, with a shared item and its copy: it has no
# memory yet (sql/0034_status_reads.sql queues it as it is inserted), so
# what is read before the next refresh (export --summary as the auditor, the run's figures)
# works it out afresh. The run that consumes its items would take it; here another session holds
# the memory's lock longer than the run waits for it (10 s), so the run leaves it, without a word.
T3=$(uuid); W3=$(uuid); S3=$(uuid)
mk_tenant "$T3" initech; mk_workspace "$T3" "$W3" EU
mk_item "$T3" "$S3" "$W3" prompt EU "$(ago 20)" true
mk_item "$T3" "$(uuid)" "$W3" prompt US "$(ago 19)" true "$S3"
coproc TAKER { PGAPPNAME=memtaker psql -X -q -A -t -c "SELECT pg_advisory_lock(7283315, 0)" -c "SELECT 'locked'" -c "SELECT pg_sleep(60)" 2>/dev/null; }
said=; while [ "$said" != locked ] && read -r -t 10 said <&"${TAKER[0]}"; do :; done
assert_eq "another session takes the memory's lock" locked "$said"
"$LETHE" --config "$CONF" -q run >"$WORK/run3.out" 2>"$WORK/run3.err"; rc=$?
assert_eq "a run while the memory is being taken succeeds, and says nothing of it" "0|" \
  "$rc|$(cat "$WORK/run3.err")"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'memtaker'" >/dev/null
wait "$TAKER_PID" 2>/dev/null
assert_eq "the new tenant has no memory yet" 0 \
  "$(sql "SELECT count(*) FROM lethe.status_memory_tenants WHERE tenant_id = '$T3'")"
assert_eq "and its items are pending" 2 \
  "$(sql "SELECT count(*) FROM lethe.pending_items(now()) WHERE tenant_id = '$T3'")"
same_rows "a tenant without memory"
same "a tenant without memory, then taken"

# The changes the memory absorbed are forgotten by the refresh: what is left spoils a memory.
"$LETHE" --config "$CONF" status >/dev/null
assert_eq "no change the memory absorbed is kept" 0 \
  "$(sql "SELECT count(*) FROM lethe.status_dirty d JOIN lethe.status_memory_tenants m USING (tenant_id)
           WHERE pg_visible_in_snapshot(d.changed_in, m.taken_in)")"

# Items no run has consumed yet (sql/0065_inbox_items_inert.sql): only those with something in
# their lineage that can carry an obligation (shared, purged, or covered by one of the tenant's
# obligations) are evaluated in full; the rest owe nothing, and status still agrees item for item.
T4=$(uuid); W4=$(uuid); P4=$(uuid); O4=$(uuid); Q4=$(uuid); S4=$(uuid)
mk_tenant "$T4" hooli; mk_workspace "$T4" "$W4" EU
mk_item "$T4" "$P4" "$W4" prompt EU "$(ago 10)"          # covered, purged
mk_item "$T4" "$O4" "$W4" prompt EU "$(ago 9)"           # covered, held
mk_item "$T4" "$Q4" "$W4" prompt EU "$(ago 2)"           # after the request: owes nothing
mk_item "$T4" "$S4" "$W4" prompt EU "$(ago 3)" true      # shared
mk_event "$T4" deletion_requested "$(ago 5)" REQ-T4
H5=$("$LETHE" --config "$CONF" -q hold place --tenant "$T4" --item "$O4" --reason audit --reference CASE-5)
run_now
ack_all
assert_eq "the request purged P4 and the hold keeps O4" "purged held" \
  "$(sql "SELECT string_agg(state, ' ' ORDER BY item_id = '$P4' DESC) FROM lethe.item_status
           WHERE tenant_id = '$T4' AND item_id IN ('$P4', '$O4')")"
declare -A N
for n in 1 2 3 4 5 6 7; do N[$n]=$(uuid); done
mk_item "$T4" "${N[1]}" "$W4" prompt EU "$(ago 0)"                # new, nothing: inert
mk_item "$T4" "${N[2]}" "$W4" prompt EU "$(ago 7)"                # committed late: covered
mk_item "$T4" "${N[3]}" "$W4" response EU "$(ago 0)" false "$O4"  # copy of a covered item
mk_item "$T4" "${N[4]}" "$W4" response EU "$(ago 0)" false "$P4"  # copy of a purged item
mk_item "$T4" "${N[5]}" "$W4" response EU "$(ago 0)" false "$Q4"  # copy of an inert item: inert
mk_item "$T4" "${N[6]}" "$W4" prompt EU "$(ago 0)" true           # shared
mk_item "$T4" "${N[7]}" "$W4" response EU "$(ago 0)" false "$S4"  # copy of a shared item
assert_eq "the new items evaluated in full: all but the two that owe nothing" \
  "$(printf '%s\n' "${N[2]}" "${N[3]}" "${N[4]}" "${N[6]}" "${N[7]}" | sort)" \
  "$(sql "SELECT item_id FROM lethe.inbox_items_complex WHERE tenant_id = '$T4' ORDER BY 1")"
"$LETHE" --config "$CONF" status >/dev/null   # fills the inbox: each row with what the test reads
assert_eq "the inbox keeps each new item's created_at, parent and sharing" "7|7" \
  "$(sql "SELECT count(*), count(*) FILTER (WHERE (b.created_at, b.parent_id IS NULL, b.shared)
                                                IS NOT DISTINCT FROM (i.created_at, i.parent_id IS NULL, i.shared))
            FROM lethe.inbox_items b JOIN lethe.items i USING (tenant_id, item_id) WHERE b.tenant_id = '$T4'")"
assert_eq "... and the same five are evaluated in full from them" \
  "$(printf '%s\n' "${N[2]}" "${N[3]}" "${N[4]}" "${N[6]}" "${N[7]}" | sort)" \
  "$(sql "SELECT item_id FROM lethe.inbox_items_complex WHERE tenant_id = '$T4' ORDER BY 1")"
sql "UPDATE lethe.inbox_items SET created_at = NULL, parent_id = NULL, shared = NULL WHERE tenant_id = '$T4'" >/dev/null
assert_eq "... or, for rows filled before 0065, from the items themselves" \
  "$(printf '%s\n' "${N[2]}" "${N[3]}" "${N[4]}" "${N[6]}" "${N[7]}" | sort)" \
  "$(sql "SELECT item_id FROM lethe.inbox_items_complex WHERE tenant_id = '$T4' ORDER BY 1")"
assert_eq "... and those two owe nothing by item_status" "live live" \
  "$(sql "SELECT string_agg(state, ' ') FROM lethe.item_status
           WHERE tenant_id = '$T4' AND item_id IN ('${N[1]}', '${N[5]}')")"
assert_eq "... while the five others do" "5" \
  "$(sql "SELECT count(*) FROM lethe.item_status WHERE tenant_id = '$T4'
           AND item_id IN ('${N[2]}', '${N[3]}', '${N[4]}', '${N[6]}', '${N[7]}')
           AND state IN ('scheduled', 'due', 'held')")"
same_rows "new items between runs"
same "new items between runs"
run_now
same "new items consumed"
"$LETHE" --config "$CONF" -q hold release "$H5" --operator user_e >/dev/null

# Two shards' runs at once: the one that ends first takes the memory while the other may still
# be writing; the other waits for it, then takes what it changed. No tenant is left to a status.
for t in $(sql "SELECT tenant_id FROM lethe.tenants ORDER BY 1"); do
    ws=$(sql "SELECT workspace_id FROM lethe.workspaces WHERE tenant_id = '$t' LIMIT 1")
    mk_item "$t" "$(uuid)" "$ws" prompt EU "$(ago 3)" true
done
"$LETHE" --config "$CONF" -q run --shard 0/2 >/dev/null 2>"$WORK/s0.out" & S0=$!
"$LETHE" --config "$CONF" -q run --shard 1/2 >/dev/null 2>"$WORK/s1.out" & S1=$!
wait $S0; R0=$?; wait $S1; R1=$?
assert_eq "two shards' runs at once succeed, quietly" "0 0|" "$R0 $R1|$(cat "$WORK/s0.out" "$WORK/s1.out")"
assert_eq "... and leave no tenant's memory to take" 0 "$(sql "SELECT count(*) FROM lethe.status_unusable(now())")"
same "after two shards' runs at once"

# A refresh that fails after the run's work is recorded: a warning with the server's words, no
# error line, and the run's exit status. The next status takes the memory.
for t in $(sql "SELECT tenant_id FROM lethe.tenants ORDER BY 1 LIMIT 1"); do
    ws=$(sql "SELECT workspace_id FROM lethe.workspaces WHERE tenant_id = '$t' LIMIT 1")
    mk_item "$t" "$(uuid)" "$ws" prompt EU "$(ago 2)" true
done
sql "ALTER TABLE lethe.status_memory_meta RENAME TO status_memory_meta_away" >/dev/null
"$LETHE" --config "$CONF" run >"$WORK/rf.out" 2>"$WORK/rf.err"; rc=$?
sql "ALTER TABLE lethe.status_memory_meta_away RENAME TO status_memory_meta" >/dev/null
assert_eq "a failed refresh: the run exits 0, warns once, prints no error" "0|1|0" \
  "$rc|$(grep -c "^warning: run: status's memory of what is scheduled was not taken again after the run (relation \"lethe.status_memory_meta\" does not exist); the next status" "$WORK/rf.err")|$(grep -c '^error' "$WORK/rf.err")"
same "after a refresh that failed"

# export --summary reads the same pending items.
"$LETHE" --config "$CONF" export --summary --format csv -o "$WORK/summary.csv" >/dev/null 2>&1
assert_eq "export --summary counts the pending items status counts" \
  "$(sql "SELECT count(*) FROM lethe.item_status WHERE state IN ('scheduled', 'due', 'held', 'in_flight')")" \
  "$(python3 -c 'import csv,sys; print(next(r["pending"] for r in csv.DictReader(open(sys.argv[1])) if r["rule"] == "all"))' "$WORK/summary.csv")"

finish
