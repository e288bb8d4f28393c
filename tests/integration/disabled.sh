# A rule disabled in the config (enabled = false) records its obligations, and none of them is due
# while it is off (README). What is past the deadline such a rule would have set is said by
# status (text and --json) and fails status --check (SPEC §6: an item past its deadline and not
# purged, held items excepted), until the rule is enabled again and a run batches the items
# (sql/0074_disabled_past_deadline.sql). Expected deadlines are worked out here from the events'
# times and SPEC §1's deadlines (30 days for a deletion request, 90 days for shared retention),
# not read back from lethe.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-disabled.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS disabled_t' -c 'CREATE DATABASE disabled_t' 2>/dev/null
export PGDATABASE=disabled_t
"$LETHE" migrate >/dev/null

write_config "$WORK/on.conf"
write_config "$WORK/off.conf" \
    'rules: { deletion_request: { enabled = false; }; shared_retention: { enabled = false; }; };'

iso() { date -u -d "$1" +%FT%TZ; }        # a time relative to now, to the second
full() { date -u -d "$1" +%FT%T.000000Z; } # as lethe prints it
OLD_REQ=$(iso '-60 days'); NEW_REQ=$(iso '-5 days'); LONG_AGO=$(iso '-200 days')

# acme: a workspace request 60 days old (its deadline passed 30 days ago) over a1, a2 (held by
# an item hold), a system log (not Customer Data) and an item made after the request; a request
# 5 days old over a3 and a4 (deadline not passed); an item request over a4, cancelled the next
# day.
TA=$(uuid); W1=$(uuid); W2=$(uuid)
mk_tenant "$TA" acme; mk_workspace "$TA" "$W1" EU; mk_workspace "$TA" "$W2" EU
A1=$(uuid); A2=$(uuid); A3=$(uuid); A4=$(uuid); LOG=$(uuid); LATE=$(uuid)
mk_item "$TA" "$A1" "$W1" prompt EU 2026-01-01T00:00:00Z
mk_item "$TA" "$A2" "$W1" response EU 2026-01-01T00:00:00Z
mk_item "$TA" "$LOG" "$W1" system_log EU 2026-01-01T00:00:00Z
mk_item "$TA" "$LATE" "$W1" prompt EU "$(iso '-1 day')"
mk_item "$TA" "$A3" "$W2" prompt EU 2026-01-01T00:00:00Z
mk_item "$TA" "$A4" "$W2" upload EU 2026-01-01T00:00:00Z
mk_event "$TA" deletion_requested "$OLD_REQ" REQ-OLD workspace_id "$W1"
mk_event "$TA" deletion_requested "$NEW_REQ" REQ-NEW workspace_id "$W2"
mk_event "$TA" deletion_requested "$OLD_REQ" REQ-WD item_id "$A4"
mk_event "$TA" deletion_cancelled "$(iso '-59 days')" REQ-WD
# globex: shared copies 200 days old (s1; s3 is bob's, held by a subject hold) and one 30 days old.
TB=$(uuid); WB=$(uuid); S1=$(uuid); S2=$(uuid); S3=$(uuid)
mk_tenant "$TB" globex; mk_workspace "$TB" "$WB" US
mk_item "$TB" "$S1" "$WB" prompt US "$LONG_AGO" true
mk_item "$TB" "$S2" "$WB" prompt US "$(iso '-30 days')" true
mk_item "$TB" "$S3" "$WB" prompt US "$LONG_AGO" true "" bob

"$LETHE" --config "$WORK/off.conf" -q hold place --tenant "$TA" --item "$A2" --reason litigation \
    --operator tester >"$WORK/hold_a2"
HA2=$(cat "$WORK/hold_a2")
"$LETHE" --config "$WORK/off.conf" -q hold place --tenant "$TB" --subject bob --reason audit \
    --operator tester >/dev/null

run_lethe --config "$WORK/off.conf" run
assert_rc "a run with deletion_request and shared_retention disabled" 0
assert_eq "... batches nothing (nothing is due under a rule that is off)" "0" \
    "$(sql "SELECT count(*) FROM lethe.batch_items")"
OB=$(sql "SELECT obligation_id FROM lethe.obligations WHERE tenant_id = '$TA' AND reference = 'REQ-OLD'")

run_lethe --config "$WORK/off.conf" status
assert_rc "status exits 0 without --check" 0
assert_contains "status says what is past a disabled rule's deadline: 2 items" \
    "past the deadline of a disabled rule (never due while the rule is off; not purged, not held): 2 items" "$OUT"
assert_contains "... s1's shared retention first (deadline 110 days ago)" \
    "  $(full "$LONG_AGO + 90 days")  shared_retention       1 item shared, every tenant" "$OUT"
assert_contains "... then the old request's one unheld item, by obligation and reference" \
    "  $(full "$OLD_REQ + 30 days")  deletion_request       1 item of obligation $OB (reference REQ-OLD) tenant $TA (acme)" "$OUT"
assert_not_contains "... not the request whose deadline is ahead" "REQ-NEW" "$OUT"
assert_not_contains "... nor the cancelled one" "REQ-WD" "$OUT"
assert_contains "... with what to do" "enable the rule in the config (rules.RULE.enabled)" "$OUT"
assert_contains "... and the rules' table marks them" "deletion_request                  0          0          0          0          0  (disabled)" "$OUT"

run_lethe --config "$WORK/off.conf" status --json
assert_eq "--json: disabled_past_deadline, exact" \
    "2 2 [['shared_retention', None, None, None, None, '$(full "$LONG_AGO + 90 days")', 1], ['deletion_request', '$TA', 'acme', $OB, 'REQ-OLD', '$(full "$OLD_REQ + 30 days")', 1]]" \
    "$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)["disabled_past_deadline"]
print(d["count"], d["items"], [[x["rule"], x["tenant_id"], x["tenant_name"], x["obligation_id"],
                                x["reference"], x["deadline_at"], x["items"]] for x in d["list"]])')"
assert_contains "--json: the check's problem" "2 items are past the deadline of a disabled rule" "$OUT"

run_lethe --config "$WORK/off.conf" status --check
assert_rc "status --check fails (exit 4)" 4
assert_contains "... naming the count and the rules" \
    "status: check failed: 2 items are past the deadline of a disabled rule (deletion_request, shared_retention) and not purged: nothing is due under a rule while it is off" "$ERR"

run_lethe --config "$WORK/off.conf" explain "$A1"
assert_contains "explain says why the request is not active" \
    "deletion_request (not active: the rule is disabled in the config)" "$OUT"
assert_contains "... and that its deadline passed while the rule is off" \
    "deadline  $(full "$OLD_REQ + 30 days") (passed while the rule is off)" "$OUT"
assert_contains "... and its why says so, not 'kept while the subscription is active'" \
    "why        no active obligation, but the deadline deletion_request would set ($(full "$OLD_REQ + 30 days")) passed while the rule is disabled in the config: nothing is due under a rule that is off (enable it: rules.deletion_request.enabled)" "$OUT"
run_lethe --config "$WORK/off.conf" explain "$A1" --json
assert_eq "explain --json: rule_enabled false, not active" "[('deletion_request', False, False)]" \
    "$(printf '%s' "$OUT" | python3 -c '
import json, sys
print([(o["rule"], o["rule_enabled"], o["active"]) for o in json.load(sys.stdin)["obligations"]])')"

# The hold on a2 released: a2 counts too.
"$LETHE" --config "$WORK/off.conf" -q hold release "$HA2" --operator tester
run_lethe --config "$WORK/off.conf" status --json
assert_eq "a2 counts once its hold is released" "3 [1, 2]" \
    "$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)["disabled_past_deadline"]
print(d["items"], [x["items"] for x in d["list"]])')"

# Enabled again: the next run batches them (no executor: they wait in open batches), and
# nothing is said of a disabled rule any more; disabled once more, items in open batches are the
# batches' (status lists them in flight), not the disabled rule's.
run_lethe --config "$WORK/on.conf" run
assert_rc "a run with the rules enabled again" 0
assert_eq "... batches a1, a2, a3 and a4 (REQ-NEW's, due at once: no grace) and s1 (s3 held, s2 not due)" \
    "$(printf '%s\n' "$A1" "$A2" "$A3" "$A4" "$S1" | sort | tr '\n' ' ')" \
    "$(sql "SELECT item_id FROM lethe.batch_items WHERE outcome IS NULL ORDER BY item_id" | tr '\n' ' ')"
run_lethe --config "$WORK/on.conf" status
assert_not_contains "status says nothing of a disabled rule" "past the deadline of a disabled rule" "$OUT"
run_lethe --config "$WORK/off.conf" run
assert_rc "a run with the rules disabled again" 0
run_lethe --config "$WORK/off.conf" status --json
assert_eq "items in open batches are not the disabled rule's" "0 0 []" \
    "$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)["disabled_past_deadline"]
print(d["count"], d["items"], d["list"])')"

finish
