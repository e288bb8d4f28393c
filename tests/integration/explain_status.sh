# lethe explain and lethe status: their exit codes and messages, what they show for items in
# each state, --json that parses with stable keys, and the three --check conditions.
. tests/harness/lib.sh
. tests/harness/catalog.sh
# A hold placed before the deadlines it keeps the items past (hold place stamps now, months
# after these events): held past a deadline only by a hold in effect at it (sql/0089).
backdate_hold() {
    sql "SET session_replication_role = replica; UPDATE lethe.holds SET placed_at = '$2' WHERE hold_id = '$1'" >/dev/null
}
WORK=$(mktemp -d /tmp/lethe-explain.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
write_config "$WORK/lethe.conf"
CONF="$WORK/lethe.conf"
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'

# json_get PYTHON: evaluates PYTHON over d, the JSON document in OUT, and prints repr() of it.
json_get() { printf '%s' "$OUT" | python3 -c "import json,sys; d=json.load(sys.stdin); print(repr(($1)))" 2>&1; }
ok_json() { printf '%s' "$OUT" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null && echo yes || echo no; }
run_now() { "$LETHE" --config "$CONF" -q run "$@" >/dev/null; }
ack_all() { # ack_all [ITEM_THAT_FAILED]
    local b
    for b in $(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' ORDER BY created_at"); do
        if [ -n "${1:-}" ] && [ "$(sql "SELECT count(*) FROM lethe.batch_items WHERE batch_id = '$b' AND item_id = '$1'")" = 1 ]; then
            "$LETHE" -q ack "$b" --failed "$1:disk offline" >/dev/null
        else
            "$LETHE" -q ack "$b" >/dev/null
        fi
    done
}

# ================================ explain ========================================================
psql -X -q -c 'DROP DATABASE IF EXISTS explain_t' -c 'CREATE DATABASE explain_t' 2>/dev/null
export PGDATABASE=explain_t
"$LETHE" migrate >/dev/null

T=$(uuid); T2=$(uuid); W=$(uuid); W2=$(uuid); WC=$(uuid); WB=$(uuid); NOPE=$(uuid)
mk_tenant "$T" acme; mk_tenant "$T2" globex
mk_workspace "$T" "$W" EU; mk_workspace "$T" "$W2" US; mk_workspace "$T" "$WC" US
mk_workspace "$T2" "$WB" EU
FUT=$(uuid); LIVE=$(uuid); LOG=$(uuid); DUP=$(uuid); SRC=$(uuid); COPY=$(uuid); HELD=$(uuid); WD=$(uuid); FITEM=$(uuid)
mk_item "$T" "$LIVE" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$LOG" "$W" system_log EU 2026-01-01T00:00:00Z
mk_item "$T" "$DUP" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T2" "$DUP" "$WB" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$SRC" "$W" upload EU 2026-01-01T00:00:00Z
mk_item "$T" "$COPY" "$WC" retrieved US 2026-01-05T00:00:00Z false "$SRC"
mk_item "$T" "$HELD" "$W2" prompt US 2026-01-01T00:00:00Z
mk_item "$T" "$WD" "$W" response EU 2026-01-01T00:00:00Z
mk_item "$T" "$FITEM" "$W" pinned ANZ 2026-01-01T00:00:00Z
mk_item "$T" "$FUT" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested 2099-01-01T00:00:00Z T-FUT item_id "$FUT"
mk_event "$T" deletion_requested 2026-01-10T00:00:00Z T-SRC item_id "$SRC"
mk_event "$T" deletion_requested 2026-01-10T00:00:00Z T-HOLD workspace_id "$W2"
mk_event "$T" deletion_requested 2026-01-10T00:00:00Z T-WD item_id "$WD"
mk_event "$T" deletion_cancelled 2026-01-10T01:00:00Z T-WD
CANCEL=$(sql "SELECT event_id FROM lethe.events WHERE type = 'deletion_cancelled'")
mk_event "$T" deletion_requested 2026-01-10T00:00:00Z T-FAIL item_id "$FITEM"
HOLD=$("$LETHE" -q hold place --tenant "$T" --workspace "$W2" --reason "litigation" --reference CASE-1)
backdate_hold "$HOLD" 2026-01-09T00:00:00Z
run_now
"$LETHE" -q ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$FITEM'")" \
    --failed "$FITEM:disk offline" >/dev/null

# ---- refusals -----------------------------------------------------------------------------------
run_lethe explain
assert_rc "explain without an item exits 2" 2
assert_eq "explain without an item message" "error: explain: name the item: explain ITEM_ID
hint: see 'lethe help explain'" "$ERR"
run_lethe explain not-an-id
assert_rc "explain of a malformed id exits 2" 2
assert_eq "malformed id message" 'error: explain: ITEM_ID: malformed id "not-an-id"
hint: ids are UUIDs, e.g. 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f' "$ERR"
run_lethe explain "$NOPE"
assert_rc "explain of an unknown item exits 2" 2
assert_eq "unknown item message" "error: explain: no item $NOPE
hint: items are the rows of lethe.items; check the id" "$ERR"
run_lethe explain "$DUP"
assert_rc "an item id in two tenants without --tenant exits 2" 2
assert_eq "ambiguous item message" "error: explain: item $DUP exists in more than one tenant
hint: pass --tenant T to say which" "$ERR"
run_lethe explain "$DUP" --tenant "$T2" --json
assert_rc "--tenant picks one of them" 0
assert_eq "--tenant picks that tenant's item" "'$T2'" "$(json_get 'd["tenant_id"]')"
run_lethe explain "$LIVE" --tenant "$T2"
assert_rc "an item outside --tenant exits 2" 2
assert_contains "item outside the tenant message" "error: explain: no item $LIVE in tenant $T2" "$ERR"
run_lethe explain "$LIVE" --tenant bad
assert_rc "a malformed --tenant exits 2" 2
run_lethe explain "$LIVE" "$LOG"
assert_rc "two items exit 2" 2
assert_contains "two items message" "error: explain: unexpected argument '$LOG'" "$ERR"
run_lethe explain --frob "$LIVE"
assert_rc "an unknown option exits 2" 2

# ---- a live item, a system log ----------------------------------------------------------------
run_lethe explain "$LIVE"
assert_rc "explain of a live item exits 0" 0
assert_eq "explain prints nothing on stderr" "" "$ERR"
assert_contains "a live item's state" "state      live" "$OUT"
assert_contains "a live item is kept (C1)" "why        no obligation covers it: kept while the subscription is active (C1)" "$OUT"
assert_contains "a live item has no obligation" "obligations (0): none" "$OUT"
run_lethe explain "$LOG"
assert_contains "a system log is not Customer Data (C7)" "why        a system_log is not Customer Data: no rule ever applies to it (C7)" "$OUT"
assert_contains "a system log's kind line" "kind       system_log (not Customer Data)" "$OUT"

# ---- a copy in another geo, in flight ---------------------------------------------------------
run_lethe explain --json "$COPY"
assert_rc "explain --json exits 0" 0
assert_eq "explain --json parses" "yes" "$(ok_json)"
assert_eq "explain --json has the documented keys, in order" \
  "['tenant_id', 'item_id', 'workspace_id', 'kind', 'customer_data', 'location', 'owner_id', 'shared', 'parent_id', 'created_at', 'as_of', 'state', 'rule', 'reference', 'due_at', 'deadline_at', 'purged_at', 'batch_id', 'attempts', 'hold_id', 'governing', 'obligations', 'holds', 'batches', 'unconsumed_events', 'unconsumed_item', 'purge_record']" \
  "$(json_get 'list(d)')"
assert_eq "the copy is in flight under its source's request" \
  "('in_flight', 'deletion_request', 'T-SRC', '2026-01-10T00:00:00.000000Z', '2026-02-09T00:00:00.000000Z')" \
  "$(json_get 'd["state"], d["rule"], d["reference"], d["due_at"], d["deadline_at"]')"
assert_eq "its obligation names the event and reaches it through the source" \
  "[('deletion_request', 'item', '$SRC', '$SRC', True, False, True)]" \
  "$(json_get '[(o["rule"], o["scope"], o["scope_id"], o["via_item_id"], o["active"], o["withdrawn"], o["governing"]) for o in d["obligations"]]')"
assert_eq "the obligation's keys" \
  "['rule', 'obligation_id', 'event_id', 'reference', 'scope', 'scope_id', 'via_item_id', 'triggered_at', 'due_at', 'deadline_at', 'active', 'withdrawn', 'withdrawn_at', 'withdrawn_by', 'governing', 'expanded_at', 'in_effect', 'rule_enabled']" \
  "$(json_get 'list(d["obligations"][0])')"
assert_eq "governing names the same obligation" "('deletion_request', '2026-02-09T00:00:00.000000Z')" \
  "$(json_get 'd["governing"]["rule"], d["governing"]["deadline_at"]')"
assert_eq "its batch is listed, open, with the batch_id of the state" "([('open', None, 'deletion_request', 'US')], True)" \
  "$(json_get '[(b["batch_state"], b["outcome"], b["rule"], b["location"]) for b in d["batches"]], d["batches"][0]["batch_id"] == d["batch_id"]')"
assert_eq "the batch's keys" \
  "['batch_id', 'batch_state', 'outcome', 'rule', 'reference', 'due_at', 'deadline_at', 'created_at', 'closed_at', 'purged_at', 'reason', 'run_id', 'location']" \
  "$(json_get 'list(d["batches"][0])')"
assert_eq "every time is UTC ISO 8601 with microseconds and Z" "[]" \
  "$(printf '%s' "$OUT" | python3 -c "
import json, re, sys
d = json.load(sys.stdin)
bad = []
def walk(x, k=''):
    if isinstance(x, dict):
        for kk, v in x.items(): walk(v, kk)
    elif isinstance(x, list):
        for v in x: walk(v, k)
    elif (k.endswith('_at') or k == 'as_of') and x is not None and not re.match(r'$TIME_RE', x):
        bad.append((k, x))
walk(d)
print(bad)")"
run_lethe explain "$COPY"
assert_contains "the text names the source it came through" "    via       ancestor $SRC (a copy follows its source)" "$OUT"
assert_contains "the text says why it is not due again: with no executor, its manifest is the hand-over" "why        in open batch $(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$COPY'") under deletion_request (deadline 2026-02-09T00:00:00.000000Z, passed), its manifest in the spool for the deleter of US (no executor is configured for it), until 'lethe ack' records what was deleted; withdrawals and holds no longer recall it" "$OUT"

# ---- a held item --------------------------------------------------------------------------------
run_lethe explain --json "$HELD"
assert_eq "the held item's state and hold" "('held', '$HOLD')" "$(json_get 'd["state"], d["hold_id"]')"
assert_eq "its hold is active, blocking, on the workspace" \
  "[('$HOLD', 'workspace', '$W2', 'litigation', 'CASE-1', True, True, None)]" \
  "$(json_get '[(h["hold_id"], h["scope"], h["scope_id"], h["reason"], h["reference"], h["active"], h["blocking"], h["released_at"]) for h in d["holds"]]')"
assert_eq "the hold's keys" \
  "['hold_id', 'scope', 'scope_id', 'reason', 'reference', 'placed_at', 'released_at', 'active', 'blocking', 'via_item_id']" \
  "$(json_get 'list(d["holds"][0])')"
run_lethe explain "$HELD"
assert_contains "the text says which hold keeps it, and that it is held, not late" \
  "why        due since 2026-01-10T00:00:00.000000Z under deletion_request, but hold $HOLD keeps it (deadline 2026-02-09T00:00:00.000000Z, passed: reported as held, not late)" "$OUT"
assert_contains "the text lists the active hold" "holds (1 active, 1 in all):" "$OUT"

# ---- a withdrawn request ----------------------------------------------------------------------
run_lethe explain --json "$WD"
assert_eq "the withdrawn item is live" "('live', None, None)" "$(json_get 'd["state"], d["rule"], d["governing"]')"
assert_eq "its obligation is withdrawn, when and by which event" \
  "[('deletion_request', 'T-WD', False, True, '2026-01-10T01:00:00.000000Z', $CANCEL)]" \
  "$(json_get '[(o["rule"], o["reference"], o["active"], o["withdrawn"], o["withdrawn_at"], o["withdrawn_by"]) for o in d["obligations"]]')"
run_lethe explain "$WD"
assert_contains "the text says why it is kept" "why        no active obligation (each one is withdrawn or its rule disabled)" "$OUT"
assert_contains "the text shows the withdrawal" "    withdrawn 2026-01-10T01:00:00.000000Z by event $CANCEL" "$OUT"

# ---- a failed attempt -------------------------------------------------------------------------
run_lethe explain --json "$FITEM"
assert_eq "the failed item is due again, with one attempt" "('due', 1, None)" \
  "$(json_get 'd["state"], d["attempts"], d["batch_id"]')"
assert_eq "its failed batch is listed with the deleter's reason" "[('failed', 'failed', 'disk offline')]" \
  "$(json_get '[(b["batch_state"], b["outcome"], b["reason"]) for b in d["batches"]]')"
run_lethe explain "$FITEM"
assert_contains "the text counts the attempts" "attempts   1 failed" "$OUT"
assert_contains "the text says the next run batches it" "the next run batches it" "$OUT"

# ---- a future-dated request ----------------------------------------------------------------
run_lethe explain --json "$FUT"
assert_eq "a future-dated request schedules the item" \
  "('scheduled', '2099-01-01T00:00:00.000000Z', '2099-01-31T00:00:00.000000Z', [(True, False, None)])" \
  "$(json_get 'd["state"], d["due_at"], d["deadline_at"], [(o["active"], o["in_effect"], o["expanded_at"]) for o in d["obligations"]]')"
run_lethe explain "$FUT"
assert_contains "the text says it is not in effect yet" "    triggered 2099-01-01T00:00:00.000000Z (future-dated: not in effect yet)" "$OUT"
assert_contains "the text says when it falls due" "why        not due until 2099-01-01T00:00:00.000000Z under deletion_request (deadline 2099-01-31T00:00:00.000000Z)" "$OUT"

# ---- what no run has consumed yet -------------------------------------------------------------
mk_event "$T" deletion_requested 2026-01-20T00:00:00Z T-NEW item_id "$LIVE"
run_lethe explain --json "$LIVE"
assert_eq "an event not consumed yet is counted, not shown" "(1, [], 'live')" \
  "$(json_get 'd["unconsumed_events"], d["obligations"], d["state"]')"
run_lethe explain "$LIVE"
assert_contains "the text notes it" "note: 1 event of this tenant is not consumed by a run yet and is not reflected above" "$OUT"
run_now
run_lethe explain --json "$LIVE"
assert_eq "after a run it is shown" "(0, 'in_flight', 'T-NEW')" \
  "$(json_get 'd["unconsumed_events"], d["state"], d["obligations"][0]["reference"]')"

# ================================ status =========================================================
psql -X -q -c 'DROP DATABASE IF EXISTS status_t' -c 'CREATE DATABASE status_t' 2>/dev/null
rm -f "$WORK/anchors.jsonl"  # a new database: the anchors of the one before are not its own
export PGDATABASE=status_t
"$LETHE" migrate >/dev/null

run_lethe --config "$CONF" status extra
assert_rc "status with an argument exits 2" 2
assert_contains "status argument message" "error: status: unexpected argument 'extra'" "$ERR"
run_lethe --config "$CONF" status --frob
assert_rc "status with an unknown option exits 2" 2

run_lethe --config "$CONF" status
assert_rc "status without --check exits 0 whatever it finds" 0
assert_contains "status says when" "status at " "$OUT"
assert_contains "status of a database never run" "last successful run: none" "$OUT"
run_lethe --config "$CONF" status --check
assert_rc "--check on a database that never had a run exits 4" 4
assert_eq "never-run message" "error: status: check failed: no run succeeded within the lookahead (2d): none ever did" "$ERR"
assert_contains "the report says it too" "check: no run succeeded within the lookahead (2d): none ever did" "$OUT"
run_lethe --config "$CONF" status --json --check
assert_rc "--json --check exits 4 too" 4
assert_eq "status --json parses" "yes" "$(ok_json)"
assert_eq "status --json has the documented keys, in order" \
  "['as_of', 'lookahead', 'counts', 'totals', 'overdue', 'held_past_deadline', 'disabled_past_deadline', 'violations', 'failing', 'next_deadlines', 'last_successful_runs', 'last_run', 'gone_runs', 'unconsumed', 'batches', 'repurges', 'purged_late_7d', 'check']" \
  "$(json_get 'list(d)')"
assert_eq "status --json check" "(False, ['no run succeeded within the lookahead (2d): none ever did'])" \
  "$(json_get 'd["check"]["ok"], d["check"]["problems"]')"
assert_eq "status --json rules in SPEC order" \
  "['shared_while_opted_out', 'subject_request', 'deletion_request', 'sharing_opt_out', 'capacity_deleted', 'shared_retention']" \
  "$(json_get '[c["rule"] for c in d["counts"]]')"

run_now
run_lethe --config "$CONF" status --check
assert_rc "--check after a successful run on an empty catalog exits 0" 0
assert_eq "--check ok prints nothing on stderr" "" "$ERR"
assert_contains "the report ends with check: ok" "check: ok" "$OUT"
run_lethe --config "$CONF" status --json
assert_eq "the run is listed, for the whole catalog" "(1, None, True)" \
  "$(json_get 'len(d["last_successful_runs"]), d["last_successful_runs"][0]["shard"], d["last_run"]["outcome"] == "succeeded"')"

# A catalog with one item in each trouble.
T=$(uuid); W=$(uuid); W2=$(uuid); W3=$(uuid); W4=$(uuid)
mk_tenant "$T" acme
mk_workspace "$T" "$W" EU; mk_workspace "$T" "$W2" US; mk_workspace "$T" "$W3" ANZ; mk_workspace "$T" "$W4" UK
A=$(uuid); B=$(uuid); H=$(uuid); S=$(uuid); V=$(uuid); F=$(uuid)
mk_item "$T" "$A" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$B" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$H" "$W2" prompt US 2026-01-01T00:00:00Z
mk_item "$T" "$S" "$W3" prompt ANZ 2026-01-01T00:00:00Z
mk_item "$T" "$F" "$W" pinned EU 2026-01-01T00:00:00Z
"$LETHE" request --tenant "$T" --item "$A" --reference NOW-1 >/dev/null
mk_event "$T" deletion_requested 2026-01-01T00:00:00Z OLD-1 item_id "$B"
mk_event "$T" deletion_requested 2026-01-01T00:00:00Z OLD-2 workspace_id "$W2"
mk_event "$T" deletion_requested 2099-01-01T00:00:00Z FUT-1 workspace_id "$W3"
mk_event "$T" sharing_opted_out 2026-01-01T00:00:00Z "" workspace_id "$W4"
mk_item "$T" "$V" "$W4" prompt UK 2026-02-01T00:00:00Z true
HOLD=$("$LETHE" -q hold place --tenant "$T" --workspace "$W2" --reason litigation)
backdate_hold "$HOLD" 2026-01-02T00:00:00Z
run_lethe --config "$CONF" status --json
assert_eq "events not consumed yet are counted" "{'events': 5, 'items': 6}" "$(json_get 'd["unconsumed"]')"
run_now

run_lethe --config "$CONF" status --check
assert_rc "--check with an overdue item and a violation exits 4" 4
assert_eq "--check names each problem" "error: status: check failed: 1 item is past the deadline and not purged
error: status: check failed: 1 shared copy made while opted out not purged yet (a violation)" "$ERR"
assert_contains "counts: header" "  rule                      scheduled        due       held  in_flight     purged" "$OUT"
assert_contains "counts: the violation in flight" "  shared_while_opted_out            0          0          0          1          0" "$OUT"
assert_contains "counts: the requests scheduled, held and in flight" "  deletion_request                  1          0          1          2          0" "$OUT"
assert_contains "counts: totals" "  total                             1          0          1          3          0" "$OUT"
assert_contains "overdue lists the late item" "overdue (deadline passed, not purged, not kept past it by a hold): 1
  2026-01-31T00:00:00.000000Z  deletion_request       in_flight item $B tenant $T (acme)" "$OUT"
assert_contains "held past deadline lists the held item and its hold" "held past deadline: 1
  2026-01-31T00:00:00.000000Z  deletion_request       held      item $H tenant $T (acme) hold $HOLD" "$OUT"
assert_contains "violations list the shared copy" "violations not purged yet (shared copies made while opted out): 1
  2026-02-01T00:00:00.000000Z  shared_while_opted_out in_flight item $V tenant $T (acme)" "$OUT"
run_lethe --config "$CONF" status --json
assert_eq "json: overdue" "(1, ['$B'])" "$(json_get 'd["overdue"]["count"], [i["item_id"] for i in d["overdue"]["items"]]')"
assert_eq "json: the item's keys" \
  "['tenant_id', 'item_id', 'state', 'rule', 'reference', 'due_at', 'deadline_at', 'batch_id', 'hold_id', 'location', 'tenant_name']" \
  "$(json_get 'list(d["overdue"]["items"][0])')"
assert_eq "json: held past deadline" "(1, '$H', '$HOLD')" \
  "$(json_get 'd["held_past_deadline"]["count"], d["held_past_deadline"]["items"][0]["item_id"], d["held_past_deadline"]["items"][0]["hold_id"]')"
assert_eq "json: violations" "(1, 0, '$V')" \
  "$(json_get 'd["violations"]["pending"], d["violations"]["purged"], d["violations"]["items"][0]["item_id"]')"
assert_eq "json: next deadlines, nearest first, none passed" "[('$A', 'in_flight'), ('$S', 'scheduled')]" \
  "$(json_get '[(i["item_id"], i["state"]) for i in d["next_deadlines"]]')"
assert_eq "json: totals" "{'scheduled': 1, 'due': 0, 'held': 1, 'in_flight': 3, 'purged': 0}" "$(json_get 'd["totals"]')"
assert_eq "json: the scheduled item's times" "('2099-01-01T00:00:00.000000Z', '2099-01-31T00:00:00.000000Z')" \
  "$(json_get "[(i['due_at'], i['deadline_at']) for i in d['next_deadlines'] if i['item_id'] == '$S'][0]")"

# Purged, the late item and the violation stop failing the check; the held one never did.
ack_all
run_lethe --config "$CONF" status --check
assert_rc "--check once they are purged exits 0" 0
run_lethe --config "$CONF" status --json
assert_eq "json: purged and violations after the acks" "(3, 0, 1, 0)" \
  "$(json_get 'd["totals"]["purged"], d["violations"]["pending"], d["violations"]["purged"], d["overdue"]["count"]')"
# explain judges each purge as the audit's record counts it: the violation first, then late.
run_lethe --config "$CONF" explain "$V"
assert_contains "explain: a purged violation is counted as one, not as late" \
  "under shared_while_opted_out (deadline 2026-02-01T00:00:00.000000Z): a copy shared while its tenant or workspace was opted out: counted as a violation, not as late" "$OUT"
run_lethe --config "$CONF" explain "$B"
assert_contains "explain: the late purge" "(deadline 2026-01-31T00:00:00.000000Z): after the deadline: counted as late" "$OUT"
assert_contains "explain: the record's seq and reference" \
  "record     item_purged, seq $(sql "SELECT seq FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$B'") of the tenant's audit chain, reference OLD-1" "$OUT"
run_lethe --config "$CONF" explain --json "$V"
assert_eq "explain --json: the violation's record" \
  "($(sql "SELECT seq FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$V'"), 'shared_while_opted_out', None, False, None, None)" \
  "$(json_get 'tuple(d["purge_record"][k] for k in ("seq", "rule", "reference", "on_time", "hold_id", "detail"))')"

# An item that fails three times.
"$LETHE" request --tenant "$T" --item "$F" --reference FAIL-1 >/dev/null
for n in 1 2 3; do run_now; ack_all "$F"; done
run_lethe --config "$CONF" status --check
assert_rc "--check with an item failed three times exits 4" 4
assert_eq "failing message" "error: status: check failed: 1 item failed three times or more and not purged yet" "$ERR"
run_lethe --config "$CONF" status --json
assert_eq "json: failing" "(1, 1, '$F', 3, 'due')" \
  "$(json_get 'd["failing"]["count"], d["failing"]["failed_once"], d["failing"]["items"][0]["item_id"], d["failing"]["items"][0]["failures"], d["failing"]["items"][0]["state"]')"
run_lethe --config "$CONF" status
assert_contains "the text lists it" "failing (failed three times or more, not purged): 1; failed at least once: 1" "$OUT"
assert_contains "and points at the failed batches" "  'lethe batches --state failed' lists the failed batches with their deleters' stderr" "$OUT"
run_now; ack_all
run_lethe --config "$CONF" status --check
assert_rc "--check once the failing item is purged exits 0" 0

# No successful run within the lookahead (status reads it from lethe.settings, as the last
# run left it).
sql "UPDATE lethe.settings SET lookahead = '1 second'" >/dev/null
sleep 1.2
run_lethe --config "$CONF" status --check
assert_rc "--check with no run within the lookahead exits 4" 4
LAST=$(sql "SELECT lethe.iso_utc(max(finished_at)) FROM lethe.runs WHERE outcome = 'succeeded'")
assert_eq "stale run message" "error: status: check failed: no run succeeded within the lookahead (1s): the last one finished at $LAST" "$ERR"

# A shard's run counts, and is listed apart.
run_now --shard 0/2
run_lethe --config "$CONF" status --check
assert_rc "--check after a shard's run exits 0" 0
run_lethe --config "$CONF" status --json
assert_eq "json: last successful runs per shard" "[None, '0/2']" "$(json_get '[r["shard"] for r in d["last_successful_runs"]]')"
run_lethe --config "$CONF" status
assert_contains "text: the shard's run" "  0/2              " "$OUT"

# ---- a scheduled item is shown under the obligation it will be due under ------------------------
# A shared item (shared_retention: 90 days) and a request of its tenant dated 16 days ahead: at
# that time the item is due under the request, with the request's deadline (30 days on). Status
# read "scheduled, shared_retention, due at the request's time, deadline 90 days on" (sql/0068).
psql -X -q -c 'DROP DATABASE IF EXISTS explain_f' -c 'CREATE DATABASE explain_f' 2>/dev/null
export PGDATABASE=explain_f
"$LETHE" migrate >/dev/null
rm -f "$WORK/anchors.jsonl"  # the anchors of explain_t are not this database's
TF=$(uuid); WF=$(uuid); IF=$(uuid)
mk_tenant "$TF" future; mk_workspace "$TF" "$WF" EU
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, shared)
     VALUES ('$TF', '$IF', '$WF', 'prompt', 'EU', 'file:///x', now() - interval '3 days', true)" >/dev/null
REQ_AT=$(sql "SELECT lethe.iso_utc(date_trunc('day', now()) + interval '16 days')")
mk_event "$TF" deletion_requested "$REQ_AT" R-AHEAD
REQ_DEADLINE=$(sql "SELECT lethe.iso_utc('$REQ_AT'::timestamptz + interval '2592000 seconds')")
"$LETHE" --config "$CONF" -q run >/dev/null
assert_eq "item_status: due at the request's time, under the request, with its deadline" \
  "scheduled deletion_request $REQ_AT $REQ_DEADLINE" \
  "$(sql "SELECT state || ' ' || rule || ' ' || lethe.iso_utc(due_at) || ' ' || lethe.iso_utc(deadline_at) FROM lethe.item_status WHERE item_id = '$IF'")"
run_lethe --config "$CONF" explain "$IF"
assert_contains "explain says so" "why        not due until $REQ_AT under deletion_request (deadline $REQ_DEADLINE)" "$OUT"
run_lethe --config "$CONF" status --json
assert_eq "status's next deadline is the request's" "[('$IF', '$REQ_DEADLINE')]" \
  "$(json_get '[(i["item_id"], i["deadline_at"]) for i in d["next_deadlines"]]')"
run_lethe --config "$CONF" run --dry-run --as-of "$REQ_AT" --json
assert_eq "and a dry run at that time batches it so" "deletion_request" \
  "$(json_get 'd["by_rule"][0]["rule"]' | tr -d "'")"

# ... and a request withdrawn before it comes due (under a grace) is no obligation it will be due
# under: the item read "scheduled, deletion_request" at the request's due time, when a dry run
# then batched nothing (B), or batched it under another request (A).
write_config "$WORK/grace.conf" 'rules: { deletion_request: { deadline = "30d"; grace = "20d"; }; };'
IA=$(uuid); IB=$(uuid)
for x in "$IA subj-a" "$IB"; do
    set -- $x
    owner=${2:+"'$2'"}
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, shared, owner_id)
         VALUES ('$TF', '$1', '$WF', 'prompt', 'EU', 'file:///x', now() - interval '3 days', true, ${owner:-NULL})" >/dev/null
done
DAY=$(sql "SELECT lethe.iso_utc(date_trunc('day', now()))")
at() { sql "SELECT lethe.iso_utc('$DAY'::timestamptz + interval '$1')"; }
mk_event "$TF" deletion_requested "$(at '3 days')" R-A item_id "$IA"
mk_event "$TF" deletion_cancelled "$(at '4 days')" R-A
mk_event "$TF" deletion_requested "$(at '5 days')" S-A subject_id subj-a
mk_event "$TF" deletion_requested "$(at '1 day')" R-B item_id "$IB"
mk_event "$TF" deletion_cancelled "$(at '2 days')" R-B
"$LETHE" --config "$WORK/grace.conf" -q run >/dev/null
assert_eq "A: due under the subject's request, not the request cancelled before its due time" \
  "scheduled subject_request S-A $(at '5 days')" \
  "$(sql "SELECT state || ' ' || rule || ' ' || reference || ' ' || lethe.iso_utc(due_at) FROM lethe.item_status WHERE item_id = '$IA'")"
# README (choices): explain prints the owner and the subject of a request as the catalog holds
# them; the run's log and the dry run's items do not.
run_lethe --config "$WORK/grace.conf" explain "$IA"
assert_eq "explain shows the item's owner and the subject request's scope as the catalog holds them" "2" \
  "$(grep -cE '^owner +subj-a$|scope subject subj-a$' <<<"$OUT")"
run_lethe --config "$WORK/grace.conf" -v run --dry-run --as-of "$(at '5 days')" --json --items
assert_not_contains "... a dry run's items and log do not" "subj-a" "$OUT$ERR"
run_lethe --config "$WORK/grace.conf" run --dry-run --as-of "$(at '5 days')" --json --items
assert_eq "... as a dry run at that time batches it" "['subject_request']" \
  "$(json_get '[i["rule"] for i in d["items"] if i["item_id"] == "'"$IA"'"]')"
assert_eq "B: due under the tenant's request dated ahead (R-AHEAD, above), not at the cancelled request's due time" \
  "scheduled deletion_request R-AHEAD $(sql "SELECT lethe.iso_utc('$REQ_AT'::timestamptz + interval '20 days')")" \
  "$(sql "SELECT state || ' ' || rule || ' ' || reference || ' ' || lethe.iso_utc(due_at) FROM lethe.item_status WHERE item_id = '$IB'")"
run_lethe --config "$WORK/grace.conf" run --dry-run --as-of "$(at '21 days')" --json --items
assert_eq "... and a dry run at the request's due time batches nothing of it" "[]" \
  "$(json_get '[i["rule"] for i in d["items"] if i["item_id"] == "'"$IB"'"]')"

# ---- a purged item's obligations, each with its own due time -----------------------------------
# Capacity deleted on 1 November and a request of the whole tenant on 2 November: the item is due
# at the earlier (the capacity's, no grace), under the request (the earlier deadline). Purged, its
# governing obligation was shown due on 1 November, a day before the request was made (the
# item's due time, which its batch keeps; an outside tryout's finding). SPEC §3: an obligation's
# due_at = max(t, min(t + grace, deadline_at - lookahead)); here no grace, so t itself.
TG=$(uuid); WG=$(uuid); IG=$(uuid)
mk_tenant "$TG" twice; mk_workspace "$TG" "$WG" EU
mk_item "$TG" "$IG" "$WG" prompt EU 2026-10-01T00:00:00Z
mk_event "$TG" capacity_deleted 2026-11-01T00:00:00Z
mk_event "$TG" deletion_requested 2026-11-02T00:00:00Z R-TWICE
run_now; ack_all
run_lethe --config "$CONF" explain "$IG" --json
assert_eq "purged: the item's due time is the earliest of its obligations', its deadline the request's" \
  "('purged', 'deletion_request', '2026-11-01T00:00:00.000000Z', '2026-12-02T00:00:00.000000Z')" \
  "$(json_get 'd["state"], d["rule"], d["due_at"], d["deadline_at"]')"
assert_eq "... each obligation due at its own time, the request's not before it was made" \
  "[('deletion_request', '2026-11-02T00:00:00.000000Z', '2026-11-02T00:00:00.000000Z', True), ('capacity_deleted', '2026-11-01T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z', False)]" \
  "$(json_get '[(o["rule"], o["triggered_at"], o["due_at"], o["governing"]) for o in d["obligations"]]')"
assert_eq "... the governing one too" "('2026-11-02T00:00:00.000000Z', '2026-11-02T00:00:00.000000Z')" \
  "$(json_get 'd["governing"]["triggered_at"], d["governing"]["due_at"]')"
run_lethe --config "$CONF" explain "$IG"
assert_contains "... and so in text" "$(printf '    triggered 2026-11-02T00:00:00.000000Z\n    due       2026-11-02T00:00:00.000000Z')" "$OUT"

finish
