# lethe verify: offline checks of JSON Lines and CSV exports. Every manipulation (a changed
# field, a removed record, reordered records, a cut tail, an edited hash) is caught in both
# formats, and the independent tests/verify_export.py always reaches the same verdict.
. tests/harness/lib.sh
psql -X -q -c 'CREATE DATABASE verify_t' >/dev/null
export PGDATABASE=verify_t
"$LETHE" migrate >/dev/null 2>&1

NIL=00000000-0000-0000-0000-000000000000
T1=a1a1a1a1-0000-4000-8000-000000000001
T2=b2b2b2b2-0000-4000-8000-000000000002
T3=c3c3c3c3-0000-4000-8000-000000000003
TMP=$(mktemp -d /tmp/lethe-verify.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Three flushes, as three runs would write them: engine records, and per-tenant records with
# text that needs escaping in JSON and quoting in CSV (but no carriage return).
for r in 1 2 3; do
    psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF >/dev/null
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, count) VALUES ('$NIL', 'run_started', gen_random_uuid(), $r);
INSERT INTO audit_stage (tenant_id, kind, item_id, rule, reference, triggered_at, deadline_at, purged_at, on_time, location, count, detail)
SELECT t, 'item_purged', gen_random_uuid(), 'deletion_request', 'REQ,' || g || ' "quoted"',
       now() - interval '3 days', now() + interval '27 days', now(), g % 3 <> 0, 'EU', g,
       CASE WHEN g = 2 THEN E'two\nlines, a comma \\\\ and \u00e9' END
  FROM unnest(ARRAY['$T1', '$T2', '$T3']::uuid[]) t, generate_series(1, 3) g
 ORDER BY t, g;
INSERT INTO audit_stage (tenant_id, kind, count) VALUES ('$NIL', 'run_finished', $r);
SELECT lethe.audit_flush();
COMMIT;
EOF
    [ $r = 1 ] && M1=$(sql "SELECT lethe.audit_time(clock_timestamp())")
done
TOTAL=$(sql "SELECT count(*) FROM lethe.audit")
"$LETHE" export -o "$TMP/all.jsonl" 2>/dev/null
"$LETHE" export --format csv -o "$TMP/all.csv" 2>/dev/null
"$LETHE" export --tenant "$T2" -o "$TMP/t2.jsonl" 2>/dev/null
"$LETHE" export --tenant "$T2" --format csv -o "$TMP/t2.csv" 2>/dev/null
"$LETHE" export --from "$M1" -o "$TMP/win.jsonl" 2>/dev/null
"$LETHE" export --from "$M1" --format csv -o "$TMP/win.csv" 2>/dev/null
chain_head() { sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$1'"; }
H1=$(chain_head "$T1"); H2=$(chain_head "$T2"); H0=$(chain_head "$NIL")

# both NAME EXPECTED_RC FILE [TENANT=HASH...]: runs lethe verify (VOUT, VRC) and the Python
# verifier; both must exit EXPECTED_RC.
both() {
    local name=$1 want=$2 f=$3; shift 3
    local heads=() h
    for h in "$@"; do heads+=(--expect-head "$h"); done
    VOUT=$("$LETHE" verify "$f" "${heads[@]}" 2>&1); VRC=$?
    POUT=$(python3 tests/verify_export.py "$f" "$@" 2>&1); local prc=$?
    if [ "$VRC $prc" = "$want $want" ]; then ok "$name (lethe verify and verify_export.py both exit $want)"
    else not_ok "$name" "expected both to exit $want" "lethe verify: $VRC $VOUT" "verify_export.py: $prc $POUT"; fi
}

# tamper FMT OP IN OUT TENANT SEQ: one manipulation of an export, by record, keeping every
# other line byte for byte. OP: change, remove, swap (with the next record), hash, prev,
# resume (move the record after the next chain's first record).
tamper() {
    python3 - "$@" <<'EOF'
import csv, io, json, sys
fmt, op, src, dst, tenant, seq = sys.argv[1:7]
seq = int(seq)
if fmt == "jsonl":
    lines = open(src, encoding="utf-8").read().splitlines(keepends=True)
    head, recs = lines[:1], lines[1:]
    key = lambda l: (json.loads(l)["tenant_id"], json.loads(l)["seq"])
    def edit(l, k, f):
        r = json.loads(l); r[k] = f(r[k])
        return json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
else:
    text = open(src, encoding="utf-8", newline="").read()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cols = rows[0]
    def line(row):
        b = io.StringIO(); csv.writer(b, lineterminator="\n").writerow(row); return b.getvalue()
    head, recs = [line(cols)], [line(r) for r in rows[1:]]
    key = lambda l: (next(csv.reader(io.StringIO(l)))[3], int(next(csv.reader(io.StringIO(l)))[0]))
    def edit(l, k, f):
        r = next(csv.reader(io.StringIO(l))); i = cols.index(k); r[i] = f(r[i]); return line(r)
i = [key(l) for l in recs].index((tenant, seq))
flip = lambda h: h[:-1] + ("0" if h[-1] != "0" else "1")
if op == "change":
    recs[i] = edit(recs[i], "location", lambda v: "US")
elif op == "remove":
    del recs[i]
elif op == "swap":
    recs[i], recs[i + 1] = recs[i + 1], recs[i]
elif op == "hash":
    recs[i] = edit(recs[i], "hash", flip)
elif op == "prev":
    recs[i] = edit(recs[i], "prev_hash", flip)
elif op == "resume":
    r = recs.pop(i)
    recs.insert(i + 1, r)
open(dst, "w", encoding="utf-8", newline="").write("".join(head + recs))
EOF
}

# ---- untouched exports -----------------------------------------------------------------
# exported FILE: the header's exported_at, which a JSON Lines verdict names as the window's end
exported() { head -1 "$1" | sed 's/.*"exported_at":"\([^"]*\)".*/\1/'; }
ALL_UNTIL="; records from the start of the log until its export at $(exported "$TMP/all.jsonl")"
both "a full JSON Lines export verifies" 0 "$TMP/all.jsonl"
assert_eq "the verdict is one line with counts and the window" "verify: ok: $TOTAL records in 4 chains (4 from seq 1, 0 windows)$ALL_UNTIL" "$VOUT"
both "a full CSV export verifies" 0 "$TMP/all.csv"
assert_eq "the CSV verdict has the same counts, and says what a CSV cannot vouch for" "warning: verify: '$TMP/all.csv' is a CSV export, which states neither its window nor its counts: rows cut from a chain's end, or a whole chain removed, still verify; give --expect-head TENANT=HASH for the heads you hold, or verify the JSON Lines export with --anchors
verify: ok: $TOTAL records in 4 chains (4 from seq 1, 0 windows)" "$VOUT"
run_lethe verify "$TMP/all.csv" --expect-head "$T2=$H2"
assert_not_contains "with an expected head it does not" "warning" "$ERR"
both "a one-tenant JSON Lines export verifies on its own" 0 "$TMP/t2.jsonl" "$T2=$H2"
assert_eq "with its head as expected, and the tenant named" "verify: ok: 9 records in 1 chains (1 from seq 1, 0 windows), 1 expected head matched; records of tenant $T2 from the start of the log until its export at $(exported "$TMP/t2.jsonl")" "$VOUT"
both "a one-tenant CSV export verifies on its own" 0 "$TMP/t2.csv" "$T2=$H2"
chains=$("$LETHE" -v verify "$TMP/all.jsonl" 2>/dev/null | awk '/^chain /{print $2}')
assert_eq "-v lists the chains' heads in the export's order, by tenant id (not a hash table's)" \
  "4 $(echo "$chains" | sort | tr '\n' ' ')" "$(echo "$chains" | grep -c .) $(echo "$chains" | tr '\n' ' ')"
# verify_export.py takes the expected heads as lethe verify does too (README: "expected heads").
assert_eq "verify_export.py --expect-head TENANT=HASH, as lethe verify spells it: the head matched, or caught" \
  "0 4" "$(python3 tests/verify_export.py "$TMP/t2.jsonl" --expect-head "$T2=$H2" >/dev/null; echo $?) $(
           python3 tests/verify_export.py "$TMP/t2.jsonl" --expect-head "$T2=$H1" >/dev/null; echo $?)"
assert_eq "... and a head that is not TENANT=HASH is a usage error there too (exit 2)" "2" \
  "$(python3 tests/verify_export.py "$TMP/t2.jsonl" --expect-head garbage >/dev/null; echo $?)"
both "a window export (JSON Lines) verifies from its first prev_hash" 0 "$TMP/win.jsonl" "$T1=$H1" "$NIL=$H0"
assert_contains "a window's chains are counted as windows" "(0 from seq 1, 4 windows), 2 expected heads matched" "$VOUT"
both "a window export (CSV) verifies" 0 "$TMP/win.csv" "$T1=$H1"
both "every head at once" 0 "$TMP/all.jsonl" "$T1=$H1" "$T2=$H2" "$NIL=$H0" "$T3=$(chain_head "$T3")"
upper=$(echo "$H2" | tr a-f A-F)
both "an expected head may be given in upper case" 0 "$TMP/all.csv" "$T2=$upper"
sed 's/$/\r/' "$TMP/all.jsonl" >"$TMP/crlf.jsonl"
both "CRLF line ends (JSON Lines) change nothing" 0 "$TMP/crlf.jsonl"
python3 -c 'import csv,sys; w=csv.writer(open(sys.argv[2],"w",newline=""),lineterminator="\r\n"); [w.writerow(r) for r in csv.reader(open(sys.argv[1],newline=""))]' "$TMP/all.csv" "$TMP/crlf.csv"
both "a CSV rewritten by another tool, with CRLF, still verifies" 0 "$TMP/crlf.csv"
# A ' lethe puts only before a text a spreadsheet would run, and verify takes it off; added
# before any other text, the hash held while a CSV reader saw another rule or kind.
QLINE=$(grep -n -m1 ',deletion_request,' "$TMP/all.csv" | cut -d: -f1)
sed "${QLINE}s/,deletion_request,/,'deletion_request,/" "$TMP/all.csv" >"$TMP/quote-added.csv"
both "csv: a ' added before a field lethe does not guard is caught" 4 "$TMP/quote-added.csv"
assert_eq "... and named" "verify: line $QLINE: field \"rule\" starts with a ' that lethe does not write: it puts one only before a text starting with =, +, -, @, a tab, a CR or a '" "$VOUT"
assert_eq "verify reads standard input" "verify: ok: $TOTAL records in 4 chains (4 from seq 1, 0 windows)$ALL_UNTIL" \
  "$("$LETHE" verify - <"$TMP/all.jsonl")"
out=$(PGHOST=/nonexistent PGPORT=1 "$LETHE" --db "host=/nonexistent port=1" --config /nonexistent.conf verify "$TMP/all.jsonl" 2>&1); rc=$?
assert_eq "verify needs no database and no config" "0 verify: ok: $TOTAL records in 4 chains (4 from seq 1, 0 windows)$ALL_UNTIL" "$rc $out"
out=$("$LETHE" -v verify "$TMP/t2.jsonl")
assert_eq "-v lists each chain's range and head" "chain $T2 seq 1..9 head $H2" "$(echo "$out" | head -1)"

# ---- manipulations, in both formats ------------------------------------------------------
for fmt in jsonl csv; do
    f=$TMP/all.$fmt
    tamper $fmt change "$f" "$TMP/x.$fmt" "$T2" 5
    both "$fmt: a changed field is caught" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: it names the line and says why" "tenant $T2: hash mismatch at seq 5 (the record was changed)" "$VOUT"
    assert_contains "$fmt: ... starting with the line" "verify: line " "$VOUT"

    tamper $fmt remove "$f" "$TMP/x.$fmt" "$T2" 5
    both "$fmt: a removed record is caught" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: removal is told by the seq gap" "tenant $T2: seq 6 follows seq 4" "$VOUT"

    tamper $fmt swap "$f" "$TMP/x.$fmt" "$T2" 5
    both "$fmt: two swapped records are caught" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: a swap is told by the seq order" "tenant $T2: seq 6 follows seq 4" "$VOUT"

    tamper $fmt resume "$f" "$TMP/x.$fmt" "$T2" 9
    both "$fmt: a record moved into another chain's run is caught" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: a chain must not resume" "tenant $T2: the chain's records resume after other chains' records" "$VOUT"

    tamper $fmt hash "$f" "$TMP/x.$fmt" "$T2" 5
    both "$fmt: an edited hash is caught" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: on the record whose hash was edited" "tenant $T2: hash mismatch at seq 5" "$VOUT"

    tamper $fmt prev "$f" "$TMP/x.$fmt" "$T2" 5
    both "$fmt: an edited prev_hash is caught" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: as a broken link" "tenant $T2: prev_hash is not the hash of seq 4" "$VOUT"

    tamper $fmt prev "$f" "$TMP/x.$fmt" "$T2" 1
    both "$fmt: a chain's first prev_hash must be zeros" 4 "$TMP/x.$fmt"
    assert_contains "$fmt: at seq 1" "seq 1 has a prev_hash other than 64 zeros" "$VOUT"

    tamper $fmt remove "$f" "$TMP/x.$fmt" "$T2" 9
    if [ $fmt = jsonl ]; then
        both "$fmt: a cut tail is caught by the header's claims" 4 "$TMP/x.$fmt"
        assert_contains "$fmt: ... which count the records" "line 1: tenant $T2: the header claims seq 1..9 (9 records), the file holds seq 1..8" "$VOUT"
    else
        both "$fmt: a cut tail alone still reads as a consistent chain" 0 "$TMP/x.$fmt"
    fi
    both "$fmt: a cut tail is caught against the expected head" 4 "$TMP/x.$fmt" "$T2=$H2"
    [ $fmt = csv ] && assert_contains "$fmt: it says where the chain now ends" \
        "tenant $T2: the chain ends here at seq 8 and holds no record with the expected head" "$VOUT"

    tamper $fmt remove "$TMP/win.$fmt" "$TMP/x.$fmt" "$T1" 9
    both "$fmt: a cut tail of a window is caught against the expected head" 4 "$TMP/x.$fmt" "$T1=$H1"

    tamper $fmt change "$TMP/win.$fmt" "$TMP/x.$fmt" "$T1" 4
    both "$fmt: a change to a window's first record is caught" 4 "$TMP/x.$fmt"
    tamper $fmt prev "$TMP/win.$fmt" "$TMP/x.$fmt" "$T1" 4
    both "$fmt: a window's first prev_hash cannot be swapped either" 4 "$TMP/x.$fmt"

    both "$fmt: an expected head of a tenant not in the file fails" 4 "$TMP/t2.$fmt" "$T1=$H1"
    assert_eq "$fmt: ... and says so" "verify: tenant $T1: no records in the file, but --expect-head names it" "$VOUT"
    both "$fmt: an expected head from another chain fails" 4 "$TMP/t2.$fmt" "$T2=$H1"
done

# A full JSON Lines export says it starts at the beginning: removing a chain's first
# records is caught (a CSV file carries no header to say so; see --expect-head and windows).
tamper jsonl remove "$TMP/all.jsonl" "$TMP/x.jsonl" "$T3" 1
both "jsonl: a removed first record of a chain is caught in a full export" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... as records removed before it" "tenant $T3: the export starts at the beginning of the log, but this chain starts at seq 2" "$VOUT"
{ cat "$TMP/t2.jsonl"; sed -n 2p "$TMP/all.jsonl"; } >"$TMP/x.jsonl"
both "jsonl: another tenant's record in a one-tenant export is caught" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... naming both tenants" "a record of another tenant in an export of tenant $T2" "$VOUT"
# The header's from removed, with a chain's first record cut and the claims edited to match: a
# header that says neither "the whole log" nor a window (verify_export.py passed it).
python3 - "$TMP/all.jsonl" "$TMP/x.jsonl" "$T3" <<'EOP'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
head = json.loads(lines[0]); del head["from"]
cut = [l for l in lines[1:] if not (json.loads(l)["tenant_id"] == sys.argv[3] and json.loads(l)["seq"] == 1)]
head["records"] -= 1
for c in head["chains"]:
    if c["chain"] == sys.argv[3]:
        c["first_seq"] += 1; c["records"] -= 1
open(sys.argv[2], "w", encoding="utf-8").write("\n".join([json.dumps(head, separators=(",", ":"))] + cut) + "\n")
EOP
both "jsonl: a header without its from, a chain's first record cut, is refused" 4 "$TMP/x.jsonl"
sed '1s/"format":2/"format":3/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: an unknown export format is refused" 4 "$TMP/x.jsonl"
sed '3s/"seq":2,/"seq":2,"extra":1,/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: an extra member is caught" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... by name" 'line 3: not an audit record: unexpected member "extra"' "$VOUT"
sed '3s/"seq":2,/"seq":2,"seq":2,/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: a duplicated member is caught" 4 "$TMP/x.jsonl"
sed '3s/,"detail":null//' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: a missing member is caught" 4 "$TMP/x.jsonl"
sed '3s/"count":\([0-9]*\)/"count":"\1"/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: a member of the wrong type is caught" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... and named" 'member "count" is not an integer' "$VOUT"
{ cat "$TMP/all.jsonl"; echo; } >"$TMP/x.jsonl"
both "jsonl: a blank line is not a record" 4 "$TMP/x.jsonl"
sed '2s/^/x/' "$TMP/all.csv" >"$TMP/x.csv"
both "csv: a malformed integer is caught" 4 "$TMP/x.csv"
sed '0,/,EU,/s/,EU,/,EU,extra,/' "$TMP/all.csv" >"$TMP/x.csv"
both "csv: an extra field is caught" 4 "$TMP/x.csv"
assert_contains "csv: ... with the count" "not an audit record: 22 fields, expected 21" "$VOUT"

# ---- the JSON Lines header: required, and its claims checked -----------------------------
sed 1d "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: an export without its header fails" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... on line 1" "line 1: the export has no header" "$VOUT"
sed '1s/"records":[0-9]*/"records":3/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: an edited record count is caught" 4 "$TMP/x.jsonl"
sed '1s/,"records":[0-9]*//' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: a header without claims fails" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... and says so" "the export header makes no claims" "$VOUT"
# drop_chain IN OUT TENANT [claim]: removes a chain's records (and, with "claim", its claim)
drop_chain() {
    python3 - "$@" <<'EOF'
import json, sys
src, dst, t, claim = (sys.argv[1:] + [""])[:4]
lines = open(src).read().splitlines(keepends=True)
h = json.loads(lines[0])
if claim:
    gone = [c for c in h["chains"] if c["chain"] == t][0]
    h["chains"].remove(gone); h["records"] -= gone["records"]
    lines[0] = json.dumps(h, separators=(",", ":")) + "\n"
open(dst, "w").write("".join(lines[:1] + [l for l in lines[1:] if json.loads(l)["tenant_id"] != t]))
EOF
}
drop_chain "$TMP/all.jsonl" "$TMP/x.jsonl" "$T3"
both "jsonl: a removed chain is caught by the header's claims" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... naming it" "tenant $T3: the header claims this chain, the file holds none of its records" "$VOUT"
drop_chain "$TMP/all.jsonl" "$TMP/x.jsonl" "$T3" claim
both "jsonl: a removed chain with its claim edited away reads as consistent (anchors catch it)" 0 "$TMP/x.jsonl"
sed '1s/"from":"[^"]*"/"from":null/' "$TMP/win.jsonl" >"$TMP/x.jsonl"
both "jsonl: a window whose header claims the whole log is caught" 4 "$TMP/x.jsonl"
sed '1s/"from":"[^"]*"/"from":"2999-01-01T00:00:00.000000Z"/' "$TMP/win.jsonl" >"$TMP/x.jsonl"
both "jsonl: a window moved in the header is caught by the records' times" 4 "$TMP/x.jsonl"
assert_contains "jsonl: ... as a record before it" "lies before the header's from 2999-01-01T00:00:00.000000Z" "$VOUT"

# The header's chains as lethe writes them are read without jansson; any other spelling goes
# to jansson, with the same verdicts.
python3 - "$TMP/all.jsonl" "$TMP" "$T2" <<'EOF'
import json, sys
src, tmp, t2 = sys.argv[1:]
lines = open(src).read().splitlines(keepends=True)
h = json.loads(lines[0])
def write(name, header):
    open("%s/%s" % (tmp, name), "w").write("".join([header + "\n"] + lines[1:]))
write("h-spaced.jsonl", json.dumps(h, sort_keys=True, separators=(", ", ": ")))
twice = dict(h); twice["chains"] = h["chains"] + [c for c in h["chains"] if c["chain"] == t2]
write("h-twice.jsonl", json.dumps(twice, separators=(",", ":")))
short = dict(h); short["chains"] = [dict(c, last_seq=c["last_seq"] - 1) if c["chain"] == t2 else c for c in h["chains"]]
write("h-short-spaced.jsonl", json.dumps(short, separators=(", ", ": ")))
write("h-two-keys.jsonl", lines[0].rstrip("\n").replace(',"chains":[', ',"chains":[],"chains":[', 1))
upper = dict(h); upper["chains"] = [dict(c, chain=c["chain"].upper()) if c["chain"] == t2 else c for c in h["chains"]]
write("h-upper.jsonl", json.dumps(upper, separators=(",", ":")))
EOF
both "jsonl: a header written another way verifies" 0 "$TMP/h-spaced.jsonl"
both "jsonl: a chain claimed twice is caught" 4 "$TMP/h-twice.jsonl"
assert_contains "jsonl: ... naming it" "line 1: the export header names chain $T2 twice" "$VOUT"
both "jsonl: an edited claim in a header written another way is caught" 4 "$TMP/h-short-spaced.jsonl"
assert_contains "jsonl: ... naming the chain" "tenant $T2: the header claims seq 1..8" "$VOUT"
both "jsonl: a chain claimed in upper case (not as its records name it) is refused" 4 "$TMP/h-upper.jsonl"
assert_contains "jsonl: ... as a malformed claim" "the export header's chain 3 is not {chain, first_seq, last_seq, records}" "$VOUT"
both "jsonl: a header with two chains members is refused" 4 "$TMP/h-two-keys.jsonl"
assert_contains "jsonl: ... as a key written twice" "line 1: a key twice in one line (duplicate object key near '\"chains\"'): lethe writes each key once, so the line was edited" "$VOUT"
# Valid JSON that lethe never writes: a record's key twice, a number past 64 bits.
sed '2s/^{"seq":/{"seq":1,"seq":/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: a record with its seq twice is refused" 4 "$TMP/x.jsonl"
assert_eq "jsonl: ... as a key written twice" "verify: line 2: a key twice in one line (duplicate object key near '\"seq\"'): lethe writes each key once, so the line was edited" "$VOUT"
sed '2s/^{"seq":[0-9]*/{"seq":9223372036854775808/' "$TMP/all.jsonl" >"$TMP/x.jsonl"
both "jsonl: a record whose seq is past 2^63-1 is refused" 4 "$TMP/x.jsonl"
assert_eq "jsonl: ... as a number lethe never writes" "verify: line 2: a number too large for 64 bits (too big integer near '9223372036854775808'): lethe writes none, so the line was edited" "$VOUT"

# ---- the command line ------------------------------------------------------------------
: >"$TMP/empty"
both "an empty file is not an export" 4 "$TMP/empty"
assert_eq "an empty file says so" "verify: '$TMP/empty' is empty: not an export" "$VOUT"
echo "hello" >"$TMP/garbage"
both "a file that is not an export fails" 4 "$TMP/garbage"
assert_eq "and names line 1" "verify: line 1: the first line is neither the CSV header lethe writes nor a JSON Lines export's header: a CSV export whose header line was removed, or not an export" "$VOUT"
# Two exports joined into one file: named as such ("unexpected member \"format\"" before).
cat "$TMP/all.jsonl" "$TMP/all.jsonl" >"$TMP/joined.jsonl"
both "jsonl: two exports joined into one file fail" 4 "$TMP/joined.jsonl"
assert_eq "... named as such" "verify: line $(($(wc -l <"$TMP/all.jsonl") + 1)): a second export header: two exports were joined into one file (verify each on its own)" "$VOUT"
# A CSV export without its header line was taken for JSON Lines ("not valid JSON").
tail -n +2 "$TMP/all.csv" >"$TMP/headless.csv"
both "csv: an export whose header line was removed fails" 4 "$TMP/headless.csv"
assert_eq "... named as such, not as bad JSON" "verify: line 1: the first line is neither the CSV header lethe writes nor a JSON Lines export's header: a CSV export whose header line was removed, or not an export" "$VOUT"
echo '{"kind":' >"$TMP/broken.jsonl"
both "a first line that starts as JSON and breaks fails" 4 "$TMP/broken.jsonl"
assert_contains "... as not JSON" "verify: line 1: not valid JSON" "$VOUT"
# A blank line is no record: caught, and named as what it is (jansson said only "'[' or '{'
# expected near end of file"); CRLF line ends are whitespace around each record, and verify.
{ cat "$TMP/all.jsonl"; echo; } >"$TMP/blank-last.jsonl"
both "jsonl: a blank last line is caught" 4 "$TMP/blank-last.jsonl"
assert_eq "jsonl: ... and named as an empty line" "verify: line $(($(wc -l <"$TMP/all.jsonl") + 1)): an empty line: an export has none (a record was emptied, or a blank line was added, as some editors do at the end of a file)" "$VOUT"
sed 's/$/\r/' "$TMP/all.jsonl" >"$TMP/crlf.jsonl"
both "jsonl: CRLF line ends verify" 0 "$TMP/crlf.jsonl"
# What an editor or a spreadsheet makes of a file is named as such (jansson named the byte).
{ printf '\xef\xbb\xbf'; cat "$TMP/all.jsonl"; } >"$TMP/bom.jsonl"
both "jsonl: a byte-order mark added before the header is caught" 4 "$TMP/bom.jsonl"
assert_eq "... and named" "verify: line 1: the file starts with a UTF-8 byte-order mark, which lethe never writes (an editor added it): not the export as written" "$VOUT"
python3 -c 'import csv, sys; rows = list(csv.reader(open(sys.argv[1], newline=""))); csv.writer(open(sys.argv[2], "w", newline=""), quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)' \
    "$TMP/all.csv" "$TMP/quoted.csv"
both "csv: a CSV export re-saved with every field quoted is caught" 4 "$TMP/quoted.csv"
assert_eq "... and named" "verify: line 1: a CSV header with its names quoted: lethe writes them bare, so this is a CSV export re-saved by another program (verify the file lethe wrote)" "$VOUT"
# A seq written as Python's int() reads it but lethe never writes it (the Python model took it).
for form in '+%s' '0_%s' ' %s'; do
    python3 -c 'import csv, sys; rows = list(csv.reader(open(sys.argv[1], newline=""))); rows[1][0] = sys.argv[3] % rows[1][0]; csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n").writerows(rows)' \
        "$TMP/all.csv" "$TMP/int-form.csv" "$form"
    both "csv: a seq written '$form' is caught" 4 "$TMP/int-form.csv"
done
sed '1s/,"exported_at":"[^"]*"//' "$TMP/all.jsonl" >"$TMP/no-exported.jsonl"
both "jsonl: a header without its exported_at is caught" 4 "$TMP/no-exported.jsonl"
# The header's times in any other form than lethe's (an outside tryout found the verifiers
# disagreeing on each of these: one read it, the other refused it).
for edit in 's/"exported_at":"[^"]*"/"exported_at":null/' \
            's/"exported_at":"\([^"]*\)Z"/"exported_at":"\1z"/' \
            's/"exported_at":"\([^"]*\)Z"/"exported_at":"\10Z"/' \
            's/"exported_at":"\([0-9-]*\)T/"exported_at":"\1t/'; do
    sed "1$edit" "$TMP/all.jsonl" >"$TMP/hdr-time.jsonl"
    both "jsonl: a header whose exported_at is edited ($edit) is caught" 4 "$TMP/hdr-time.jsonl"
done
assert_eq "... and named" "verify: line 1: the export header's \"exported_at\" is not a time as lethe writes it (UTC, six fractional digits and Z; the header was edited)" "$VOUT"
run_lethe verify "$TMP/all.jsonl" --anchors "$TMP/no-such-anchors.jsonl"
python3 tests/verify_export.py "$TMP/all.jsonl" --anchors "$TMP/no-such-anchors.jsonl" >/dev/null 2>&1
assert_eq "an anchor file that cannot be read is a usage error for both verifiers" "2 2" "$RC $?"
# Said, not failed: an export that vouches for nothing, and a header from the future.
# (A tenant the audit has no chain of is refused by export: a window with none of its records.)
"$LETHE" export --tenant "$T1" --to 2000-01-01T00:00:00Z -o "$TMP/none.jsonl" 2>/dev/null
run_lethe verify "$TMP/none.jsonl"
assert_rc "an export with no record verifies" 0
assert_contains "... and says nothing in it was checked" "warning: verify: '$TMP/none.jsonl' holds no record: nothing in it was checked" "$ERR"
sed '1s/"exported_at":"[^"]*"/"exported_at":"2999-01-01T00:00:00.000000Z"/' "$TMP/all.jsonl" >"$TMP/future.jsonl"
run_lethe verify "$TMP/future.jsonl"
assert_rc "a header's exported_at in the future verifies (its records are all before it)" 0
assert_contains "... and is said" "warning: verify: the header says the export was taken at 2999-01-01T00:00:00.000000Z, later than now by this machine's clock" "$ERR"
run_lethe verify "$TMP/all.jsonl"
assert_eq "an export as written draws no warning" "" "$ERR"
# An export taken before its window ended holds nothing after its snapshot: the verdict names the
# window all the same, so it says when the export was taken, and warns.
"$LETHE" export --to 2999-01-01 -o "$TMP/unended.jsonl" 2>/dev/null
UNENDED_AT=$(exported "$TMP/unended.jsonl")
run_lethe verify "$TMP/unended.jsonl"
assert_rc "an export taken before its window ended verifies (what it holds is intact)" 0
assert_contains "... and warns that it holds nothing after it was taken" "warning: verify: the export's window ends at 2999-01-01T00:00:00.000000Z, after the export was taken ($UNENDED_AT): it holds no record written after that, and nothing in it shows whether there was one" "$ERR"
assert_contains "... with what to do" "hint: verify it with --anchors and an anchor file written after 2999-01-01T00:00:00.000000Z" "$ERR"
assert_contains "... and its verdict names both times" "; records from the start of the log until 2999-01-01T00:00:00.000000Z, but taken at $UNENDED_AT, before that" "$OUT"
"$LETHE" export --to "$M1" -o "$TMP/ended.jsonl" 2>/dev/null
run_lethe verify "$TMP/ended.jsonl"
assert_eq "a window that had ended when it was exported draws no such warning" "" "$ERR"
assert_contains "... and its verdict names its end alone" "; records from the start of the log until $M1
" "$OUT
"
run_lethe verify
assert_rc "verify without a file exits 2" 2
assert_eq "verify without a file says so" "error: verify: no file given
hint: see 'lethe help verify'" "$ERR"
run_lethe verify "$TMP/nope.jsonl"
assert_rc "a missing file exits 2" 2
assert_contains "a missing file is named" "error: verify: cannot read '$TMP/nope.jsonl': No such file or directory" "$ERR"
run_lethe verify "$TMP"
assert_rc "a directory exits 2" 2
run_lethe verify "$TMP/all.jsonl" "$TMP/all.csv"
assert_rc "two files exit 2" 2
run_lethe verify "$TMP/all.jsonl" --expect-head "$T1"
assert_rc "--expect-head without a hash exits 2" 2
assert_contains "--expect-head without a hash says what it expects" "expected TENANT=HASH" "$ERR"
run_lethe verify "$TMP/all.jsonl" --expect-head "nope=$H1"
assert_rc "--expect-head with a malformed tenant exits 2" 2
run_lethe verify "$TMP/all.jsonl" --expect-head "$T1=abc"
assert_rc "--expect-head with a malformed hash exits 2" 2
assert_contains "--expect-head with a malformed hash says so" 'verify: --expect-head: malformed hash "abc"' "$ERR"
run_lethe verify --bogus "$TMP/all.jsonl"
assert_rc "an unknown option exits 2" 2
run_lethe verify "$TMP/all.jsonl" --expect-head="$T1=$H1"
assert_rc "--expect-head=TENANT=HASH works too" 0
run_lethe verify "$TMP/all.jsonl" --anchors "$TMP/nope"
assert_rc "a missing anchor file exits 2" 2
echo '{"run_id":"x"}' >"$TMP/bad-anchors"; echo '{}' >>"$TMP/bad-anchors"
run_lethe verify "$TMP/all.jsonl" --anchors "$TMP/bad-anchors"
assert_rc "a malformed anchor file: a failed check, exit 4" 4
assert_contains "... naming its line" "line 1 is not an anchor line" "$OUT"
: >"$TMP/no-anchors"
run_lethe verify "$TMP/all.csv" --anchors "$TMP/no-anchors"
assert_rc "--anchors with a CSV export exits 2" 2
assert_contains "... and says why" "--anchors needs a JSON Lines export" "$ERR"
python3 tests/verify_export.py "$TMP/all.csv" --anchors "$TMP/no-anchors" >"$TMP/p.out" 2>&1
assert_eq "... and so does verify_export.py, as lethe (it called a genuine CSV window forged)" \
  "2|FAILED: --anchors needs a JSON Lines export: a CSV export does not state its window" "$?|$(cat "$TMP/p.out")"
# Records that are the same JSON written another way (members reordered, spaces, \u escapes)
# leave the fast scanner for jansson, and reach the same verdict.
python3 -c '
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
out = [lines[0]] + [json.dumps(json.loads(l), sort_keys=True, ensure_ascii=True, separators=(", ", ": ")) for l in lines[1:]]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
bad = json.loads(lines[2]); bad["count"] = (bad["count"] or 0) + 1
out[2] = json.dumps(bad, sort_keys=True, separators=(", ", ": "))
open(sys.argv[3], "w").write("\n".join(out) + "\n")' "$TMP/all.jsonl" "$TMP/respelled.jsonl" "$TMP/respelled-bad.jsonl"
run_lethe verify "$TMP/respelled.jsonl"
assert_rc "an export written another way, same JSON, verifies" 0
assert_contains "... every record checked" "verify: ok: $TOTAL records" "$OUT"
run_lethe verify "$TMP/respelled-bad.jsonl"
assert_rc "a changed field in such a record is caught" 4
assert_contains "... on its line" "line 3: " "$OUT"
# The fast scanner reads a record that is its canonical form, and hashes the line as it stands;
# it must hand every other line to jansson. One byte of line 3's "at" is replaced by each byte
# that decides it, at three places (the first, sixth and thirteenth byte: either side of the
# scanner's 8-byte words). The model: a control character, a lone byte of 0x80 or more, or a
# backslash there is not JSON (so jansson read it); any other byte is JSON whose hash no longer
# matches. verify_export.py, which has no fast path, must exit as lethe verify does.
python3 - "$TMP/all.jsonl" "$TMP/bytes" <<'PY'
import os, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
os.makedirs(sys.argv[2])
at = lines[2].index(b'"at":"') + 6
probe = [0x01, 0x08, 0x09, 0x0d, 0x1b, 0x1f, 0x20, 0x21, 0x23, 0x2f, 0x5b, 0x5c, 0x5d, 0x61, 0x7e, 0x7f, 0x80, 0xc3, 0xfe, 0xff]
for off in (0, 5, 12):
    for b in probe:
        if b == 0x0a:
            continue
        l = bytearray(lines[2]); l[at + off] = b
        want = 'json' if b < 0x20 or b >= 0x80 or b == 0x5c else 'hash'
        out = list(lines); out[2] = bytes(l)
        open('%s/%s-%d-%02x' % (sys.argv[2], want, off, b), 'wb').write(b'\n'.join(out))
PY
wrong=""; n=0
for f in "$TMP"/bytes/*; do
    n=$((n + 1))
    v=$("$LETHE" verify "$f" 2>&1); vrc=$?
    python3 tests/verify_export.py "$f" >/dev/null 2>&1; prc=$?
    case "$(basename "$f")" in
    json-*) want="line 3: not valid JSON" ;;
    hash-*) want="hash mismatch" ;;
    esac
    [ "$vrc $prc" = "4 4" ] && case "$v" in *"$want"*) continue ;; esac
    wrong="$wrong $(basename "$f")($vrc/$prc: $v)"
done
assert_eq "each of $n one-byte changes to a record gets the model's verdict, as verify_export.py's" "" "$wrong"
# A required member set to null in the canonical spelling is refused as not an audit record.
sed '3s/"kind":"[a-z_]*"/"kind":null/' "$TMP/all.jsonl" >"$TMP/null-kind.jsonl"
run_lethe verify "$TMP/null-kind.jsonl"
assert_rc "a record whose kind is null exits 4" 4
assert_contains "... as not an audit record" 'line 3: not an audit record: member "kind" is null' "$OUT"

# ---- checkpoints name the heads of the chains their run touched ------------------------------
# SPEC §5: each run's checkpoint holds the head of every chain it touched. A run whose start the
# export holds touched them inside it: a chain removed, or cut before a head a checkpoint names,
# fails without the anchor file (the engine chain's own head pins the checkpoints).
psql -X -q -c 'CREATE DATABASE verify_cp' >/dev/null
export PGDATABASE=verify_cp
"$LETHE" migrate >/dev/null 2>&1
for r in 1 2; do
    RID=$(cat /proc/sys/kernel/random/uuid)
    psql -X -q -A -t -v ON_ERROR_STOP=1 >/dev/null <<EOF
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id) VALUES ('$NIL', 'run_started', '$RID');
INSERT INTO audit_stage (tenant_id, kind, run_id, reference)
SELECT t, 'item_purged', '$RID', 'REQ-' || g FROM unnest(ARRAY['$T1', '$T2', '$T3']::uuid[]) t, generate_series(1, 2) g
 ORDER BY t, g;
SELECT lethe.audit_checkpoint('$RID');
COMMIT;
EOF
    [ $r = 1 ] && CP_M=$(sql "SELECT lethe.audit_time(clock_timestamp())")
done
"$LETHE" export -o "$TMP/cp.jsonl" 2>/dev/null
"$LETHE" export --from "$CP_M" -o "$TMP/cp-win.jsonl" 2>/dev/null
both "checkpoints: an export that holds every head they name verifies" 0 "$TMP/cp.jsonl"
both "checkpoints: a window after the first run's checkpoint verifies" 0 "$TMP/cp-win.jsonl"
# cpedit OP TENANT IN OUT: cut TENANT's last record, drop its chain, or move it to the end; the
# header's claims edited to match.
cpedit() {
    python3 - "$@" <<'PY'
import json, sys
op, t, src, dst = sys.argv[1:5]
lines = open(src, encoding="utf-8").read().splitlines(keepends=True)
head, recs = json.loads(lines[0]), lines[1:]
mine = [i for i, l in enumerate(recs) if json.loads(l)["tenant_id"] == t]
if op == "cut":
    del recs[mine[-1]]
    for c in head["chains"]:
        if c["chain"] == t:
            c["last_seq"] -= 1; c["records"] -= 1
    head["records"] -= 1
elif op == "drop":
    recs = [l for i, l in enumerate(recs) if i not in mine]
    head["chains"] = [c for c in head["chains"] if c["chain"] != t]
    head["records"] = len(recs)
elif op == "last":
    recs = [l for i, l in enumerate(recs) if i not in mine] + [recs[i] for i in mine]
open(dst, "w", encoding="utf-8").write(json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n" + "".join(recs))
PY
}
CPLINE=$(grep -n '"kind":"checkpoint"' "$TMP/cp.jsonl" | tail -1 | cut -d: -f1)
cpedit cut "$T2" "$TMP/cp.jsonl" "$TMP/x.jsonl"
both "checkpoints: a tenant chain's last record cut off (the claims edited to match) is caught" 4 "$TMP/x.jsonl"
assert_contains "... naming the checkpoint and the chain" \
  "verify: line $CPLINE: the checkpoint of run $RID names the head $(sql "SELECT left(hash, 12) FROM lethe.audit_heads WHERE tenant_id = '$T2'")... of chain $T2, but its chain ends at seq 3 on line" "$VOUT"
cpedit drop "$T3" "$TMP/cp.jsonl" "$TMP/x.jsonl"
both "checkpoints: a tenant chain removed (with its claim) is caught" 4 "$TMP/x.jsonl"
assert_contains "... as a removed chain" "of chain $T3, but the export holds no record of it (a chain was removed)" "$VOUT"
cpedit drop "$T3" "$TMP/cp-win.jsonl" "$TMP/x.jsonl"
both "checkpoints: ... in a window, by the checkpoint of the run inside it" 4 "$TMP/x.jsonl"
cpedit last "$T1" "$TMP/cp.jsonl" "$TMP/x.jsonl"
both "a chain moved after the others (chains are in tenant_id order) is caught" 4 "$TMP/x.jsonl"
assert_contains "... as moved" "tenant $T1: the chain comes after chain $T3's, but an export holds its chains in tenant_id order (chains were moved)" "$VOUT"
finish
