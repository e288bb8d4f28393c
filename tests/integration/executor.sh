# The executor contract (SPEC §4), tried as a misbehaving deleter would: only receipts
# acknowledge, silence is failure, bytes are not trusted, the timeout holds whatever the
# executor does with its pipes, no executor outlives its run, counts are true everywhere, a
# stop request is honoured in every phase, reruns are runs, shards re-drive by tenant.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-exec.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'pkill -KILL -f "lethe-exec-marker-$$" 2>/dev/null; rm -rf "$WORK"' EXIT
MARK="lethe-exec-marker-$$"
round=0

# fresh N [GEO]: a new database with one tenant and N due items (real files) in GEO (EU).
fresh() { fresh_catalog exec "$@"; }
# executor NAME BODY: a script in $WORK; BODY is shell, with the manifest in "$1"
executor() {
    printf '#!/bin/bash\n%s\n' "$2" > "$WORK/$1"; chmod +x "$WORK/$1"
}
# run_behind NAME SCRIPT [SETTINGS]: the executor NAME running SCRIPT, a config for it (SETTINGS
# added in its executor group), and lethe run started in the background (LPID; its output in
# $WORK/NAME.out and .err); returns once the executor runs.
run_behind() {
    executor "$1" "$2"
    # (the config's name must not hold the executor's path, which pgrep looks for)
    write_config "$WORK/conf-$1" "executor: { command = \"$WORK/$1\"; ${3:-} };"
    "$LETHE" --config "$WORK/conf-$1" run >"$WORK/$1.out" 2>"$WORK/$1.err" &
    LPID=$!
    for _ in $(seq 100); do pgrep -f "$WORK/$1" >/dev/null && break; sleep 0.05; done
}
ids_of() { tail -n +2 "$1" | sed 's/^{"item_id":"\([^"]*\)".*/\1/'; }
state_counts() { sql "SELECT string_agg(state || ' ' || n, '|' ORDER BY state) FROM (SELECT state, count(*) n FROM lethe.item_status GROUP BY state) s"; }
files_left() { local n=0; for i in "${ITEMS[@]}"; do [ -e "$STORE/$i" ] && n=$((n + 1)); done; echo $n; }

# ---- 1. a compound command runs whole ---------------------------------------------------------
fresh 3
write_config "$WORK/c1.conf" "executor: { command = \"sleep 1; $FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/c1.conf" run
assert_rc "a compound command: run exits 0" 0
assert_eq "a compound command: every item purged" "purged 3" "$(state_counts)"
assert_eq "a compound command: the deleter really ran (files gone)" "0" "$(files_left)"

# ---- 2. silence is not success ----------------------------------------------------------------
fresh 3
executor silent 'sleep 0.1; exit 0'
write_config "$WORK/c2.conf" "executor: { command = \"$WORK/silent\"; };"
run_lethe --config "$WORK/c2.conf" run --metrics-file "$WORK/c2.prom"
assert_rc "an executor that says nothing: the run still exits 0" 0
assert_eq "nothing is purged without a receipt" "due 3" "$(state_counts)"
assert_eq "the files are still there" "3" "$(files_left)"
assert_eq "no item_purged record" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")"
assert_eq "each item failed with 'no receipt'" "3 no receipt" \
  "$(sql "SELECT count(*) || ' ' || min(reason) FROM lethe.batch_items WHERE outcome = 'failed'")"
assert_eq "the batch ended failed" "failed" "$(sql "SELECT state FROM lethe.batches")"
assert_contains "lethe batches says why: its items had no receipt" "  failed:   3 of 3 items: no receipt: 3" \
  "$("$LETHE" batches --state failed 2>&1)"
assert_contains "the summary counts failed items and batches" "0 purged, 3 failed items, 1 failed batches" "$OUT"
assert_contains "the log names the batch and why it failed (a search for the batch finds it)" \
  "warning: batch $(sql "SELECT batch_id FROM lethe.batches") (EU) failed: 3 items not acknowledged (3 with no receipt); due again at the next run
hint: the executor exited 0 without a single receipt for its batch: lethe takes an item as deleted only from a line 'deleted ITEM_ID' or 'absent ITEM_ID' on the executor's standard output (its stderr goes to the log), one per item of the manifest it is given as its last argument" "$ERR"
assert_eq "the run record counts them" "3 1" "$(sql "SELECT failed || ' ' || failed_batches FROM lethe.runs")"
assert_contains "run_finished counts them" "failed items 3, failed batches 1" \
  "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'run_finished'")"
assert_contains "metrics: failed items" 'lethe_run_items_failed{shard="all"} 3' "$(cat "$WORK/c2.prom")"
assert_contains "metrics: failed batches" 'lethe_run_batches_failed{shard="all"} 1' "$(cat "$WORK/c2.prom")"
assert_eq "three item_failed records" "3" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_failed'")"
assert_contains "batch_failed says how many" "3 of 3 items failed" "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'batch_failed'")"
run_lethe --config "$WORK/c2.conf" run
run_lethe --config "$WORK/c2.conf" run
run_lethe --config "$WORK/c2.conf" status --check
assert_rc "status --check raises items that failed three times" 4
run_lethe --config "$WORK/c2.conf" run --metrics-file "$WORK/c2b.prom"
assert_contains "metrics: failing items" 'lethe_failing_items{shard="all"} 3' "$(cat "$WORK/c2b.prom")"

# ---- 3. receipts before a non-zero exit or a timeout still count -------------------------------
fresh 4
executor half 'n=0; for id in $(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"); do n=$((n+1)); [ $n -le 2 ] && echo "deleted $id"; done; exit 3'
write_config "$WORK/c3.conf" "executor: { command = \"$WORK/half\"; };"
run_lethe --config "$WORK/c3.conf" run
assert_rc "receipts then exit 3: the run exits 0" 0
assert_eq "receipted items purged, the rest due again" "due 2|purged 2" "$(state_counts)"
assert_eq "the rest failed with the exit status" "2 exit status 3" \
  "$(sql "SELECT count(*) || ' ' || min(reason) FROM lethe.batch_items WHERE outcome = 'failed'")"
assert_eq "batch_failed names the exit status" "exit status 3" "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'batch_failed'")"
fresh 3
executor slow 'for id in $(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"); do echo "absent $id"; break; done; exec sleep 30'
write_config "$WORK/c3b.conf" "executor: { command = \"$WORK/slow\"; timeout = \"2s\"; };"
run_lethe --config "$WORK/c3b.conf" run
assert_eq "a receipt before the timeout counts" "due 2|purged 1" "$(state_counts)"
assert_eq "the rest failed at the timeout" "timed out after 2s" "$(sql "SELECT min(reason) FROM lethe.batch_items WHERE outcome = 'failed'")"
# One region's hung deleter does not hold the others up a whole timeout per batch: once it has
# timed out in a run, that region's other batches stay open for the next run, and the next
# region's deleter starts at once.
fresh 3
WU=$(uuid); mk_workspace "$T" "$WU" US
U1=$(uuid); mk_item "$T" "$U1" "$WU" prompt US 2026-01-01T00:00:00Z
executor hangeu 'if [ "$LETHE_LOCATION" = EU ]; then exec sleep 30; fi
tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/"'
write_config "$WORK/c3c.conf" "executor: { command = \"$WORK/hangeu\"; timeout = \"2s\"; };" "batch: { max_items = 1; };"
run_lethe --config "$WORK/c3c.conf" run
assert_eq "EU's deleter hangs: the run exits 0, US purged, one EU batch failed, two left open" \
  "0|purged|1 1|2" \
  "$RC|$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$U1'")|$(sql "SELECT failed || ' ' || failed_batches FROM lethe.runs")|$(sql "SELECT count(*) FROM lethe.batches WHERE state = 'open' AND location = 'EU'")"
assert_eq "... EU's deleter was started once, not once per batch (one timeout waited, not three)" "1" \
  "$(sql "SELECT sum(attempts) FROM lethe.batches WHERE location = 'EU'")"
FB=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'failed'")
assert_eq "... and says which batches it left, and why" "2" \
  "$(printf '%s\n' "$ERR" | grep -c "left open for the next run, its manifest written to $WORK/spool/EU/.*: EU's deleter timed out on batch $FB in this run")"
# Left without their manifests, `lethe batches` showed none for them, the summary counted
# their items nowhere (2 due items neither purged nor failed), and explain said their items
# were with the deleter (an outside tryout's finding).
assert_contains "... counting them in its summary" \
  ", 1 failed items, 1 failed batches, 0 held, 2 batches (2 items) left open for the next run, " "$OUT"
LEFT=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' AND location = 'EU' ORDER BY created_at LIMIT 1")
assert_eq "... each with its manifest in the spool, one item" "1" "$(tail -n +2 "$WORK/spool/EU/$LEFT.jsonl" | wc -l)"
run_lethe --config "$WORK/c3c.conf" batches --state open
assert_contains "... which lethe batches shows" "  manifest: $WORK/spool/EU/$LEFT.jsonl" "$OUT"
LI=$(sql "SELECT item_id FROM lethe.batch_items WHERE batch_id = '$LEFT'")
run_lethe --config "$WORK/c3c.conf" explain "$LI"
assert_contains "... and explain says its item was not handed to the deleter yet" \
  "why        in open batch $LEFT under " "$OUT"
assert_contains "... and why" "not handed to its deleter yet: the next run hands it over; withdrawals and holds no longer recall it" "$OUT"
# A directory in the place of the manifest of a batch the next run leaves open again: that run
# said so in a warning and succeeded (exit 0, no error recorded), and lethe batches showed the
# directory as its manifest (an outside tryout's finding).
LAST=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' AND location = 'EU' ORDER BY created_at DESC LIMIT 1")
rm -f "$WORK/spool/EU/$LAST.jsonl"; mkdir "$WORK/spool/EU/$LAST.jsonl"
run_lethe --config "$WORK/c3c.conf" run --json
assert_eq "... the next run, EU's deleter hanging still, counts in --json the batches it left open" \
  "$(sql "SELECT count(*) || ' ' || sum(items) FROM lethe.batches WHERE state = 'open'")" \
  "$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["left_open"], d["left_open_items"])' <<<"$OUT")"
assert_eq "... and, one of their manifests unwritable, ends failed, naming it (exit 1)" "1 failed 1" \
  "$RC $(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1") $(sql "SELECT count(*) FROM lethe.runs WHERE error LIKE 'batch $LAST: its manifest could not be written: %'")"
run_lethe --config "$WORK/c3c.conf" batches --state open
assert_contains "... lethe batches shows no manifest for it, not the directory" "  manifest: none in the spool ($WORK/spool/EU/$LAST.jsonl)" "$OUT"
rmdir "$WORK/spool/EU/$LAST.jsonl"

# ---- 4. output is bytes, not trusted text ------------------------------------------------------
fresh 4
executor noisy 'ids=($(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"))
printf "deleted %s\n" "${ids[0]}"
printf "\xff\xfe bad bytes \x01\n"
printf "deleted %s\0junk\n" "${ids[3]}"
printf "deleted %s\xff\n" "${ids[1]}"
printf "failed %s disk \xc3\xa9 broken \x07 bell\n" "${ids[1]}"
printf "deleted 00000000-0000-0000-0000-00000000beef\n"
printf "deleted not-an-id\n"
head -c 100000 /dev/zero | tr "\0" x
printf "\ndeleted %s\n" "${ids[2]}"
printf "absent %s" "${ids[3]}"
echo "a progress line for the log" >&2
printf "\xff stderr bytes\n" >&2
printf "bidi \xe2\x80\xaefdp.exe\n" >&2'
write_config "$WORK/c4.conf" "executor: { command = \"$WORK/noisy\"; };"
run_lethe --config "$WORK/c4.conf" run
assert_rc "garbage on stdout: the run exits 0" 0
assert_eq "the three good receipts and the one without a newline count" "due 1|purged 3" "$(state_counts)"
assert_eq "the failed reason is stored cleaned" 'disk é broken \x07 bell' \
  "$(sql "SELECT reason FROM lethe.batch_items WHERE outcome = 'failed'")"
assert_contains "a foreign receipt is logged and ignored, naming the batch and its location" "warning: batch $(sql "SELECT batch_id FROM lethe.batches") (EU): 1 receipt named items outside the batch; ignored" "$ERR"
assert_contains "... naming the id the deleter claimed, and the batch" \
  "warning: executor: batch $(sql "SELECT batch_id FROM lethe.batches") (EU): ignoring a receipt for an item not in the batch: deleted 00000000-0000-0000-0000-00000000beef" "$ERR"
assert_contains "bad bytes are logged cleaned" 'ignoring a line that is not valid UTF-8: \xFF\xFE bad bytes \x01' "$ERR"
assert_eq "a NUL byte is named as such (it is valid UTF-8), the line shown cleaned" "1" \
  "$(printf '%s\n' "$ERR" | grep -c 'ignoring a line with a NUL byte in it: deleted [0-9a-f-]*\\x00junk$')"
assert_contains "the endless line is logged bounded" "ignoring an overlong line: xxxxxxxx" "$ERR"
assert_eq "the stderr tail is stored cleaned" '\xFF stderr bytes' "$(sql "SELECT split_part(error, E'\n', 2) FROM lethe.batches")"
assert_contains "lethe batches shows the stored stderr with a bidirectional control escaped" \
  '    | bidi \u202Efdp.exe' "$("$LETHE" batches 2>&1)"
fs_conf="executor: { command = \"$FS_DELETE --root $STORE\"; };"
write_config "$WORK/c4b.conf" "$fs_conf"
run_lethe --config "$WORK/c4b.conf" run
assert_rc "the next run is not stopped by it" 0
assert_eq "and purges the rest" "purged 4" "$(state_counts)"
# Its stderr goes to the log as written: a NUL byte is shown as \0 and the rest of the line goes
# too; a line over 8192 bytes passes its first 8192 and the count of the rest (it was dropped
# whole, under a warning that said "cut").
fresh 1
executor longerr 'for id in $(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"); do echo "deleted $id"; done
printf "before-nul\0after-nul\n" >&2
{ printf "LONGSTART-"; head -c 20000 /dev/zero | tr "\0" z; printf -- "-LONGEND\n"; } >&2
{ printf "NOEOL-"; head -c 9000 /dev/zero | tr "\0" y; } >&2'
write_config "$WORK/c4l.conf" "executor: { command = \"$WORK/longerr\"; };"
run_lethe --config "$WORK/c4l.conf" run
assert_eq "stderr: the item is purged whatever the deleter's stderr" "0|purged 1" "$RC|$(state_counts)"
assert_contains "stderr: a NUL byte is shown, the rest of the line is not lost" 'executor: before-nul\0after-nul' "$ERR"
assert_contains "stderr: an overlong line's first 8192 bytes are passed through" \
  "executor: LONGSTART-$(head -c 8182 /dev/zero | tr '\0' z)
warning: executor: batch $(sql "SELECT batch_id FROM lethe.batches") (EU): a stderr line longer than 8192 bytes: its first 8192 were passed through, the 11826 bytes after them were not" "$ERR"
assert_contains "stderr: ... and a last one without its newline too" \
  "executor: NOEOL-$(head -c 8186 /dev/zero | tr '\0' y)
warning: executor: batch $(sql "SELECT batch_id FROM lethe.batches") (EU): a stderr line longer than 8192 bytes: its first 8192 were passed through, the 814 bytes after them were not" "$ERR"
assert_eq "stderr: the batch record keeps its last lines, and says that the earlier ones are in the log only" \
  "(2 earlier lines of its stderr are in the log only)|NOEOL-yyy" \
  "$(sql "SELECT split_part(error, E'\n', 1) || '|' || left(split_part(error, E'\n', 2), 9) FROM lethe.batches")"

# ---- 5. the timeout holds whatever the executor does with its pipes ----------------------------
fresh 2
executor closer "exec >&- 2>&-; exec -a $MARK sleep 30"
write_config "$WORK/c5.conf" "executor: { command = \"$WORK/closer\"; timeout = \"2s\"; };"
start=$(date +%s)
run_lethe --config "$WORK/c5.conf" run
took=$(( $(date +%s) - start ))
assert_eq "an executor that closes its pipes is stopped at the timeout" "yes" "$([ $took -lt 10 ] && echo yes)"
assert_eq "its batch failed as timed out" "timed out after 2s" "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'batch_failed'")"
assert_eq "nothing purged" "due 2" "$(state_counts)"
sleep 0.3
assert_eq "no executor process is left" "0" "$(pgrep -c -f "$MARK")"
fresh 2
executor bg "(exec -a $MARK sleep 30) & for id in \$(tail -n +2 \"\$1\" | sed 's/^{\"item_id\":\"\\([^\"]*\\)\".*/\\1/'); do echo \"deleted \$id\"; done; exit 0"
write_config "$WORK/c5b.conf" "executor: { command = \"$WORK/bg\"; timeout = \"2s\"; };"
start=$(date +%s)
run_lethe --config "$WORK/c5b.conf" run
took=$(( $(date +%s) - start ))
assert_eq "a background child holding the pipes is stopped at the timeout" "yes" "$([ $took -lt 10 ] && echo yes)"
assert_eq "the receipts it printed count" "purged 2" "$(state_counts)"
assert_contains "the run says the deleter exited and what kept its output open (not a slow deleter)" \
  "the executor exited, but a process it left kept its output open until the timeout (2s); every item had its receipt; acknowledged" "$ERR"
sleep 0.3
assert_eq "the background child is gone" "0" "$(pgrep -c -f "$MARK")"
# The same with a receipt missing: the batch fails, and is said to have failed the same way (it
# was said "executor timed out after 2s", which sent the operator to a slow deleter).
fresh 2
executor bg1 "(exec -a $MARK sleep 30) & echo \"deleted \$(sed -n 2p \"\$1\" | sed 's/^{\"item_id\":\"\([^\"]*\)\".*/\1/')\"; exit 0"
write_config "$WORK/c5c.conf" "executor: { command = \"$WORK/bg1\"; timeout = \"2s\"; };"
run_lethe --config "$WORK/c5c.conf" run
B5=$(sql "SELECT batch_id FROM lethe.batches")
assert_eq "a left-behind child and a missing receipt: one purged, one due again" "due 1|purged 1" "$(state_counts)"
assert_contains "... the run saying the executor exited and what kept its output open" \
  "warning: batch $B5 (EU) failed: the executor exited, but a process it left kept its output open until the timeout (2s); its unreceipted items are due again at the next run" "$ERR"
sleep 0.3
assert_eq "... and the child is gone" "0" "$(pgrep -c -f "$MARK")"

# ---- 6. no executor outlives its run -----------------------------------------------------------
fresh 2
executor long "exec -a $MARK sleep 60"
write_config "$WORK/c6.conf" "executor: { command = \"(exec -a $MARK sleep 60) & $WORK/long\"; timeout = \"60s\"; };"
"$LETHE" --config "$WORK/c6.conf" run >/dev/null 2>&1 &
LPID=$!
for _ in $(seq 50); do [ "$(pgrep -c -f "$MARK")" -ge 2 ] && break; sleep 0.1; done
assert_eq "the executor and its child are running" "2" "$(pgrep -c -f "$MARK")"
assert_eq "its guard is a child of lethe, named lethe-guard in ps" "1" "$(pgrep -c -x -P "$LPID" lethe-guard)"
kill -KILL "$LPID"; wait "$LPID" 2>/dev/null
gone_backends
for _ in $(seq 30); do [ "$(pgrep -c -f "$MARK")" = 0 ] && break; sleep 0.1; done
assert_eq "after SIGKILL of lethe no executor process is left" "0" "$(pgrep -c -f "$MARK")"
write_config "$WORK/c6b.conf" "$fs_conf"
run_lethe --config "$WORK/c6b.conf" run
assert_eq "the next run finishes the job" "purged 2" "$(state_counts)"
assert_eq "and records the killed run as died" "died" "$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at LIMIT 1")"

# lethe killed with its whole process group (a shell's job, GNU timeout, kill -- -PGID): the
# guard is in a group of its own and still kills the executor's.
fresh 2
setsid "$LETHE" --config "$WORK/c6.conf" run >/dev/null 2>&1 &
LPID=$!
for _ in $(seq 50); do [ "$(pgrep -c -f "$MARK")" -ge 2 ] && break; sleep 0.1; done
assert_eq "the executor and its child are running again" "2" "$(pgrep -c -f "$MARK")"
kill -KILL -- "-$LPID"; wait "$LPID" 2>/dev/null
gone_backends
for _ in $(seq 30); do [ "$(pgrep -c -f "$MARK")" = 0 ] && break; sleep 0.1; done
assert_eq "after SIGKILL of lethe's whole group no executor process is left" "0" "$(pgrep -c -f "$MARK")"

# lethe late to read: an executor that gave all its receipts and exited in time did not time
# out, however long lethe took to look (stopped here; a slow reader of its stderr does the same).
fresh 3
run_behind quick 'sleep 0.5; tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/"' 'timeout = "2s";'
kill -STOP "$LPID"; sleep 3.5; kill -CONT "$LPID"; wait "$LPID"; RC=$?
assert_eq "stopped past the executor's timeout: the run still exits 0" "0" "$RC"
assert_eq "every receipt the executor gave counts" "purged 3" "$(state_counts)"
assert_eq "and its batch did not time out" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind IN ('batch_failed', 'item_failed')")"

# The same, but the executor then hangs: it timed out, and the receipts it gave before still count,
# though lethe had not read them when the time was up.
fresh 3
run_behind quickhang 'tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/"; exec sleep 30' 'timeout = "2s";'
kill -STOP "$LPID"; sleep 3.5; kill -CONT "$LPID"; wait "$LPID"
assert_eq "a batch timed out while lethe was stopped: the receipts in its pipe count" "purged 3" "$(state_counts)"

# Killed at its timeout in the middle of a line: the piece before the kill was taken for a
# malformed receipt ("ignoring a receipt with a malformed item id: deleted 85a7cd09-").
fresh 2
executor halfline 'tail -n +2 "$1" | head -1 | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/"; printf "deleted %s" "$(tail -n +3 "$1" | cut -c13-20)"; exec sleep 30'
write_config "$WORK/c6e.conf" "executor: { command = \"$WORK/halfline\"; timeout = \"2s\"; };"
run_lethe --config "$WORK/c6e.conf" run
assert_eq "a line cut off by the kill: the whole receipt before it counts, the other item failed (due again)" \
  "due 1|purged 1|timed out after 2s" "$(state_counts)|$(sql "SELECT reason FROM lethe.batch_items WHERE outcome = 'failed'")"
assert_contains "the cut line is named as such" "warning: executor: batch $(sql "SELECT batch_id FROM lethe.batches ORDER BY created_at LIMIT 1") (EU): its last stdout line, cut off by the kill, was ignored (16 bytes)" "$ERR"
assert_not_contains "and not taken for a malformed receipt" "malformed" "$ERR"
# ... but a last receipt written whole before the kill, only without its newline, counts (SPEC §4:
# a receipt arriving before a timeout), and a last stderr line is passed through as it is.
fresh 2
executor wholeline 'tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/" | head -c -1; printf "fatal: stuck" >&2; exec sleep 30'
write_config "$WORK/c6f.conf" "executor: { command = \"$WORK/wholeline\"; timeout = \"2s\"; };"
run_lethe --config "$WORK/c6f.conf" run
assert_eq "a whole last receipt without its newline, before the kill: both items purged" "purged 2" "$(state_counts)"
assert_contains "the last stderr line is passed through" "executor: fatal: stuck" "$ERR"
assert_not_contains "nothing is said to be cut" "cut off" "$ERR"

# ---- 7. a locations key that names no geo is a configuration error -----------------------------
fresh 1
write_config "$WORK/c7.conf" "executor: { command = \"$FS_DELETE --root $STORE\";" "  locations: { EUX = \"/bin/false\"; }; };"
run_lethe --config "$WORK/c7.conf" run
assert_rc "an unknown geo in executor.locations exits 2" 2
assert_contains "it names the file, line and key" "error: config: '$WORK/c7.conf' line 3: 'executor.locations.EUX': no such geo in lethe.geos" "$ERR"
assert_contains "and the geos" "hint: the geos are ANZ, EU, UK, US" "$ERR"
assert_eq "nothing was run or written" "0 live 1" "$(sql "SELECT count(*) FROM lethe.runs") $(state_counts)"
run_lethe --config "$WORK/c7.conf" run --dry-run
assert_rc "a dry run refuses it too" 2
# The hourly check says so now, not once the lookahead has run out; status itself still reports.
run_lethe --config "$WORK/c7.conf" status --check
assert_rc "status --check with that config exits 4" 4
assert_contains "it warns with the file, line and key" "warning: config: '$WORK/c7.conf' line 3: 'executor.locations.EUX': no such geo in lethe.geos" "$ERR"
assert_contains "and says what it stops" "status: check failed: the config's executor.locations names a geo lethe.geos lacks: every run with it refuses to start (exit 2)" "$ERR"
run_lethe --config "$WORK/c7.conf" status
assert_eq "plain status still reports, exit 0, with the warning" "0 1" "$RC $(grep -c "^warning: config: '$WORK/c7.conf' line 3" <<<"$ERR")"

# ---- 8. a stop request during the re-drive -----------------------------------------------------
fresh 2
write_config "$WORK/c8a.conf"
run_lethe --config "$WORK/c8a.conf" run   # leaves one open batch (no executor)
I_NEW=$(uuid); mk_item "$T" "$I_NEW" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u +%FT%TZ)" "REQ-late" item_id "$I_NEW"
run_behind slowdel 'sleep 2; tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/"'
kill -TERM "$LPID"; sleep 0.2; kill -INT "$LPID"; wait "$LPID"; RC=$?
assert_eq "SIGTERM during the re-drive: exit 1" "1" "$RC"
# An operator's Ctrl-C during a long executor was met with silence until the run ended.
assert_eq "the stop request is acknowledged at once on stderr, once for two signals" \
  "warning: run: stop requested; stopping at the next safe point (an executor already running finishes first, so that its receipts are recorded: up to executor.timeout, 15m)" \
  "$(grep 'stop requested' "$WORK/slowdel.err")"
# The second was met with silence, as if the run were stuck.
assert_eq "... and the second answered too: what it waits for, how long, and how to end it now" \
  "warning: run: already stopping: waiting for the executor already running, if any, so that its receipts are recorded (up to executor.timeout, 15m); SIGKILL ends it now, and the next run drives its batch again" \
  "$(grep 'already stopping' "$WORK/slowdel.err")"
assert_eq "the run is recorded interrupted" "interrupted" "$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_contains "the summary says interrupted" "interrupted:" "$(cat "$WORK/slowdel.out")"
assert_eq "the executor already running finished its batch" "acknowledged" "$(sql "SELECT state FROM lethe.batches ORDER BY created_at LIMIT 1")"
assert_eq "no batch was emitted after the request" "1" "$(sql "SELECT count(*) FROM lethe.batches")"
assert_eq "the new due item waits for the next run" "due" "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$I_NEW'")"

# ---- 9. a rerun is a run -----------------------------------------------------------------------
fresh 3
write_config "$WORK/c9a.conf" "executor: { command = \"$WORK/silent\"; };"
run_lethe --config "$WORK/c9a.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches")
write_config "$WORK/c9.conf" "$fs_conf"
run_lethe --config "$WORK/c9.conf" rerun "$FB" --operator user_d
assert_rc "rerun of a failed batch exits 0" 0
RR=$(sql "SELECT run_id FROM lethe.runs WHERE operator = 'user_d'")
assert_eq "its run record counts what it did, as a rerun" "rerun 3 1 3 0 succeeded" \
  "$(sql "SELECT trigger || ' ' || items_due || ' ' || batches || ' ' || purged || ' ' || failed || ' ' || outcome FROM lethe.runs WHERE run_id = '$RR'")"
assert_eq "run_started, run_finished and a checkpoint" "checkpoint run_finished run_started" \
  "$(sql "SELECT string_agg(kind, ' ' ORDER BY kind) FROM lethe.audit WHERE run_id = '$RR' AND kind IN ('run_started', 'run_finished', 'checkpoint')")"
fresh 2
run_lethe --config "$WORK/c8a.conf" run
OB=$(sql "SELECT batch_id FROM lethe.batches")
executor crash 'echo "backend down" >&2; exit 3'
write_config "$WORK/c9b.conf" "executor: { command = \"$WORK/crash\"; };"
run_lethe --config "$WORK/c9b.conf" rerun "$OB"
assert_rc "a rerun whose executor fails the batch as a whole exits 1" 1
assert_eq "and is recorded failed" "failed" "$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
run_lethe --config "$WORK/c9b.conf" rerun "$OB" --operator ''
assert_rc "rerun --operator '' exits 2" 2
assert_eq "and audits nothing" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'operator_rerun' AND operator IS NULL")"

# ---- 10. shards: re-drive by tenant, overlapping shard sets exclude each other -----------------
fresh 2
N2=$(sql "SELECT lethe.shard_of('$T', 2)"); N4=$(sql "SELECT lethe.shard_of('$T', 4)")
run_lethe --config "$WORK/c8a.conf" run --shard "$N2/2"
assert_eq "a batch emitted under $N2/2" "$N2/2 open" "$(sql "SELECT shard || ' ' || state FROM lethe.batches")"
OTHER4=$(( (N4 + 1) % 4 ))
run_lethe --config "$WORK/c9.conf" run --shard "$OTHER4/4"
assert_eq "a shard run of another tenant set leaves it open" "open" "$(sql "SELECT state FROM lethe.batches")"
run_lethe --config "$WORK/c9.conf" run --shard "$N4/4"
assert_rc "the shard of N=4 that holds its tenant exits 0" 0
assert_eq "and re-drives it" "acknowledged purged 2" "$(sql "SELECT b.state || ' ' || (SELECT state_counts FROM (SELECT 1) x, LATERAL (SELECT string_agg(state || ' ' || n, '|') AS state_counts FROM (SELECT state, count(*) n FROM lethe.item_status GROUP BY state) s) y) FROM lethe.batches b")"
# The lock is held until it is let go below, however slow the machine (a 4 s sleep once ran out
# before the last run on a loaded machine).
PGAPPNAME=lock_holder psql -X -q -c "SELECT lethe.run_lock(0, 2)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 100); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lock_holder' AND query LIKE '%pg_sleep%'")" = 1 ] && break
    sleep 0.1
done
run_lethe --config "$WORK/c9.conf" run --shard 1/4
assert_rc "a shard run of another N is refused while 0/2 runs" 3
run_lethe --config "$WORK/c9.conf" run --shard 1/2
assert_rc "a shard run of the same N, another K, runs alongside" 0
run_lethe --config "$WORK/c9.conf" run
assert_rc "a run over the whole catalog is refused" 3
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock_holder'" >/dev/null
wait "$HOLDER"

# ---- 11. errors are values: the run record says why -------------------------------------------
fresh 1
mkdir -p "$WORK/ro"; chmod 0500 "$WORK/ro"
write_config "$WORK/c11.conf" "spool: { directory = \"/proc/lethe-nope\"; };"
sed -i '1d' "$WORK/c11.conf"
run_lethe --config "$WORK/c11.conf" run
assert_rc "a spool that cannot be written: exit 1" 1
assert_contains "runs.error says which batch and why" "its manifest could not be written" \
  "$(sql "SELECT error FROM lethe.runs")"
assert_eq "and the run is recorded failed" "failed" "$(sql "SELECT outcome FROM lethe.runs")"

# ---- 12. a full spool frees itself: pruning comes before new manifests -------------------------
fresh 2
write_config "$WORK/c12.conf" "$fs_conf"
run_lethe --config "$WORK/c12.conf" run
OLD=$(sql "SELECT batch_id FROM lethe.batches")
assert_eq "a closed batch's manifest is on the spool" "yes" "$([ -e "$WORK/spool/EU/$OLD.jsonl" ] && echo yes)"
sql "UPDATE lethe.batches SET closed_at = now() - interval '30 days'" >/dev/null
I_NEW=$(uuid); mk_item "$T" "$I_NEW" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u +%FT%TZ)" "REQ-more" item_id "$I_NEW"
LETHE_FAULT=enospc run_lethe --config "$WORK/c12.conf" run
assert_rc "a spool that is full when the new manifest is written: exit 1" 1
assert_eq "the old manifest was pruned first" "gone" "$([ -e "$WORK/spool/EU/$OLD.jsonl" ] || echo gone)"
run_lethe --config "$WORK/c12.conf" run
assert_eq "the next run purges the new item" "purged" "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$I_NEW'")"

# ---- 13. a lost connection: the run ends recorded, with its lock taken again --------------------
fresh 2
executor cutter "psql -X -q -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lethe/run/%'\" >/dev/null 2>&1; tail -n +2 \"\$1\" | sed 's/^{\"item_id\":\"\([^\"]*\)\".*/deleted \\1/'"
write_config "$WORK/c13.conf" "executor: { command = \"$WORK/cutter\"; };"
run_lethe --config "$WORK/c13.conf" run
assert_rc "a run whose connection was cut exits 1" 1
assert_eq "it is recorded failed, with the reason" "failed" "$(sql "SELECT outcome FROM lethe.runs")"
assert_contains "the reason names the batch" "its receipts could not be recorded" "$(sql "SELECT error FROM lethe.runs")"
assert_eq "its end is audited with a checkpoint" "1 1" \
  "$(sql "SELECT count(*) FILTER (WHERE kind = 'run_finished') || ' ' || count(*) FILTER (WHERE kind = 'checkpoint') FROM lethe.audit")"
run_lethe --config "$WORK/c12.conf" run
assert_eq "the next run re-drives the batch" "purged 2" "$(state_counts)"

# ---- 14. the overdue gauge agrees with status --check: items held past the deadline apart -------
# The hold is placed before the request's deadline (6 s), which then passes while it holds.
round=$((round + 1)); DB=exec_$round
psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
export PGDATABASE=$DB; "$LETHE" migrate >/dev/null; rm -rf "$WORK/spool" "$WORK/anchors.jsonl"
T=$(uuid); W=$(uuid); mk_tenant "$T" held; mk_workspace "$T" "$W" EU
HA=$(uuid); HB=$(uuid)
mk_item "$T" "$HA" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$HB" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u +%FT%T.%6NZ)" "REQ-old"
run_lethe hold place --tenant "$T" --item "$HA" --reason "legal hold" --reference LH-1
write_config "$WORK/c14.conf" "executor: { command = \"$WORK/silent\"; };" \
  'rules: { deletion_request: { deadline = "6s"; }; };'
run_lethe --config "$WORK/c14.conf" run
sleep 7
run_lethe --config "$WORK/c14.conf" run --metrics-file "$WORK/c14.prom"
assert_contains "metrics: the held item is not overdue" 'lethe_overdue_items{shard="all"} 1' "$(cat "$WORK/c14.prom")"
assert_contains "metrics: it has a gauge of its own" 'lethe_held_past_deadline_items{shard="all"} 1' "$(cat "$WORK/c14.prom")"
run_lethe --config "$WORK/c14.conf" status --json
assert_contains "status agrees: one overdue" '"overdue": {
    "count": 1' "$OUT"
assert_contains "status agrees: one held past its deadline" '"held_past_deadline": {
    "count": 1' "$OUT"

# ---- 15. metrics.file in the config; --metrics-file wins ------------------------------------------
write_config "$WORK/c15.conf" "metrics: { file = \"$WORK/c15.prom\"; };"
run_lethe --config "$WORK/c15.conf" run
assert_rc "a run with metrics.file exits 0" 0
assert_contains "it writes the metrics there" 'lethe_run_success{shard="all"} 1' "$(cat "$WORK/c15.prom" 2>/dev/null)"
rm -f "$WORK/c15.prom"
run_lethe --config "$WORK/c15.conf" run --metrics-file "$WORK/c15-cli.prom"
assert_eq "--metrics-file overrides it" "cli only" \
  "$([ -e "$WORK/c15-cli.prom" ] && [ ! -e "$WORK/c15.prom" ] && echo cli only)"

# ---- 16. the README's deleter, exactly as printed there --------------------------------------
# Taken from README.md itself (the block after "A deleter in a few lines"), so that the page and
# the test cannot drift apart: a file there is deleted, one gone is absent (purged too), a
# directory fails with its reason, and names a locator percent-encodes or that a shell mangles
# are deleted, not called absent (the five-line shell deleter the README printed before
# acknowledged a%b, a backslash and a tab as absent and left the three files stored).
fresh 3
awk '/^A deleter in a few lines/{f=1} f&&/^```python$/{g=1; next} g&&/^```$/{exit} g' README.md > "$WORK/readme-deleter"
chmod +x "$WORK/readme-deleter"
assert_eq "README deleter: the block is there, shebang first" "#!/usr/bin/env python3" "$(head -1 "$WORK/readme-deleter")"
rm -f "$STORE/${ITEMS[1]}"
rm -f "$STORE/${ITEMS[2]}"; mkdir "$STORE/${ITEMS[2]}"
# name|locator's path: as fs-delete --inventory writes it (RFC 8089: % is %25)
ODD=(); NAMES=()
while IFS='|' read -r name enc; do
    i=$(uuid); ODD+=("$i"); NAMES+=("$STORE/$name")
    printf 'x\n' > "$STORE/$name"
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
         VALUES ('$T', '$i', '$W', 'prompt', 'EU', \$\$file://$STORE/$enc\$\$, '2026-01-01')" >/dev/null
done <<EOS
a%b|a%25b
back\\slash|back%5Cslash
tab$(printf '\t')name|tab%09name
sp ace é|sp%20ace%20%C3%A9
EOS
# ... and two fs-delete reads too: a host of localhost, and a bad escape, failed (the stored
# "a%zzb" must not be called absent)
LH=$(uuid); BAD=$(uuid); printf 'x\n' > "$STORE/lh"; printf 'x\n' > "$STORE/a%zzb"
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
     VALUES ('$T', '$LH', '$W', 'prompt', 'EU', 'file://localhost$STORE/lh', '2026-01-01'),
            ('$T', '$BAD', '$W', 'prompt', 'EU', 'file://$STORE/a%zzb', '2026-01-01')" >/dev/null
write_config "$WORK/readme.conf" "executor: { command = \"$WORK/readme-deleter\"; };"
run_lethe --config "$WORK/readme.conf" run
assert_rc "README deleter: the run exits 0 (a failed item is due again at the next run)" 0
assert_contains "README deleter: the summary counts them" "7 purged, 2 failed items, 1 failed batches" "$OUT"
assert_eq "README deleter: deleted and absent purge, a directory fails with its reason" \
  "${ITEMS[0]} purged|${ITEMS[1]} purged|${ITEMS[2]} failed Is a directory" \
  "$(sql "SELECT string_agg(item_id || ' ' || outcome || coalesce(' ' || reason, ''), '|' ORDER BY
                            array_position(ARRAY['${ITEMS[0]}', '${ITEMS[1]}', '${ITEMS[2]}']::uuid[], item_id))
            FROM lethe.batch_items WHERE item_id IN ('${ITEMS[0]}', '${ITEMS[1]}', '${ITEMS[2]}')")"
assert_eq "README deleter: the file is gone, the directory stays" "gone dir" \
  "$([ -e "$STORE/${ITEMS[0]}" ] || echo gone) $([ -d "$STORE/${ITEMS[2]}" ] && echo dir)"
assert_eq "README deleter: a%b, a backslash, a tab, spaces and é: each purged, and its file deleted (not called absent)" \
  "4 purged, 0 files left" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE outcome = 'purged'
           AND item_id IN ($(printf "'%s'," "${ODD[@]}" | sed 's/,$//'))") purged, $(n=0; for f in "${NAMES[@]}"; do [ -e "$f" ] && n=$((n + 1)); done; echo $n) files left"

assert_eq "README deleter: file://localhost/ deleted, a bad escape failed and its file left" \
  "purged gone|failed not a file:/// locator stays" \
  "$(sql "SELECT outcome FROM lethe.batch_items WHERE item_id = '$LH'") $([ -e "$STORE/lh" ] || echo gone)|$(sql "SELECT outcome || ' ' || reason FROM lethe.batch_items WHERE item_id = '$BAD'") $([ -e "$STORE/a%zzb" ] && echo stays)"

# ---- 17. receipts that contradict each other: the failure wins ------------------------------------
# A deleter that prints "deleted X" and "failed X ..." has not shown that X is gone: X fails and
# is due again (a deleter that then finds it gone says "absent").
fresh 2
executor contradict 'for id in $(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"); do echo "deleted $id"; echo "failed $id disk error"; done'
write_config "$WORK/c17.conf" "executor: { command = \"$WORK/contradict\"; };"
run_lethe --config "$WORK/c17.conf" run
assert_rc "contradicting receipts: the run exits 0" 0
assert_eq "contradicting receipts: nothing is purged" "due 2" "$(state_counts)"
assert_eq "contradicting receipts: each item failed with the failed receipt's reason" "2 disk error" \
  "$(sql "SELECT count(*) || ' ' || min(reason) FROM lethe.batch_items WHERE outcome = 'failed'")"
assert_eq "contradicting receipts: no item_purged record" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")"

# ---- 18. one item id in two tenants: never in one batch ----------------------------------------
# The key is (tenant_id, item_id) and a receipt names the id alone. Two tenants' items with the
# same id, in one location, go to two batches: a deleter that deletes one and fails the other
# gets the failure recorded for the one it failed.
fresh 1
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" "second tenant"; mk_workspace "$T2" "$W2" EU
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
     VALUES ('$T2', '${ITEMS[0]}', '$W2', 'prompt', 'EU', 'file://$STORE/second-tenant-copy', '2026-01-01T00:00:00Z')" >/dev/null
mk_event "$T2" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" "REQ-T2"
executor by_tenant "while IFS= read -r l; do case \"\$l\" in *'\"tenant_id\":\"$T2\"'*) echo \"failed \${l:12:36} storage offline\" ;; '{\"item_id\":'*) echo \"deleted \${l:12:36}\" ;; esac; done < \"\$1\""
write_config "$WORK/c18.conf" "executor: { command = \"$WORK/by_tenant\"; };"
run_lethe --config "$WORK/c18.conf" run
assert_rc "one id in two tenants: the run exits 0" 0
assert_eq "one id in two tenants: two batches, one item each" "2 1" \
  "$(sql "SELECT count(*) || ' ' || max(items) FROM lethe.batches")"
assert_eq "one id in two tenants: the first tenant's item is purged" "purged" \
  "$(sql "SELECT state FROM lethe.item_status WHERE tenant_id = '$T' AND item_id = '${ITEMS[0]}'")"
assert_eq "one id in two tenants: the second's failed, and keeps its locator" "failed storage offline file://$STORE/second-tenant-copy" \
  "$(sql "SELECT bi.outcome || ' ' || bi.reason || ' ' || i.locator FROM lethe.batch_items bi JOIN lethe.items i USING (tenant_id, item_id) WHERE tenant_id = '$T2'")"
assert_contains "... its failure in the log names its batch and location, as every batch line does" \
  "warning: batch $(sql "SELECT batch_id FROM lethe.batch_items WHERE tenant_id = '$T2'") (EU): item ${ITEMS[0]} failed: storage offline" "$ERR"

# ---- 19. a rerun takes its own batch's (tenant, item) rows ---------------------------------------
# Both tenants' items with one id fail, each in its own batch; a rerun of the first tenant's
# batch puts that tenant's item alone in a new batch and drives it.
fresh 1
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" "second tenant"; mk_workspace "$T2" "$W2" EU
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
     VALUES ('$T2', '${ITEMS[0]}', '$W2', 'prompt', 'EU', 'file://$STORE/second-tenant-copy', '2026-01-01T00:00:00Z')" >/dev/null
mk_event "$T2" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" "REQ-T2"
executor fail_all 'for id in $(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"); do echo "failed $id offline"; done'
write_config "$WORK/c19.conf" "executor: { command = \"$WORK/fail_all\"; };"
run_lethe --config "$WORK/c19.conf" run
B1=$(sql "SELECT batch_id FROM lethe.batch_items WHERE tenant_id = '$T'")
executor del_all 'for id in $(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/"); do echo "deleted $id"; done'
write_config "$WORK/c19b.conf" "executor: { command = \"$WORK/del_all\"; };"
run_lethe --config "$WORK/c19b.conf" rerun "$B1" --operator user_a
assert_rc "rerun with one id in two tenants: exits 0" 0
assert_contains "rerun with one id in two tenants: one item purged" ": 1 purged, 0 failed" "$OUT"
assert_eq "rerun with one id in two tenants: the rerun batch's own tenant's item is purged" "purged" \
  "$(sql "SELECT state FROM lethe.item_status WHERE tenant_id = '$T' AND item_id = '${ITEMS[0]}'")"
assert_eq "rerun with one id in two tenants: the other tenant's item is in no new batch" "failed" \
  "$(sql "SELECT string_agg(coalesce(outcome, 'open'), ',') FROM lethe.batch_items WHERE tenant_id = '$T2'")"

# ---- 20. a rerun honours what changed since the batch failed --------------------------------------
# A request cancelled after its batch failed: the items are not due any more (SPEC §3, a failed
# batch's items were never handed over), so a rerun batches none of them, as a run would not.
fresh 2
run_lethe --config "$WORK/c19.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe --config "$WORK/c19b.conf" status
assert_contains "before the cancellation: status lists the failed batch" \
  "batches: 0 open, 1 failed with items not purged since" "$OUT"
mk_event "$T" deletion_cancelled "$(date -u +%FT%TZ)" "REQ-$round"
run_lethe --config "$WORK/c19b.conf" rerun "$FB" --operator user_a
assert_eq "rerun after a cancellation: exit 0, nothing due, no new batch" \
  "0 rerun: failed batch $FB: none of its items is due any more; no new batch" "$RC $OUT"
assert_eq "rerun after a cancellation: nothing purged, the items live" "0 live live" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'") $(for i in "${ITEMS[@]}"; do
       sql "SELECT state FROM lethe.item_status WHERE item_id = '$i'"; done | tr '\n' ' ' | sed 's/ $//')"
assert_eq "rerun after a cancellation: its run record counts the withdrawal it derived" "1 0 0" \
  "$(sql "SELECT events || ' ' || batches || ' ' || purged FROM lethe.runs WHERE operator = 'user_a'")"
# Its audit record says so: "redrive" (an outside tryout's finding) told an auditor the deleter
# was run again on the batch.
assert_eq "rerun after a cancellation: its operator_rerun record says no new batch, not a re-drive" \
  "no new batch: none of its items was due" \
  "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'operator_rerun' AND batch_id = '$FB'")"
# Its items owe nothing now: status does not send the operator to rerun it again.
run_lethe --config "$WORK/c19b.conf" status
assert_contains "rerun after a cancellation: status lists no failed batch" \
  "batches: 0 open, 0 failed with items not purged since" "$OUT"
assert_not_contains "rerun after a cancellation: nor the batch" "$FB" "$OUT"
# A late ack of it counts (the deletion happened), and says the items owed nothing.
run_lethe --config "$WORK/c19b.conf" ack "$FB" --operator user_a
assert_eq "a late ack after the cancellation: taken, with a warning" \
  "0|warning: ack: 2 items of failed batch $FB owed nothing when acknowledged (the deletion_request they were batched under was withdrawn at $(sql "SELECT lethe.iso_utc(withdrawn_at) FROM lethe.obligations WHERE reference = 'REQ-$round'")): recorded as purged, as the deletion its deleter made
warning: ack: 2 items of failed batch $FB had a failure reported for them (item $(sql "SELECT item_id FROM lethe.batch_items WHERE batch_id = '$FB' ORDER BY ord LIMIT 1"): offline, and others): recorded as purged on this acknowledgement's word" \
  "$RC|$(grep '^warning: ack:' <<<"$ERR")"
# A rule disabled in the config since: its items are not batched again either.
fresh 1
run_lethe --config "$WORK/c19.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches")
cp "$WORK/c19b.conf" "$WORK/c20.conf"
echo 'rules: { deletion_request: { enabled = false; }; };' >> "$WORK/c20.conf"
run_lethe --config "$WORK/c20.conf" rerun "$FB" --operator user_b
assert_eq "rerun with the rule disabled: nothing due, nothing purged" \
  "0 rerun: failed batch $FB: none of its items is due any more; no new batch|0" \
  "$RC $OUT|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")"
run_lethe --config "$WORK/c20.conf" status
assert_contains "rerun with the rule disabled: status lists no failed batch" \
  "batches: 0 open, 0 failed with items not purged since" "$OUT"

# ---- 21. a rerun judges the batch once it holds the lock -----------------------------------------
# The batch is acknowledged while the rerun waits (here on the geos its executor.locations key is
# checked against): the rerun then finds it acknowledged and does nothing, instead of driving
# the batch the ack closed (a manifest of no items, an executor run, an operator_rerun record).
fresh 1
run_lethe --config "$WORK/c8a.conf" run   # one open batch, no executor
OB=$(sql "SELECT batch_id FROM lethe.batches")
write_config "$WORK/c21.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; locations: { EU = \"$FS_DELETE --root $STORE\"; }; };"
psql -X -q -c "BEGIN" -c "LOCK TABLE lethe.geos IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null 2>&1 &
LKP=$!
for _ in $(seq 100); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'lethe.geos'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
    sleep 0.05
done
"$LETHE" --config "$WORK/c21.conf" rerun "$OB" --operator user_c >"$WORK/c21.out" 2>&1 &
RRP=$!
sleep 1
run_lethe ack "$OB"
assert_rc "an ack while a rerun waits: exit 0" 0
wait "$RRP"; RC=$?; wait "$LKP"
assert_eq "the rerun then finds the batch acknowledged: exit 2, nothing done" \
  "2 error: rerun: batch $OB is acknowledged; there is nothing to rerun|0 0" \
  "$RC $(head -1 "$WORK/c21.out")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'operator_rerun'") $(sql "SELECT count(*) FROM lethe.runs WHERE operator = 'user_c'")"

# ---- 22. a stop request while the batches are being formed ----------------------------------------
# Made slow here by a trigger of the test's on lethe.batches: the stop request comes while the
# emission's statement runs. No batch is emitted, and the items stay due, free for a withdrawal.
fresh 2
sql "CREATE FUNCTION public.slow_batches() RETURNS trigger LANGUAGE plpgsql AS
       \$\$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END \$\$;
     CREATE TRIGGER slow_batches AFTER INSERT ON lethe.batches
       FOR EACH STATEMENT EXECUTE FUNCTION public.slow_batches()" >/dev/null
"$LETHE" --config "$WORK/c9.conf" run >"$WORK/c22.out" 2>"$WORK/c22.err" &
LPID=$!
for _ in $(seq 100); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name LIKE 'lethe/run/%'")" = 1 ] && break
    sleep 0.05
done
kill -TERM "$LPID"; wait "$LPID"; RC=$?
assert_eq "SIGTERM while batches are formed: exit 1, interrupted, no batch, nothing in flight" \
  "1 interrupted 0 0|due due" \
  "$RC $(sql "SELECT outcome || ' ' || batches FROM lethe.runs") $(sql "SELECT count(*) FROM lethe.batches")|$(for i in "${ITEMS[@]}"; do
       sql "SELECT state FROM lethe.item_status WHERE item_id = '$i'"; done | tr '\n' ' ' | sed 's/ $//')"
assert_contains "... and says so" "while selecting due items; no batch was emitted" "$(cat "$WORK/c22.out" "$WORK/c22.err")"
assert_eq "... no batch_emitted record" 0 "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'batch_emitted'")"
sql "DROP TRIGGER slow_batches ON lethe.batches" >/dev/null
run_lethe --config "$WORK/c9.conf" run
assert_contains "the next run emits and purges them" "2 due, 1 batches, 2 purged" "$OUT"

# ---- 23. one location's spool gone bad does not stop the others ---------------------------------
# An EU batch left open whose manifest can no longer be written (a directory in its place): the
# run fails, says why, and still purges what is due in the US.
fresh 2
LETHE_FAULT=after_manifest "$LETHE" --config "$WORK/c9.conf" run >/dev/null 2>&1
gone_backends
EB=$(sql "SELECT batch_id FROM lethe.batches")
rm "$WORK/spool/EU/$EB.jsonl"; mkdir "$WORK/spool/EU/$EB.jsonl"; touch "$WORK/spool/EU/$EB.jsonl/x"
WU=$(uuid); UI=$(uuid); mk_workspace "$T" "$WU" US; mk_item "$T" "$UI" "$WU" prompt US 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u -d '-1 hour' +%FT%TZ)" REQ-US workspace_id "$WU"
run_lethe --config "$WORK/c9.conf" run
assert_eq "a batch whose manifest cannot be written: exit 1, the run failed" "1 failed" \
  "$RC $(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_contains "... naming the batch" "$EB" "$(sql "SELECT error FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_eq "... the US item is purged all the same, the EU batch stays open" "purged open" \
  "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$UI'") $(sql "SELECT state FROM lethe.batches WHERE batch_id = '$EB'")"
rm -rf "$WORK/spool/EU/$EB.jsonl"
run_lethe --config "$WORK/c9.conf" run
assert_eq "the spool mended, the next run purges the EU items" "0 purged 3" "$RC $(state_counts)"

# ---- 24. a run killed after a batch failed still counts it ---------------------------------------
# Two batches of two items, each item failed by the deleter; the run is killed after the first
# batch closed failed. Its record counts what it did before it died: two batches emitted with
# four items, two items and one batch failed; the run that finds it dead says so in the audit.
fresh 4
write_config "$WORK/c24.conf" "executor: { command = \"$WORK/fail_all\"; };" "batch: { max_items = 2; };"
LETHE_FAULT=after_manifest@2 "$LETHE" --config "$WORK/c24.conf" run >/dev/null 2>&1
gone_backends
assert_eq "killed after its first batch failed: the record counts it" "running 4 2 0 2 1" \
  "$(sql "SELECT outcome || ' ' || items_due || ' ' || batches || ' ' || purged || ' ' || failed || ' ' || failed_batches FROM lethe.runs")"
DEAD=$(sql "SELECT run_id FROM lethe.runs")
run_lethe --config "$WORK/c24.conf" run
assert_contains "the next run records it died, with its failed batch" "died, failed items 2, failed batches 1, found dead by run" \
  "$(sql "SELECT detail FROM lethe.audit WHERE kind = 'run_finished' AND run_id = '$DEAD'")"

# ---- a deleter stuck repeating a receipt: kept once, memory follows the batch ----------------
# 400,000 copies of one receipt and 1,000 receipts of ids outside the batch: each item's receipt
# is kept once, the rest counted and dropped (lethe once kept every line, about 120 bytes each,
# and sent them all to the database in one array).
fresh 3
cat > "$WORK/stuck" <<EOS
#!/bin/sh
out=\$($FS_DELETE --root $STORE "\$1"); echo "\$out"
yes "\$(echo "\$out" | head -1)" | head -n 400000
i=0; while [ \$i -lt 1000 ]; do echo "deleted \$(cat /proc/sys/kernel/random/uuid)"; i=\$((i+1)); done
EOS
chmod +x "$WORK/stuck"
write_config "$WORK/stuck.conf" "executor: { command = \"$WORK/stuck\"; };"
run_lethe --config "$WORK/stuck.conf" run
assert_rc "a run whose deleter repeats a receipt 400,000 times exits 0" 0
assert_contains "... purges each item once" "3 purged, 0 failed items" "$OUT"
assert_contains "... says how many receipts repeated one given before" \
  "receipts repeated one given before for the same item; ignored" "$ERR"
assert_contains "... with their number" "400000 receipts repeated" "$ERR"
assert_contains "... and counts the receipts for items outside the batch" \
  "1000 receipts named items outside the batch; ignored" "$ERR"
assert_eq "... showing the first ten of them" "10 1" \
  "$(grep -c 'ignoring a receipt for an item not in the batch' <<<"$ERR") $(grep -c 'the rest such are counted, not shown' <<<"$ERR")"
assert_eq "one item_purged record each" "3" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")"
# Its peak memory, against the same run with a deleter that repeats nothing (under the
# sanitizers too): the 400,000 lines once cost about 50 MB more.
peak() { # CONFIG: a fresh catalog's run, its peak RSS in KB
    fresh 3
    /usr/bin/time -f '%M' -o "$WORK/peak" "$LETHE" --config "$1" -q run >/dev/null 2>&1
    tail -1 "$WORK/peak"
}
write_config "$WORK/plain.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
base=$(peak "$WORK/plain.conf"); stuck=$(peak "$WORK/stuck.conf")
if [ $((stuck - base)) -lt 10000 ]; then ok "... and its peak memory is the plain run's, within 10 MB ($stuck KB against $base KB)"
else not_ok "... and its peak memory is the plain run's, within 10 MB" "peak RSS: $stuck KB against $base KB"; fi

# ---- an operator pipes the run into head: the run goes on --------------------------------------
# The deleter reports progress on stderr, which lethe passes to its own stderr, and head has
# closed it long before: a write to a closed pipe must not kill the run between a deletion and
# its record (SIGPIPE would end it with 141 and leave its batches open).
fresh 6
cat > "$WORK/noisy" <<EOS
#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo "progress \$i" >&2; done
exec $FS_DELETE --root $STORE "\$1"
EOS
chmod +x "$WORK/noisy"
write_config "$WORK/noisy.conf" "executor: { command = \"$WORK/noisy\"; };" "batch: { max_items = 2; };"
("$LETHE" --config "$WORK/noisy.conf" run 2>&1; echo "rc=$?" > "$WORK/noisy.rc") | head -2 >/dev/null
assert_eq "a run whose output is closed is not killed: it exits 1, its summary unwritten (not 141)" \
  "rc=1" "$(cat "$WORK/noisy.rc")"
assert_eq "... and records its end and every purge" "succeeded 6 0" \
  "$(sql "SELECT outcome || ' ' || (SELECT count(*) FROM lethe.item_status WHERE state = 'purged') || ' ' || (SELECT count(*) FROM lethe.batches WHERE state = 'open') FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"

# The run's database session ends while the deleter runs (a restart, pg_terminate_backend): the
# error says the connection was lost, not that a table or a disk failed, and the next run
# finishes the batch.
fresh 2
cat > "$WORK/cutter" <<EOS
#!/bin/sh
psql -X -q -A -t -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lethe/run/%'" >/dev/null
exec $FS_DELETE --root $STORE "\$1"
EOS
chmod +x "$WORK/cutter"
write_config "$WORK/cutter.conf" "executor: { command = \"$WORK/cutter\"; };"
run_lethe --config "$WORK/cutter.conf" run
assert_rc "a run whose session is ended while its deleter runs exits 1" 1
assert_contains "... saying the connection to the database was lost" \
  "the connection to the database was lost: " "$ERR"
run_lethe --config "$WORK/c1.conf" run
assert_eq "... and the next run finishes the batch, each item purged once" "0 2 2" \
  "$RC $(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged' AND tenant_id = '$T'")"

# The same with a deleter that then exits non-zero: nothing of the attempt was recorded, so the
# run does not say the batch failed (it stays open), and the next run runs the deleter again.
fresh 2
cat > "$WORK/cutter1" <<EOS
#!/bin/sh
psql -X -q -A -t -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lethe/run/%'" >/dev/null
$FS_DELETE --root $STORE "\$1"
exit 1
EOS
chmod +x "$WORK/cutter1"
write_config "$WORK/cutter1.conf" "executor: { command = \"$WORK/cutter1\"; };"
run_lethe --config "$WORK/cutter1.conf" run
assert_contains "a deleter exiting 1 after the session was cut: the batch is said to stay open" \
  "executor exit status 1; nothing of this attempt was recorded, so the batch stays open and the next run runs its executor again" "$ERR"
assert_eq "... and not said to have failed, as it has not" "0 open" \
  "$(grep -c 'failed: executor' <<<"$ERR") $(sql "SELECT state FROM lethe.batches")"
run_lethe --config "$WORK/c1.conf" run
assert_eq "... the next run finishes the batch, each item purged once" "0 2 2" \
  "$RC $(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged' AND tenant_id = '$T'")"

# A deleter that prints its progress on stdout: the first 100 lines that are not receipts are
# shown, the rest counted, so that lethe's own lines are not buried in the log.
fresh 2
cat > "$WORK/chatty" <<EOS
#!/bin/sh
i=0; while [ \$i -lt 250 ]; do echo "progress \$i"; i=\$((i + 1)); done
exec $FS_DELETE --root $STORE "\$1"
EOS
chmod +x "$WORK/chatty"
write_config "$WORK/chatty.conf" "executor: { command = \"$WORK/chatty\"; };"
run_lethe --config "$WORK/chatty.conf" run
assert_eq "a deleter chatty on stdout: the run exits 0 and purges" "0 2" \
  "$RC $(sql "SELECT count(*) FROM lethe.item_status WHERE state = 'purged'")"
assert_eq "... 100 of its lines are shown, the first ones" "100 progress 0 progress 99" \
  "$(printf '%s\n' "$ERR" | grep -c '^executor: batch [0-9a-f-]* (EU): stdout, not a receipt: progress ') $(printf '%s\n' "$ERR" | grep '^executor: batch [0-9a-f-]* (EU): stdout, not a receipt: progress ' | sed -n '1s/^.*stdout, not a receipt: //p;$s/^.*stdout, not a receipt: //p' | tr '\n' ' ' | sed 's/ $//')"
assert_contains "... then it says the rest are counted" \
  "warning: executor: batch $(sql "SELECT batch_id FROM lethe.batches") (EU): more than 100 lines of its stdout are not receipts: the rest are counted, not shown (a deleter's own log belongs on stderr)" "$ERR"
assert_contains "... and the total at the batch's end, naming the batch and location" "warning: batch $(sql "SELECT batch_id FROM lethe.batches") (EU): 250 lines of the executor's output were not receipts; ignored" "$ERR"

# ---- what a run needs, judged before it does anything --------------------------------------------
# A missing deleter failed every batch with the shell's 127, run after run, with no word of the
# setting; an anchor or metrics file the lethe user could not write was found only after the run
# had purged, which then exited 1 with no anchor line. Each is now a config error (exit 2) before
# anything is done, naming the file, line and setting.
fresh 2
written_runs() { sql "SELECT (SELECT count(*) FROM lethe.runs) || ' ' || (SELECT count(*) FROM lethe.batches)"; }
before_runs=$(written_runs)
refused_run() { # NAME CONF EXPECTED_STDERR [ARGS...]
    local name=$1 conf=$2 expect=$3; shift 3
    run_lethe --config "$conf" run "$@"
    if [ "$RC" = 2 ] && [ "$ERR" = "$expect" ] && [ "$(written_runs)" = "$before_runs" ]; then ok "$name"
    else not_ok "$name" "exit $RC" "expected: $expect" "actual:   $ERR" "runs batches: $before_runs -> $(written_runs)"; fi
}
ME=$(id -un)
write_config "$WORK/p1.conf" "executor: { command = \"$WORK/no-such-deleter --root $STORE\"; };"
refused_run "a deleter that does not exist" "$WORK/p1.conf" \
"error: config: '$WORK/p1.conf' line 2: 'executor.command': its program '$WORK/no-such-deleter': No such file or directory: \"$WORK/no-such-deleter --root $STORE\"
hint: executor.command starts the deleter: name an executable file the lethe user ($ME) can run, e.g. \"/usr/libexec/lethe/fs-delete --root /srv/data\"; nothing was done"
printf 'not a program\n' >"$WORK/plain"; chmod 0644 "$WORK/plain"
write_config "$WORK/p2.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; locations: { EU = \"$WORK/plain\"; }; };"
run_lethe --config "$WORK/p2.conf" run
assert_eq "a location's deleter that cannot be executed: exit 2, nothing done" "2 $before_runs" "$RC $(written_runs)"
assert_contains "... named by its setting" "'executor.locations.EU': its program '$WORK/plain' cannot be executed: Permission denied: \"$WORK/plain\"" "$ERR"
# Every run refuses, so no location is purged: the hourly check says so now, not once the
# lookahead has run out with no run succeeded.
run_lethe --config "$WORK/p2.conf" status --check
assert_rc "status --check with that config: exit 4" 4
assert_contains "... naming the setting (a warning)" "warning: config: '$WORK/p2.conf' line 2: 'executor.locations.EU': its program '$WORK/plain' cannot be executed" "$ERR"
assert_not_contains "... whose hint does not say that nothing was done (a check does nothing)" "nothing was done" "$ERR"
assert_contains "... and what it stops" "status: check failed: a deleter program of the config cannot be run on this host: every run with it refuses to start (exit 2), and no location is purged" "$ERR"
write_config "$WORK/p3.conf" 'executor: { command = "   "; };'
run_lethe --config "$WORK/p3.conf" run
assert_eq "a command of spaces is refused as an empty one" \
  "2 error: config: '$WORK/p3.conf' line 2: 'executor.command': must not be empty, got \"   \"" "$RC ${ERR%%$'\n'*}"
# A quoted path, or one with its spaces escaped, is judged as the shell reads it: it was left to
# the shell, and every batch failed with its status 127, run after run.
NOSUCH="$WORK/no such dir/eu-delete"
for form in "'%s'" '\\"%s\\"' 'BS'; do
    write_config "$WORK/pq.conf"
    if [ "$form" = BS ]; then
        printf 'executor: { command = "%s --root %s"; };\n' "$(printf '%s' "$NOSUCH" | sed 's/ /\\\\ /g')" "$STORE" >>"$WORK/pq.conf"
    else
        printf "executor: { command = \"$form --root %s\"; };\n" "$NOSUCH" "$STORE" >>"$WORK/pq.conf"
    fi
    case $form in BS) how="with its spaces escaped" ;; \'*) how="in single quotes" ;; *) how="in double quotes" ;; esac
    run_lethe --config "$WORK/pq.conf" run
    assert_eq "a deleter path $how that does not exist: exit 2, nothing done" "2 $before_runs" "$RC $(written_runs)"
    assert_contains "... naming the program as the shell reads it" \
      "line 3: 'executor.command': its program '$NOSUCH': No such file or directory" "$ERR"
done
# A quote not closed (the shell refuses the whole command), a first word that is an empty quote
# (127), and a backslash inside double quotes, which the shell keeps before a space.
write_config "$WORK/pq.conf"
printf 'executor: { command = "%s --root %s"; };\n' "'$WORK/fs del" "$STORE" >>"$WORK/pq.conf"
run_lethe --config "$WORK/pq.conf" run
assert_eq "a deleter command with a quote not closed: exit 2, nothing done" "2 $before_runs" "$RC $(written_runs)"
assert_contains "... saying so" "line 3: 'executor.command': a quote in it is not closed, and the shell refuses the command:" "$ERR"
write_config "$WORK/pq.conf"
printf 'executor: { command = "%s --root %s"; };\n' "''" "$STORE" >>"$WORK/pq.conf"
run_lethe --config "$WORK/pq.conf" run
assert_eq "a deleter command whose first word is '': exit 2" "2 $before_runs" "$RC $(written_runs)"
assert_contains "... saying so" "line 3: 'executor.command': its program is empty (its first word is an empty quote):" "$ERR"
mkdir -p "$WORK/dir with space"; cp "$FS_DELETE" "$WORK/dir with space/eu-delete"
write_config "$WORK/pq.conf"
printf 'executor: { command = "\\"%s\\" --root %s"; };\n' "$WORK/dir with\\ space/eu-delete" "$STORE" >>"$WORK/pq.conf"
run_lethe --config "$WORK/pq.conf" run
assert_eq "a backslash before a space inside double quotes is kept, as the shell keeps it: exit 2" "2 $before_runs" "$RC $(written_runs)"
assert_contains "... naming the program with it" "its program '$WORK/dir with\\ space/eu-delete': No such file or directory" "$ERR"
# An operator right after the path ends the word, as a blank does: '/x/del;true' runs /x/del.
for cmd in "$WORK/nope;true" "$WORK/nope|cat" "$WORK/nope>/dev/null" "'$NOSUCH'&& true"; do
    write_config "$WORK/pq.conf"
    printf 'executor: { command = "%s --root %s"; };\n' "$cmd" "$STORE" >>"$WORK/pq.conf"
    run_lethe --config "$WORK/pq.conf" run
    assert_eq "a deleter command $cmd: exit 2, nothing done" "2 $before_runs" "$RC $(written_runs)"
    case $cmd in \'*) prog=$NOSUCH ;; *) prog=$WORK/nope ;; esac
    assert_contains "... naming the program the shell would run" "its program '$prog': No such file or directory" "$ERR"
done
mkdir -p "$WORK/with space"; cp "$FS_DELETE" "$WORK/with space/eu-delete"
write_config "$WORK/pq.conf"
printf 'executor: { command = "%s --root %s"; };\n' "'$WORK/with space/eu-delete'" "$STORE" >>"$WORK/pq.conf"
run_lethe --config "$WORK/pq.conf" status --check
assert_not_contains "a quoted path that names a deleter is taken" "its program" "$ERR"
write_config "$WORK/p4.conf" "executor: { command = \"PATH=/usr/bin exec $FS_DELETE --root $STORE\"; };"
run_lethe --config "$WORK/p4.conf" run
assert_rc "a command the shell rewrites first (an assignment, exec) is the shell's to judge: it runs" 0
before_runs=$(written_runs)
mkdir -p "$WORK/locked"; chmod 0555 "$WORK/locked"
# The spool is nobody's to write too: only the anchor file is refused here.
mkdir -p "$WORK/spool-nobody"; [ "$(id -u)" = 0 ] && chown nobody "$WORK/spool-nobody"
sed -e "s|anchor_file = \"[^\"]*\"|anchor_file = \"$WORK/locked/anchors.jsonl\"|" \
    -e "s|directory = \"$WORK/spool\"|directory = \"$WORK/spool-nobody\"|" "$WORK/p4.conf" >"$WORK/p5.conf"
if [ "$(id -u)" = 0 ]; then   # root writes anywhere: the directory check is judged as nobody
    # (the binary itself: under make check-citus $LETHE is a wrapper that calls it beside it)
    real=$LETHE; [ -x "$(dirname "$LETHE")/lethe.real" ] && real=$(dirname "$LETHE")/lethe.real
    cp "$real" "$WORK/lethe-nobody"; chmod 0755 "$WORK" "$WORK/lethe-nobody"; chmod 0644 "$WORK/p5.conf"
    OUT=$(cd / && runuser -u nobody -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" \
          "$WORK/lethe-nobody" --config "$WORK/p5.conf" run 2>&1); RC=$?; AS=nobody
else
    run_lethe --config "$WORK/p5.conf" run; OUT=$ERR; AS=$ME
fi
assert_eq "an anchor file in a directory the lethe user cannot write: exit 2 before anything is done" \
  "2 $before_runs" "$RC $(written_runs)"
assert_contains "... naming the file, line and setting" \
  "error: config: '$WORK/p5.conf' line 3: 'audit.anchor_file': cannot be written (no file can be created in its directory '$WORK/locked': Permission denied): \"$WORK/locked/anchors.jsonl\"" "$OUT"
assert_contains "... and who runs it" "(lethe runs as user $AS); nothing was done" "$OUT"
# A write-only anchor file was reported "cannot be written: Permission denied": a run reads its
# anchors back before it appends, so it is reading that is refused.
mkdir -p "$WORK/wo"; : >"$WORK/wo/anchors.jsonl"; chmod 0200 "$WORK/wo/anchors.jsonl"
sed -e "s|anchor_file = \"[^\"]*\"|anchor_file = \"$WORK/wo/anchors.jsonl\"|" \
    -e "s|directory = \"$WORK/spool\"|directory = \"$WORK/spool-nobody\"|" "$WORK/p4.conf" >"$WORK/p7.conf"
if [ "$(id -u)" = 0 ]; then
    chown nobody "$WORK/wo" "$WORK/wo/anchors.jsonl"; chmod 0644 "$WORK/p7.conf"
    OUT=$(cd / && runuser -u nobody -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" \
          "$WORK/lethe-nobody" --config "$WORK/p7.conf" run 2>&1); RC=$?
else
    run_lethe --config "$WORK/p7.conf" run; OUT=$ERR
fi
assert_eq "a write-only anchor file: exit 2 before anything is done" "2 $before_runs" "$RC $(written_runs)"
assert_contains "... saying that it cannot be read" \
  "error: config: '$WORK/p7.conf' line 3: 'audit.anchor_file': cannot be read (it can be appended to, but a run reads its anchors back first): \"$WORK/wo/anchors.jsonl\"" "$OUT"
assert_contains "... and that it must be readable" "hint: audit.anchor_file names a file the lethe user can read and append to" "$OUT"
mkdir -p "$WORK/adir"
sed "s|anchor_file = \"[^\"]*\"|anchor_file = \"$WORK/adir\"|" "$WORK/p4.conf" >"$WORK/p6.conf"
run_lethe --config "$WORK/p6.conf" run
assert_eq "an anchor file that is a directory: exit 2" \
  "2 error: config: '$WORK/p6.conf' line 3: 'audit.anchor_file': cannot be written (it is a directory): \"$WORK/adir\"" "$RC ${ERR%%$'\n'*}"
run_lethe --config "$WORK/p4.conf" run --metrics-file "$WORK/no/such/dir/lethe.prom"
assert_eq "a --metrics-file whose directory is missing: exit 2" \
  "2 error: run: --metrics-file \"$WORK/no/such/dir/lethe.prom\": cannot be written: its directory '$WORK/no/such/dir': No such file or directory" "$RC ${ERR%%$'\n'*}"
# `-o -` writes to standard output; --metrics-file - wrote a file named "-" in the working
# directory, with exit 0: it is refused before anything is done.
cd "$WORK/adir"
run_lethe --config "$WORK/p4.conf" run --metrics-file -
cd - >/dev/null
assert_eq "--metrics-file -: exit 2, no file named '-', nothing run" "2 [] $before_runs" \
  "$RC [$(ls -A "$WORK/adir")] $(written_runs)"
assert_eq "... saying the metrics go to a file" \
  "error: run: --metrics-file -: the metrics are written to a file, never to standard output (each run keeps the other shards' series the file holds); name the node exporter's textfile, e.g. --metrics-file /var/lib/prometheus/node-exporter/lethe.prom" \
  "${ERR%%$'\n'*}"
printf 'metrics: { file = "%s"; };\n' "$WORK/no/such/dir/lethe.prom" >>"$WORK/p4.conf"
run_lethe --config "$WORK/p4.conf" run
assert_eq "a metrics.file whose directory is missing: exit 2, naming its line" \
  "2 error: config: '$WORK/p4.conf' line 4: 'metrics.file': cannot be written (its directory '$WORK/no/such/dir': No such file or directory): \"$WORK/no/such/dir/lethe.prom\"" \
  "$RC ${ERR%%$'\n'*}"
run_lethe --config "$WORK/p1.conf" rerun "$(uuid)"
assert_eq "rerun judges the same before anything is done" \
  "2 error: config: '$WORK/p1.conf' line 2: 'executor.command': its program '$WORK/no-such-deleter': No such file or directory: \"$WORK/no-such-deleter --root $STORE\"" \
  "$RC ${ERR%%$'\n'*}"
run_lethe --config "$WORK/p6.conf" run --dry-run
assert_rc "a dry run writes neither: it is not refused for them" 0
assert_eq "nothing was written by any of them" "$before_runs" "$(written_runs)"
chmod 0755 "$WORK/locked"
# The anchor file judged writable, then gone bad during the run (here a deleter that puts a
# directory in its place): the run's end is recorded, its line is not, and it says which.
A9="$WORK/a9/anchors.jsonl"; mkdir -p "$WORK/a9"
executor spoiler "rm -f '$A9'; mkdir '$A9'; exec $FS_DELETE --root $STORE \"\$1\""
sed "s|anchor_file = \"[^\"]*\"|anchor_file = \"$A9\"|" "$WORK/p4.conf" | grep -v '^metrics' \
  | sed "s|command = \"[^\"]*\"|command = \"$WORK/spoiler\"|" >"$WORK/p9.conf"
fresh 1
run_lethe --config "$WORK/p9.conf" run
assert_rc "an anchor file spoiled during the run: exit 1" 1
assert_contains "... its end recorded, its line not, said so" \
  "its end is recorded in the database, but not its anchor line; the next run's line anchors these chains too" "$ERR"
assert_not_contains "... not that the end could not be recorded" "could not record the end of the run" "$ERR"
assert_eq "... the run record says succeeded, its purge done" "succeeded 1" \
  "$(sql "SELECT outcome || ' ' || purged FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"

# ---- a re-driven batch that fails: its items are due again at the next run, not this one ------
# (sql/0058_failed_next_run.sql) They were put into new batches in the same run and failed again:
# two failures per run, "3 due, 6 failed items", a hung deleter waited out twice.
fresh 3
write_config "$WORK/open.conf"
run_lethe --config "$WORK/open.conf" run
assert_eq "a run without an executor leaves its batch open" "open" "$(sql "SELECT state FROM lethe.batches")"
executor fails 'exit 1'
write_config "$WORK/fails.conf" "executor: { command = \"$WORK/fails\"; };"
run_lethe --config "$WORK/fails.conf" run
assert_contains "the re-driven batch fails, and its items are not batched again in that run" \
  "0 due, 0 batches, 0 purged, 3 failed items, 1 failed batches" "$OUT"
assert_contains "... and its summary names the re-driven batch" ", 0 held, 1 open batch re-driven, " "$OUT"
assert_eq "... each item failed once" "1 3" \
  "$(sql "SELECT max(n) || ' ' || count(*) FROM (SELECT count(*) n FROM lethe.batch_items WHERE outcome = 'failed' GROUP BY item_id) x")"
run_lethe --config "$WORK/fails.conf" run
assert_contains "the next run gives them to the deleter again" "3 due, 1 batches, 0 purged, 3 failed items, 1 failed batches" "$OUT"
assert_not_contains "... a run that re-drove nothing does not say so" "re-driven" "$OUT"
assert_eq "... two failures each after two runs" "2" \
  "$(sql "SELECT min(n) FROM (SELECT count(*) n FROM lethe.batch_items WHERE outcome = 'failed' GROUP BY item_id) x")"

# ---- at a terminal, the executor's log lines are not glued to the progress line -----------------
fresh 4
executor chatty 'echo "working on one" >&2; sleep 0.6
tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/deleted \1/"'
write_config "$WORK/chatty.conf" "executor: { command = \"$WORK/chatty\"; }; batch: { max_items = 1; };"
script -qfec "$LETHE --config $WORK/chatty.conf run" /dev/null > "$WORK/chatty.tty" 2>&1
assert_eq "at a terminal: the run purges, showing its progress" "purged 4 yes" \
  "$(state_counts) $(grep -q 'items/s' "$WORK/chatty.tty" && echo yes)"
assert_eq "... and each executor line starts a line of its own" "4 0" \
  "$(tr '\r' '\n' < "$WORK/chatty.tty" | grep -c '^executor: working on one') $(grep -c 'items/s.*executor:' "$WORK/chatty.tty")"

# ---- an operator acknowledges by hand while the executor runs -----------------------------------
# The batch closed under the run: its executor's failure for an item the operator acknowledged
# contradicts a deletion on record, and is warned of as 'lethe ack --failed' warns of it (it was
# logged as a failure and dropped); and the run does not count as failed a batch it did not fail
# (a hand ack that failed an item, then the executor timing out, counted one, and a hand ack of
# every item made the run say every item had its receipt).
fresh 3
run_behind latefail 'echo "$LETHE_BATCH_ID" > "'"$WORK"'/latefail.id"
while [ ! -e "'"$WORK"'/latefail.go" ]; do sleep 0.1; done
ids=$(tail -n +2 "$1" | sed "s/^{\"item_id\":\"\([^\"]*\)\".*/\1/")
set -- $ids; echo "failed $1 permission denied"; echo "deleted $2"; echo "deleted $3"' 'timeout = "30s";'
for _ in $(seq 50); do [ -s "$WORK/latefail.id" ] && break; sleep 0.1; done
LB=$(cat "$WORK/latefail.id")
run_lethe --config "$WORK/conf-latefail" ack "$LB" --operator user_o
assert_eq "the operator's ack while the executor runs purges the batch" "0 acknowledged" \
  "$RC $(sql "SELECT state FROM lethe.batches WHERE batch_id = '$LB'")"
touch "$WORK/latefail.go"; wait "$LPID"; RC=$?
assert_eq "the run exits 0, its failed receipt warned of as a contradiction, no failure counted" \
  "0|warning: batch $LB was acknowledged already, by an earlier acknowledgement: 1 failed receipt given now changes nothing; its items are purged and on record
hint: if the deleter left objects behind, 'lethe reconcile --location GEO INVENTORY' finds them in the storage's inventory|0 0" \
  "$RC|$(grep -A1 'by an earlier acknowledgement' "$WORK/latefail.err")|$(sql "SELECT failed || ' ' || failed_batches FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_not_contains "... not as an item failed" "failed: permission denied" "$(cat "$WORK/latefail.err")"
assert_eq "... the audit holds the operator's purges alone" "3 0" \
  "$(sql "SELECT count(*) FILTER (WHERE kind = 'item_purged') || ' ' || count(*) FILTER (WHERE kind IN ('item_failed', 'batch_failed')) FROM lethe.audit WHERE batch_id = '$LB'")"
fresh 3
# (8 s: the operator's ack below must land before the timeout, also on a loaded machine)
run_behind latehang 'echo "$LETHE_BATCH_ID" > "'"$WORK"'/latehang.id"; exec sleep 30' 'timeout = "8s";'
for _ in $(seq 50); do [ -s "$WORK/latehang.id" ] && break; sleep 0.1; done
LB=$(cat "$WORK/latehang.id")
X1=$(sql "SELECT item_id FROM lethe.batch_items WHERE batch_id = '$LB' ORDER BY item_id LIMIT 1")
run_lethe --config "$WORK/conf-latehang" ack "$LB" --failed "$X1:still there" --operator user_o
wait "$LPID"; RC=$?
assert_eq "a batch the operator closed failed while its executor hung: the run failed no batch" \
  "0|0 0|1" \
  "$RC|$(sql "SELECT failed || ' ' || failed_batches FROM lethe.runs ORDER BY started_at DESC LIMIT 1")|$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'batch_failed' AND batch_id = '$LB'")"
assert_contains "... and says what happened" \
  "warning: batch $LB (EU) was failed by an acknowledgement made while its executor ran; the executor timed out after 8s; this attempt recorded 0 more failed items" \
  "$(cat "$WORK/latehang.err")"
assert_not_contains "... not that every item had its receipt" "every item had its receipt" "$(cat "$WORK/latehang.err")"
# ---- a failed batch whose item is held since ---------------------------------------------------------
# The batch fails; a hold is placed on one of its items; the next run purges the other. status does
# not send the operator to rerun it (the rerun could do nothing), and the rerun names the hold.
# A late ack of that batch says the deleter deleted the held item: it is recorded, and every
# view then agrees that the item is purged (the memory of held due items forgot it).
fresh 2
run_lethe --config "$WORK/c19.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe hold place --tenant "$T" --item "${ITEMS[0]}" --reason "legal hold" --reference LH-9 --operator user_h
HID=$(sql "SELECT hold_id FROM lethe.holds WHERE reference = 'LH-9'")
run_lethe --config "$WORK/c19b.conf" run
assert_eq "held since the failure: the next run purges the other item, holds this one" "held purged" \
  "$(for i in "${ITEMS[@]}"; do sql "SELECT state FROM lethe.item_status WHERE item_id = '$i'"; done | tr '\n' ' ' | sed 's/ $//')"
run_lethe --config "$WORK/c19b.conf" status
assert_contains "held since the failure: status lists no failed batch" \
  "batches: 0 open, 0 failed with items not purged since" "$OUT"
run_lethe --config "$WORK/c19b.conf" rerun "$FB" --operator user_h
assert_eq "held since the failure: the rerun batches nothing and names the hold" \
  "0|rerun: failed batch $FB: none of its items is due any more; no new batch|rerun: 1 of its items is held by hold $HID" \
  "$RC|$OUT|$(grep -o "rerun: 1 of its items is held by hold $HID" <<<"$ERR")"
assert_contains "... and where the other went" "rerun: 1 of its items was purged in batch" "$ERR"
assert_eq "... and its run record counts the held item, as a run's does" "1" \
  "$(sql "SELECT held FROM lethe.runs WHERE operator = 'user_h' ORDER BY started_at DESC LIMIT 1")"
run_lethe --config "$WORK/c19b.conf" ack "$FB" --operator user_h
assert_eq "a late ack of that batch is taken (the deleter says it deleted), and warns of the hold" \
  "0|ack: batch $FB acknowledged: 1 purged, 0 failed|warning: ack: 1 item of failed batch $FB was held when acknowledged (hold $HID): recorded as purged, as the deletion its deleter made
warning: ack: 1 item of failed batch $FB had a failure reported for it (item $(sql "SELECT item_id FROM lethe.batch_items WHERE batch_id = '$FB' AND outcome = 'purged'"): offline): recorded as purged on this acknowledgement's word" \
  "$RC|$OUT|$(grep '^warning: ack:' <<<"$ERR")"
assert_eq "... and every view says purged: item_status, status's counts, the summary" "purged|0 2|0" \
  "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '${ITEMS[0]}'")|$("$LETHE" --config "$WORK/c19b.conf" status --json | jq -r '"\(.totals.held) \(.totals.purged)"')|$("$LETHE" --config "$WORK/c19b.conf" export --summary | jq -r 'select(.rule == "all") | .pending')"
run_lethe --config "$WORK/c19b.conf" run
assert_eq "... and so does the next run: none held in its summary and run record" "0|0" \
  "$(grep -o ', [0-9]* held' <<<"$OUT" | tr -dc 0-9)|$(sql "SELECT held FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
# A rerun that batches some of a failed batch's items names the hold that keeps another.
fresh 2
run_lethe --config "$WORK/c19.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe hold place --tenant "$T" --item "${ITEMS[1]}" --reason "legal hold" --reference LH-10 --operator user_h
HID=$(sql "SELECT hold_id FROM lethe.holds WHERE reference = 'LH-10'")
run_lethe --config "$WORK/c19b.conf" rerun "$FB" --operator user_h
assert_contains "a rerun of a batch partly held: the due item goes again" "still-due items put in new batch" "$OUT"
assert_contains "... and the rerun names the hold on the other" "rerun: 1 of its items is held by hold $HID" "$ERR"

# A failed batch whose item is in an open batch since is not listed: the open batch is.
fresh 1
run_lethe --config "$WORK/c19.conf" run
run_lethe --config "$WORK/c8a.conf" run
run_lethe --config "$WORK/c8a.conf" status
assert_contains "a failed batch whose item is in an open batch since: only the open one is listed" \
  "batches: 1 open, 0 failed with items not purged since" "$OUT"

# A failed batch whose item is scheduled for later since (a shared copy's retention, once the
# request that made it due is cancelled) is not listed, and the rerun says until when.
fresh 0
SH=$(uuid); mk_item "$T" "$SH" "$W" prompt EU "$(date -u -d '-3 days' +%FT%TZ)" true
run_lethe --config "$WORK/c19.conf" run
FB=$(sql "SELECT batch_id FROM lethe.batches")
mk_event "$T" deletion_cancelled "$(date -u +%FT%TZ)" "REQ-$round"
run_lethe --config "$WORK/c19b.conf" rerun "$FB" --operator user_h
assert_contains "a failed batch whose item is scheduled since: the rerun says until when, and under which rule" \
  "rerun: 1 of its items is not due before $(sql "SELECT lethe.iso_utc(due_at) FROM lethe.item_status WHERE item_id = '$SH' AND state = 'scheduled'") (shared_retention)" "$ERR"
run_lethe --config "$WORK/c19b.conf" status
assert_contains "... and status does not list it" "batches: 0 open, 0 failed with items not purged since" "$OUT"

# Two open batches re-driven; while the first one's deleter runs, the second is acknowledged by
# hand: the run leaves it as the ack closed it (its manifest unchanged, no deleter started).
fresh 4
write_config "$WORK/two-open.conf" "" "batch: { max_items = 2; };"
run_lethe --config "$WORK/two-open.conf" run
assert_eq "two batches left open (no executor)" "2" "$(sql "SELECT count(*) FROM lethe.batches WHERE state = 'open'")"
executor slowfirst '[ -e "'"$WORK"'/started" ] || sleep 3
echo "$LETHE_BATCH_ID" >>"'"$WORK"'/started"
exec '"$FS_DELETE"' --root '"$STORE"' "$1"'
write_config "$WORK/conf-slow" "executor: { command = \"$WORK/slowfirst\"; timeout = \"30s\"; };" "batch: { max_items = 2; };"
rm -f "$WORK/started"
"$LETHE" --config "$WORK/conf-slow" run >"$WORK/slowfirst.out" 2>"$WORK/slowfirst.err" &
LPID=$!
for _ in $(seq 100); do pgrep -f "$WORK/slowfirst" >/dev/null && break; sleep 0.05; done
FIRST=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' AND attempts > 0")
OTHER=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' AND attempts = 0")
MF="$WORK/spool/EU/$OTHER.jsonl"
BEFORE=$(sha256sum <"$MF")
run_lethe --config "$WORK/two-open.conf" ack "$OTHER" --operator user_h
assert_rc "the second batch is acknowledged by hand while the first one's deleter runs" 0
wait "$LPID"
assert_eq "the run exits 0" "0" "$?"
assert_contains "... says it leaves that batch alone" \
  "batch $OTHER (EU) was acknowledged by an acknowledgement made during this run; not re-driven" \
  "$(cat "$WORK/slowfirst.err")"
assert_eq "... started the deleter for the first batch only" "$FIRST" "$(cat "$WORK/started")"
assert_eq "... and left the acknowledged batch's manifest as it was" "$BEFORE" "$(sha256sum <"$MF")"
assert_eq "every item purged once" "4 4" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged' AND tenant_id = '$T'")"
finish
