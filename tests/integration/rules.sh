# The rules of SPEC §1 and §3, one table of cases. Each case gets a tenant of its own (with
# workspaces w1 in EU, w2 in US and w3 in ANZ), writes items and events as a producer would,
# runs lethe (without an executor, so due items wait in open batches with the rule, due time
# and deadline they were batched under) and asserts the exact state, rule, due_at and
# deadline_at of lethe.item_status. Expected times are worked out from SPEC §3 by hand, not
# read back from the engine: due_at = max(t, min(t + grace, t + deadline - lookahead)).
#
# The table's lines:
#   case NAME: WHAT                    a new tenant
#   item NAME KIND GEO CREATED [ws=W] [owner=S] [shared] [parent=ITEM]
#   event TYPE OCCURRED [ws=W | subject=S | item=ITEM] [ref=R]
#   hold NAME PLACED [ws=W | subject=S | item=ITEM]   a hold written with SQL at a given time
#   release NAME AT
#   holdcli NAME [ws=W | item=ITEM]      lethe hold place (now); releasecli NAME: lethe hold release
#   run [AS_OF] [cfg=NAME]               lethe run, at AS_OF or now, with config NAME
#   ack [failed=ITEM]                    lethe ack of every open batch holding the case's items
#   expect ITEM STATE RULE DUE DEADLINE  "-" for null; times may leave out ".000000"
#   explain ITEM PYTHON EXPECTED         PYTHON over d = explain --json, printed with repr()
# Words are split as the shell does, so "$VAR" may stand for an instant computed from today.
# A case whose name starts with "known-bug" runs only when KNOWN_BUGS=1: each shows a defect
# of sql/0002_rules.sql that is reported, not worked around.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-rules.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS rules_t' -c 'CREATE DATABASE rules_t' 2>/dev/null
export PGDATABASE=rules_t
"$LETHE" migrate >/dev/null

write_config "$WORK/default.conf"
# Shorter rules: deletion_request waits 5 days (grace) of its 10; shared_retention's grace is
# past its deadline less the lookahead, so the lookahead decides.
write_config "$WORK/short.conf" 'rules: {' \
    '  deletion_request: { deadline = "10d"; grace = "5d"; };' \
    '  shared_retention: { deadline = "20d"; grace = "30d"; };' '};'
write_config "$WORK/look5.conf" 'schedule: { lookahead = "5d"; };'
write_config "$WORK/off.conf" 'rules: { deletion_request: { enabled = false; }; };'

declare -A ID
# Instants around the real now, for the cases that item_status (evaluated at now()) must see
# before an event occurs.
DAY0=$(date -u -d 'yesterday' +%F)
CAP_AT=${DAY0}T00:00:00Z
CAP_DEADLINE=$(date -u -d "$DAY0 + 180 days" +%F)T00:00:00Z
SOON=$(date -u -d "$DAY0 + 11 days" +%F)T00:00:00Z
CASE=""; SKIP=0; TENANT=""

full_time() { # 2024-01-01T00:00:00Z -> 2024-01-01T00:00:00.000000Z
    case "$1" in -) echo - ;; *.*Z) echo "$1" ;; *Z) echo "${1%Z}.000000Z" ;; *) echo "$1" ;; esac
}

# scope_sql ARGS...: the scope column and value named by ws=, subject= or item=.
scope_col=""; scope_val=""; ref=""
parse_opts() {
    scope_col=""; scope_val=""; ref=""; o_ws=w1; o_owner=""; o_shared=false; o_parent=""
    for a in "$@"; do
        case "$a" in
            ws=*) scope_col=workspace_id; scope_val=${ID[ws:${a#ws=}]}; o_ws=${a#ws=} ;;
            subject=*) scope_col=subject_id; scope_val=${a#subject=} ;;
            item=*) scope_col=item_id; scope_val=${ID[${a#item=}]} ;;
            ref=*) ref=${a#ref=} ;;
            owner=*) o_owner=${a#owner=} ;;
            shared) o_shared=true ;;
            parent=*) o_parent=${ID[${a#parent=}]} ;;
            *) not_ok "$CASE: unknown option $a" ;;
        esac
    done
}

do_case() {
    CASE=$1; shift
    SKIP=0
    case "$CASE" in known-bug*) [ "${KNOWN_BUGS:-0}" = 1 ] || { SKIP=1; echo "# skipped $CASE (KNOWN_BUGS=1 runs it)"; return; } ;; esac
    echo "# $CASE $*"
    TENANT=$(uuid)
    mk_tenant "$TENANT" "$CASE"
    local g
    for g in w1:EU w2:US w3:ANZ; do
        ID[ws:${g%%:*}]=$(uuid)
        mk_workspace "$TENANT" "${ID[ws:${g%%:*}]}" "${g#*:}"
    done
}

do_item() {
    local name=$1 kind=$2 geo=$3 created=$4; shift 4
    parse_opts "$@"
    ID[$name]=$(uuid)
    mk_item "$TENANT" "${ID[$name]}" "${ID[ws:$o_ws]}" "$kind" "$geo" "$created" "$o_shared" \
        "$o_parent" "$o_owner"
}

do_event() {
    local type=$1 when=$2; shift 2
    parse_opts "$@"
    mk_event "$TENANT" "$type" "$when" "$ref" $scope_col "$scope_val"
}

do_hold() {
    local name=$1 when=$2; shift 2
    parse_opts "$@"
    local cols="" vals=""
    [ -n "$scope_col" ] && cols=", $scope_col" && vals=", '$scope_val'"
    ID[hold:$name]=$(sql "INSERT INTO lethe.holds (tenant_id, reason, placed_at $cols)
                          VALUES ('$TENANT', 'case $CASE', '$when' $vals) RETURNING hold_id")
}

do_release() { sql "UPDATE lethe.holds SET released_at = '$2' WHERE hold_id = '${ID[hold:$1]}'" >/dev/null; }

do_holdcli() {
    local name=$1; shift
    parse_opts "$@"
    local opt=""
    case "$scope_col" in workspace_id) opt="--workspace $scope_val" ;; item_id) opt="--item $scope_val" ;; esac
    run_lethe hold place --tenant "$TENANT" $opt --reason "case $CASE"
    assert_rc "$CASE: hold place exits 0" 0
    ID[hold:$name]=$OUT
}

do_releasecli() {
    run_lethe hold release "${ID[hold:$1]}"
    assert_rc "$CASE: hold release exits 0" 0
}

do_run() {
    local as_of="" cfg=default
    for a in "$@"; do
        case "$a" in cfg=*) cfg=${a#cfg=} ;; now) ;; *) as_of=$a ;; esac
    done
    run_lethe --config "$WORK/$cfg.conf" -q run ${as_of:+--as-of "$as_of"}
    assert_rc "$CASE: run ${as_of:-now} exits 0" 0
}

do_ack() {
    parse_opts
    local failed="" a b
    for a in "$@"; do case "$a" in failed=*) failed=${ID[${a#failed=}]} ;; esac; done
    for b in $(sql "SELECT DISTINCT batch_id FROM lethe.batch_items
                     WHERE tenant_id = '$TENANT' AND outcome IS NULL"); do
        if [ -n "$failed" ] && [ "$(sql "SELECT count(*) FROM lethe.batch_items
                 WHERE batch_id = '$b' AND item_id = '$failed'")" = 1 ]; then
            run_lethe ack "$b" --failed "$failed:case $CASE"
        else
            run_lethe ack "$b"
        fi
        assert_rc "$CASE: ack exits 0" 0
    done
}

do_expect() {
    local name=$1 want
    want="$2|$3|$(full_time "$4")|$(full_time "$5")"
    local got
    got=$(sql "SELECT state, coalesce(rule, '-'), coalesce(lethe.iso_utc(due_at), '-'),
                      coalesce(lethe.iso_utc(deadline_at), '-')
                 FROM lethe.item_status WHERE tenant_id = '$TENANT' AND item_id = '${ID[$name]}'")
    assert_eq "$CASE: $name is $2 under $3, due $4, deadline $5" "$want" "$got"
}

do_explain() {
    local name=$1 expr=$2 want=$3 got
    got=$("$LETHE" explain --json "${ID[$name]}" |
          python3 -c "import json,sys; d=json.load(sys.stdin); print(repr(($expr)))" 2>&1)
    assert_eq "$CASE: explain $name: $expr" "$want" "$got"
}

# What status counts (lethe.pending_items, set-based) must agree with lethe.item_status (one
# item at a time) on every item of the catalog, whatever state the cases left it in.
status_agrees() {
    [ -n "$CASE" ] && [ "$SKIP" = 0 ] || return 0
    local diff
    diff=$(sql "SELECT s.item_id || ' ' || s.state || '/' || coalesce(p.state, '-') || ' '
                       || coalesce(s.rule, '-') || '/' || coalesce(p.rule, '-')
                  FROM lethe.item_status s
                  FULL JOIN lethe.pending_items(now()) p USING (tenant_id, item_id)
                 WHERE CASE WHEN s.state IN ('purged', 'live') THEN p.item_id IS NOT NULL
                            ELSE p.item_id IS NULL OR (p.state, p.rule, p.due_at, p.deadline_at)
                                 IS DISTINCT FROM (s.state, s.rule, s.due_at, s.deadline_at) END")
    assert_eq "$CASE: status's set-based states agree with item_status on every item" "" "$diff"
}

run_table() {
    local cmd rest
    while read -r cmd rest; do
        case "$cmd" in ''|'#'*) continue ;; esac
        if [ "$cmd" = case ]; then status_agrees; do_case ${rest%%:*} "${rest#*:}"; continue; fi
        [ "$SKIP" = 1 ] && continue
        eval "set -- $rest"
        "do_$cmd" "$@"
    done
    status_agrees
}

run_table <<'TABLE'
case c1-kept-while-active: no event, no obligation: live, with no rule or deadline
  item a prompt EU 2024-01-01T00:00:00Z
  run 2024-06-01T00:00:00Z
  expect a live - - -

case c2-capacity-deleted: every customer-data item of the tenant, within 180 days
  item a prompt EU 2024-02-01T00:00:00Z
  item b response US 2024-02-15T00:00:00Z ws=w2
  item log system_log EU 2024-02-01T00:00:00Z
  event capacity_deleted 2024-03-01T00:00:00Z
  run 2024-03-01T00:00:00Z
  expect a in_flight capacity_deleted 2024-03-01T00:00:00Z 2024-08-28T00:00:00Z
  expect b in_flight capacity_deleted 2024-03-01T00:00:00Z 2024-08-28T00:00:00Z
  expect log live - - -

case c3-request-workspace: a deletion request for one workspace, within 30 days
  item a prompt EU 2024-04-01T00:00:00Z
  item b prompt US 2024-04-01T00:00:00Z ws=w2
  event deletion_requested 2024-04-10T12:00:00Z ws=w1 ref=T-3
  run 2024-04-10T12:00:00Z
  expect a in_flight deletion_request 2024-04-10T12:00:00Z 2024-05-10T12:00:00Z
  expect b live - - -
  explain a 'd["reference"]' "'T-3'"

case c3-request-item: a deletion request for one item
  item a prompt EU 2024-04-01T00:00:00Z
  item b prompt EU 2024-04-01T00:00:00Z
  event deletion_requested 2024-04-10T12:00:00Z item=a ref=T-3i
  run 2024-04-10T12:00:00Z
  expect a in_flight deletion_request 2024-04-10T12:00:00Z 2024-05-10T12:00:00Z
  expect b live - - -

case c3-request-tenant: a deletion request for the whole tenant
  item a prompt EU 2024-04-01T00:00:00Z
  item b upload US 2024-04-01T00:00:00Z ws=w2
  event deletion_requested 2024-04-10T12:00:00Z ref=T-3t
  run 2024-04-10T12:00:00Z
  expect a in_flight deletion_request 2024-04-10T12:00:00Z 2024-05-10T12:00:00Z
  expect b in_flight deletion_request 2024-04-10T12:00:00Z 2024-05-10T12:00:00Z

case c3s-subject-leap-year: a subject's request on 31 January 2024 is due by 29 February
  item a prompt EU 2024-01-10T00:00:00Z owner=user_a
  item b prompt EU 2024-01-10T00:00:00Z owner=user_b
  event deletion_requested 2024-01-31T10:00:00Z subject=user_a ref=GDPR-1
  item c retrieved US 2024-02-05T00:00:00Z ws=w2 parent=a
  run 2024-02-10T00:00:00Z
  expect a in_flight subject_request 2024-01-31T10:00:00Z 2024-02-29T10:00:00Z
  expect c in_flight subject_request 2024-01-31T10:00:00Z 2024-02-29T10:00:00Z
  expect b live - - -

case c3s-subject-month-ends: 31 January 2023 gives 28 February; 31 March gives 30 April
  item a prompt EU 2023-01-01T00:00:00Z owner=user_a
  item b prompt EU 2024-01-01T00:00:00Z owner=user_b
  event deletion_requested 2023-01-31T10:00:00Z subject=user_a ref=GDPR-2
  event deletion_requested 2024-03-31T08:00:00Z subject=user_b ref=GDPR-3
  run 2024-04-01T00:00:00Z
  expect a in_flight subject_request 2023-01-31T10:00:00Z 2023-02-28T10:00:00Z
  expect b in_flight subject_request 2024-03-31T08:00:00Z 2024-04-30T08:00:00Z

case tie-break: equal deadlines go to subject_request before deletion_request
  item a prompt EU 2024-03-01T00:00:00Z owner=user_c
  event deletion_requested 2024-04-01T00:00:00Z item=a ref=T-tie
  event deletion_requested 2024-04-01T00:00:00Z subject=user_c ref=GDPR-tie
  run 2024-04-01T00:00:00Z
  expect a in_flight subject_request 2024-04-01T00:00:00Z 2024-05-01T00:00:00Z

case earliest-deadline: the earliest deadline governs; due is the earliest due time
  item a prompt EU 2024-03-01T00:00:00Z
  event capacity_deleted 2024-04-01T00:00:00Z
  event deletion_requested 2024-04-15T00:00:00Z ws=w1 ref=T-ed
  run 2024-04-16T00:00:00Z
  expect a in_flight deletion_request 2024-04-01T00:00:00Z 2024-05-15T00:00:00Z

case c4-lookahead: a shared copy is due 2 days (the lookahead) before its 90-day deadline, not a second earlier
  item s prompt EU 2024-01-01T00:00:00Z shared
  item n prompt EU 2024-01-01T00:00:00Z
  run 2024-03-28T23:59:59Z
  expect s due shared_retention 2024-03-29T00:00:00Z 2024-03-31T00:00:00Z
  expect n live - - -
  run 2024-03-29T00:00:00Z
  expect s in_flight shared_retention 2024-03-29T00:00:00Z 2024-03-31T00:00:00Z

case lookahead-either-side: at one instant, a copy due a second before is batched, one due a second after is not
  item p prompt EU 2024-01-01T00:00:00Z shared
  item q prompt EU 2024-01-01T00:00:02Z shared
  run 2024-03-29T00:00:01Z
  expect p in_flight shared_retention 2024-03-29T00:00:00Z 2024-03-31T00:00:00Z
  expect q due shared_retention 2024-03-29T00:00:02Z 2024-03-31T00:00:02Z

case c5-opt-out: opt-out, a copy at its very instant, a violation after it, an opt-in that withdraws nothing
  item s1 prompt EU 2024-04-20T00:00:00Z shared
  item n1 prompt EU 2024-04-20T00:00:00Z
  item s0 response EU 2024-05-01T00:00:00Z shared
  item s2 prompt US 2024-04-20T00:00:00Z ws=w2 shared
  event sharing_opted_out 2024-05-01T00:00:00Z ws=w1
  item v prompt EU 2024-05-02T00:00:00Z shared
  event sharing_opted_in 2024-05-10T00:00:00Z ws=w1
  item s3 prompt EU 2024-05-11T00:00:00Z shared
  run 2024-05-12T00:00:00Z
  expect s1 in_flight sharing_opt_out 2024-05-01T00:00:00Z 2024-05-31T00:00:00Z
  expect s0 in_flight sharing_opt_out 2024-05-01T00:00:00Z 2024-05-31T00:00:00Z
  expect v in_flight shared_while_opted_out 2024-05-02T00:00:00Z 2024-05-02T00:00:00Z
  expect n1 live - - -
  expect s2 due shared_retention 2024-07-17T00:00:00Z 2024-07-19T00:00:00Z
  expect s3 due shared_retention 2024-08-07T00:00:00Z 2024-08-09T00:00:00Z

case c5-opt-out-tenant: a tenant-wide opt-out reaches shared copies in every workspace
  item s1 prompt EU 2024-04-20T00:00:00Z shared
  item s2 prompt US 2024-04-20T00:00:00Z ws=w2 shared
  event sharing_opted_out 2024-05-01T00:00:00Z
  item v prompt US 2024-05-03T00:00:00Z ws=w2 shared
  run 2024-05-03T00:00:00Z
  expect s1 in_flight sharing_opt_out 2024-05-01T00:00:00Z 2024-05-31T00:00:00Z
  expect s2 in_flight sharing_opt_out 2024-05-01T00:00:00Z 2024-05-31T00:00:00Z
  expect v in_flight shared_while_opted_out 2024-05-03T00:00:00Z 2024-05-03T00:00:00Z

case c6-m365-revoked: turning off Microsoft 365 access deletes nothing
  item m m365 EU 2024-01-01T00:00:00Z
  item a prompt EU 2024-01-01T00:00:00Z
  event m365_access_revoked 2024-02-01T00:00:00Z
  run 2024-03-01T00:00:00Z
  expect m live - - -
  expect a live - - -

case c7-system-logs: system logs are never touched, not even as copies of customer data
  item a prompt EU 2024-01-01T00:00:00Z
  item log system_log EU 2024-01-01T00:00:00Z
  item logc system_log EU 2024-01-02T00:00:00Z parent=a
  event deletion_requested 2024-02-01T00:00:00Z ref=T-7
  event capacity_deleted 2024-02-01T00:00:00Z
  run 2024-02-01T00:00:00Z
  expect a in_flight deletion_request 2024-02-01T00:00:00Z 2024-03-02T00:00:00Z
  expect log live - - -
  expect logc live - - -
  explain log 'd["customer_data"], d["obligations"]' '(False, [])'

case c8-lineage-across-geos: copies in other geos, made before or after the event, follow their source
  item u upload EU 2024-06-01T00:00:00Z
  item c retrieved US 2024-06-20T00:00:00Z ws=w2 parent=u
  event deletion_requested 2024-07-01T00:00:00Z item=u ref=T-8
  item c2 pinned ANZ 2024-07-15T00:00:00Z ws=w3 parent=c
  item other prompt US 2024-06-20T00:00:00Z ws=w2
  run 2024-07-20T00:00:00Z
  expect u in_flight deletion_request 2024-07-01T00:00:00Z 2024-07-31T00:00:00Z
  expect c in_flight deletion_request 2024-07-01T00:00:00Z 2024-07-31T00:00:00Z
  expect c2 in_flight deletion_request 2024-07-01T00:00:00Z 2024-07-31T00:00:00Z
  expect other live - - -
  explain c2 'd["obligations"][0]["via_item_id"] is not None' 'True'

case coverage-by-creation: an event covers items created up to its instant, even inserted after the run
  item before prompt EU 2024-07-01T00:00:00Z
  item at prompt EU 2024-08-01T00:00:00Z
  item after prompt EU 2024-08-02T00:00:00Z
  event deletion_requested 2024-08-01T00:00:00Z ref=T-cov
  run 2024-08-01T00:00:00Z
  expect before in_flight deletion_request 2024-08-01T00:00:00Z 2024-08-31T00:00:00Z
  expect at in_flight deletion_request 2024-08-01T00:00:00Z 2024-08-31T00:00:00Z
  expect after live - - -
  item late prompt EU 2024-07-31T00:00:00Z
  run 2024-08-03T00:00:00Z
  expect late in_flight deletion_request 2024-08-01T00:00:00Z 2024-08-31T00:00:00Z
  expect after live - - -

case withdraw-cancellation: a later cancellation with the request's reference withdraws it
  item a prompt EU 2024-08-20T00:00:00Z
  event deletion_requested 2024-09-01T00:00:00Z ws=w1 ref=T-13
  event deletion_cancelled 2024-09-01T01:00:00Z ref=T-13
  run 2024-09-02T00:00:00Z
  expect a live - - -
  explain a '[(o["rule"], o["withdrawn"], o["withdrawn_at"]) for o in d["obligations"]]' "[('deletion_request', True, '2024-09-01T01:00:00.000000Z')]"

case withdraw-too-late: a cancellation does not reach an item already in an open batch
  item a prompt EU 2024-08-20T00:00:00Z
  event deletion_requested 2024-09-01T00:00:00Z ws=w1 ref=T-14
  run 2024-09-01T00:00:00Z
  expect a in_flight deletion_request 2024-09-01T00:00:00Z 2024-10-01T00:00:00Z
  event deletion_cancelled 2024-09-01T01:00:00Z ref=T-14
  run 2024-09-02T00:00:00Z
  expect a in_flight deletion_request 2024-09-01T00:00:00Z 2024-10-01T00:00:00Z

# (A cancellation dated before its request is refused by the database: catalog.sh, sql/0080.)

case withdraw-after-failure: items whose batch failed count as not handed over
  item a prompt EU 2024-08-20T00:00:00Z
  item b prompt EU 2024-08-20T00:00:00Z
  event deletion_requested 2024-09-20T00:00:00Z ws=w1 ref=T-17
  run 2024-09-20T00:00:00Z
  ack failed=a
  expect a due deletion_request 2024-09-20T00:00:00Z 2024-10-20T00:00:00Z
  expect b purged deletion_request 2024-09-20T00:00:00Z 2024-10-20T00:00:00Z
  event deletion_cancelled 2024-09-21T00:00:00Z ref=T-17
  run 2024-09-22T00:00:00Z
  expect a live - - -
  explain a 'd["attempts"]' '1'

case withdraw-reprovisioning: capacity provisioned again withdraws capacity_deleted; provisioned earlier does not
  item a prompt EU 2024-09-01T00:00:00Z
  event capacity_provisioned 2024-09-30T00:00:00Z
  event capacity_deleted 2024-10-01T00:00:00Z
  event capacity_provisioned 2024-10-02T00:00:00Z
  run 2024-10-03T00:00:00Z
  expect a live - - -

case capacity-before-provisioning: provisioning dated before the deletion withdraws nothing
  item a prompt EU 2024-09-01T00:00:00Z
  event capacity_deleted 2024-10-01T00:00:00Z
  event capacity_provisioned 2024-09-30T00:00:00Z
  run 2024-10-03T00:00:00Z
  expect a in_flight capacity_deleted 2024-10-01T00:00:00Z 2025-03-30T00:00:00Z

case holds: a hold keeps an item and its copies (never its source) until released
  item a prompt EU 2024-09-01T00:00:00Z
  item c retrieved US 2024-09-02T00:00:00Z ws=w2 parent=a
  item b prompt US 2024-09-01T00:00:00Z ws=w2
  item d prompt US 2024-09-01T00:00:00Z ws=w2
  item e retrieved ANZ 2024-09-02T00:00:00Z ws=w3 parent=d
  event deletion_requested 2024-10-01T00:00:00Z ref=T-18
  holdcli legal ws=w1
  holdcli copy item=e
  run now
  expect a held deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect c held deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect e held deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect b in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect d in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  releasecli legal
  run now
  expect a in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect c in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect e held deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z

case hold-window: a hold is active from placed_at until released_at
  item a prompt EU 2024-09-01T00:00:00Z
  item b prompt EU 2024-09-01T00:00:00Z owner=user_e
  event deletion_requested 2024-10-01T00:00:00Z ws=w1 ref=T-19
  hold early 2024-09-15T00:00:00Z item=a
  release early 2024-10-05T00:00:00Z
  hold subj 2024-10-10T00:00:00Z subject=user_e
  release subj 2024-10-12T00:00:00Z
  run 2024-10-04T00:00:00Z
  expect a due deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect b in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  run 2024-10-05T00:00:00Z
  expect a in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z

case hold-after-as-of: a hold placed after the run's as_of and still in effect holds in that run
  item a prompt EU 2024-09-01T00:00:00Z
  item b prompt EU 2024-09-01T00:00:00Z owner=user_e
  event deletion_requested 2024-10-01T00:00:00Z ws=w1 ref=T-19b
  hold subj 2024-10-10T00:00:00Z subject=user_e
  run 2024-10-04T00:00:00Z
  expect a in_flight deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z
  expect b held deletion_request 2024-10-01T00:00:00Z 2024-10-31T00:00:00Z

case future-dated: a future event takes effect only from its instant; a future cancellation withdraws nothing yet
  item a prompt EU 2024-01-01T00:00:00Z
  item b prompt US 2024-01-01T00:00:00Z ws=w2
  event deletion_requested 2099-01-01T00:00:00Z ws=w1 ref=T-fut
  event deletion_requested 2024-11-01T00:00:00Z ws=w2 ref=T-fut2
  event deletion_cancelled 2099-01-01T00:00:00Z ref=T-fut2
  run now
  expect a scheduled deletion_request 2099-01-01T00:00:00Z 2099-01-31T00:00:00Z
  expect b in_flight deletion_request 2024-11-01T00:00:00Z 2024-12-01T00:00:00Z

case as-of: --as-of evaluates at another instant
  item a prompt EU 2024-10-01T00:00:00Z
  event deletion_requested 2024-11-05T00:00:00Z ws=w1 ref=T-asof
  run 2024-11-01T00:00:00Z
  expect a due deletion_request 2024-11-05T00:00:00Z 2024-12-05T00:00:00Z
  run 2024-11-04T23:59:59Z
  expect a due deletion_request 2024-11-05T00:00:00Z 2024-12-05T00:00:00Z
  run 2024-11-05T00:00:00Z
  expect a in_flight deletion_request 2024-11-05T00:00:00Z 2024-12-05T00:00:00Z

case config-durations: rule durations from the config: a 5-day grace, and a lookahead that comes first
  item a prompt EU 2024-11-01T00:00:00Z
  item s prompt US 2024-12-01T00:00:00Z ws=w2 shared
  event deletion_requested 2024-12-01T00:00:00Z ws=w1 ref=T-cfg
  run 2024-12-05T23:59:59Z cfg=short
  expect a due deletion_request 2024-12-06T00:00:00Z 2024-12-11T00:00:00Z
  expect s due shared_retention 2024-12-19T00:00:00Z 2024-12-21T00:00:00Z
  run 2024-12-06T00:00:00Z cfg=short
  expect a in_flight deletion_request 2024-12-06T00:00:00Z 2024-12-11T00:00:00Z
  run 2024-12-18T23:59:59Z cfg=short
  expect s due shared_retention 2024-12-19T00:00:00Z 2024-12-21T00:00:00Z
  run 2024-12-19T00:00:00Z cfg=short
  expect s in_flight shared_retention 2024-12-19T00:00:00Z 2024-12-21T00:00:00Z

case config-lookahead: a longer lookahead in the config makes a shared copy due earlier
  item s prompt EU 2024-01-01T00:00:00Z shared
  run 2024-03-25T23:59:59Z cfg=look5
  expect s due shared_retention 2024-03-26T00:00:00Z 2024-03-31T00:00:00Z
  run 2024-03-26T00:00:00Z cfg=look5
  expect s in_flight shared_retention 2024-03-26T00:00:00Z 2024-03-31T00:00:00Z

case batched-rule-kept: an in-flight item keeps the rule and deadline it was batched under
  item a prompt EU 2024-01-01T00:00:00Z
  event capacity_deleted 2024-02-01T00:00:00Z
  run 2024-02-01T00:00:00Z
  event deletion_requested 2024-02-02T00:00:00Z item=a ref=T-kept
  run 2024-02-02T00:00:00Z
  expect a in_flight capacity_deleted 2024-02-01T00:00:00Z 2024-07-30T00:00:00Z

case late-opt-out: an opt-out committed late turns shared copies made after its instant into violations
  item s prompt EU 2024-05-05T00:00:00Z shared
  item n retrieved US 2024-05-06T00:00:00Z ws=w2 parent=s
  run 2024-05-06T00:00:00Z
  expect s due shared_retention 2024-08-01T00:00:00Z 2024-08-03T00:00:00Z
  event sharing_opted_out 2024-05-01T00:00:00Z ws=w1
  run 2024-05-07T00:00:00Z
  expect s in_flight shared_while_opted_out 2024-05-05T00:00:00Z 2024-05-05T00:00:00Z
  expect n in_flight shared_while_opted_out 2024-05-05T00:00:00Z 2024-05-05T00:00:00Z

case copies-of-handed-over: a copy made after its source went into a batch, or was purged, follows it
  item u prompt EU 2024-06-01T00:00:00Z
  item v prompt EU 2024-06-01T00:00:00Z
  event deletion_requested 2024-06-10T00:00:00Z item=u ref=T-cp1
  event deletion_requested 2024-06-10T00:00:00Z item=v ref=T-cp2
  run 2024-06-10T00:00:00Z
  ack failed=v
  run 2024-06-11T00:00:00Z
  expect u purged deletion_request 2024-06-10T00:00:00Z 2024-07-10T00:00:00Z
  expect v in_flight deletion_request 2024-06-10T00:00:00Z 2024-07-10T00:00:00Z
  item cu retrieved US 2024-06-12T00:00:00Z ws=w2 parent=u
  item cv retrieved ANZ 2024-06-12T00:00:00Z ws=w3 parent=v
  run 2024-06-12T00:00:00Z
  expect cu in_flight deletion_request 2024-06-10T00:00:00Z 2024-07-10T00:00:00Z
  expect cv in_flight deletion_request 2024-06-10T00:00:00Z 2024-07-10T00:00:00Z

case rule-disabled: a rule disabled in the config makes no item due
  item a prompt EU 2024-06-01T00:00:00Z
  event deletion_requested 2024-06-10T00:00:00Z ws=w1 ref=T-off
  run 2024-06-10T00:00:00Z cfg=off
  expect a live - - -
  run 2024-06-10T00:00:00Z
  expect a in_flight deletion_request 2024-06-10T00:00:00Z 2024-07-10T00:00:00Z

case unexpanded-governs: a shared copy's own 90-day deadline governs a capacity deletion batched before it is due
  item s prompt EU 2024-01-01T00:00:00Z shared
  event capacity_deleted 2024-01-11T00:00:00Z
  run 2024-01-11T00:00:00Z
  expect s in_flight shared_retention 2024-01-11T00:00:00Z 2024-03-31T00:00:00Z

case future-governs: an event that has not occurred yet does not govern an item due now
  item a prompt EU 2024-01-01T00:00:00Z
  event capacity_deleted $CAP_AT
  event deletion_requested $SOON item=a ref=T-soon
  run 2024-06-01T00:00:00Z
  expect a due capacity_deleted $CAP_AT $CAP_DEADLINE
  run now
  expect a in_flight capacity_deleted $CAP_AT $CAP_DEADLINE
TABLE

finish
