# Anchors (SPEC §5, §7): each committed run appends its heads to audit.anchor_file; verify
# --anchors catches every manipulation of an export, even one re-hashed to look consistent;
# a restored database is refused by the next run and by status --check until it is healed.
. tests/harness/lib.sh
. tests/harness/catalog.sh
. tests/harness/anchors_lib.sh
WORK=$(mktemp -d /tmp/lethe-anchors.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS anchors_snap" >/dev/null 2>&1' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS anchors_t' -c 'CREATE DATABASE anchors_t' 2>/dev/null
export PGDATABASE=anchors_t
"$LETHE" migrate >/dev/null
NIL=00000000-0000-0000-0000-000000000000
A=$WORK/anchors.jsonl

# Three tenants with due items in two geos; a deletion request a day old.
T1=$(uuid); T2=$(uuid); T3=$(uuid)
DAY=$(date -u -d '-1 day' +%F)
for t in "$T1" "$T2" "$T3"; do
    w=$(uuid); mk_tenant "$t" "t-$t"; mk_workspace "$t" "$w" EU
    for k in 1 2 3; do mk_item "$t" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:0${k}Z; done
done
mk_event "$T1" deletion_requested "${DAY}T00:00:00Z" REQ-1
mk_event "$T2" deletion_requested "${DAY}T00:00:00Z" REQ-2
write_config "$WORK/noexec.conf"
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"

# ---- a run without an executor: its batches stay open; its line anchors the engine chain --
run_lethe --config "$WORK/noexec.conf" run
assert_rc "a run exits 0" 0
assert_eq "one line per committed run" "1" "$(wc -l <"$A")"
RUN1=$(sql "SELECT run_id FROM lethe.runs")
CP1=$(sql "SELECT seq || ' ' || hash FROM lethe.audit WHERE tenant_id = '$NIL' AND kind = 'checkpoint'")
CP1_AT=$(sql "SELECT lethe.audit_time(at) FROM lethe.audit WHERE tenant_id = '$NIL' AND kind = 'checkpoint'")
line=$(tail -1 "$A")
assert_contains "the line names the run" "{\"run_id\":\"$RUN1\",\"at\":\"" "$line"
assert_eq "the line's time is UTC with microseconds" "1" \
  "$(echo "$line" | grep -cE '"at":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"')"
assert_contains "the engine head is the checkpoint record itself, not its prev_hash, with its time" \
  "{\"chain\":\"$NIL\",\"seq\":${CP1% *},\"hash\":\"${CP1#* }\",\"at\":\"$CP1_AT\"}" "$line"
assert_contains "the heads are logged" "anchor: chain $NIL seq ${CP1% *} hash ${CP1#* }" "$ERR"
assert_eq "the anchor file is 0640" "640" "$(stat -c %a "$A")"
sql "CREATE TABLE public.audit_run1 AS SELECT * FROM lethe.audit" >/dev/null

# ---- a run that re-drives the open batches appends to tenant chains: all are anchored ------
run_lethe --config "$WORK/exec.conf" run
assert_rc "the re-driving run exits 0" 0
assert_eq "the re-driven items are purged" "6" "$(sql "SELECT count(*) FROM lethe.item_status WHERE state = 'purged'")"
line=$(tail -1 "$A")
for t in "$T1" "$T2" "$NIL"; do
    h=$(head_of "$t")
    assert_contains "the re-driven chain $t is anchored at its head, with the head's time" \
      "$(head_json "$t" "$h")" "$line"
done
assert_not_contains "an untouched chain is not anchored" "$T3" "$line"
# The database records each line it appended (sql/0021_status_anchor.sql): a check finds the
# newest line recorded and need not compare its heads one by one; without the record it does.
digest() { tail -1 "$A" | tr -d '\n' | sha256sum | cut -c1-64; }
assert_eq "the run recorded its line's SHA-256" "$(digest)" \
  "$(sql "SELECT digest FROM lethe.anchor_lines ORDER BY recorded_at DESC LIMIT 1")"
assert_eq "one record per run" "2" "$(sql "SELECT count(*) FROM lethe.anchor_lines")"
run_lethe --config "$WORK/noexec.conf" status --check --json
assert_not_contains "status --check: a recorded line is not behind" "behind its anchor" "$OUT$ERR"
# An audit table restored on its own (an older dump loaded into it) lacks the newest head: the record
# of the newest line then stands for nothing, and the check compares head by head.
restore_audit() {
    sql "BEGIN; ALTER TABLE lethe.audit DISABLE TRIGGER USER; TRUNCATE lethe.audit;
         INSERT INTO lethe.audit SELECT * FROM public.$1; ALTER TABLE lethe.audit ENABLE TRIGGER USER;
         COMMIT" >/dev/null
}
sql "CREATE TABLE public.audit_run2 AS SELECT * FROM lethe.audit" >/dev/null
restore_audit audit_run1
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: an audit table restored alone to before the newest line is behind" 4
assert_contains "and says the audit no longer matches its heads" "the audit diverges from its anchor file" "$OUT$ERR"
# A line that names no head, appended by hand after the newest: it vouches for nothing, and
# taken as the newest line it silenced the check of the line before it (a run wrote after it).
cp "$A" "$WORK/anchors.kept"
printf '{"run_id":"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f","at":"2026-01-01T00:00:00.000000Z","heads":[]}\n' >> "$A"
nlines=$(wc -l < "$A")
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: a newest line naming no head does not stand for the line before it" 4
assert_contains "... which is said to be no anchor line" \
  "its newest line (line $nlines) is not an anchor line (it names no chain head); the check takes line $((nlines - 1)) before it" "$ERR"
assert_contains "... and the audit is found apart from that line" "the audit diverges from its anchor file" "$OUT$ERR"
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run refuses to write after it" 4
cp "$WORK/anchors.kept" "$A"
restore_audit audit_run2
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: with the audit back, head by head, it is not behind" 0
# A check that cannot be made is no pass: the comparison's function missing (a schema not
# migrated, a grant taken back), status --check fails as a runtime failure (exit 1), as a run
# does, instead of passing with a warning.
sql "ALTER FUNCTION lethe.anchor_heads_missing(uuid[], bigint[], text[]) RENAME TO anchor_heads_gone" >/dev/null
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: the anchor file not compared with the database exits 1" 1
assert_contains "... saying that nothing is known" \
  "error: status: the anchor file '$A' could not be compared with the database, so whether the audit is behind it is not known" "$ERR"
assert_contains "... with the way out" "run 'lethe migrate' and deploy/roles.sql if it is missing or not granted" "$ERR"
assert_contains "... and still shows its report" "status at " "$OUT"
run_lethe --config "$WORK/noexec.conf" status --json
assert_eq "status (--json) shows its report and exits 1 too" "1 ok" \
  "$RC $(printf '%s' "$OUT" | python3 -c 'import json,sys; json.load(sys.stdin); print("ok")' 2>&1)"
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run cannot compare either: exit 1" 1
sql "ALTER FUNCTION lethe.anchor_heads_gone(uuid[], bigint[], text[]) RENAME TO anchor_heads_missing" >/dev/null
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check with the function back passes again" 0
sql "DROP TABLE public.audit_run1, public.audit_run2" >/dev/null
sql "DELETE FROM lethe.anchor_lines" >/dev/null
run_lethe --config "$WORK/noexec.conf" status --check --json
assert_not_contains "status --check: an unrecorded line compared head by head is not behind either" \
  "behind its anchor" "$OUT$ERR"
H0=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$NIL'")

# ---- the exported evidence checks out against the anchors and the logged head --------------
"$LETHE" export -o "$WORK/all.jsonl" 2>/dev/null
run_lethe verify "$WORK/all.jsonl" --anchors "$A"
assert_rc "an untouched export verifies against the anchor file" 0
assert_contains "... and says how many anchored heads it found" "anchored heads found" "$OUT"
assert_not_contains "... with no warning" "warning" "$ERR"
: > "$WORK/empty-anchors.jsonl"
run_lethe verify "$WORK/all.jsonl" --anchors "$WORK/empty-anchors.jsonl"
assert_rc "an empty anchor file is no failure (a database no run has ended on yet)" 0
assert_eq "... but it is said that nothing was checked against it" \
  "warning: verify: '$WORK/empty-anchors.jsonl' holds no anchor line: nothing in the export was checked against it" "$ERR"
run_lethe verify "$WORK/all.jsonl" --expect-head "$NIL=$H0"
assert_rc "--expect-head with the engine head a run logged passes" 0
FIRST_CP=${CP1#* }
run_lethe verify "$WORK/all.jsonl" --expect-head "$NIL=$FIRST_CP"
assert_rc "an anchored head inside the export (not at its end) passes" 0
python3 tests/verify_export.py "$WORK/all.jsonl" --anchors "$A" >/dev/null
assert_eq "the Python verifier agrees" "0" "$?"
# A line naming no head, anywhere in the file, is not a line lethe wrote: both verifiers refuse.
{ head -1 "$A"; printf '{"run_id":"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f","at":"2026-01-01T00:00:00.000000Z","heads":[]}\n'; tail -n +2 "$A"; } > "$WORK/headless.jsonl"
run_lethe verify "$WORK/all.jsonl" --anchors "$WORK/headless.jsonl"
assert_rc "verify --anchors refuses a file holding a line that names no head" 4
assert_contains "... naming the line" "line 2 is not an anchor line (it names no chain head)" "$OUT"
python3 tests/verify_export.py "$WORK/all.jsonl" --anchors "$WORK/headless.jsonl" >/dev/null 2>&1
assert_eq "... and so does the Python verifier" "4" "$?"
# Nor is a line with a member twice (the first "heads" empty, the second whole: a reader that
# keeps the last would see a sound line) or a seq written as 19.0: both verifiers refuse both.
# So are a line of spaces and a run_id that is no id.
for form in dup float spaces runid; do
    { head -1 "$A" | python3 -c '
import re, sys
line, form = sys.stdin.readline().rstrip("\n"), sys.argv[1]
if form == "dup":
    print(line.replace("\"heads\":", "\"heads\":[],\"heads\":", 1))
elif form == "spaces":
    print("   "); print(line)
elif form == "runid":
    print(re.sub(r"\"run_id\":\"[^\"]*\"", "\"run_id\":\"not-a-uuid\"", line, count=1))
else:
    print(re.sub(r"\"seq\":(\d+)", r"\"seq\":\1.0", line, count=1))' "$form"; tail -n +2 "$A"; } > "$WORK/odd.jsonl"
    run_lethe verify "$WORK/all.jsonl" --anchors "$WORK/odd.jsonl"
    python3 tests/verify_export.py "$WORK/all.jsonl" --anchors "$WORK/odd.jsonl" >"$WORK/p.out" 2>&1; prc=$?
    assert_eq "an anchor line with $form: lethe verify and verify_export.py both exit 4" "4 4" "$RC $prc"
done

# set_from FROM: the tampered export's header keeps the window's start FROM (cut-head moves it).
set_from() {
    python3 - "$WORK/x.jsonl" "$1" <<'EOF2'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
head = json.loads(lines[0]); head["from"] = sys.argv[2]
open(sys.argv[1], "w", encoding="utf-8").write("\n".join([json.dumps(head, separators=(",", ":"))] + lines[1:]) + "\n")
EOF2
}
# caught NAME: both verifiers, with the anchor file, exit 4
caught() {
    by_both "$WORK/x.jsonl" "$A"
    if [ "$BOTH" = "4 4" ]; then ok "$1 (lethe verify and verify_export.py both exit 4)"
    else not_ok "$1" "lethe verify: $RC $OUT $ERR" "verify_export.py: ${BOTH#* } $(cat "$WORK/p.out")"; fi
}
# window_holds FROM TO TENANT SEQ WHAT: the export of [FROM, TO) (FROM empty: from the start)
# verifies by both; with TENANT's chain removed, or its record SEQ changed and re-hashed, the
# claims edited to match, it is caught by both.
window_holds() {
    cp "$WORK/all.jsonl" "$WORK/all.kept"
    "$LETHE" export ${1:+--from "$1"} --to "$2" -o "$WORK/all.jsonl" 2>/dev/null
    by_both "$WORK/all.jsonl" "$A"
    assert_eq "$5 verifies, by both verifiers" "0 0" "$BOTH"
    tamper drop-chain "$3" 0 claims
    caught "$5, with the tenant's chain in it removed, its claims edited to match"
    tamper forge "$3" "$4" claims
    caught "$5, with that record changed and re-hashed"
    mv "$WORK/all.kept" "$WORK/all.jsonl"
}
LAST1=$(sql "SELECT max(seq) FROM lethe.audit WHERE tenant_id = '$T1'")
tamper change "$T1" 2;                  caught "a changed field"
tamper remove "$T1" 2;                  caught "a removed record"
tamper swap "$T1" 2;                    caught "reordered records"
tamper cut-tail "$T1" "$LAST1" claims;  caught "a truncated tail, the header's claims edited to match"
# The re-driving run purged the first run's batches (records carrying the first run's id): since
# schema version 76 its checkpoint names the chains, so the cut is caught by it first.
assert_contains "... named as a cut tail" "$T1" "$OUT"
assert_contains "... by its anchor or the checkpoint of the run that purged there" "(records were cut off, or replaced)" \
  "$(printf '%s' "$OUT" | sed 's/(its tail was cut off)/(records were cut off, or replaced)/')"
# An anchor file whose chain ids were upper-cased on the way (a log shipper's normalizer): the same
# UUIDs, read so by both verifiers (the Python model took them for other chains).
python3 -c 'import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    for h in d["heads"]: h["chain"] = h["chain"].upper()
    print(json.dumps(d, separators=(",", ":")))' "$A" >"$WORK/anch-upper.jsonl"
by_both "$WORK/all.jsonl" "$WORK/anch-upper.jsonl"
assert_eq "an anchor file with its chain ids upper-cased: the export verifies, by both" "0 0" "$BOTH"
tamper cut-head "$T1" 2 claims;         caught "a chain's first records removed, the header's window edited to match"
tamper drop-chain "$T2" 0 claims;       caught "a whole chain removed, with its claim"
# by the anchor line or the checkpoint, whichever verify meets first (both name it)
assert_contains "... named as a removed chain" "$T2" "$OUT"
assert_contains "... as removed" "but the export holds no record of it (a chain was removed)" "$OUT"
tamper drop-chain "$NIL" 0 claims;      caught "the engine chain removed, with its claim"
tamper forge "$T1" 2;                   caught "a forged record re-hashed with every record after it"
run_lethe verify "$WORK/x.jsonl"
assert_rc "... which without anchors the checkpoint naming the chain's head catches too (schema 76)" 4
assert_contains "... as not the head it names: records cut off, or replaced, since the checkpoint names a hash alone" \
  "of chain $T1, but its chain ends at seq $LAST1 on line" "$OUT"
assert_contains "... (an outside tryout: it said they were cut off)" "holds no such record (records were cut off, or replaced)" "$OUT"
tamper backdate "$T1" 2
run_lethe verify "$WORK/x.jsonl"
python3 tests/verify_export.py "$WORK/x.jsonl" >"$WORK/p.out" 2>&1
assert_eq "a record re-dated before its predecessor, the chain re-hashed: both verifiers exit 4 without anchors" \
  "4 4" "$RC $?"
assert_contains "... lethe names the two records" "tenant $T1: seq 2 at $(date +%Y)-01-01T00:00:00.000000Z is earlier than seq 1 at" "$OUT$ERR"
# What the audit's own checks refuse, re-hashed: without anchors (or with them, the forged record
# within the hour of the newest line) it verified, exit 0 (an outside auditor's tryout).
for form in 'run_id="6332FB23-CD2F-4198-876C-924ABD2604CE"' 'kind="item_unpurged"' 'kind="run_started"' \
            'reference=""' 'at=SECOND61' 'subject_hmac="xyz"'; do
    FORM=$form tamper set "$T1" 2
    run_lethe verify "$WORK/x.jsonl"
    python3 tests/verify_export.py "$WORK/x.jsonl" >"$WORK/p.out" 2>&1
    assert_eq "a record with $form, the chain re-hashed: both verifiers exit 4 without anchors" "4 4" "$RC $?"
    assert_contains "... lethe says it was forged" "tenant $T1: seq 2: " "$OUT$ERR"
done
assert_contains "... naming what the audit never holds" "seq 2: its subject_hmac is not 64 lower-case hex digits (no audit holds such a record: it was forged)" "$OUT$ERR"
sed 1d "$WORK/all.jsonl" >"$WORK/x.jsonl";                                  caught "a missing header"
sed '1s/"tenant_id":null/"tenant_id":"'"$T1"'"/' "$WORK/all.jsonl" >"$WORK/x.jsonl"; caught "an edited header"
# A head stamped after the line that names it: no run writes one (it takes its heads, then
# writes the line). A chain head moved forward (or the database's clock) misdates every record
# after it, and an export of the real window then holds none of them and verifies empty.
python3 - "$A" "$WORK/ahead.jsonl" <<'EOF'
import json, sys
from datetime import datetime, timedelta
lines = open(sys.argv[1]).read().splitlines()
last = json.loads(lines[-1])
at = datetime.strptime(last["at"], "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(hours=2)
last["heads"][0]["at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
open(sys.argv[2], "w").write("\n".join(lines[:-1] + [json.dumps(last, separators=(",", ":"))]) + "\n")
EOF
AHEAD_CHAIN=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["heads"][0]["chain"])' "$A")
by_both "$WORK/all.jsonl" "$WORK/ahead.jsonl"
assert_eq "an anchor line naming a head stamped two hours after it: both verifiers exit 4" "4 4" "$BOTH"
assert_contains "... lethe names the line and the head, as no run writes it" \
  "verify: anchor file '$WORK/ahead.jsonl' line $(wc -l <"$A"): chain $AHEAD_CHAIN seq" "$OUT"
assert_contains "... more than an hour after the line" "more than an hour after the line itself" "$OUT"

# A forged item_purged re-hashed onto the end of a chain, past every head the anchor file names
# for it, the header's claims edited to match: the anchors vouch for nothing after their heads.
# No head falls between two lines (each run anchors every chain appended to since the run before
# it), so once the newest line is more than an hour younger than such a record, the record was
# added after the fact. Before that (the file as the export was made), verify passes it with a
# warning, and replay does not append it: both verifiers and replay once exited 0, and replay
# wrote the forged record into a healthy audit.
SRC=$WORK/all.jsonl tamper append "$T1" "$LAST1" claims
later_line "$A" "$WORK/later.jsonl"
run_lethe verify "$WORK/all.jsonl" --anchors "$WORK/later.jsonl"
assert_rc "the untouched export verifies against the anchor file two hours later" 0
assert_not_contains "... with no warning" "warning" "$ERR"
A_SAVED=$A; A=$WORK/later.jsonl
caught "a forged record appended to a chain, two hours before the anchor file's newest line"
A=$A_SAVED
assert_contains "... named as anchored by no line" \
  "tenant $T1: seq $((LAST1 + 1)) at $(sql "SELECT lethe.audit_time(at) FROM lethe.audit WHERE tenant_id = '$T1' AND seq = $LAST1") is anchored by no line: the anchor file names it up to seq $LAST1, yet its line $(wc -l <"$A") names every chain with a record stamped from " "$OUT"
# ... and one stamped far ahead never becomes older than a line: no run can have written a record
# dated later than now (an hour's margin for the clocks), with or without the anchor file.
cp "$WORK/x.jsonl" "$WORK/appended.jsonl"
SRC=$WORK/all.jsonl tamper future "$T1" "$LAST1" claims
caught "a forged record appended to a chain, stamped in 2099"
assert_contains "... named as later than the clock" \
  "tenant $T1: seq $((LAST1 + 1)) at 2099-01-01T00:00:00.000000Z is later than this machine's clock by more than an hour" "$OUT"
run_lethe verify "$WORK/x.jsonl"
python3 tests/verify_export.py "$WORK/x.jsonl" >"$WORK/p.out" 2>&1
assert_eq "... also without the anchor file, by both verifiers" "4 4" "$RC $?"
# ... nor one whose time is written in another form (an offset: 23 hours on, but earlier as text)
SRC=$WORK/all.jsonl tamper offset "$T1" "$LAST1" claims
run_lethe verify "$WORK/x.jsonl"
python3 tests/verify_export.py "$WORK/x.jsonl" >"$WORK/p.out" 2>&1
assert_eq "a forged record whose time has an offset: both verifiers exit 4" "4 4" "$RC $?"
assert_contains "... named as no time lethe writes" "seq $((LAST1 + 1)): its at is not a time as lethe writes it" "$OUT"
cp "$WORK/appended.jsonl" "$WORK/x.jsonl"
# Stamped before the newest line's run found no writer in flight ("fenced"), it is caught with
# the anchor file of its own hour: every record stamped from the line's "since" until then had
# committed when the run took its heads (an outside auditor's tryout: within the hour's margin a
# chain invented minutes before the newest line verified, exit 0).
caught "a forged record appended to a chain before the newest line's fence, with the anchor file of its hour"
assert_contains "... named as anchored by no line, though its run found no record being appended" \
  "tenant $T1: seq $((LAST1 + 1)) at $(sql "SELECT lethe.audit_time(at) FROM lethe.audit WHERE tenant_id = '$T1' AND seq = $LAST1") is anchored by no line: the anchor file names it up to seq $LAST1, yet its line $(wc -l <"$A") names every chain with a record stamped from " "$OUT"
assert_contains "... saying when that line's run found no writer in flight" \
  "until $(tail -1 "$A" | sed 's/.*"fenced":"\([^"]*\)".*/\1/'), when its run found no record being appended (the record was added after the fact" "$OUT"
assert_eq "every line lethe writes says when it found no writer in flight" "$(wc -l <"$A")" "$(grep -c ',"fenced":"[^"]*"}$' "$A")"
# Lines that do not say from when they name every chain (written before lethe kept "since", or
# by a role that could not record lines, which left heads unanchored) prove nothing of it.
sed -E 's/,"since":"[^"]*"(,"fenced":"[^"]*")?}$/}/' "$WORK/later.jsonl" >"$WORK/unbounded.jsonl"
by_both "$WORK/x.jsonl" "$WORK/unbounded.jsonl"
assert_eq "lines without since: no record is judged unvouched, by either verifier" "0 0" "$BOTH"
# ... but a line without them after lines with them (a run whose wait for a writer timed out)
# takes nothing from what those lines say: each line's span is its own claim (an outside tryout:
# one such line switched the judgement of every older record off).
sed -E '$s/,"since":"[^"]*"(,"fenced":"[^"]*")?}$/}/' "$WORK/later.jsonl" >"$WORK/timedout.jsonl"
by_both "$WORK/x.jsonl" "$WORK/timedout.jsonl"
assert_eq "a newest line without since leaves the older lines' fenced spans in force, by both verifiers" "4 4" "$BOTH"
assert_eq "every line lethe writes says since" "$(wc -l <"$A")" "$(grep -c ',"since":"[^"]*",' "$A")"
# A line missing from the file (its run's since lies after the line before it): what only it
# named is named by no line, so nothing is judged from the lines either.
sed '$d' "$WORK/later.jsonl" | sed '$d' >"$WORK/gap.jsonl"; tail -1 "$WORK/later.jsonl" >>"$WORK/gap.jsonl"
by_both "$WORK/x.jsonl" "$WORK/gap.jsonl"
assert_eq "a line missing from the file: no record is judged unvouched, by either verifier" "0 0" "$BOTH"
# A record stamped after the newest line (an ack after the last run, or a forgery dated so) is one
# no line can vouch for yet: the next run's line judges it.
SRC=$WORK/all.jsonl APPEND_LATE=1 tamper append "$T1" "$LAST1" claims
run_lethe verify "$WORK/x.jsonl" --anchors "$A"
assert_rc "stamped after the newest line, with the anchor file as it was when the export was made, it verifies (no line can vouch for it yet)" 0
assert_contains "... and it is said" \
  "warning: verify: 1 record (the first: chain $T1 seq $((LAST1 + 1)) at" "$ERR"
assert_contains "... which no anchor vouches for yet" "is newer than every head of its chain that '$A' names" "$ERR"
python3 tests/verify_export.py "$WORK/x.jsonl" --anchors "$A" >"$WORK/p.out" 2>"$WORK/p.err"
assert_eq "... the model passes it too, and says the same record unvouched" \
  "0|warning: 1 record (the first: chain $T1 seq $((LAST1 + 1)) at" "$?|$(grep -o "^warning: 1 record (the first: chain [^ ]* seq [0-9]* at" "$WORK/p.err")"
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS anchors_copy' -c 'CREATE DATABASE anchors_copy TEMPLATE anchors_t' >/dev/null
audit_of() { PGDATABASE=anchors_copy sql "SELECT count(*) || ' ' || max(seq) FROM lethe.audit WHERE tenant_id = '$T1'"; }
BEFORE=$(audit_of)
PGDATABASE=anchors_copy run_lethe --config "$WORK/noexec.conf" replay --operator auditor --anchors "$WORK/later.jsonl" "$WORK/x.jsonl"
assert_rc "replay of it against the later anchor file refuses (exit 4)" 4
assert_contains "... as an export that does not verify" "replay: '$WORK/x.jsonl' does not verify; nothing was replayed" "$ERR"
PGDATABASE=anchors_copy run_lethe --config "$WORK/noexec.conf" replay --operator auditor --anchors "$A" "$WORK/x.jsonl"
assert_rc "replay of it against the anchor file of its day exits 4" 4
assert_contains "... and leaves the record out, by name" \
  "warning: replay: chain $T1: 1 record after seq $LAST1 is anchored by no line of '$A'; not replayed" "$ERR"
assert_contains "... saying that until it is appended nothing is batched" \
  "error: replay: 1 record past every anchored head was left out: until it is appended, nothing is put in a repurge batch, and runs and every other writer refuse to take its seqs" "$ERR"
assert_eq "... the healthy audit is as it was" "$BEFORE" "$(audit_of)"
assert_eq "... the forged record is nowhere in it" 0 \
  "$(PGDATABASE=anchors_copy sql "SELECT count(*) FROM lethe.audit WHERE reference = 'FORGED'")"
# Noted (sql/0111): the chain takes no record until it is appended, or its note deleted.
PGDATABASE=anchors_copy run_lethe --config "$WORK/noexec.conf" hold place --tenant "$T1" --reason litigation --operator auditor
assert_rc "... and a writer on that database refuses while it is noted (exit 4)" 4
assert_contains "... naming the seq it holds" \
  "error: hold place: chain $T1: 1 record that a replay left out (past every anchored head; seq $((LAST1 + 1)), noted at " "$ERR"
PGDATABASE=anchors_copy sql "DELETE FROM lethe.replay_withheld WHERE tenant_id = '$T1'" >/dev/null
PGDATABASE=anchors_copy run_lethe --config "$WORK/noexec.conf" hold place --tenant "$T1" --reason litigation --operator auditor
assert_eq "... once the owner deleted its note (a forgery), the hold takes that seq" "0 hold_placed" \
  "$RC $(PGDATABASE=anchors_copy sql "SELECT kind FROM lethe.audit WHERE tenant_id = '$T1' AND seq = $((LAST1 + 1))")"
psql -X -q -d postgres -c 'DROP DATABASE anchors_copy' >/dev/null

# a window: heads anchored before it are not its to hold; a one-tenant export holds its own
M=$(sql "SELECT lethe.audit_time(min(at)) FROM lethe.audit WHERE run_id = (SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1) AND kind = 'run_started'")
"$LETHE" export --from "$M" -o "$WORK/win.jsonl" 2>/dev/null
run_lethe verify "$WORK/win.jsonl" --anchors "$A"
assert_rc "a window export verifies against every anchor" 0
# A window's engine chain with all of a run's records but its checkpoint cut (the header's claims
# edited to match): nothing in the export said the run had begun inside the window, so the cut
# passed as records from before it. Each line also anchors the run's first record (its
# run_started), which lies in the window and must be there.
R=$(sql "SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1")
SRC=$WORK/win.jsonl tamper keep-checkpoints "$NIL" 0 claims  # the window holds that one run
caught "a window's engine chain without a run's records but its checkpoint, the header's claims edited to match"
assert_contains "... named by the record before the window's first (format 2)" \
  "tenant $NIL: an export_before line of seq $(($(sql "SELECT min(seq) FROM lethe.audit WHERE run_id = '$R' AND tenant_id = '$NIL'") - 1)), but the header claims the chain starts elsewhere" "$OUT"
FORMAT1=1 SRC=$WORK/win.jsonl tamper keep-checkpoints "$NIL" 0 claims
caught "... and as a format 1 export, which has no export_before lines"
assert_contains "... refused as such: a format 1 window proves no chain's start" "tenant $NIL: a format 1 export (a lethe before 2026-12-07, or a header edited to say so) starts the chain at seq" "$OUT"
"$LETHE" export --tenant "$T2" -o "$WORK/t2.jsonl" 2>/dev/null
run_lethe verify "$WORK/t2.jsonl" --anchors "$A"
assert_rc "a one-tenant export verifies against every anchor" 0
# A hold placed after the last run and before a window's start moves its chain's head; the first
# run after the start anchors that head. The head lies before the window: not the window's to
# hold (each head now gives its own time; a window export used to fail as "a chain was removed").
"$LETHE" --config "$WORK/noexec.conf" -q hold place --tenant "$T2" --subject user_nobody \
    --reason "before the window" --operator user_a >/dev/null
HOLD_AT=$(sql "SELECT lethe.audit_time(at) FROM lethe.audit_heads WHERE tenant_id = '$T2'")
W=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" run
assert_contains "the run after it anchors the hold's head, with its time" \
  "{\"chain\":\"$T2\",\"seq\":$(sql "SELECT seq FROM lethe.audit_heads WHERE tenant_id = '$T2'"),\"hash\":\"$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$T2'")\",\"at\":\"$HOLD_AT\"}" "$(tail -1 "$A")"
"$LETHE" export --from "$W" -o "$WORK/after-hold.jsonl" 2>/dev/null
run_lethe verify "$WORK/after-hold.jsonl" --anchors "$A"
assert_rc "a window starting after the hold verifies against every anchor" 0
python3 tests/verify_export.py "$WORK/after-hold.jsonl" --anchors "$A" >"$WORK/p.out" 2>&1
assert_eq "... and so does the independent verifier" "0" "$?"
# The same window from the hold on holds the hold's record: without that chain it is caught.
cp "$WORK/all.jsonl" "$WORK/all.kept"
"$LETHE" export --from "$HOLD_AT" -o "$WORK/all.jsonl" 2>/dev/null
tamper drop-chain "$T2" 0 claims;       caught "a window holding the hold's record, with that chain removed"
# by the anchor line or the checkpoint, whichever verify meets first (both name it)
assert_contains "... named as a removed chain" "$T2" "$OUT"
assert_contains "... as removed" "but the export holds no record of it (a chain was removed)" "$OUT"
mv "$WORK/all.kept" "$WORK/all.jsonl"

# A request recorded between two runs, and a window starting after it: the first run inside the
# window purges the request's item, appending to the request's chain. Its line anchors the
# request's record too (the chain's head when the run began, with its time); without it verify
# read the records before the run's as the run's own, removed ("its first records were removed").
T6=$(uuid); w6=$(uuid); mk_tenant "$T6" "t-$T6"; mk_workspace "$T6" "$w6" EU
I6=$(uuid); mk_item "$T6" "$I6" "$w6" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/exec.conf" run
"$LETHE" --config "$WORK/exec.conf" -q request --tenant "$T6" --item "$I6" --reference REQ-T6 \
    --operator user_a >/dev/null
REQ6=$(sql "SELECT seq || ' ' || hash || ' ' || kind FROM lethe.audit_heads h JOIN lethe.audit a USING (tenant_id, seq, hash)
             WHERE h.tenant_id = '$T6'")
W6=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/exec.conf" run
assert_eq "the run after the request purged its item, appending to the request's chain" "purged request_recorded" \
  "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$I6'") ${REQ6##* }"
REQ6=${REQ6% *}
# anchored_before_run CHAIN "SEQ HASH" FROM FILE: the last line anchors that record of CHAIN, and
# a window export from FROM verifies by both verifiers
anchored_before_run() {
    assert_contains "its line anchors the chain's head when the run began (a record made between runs)" \
      "{\"chain\":\"$1\",\"seq\":${2% *},\"hash\":\"${2#* }\"" "$(tail -1 "$A")"
    "$LETHE" export --from "$3" -o "$WORK/$4" 2>/dev/null
    run_lethe verify "$WORK/$4" --anchors "$A"
    python3 tests/verify_export.py "$WORK/$4" --anchors "$A" >"$WORK/p.out" 2>&1
    assert_eq "a window starting between the request and that run verifies, by both verifiers" "0 0" "$RC $?"
}
anchored_before_run "$T6" "$REQ6" "$W6" after-req.jsonl
assert_contains "... and lethe says ok" "verify: ok:" "$OUT"
# The same, with a withdrawal the run records on that chain before its first record of its own
# there: the owner records the withdrawals as the run derives, with no run id. The line named the
# withdrawal as the chain's head when the run began (the record just before the run's first), so
# an untouched export of a window starting between the request and the run failed verify ("run
# ... began inside the export's window and appended the records before seq ..., but the
# export's chain starts there").
I9=$(uuid); mk_item "$T6" "$I9" "$w6" prompt EU 2026-01-01T00:00:00Z
I10=$(uuid); mk_item "$T6" "$I10" "$w6" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/exec.conf" -q request --tenant "$T6" --item "$I9" --reference REQ-T9 \
    --operator user_a >/dev/null
R9=$(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T6'")
W9=$(sql "SELECT lethe.audit_time(clock_timestamp())")
mk_event "$T6" deletion_requested "$(date -u -d '-10 minutes' +%FT%TZ)" REQ-T10 item_id "$I10"
mk_event "$T6" deletion_cancelled "$(date -u -d '-5 minutes' +%FT%TZ)" REQ-T10
run_lethe --config "$WORK/exec.conf" run
assert_eq "the run recorded the withdrawal on the request's chain before its own first record there" \
  "obligation_withdrawn item_purged" \
  "$(sql "SELECT string_agg(kind, ' ' ORDER BY seq) FROM (SELECT kind, seq FROM lethe.audit WHERE tenant_id = '$T6' AND seq > ${R9% *} ORDER BY seq LIMIT 2) x")"
anchored_before_run "$T6" "$R9" "$W9" after-req9.jsonl
# A chain the run appends nothing of its own to but a withdrawal: its head when the run began (a
# hold placed between the runs) was anchored by no line, and an untouched export of a window
# starting after the hold failed both verifiers the same way.
T7=$(uuid); w7=$(uuid); mk_tenant "$T7" "t-$T7"; mk_workspace "$T7" "$w7" EU
I11=$(uuid); mk_item "$T7" "$I11" "$w7" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/exec.conf" run
"$LETHE" --config "$WORK/exec.conf" -q hold place --tenant "$T7" --subject user_nobody \
    --reason "litigation" --reference CASE-T7 --operator user_a >/dev/null
H7=$(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T7'")
W11=$(sql "SELECT lethe.audit_time(clock_timestamp())")
mk_event "$T7" deletion_requested "$(date -u -d '-10 minutes' +%FT%TZ)" REQ-T11 item_id "$I11"
mk_event "$T7" deletion_cancelled "$(date -u -d '-5 minutes' +%FT%TZ)" REQ-T11
run_lethe --config "$WORK/exec.conf" run
assert_eq "the run appended only a withdrawal to that chain" "obligation_withdrawn" \
  "$(sql "SELECT string_agg(kind, ' ' ORDER BY seq) FROM lethe.audit WHERE tenant_id = '$T7' AND seq > ${H7% *}")"
anchored_before_run "$T7" "$H7" "$W11" after-hold7.jsonl
# A request inside the window is the window's to hold: cut off with the run's first records
# before it (the header's claims edited to match, its window kept), it is caught.
W7=$(sql "SELECT lethe.audit_time(clock_timestamp())")
I7=$(uuid); mk_item "$T6" "$I7" "$w6" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/exec.conf" -q request --tenant "$T6" --item "$I7" --reference REQ-T7 \
    --operator user_a >/dev/null
R7=$(sql "SELECT seq FROM lethe.audit_heads WHERE tenant_id = '$T6'")
run_lethe --config "$WORK/exec.conf" run
cp "$WORK/all.jsonl" "$WORK/all.kept"
"$LETHE" export --from "$W7" -o "$WORK/all.jsonl" 2>/dev/null
tamper cut-head "$T6" "$R7" claims; set_from "$W7"
caught "a window's request record cut off, with the chain's records before the run's"
assert_contains "... named by the record before the window's first (format 2)" \
  "tenant $T6: an export_before line of seq $((R7 - 1)), but the header claims the chain starts elsewhere" "$OUT"
FORMAT1=1 tamper cut-head "$T6" "$R7" claims; set_from "$W7"
caught "... and as a format 1 export"
assert_contains "... refused as such" "a format 1 export (a lethe before 2026-12-07, or a header edited to say so) starts the chain at seq" "$OUT"
mv "$WORK/all.kept" "$WORK/all.jsonl"

# A request made after the window's last run, inside the window, is anchored with its own time
# by the next run's line, written after --to. The window holds it: cut off (the claims edited to
# match), it passed, since only the lines written inside the window were read.
W8=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/exec.conf" run
I8=$(uuid); mk_item "$T6" "$I8" "$w6" prompt EU 2026-01-01T00:00:00Z
"$LETHE" --config "$WORK/exec.conf" -q request --tenant "$T6" --item "$I8" --reference REQ-T8 \
    --operator user_a >/dev/null
R8=$(sql "SELECT seq FROM lethe.audit_heads WHERE tenant_id = '$T6'")
E8=$(sql "SELECT lethe.audit_time(clock_timestamp())")
"$LETHE" export --from "$W8" --to "$E8" -o "$WORK/early8.jsonl" 2>/dev/null
run_lethe --config "$WORK/exec.conf" run
assert_contains "the next run's line anchors the request with its time" \
  "{\"chain\":\"$T6\",\"seq\":$R8," "$(tail -1 "$A")"
cp "$WORK/all.jsonl" "$WORK/all.kept"
"$LETHE" export --from "$W8" --to "$E8" -o "$WORK/all.jsonl" 2>/dev/null
by_both "$WORK/all.jsonl" "$A"
assert_eq "a window ending after a request and before the next run verifies, by both verifiers" "0 0" "$BOTH"
tamper cut-tail "$T6" "$R8" claims
caught "a request after the window's last run cut off, anchored by a line written after --to"
assert_contains "... named as that chain's anchored head" "chain $T6 is anchored at seq $R8" "$OUT"
# The same window exported before that line was written: the line may name records committed
# after the export was taken, which it did not have to hold; it verifies.
by_both "$WORK/early8.jsonl" "$A"
assert_eq "... and exported before the next run's line, it verifies by both" "0 0" "$BOTH"
mv "$WORK/all.kept" "$WORK/all.jsonl"

# A run before the window whose line was lost (it failed to append, or the file was begun
# afresh): its records lie before the window, though the next line anchored past them is of a
# run inside it. The engine chain's unanchored records before the window say so; verify does not
# take them for removed first records.
mk_event "$T2" deletion_requested "${DAY}T00:00:00Z" REQ-LOST
run_lethe --config "$WORK/noexec.conf" run
cp "$A" "$WORK/anchors.kept"
sed -i '$d' "$A"
W=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" run
"$LETHE" export --from "$W" -o "$WORK/after-lost.jsonl" 2>/dev/null
by_both "$WORK/after-lost.jsonl" "$A"
assert_eq "a window after a run whose line was lost verifies, by both verifiers" "0 0" "$BOTH"
assert_contains "... and lethe says ok" "verify: ok:" "$OUT"
assert_contains "... and that a line is missing from the anchor file" \
  "line $(wc -l <"$A") names the chains appended to since" "$ERR"
assert_contains "... between which lines" "a line written between them is not in the file (lines were removed, or a run wrote to another anchor file)" "$ERR"
tail -1 "$A" >>"$WORK/anchors.kept"; mv "$WORK/anchors.kept" "$A"

# ---- heads moved before a run that died are anchored by the next run that does not ---------
# An ack by hand moves a chain's head after the last run; the run after it dies before its
# line. The run after that anchors the ack's heads: they were stamped after the start of the
# last run whose line was recorded, not after the start of the run just before it.
T4=$(uuid); w=$(uuid); mk_tenant "$T4" "t-$T4"; mk_workspace "$T4" "$w" ANZ
mk_item "$T4" "$(uuid)" "$w" prompt ANZ 2026-01-01T00:00:00Z
mk_event "$T4" deletion_requested "${DAY}T00:00:00Z" REQ-T4
run_lethe --config "$WORK/noexec.conf" run
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT batch_id FROM lethe.batches WHERE location = 'ANZ' AND state = 'open'")" --operator user_a
H4=$(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T4'")
LETHE_FAULT=after_derive "$LETHE" --config "$WORK/noexec.conf" -q run >/dev/null 2>&1
gone_backends
assert_eq "the run after the ack died before its line" "died" \
  "$(run_lethe --config "$WORK/noexec.conf" -q run; sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC OFFSET 1 LIMIT 1")"
assert_contains "the run after it anchors the ack's head" "{\"chain\":\"$T4\",\"seq\":${H4% *},\"hash\":\"${H4#* }\"" "$(tail -1 "$A")"
run_lethe --config "$WORK/noexec.conf" -q run
assert_not_contains "and the run after that one does not again" "\"chain\":\"$T4\"" "$(tail -1 "$A")"

# ---- ... but a window whose engine chain was cut after its first run's start is still read ----
# A run, an ack of its batch on a tenant's chain, the run after it; exported from before the
# first. Cut: the first run's run_started (so the engine chain no longer begins with a run's
# first record, and its record before is no head) and the tenant's first records, which the
# second run, begun inside the window, anchored. Still caught as removed first records.
T5=$(uuid); w=$(uuid); mk_tenant "$T5" "t-$T5"; mk_workspace "$T5" "$w" EU
for k in 1 2; do mk_item "$T5" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:0${k}Z; done
mk_event "$T5" deletion_requested "${DAY}T00:00:00Z" REQ-T5
W5=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" run
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT DISTINCT b.batch_id FROM lethe.batches b JOIN lethe.batch_items i USING (batch_id) WHERE i.tenant_id = '$T5'")" --operator user_a
run_lethe --config "$WORK/noexec.conf" run
cp "$WORK/all.jsonl" "$WORK/all.kept"
"$LETHE" export --from "$W5" -o "$WORK/all.jsonl" 2>/dev/null
tamper cut-head "$NIL" "$(sql "SELECT min(seq) FROM lethe.audit WHERE tenant_id = '$NIL' AND at >= '$W5'")" claims
cp "$WORK/x.jsonl" "$WORK/all.jsonl"
tamper cut-head "$T5" "$(sql "SELECT min(seq) FROM lethe.audit WHERE tenant_id = '$T5'")" claims
caught "a window cut after its first run's start and at a tenant's first records"
mv "$WORK/all.kept" "$WORK/all.jsonl"

# ---- an ack by hand between runs: its records are anchored, on every chain it wrote to ---------
# The ack of one of a run's two batches writes item_purged on the tenant's chain and
# batch_acknowledged on the engine chain, both carrying the batch's run id, whose line came
# before them; the next run re-drives the other batch, appending to both chains again. A window
# ending between the ack and that run holds the ack's records at the ends of both chains: its
# anchors must name them (until 2026-12-07 they were judged by their run id, anchored already,
# and a window with the engine chain's ack cut, or the tenant's whole chain, verified by both).
TK=$(uuid); w=$(uuid); w2=$(uuid); mk_tenant "$TK" "t-$TK"
mk_workspace "$TK" "$w" EU; mk_workspace "$TK" "$w2" ANZ
mk_item "$TK" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:01Z
mk_item "$TK" "$(uuid)" "$w2" prompt ANZ 2026-01-01T00:00:01Z
mk_event "$TK" deletion_requested "${DAY}T00:00:00Z" REQ-TK
WK=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" run
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT DISTINCT b.batch_id FROM lethe.batches b
    JOIN lethe.batch_items i USING (batch_id) WHERE i.tenant_id = '$TK' AND b.location = 'EU'")" --operator user_a
ACK_E=$(head_of "$NIL")
ACK_T=$(head_of "$TK")
sleep 0.1; EK=$(sql "SELECT lethe.audit_time(clock_timestamp())"); sleep 0.1
run_lethe --config "$WORK/exec.conf" run
assert_eq "the next run re-drove the other batch, on both chains" "2 1" \
  "$(sql "SELECT count(*) FILTER (WHERE kind = 'item_purged') || ' ' || count(*) FILTER (WHERE kind = 'batch_acknowledged' AND at > '$EK')
            FROM lethe.audit WHERE tenant_id IN ('$TK', '$NIL')")"
assert_contains "its line anchors the engine chain's record of the ack, with its time" \
  "$(head_json "$NIL" "$ACK_E")" "$(tail -1 "$A")"
assert_contains "... and the tenant chain's, though the ack carries a run id whose line there is" \
  "$(head_json "$TK" "$ACK_T")" "$(tail -1 "$A")"
cp "$WORK/all.jsonl" "$WORK/all.kept"
"$LETHE" export --from "$WK" --to "$EK" -o "$WORK/all.jsonl" 2>/dev/null
by_both "$WORK/all.jsonl" "$A"
assert_eq "the window ending between the ack and the run verifies, by both verifiers" "0 0" "$BOTH"
tamper cut-tail "$NIL" "${ACK_E%% *}" claims
caught "the window with the engine chain's record of the ack cut, its claims edited to match"
assert_contains "... named as the engine chain's tail cut off" "chain $NIL is anchored at seq ${ACK_E%% *}" "$OUT"
tamper drop-chain "$TK" 0 claims
caught "the window with the tenant chain the ack wrote removed, its claims edited to match"
mv "$WORK/all.kept" "$WORK/all.jsonl"
run_lethe --config "$WORK/noexec.conf" -q run
assert_eq "a run with nothing made since the last one names the engine chain twice, as before" "2" \
  "$(tail -1 "$A" | grep -o "\"chain\":\"$NIL\"" | wc -l)"

# ---- two hand records on one chain between runs, a window ending between them -------------------
# An ack (a late purge) and then a hold on the same tenant, both before the next run; the month
# ends between them. The run's line named the hold (the chain's head, and its last record before
# the run began), not the ack's record: cut from the month, or flipped to on time and re-hashed,
# with the claims edited, it verified by both (an outside tryout's finding). The line now names
# every earlier record made between runs that ends its transaction's records on the chain.
TL=$(uuid); w=$(uuid); mk_tenant "$TL" "t-$TL"; mk_workspace "$TL" "$w" EU
IL=$(uuid); mk_item "$TL" "$IL" "$w" prompt EU 2026-01-01T00:00:01Z
mk_event "$TL" deletion_requested "2026-10-02T00:00:00Z" REQ-TL
WL=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" run
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$IL'")" --operator user_a
ACKL=$(head_of "$TL")
sleep 0.1; EL=$(sql "SELECT lethe.audit_time(clock_timestamp())"); sleep 0.1
"$LETHE" --config "$WORK/noexec.conf" -q hold place --tenant "$TL" --reason "after the month" --operator user_a >/dev/null
run_lethe --config "$WORK/noexec.conf" run
assert_contains "the next run's line names the ack's record, though the hold came after it" \
  "$(head_json "$TL" "$ACKL")" "$(tail -1 "$A")"
assert_eq "... the tenant's chain twice: the ack's record and its head, the hold's" "2" \
  "$(tail -1 "$A" | grep -o "\"chain\":\"$TL\"" | wc -l)"
assert_eq "the ack's purge is late" "f" "$(sql "SELECT on_time FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$IL'")"
window_holds "$WL" "$EL" "$TL" "${ACKL%% *}" "the window ending between the ack and the hold"

# ---- ... and so are a dead run's batches acknowledged by hand before the next run ----------------
# A run killed after it emitted is recorded running until the next run finds it dead; an ack
# of its batch meanwhile carries its id, and was taken for that run's own record, made while it
# ran: a window ending between the ack and a hold after it verified with the ack's purges cut,
# or re-hashed (an outside tryout's finding).
TM=$(uuid); w=$(uuid); mk_tenant "$TM" "t-$TM"; mk_workspace "$TM" "$w" EU
IM=$(uuid); mk_item "$TM" "$IM" "$w" prompt EU 2026-01-01T00:00:01Z
mk_event "$TM" deletion_requested "${DAY}T00:00:00Z" REQ-TM
LETHE_FAULT=after_manifest "$LETHE" --config "$WORK/noexec.conf" -q run >/dev/null 2>&1
gone_backends
DM=$(sql "SELECT run_id FROM lethe.batches b JOIN lethe.batch_items i USING (batch_id) WHERE i.item_id = '$IM'")
assert_eq "a run killed after it emitted is still recorded running" "running" "$(sql "SELECT outcome FROM lethe.runs WHERE run_id = '$DM'")"
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$IM'")" --operator user_a
ACKM=$(head_of "$TM")
sleep 0.1; EM=$(sql "SELECT lethe.audit_time(clock_timestamp())"); sleep 0.1
"$LETHE" --config "$WORK/noexec.conf" -q hold place --tenant "$TM" --reason "after the window" --operator user_a >/dev/null
run_lethe --config "$WORK/noexec.conf" run
assert_eq "the next run finds it dead" "died" "$(sql "SELECT outcome FROM lethe.runs WHERE run_id = '$DM'")"
assert_contains "its line names the ack's record, which carries the dead run's id" \
  "$(head_json "$TM" "$ACKM")" "$(tail -1 "$A")"
window_holds "" "$EM" "$TM" "${ACKM%% *}" "the window ending between the dead run's ack and the hold"

# ---- a window with a --to ends there, whatever its exported_at says ----------------------------
# An ack, then the window's end, then a run that anchors the ack. Cut from the window, the claims
# edited: caught. The same cut with the header's exported_at moved to just after --to (no hash
# covers it) excused every head stamped in the minute before it whose line came later, and
# verified by both (an outside tryout's finding).
TN=$(uuid); w=$(uuid); mk_tenant "$TN" "t-$TN"; mk_workspace "$TN" "$w" EU
IN=$(uuid); mk_item "$TN" "$IN" "$w" prompt EU 2026-01-01T00:00:01Z
mk_event "$TN" deletion_requested "${DAY}T00:00:00Z" REQ-TN
WN=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" run
AN=$(sql "SELECT lethe.audit_time(clock_timestamp())")
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$IN'")" --operator user_a
sleep 0.1; EN=$(sql "SELECT lethe.audit_time(clock_timestamp())"); sleep 0.1
run_lethe --config "$WORK/noexec.conf" run
"$LETHE" export --from "$WN" --to "$EN" -o "$WORK/w8.jsonl" 2>/dev/null
python3 - "$WORK/w8.jsonl" "$WORK/x.jsonl" "$AN" "$EN" <<'PY'
import json, sys
src, dst, cut, end = sys.argv[1:5]
lines = open(src, encoding="utf-8").read().splitlines()
head, recs = json.loads(lines[0]), [json.loads(l) for l in lines[1:]]
recs = [r for r in recs if r.get("kind") == "export_before" or r["at"] < cut]
sys.path.insert(0, "tests/harness")
from claims import reclaim
reclaim(head, [r for r in recs if r.get("kind") != "export_before"])
out = [json.dumps(head, separators=(",", ":"))] + [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in recs]
open(dst, "w", encoding="utf-8").write("\n".join(out) + "\n")
head["exported_at"] = end[:-7] + "999999Z"  # the same second as the window's end, after it
out[0] = json.dumps(head, separators=(",", ":"))
open(dst + ".ex", "w", encoding="utf-8").write("\n".join(out) + "\n")
PY
by_both "$WORK/w8.jsonl" "$A"
assert_eq "the window ending after the ack verifies, by both verifiers" "0 0" "$BOTH"
caught "the window with the ack's records cut off, its claims edited to match"
mv "$WORK/x.jsonl.ex" "$WORK/x.jsonl"
assert_eq "... the forged copy's exported_at lies just after its end" "1" \
  "$(head -1 "$WORK/x.jsonl" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(int(h["exported_at"][:19] == h["to"][:19] and h["exported_at"] > h["to"]))')"
caught "the same cut with its exported_at moved to just after the window's end"

# ---- a rerun is a run: it is anchored too -----------------------------------------------------
mk_event "$T3" deletion_requested "${DAY}T00:00:00Z" REQ-3
run_lethe --config "$WORK/noexec.conf" run
B3=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
run_lethe --config "$WORK/exec.conf" rerun "$B3" --operator user_a
assert_rc "a rerun exits 0" 0
RR=$(sql "SELECT run_id FROM lethe.runs WHERE operator = 'user_a'")
H3=$(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T3'")
assert_contains "the rerun's line anchors the chain it appended to" "\"run_id\":\"$RR\"" "$(grep "{\"chain\":\"$T3\",\"seq\":${H3% *}," "$A")"

# ---- a file behind its database: lines the database recorded are not in it ----------------
# (sql/0057_anchor_lines_after.sql) The file rolled back to an older copy, or removed, lost the
# lines not yet shipped; runs go on (they would stop every purge for it), and say so, as status
# does. The lines recorded within a minute of the file's newest are not counted (shard runs
# append and record concurrently): the older lines are aged here to stand for earlier runs.
cp "$A" "$WORK/anchors.kept"
sql "UPDATE lethe.anchor_lines SET recorded_at = recorded_at - interval '5 minutes'
      WHERE digest <> (SELECT digest FROM lethe.anchor_lines ORDER BY recorded_at DESC LIMIT 1)" >/dev/null
head -n -1 "$WORK/anchors.kept" >"$A"
NEWEST_RUN=$(sql "SELECT run_id FROM lethe.anchor_lines ORDER BY recorded_at DESC LIMIT 1")
run_lethe --config "$WORK/noexec.conf" status
assert_contains "status says the anchor file lacks a line the database recorded" \
  "warning: anchor: '$A' lacks 1 line that the database recorded as appended to it after its newest one (the newest by run $NEWEST_RUN, recorded at" "$ERR"
assert_contains "... with the way back" "hint: restore it from the copy shipped elsewhere (the lines it lacks are there)" "$ERR"
assert_rc "... and exits 0: the file is evidence for later, not a check of SPEC §6" 0
rm "$A"
run_lethe --config "$WORK/noexec.conf" status
assert_eq "a removed anchor file: status does not say so (it may run where the file is not)" "" \
  "$(echo "$ERR" | grep 'anchor:')"
run_lethe --config "$WORK/noexec.conf" run
assert_rc "a run with its anchor file removed goes on" 0
assert_contains "... and says the database recorded lines appended to it" \
  "warning: anchor: '$A' is missing or empty, but the database recorded" "$ERR"
assert_contains "... and, since a mistyped audit.anchor_file reads the same, says that too" \
  "hint: or audit.anchor_file names another file than the one the runs appended to (a mistyped path, a new config): name that one" "$ERR"
assert_eq "... and begins a new one with its own line" "1" "$(wc -l <"$A")"
# (sql/0081) Its line is the newest now, and nothing is recorded after it: the loss was said by
# that run only. Each line lost is noted, and said by every run and status until it is back.
LOST=$(sql "SELECT count(*) FROM lethe.anchor_gaps")
assert_eq "... and notes each line lost: every line the database recorded before it" \
  "$(sql "SELECT count(*) FROM lethe.anchor_lines WHERE run_id <> (SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1)")" "$LOST"
FOUND_AT=$(sql "SELECT lethe.iso_utc(min(found_at)) FROM lethe.anchor_gaps")
run_lethe --config "$WORK/noexec.conf" run
assert_contains "the next run says the file still lacks them" \
  "warning: anchor: '$A' still lacks $LOST lines that the database recorded as appended to it, found missing since $FOUND_AT (the newest by run $NEWEST_RUN)" "$ERR"
assert_contains "... with the way back" "hint: restore it from the copy shipped elsewhere (the lines it lacks are there)" "$ERR"
assert_rc "... and goes on" 0
cp "$A" "$WORK/anchors.r12"; rm "$A"
run_lethe --config "$WORK/noexec.conf" run
assert_contains "removed again" "warning: anchor: '$A' is missing or empty, but the database recorded" "$ERR"
assert_eq "... the lines lost twice are noted once, with the two written since" "$((LOST + 2))" \
  "$(sql "SELECT count(*) FROM lethe.anchor_gaps")"
run_lethe --config "$WORK/noexec.conf" status
assert_contains "status says so too" "warning: anchor: '$A' still lacks $((LOST + 2)) lines" "$ERR"
as_engine_fails() { psql -X -q -v ON_ERROR_STOP=1 -c "SET ROLE anchors_t_writer" -c "$1" 2>&1 >/dev/null; }
sql "DO \$\$ BEGIN CREATE ROLE anchors_t_writer; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
     GRANT USAGE ON SCHEMA lethe TO anchors_t_writer; GRANT ALL ON lethe.anchor_gaps TO anchors_t_writer" >/dev/null 2>&1
assert_contains "the notes are the owner's: a role granted the table cannot settle them by hand" \
  "only lethe's own functions note lines lost from the anchor file" \
  "$(as_engine_fails "UPDATE lethe.anchor_gaps SET settled_at = now()")"
# put back in part: the newest line kept, not the others
tail -n 1 "$WORK/anchors.kept" >"$WORK/anchors.part"; cat "$A" >>"$WORK/anchors.part"
cp "$A" "$WORK/anchors.new"; cp "$WORK/anchors.part" "$A"
run_lethe --config "$WORK/noexec.conf" run
assert_contains "the file put back in part: the run settles the line that is back" \
  "anchor: '$A' holds again 1 line found missing from it" "$ERR"
assert_contains "... and still says the others are missing" "warning: anchor: '$A' still lacks $((LOST + 1)) lines" "$ERR"
R4=$(tail -n 1 "$A")
cat "$WORK/anchors.kept" "$WORK/anchors.r12" "$WORK/anchors.new" >"$A"; printf '%s\n' "$R4" >>"$A"
run_lethe --config "$WORK/noexec.conf" status
assert_eq "the file put back whole, nothing is said" "" "$(echo "$ERR" | grep 'anchor:')"
run_lethe --config "$WORK/noexec.conf" run
assert_contains "... and the next run settles the notes" \
  "anchor: '$A' holds again $((LOST + 1)) lines found missing from it" "$ERR"
assert_eq "... which are settled" "0" "$(sql "SELECT count(*) FROM lethe.anchor_gaps WHERE settled_at IS NULL")"
run_lethe --config "$WORK/noexec.conf" run
assert_eq "... and the run after it says nothing of the file" "" "$(echo "$ERR" | grep "anchor: '")"

# ---- a chain's first records in a window, when no anchored head lies among them ---------------
# An ack by hand inside a window purges two items (the tenant's seqs 2 and 3); the next run,
# after the window, anchors seq 3 alone. An outside tryout cut seq 2 from the window's export,
# the header's claims edited to match: the chain then started at seq 3 with its anchored head
# present, and both verifiers passed it. The export (format 2) now writes the record before each
# chain's first on an export_before line, which must be stamped before the window and link to it.
T9=$(uuid); w9=$(uuid); mk_tenant "$T9" "t-$T9"; mk_workspace "$T9" "$w9" EU
for k in 1 2; do mk_item "$T9" "$(uuid)" "$w9" prompt EU 2026-01-01T00:00:0${k}Z; done
"$LETHE" --config "$WORK/noexec.conf" -q request --tenant "$T9" --reference REQ-T9 --operator user_a >/dev/null
run_lethe --config "$WORK/noexec.conf" -q run
F9=$(sql "SELECT lethe.audit_time(clock_timestamp())")
"$LETHE" --config "$WORK/noexec.conf" -q ack "$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T9'")" --operator user_a
T9TO=$(sql "SELECT lethe.audit_time(clock_timestamp())")
run_lethe --config "$WORK/noexec.conf" -q run
assert_eq "the ack appended seqs 2 and 3; the run after the window anchors 3 alone" "item_purged item_purged|3" \
  "$(sql "SELECT string_agg(kind, ' ' ORDER BY seq) FROM lethe.audit WHERE tenant_id = '$T9' AND seq > 1")|$(tail -1 "$A" | python3 -c 'import json,sys; print(",".join(str(h["seq"]) for h in json.load(sys.stdin)["heads"] if h["chain"] == sys.argv[1]))' "$T9")"
cp "$WORK/all.jsonl" "$WORK/all.kept"
"$LETHE" export --from "$F9" --to "$T9TO" -o "$WORK/all.jsonl" 2>/dev/null
assert_eq "the window's export is format 2, the record before the chain's first on its own line" \
  "2|1" "$(head -1 "$WORK/all.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')|$(grep -c "^{\"kind\":\"export_before\",\"record\":{\"seq\":1,[^}]*\"tenant_id\":\"$T9\"" "$WORK/all.jsonl")"
cp "$WORK/all.jsonl" "$WORK/x.jsonl"
by_both "$WORK/x.jsonl" "$A"
assert_eq "it verifies, by both verifiers" "0 0" "$BOTH"
tamper cut-head "$T9" 2 claims
set_from "$F9"
caught "seq 2 cut from the window, the header's claims edited to match"
assert_contains "... by the record before the window, which no longer links" \
  "tenant $T9: an export_before line of seq 1, but the header claims the chain starts elsewhere" "$OUT"
# A forger's best: the record before seq 3, seq 2 itself, on the export_before line.
python3 - "$WORK/x.jsonl" "$WORK/all.jsonl" "$T9" <<'EOF2'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
seq2 = [l for l in open(sys.argv[2], encoding="utf-8").read().splitlines()
        if l.startswith('{"seq":2,') and '"tenant_id":"%s"' % sys.argv[3] in l][0]
out = ['{"kind":"export_before","record":' + seq2 + '}' if l.startswith('{"kind":"export_before"') and sys.argv[3] in l else l for l in lines]
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(out) + "\n")
EOF2
caught "... with seq 2 itself put on the export_before line"
assert_contains "... said as a record of the window" \
  "tenant $T9: the export_before line's record (seq 2) is stamped $(sql "SELECT lethe.iso_utc(at) FROM lethe.audit WHERE tenant_id = '$T9' AND seq = 2"), inside the window, which starts at $F9" "$OUT"
grep -v "^{\"kind\":\"export_before\",\"record\":{[^}]*\"tenant_id\":\"$T9\"" "$WORK/x.jsonl" >"$WORK/y.jsonl"; mv "$WORK/y.jsonl" "$WORK/x.jsonl"
caught "... and with the export_before line removed"
assert_contains "... said as a chain that starts without one" \
  "tenant $T9: the chain starts at seq 3 inside the window, but no export_before line before it gives the record before" "$OUT"
# A format 1 export (as lethe wrote windows before) has no such line, and the header that says
# "format 1" is not hashed: a second tryout edited the cut export back to format 1, and it
# verified with a warning. A format 1 window that starts a chain after seq 1 is refused, by
# both verifiers: export the window again (replay still reads it, with a warning).
FORMAT1=1 tamper cut-head "$T9" 2 claims
set_from "$F9"
caught "the cut edited back to format 1"
assert_contains "... refused as a format 1 window, with the way out" \
  "inside its window without the record before it: nothing shows that the chain's first records in the window are all there; export the window again (format 2) and verify that" "$OUT"
# A hold before a window's start and a request inside it, both before the first run inside it
# (which appends to that chain): the run's line anchors the hold as the chain's head when it
# began, and verify took the request for the run's records, cut (exit 4 from both verifiers on
# a genuine export, the second tryout found). The export_before line proves the chain's start.
"$LETHE" --config "$WORK/noexec.conf" -q hold place --tenant "$T9" --reason litigation --operator user_a >/dev/null
F10=$(sql "SELECT lethe.audit_time(clock_timestamp())")
"$LETHE" --config "$WORK/noexec.conf" -q request --tenant "$T9" --reference REQ-T10 --operator user_a >/dev/null
run_lethe --config "$WORK/noexec.conf" -q run
"$LETHE" export --from "$F10" -o "$WORK/x.jsonl" 2>/dev/null
by_both "$WORK/x.jsonl" "$A"
assert_eq "a hold before the window, a request inside it, then a run: it verifies, by both" "0 0" "$BOTH"
"$LETHE" export --tenant "$T9" --from "$F9" --to "$T9TO" -o "$WORK/t9.jsonl" 2>/dev/null
by_both "$WORK/t9.jsonl" "$A"
assert_eq "a one-tenant window export carries the line too, and verifies by both" "0 0 1" \
  "$RC $? $(grep -c '^{"kind":"export_before"' "$WORK/t9.jsonl")"
mv "$WORK/all.kept" "$WORK/all.jsonl"


# ---- a torn last line (a crash while appending) is cut off by the next run -----------------
printf '{"run_id":"%s","at":"2026-' "$RR" >>"$A"
run_lethe verify "$WORK/all.jsonl" --anchors "$A"
assert_rc "verify skips a torn last line" 0
n=$(wc -l <"$A")
run_lethe --config "$WORK/noexec.conf" run
assert_rc "a run after a torn line exits 0" 0
assert_contains "... and says it cut it off" "ended in an incomplete line" "$ERR"
assert_eq "... and appended a whole line after it" "$((n + 1)) 0" \
  "$(wc -l <"$A") $(python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$A" >/dev/null 2>&1; echo $?)"
# A whole line that lost only its newline (a file saved by an editor without one) is evidence,
# as verify counts it: the next run adds the newline instead of cutting the line off.
last=$(tail -1 "$A")
truncate -s -1 "$A"
n=$(wc -l <"$A")
run_lethe --config "$WORK/noexec.conf" run
assert_rc "a run after a whole line without its newline exits 0" 0
assert_contains "... and says it added the newline" "ended in a whole anchor line without its newline; the newline was added" "$ERR"
assert_eq "... keeping that line whole, its own line after it" "$((n + 2))|$last" \
  "$(wc -l <"$A")|$(tail -2 "$A" | head -1)"
# ... and the check compares it as the newest line: an audit restored to before a run whose
# line then lost its newline is behind it (the check took the line before it, and passed).
sql "CREATE TABLE public.audit_pre AS SELECT * FROM lethe.audit" >/dev/null
run_lethe --config "$WORK/noexec.conf" run
sql "CREATE TABLE public.audit_post AS SELECT * FROM lethe.audit" >/dev/null
truncate -s -1 "$A"
restore_audit audit_pre
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: an audit restored to before a newest line without its newline fails" 4
assert_contains "... comparing that line" "its anchor file '$A' (run $(tail -c 200 "$A" | python3 -c 'import sys; print(sys.stdin.read().split("\"run_id\":\"")[1][:36])' 2>/dev/null)" "$OUT"
run_lethe --config "$WORK/noexec.conf" run
assert_rc "... and a run refuses, as for any newest line" 4
restore_audit audit_post
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "with the audit back it passes" 0
printf '\n' >>"$A"
# A whole line with bytes glued after it and no newline is no torn append (a crash keeps a
# prefix of one line): the check compares the line, the run keeps it instead of cutting it off,
# and both verifiers refuse the file, naming the line, until the bytes are taken off.
restore_audit audit_post
truncate -s -1 "$A"; printf 'garbage' >>"$A"
cp "$A" "$WORK/glued.jsonl"
restore_audit audit_pre
run_lethe --config "$WORK/noexec.conf" status --check
assert_rc "status --check: an audit restored to before a newest line with bytes glued after it fails" 4
run_lethe --config "$WORK/noexec.conf" run
assert_rc "... and a run refuses" 4
restore_audit audit_post
"$LETHE" export -o "$WORK/glued-all.jsonl" 2>/dev/null
run_lethe verify "$WORK/glued-all.jsonl" --anchors "$A"
python3 tests/verify_export.py "$WORK/glued-all.jsonl" --anchors "$A" >"$WORK/p.out" 2>&1; prc=$?
assert_eq "both verifiers refuse the file with the glued line" "4 4" "$RC $prc"
assert_contains "... lethe naming it" "is an anchor line with 7 bytes after it (and no newline): it is not a line lethe wrote" "$OUT"
n=$(wc -l <"$A")
run_lethe --config "$WORK/noexec.conf" run
assert_rc "with the audit back a run goes on" 0
assert_contains "... saying what it kept" "ended in an anchor line with 7 bytes after it that lethe does not write, and no newline; kept, the newline added" "$ERR"
assert_eq "... the line kept whole, the bytes after it, its own line after them" "$((n + 2))|$(tail -1 "$WORK/glued.jsonl")" \
  "$(wc -l <"$A")|$(tail -2 "$A" | head -1)"
sed -i 's/}garbage$/}/' "$A"
run_lethe verify "$WORK/glued-all.jsonl" --anchors "$A"
assert_rc "the bytes taken off, the file verifies" 0
# An empty last line is skipped by every reader, without a word.
printf '\n' >>"$A"
run_lethe --config "$WORK/noexec.conf" status --check
assert_eq "status --check says nothing of an empty last line" "0|" "$RC|$(echo "$ERR" | grep 'anchor:')"
sql "DROP TABLE public.audit_pre, public.audit_post" >/dev/null

# ---- a restored database: the run refuses, writes nothing, names the chains ------------------
w=$(sql "SELECT workspace_id FROM lethe.workspaces WHERE tenant_id = '$T3'")
mk_item "$T3" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:00Z
mk_event "$T3" deletion_requested "$(date -u +%FT%TZ)" REQ-4
run_lethe --config "$WORK/noexec.conf" run
B4=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
# the backup (a file-system copy of the database), then more work
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS anchors_snap' -c 'CREATE DATABASE anchors_snap TEMPLATE anchors_t' >/dev/null
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run after the backup purges more" 0
HEAD_NIL=$(sql "SELECT seq FROM lethe.audit_heads WHERE tenant_id = '$NIL'")
HEAD_T3=$(sql "SELECT seq FROM lethe.audit_heads WHERE tenant_id = '$T3'")
psql -X -q -d postgres -c 'DROP DATABASE anchors_t' -c 'CREATE DATABASE anchors_t TEMPLATE anchors_snap' >/dev/null
runs=$(sql "SELECT count(*) FROM lethe.runs"); audit=$(sql "SELECT count(*) FROM lethe.audit")
assert_eq "the restored database lacks the record of the newest line" "0" \
  "$(sql "SELECT count(*) FROM lethe.anchor_lines WHERE digest = '$(digest)'")"
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run on the restored database exits 4" 4
assert_contains "it names the engine chain and its anchored seq" "chain $NIL anchored at seq $HEAD_NIL" "$ERR"
assert_eq "... once (the line names it twice: the run's first record and its checkpoint)" "1" \
  "$(echo "$ERR" | grep -o "chain $NIL anchored" | wc -l)"
assert_contains "it names the tenant chain and its anchored seq" "chain $T3 anchored at seq $HEAD_T3" "$ERR"
assert_contains "the hint names lethe replay" "hint: the database was restored to an earlier state: run 'lethe replay EXPORT...'" "$ERR"
assert_eq "it wrote nothing: no run record, no audit" "$runs $audit" \
  "$(sql "SELECT count(*) FROM lethe.runs") $(sql "SELECT count(*) FROM lethe.audit")"
run_lethe --config "$WORK/exec.conf" rerun "$B4"
assert_rc "a rerun on the restored database exits 4 too" 4
assert_eq "... and wrote nothing either" "$runs $audit" \
  "$(sql "SELECT count(*) FROM lethe.runs") $(sql "SELECT count(*) FROM lethe.audit")"
run_lethe --config "$WORK/exec.conf" ack "$B4" --operator user_a
assert_rc "an ack of a batch open in the backup exits 4" 4
assert_contains "... saying so" "error: ack: the audit is behind its anchor file" "$ERR"
assert_eq "... and wrote nothing" "$runs $audit open" \
  "$(sql "SELECT count(*) FROM lethe.runs") $(sql "SELECT count(*) FROM lethe.audit") $(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B4'")"

run_lethe --config "$WORK/exec.conf" status --check
assert_rc "status --check exits 4" 4
assert_contains "status --check says the audit is behind its anchor file" "check: the audit is behind its anchor file '$A'" "$OUT"
assert_contains "... and, as the run's hint does, that the config may name another database" \
  "run 'lethe replay EXPORT...' (a restored database), or point --db or database.conninfo at the database the anchor file belongs to" "$OUT"
mv "$A" "$WORK/shipped.jsonl"
run_lethe --config "$WORK/exec.conf" run
assert_rc "without an anchor file there is nothing to check" 0

# ---- a cut that the newest line does not name (README, "Anchors") ----------------------------
# A run checks the heads of the newest line only: a chain no recent run touched, cut by a
# superuser and its head moved back, is found by verify --anchors, which reads every line.
fresh_catalog anchors_cut 2
run_lethe --config "$WORK/exec.conf" run
assert_eq "the tenant's items are purged, its head anchored" "0 1" \
  "$(sql "SELECT count(*) FROM lethe.items WHERE locator IS NOT NULL") $(grep -c "\"chain\":\"$T\"" "$A")"
run_lethe --config "$WORK/exec.conf" run   # names the chains the run before it touched
run_lethe --config "$WORK/exec.conf" run
assert_eq "the idle run after them: its line does not name the tenant's chain" "3 0" \
  "$(wc -l <"$A") $(tail -n 1 "$A" | grep -c "\"chain\":\"$T\"")"
CUT_SEQ=$(sql "SELECT seq FROM lethe.audit_heads WHERE tenant_id = '$T'")
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
ALTER TABLE lethe.audit DISABLE TRIGGER ALL; ALTER TABLE lethe.audit_heads DISABLE TRIGGER ALL;
DELETE FROM lethe.audit WHERE tenant_id = '$T' AND seq = $CUT_SEQ;
UPDATE lethe.audit_heads h SET seq = a.seq, hash = a.hash, at = a.at FROM lethe.audit a
 WHERE a.tenant_id = h.tenant_id AND h.tenant_id = '$T' AND a.seq = $CUT_SEQ - 1;
ALTER TABLE lethe.audit ENABLE TRIGGER ALL; ALTER TABLE lethe.audit_heads ENABLE TRIGGER ALL;
COMMIT;
SQL
run_lethe --config "$WORK/exec.conf" export --tenant "$T" -o "$WORK/cut.jsonl"
run_lethe verify "$WORK/cut.jsonl" --anchors "$A"
assert_rc "verify --anchors of the chain's export finds the cut" 4
assert_contains "... naming the chain, its anchored seq and the cut" \
  "chain $T is anchored at seq $CUT_SEQ" "$OUT$ERR"
assert_contains "... as a cut tail" "its tail was cut off" "$OUT$ERR"
psql -X -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null 2>&1
finish
