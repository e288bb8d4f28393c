# SPEC §3 "Lineage, precisely": the eight reproductions of issue 11, one named case each.
# Every case gets a tenant of its own (workspaces w1 in EU, w2 in US), writes items, events
# and holds as a producer and an operator would, runs lethe at chosen instants with an
# executor that records every manifest line and prints a `deleted` receipt for each item (and
# exits 0), and asserts what each run batched (item, rule, deadline) and the exact state,
# rule, due_at and deadline_at of lethe.item_status. Times are days before the real now (Dn),
# and every expected time is worked out from SPEC §3 by hand.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-lineage.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS lineage_t' -c 'CREATE DATABASE lineage_t' 2>/dev/null
export PGDATABASE=lineage_t
"$LETHE" migrate >/dev/null

# The executor: one "rule item deadline" line per manifest item into $WORK/batched, and a
# receipt per item on stdout. The manifest is JSON Lines, header first.
cat > "$WORK/record.sh" <<EOF
#!/bin/sh
python3 - "\$1" >>"$WORK/batched" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    lines = [json.loads(l) for l in f if l.strip()]
for it in lines[1:]:
    print("%s %s %s" % (it["item_id"], it["rule"], it["deadline_at"]))
PY
sed -n '2,\$s/^{"item_id":"\([^"]*\)".*/deleted \1/p' "\$1"
EOF
chmod +x "$WORK/record.sh"
write_config "$WORK/default.conf" "executor: { command = \"$WORK/record.sh\"; };"
write_config "$WORK/noexec.conf"
write_config "$WORK/month.conf" "executor: { command = \"$WORK/record.sh\"; };" \
    'schedule: { lookahead = "1mo"; };'

NOW_S=$(date -u +%s)
# D DAYS [SECONDS]: the instant DAYS days (and SECONDS seconds) before now, to the second.
D() { date -u -d "@$((NOW_S - $1 * 86400 - ${2:-0}))" +%Y-%m-%dT%H:%M:%S.000000Z; }
declare -A ID NAME
CASE=""; TENANT=""

new_case() {
    CASE=$1
    echo "# $CASE"
    TENANT=$(uuid)
    mk_tenant "$TENANT" "$CASE"
    ID[w1]=$(uuid); mk_workspace "$TENANT" "${ID[w1]}" EU
    ID[w2]=$(uuid); mk_workspace "$TENANT" "${ID[w2]}" US
}
# item NAME KIND WS CREATED [shared] [parent=NAME] [owner=S]
item() {
    local name=$1 kind=$2 ws=$3 created=$4 shared=false parent="" owner="" a geo=EU
    shift 4
    for a in "$@"; do
        case "$a" in shared) shared=true ;; parent=*) parent=${ID[${a#parent=}]} ;; owner=*) owner=${a#owner=} ;; esac
    done
    [ "$ws" = w2 ] && geo=US
    ID[$name]=$(uuid); NAME[${ID[$name]}]=$name
    mk_item "$TENANT" "${ID[$name]}" "${ID[$ws]}" "$kind" "$geo" "$created" "$shared" "$parent" "$owner"
}
# event TYPE OCCURRED [COLUMN VALUE] [ref]
event() { mk_event "$TENANT" "$1" "$2" "${5:-}" ${3:-} ${4:+"$4"}; }
# hold NAME PLACED COLUMN VALUE; release NAME AT
hold() {
    local cols="" vals=""
    [ -n "$3" ] && cols=", $3" && vals=", '$4'"
    ID[hold:$1]=$(sql "INSERT INTO lethe.holds (tenant_id, reason, placed_at $cols)
                       VALUES ('$TENANT', 'case $CASE', '$2' $vals) RETURNING hold_id")
}
release() { sql "UPDATE lethe.holds SET released_at = '$2' WHERE hold_id = '${ID[hold:$1]}'" >/dev/null; }

# run AS_OF [CONFIG] EXPECTED: what the run batched, "name rule deadline" lines joined by "|"
# in name order ("" for nothing).
run() {
    local as_of=$1 cfg=${2:-default} want=$3 got
    : > "$WORK/batched"
    run_lethe --config "$WORK/$cfg.conf" -q run --as-of "$as_of"
    assert_rc "$CASE: run at $as_of exits 0" 0
    got=$(while read -r id rule deadline; do echo "${NAME[$id]:-$id} $rule $deadline"; done \
              < "$WORK/batched" | sort | paste -sd'|')
    assert_eq "$CASE: run at $as_of batches ${want:-nothing}" "$want" "$got"
}
# expect NAME STATE RULE DUE DEADLINE ("-" for null)
expect() {
    local got
    got=$(sql "SELECT state, coalesce(rule, '-'), coalesce(lethe.iso_utc(due_at), '-'),
                      coalesce(lethe.iso_utc(deadline_at), '-')
                 FROM lethe.item_status WHERE tenant_id = '$TENANT' AND item_id = '${ID[$1]}'")
    assert_eq "$CASE: $1 is $2 under $3, due $4, deadline $5" "$2|$3|$4|$5" "$got"
}
# explain NAME PYTHON EXPECTED: PYTHON over d = explain --json, printed with repr(); n maps
# ids to the case's names.
explain() {
    local map got
    map=$(for k in "${!NAME[@]}"; do printf '%s=%s ' "$k" "${NAME[$k]}"; done)
    got=$("$LETHE" explain --json "${ID[$1]}" |
          MAP="$map" python3 -c "
import json, os, sys
n = dict(kv.split('=') for kv in os.environ['MAP'].split())
d = json.load(sys.stdin)
print(repr(($2)))" 2>&1)
    assert_eq "$CASE: explain $1: $2" "$3" "$got"
}

new_case issue11-1-copy-of-purged-under-subject-hold
item P prompt w1 "$(D 100)" owner=user_a
event deletion_requested "$(D 50)" item_id "${ID[P]}" R-1
run "$(D 40)" default "P deletion_request $(D 20)"
hold legal "$(D 30)" subject_id user_a
item C retrieved w2 "$(D 20)" parent=P
run "$(D 1)" default ""
expect P purged deletion_request "$(D 50)" "$(D 20)"
expect C held deletion_request "$(D 50)" "$(D 20)"
explain C '[h["via_item_id"] and n[h["via_item_id"]] for h in d["holds"] if h["blocking"]]' "['P']"
# A later request of the same subject reaches the copy through its tombstoned source.
event deletion_requested "$(D 10)" subject_id user_a GDPR-1
run "$(D 0 60)" default ""
explain C 'sorted((o["rule"], o["active"], o["via_item_id"] and n[o["via_item_id"]]) for o in d["obligations"])' \
    "[('deletion_request', True, 'P'), ('subject_request', True, 'P')]"
release legal "$(D 0 30)"
run "$(D 0 10)" default "C deletion_request $(D 20)"

new_case issue11-2-copy-does-not-outlive-purged-source
item P prompt w1 "$(D 100)" shared
event deletion_requested "$(D 15)" "" "" R-2
run "$(D 14)" default "P shared_retention $(D 10)"
item C response w2 "$(D 13 3600)" parent=P
run "$(D 13)" default "C shared_retention $(D 10)"
expect C purged shared_retention "$(D 15)" "$(D 10)"

new_case issue11-3-late-copy-gets-every-rule-of-its-source
item P prompt w1 "$(D 100)"
event capacity_deleted "$(D 50)"
run "$(D 40)" default "P capacity_deleted $(D -130)"
event deletion_requested "$(D 39)" workspace_id "${ID[w1]}" R-3
run "$(D 38)" default ""
item C retrieved w2 "$(D 30)" parent=P
run "$(D 1)" default "C deletion_request $(D 9)"
expect C purged deletion_request "$(D 50)" "$(D 9)"

new_case issue11-4-held-copy-batched-after-release
item P prompt w1 "$(D 100)" shared
item C retrieved w2 "$(D 99)" parent=P
hold w2 "$(D 99)" workspace_id "${ID[w2]}"
event deletion_requested "$(D 95)" "" "" R-4
run "$(D 94)" default "P deletion_request $(D 65)"
expect C held deletion_request "$(D 95)" "$(D 65)"
event deletion_cancelled "$(D 93)" "" "" R-4
release w2 "$(D 92)"
run "$(D 90)" default "C deletion_request $(D 65)"
run "$(D 1)" default ""
expect C purged deletion_request "$(D 95)" "$(D 65)"

new_case issue11-5-system-logs-in-a-lineage
item L system_log w2 "$(D 100)"
item X prompt w2 "$(D 10)" parent=L
event deletion_requested "$(D 50)" workspace_id "${ID[w2]}" R-5w
item A prompt w1 "$(D 100)"
item S system_log w1 "$(D 90)" parent=A
event deletion_requested "$(D 50)" item_id "${ID[A]}" R-5i
run "$(D 40)" default "A deletion_request $(D 20)"
item Y response w1 "$(D 30)" parent=S
run "$(D 1)" default "Y deletion_request $(D 20)"
expect X live - - -
expect L live - - -
expect S live - - -
expect Y purged deletion_request "$(D 50)" "$(D 20)"

new_case issue11-6-several-violations-earliest-deadline-governs
event sharing_opted_out "$(D 200)"
item a prompt w1 "$(D 100)" shared
item b prompt w1 "$(D 30)" shared parent=a
event deletion_requested "$(D 80)" "" "" R-6
explain b '(d["state"], d["governing"]["rule"], d["governing"]["deadline_at"], [n[o["via_item_id"]] for o in d["obligations"] if o["governing"]])' \
    "('due', 'shared_while_opted_out', '$(D 100)', ['a'])"
run "$(D 1)" default "a shared_while_opted_out $(D 100)|b shared_while_opted_out $(D 100)"
expect b purged shared_while_opted_out "$(D 100)" "$(D 100)"

new_case issue11-7-late-opt-in-clears-copies-too
event sharing_opted_out "$(D 60)"
hold all "$(D 70)" "" ""
item a prompt w1 "$(D 50)" shared
item b response w2 "$(D 40)" shared parent=a
run "$(D 30)" default ""
expect b held shared_while_opted_out "$(D 50)" "$(D 50)"
event sharing_opted_in "$(D 55)"
release all "$(D 20)"
run "$(D 10)" default ""
expect a scheduled shared_retention "$(D -38)" "$(D -40)"
expect b scheduled shared_retention "$(D -38)" "$(D -40)"

new_case copy-of-source-in-flight-follows-its-purge
item P prompt w1 "$(D 100)"
item C retrieved w2 "$(D 99)" parent=P
hold w2 "$(D 99)" workspace_id "${ID[w2]}"
event deletion_requested "$(D 50)" "" "" R-9
run "$(D 40)" noexec ""
expect P in_flight deletion_request "$(D 50)" "$(D 20)"
event deletion_cancelled "$(D 39)" "" "" R-9
release w2 "$(D 38)"
run "$(D 37)" noexec ""
expect C live - - -
run_lethe ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '${ID[P]}'")"
assert_rc "$CASE: ack of the source's batch exits 0" 0
expect C due deletion_request "$(D 50)" "$(D 20)"
run "$(D 36)" default "C deletion_request $(D 20)"

new_case issue11-8-month-lookahead
item s prompt w1 2024-12-31T00:00:00Z shared
run 2025-02-27T23:59:59Z month ""
run 2025-02-28T00:00:00Z month "s shared_retention 2025-03-31T00:00:00.000000Z"
expect s purged shared_retention 2025-02-28T00:00:00.000000Z 2025-03-31T00:00:00.000000Z

# ---- remembered blocks (sql/0013_held.sql) ------------------------------------------------
# A run remembers the standing of each held item and later runs use it without walking the
# lineage again; each case changes what the memory depends on, and the next run or dry run
# must answer what a fresh evaluation (item_status) answers.

# plan NAME AS_OF: "state rule" of NAME in the dry run's plan at AS_OF ("" if not in it).
plan() {
    "$LETHE" --config "$WORK/noexec.conf" run --dry-run --items --as-of "$2" |
        awk -v id="${ID[$1]}" '$0 ~ " item " id " " { print $1, $3 }'
}
memory() { sql "SELECT count(*) FROM lethe.held_items WHERE tenant_id = '$TENANT'"; }

new_case remembered-hold-released
item P prompt w1 "$(D 20)"
hold ws "$(D 15)" workspace_id "${ID[w1]}"
event deletion_requested "$(D 10)" "" "" R-20
run "$(D 5)" default ""
assert_eq "$CASE: the held item is remembered" 1 "$(memory)"
run "$(D 4)" default ""
assert_eq "$CASE: the dry run has it held from memory" "held deletion_request" "$(plan P "$(D 4)")"
release ws "$(D 3)"
run "$(D 2)" default "P deletion_request $(D -20)"
assert_eq "$CASE: nothing is remembered once purged" 0 "$(memory)"

new_case remembered-hold-dated-earlier
item P prompt w1 "$(D 20)"
hold late "$(D 15)" workspace_id "${ID[w1]}"
event deletion_requested "$(D 10)" "" "" R-21
run "$(D 5)" default ""
hold early "$(D 16)" "" ""
run "$(D 4)" default ""
assert_eq "$CASE: the hold dated earlier is recorded as blocking" 1 \
    "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'hold_blocked' AND hold_id = '${ID[hold:early]}'")"
assert_eq "$CASE: item_status names it" "${ID[hold:early]}" \
    "$(sql "SELECT hold_id FROM lethe.item_status WHERE item_id = '${ID[P]}'")"

new_case remembered-until-an-obligation-starts
item P prompt w1 "$(D 20)"
hold ws "$(D 15)" workspace_id "${ID[w1]}"
event capacity_deleted "$(D 10)"
event deletion_requested "$(D 3)" "" "" R-22
run "$(D 5)" default ""
assert_eq "$CASE: before the request, held under capacity_deleted" "held capacity_deleted" "$(plan P "$(D 4)")"
assert_eq "$CASE: after it, held under deletion_request" "held deletion_request" "$(plan P "$(D 2)")"
run "$(D 2)" default ""
release ws "$(D 1)"
run "$(D 0 60)" default "P deletion_request $(D -27)"

new_case remembered-request-cancelled
item P prompt w1 "$(D 20)"
hold ws "$(D 15)" workspace_id "${ID[w1]}"
event deletion_requested "$(D 10)" "" "" R-23
run "$(D 5)" default ""
event deletion_cancelled "$(D 4)" "" "" R-23
assert_eq "$CASE: a cancellation committed late: not in the plan" "" "$(plan P "$(D 3)")"
run "$(D 3)" default ""
assert_eq "$CASE: and nothing remembered" 0 "$(memory)"
expect P live - - -

new_case remembered-rule-disabled
item P prompt w1 "$(D 20)"
hold ws "$(D 15)" workspace_id "${ID[w1]}"
event deletion_requested "$(D 10)" "" "" R-24
run "$(D 5)" default ""
write_config "$WORK/off.conf" "executor: { command = \"$WORK/record.sh\"; };" \
    'rules: { deletion_request: { deadline = "30d"; grace = "0d"; enabled = false; }; };'
run "$(D 4)" off ""
assert_eq "$CASE: a disabled rule holds nothing: forgotten" 0 "$(memory)"
release ws "$(D 3)"
run "$(D 2)" default "P deletion_request $(D -20)"

new_case remembered-sharing-event-not-consumed
event sharing_opted_out "$(D 10)" workspace_id "${ID[w1]}"
hold ws "$(D 9)" workspace_id "${ID[w1]}"
item a prompt w1 "$(D 1)" shared
run "$(D 0 60)" default ""
assert_eq "$CASE: the held violation is remembered" 1 "$(memory)"
event sharing_opted_in "$(D 5)" workspace_id "${ID[w1]}"
assert_eq "$CASE: an opt-in dated before the copy, not consumed yet: item_status" "scheduled shared_retention" \
    "$(sql "SELECT state || ' ' || rule FROM lethe.item_status WHERE item_id = '${ID[a]}'")"
assert_eq "$CASE: what status counts agrees before any run consumes it" "scheduled shared_retention" \
    "$(sql "SELECT state || ' ' || rule FROM lethe.pending_items(now()) WHERE item_id = '${ID[a]}'")"

new_case remembered-copy-of-source-in-flight
item P prompt w1 "$(D 100)"
item C retrieved w2 "$(D 99)" parent=P
hold w2 "$(D 99)" workspace_id "${ID[w2]}"
event capacity_deleted "$(D 60)"
event deletion_requested "$(D 50)" "" "" R-25
run "$(D 40)" noexec ""
expect C held deletion_request "$(D 60)" "$(D 20)"
event deletion_cancelled "$(D 39)" "" "" R-25
run "$(D 38)" noexec ""
expect C held capacity_deleted "$(D 60)" "$(D -120)"
assert_eq "$CASE: not remembered while the source's batch is open" 0 "$(memory)"
run_lethe ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '${ID[P]}'")"
assert_rc "$CASE: ack of the source's batch exits 0" 0
expect C held deletion_request "$(D 60)" "$(D 20)"
assert_eq "$CASE: the dry run agrees with item_status" "held deletion_request" "$(plan C "$(D 37)")"

# SPEC §3: obligations reach copies "through any number of levels". Every walk stopped at 64:
# the copies below the 64th level of a chain were never batched, and item_status said live.
# chain80: 80 copies of P in a chain, each of the one before, in one statement, named c1..c80.
chain80() {
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, parent_id)
         SELECT '$TENANT', md5('$TENANT/' || i)::uuid, '${ID[w2]}', 'retrieved', 'US', 'file:///nonexistent/' || i,
                '$(D 99)'::timestamptz + i * interval '1 second',
                CASE WHEN i = 1 THEN '${ID[P]}'::uuid ELSE md5('$TENANT/' || (i - 1))::uuid END
           FROM generate_series(1, 80) i" >/dev/null
    local i
    for i in $(seq 1 80); do
        ID[c$i]=$(sql "SELECT md5('$TENANT/$i')::uuid"); NAME[${ID[c$i]}]=c$i
    done
}

new_case copies-through-any-number-of-levels
item P prompt w1 "$(D 100)"
chain80
expect c80 live - - -
event deletion_requested "$(D 50)" item_id "${ID[P]}" R-DEEP
run_lethe status --tenant "$TENANT" --reference R-DEEP --json
assert_eq "$CASE: the request covers the source and its 80 copies" 81 \
    "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["covered"])' <<< "$OUT")"
# The run batches the source and all 80 copies, each under the request, deadline D20.
: > "$WORK/batched"
run_lethe --config "$WORK/default.conf" -q run --as-of "$(D 40)"
assert_rc "$CASE: the run exits 0" 0
assert_eq "$CASE: the run batches the source and its 80 copies, every one under the request" \
    "81 deletion_request $(D 20)" \
    "$(awk '{ print $2, $3 }' "$WORK/batched" | sort | uniq -c | awk '{ print $1, $2, $3 }')"
assert_eq "$CASE: the 80th copy is among them" 1 "$(grep -c "^${ID[c80]} " "$WORK/batched")"
expect c80 purged deletion_request "$(D 50)" "$(D 20)"


new_case scheduled-copies-through-any-number-of-levels
item P prompt w1 "$(D 1)" shared
chain80
run "$(D 0 60)" default ""
expect c80 scheduled shared_retention \
    "$(sql "SELECT lethe.iso_utc(due_at) FROM lethe.item_status WHERE item_id = '${ID[P]}'")" "$(D -89)"
assert_eq "$CASE: what status counts has the source and its 80 copies, scheduled" "81 scheduled" \
    "$(sql "SELECT count(*) || ' ' || string_agg(DISTINCT state, ',') FROM lethe.pending_items(now()) WHERE tenant_id = '$TENANT'")"
run_lethe --config "$WORK/default.conf" status >/dev/null
assert_eq "$CASE: status remembers the tenant's 81 scheduled rows" 81 \
    "$(sql "SELECT scheduled FROM lethe.status_memory_tenants WHERE tenant_id = '$TENANT'")"
assert_eq "$CASE: and after status took its memory of the tenant" "81 scheduled" \
    "$(sql "SELECT count(*) || ' ' || string_agg(DISTINCT state, ',') FROM lethe.pending_items(now()) WHERE tenant_id = '$TENANT'")"

# A month is a calendar month in the session's time zone; item_status and what status counts
# are pinned to UTC, as the run is: the same deadline from a reader in Europe/Berlin, and the
# same as the audit's.
new_case readers-in-any-time-zone
item a prompt w1 2025-01-01T00:00:00.000000Z owner=tz-subject
hold all 2025-01-02T00:00:00.000000Z "" ""
event deletion_requested 2025-10-30T23:30:00.000000Z subject_id tz-subject TZ-1
run "$(D 0 60)" default ""
expect a held subject_request 2025-10-30T23:30:00.000000Z 2025-11-30T23:30:00.000000Z
assert_eq "$CASE: the audit's hold_blocked record has the same deadline" 2025-11-30T23:30:00.000000Z \
    "$(sql "SELECT lethe.iso_utc(deadline_at) FROM lethe.audit WHERE kind = 'hold_blocked' AND item_id = '${ID[a]}'")"
for tz in Europe/Berlin America/New_York Asia/Kolkata; do
    assert_eq "$CASE: item_status read in $tz" "held 2025-10-30T23:30:00.000000Z 2025-11-30T23:30:00.000000Z" \
        "$(PGTZ=$tz sql "SELECT state || ' ' || lethe.iso_utc(due_at) || ' ' || lethe.iso_utc(deadline_at) FROM lethe.item_status WHERE item_id = '${ID[a]}'")"
    assert_eq "$CASE: what status counts, read in $tz" "held 2025-11-30T23:30:00.000000Z" \
        "$(PGTZ=$tz sql "SELECT state || ' ' || lethe.iso_utc(deadline_at) FROM lethe.pending_items(now()) WHERE item_id = '${ID[a]}'")"
done

# A loop of parents cannot be written through the contract. Rows written around the insert
# check (here by the owner, with the check switched off) cost a walk bounded at 100,000 levels:
# the run ends, and purges what it covers, rather than walking forever or stopping every
# tenant's purges with an error. Last: the loop stays in this database.
new_case a-loop-written-around-the-check-costs-a-bounded-walk
ID[x]=$(uuid); ID[y]=$(uuid); NAME[${ID[x]}]=x; NAME[${ID[y]}]=y
sql "ALTER TABLE lethe.items DISABLE TRIGGER items_check_insert" >/dev/null
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, parent_id)
     VALUES ('$TENANT', '${ID[x]}', '${ID[w1]}', 'prompt', 'EU', 'file:///nonexistent/x', '$(D 30)', '${ID[y]}'),
            ('$TENANT', '${ID[y]}', '${ID[w1]}', 'prompt', 'EU', 'file:///nonexistent/y', '$(D 30)', '${ID[x]}')" >/dev/null
sql "ALTER TABLE lethe.items ENABLE TRIGGER items_check_insert" >/dev/null
event deletion_requested "$(D 20)" "" "" R-LOOP
run "$(D 10)" default "x deletion_request $(D -10)|y deletion_request $(D -10)"
expect x purged deletion_request "$(D 20)" "$(D -10)"

finish
