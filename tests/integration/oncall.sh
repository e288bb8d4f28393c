# What an on-call operator's tryout of incidents found: a region's deleter down past a deadline,
# a deleter killed, a run that failed. Each section the operator's command and what it says;
# each failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-oncall.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS oncall" >/dev/null 2>&1' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS oncall' -c 'CREATE DATABASE oncall' 2>/dev/null
export PGDATABASE=oncall
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
write_config "$WORK/noexec.conf"

# ---- status --reference after an outage past the deadline ---------------------------------------
# The deleter was down past the request's deadline. status --check said so; the one command that
# answers "is this request done?" said only "the nearest deadline is T", as if it were ahead.
I1=$(uuid); I2=$(uuid); I3=$(uuid)
for i in "$I1" "$I2" "$I3"; do mk_item "$T" "$i" "$W" prompt EU 2026-01-01T00:00:00Z; done
mk_event "$T" deletion_requested "$(date -u -d '-40 days' +%FT%TZ)" OUTAGE-1 workspace_id "$W"
run_lethe --config "$WORK/noexec.conf" run     # no deleter: the batch waits, past the deadline
DL=$(sql "SELECT lethe.iso_utc(min(deadline_at)) FROM lethe.batch_items WHERE tenant_id = '$T'")
run_lethe --config "$WORK/noexec.conf" status --reference OUTAGE-1 --tenant "$T"
assert_eq "the request's items past their deadline, said before the verdict" \
  "  nearest deadline: $DL, passed
  past the deadline: 3, not purged" \
  "$(grep -E '^  (nearest deadline|past the deadline):' <<<"$OUT")"
assert_eq "... and in the verdict" \
  "not done: 3 of 3 covered items not purged yet; 3 are past the deadline (the earliest $DL)" \
  "$(tail -1 <<<"$OUT")"
run_lethe --config "$WORK/noexec.conf" status --reference OUTAGE-1 --tenant "$T" --json
assert_eq "... and in --json" "3 0" \
  "$(python3 -c 'import json,sys; p=json.load(sys.stdin)["pending"]; print(p["past_deadline"], p["past_deadline_held"])' <<<"$OUT")"
# Made by a producer 40 days ago and not derived by a run yet: the verdict says both.
W2=$(uuid); mk_workspace "$T" "$W2" EU
I6=$(uuid); mk_item "$T" "$I6" "$W2" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u -d '-40 days' +%FT%TZ)" LATE-REC item_id "$I6"
run_lethe --config "$WORK/noexec.conf" status --reference LATE-REC --tenant "$T"
assert_contains "not derived yet, and past its deadline: the verdict says both" \
  "not done: not derived yet; the next 'lethe run' derives it; 1 is past the deadline (the earliest " "$(tail -1 <<<"$OUT")"
# A request whose deadline is ahead says nothing of the kind.
I4=$(uuid); mk_item "$T" "$I4" "$W" prompt EU "$(date -u -d '-1 day' +%FT%TZ)"   # after OUTAGE-1
run_lethe --config "$WORK/noexec.conf" request --tenant "$T" --item "$I4" --reference AHEAD-1 --operator user_o
run_lethe --config "$WORK/noexec.conf" run
run_lethe --config "$WORK/noexec.conf" status --reference AHEAD-1 --tenant "$T"
assert_eq "a request within its deadline: no such line, the verdict as before" "0|not done: 1 of 1 covered items not purged yet; the nearest deadline is" \
  "$(grep -c '^  past the deadline' <<<"$OUT")|$(tail -1 <<<"$OUT" | grep -o '^not done: 1 of 1 covered items not purged yet; the nearest deadline is')"

# ---- a deleter killed by a signal under the shell --------------------------------------------------
# lethe starts the command through /bin/sh; a deleter the kernel killed for memory read "executor
# exit status 137", which nothing said is a kill.
cat >"$WORK/oom" <<'EOS'
#!/bin/sh
# a deleter whose child is killed (as the out-of-memory killer would), the shell reporting it
sh -c 'kill -KILL $$'
exit $?
EOS
chmod +x "$WORK/oom"
write_config "$WORK/oom.conf" "executor: { command = \"$WORK/oom\"; };"
B4=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$I1'")
run_lethe --config "$WORK/oom.conf" rerun "$B4" --operator user_o
assert_contains "the failure says what 137 means" \
  "failed: executor exit status 137 (128+9: how the shell reports a command killed by signal 9, Killed); its unreceipted items are due again at the next run" "$ERR"
assert_eq "... while the audit keeps its fixed words" "exit status 137" \
  "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'batch_failed' AND batch_id = '$B4'")"

# ---- status names why the last run failed -----------------------------------------------------------
# "last run: R failed, started T" and nothing of why: that needed SQL or the journal.
printf 'spool: { directory = "%s"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/spool2" "$WORK/anchors.jsonl" >"$WORK/broken.conf"
mkdir -p "$WORK/spool2"; : >"$WORK/spool2/EU"    # a file where the location's directory goes
I5=$(uuid); mk_item "$T" "$I5" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/noexec.conf" request --tenant "$T" --item "$I5" --reference BROKEN-1 --operator user_o
run_lethe --config "$WORK/broken.conf" run
assert_eq "a run whose manifest cannot be written fails" "1" "$RC"
assert_contains "... saying what took the directory's name (not a link)" \
  "hint: something else took the location directory's name in the spool: move it aside" "$ERR"
ERRTEXT=$(sql "SELECT error FROM lethe.runs ORDER BY started_at DESC LIMIT 1")
# It named the batch alone; why was in the log only.
assert_contains "the run's error says why the manifest could not be written" \
  "its manifest could not be written: spool: '$WORK/spool2/EU' is not a directory, not the directory lethe makes for the location's manifests" "$ERRTEXT"
run_lethe --config "$WORK/noexec.conf" status
assert_contains "status: the last run, failed, then why" "failed, started" "$(grep '^last run:' <<<"$OUT")"
assert_eq "... its reason on the next line" "  error: $ERRTEXT" "$(grep -A1 '^last run:' <<<"$OUT" | tail -1)"
run_lethe --config "$WORK/noexec.conf" status --json
assert_eq "... and in --json" "failed|$ERRTEXT" \
  "$(python3 -c 'import json,sys; l=json.load(sys.stdin)["last_run"]; print(l["outcome"] + "|" + l["error"])' <<<"$OUT")"
rm -f "$WORK/spool2/EU"
run_lethe --config "$WORK/broken.conf" run
run_lethe --config "$WORK/noexec.conf" status
assert_eq "a run that succeeded: no error line" "0" "$(grep -c '^  error:' <<<"$OUT")"

# ---- late purges stay in sight after the outage ----------------------------------------------------
# Once the deleter was back and the items purged late, status turned green: nothing overdue, the
# run and ack lines said "purged". Only the summary and explain said late.
for b in $(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' ORDER BY created_at"); do
    run_lethe --config "$WORK/noexec.conf" ack "$b" --operator user_o
done
# I5 was made before OUTAGE-1 too, in its workspace: it is covered, and past the deadline as well;
# and I6's request (LATE-REC) was 40 days old.
assert_eq "the five items past their deadline are purged, late" "5" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND NOT on_time")"
MAXL=$(sql "SELECT ceil(extract(epoch FROM max(purged_at - deadline_at)))::bigint FROM lethe.audit WHERE kind = 'item_purged' AND NOT on_time")
LATEST=$(sql "SELECT lethe.iso_utc(max(at)) FROM lethe.audit WHERE kind = 'item_purged' AND NOT on_time")
run_lethe --config "$WORK/noexec.conf" status --check
assert_eq "status --check: nothing overdue now, and status says what was purged late this week" \
  "0|purged late in the last 7 days: 5 items, at most $MAXL s past the deadline, the latest recorded at $LATEST ('lethe export --summary' counts them by rule)" \
  "$RC|$(grep '^purged late' <<<"$OUT")"
run_lethe --config "$WORK/noexec.conf" status --json
assert_eq "... and --json" "5 0 $MAXL $LATEST" \
  "$(python3 -c 'import json,sys; l=json.load(sys.stdin)["purged_late_7d"]; print(l["late"], l["held_past_deadline"], l["max_lateness_seconds"], l["latest_at"])' <<<"$OUT")"
assert_eq "the index that finds them is the partial one (sql/0095)" "1" \
  "$(psql -X -At -c "SET enable_seqscan = off; EXPLAIN SELECT count(*) FROM lethe.audit a WHERE a.kind = 'item_purged' AND a.on_time IS FALSE AND a.at > now() - interval '7 days'" | grep -c audit_purged_not_on_time)"

# ---- the week's late purges, counted by the hour (sql/0096) --------------------------------------
# Status reads the whole hours of the week from lethe.late_purges, which a trigger appends as the
# audit is, and the first, partial hour from the audit itself. At every cut, and whatever number
# of statements appended the records, it gives what the audit alone gives. Synthetic purge
# records in a scratch database (appended as its owner, who alone may), spread over nine days:
# late, held past the deadline (both details), on time, and copies made while opted out.
# On Citus there is no such trigger (the audit is distributed): status reads the audit there.
if [ -z "${CITUS_DIR:-}" ]; then
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS oncall_late' -c 'CREATE DATABASE oncall_late' 2>/dev/null
PGDATABASE=oncall_late "$LETHE" migrate >/dev/null
late_sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d oncall_late -c "$1"; }
for s in 1 2 3 4 5 6; do
    late_sql "INSERT INTO lethe.audit (seq, at, kind, tenant_id, item_id, rule, deadline_at, purged_at,
                                       on_time, detail, prev_hash, hash)
              SELECT $s * 1000 + g, now() - (random() * interval '9 days'), 'item_purged',
                     gen_random_uuid(), gen_random_uuid(),
                     (ARRAY['deletion_request', 'shared_retention', 'shared_while_opted_out'])[1 + g % 3],
                     now() - interval '10 days' + (random() * interval '1 day'), now() - (random() * interval '9 days'),
                     (g % 5 = 0), (ARRAY[NULL, 'held', 'held; hold 1 in effect at purge', 'late'])[1 + g % 4],
                     repeat('0', 64), md5(g::text) || md5(g::text)
                FROM generate_series(1, 150) g" >/dev/null
done
assert_eq "the trigger counted every late record the statements appended" \
  "$(late_sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND on_time IS FALSE
                  AND rule IS DISTINCT FROM 'shared_while_opted_out'")" \
  "$(late_sql "SELECT sum(purged) FROM lethe.late_purges")"
DIFF=$(late_sql "
    WITH cuts AS (SELECT now() - g * interval '37 minutes' AS since FROM generate_series(0, 360) g),
    direct AS (
        SELECT c.since, count(*) FILTER (WHERE NOT x.held) AS late, count(*) FILTER (WHERE x.held) AS held,
               max(x.purged_at - x.deadline_at) FILTER (WHERE NOT x.held) AS max_lateness,
               max(x.at) FILTER (WHERE NOT x.held) AS latest
          FROM cuts c
          LEFT JOIN LATERAL (SELECT a.at, a.purged_at, a.deadline_at,
                                    coalesce(a.detail = 'held' OR a.detail LIKE 'held;%', false) AS held
                               FROM lethe.audit a
                              WHERE a.kind = 'item_purged' AND a.on_time IS FALSE AND a.at > c.since
                                AND a.rule IS DISTINCT FROM 'shared_while_opted_out') x ON true
         GROUP BY c.since)
    SELECT count(*) FROM direct d CROSS JOIN LATERAL lethe.late_purges_since(d.since) l
     WHERE (d.late, d.held, d.max_lateness, d.latest)
           IS DISTINCT FROM (l.late, l.held, l.max_lateness, l.latest)")
assert_eq "at 361 cuts over nine days, the hourly counts and the audit agree" 0 "$DIFF"
assert_eq "the cuts saw late and held records both" "t" \
  "$(late_sql "SELECT late > 100 AND held > 100 FROM lethe.late_purges_since(now() - interval '7 days')")"
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS oncall_late' >/dev/null 2>&1
fi
