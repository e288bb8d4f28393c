# Logs under systemd and -q, against a real run with a real executor: with JOURNAL_STREAM naming
# stderr, entries go to journald with fields (RUN_ID, BATCH_ID, TENANT, PRIORITY); without a
# journald, "<N>" lines with the run id; a JOURNAL_STREAM that is not stderr changes nothing; an
# executor's stderr is at info; -q is errors only. journald is stood in for by a small listener
# on /run/systemd/journal/socket inside a mount namespace of this test's own (a tmpfs over /run),
# so the machine's /run is never touched.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-journal.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS journal_t' -c 'CREATE DATABASE journal_t' 2>/dev/null
export PGDATABASE=journal_t
"$LETHE" migrate >/dev/null

# due_items: a tenant whose deletion request makes one item due now; prints the tenant id.
due_items() {
    local t w i
    t=$(uuid); w=$(uuid); i=$(uuid)
    mk_tenant "$t" "t-$t"; mk_workspace "$t" "$w" EU
    mk_item "$t" "$i" "$w" prompt EU 2026-01-01T00:00:00Z
    mk_event "$t" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" "REQ-$t"
    echo "$t"
}
# A deleter that says something on stderr, as real ones do, then deletes.
write_config "$WORK/exec.conf" \
    "executor: { command = \"echo 'deleter: starting' >&2; $FS_DELETE --root $STORE\"; };"

# The listener: each datagram of journald's native protocol (KEY=VALUE lines, or KEY, a 64-bit
# length and the bytes) becomes one JSON object per line in its output file.
cat >"$WORK/journald.py" <<'EOF'
import json, os, signal, socket, struct, sys
sock_path, out_path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open(out_path, "w") as out:
    while True:
        d = s.recv(1 << 20)
        e, i = {}, 0
        while i < len(d):
            nl = d.index(b"\n", i)
            line = d[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                i = nl + 1
            else:
                k, n = line, struct.unpack("<Q", d[nl + 1:nl + 9])[0]
                v, i = d[nl + 9:nl + 9 + n], nl + 9 + n + 1
            e[k.decode()] = v.decode("utf-8", "replace")
        out.write(json.dumps(e) + "\n")
        out.flush()
EOF
# in_ns LISTEN ERRFILE CMD...: runs CMD in a mount namespace with an empty /run, a journald
# stand-in listening when LISTEN is 1 (its entries in $WORK/journal.jsonl), and stderr going to
# ERRFILE, which JOURNAL_STREAM names the way systemd does (device:inode).
cat >"$WORK/in_ns.sh" <<'EOF'
set -e
listen=$1 err=$2 work=$(dirname "$0"); shift 2
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
: >"$work/journal.jsonl"
if [ "$listen" = 1 ]; then
    python3 "$work/journald.py" /run/systemd/journal/socket "$work/journal.jsonl" & pid=$!
    n=0; while [ ! -S /run/systemd/journal/socket ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
fi
: >"$err"
set +e
JOURNAL_STREAM=$(stat -c %d:%i "$err") "$@" 2>"$err"; rc=$?
if [ "$listen" = 1 ]; then sleep 0.2; kill "$pid"; wait "$pid"; fi
exit $rc
EOF
in_ns() { OUT=$(unshare -m --propagation private sh "$WORK/in_ns.sh" "$@"); RC=$?; }

# entries FILTER: the listener's entries as "PRIORITY|MESSAGE" lines, FILTER a Python expression
# over the entry e.
entries() {
    python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if eval(sys.argv[2]): print(e.get("PRIORITY"), e.get("MESSAGE"), sep="|")' "$WORK/journal.jsonl" "$1"
}

if ! unshare -m --propagation private true 2>/dev/null; then
    ok "skipped: journald suites need a mount namespace (unshare -m, as root)"
    finish; exit
fi

# ---- no journald: "<N>" lines on the stream, every one with the run id -----------------------
T1=$(due_items)
in_ns 0 "$WORK/fallback.err" "$LETHE" --config "$WORK/exec.conf" run
assert_rc "a run under systemd without a journald exits 0" 0
RUN_ID=$(echo "$OUT" | sed -n 's/^run \([0-9a-f-]*\) succeeded.*/\1/p')
assert_eq "and purges its item" "1" "$(sql "SELECT purged FROM lethe.runs WHERE run_id = '$RUN_ID'")"
E=$(cat "$WORK/fallback.err")
assert_eq "every line has a priority prefix" "0" "$(grep -cv '^<[0-7]>' "$WORK/fallback.err")"
assert_eq "every line ends with the run id, after a space" "0" "$(grep -cv " \[run $RUN_ID\]\$" "$WORK/fallback.err")"
assert_contains "the start is at info" "<6>run $RUN_ID started: as_of" "$E"
assert_contains "the deleter's stderr is passed through at info" "<6>executor: deleter: starting [run $RUN_ID]" "$E"
assert_not_contains "nothing is at warning" "<4>" "$E"

# A stop request is answered at once, from the signal handler, as the other lines are written.
write_config "$WORK/slow.conf" \
    "executor: { command = \"sleep 1.5; $FS_DELETE --root $STORE\"; };"
T1b=$(due_items)
in_ns 0 "$WORK/stop.err" "$LETHE" --config "$WORK/slow.conf" run &
NS=$!
for _ in $(seq 100); do pgrep -f "sleep 1.5; $FS_DELETE" >/dev/null && break; sleep 0.05; done
for p in $(pgrep -f -- "--config $WORK/slow.conf run"); do   # lethe itself, not the shell around it
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = lethe ] && kill -TERM "$p"
done
wait "$NS"
RUN_ID=$(sql "SELECT run_id FROM lethe.runs WHERE outcome = 'interrupted'")
assert_eq "a stop request under systemd: at warning, with the run id, as the other lines" \
  "<4>warning: run: stop requested; stopping at the next safe point (an executor already running finishes first, so that its receipts are recorded: up to executor.timeout, 15m) [run $RUN_ID]" \
  "$(grep 'stop requested' "$WORK/stop.err")"

# ---- a journald: entries with fields, nothing on the stream -----------------------------------
T2=$(due_items)
in_ns 1 "$WORK/journal.err" "$LETHE" --config "$WORK/exec.conf" run
assert_rc "a run under systemd with a journald exits 0" 0
RUN_ID=$(echo "$OUT" | sed -n 's/^run \([0-9a-f-]*\) succeeded.*/\1/p')
B2=$(sql "SELECT b.batch_id FROM lethe.batches b JOIN lethe.batch_items bi USING (batch_id) WHERE bi.tenant_id = '$T2'")
assert_eq "the stream gets nothing: every entry went to the journal" "" "$(cat "$WORK/journal.err")"
assert_contains "the start is an entry at info" "6|run $RUN_ID started: as_of" "$(entries True)"
assert_eq "every entry has the run's RUN_ID" "" "$(entries "e.get('RUN_ID') != '$RUN_ID'")"
assert_eq "every entry is lethe's, with no code location" "" \
    "$(entries "e.get('SYSLOG_IDENTIFIER') != 'lethe' or 'CODE_FILE' in e")"
assert_eq "the deleter's stderr is at info with the batch id, its summary line too" \
    "6|executor: deleter: starting [run $RUN_ID]
6|executor: fs-delete: 1 deleted, 0 already gone, 0 failed [run $RUN_ID]" \
    "$(entries "e.get('BATCH_ID') == '$B2'")"
assert_eq "only the executor's entries carry the batch id" "" \
    "$(entries "('BATCH_ID' in e) != e['MESSAGE'].startswith('executor: ')")"
assert_contains "the anchored heads are logged" "6|anchor: chain " "$(entries True)"
assert_contains "the message keeps the run id for a plain journalctl" "[run $RUN_ID]" "$(entries True)"

in_ns 1 "$WORK/export.err" "$LETHE" export --tenant "$T2" -o "$WORK/no/such/dir/audit.jsonl"
assert_rc "an export told to write into a missing directory exits 2" 2
assert_contains "its error is an entry at error priority with the tenant" \
    "3|error: export: cannot create a file next to '$WORK/no/such/dir/audit.jsonl'" \
    "$(entries "e.get('TENANT') == '$T2'")"

# ---- JOURNAL_STREAM inherited, stderr elsewhere: plain lines ----------------------------------
T3=$(due_items)
OUT=$(JOURNAL_STREAM=8:12345 "$LETHE" --config "$WORK/exec.conf" run 2>"$WORK/inherited.err"); RC=$?
assert_rc "a run with a JOURNAL_STREAM that is not its stderr exits 0" 0
assert_eq "its lines have no priority prefix" "0" "$(grep -c '^<' "$WORK/inherited.err")"
assert_contains "and are the terminal's" "executor: deleter: starting" "$(cat "$WORK/inherited.err")"

# ---- -q: errors only ------------------------------------------------------------------------
# A deleter that fails every item: warnings for each, and the batch.
cat >"$WORK/deny.sh" <<'EOF'
echo 'deleter: no permission' >&2
tail -n +2 "$1" | python3 -c 'import json, sys
for l in sys.stdin: print("failed", json.loads(l)["item_id"], "denied")'
EOF
write_config "$WORK/fail.conf" "executor: { command = \"/bin/sh $WORK/deny.sh\"; };"
T4=$(due_items)
run_lethe --config "$WORK/fail.conf" run
assert_rc "a run whose deleter fails its items exits 0" 0
assert_contains "it warns about the failed item" "warning: batch " "$ERR"
assert_contains "the item's reason is the deleter's" "failed: denied" "$ERR"
assert_contains "the deleter's stderr is shown" "executor: deleter: no permission" "$ERR"
run_lethe -q --config "$WORK/fail.conf" run
assert_rc "the same under -q exits 0" 0
assert_eq "-q silences warnings, information and the deleter's stderr" "" "$ERR"
assert_eq "the item failed again all the same" "2" \
    "$(sql "SELECT count(*) FROM lethe.batch_items WHERE tenant_id = '$T4' AND outcome = 'failed'")"
run_lethe -q --config "$WORK/fail.conf" run --as-of 2099-01-01T00:00:00Z
assert_rc "an error under -q still exits 2" 2
assert_eq "and is shown with its hint" "error: run: --as-of 2099-01-01T00:00:00.000000Z is in the future
hint: evaluate a future instant with --dry-run; a real run purges only what is due now" "$ERR"
finish
