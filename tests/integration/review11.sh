# What two outside tryouts found (a support engineer with requests and holds, and an engineer
# deploying lethe unattended), each section the user's command and its outcome; each failed
# before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review11.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; for d in review11_h review11_r; do
      psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done' EXIT
now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
ago() { date -u -d "-$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- a hold placed on an item already late -----------------------------------------------------
# Since schema version 83 its purge is recorded late (sql/0083). Before it, status listed it as
# held past its deadline and not as overdue, status --check passed, the overdue gauge left it
# out, and explain said "reported as held, not late": a hold placed on a late item silenced
# every alarm about it. An item whose hold came before its deadline stays held past it.
psql -X -q -c 'DROP DATABASE IF EXISTS review11_h' -c 'CREATE DATABASE review11_h' 2>/dev/null
export PGDATABASE=review11_h
"$LETHE" migrate >/dev/null
write_config "$WORK/short.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
  'rules: { deletion_request: { deadline = "6s"; }; };'
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
LATE=$(uuid); KEPT=$(uuid)
mk_item "$T" "$LATE" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$KEPT" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(ago '1 minute')" REQ-LATE item_id "$LATE"
run_lethe hold place --tenant "$T" --item "$LATE" --reason "inquiry" --reference CASE-L
H_LATE=$(sql "SELECT hold_id FROM lethe.holds WHERE reference = 'CASE-L'")
mk_event "$T" deletion_requested "$(now)" REQ-KEPT item_id "$KEPT"
run_lethe hold place --tenant "$T" --item "$KEPT" --reason "litigation" --reference CASE-K
H_KEPT=$(sql "SELECT hold_id FROM lethe.holds WHERE reference = 'CASE-K'")
# A shared copy made while opted out (a violation), held: listed as a violation, and counted
# neither as overdue nor as held past a deadline (its count once disagreed with the lists).
WV=$(uuid); mk_workspace "$T" "$WV" EU
mk_event "$T" sharing_opted_out "$(ago '2 hours')" "" workspace_id "$WV"
VIOL=$(uuid); mk_item "$T" "$VIOL" "$WV" prompt EU "$(ago '1 hour')" true
run_lethe hold place --tenant "$T" --item "$VIOL" --reason "inquiry"
run_lethe --config "$WORK/short.conf" run
assert_contains "both items and the violation are held" "0 purged, 0 failed items, 0 failed batches, 3 held" "$OUT"
sleep 7   # the kept item's deadline passes under its hold
run_lethe --config "$WORK/short.conf" status --check
assert_rc "status --check raises the item a hold blocked after its deadline" 4
assert_contains "... listed as overdue, with its hold" "overdue (deadline passed, not purged, not kept past it by a hold): 1
  $(sql "SELECT lethe.iso_utc(occurred_at + interval '6 seconds') FROM lethe.events WHERE reference = 'REQ-LATE'")  deletion_request       held      item $LATE tenant $T (acme) hold $H_LATE" "$OUT"
assert_contains "... and the item held before its deadline is held past it" "held past deadline: 1
  $(sql "SELECT lethe.iso_utc(occurred_at + interval '6 seconds') FROM lethe.events WHERE reference = 'REQ-KEPT'")  deletion_request       held      item $KEPT tenant $T (acme) hold $H_KEPT" "$OUT"
assert_contains "... said in the check" "check: 1 item is past the deadline and not purged" "$OUT"
run_lethe --config "$WORK/short.conf" status --json
assert_eq "status --json: one overdue, one held past deadline, each count its list's" "1 1 1 1" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["overdue"]["count"], len(d["overdue"]["items"]), d["held_past_deadline"]["count"], len(d["held_past_deadline"]["items"]))' <<<"$OUT")"
run_lethe --config "$WORK/short.conf" run --metrics-file "$WORK/h.prom"
assert_eq "the gauges agree" 'lethe_overdue_items{shard="all"} 1
lethe_held_past_deadline_items{shard="all"} 1' "$(grep -E '^lethe_(overdue|held_past_deadline)_items' "$WORK/h.prom")"
run_lethe explain "$LATE"
assert_contains "explain says the late item is overdue, and late when purged" \
  "but hold $H_LATE keeps it (deadline $(sql "SELECT lethe.iso_utc(occurred_at + interval '6 seconds') FROM lethe.events WHERE reference = 'REQ-LATE'"), passed while no hold kept it: overdue, and counted as late when purged)" "$OUT"
run_lethe explain "$KEPT"
assert_contains "... and the kept one held, not late" "passed: reported as held, not late)" "$OUT"
"$LETHE" export --summary -o "$WORK/summary.jsonl" 2>/dev/null
assert_eq "export --summary, the requests' rule: 2 pending, 1 overdue (the held one apart)" "2 1" \
  "$(summary_rule "$WORK/summary.jsonl" deletion_request pending overdue)"
# The summary's overall overdue counted the violation too: 2 where status, its --json and the
# gauge said 1, and its violations (purged ones) said 0 while one waited.
run_lethe --config "$WORK/short.conf" status --json
assert_eq "export --summary, overall: overdue and violations not purged yet as status --json counts them" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["overdue"]["count"], d["violations"]["pending"])' <<<"$OUT")" \
  "$(summary_rule "$WORK/summary.jsonl" all overdue violations_pending)"
"$LETHE" export --summary --format html -o "$WORK/summary.html" 2>/dev/null
assert_eq "the report's chart: the late item in the overdue bar, the violation in a bar of its own, 1 in the held-past-deadline bar" "1 1 1" \
  "$(sed -n 's/.*data-week="overdue" data-total="\([0-9]*\)".*/\1/p' "$WORK/summary.html") $(sed -n 's/.*data-week="violation" data-total="\([0-9]*\)".*/\1/p' "$WORK/summary.html") $(sed -n 's/.*data-week="held" data-total="\([0-9]*\)".*/\1/p' "$WORK/summary.html")"
# What status said is what the purges record, once the holds are released.
run_lethe hold release "$H_LATE"
run_lethe hold release "$H_KEPT"
run_lethe --config "$WORK/short.conf" run
"$LETHE" export --summary -o "$WORK/after.jsonl" 2>/dev/null
assert_eq "after release: the overdue one is recorded late, the held one held past deadline" "2 1 1 0" \
  "$(summary_rule "$WORK/after.jsonl" deletion_request purged late held_past_deadline overdue)"

# ---- the default config file there, but out of reach --------------------------------------------
# /etc/lethe not searchable by the service user, or lethe.conf a symlink to nothing: lethe took
# the file for absent, ran on its defaults (rules, executor, no audit key) and exited 0. In a
# mount namespace with /etc overlaid, so that the host's /etc is not touched.
if unshare -m --propagation private true 2>/dev/null; then
    chmod 0755 "$WORK"
    cat >"$WORK/etc_ns.sh" <<'EOF'
set -e
ov=$1; shift
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ov/up,workdir=$ov/wk" /etc
case $1 in
    dangling_dir) ln -s /srv/managed/lethe /etc/lethe; shift; set +e; "$@"; exit ;;
esac
mkdir -p /etc/lethe
case $1 in
    dangling) ln -s /etc/lethe/managed/lethe.conf /etc/lethe/lethe.conf; shift; set +e; "$@" ;;
    unsearchable) echo 'lookahead = "2d";' >/etc/lethe/lethe.conf; chmod 0700 /etc/lethe; shift; set +e
                  setpriv --reuid=65534 --regid=65534 --clear-groups "$@" ;;
    readable) printf '%s\n' "$CONF_TEXT" >/etc/lethe/lethe.conf; chmod 0644 /etc/lethe/lethe.conf; shift; set +e
              setpriv --reuid=65534 --regid=65534 --clear-groups env -u PGUSER -u PGHOST -u PGPORT -u PGDATABASE HOME=/ "$@" ;;
esac
EOF
    # in_etc CASE COMMAND...: COMMAND with /etc overlaid afresh and /etc/lethe made as CASE says
    in_etc() {
        rm -rf "$WORK/ov"; mkdir -p "$WORK/ov/up" "$WORK/ov/wk"
        OUT=$(unshare -m --propagation private sh "$WORK/etc_ns.sh" "$WORK/ov" "$@" 2>&1); RC=$?
    }
    in_etc dangling "$LETHE" run --dry-run
    assert_eq "the default config a symlink to nothing: exit 2, not a run on the defaults" "2|error: config: '/etc/lethe/lethe.conf': cannot open: No such file or directory
hint: the default config file is there but cannot be read (a symlink to nothing?): make it a readable file, or remove it to use the defaults" "$RC|$OUT"
    in_etc dangling_dir "$LETHE" run --dry-run
    assert_eq "... /etc/lethe itself a link to nothing: exit 2" "2|error: config: '/etc/lethe/lethe.conf': cannot open: No such file or directory" \
      "$RC|$(head -1 <<<"$OUT")"
    in_etc unsearchable "$LETHE" status
    assert_eq "... in a directory the user may not search: exit 2, with the fix" "2|error: config: '/etc/lethe/lethe.conf': cannot open: Permission denied
hint: give the user lethe runs as read access to it and search access to its directory (e.g. chgrp lethe FILE; chmod 0640 FILE); lethe does not run on its defaults while the file is there. A person's own account outside group lethe (an auditor's, an operator's): the file made readable to all once it holds no password, or a copy of one's own passed with --config (README, \"People's own accounts\")" "$RC|$OUT"
    # README, "People's own accounts": a config readable by all that names no user and no
    # password: a person's own login reads it and connects as the role named like the login.
    psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
    psql -X -q -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nobody') THEN
                     CREATE ROLE nobody LOGIN; END IF; END \$\$" -c "GRANT lethe_auditor TO nobody" >/dev/null
    CONF_TEXT="database: { conninfo = \"host=$PGHOST port=$PGPORT dbname=$PGDATABASE\"; };" \
      in_etc readable "$LETHE" export --summary
    assert_eq "a person's own login (nobody, granted lethe_auditor) reads a config readable by all and exports as itself" \
      "0|summary_header" "$RC|$(head -1 <<<"$OUT" | grep -o '"kind":"summary_header"' | cut -d'"' -f4)"
    psql -X -q -c "REVOKE lethe_auditor FROM nobody" >/dev/null
    CONF_TEXT="database: { conninfo = \"host=$PGHOST port=$PGPORT dbname=$PGDATABASE\"; };" \
      in_etc readable "$LETHE" export --summary
    assert_eq "... as role nobody indeed: without lethe_auditor it may read nothing (exit 1)" "1" "$RC"
    # ... and the service's anchor file, the lethe user's and 0640, named in that config: outside
    # group lethe, status says it could not compare (exit 0), and verify --anchors refuses it.
    assert_eq "the anchor file the runs wrote is 0640" "640" "$(stat -c %a "$WORK/anchors.jsonl")"
    psql -X -q -c "GRANT lethe_operator TO nobody" >/dev/null
    CONF_TEXT="database: { conninfo = \"host=$PGHOST port=$PGPORT dbname=$PGDATABASE\"; };
audit: { anchor_file = \"$WORK/anchors.jsonl\"; };" in_etc readable "$LETHE" status
    assert_eq "status outside group lethe: the anchor file named unreadable, a warning, exit 0" \
      "0|warning: anchor: cannot read '$WORK/anchors.jsonl': Permission denied" "$RC|$(grep -m1 '^warning: anchor' <<<"$OUT")"
    "$LETHE" export -o "$WORK/all.jsonl" 2>/dev/null
    chmod 0644 "$WORK/all.jsonl"
    CONF_TEXT="" in_etc readable "$LETHE" verify --anchors "$WORK/anchors.jsonl" "$WORK/all.jsonl"
    assert_eq "verify --anchors outside group lethe: the file refused, exit 2" \
      "2|error: verify: cannot read '$WORK/anchors.jsonl': Permission denied" "$RC|$(head -1 <<<"$OUT")"
    psql -X -q -c "REVOKE lethe_operator FROM nobody" >/dev/null
    psql -X -q -c "DROP ROLE nobody" >/dev/null 2>&1
else
    ok "skipped: the default config's checks need a mount namespace (unshare -m, as root)"
fi

# ---- the metrics file, as a node exporter and an alert read it ----------------------------------
psql -X -q -c 'DROP DATABASE IF EXISTS review11_r' -c 'CREATE DATABASE review11_r' 2>/dev/null
export PGDATABASE=review11_r
rm -f "$WORK/anchors.jsonl"   # the other database's
"$LETHE" migrate >/dev/null
# Two tenants, one of each shard of two; two items each, due.
shard_tenant() { # K: a tenant id of shard K/2
    local t; while :; do t=$(uuid); [ "$(sql "SELECT lethe.in_shard('$t', $1, 2)")" = t ] && break; done; echo "$t"
}
TA=$(shard_tenant 0); TB=$(shard_tenant 1)
for t in "$TA" "$TB"; do
    w=$(uuid); mk_tenant "$t" "t$t"; mk_workspace "$t" "$w" EU
    for _ in 1 2; do mk_item "$t" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:00Z; done
    mk_event "$t" deletion_requested "$(ago '1 hour')" "REQ-$t"
done
write_config "$WORK/noexec.conf"
run_lethe --config "$WORK/noexec.conf" run --shard 1/2
BB=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
# Shard 0's deleter: while it runs, an operator acknowledges shard 1's batch.
cat >"$WORK/acking" <<EOS
#!/bin/sh
"$LETHE" --config "$WORK/noexec.conf" -q ack "$BB" >/dev/null
exec $FS_DELETE --root $STORE "\$1"
EOS
chmod +x "$WORK/acking"
write_config "$WORK/acking.conf" "executor: { command = \"$WORK/acking\"; };"
(umask 0027; run_lethe --config "$WORK/acking.conf" run --shard 0/2 --metrics-file "$WORK/m.prom")
assert_eq "a shard's purges by rule are its own, not another shard's batch closed meanwhile" \
  'lethe_run_items_purged_by_rule{shard="0/2",rule="deletion_request",location="EU"} 2
lethe_run_items_purged{shard="0/2"} 2' \
  "$(grep -E '^lethe_run_items_purged' "$WORK/m.prom")"
assert_eq "a new metrics file is readable by a node exporter, whatever the umask" "644" "$(stat -c %a "$WORK/m.prom")"
# Given to the node exporter's group, 0640, it stays that group's (the replacing file had
# lethe's group, and the exporter lost it).
chmod 0640 "$WORK/m.prom"; chgrp nogroup "$WORK/m.prom"
run_lethe --config "$WORK/acking.conf" run --shard 0/2 --metrics-file "$WORK/m.prom"
assert_eq "... and one replaced keeps its permissions and its group" "640 nogroup" "$(stat -c '%a %G' "$WORK/m.prom")"
# A run that fails before it writes its metrics (the database out of reach) still says so there.
BEFORE=$(grep -v '^lethe_run_success' "$WORK/m.prom")
run_lethe --config "$WORK/acking.conf" --db "host=$WORK/nowhere dbname=none" run --shard 0/2 --metrics-file "$WORK/m.prom"
assert_eq "the database out of reach: exit 1, lethe_run_success 0, the other series as they were" \
  "1|lethe_run_success{shard=\"0/2\"} 0|$BEFORE" \
  "$RC|$(grep '^lethe_run_success' "$WORK/m.prom")|$(grep -v '^lethe_run_success' "$WORK/m.prom")"
assert_eq "... the file still the exporter's group's" "640 nogroup" "$(stat -c '%a %G' "$WORK/m.prom")"
run_lethe --config "$WORK/acking.conf" run --shard 0/2 --metrics-file "$WORK/m.prom"
assert_eq "... and the next good run sets it back" 'lethe_run_success{shard="0/2"} 1' "$(grep '^lethe_run_success' "$WORK/m.prom")"
# A file shared by both shards' runs, the other shard failing: one TYPE line for the family, as
# a textfile collector requires, and both shards' lines.
run_lethe --config "$WORK/acking.conf" --db "host=$WORK/nowhere dbname=none" run --shard 1/2 --metrics-file "$WORK/m.prom"
assert_eq "a file two shards share: one TYPE line, each shard's success line" \
  "1|lethe_run_success{shard=\"0/2\"} 1
lethe_run_success{shard=\"1/2\"} 0" \
  "$(grep -c '^# TYPE lethe_run_success ' "$WORK/m.prom")|$(grep '^lethe_run_success' "$WORK/m.prom" | sort)"
# A link planted at the metrics file's name: its target is neither read into the file nor changed.
echo "lethe_secret_key 42" > "$WORK/secret"; ln -s "$WORK/secret" "$WORK/l.prom"
run_lethe --config "$WORK/acking.conf" --db "host=$WORK/nowhere dbname=none" run --metrics-file "$WORK/l.prom"
assert_eq "a link at the metrics file's name: replaced by a file saying only the failure, its target untouched" \
  "1|regular file|lethe_run_success{shard=\"all\"} 0|lethe_secret_key 42" \
  "$RC|$(stat -c %F "$WORK/l.prom")|$(grep -v '^#' "$WORK/l.prom")|$(cat "$WORK/secret")"
run_lethe --config "$WORK/acking.conf" run --as-of 2099-01-01T00:00:00Z --metrics-file "$WORK/n.prom"
assert_eq "a run refused (exit 2) with no metrics file yet writes one that says so" \
  '2|lethe_run_success{shard="all"} 0' "$RC|$(grep '^lethe_run_success' "$WORK/n.prom")"

# ---- status --reference: a late copy of a purged item, and a cancellation not consumed yet -------
# A request purged its item; a cancellation dated before the purge then withdrew it. A copy of
# the purged item committed since is due under the request all the same (SPEC §3: copies of a
# purged source stay due whatever is withdrawn later), and the next run purges it; status
# --reference said "not due (the request was withdrawn)", which a support engineer would pass
# on to the customer.
psql -X -q -c 'DROP DATABASE IF EXISTS review11_h' -c 'CREATE DATABASE review11_h' 2>/dev/null
export PGDATABASE=review11_h
rm -f "$WORK/anchors.jsonl"
"$LETHE" migrate >/dev/null
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
SRC=$(uuid); mk_item "$T" "$SRC" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(ago '2 hours')" REF-J item_id "$SRC"
run_lethe --config "$WORK/exec.conf" run
assert_contains "the request's item is purged" "1 purged" "$OUT"
mk_event "$T" deletion_cancelled "$(ago '1 hour')" REF-J
run_lethe --config "$WORK/exec.conf" run
COPY=$(uuid); mk_item "$T" "$COPY" "$W" response EU "$(now)" false "$SRC"
run_lethe status --reference REF-J --tenant "$T"
assert_contains "a copy of the purged item, made after the withdrawal, is due under the request" \
  "  due:        1" "$OUT"
assert_not_contains "... not said to be not due" "not due:" "$OUT"
assert_contains "... and the verdict says it is still to be purged under it" \
  "withdrawn: a cancellation withdrew it, but 1 covered item is still to be purged under it (in an open batch, or copies of items it purged); 1 covered item is purged" "$OUT"
run_lethe explain "$COPY"
assert_contains "explain agrees" "state      due" "$OUT"
run_lethe --config "$WORK/exec.conf" run
assert_eq "the next run purges it under the request" "REF-J" \
  "$(sql "SELECT reference FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$COPY'")"
run_lethe status --reference REF-J --tenant "$T"
assert_contains "... and status --reference counts it purged" "  purged:     2" "$OUT"
assert_contains "... and the verdict that both stay purged" "withdrawn: a cancellation withdrew it; 2 covered items purged stay purged" "$OUT"

# A cancellation the producer wrote and no run has consumed yet: status --reference said
# nothing of it (explain and status name events waiting).
I2=$(uuid); mk_item "$T" "$I2" "$W" prompt EU 2026-01-01T00:00:00Z
"$LETHE" request --tenant "$T" --item "$I2" --reference REF-K >/dev/null
run_lethe hold place --tenant "$T" --item "$I2" --reason "inquiry"
run_lethe --config "$WORK/exec.conf" run
mk_event "$T" deletion_cancelled "$(now)" REF-K
run_lethe status --reference REF-K --tenant "$T"
assert_contains "status --reference notes the cancellation waiting for a run" \
  "note: a cancellation with this reference is not consumed by a run yet: the next run takes it into account" "$OUT"
run_lethe status --reference REF-K --tenant "$T" --json
assert_eq "... and --json counts it" "1" \
  "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["unconsumed_cancellations"])' <<<"$OUT")"
run_lethe --config "$WORK/exec.conf" run
run_lethe status --reference REF-K --tenant "$T"
assert_not_contains "... and says nothing once a run consumed it" "not consumed by a run yet" "$OUT"

# A cancellation dated ahead withdraws the request from its instant only (SPEC §3). Until then
# status --reference gave the verdict of a withdrawn request, "a cancellation withdrew it, but 1
# covered item is still to be purged under it (in an open batch, or copies ...)", of a held item
# that is neither (an outside tryout; explain said "not in effect yet").
I3=$(uuid); mk_item "$T" "$I3" "$W" prompt EU 2026-01-01T00:00:00Z
"$LETHE" request --tenant "$T" --item "$I3" --reference REF-A >/dev/null
run_lethe hold place --tenant "$T" --item "$I3" --reason "inquiry"
run_lethe --config "$WORK/exec.conf" run
AHEAD=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%S.000000Z)
mk_event "$T" deletion_cancelled "$AHEAD" REF-A
run_lethe --config "$WORK/exec.conf" run
run_lethe status --reference REF-A --tenant "$T"
assert_contains "a cancellation dated ahead is shown as not in effect yet" \
  "  withdrawn: $AHEAD by event $(sql "SELECT max(event_id) FROM lethe.events WHERE reference = 'REF-A'") (not in effect yet)" "$OUT"
assert_contains "... and the verdict is the standing request's" \
  "not done: 1 of 1 covered items not purged yet; the nearest deadline is" "$OUT"
assert_not_contains "... not a withdrawn one's" "a cancellation withdrew it" "$OUT"
run_lethe status --reference REF-A --tenant "$T" --json
assert_eq "... --json says the withdrawal is ahead" "True" \
  "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"][0]["withdrawn_ahead"])' <<<"$OUT")"

# Two requests with one reference, a cancellation between them: it withdraws the first only
# (SPEC §3). Once the second's item was purged, the verdict counted the first's item, released,
# as left to purge: "not done: 1 of 2 covered items not purged yet, and this request makes none
# of them due", for good (an outside tryout).
IA=$(uuid); mk_item "$T" "$IA" "$W" prompt EU 2026-01-01T00:00:00Z
IB=$(uuid); mk_item "$T" "$IB" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(ago '2 hours')" REF-Y item_id "$IA"
mk_event "$T" deletion_cancelled "$(ago '90 minutes')" REF-Y
mk_event "$T" deletion_requested "$(ago '1 hour')" REF-Y item_id "$IB"
run_lethe --config "$WORK/exec.conf" run
assert_eq "the second request's item is purged, the first's is not" "live purged" \
  "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$IA'") $(sql "SELECT state FROM lethe.item_status WHERE item_id = '$IB'")"
run_lethe status --reference REF-Y --tenant "$T"
assert_contains "status --reference: done, the first request's item released" \
  "done: all 1 covered item still owed is purged; 1 released when a cancellation withdrew a request" "$OUT"
run_lethe status --reference REF-Y --tenant "$T" --json
assert_eq "... and --json says done" "True" \
  "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])' <<<"$OUT")"
# ... and the same with the rule disabled: the released item was counted as owed again (the
# items of a standing request whose rule is disabled are not due either, and still owed), and
# the verdict said "not done: 1 of 2 covered items not purged yet" (an outside tryout).
write_config "$WORK/disabled.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
    "rules: { deletion_request: { enabled = false; }; };"
run_lethe --config "$WORK/disabled.conf" run
run_lethe status --reference REF-Y --tenant "$T" --json
assert_eq "with the rule disabled, the released item is still not owed" "True 1 1" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["done"], d["released"], d["not_due"])' <<<"$OUT")"
# A standing request of a disabled rule, past the deadline the rule would set: the verdict said
# only "this request makes none of them due" (status itself names such deadlines).
IE=$(uuid); mk_item "$T" "$IE" "$W" prompt EU 2026-01-01T00:00:00Z
OLD=$(date -u -d '-40 days' +%Y-%m-%dT%H:%M:%S.000000Z)
mk_event "$T" deletion_requested "$OLD" REF-E item_id "$IE"
run_lethe --config "$WORK/disabled.conf" run
run_lethe status --reference REF-E --tenant "$T"
assert_contains "... its verdict names the deadline the disabled rule would have set, passed" \
  "not done: 1 of 1 covered items not purged yet, and this request makes none of them due: its rule is disabled; 1 is past the deadline it would set (the earliest $(sql "SELECT lethe.iso_utc('$OLD'::timestamptz + interval '30 days')"))" "$OUT"
run_lethe --config "$WORK/exec.conf" run

# ---- what a withdrawal's record counts -----------------------------------------------------------
# obligation_withdrawn's count is the items the withdrawal released. An item already in an open
# batch is not withdrawn (SPEC §3: its batch purges it under the request), and was counted.
WH=$(uuid); mk_workspace "$T" "$WH" EU
for _ in 1 2; do mk_item "$T" "$(uuid)" "$WH" prompt EU 2026-01-01T00:00:00Z; done
"$LETHE" request --tenant "$T" --workspace "$WH" --reference REF-W >/dev/null
run_lethe hold place --tenant "$T" --workspace "$WH" --reason "inquiry"
IF=$(uuid); mk_item "$T" "$IF" "$W" prompt EU 2026-01-01T00:00:00Z
"$LETHE" request --tenant "$T" --item "$IF" --reference REF-F >/dev/null
run_lethe --config "$WORK/noexec.conf" run
assert_contains "the workspace's two items are held, the item's batch open" "1 batches, 0 purged" "$OUT"
mk_event "$T" deletion_cancelled "$(now)" REF-W
mk_event "$T" deletion_cancelled "$(now)" REF-F
run_lethe --config "$WORK/noexec.conf" run
assert_eq "withdrawn: the held items counted released, the one in an open batch not" "REF-F 0|REF-W 2" \
  "$(sql "SELECT string_agg(reference || ' ' || count, '|' ORDER BY reference) FROM lethe.audit
          WHERE kind = 'obligation_withdrawn' AND reference IN ('REF-W', 'REF-F')")"
run_lethe ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$IF'")"
assert_eq "... and that one is purged under its request, after the withdrawal's record" "REF-F" \
  "$(sql "SELECT reference FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$IF'")"

# ---- a file lethe writes on a read-only file system -----------------------------------------------
# Under systemd's ProtectSystem=strict every path not in ReadWritePaths= is read-only (EROFS):
# the hint named the user's permissions, which are not the cause.
if unshare -m --propagation private true 2>/dev/null; then
    mkdir -p "$WORK/ro"
    OUT=$(unshare -m --propagation private sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && "$@"' \
          sh "$WORK/ro" "$LETHE" export -o "$WORK/ro/audit.jsonl" 2>&1); RC=$?
    assert_eq "export -o into a read-only file system: exit 2, the hint names ReadWritePaths=" "2|error: export: cannot create a file next to '$WORK/ro/audit.jsonl': Read-only file system
hint: the directory of '$WORK/ro/audit.jsonl' is on a read-only file system (under systemd's ProtectSystem=strict, add it to ReadWritePaths= with a drop-in)" "$RC|$OUT"
fi

finish
