# Exactly once, proven: lethe run is killed with SIGKILL at each named point of the cycle and
# at random moments, the database restarts mid-run, the spool fills up, SIGTERM arrives.
# After each, the next run finishes; then every due item is purged with exactly one
# item_purged record, no item was handed to a deleter after its purge was acknowledged, no
# manifest is half-written, and every audit chain is whole.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-crash.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'pkill -KILL -f "lethe-crash-sleep-$$" 2>/dev/null; rm -rf "$WORK"' EXIT
N_ITEMS=${CRASH_ITEMS:-120}

# The executor records what it was handed (batch, item, wall time), then deletes for real.
# Its sleep carries a marker, so that one left behind by a killed run can be found. With
# EXEC_BG=1 it also leaves a long-lived child in its group (its pipes on /dev/null): the group
# must be killed with the batch, or by the guard when lethe dies.
SLEEP_MARK="lethe-crash-sleep-$$"
BG_MARK="$SLEEP_MARK-bg"
cat > "$WORK/recording-delete" <<EOS
#!/bin/bash
now=\$(date +%s.%N)
tail -n +2 "\$1" | sed -e 's/^{"item_id":"\\([^"]*\\)".*/\\1/' -e "s/^/\$LETHE_BATCH_ID \$now /" >> "$WORK/handed"
[ "\${EXEC_BG:-0}" = 1 ] && { (exec -a $BG_MARK sleep 30) </dev/null >/dev/null 2>&1 & }
(exec -a $SLEEP_MARK sleep \${EXEC_SLEEP:-0})
exec "$FS_DELETE" --root "$STORE" "\$1"
EOS
chmod +x "$WORK/recording-delete"
write_config "$WORK/lethe.conf" "executor: { command = \"$WORK/recording-delete\"; timeout = \"60s\"; };" \
    "batch: { max_items = 25; };"

round=0
setup_db() {  # a fresh database with N_ITEMS due items across two geos
    round=$((round + 1)); DB=crash_$round
    psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
    export PGDATABASE=$DB
    "$LETHE" migrate >/dev/null
    : > "$WORK/handed"; rm -rf "$WORK/spool" "$WORK/anchors.jsonl"  # a new database: no anchors yet
    T=$(uuid); W=$(uuid); mk_tenant "$T" "t$round"; mk_workspace "$T" "$W" EU
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
         SELECT '$T', gen_random_uuid(), '$W', 'prompt', CASE WHEN g % 3 = 0 THEN 'US' ELSE 'EU' END,
                'file://$STORE/$round-' || g, now() - interval '10 days'
           FROM generate_series(1, $N_ITEMS) g" >/dev/null
    for g in $(seq $N_ITEMS); do : > "$STORE/$round-$g"; done
    mk_event "$T" capacity_deleted "$(date -u -d '-1 day' +%FT%TZ)"
}

# check NAME: the invariants after a crash and a clean rerun
check() {
    local name=$1
    assert_eq "$name: every due item purged" "$N_ITEMS" "$(sql "SELECT count(*) FROM lethe.item_status WHERE state = 'purged'")"
    assert_eq "$name: one item_purged record per item" "$N_ITEMS $N_ITEMS" \
      "$(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged'")"
    assert_eq "$name: the runs' records count every purge once, a killed run's too" "$N_ITEMS" \
      "$(sql "SELECT sum(purged) FROM lethe.runs")"
    assert_eq "$name: every run has one run_finished record with its outcome and purges, a dead run's too" "0" \
      "$(sql "WITH f AS MATERIALIZED (
                 SELECT a.run_id, a.count, split_part(a.detail, ',', 1) AS outcome FROM lethe.audit a
                  WHERE a.tenant_id = '00000000-0000-0000-0000-000000000000' AND a.kind = 'run_finished')
              SELECT count(*) FROM lethe.runs r
               WHERE (SELECT count(*) FROM f
                       WHERE f.run_id = r.run_id AND f.count = r.purged AND f.outcome = r.outcome) <> 1")"
    assert_eq "$name: one batch_emitted record per batch" "t" \
      "$(sql "SELECT (SELECT count(*) FROM lethe.audit WHERE kind = 'batch_emitted') = (SELECT count(*) FROM lethe.batches)")"
    assert_eq "$name: no file left in the store" "0" "$(ls "$STORE" | grep -c "^$round-")"
    # handed after purge: a line whose wall time is later than the item's purge time
    local late
    late=$(psql -X -q -A -t -v ON_ERROR_STOP=1 \
      -c "CREATE TEMP TABLE h (batch_id uuid, t double precision, item_id uuid)" \
      -c "\\copy h FROM '$WORK/handed' WITH (FORMAT text, DELIMITER ' ')" \
      -c "SELECT count(*) FROM h JOIN lethe.batch_items b ON b.item_id = h.item_id AND b.outcome = 'purged'
           WHERE h.t > extract(epoch FROM b.purged_at) + 0.001")
    assert_eq "$name: no item handed to a deleter after its purge" "0" "$late"
    assert_eq "$name: no half-written manifest" "" "$(find "$WORK/spool" -name '.*.tmp' 2>/dev/null)"
    local bad=0
    for m in $(find "$WORK/spool" -name '*.jsonl' 2>/dev/null); do
        n=$(head -1 "$m" | sed 's/.*"items":\([0-9]*\)}/\1/')
        [ "$n" = "$(($(wc -l < "$m") - 1))" ] || bad=$((bad + 1))
    done
    assert_eq "$name: every manifest is whole" "0" "$bad"
    assert_eq "$name: every audit chain is dense and linked" "0" \
      "$(sql "SELECT count(*) FROM (SELECT seq, prev_hash, lag(hash) OVER w AS ph, lag(seq) OVER w AS ps
                FROM lethe.audit WINDOW w AS (PARTITION BY tenant_id ORDER BY seq)) a
              WHERE (ps IS NULL AND (seq <> 1 OR prev_hash <> repeat('0', 64))) OR (ps IS NOT NULL AND (seq <> ps + 1 OR prev_hash <> ph))")"
    "$LETHE" export -o "$WORK/export.jsonl" >/dev/null 2>&1 && \
      assert_eq "$name: the export verifies" "0" "$("$LETHE" verify "$WORK/export.jsonl" >/dev/null 2>&1; echo $?)"
    assert_eq "$name: no run left running" "0" "$(sql "SELECT count(*) FROM lethe.runs WHERE outcome = 'running'")"
}

# ---- a kill at each named point ----------------------------------------------------------
for point in after_derive after_emit manifest_before_rename after_manifest after_executor \
             ack_before_commit after_executor@3 ack_before_commit@4; do
    setup_db
    LETHE_FAULT=$point "$LETHE" --config "$WORK/lethe.conf" -q run >/dev/null 2>&1
    rc=$?
    assert_eq "kill at $point: the run died by SIGKILL" "137" "$rc"
    gone_backends
    if [ "$point" = after_emit ]; then
        dead=$(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'running'")
        run_lethe --config "$WORK/lethe.conf" status
        assert_contains "kill at $point: status says the run recorded as running is gone" \
          "last run: $dead running, started $(sql "SELECT lethe.iso_utc(started_at) FROM lethe.runs WHERE run_id = '$dead'"), but no run holds the run lock: its process is gone (killed, or its session lost); the next run records it as died" "$OUT"
        run_lethe --config "$WORK/lethe.conf" status --json
        assert_eq "kill at $point: ... and status --json too" "running True" \
          "$(echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin)["last_run"]; print(d["outcome"], d["process_gone"])')"
        # Its batches are open with no manifest in the spool: batches says where it would be
        # and what writes it (an outside tryout found nothing that said so).
        ob=$(sql "SELECT batch_id || ' ' || location FROM lethe.batches WHERE state = 'open' ORDER BY batch_id LIMIT 1")
        run_lethe --config "$WORK/lethe.conf" batches --state open
        assert_contains "kill at $point: batches says an open batch has no manifest, and what writes it" \
          "  manifest: none in the spool ($WORK/spool/${ob#* }/${ob% *}.jsonl): not written yet (a replay or reconcile made the batch, its run stopped first, or could not write it: see its log), or the spool is another machine's; 'lethe rerun ${ob% *}' writes it and hands it to the deleter, as the next run does" "$OUT"
        run_lethe --config "$WORK/lethe.conf" batches --json
        assert_eq "kill at $point: ... null in --json" "None" \
          "$(echo "$OUT" | python3 -c 'import json,sys; print({b["batch_id"]: b["manifest"] for b in json.load(sys.stdin)["batches"]}["'"${ob% *}"'"])')"
    fi
    if [ "$point" = after_manifest ]; then
        mf=$(ls "$WORK"/spool/*/*.jsonl | head -1); mb=$(basename "$mf" .jsonl)
        run_lethe --config "$WORK/lethe.conf" batches --json
        assert_eq "kill at $point: batches --json names the open batch's manifest in the spool" "open $mf" \
          "$(echo "$OUT" | python3 -c 'import json,sys; b={b["batch_id"]: b for b in json.load(sys.stdin)["batches"]}["'"$mb"'"]; print(b["state"], b["manifest"])')"
        run_lethe --config "$WORK/lethe.conf" batches --state open
        assert_contains "kill at $point: ... and so does its text" "  manifest: $mf" "$OUT"
    fi
    run_lethe --config "$WORK/lethe.conf" run
    assert_rc "kill at $point: the next run finishes" 0
    assert_eq "kill at $point: the dead run is recorded as died" "1" "$(sql "SELECT count(*) FROM lethe.runs WHERE outcome = 'died'")"
    next=$(sql "SELECT run_id FROM lethe.runs WHERE outcome <> 'died'")
    assert_eq "kill at $point: runs.error says why" \
      "found dead by run $next: it ended without recording its end (killed, or its database session lost)" \
      "$(sql "SELECT error FROM lethe.runs WHERE outcome = 'died'")"
    assert_eq "kill at $point: the dead run's end is in the audit, naming the run that found it" \
      "died, failed items 0, failed batches 0, found dead by run $next" \
      "$(sql "SELECT a.detail FROM lethe.audit a JOIN lethe.runs r USING (run_id)
               WHERE r.outcome = 'died' AND a.kind = 'run_finished'")"
    assert_eq "kill at $point: that record follows the next run's run_started" "t" \
      "$(sql "SELECT (SELECT seq FROM lethe.audit a JOIN lethe.runs r USING (run_id)
                       WHERE r.outcome = 'died' AND a.kind = 'run_finished')
                   = (SELECT seq + 1 FROM lethe.audit WHERE run_id = '$next' AND kind = 'run_started')")"
    check "kill at $point"
done

# ---- random kills over many rounds, with producers adding work between them -------------------
setup_db
orphans=0
for i in $(seq ${CRASH_ROUNDS:-12}); do
    mk_item "$T" "$(uuid)" "$W" response EU "$(date -u -d '-5 days' +%FT%TZ)"
    EXEC_BG=1 EXEC_SLEEP=0.2 "$LETHE" --config "$WORK/lethe.conf" -q run >/dev/null 2>&1 & p=$!
    sleep "0.$(( (RANDOM % 30) + 1 ))"
    kill -9 $p 2>/dev/null; wait $p 2>/dev/null
    # The guard kills the group on lethe's death; on a loaded machine it may be scheduled late,
    # so it has 5 s. A child it failed to kill lives 30 s, and is still there.
    for _ in $(seq 50); do pgrep -f "$BG_MARK" >/dev/null || break; sleep 0.1; done
    orphans=$((orphans + $(pgrep -c -f "$BG_MARK")))
done
assert_eq "random kills: no executor outlived the run that started it" "0" "$orphans"
gone_backends
run_lethe --config "$WORK/lethe.conf" run
assert_rc "random kills: the next run finishes" 0
N_ITEMS=$((N_ITEMS + ${CRASH_ROUNDS:-12}))
check "random kills"
N_ITEMS=${CRASH_ITEMS:-120}

# ---- the database restarts in the middle of a run -----------------------------------------------
setup_db
EXEC_SLEEP=1 "$LETHE" --config "$WORK/lethe.conf" -q run >/dev/null 2>&1 & p=$!
sleep 1.5
# A dry run meanwhile finds the run's batched items in flight, not due, and says why (an outside
# tryout's plan of nothing due said nothing of the run).
run_lethe --config "$WORK/lethe.conf" run --dry-run
assert_contains "a dry run during a run says the run is under way" \
  "warning: run: dry run: run $(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'running'") is under way (started " "$ERR"
assert_contains "... and that what it batched is in flight, not due" \
  "): the items it has batched are in flight, not counted as due here" "$ERR"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# (under make check-citus, the coordinator's data directory and log)
as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "${SERVER_DATA:-$PGHOST/data}" -l "${SERVER_LOG:-$PGHOST/server.log}" \
  -m fast -w restart >/dev/null 2>&1
wait $p; rc=$?
assert_eq "restart: the interrupted run exits 1" "1" "$rc"
run_lethe --config "$WORK/lethe.conf" run
assert_rc "restart: the next run finishes" 0
check "restart"

# ---- a full spool ---------------------------------------------------------------------------------
setup_db
LETHE_FAULT=enospc run_lethe --config "$WORK/lethe.conf" run
assert_rc "full spool: the run fails" 1
assert_contains "full spool: the error says so" "No space left on device" "$ERR"
assert_eq "full spool: the run is recorded as failed" "failed" "$(sql "SELECT outcome FROM lethe.runs")"
assert_eq "full spool: nothing was purged" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")"
assert_eq "full spool: no manifest left behind" "" "$(find "$WORK/spool" -name '*.json*' 2>/dev/null)"
run_lethe --config "$WORK/lethe.conf" run
assert_rc "full spool: the next run finishes" 0
check "full spool"

# ---- SIGTERM stops at the next safe point -------------------------------------------------------------
setup_db
EXEC_SLEEP=1 "$LETHE" --config "$WORK/lethe.conf" run >"$WORK/term.out" 2>&1 & p=$!
# once a deleter runs (on Citus the derivation takes longer than a fixed wait)
for _ in $(seq 600); do pgrep -f "$SLEEP_MARK" >/dev/null && break; sleep 0.1; done
sleep 0.5; kill -TERM $p; wait $p; rc=$?
assert_eq "sigterm: the run exits 1" "1" "$rc"
assert_eq "sigterm: the run is recorded as interrupted" "interrupted" "$(sql "SELECT outcome FROM lethe.runs")"
assert_contains "sigterm: it says what it left" "left open for the next run" "$(sql "SELECT error FROM lethe.runs")"
assert_eq "sigterm: batches are left open, none half-done" "t" \
  "$(sql "SELECT count(*) > 0 AND bool_and(state = 'open') FROM lethe.batches WHERE state <> 'acknowledged'")"
run_lethe --config "$WORK/lethe.conf" run
assert_rc "sigterm: the next run finishes" 0
check "sigterm"

# hold_lock CLASS SQL: another session runs SQL (taking advisory lock CLASS, 0, then sleeping a
# minute) in the background, LOCKER its process; returns once the lock is granted.
hold_lock() {
    psql -X -q "${@:2}" >/dev/null 2>&1 &
    LOCKER=$!
    for _ in $(seq 100); do
        [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND granted")" = 1 ] && break
        sleep 0.1
    done
}

# ---- SIGTERM while a hold being placed holds the fence --------------------------------------------
# A hold's commit held up (a synchronous standby down) holds the hold fence, which a run waits
# for before it forms batches; a SIGTERM meanwhile was heeded only once the hold committed (an
# outside tryout's run took ten minutes to stop). Here another session holds the fence.
setup_db
hold_lock 7283316 -c "BEGIN" -c "SELECT pg_advisory_xact_lock(7283316, 0)" -c "SELECT pg_sleep(60)" -c "COMMIT"
"$LETHE" --config "$WORK/lethe.conf" run >"$WORK/fence.out" 2>&1 & p=$!
for _ in $(seq 600); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_xact_lock_shared(7283316%'")" != 0 ] && break
    sleep 0.1
done
sleep 0.3; kill -TERM $p
for _ in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
stopped=$(kill -0 $p 2>/dev/null && echo "still running" || echo stopped)
kill -KILL $p 2>/dev/null; wait $p; rc=$?
assert_eq "sigterm at the hold fence: the run stops within 5 s, exit 1" "stopped 1" "$stopped $rc"
assert_eq "... recorded as interrupted, saying where" "interrupted|stopped by a signal while waiting for a hold being placed; no batch was emitted" \
  "$(sql "SELECT outcome || '|' || error FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_eq "... no batch emitted" "0" "$(sql "SELECT count(*) FROM lethe.batches")"
assert_contains "... having said what it waited for" \
  "run: a hold is being placed in another session; waiting for it to commit before forming batches" "$(cat "$WORK/fence.out")"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'" >/dev/null
wait $LOCKER 2>/dev/null
run_lethe --config "$WORK/lethe.conf" run
assert_rc "sigterm at the hold fence: the next run finishes" 0
check "sigterm at the hold fence"

# ---- SIGTERM while the run takes status's memory, after its last batch -------------------------
# The memory was taken after the run's end was recorded: a stop request then was answered
# ("stopping at the next safe point") and the run ended succeeded, exit 0 (an outside tryout's
# finding). Another session holds the memory's lock, which the run waits for (up to 10 s).
setup_db
hold_lock 7283315 -c "SELECT pg_advisory_lock(7283315, 0)" -c "SELECT pg_sleep(60)"
"$LETHE" --config "$WORK/lethe.conf" run >"$WORK/mem.out" 2>&1 & p=$!
for _ in $(seq 600); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7283315 AND NOT granted")" != 0 ] && break
    sleep 0.1
done
kill -TERM $p; wait $p; rc=$?
assert_eq "sigterm while status's memory is taken: exit 1, interrupted after its last batch" \
  "1|interrupted|stopped by a signal after its last batch; nothing was left undone" \
  "$rc|$(sql "SELECT outcome || '|' || error FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'" >/dev/null
wait $LOCKER 2>/dev/null
check "sigterm while status's memory is taken"

# ---- SIGTERM before the run begins ----------------------------------------------------------------
# Until a run installed its handlers (after its config, connection, lock and checks) a SIGTERM
# killed it, exit 143, outside SPEC §6's table. Here it waits on a server that never answers.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); c = s.accept(); time.sleep(30)' >"$WORK/mute.port" &
MUTE=$!
for _ in $(seq 50); do [ -s "$WORK/mute.port" ] && break; sleep 0.1; done
"$LETHE" --config "$WORK/lethe.conf" --db "host=127.0.0.1 port=$(cat "$WORK/mute.port") connect_timeout=20" \
  run >"$WORK/early.out" 2>&1 & p=$!
sleep 0.5; kill -TERM $p
for _ in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
kill -KILL $p 2>/dev/null; wait $p; rc=$?
kill $MUTE 2>/dev/null; wait $MUTE 2>/dev/null
assert_eq "sigterm before the run began: exit 1, saying nothing was written" \
  "1|lethe: stopped by a signal before the run began (or in a dry run); nothing was written" \
  "$rc|$(cat "$WORK/early.out")"
finish
