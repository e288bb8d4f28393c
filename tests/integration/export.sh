# lethe export: JSON Lines and CSV of a populated log, tenant and time windows, -o, the summary,
# bad options, and privacy: no locator or subject id ever reaches the log or an export. Every
# export is checked by `lethe verify` and by the independent tests/verify_export.py.
. tests/harness/lib.sh
psql -X -q -c 'CREATE DATABASE export_t' >/dev/null
export PGDATABASE=export_t
"$LETHE" migrate >/dev/null 2>&1

NIL=00000000-0000-0000-0000-000000000000
T1=a1a1a1a1-0000-4000-8000-000000000001
T2=b2b2b2b2-0000-4000-8000-000000000002
T3=c3c3c3c3-0000-4000-8000-000000000003
TMP=$(mktemp -d /tmp/lethe-export.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
KEY=$TMP/audit.key
printf 'test audit key' >"$KEY"

# ---- a catalog with distinctive locators and subjects, and a log written as the engine does ----
psql -X -q -v ON_ERROR_STOP=1 <<EOF >/dev/null
INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$T1', 'one'), ('$T2', 'two'), ('$T3', 'three');
INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES
  ('$T1', '$T1', 'EU'), ('$T2', '$T2', 'US'), ('$T3', '$T3', 'UK');
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator, created_at)
SELECT t.id, ('0000000' || t.n || '-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, t.id,
       'SUBJECT-SECRET-' || t.n || '-' || g || '@example.com', 'prompt', t.geo,
       's3://bucket-' || t.geo || '/LOCATOR-SECRET-' || t.n || '-' || g, now() - interval '40 days'
  FROM (VALUES ('$T1'::uuid, 1, 'EU'), ('$T2'::uuid, 2, 'US'), ('$T3'::uuid, 3, 'UK')) t(id, n, geo),
       generate_series(1, 12) g;
EOF
# The engine stores a subject only as HMAC-SHA256(audit key, subject id).
sql "SELECT owner_id FROM lethe.items ORDER BY owner_id" | python3 -c '
import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    s = line.rstrip("\n")
    print(s + "\t" + hmac.new(key, s.encode(), hashlib.sha256).hexdigest())' "$KEY" >"$TMP/macs.tsv"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE subject_macs (owner_id text, mac text)" \
     -c "\\copy subject_macs FROM '$TMP/macs.tsv'" >/dev/null

# run RUN N1 N2: one run's records, flushed in one transaction as the run cycle does: items
# N1..N2 of every tenant purged; item 2 of each run late, 3 held past its deadline, 4 a
# violation; then an ack, a withdrawal with awkward text, and a checkpoint.
run() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF >/dev/null
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, operator) VALUES ('$NIL', 'run_started', '$1', NULL);
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, location, count)
  SELECT '$NIL', 'batch_emitted', '$1', '$1', location, count(*) FROM lethe.items GROUP BY location ORDER BY location;
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference, triggered_at,
                         deadline_at, purged_at, on_time, location, hold_id, subject_hmac, detail)
SELECT i.tenant_id, 'item_purged', '$1', '$1', i.item_id,
       CASE WHEN g.k = 4 THEN 'shared_while_opted_out' WHEN g.k % 2 = 0 THEN 'subject_request' ELSE 'deletion_request' END,
       'REQ-' || g.k, i.created_at,
       CASE WHEN g.k = 2 THEN now() - interval '2 days 3 hours' WHEN g.k = 3 THEN now() - interval '1 day'
            WHEN g.k = 4 THEN i.created_at ELSE now() + interval '10 days' END,
       now(), g.k NOT IN (2, 3, 4), i.location,
       CASE WHEN g.k = 3 THEN '99999999-0000-4000-8000-000000000009'::uuid END, m.mac,
       CASE WHEN g.k = 3 THEN 'held' END
  FROM lethe.items i JOIN subject_macs m ON m.owner_id = i.owner_id
  CROSS JOIN LATERAL (SELECT substr(i.item_id::text, 25)::int - $2 + 1 AS k) g
 WHERE substr(i.item_id::text, 25)::int BETWEEN $2 AND $3
 ORDER BY i.tenant_id, i.item_id;
INSERT INTO audit_stage (tenant_id, kind, run_id, rule, reference, count, detail) VALUES
  ('$T3', 'obligation_withdrawn', '$1', 'deletion_request', 'REQ-"x"', 3,
   E'quote " backslash \\\\ newline \n tab \t bell \x07 unicode \u00e9 \u2713 slash /');
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, count) VALUES ('$NIL', 'batch_acknowledged', '$1', '$1', 12);
INSERT INTO audit_stage (tenant_id, kind, run_id, count) VALUES ('$NIL', 'run_finished', '$1', 12);
SELECT lethe.audit_checkpoint('$1');
COMMIT;
EOF
}
mark() { sql "SELECT lethe.audit_time(clock_timestamp())"; }
R1=11111111-0000-4000-8000-000000000001
R2=11111111-0000-4000-8000-000000000002
R3=11111111-0000-4000-8000-000000000003
run $R1 1 4;  M1=$(mark)
run $R2 5 8;  M2=$(mark)
run $R3 9 12
TOTAL=$(sql "SELECT count(*) FROM lethe.audit")

# both EXPECTED_RC FILE [HEADS...]: lethe verify and the Python verifier must agree.
both() {
    local want=$1 f=$2; shift 2
    local heads=() h
    for h in "$@"; do heads+=(--expect-head "$h"); done
    "$LETHE" verify "$f" "${heads[@]}" >"$TMP/v.out" 2>&1; local r1=$?
    python3 tests/verify_export.py "$f" "$@" >"$TMP/p.out" 2>&1; local r2=$?
    if [ "$r1 $r2" = "$want $want" ]; then ok "${NAME}: lethe verify and verify_export.py both exit $want"
    else not_ok "${NAME}: verifiers disagree or fail" "expected $want, lethe: $r1 $(cat "$TMP/v.out")" "python: $r2 $(cat "$TMP/p.out")"; fi
}

# ---- JSON Lines ------------------------------------------------------------------------
run_lethe export -o "$TMP/all.jsonl"
assert_rc "export -o exits 0" 0
assert_contains "export -o reports what it wrote" "export: wrote $TOTAL records to '$TMP/all.jsonl'" "$ERR"
assert_eq "no temporary file is left beside the export" "all.jsonl audit.key macs.tsv" "$(ls -A "$TMP" | sort | tr '\n' ' ' | sed 's/ $//')"
assert_eq "an export holds a header line and every record" "$((TOTAL + 1))" "$(wc -l <"$TMP/all.jsonl")"
header=$(head -1 "$TMP/all.jsonl")
assert_contains "the first line is a header with a kind of its own" '{"kind":"export_header","format":2,"from":null,"to":null,"tenant_id":null,"exported_at":"' "$header"
NAME="full JSON Lines export" both 0 "$TMP/all.jsonl"
assert_contains "verify's verdict counts records and chains" "verify: ok: $TOTAL records in 4 chains (4 from seq 1, 0 windows)" "$(cat "$TMP/v.out")"
run_lethe export
assert_eq "export to standard output writes the same records" "$(tail -n +2 "$TMP/all.jsonl")" "$(echo "$OUT" | tail -n +2)"
assert_eq "records are ordered by tenant, then seq" \
  "$(sql "SELECT tenant_id || ' ' || seq FROM lethe.audit ORDER BY tenant_id, seq")" \
  "$(tail -n +2 "$TMP/all.jsonl" | python3 -c 'import json,sys; [print(r["tenant_id"], r["seq"]) for r in map(json.loads, sys.stdin)]')"
assert_eq "every record has every member, in the documented order, hash last" \
  "seq,at,kind,tenant_id,run_id,batch_id,item_id,rule,reference,triggered_at,deadline_at,purged_at,on_time,location,hold_id,subject_hmac,operator,count,detail,prev_hash,hash" \
  "$(tail -n +2 "$TMP/all.jsonl" | python3 -c 'import json,sys; print(*{",".join(json.loads(l)) for l in sys.stdin})')"
assert_eq "times are UTC with six fractional digits and Z" "0" \
  "$(tail -n +2 "$TMP/all.jsonl" | grep -Ec '"(at|triggered_at|deadline_at|purged_at)":"[^"]*[^Z]"|"at":"[^"]{0,26}"')"
assert_eq "the lines are byte for byte the database's own canonical lines (lethe.audit_jsonl)" \
  "$(psql -X -q -c "COPY (SELECT lethe.audit_jsonl(a) FROM lethe.audit a ORDER BY tenant_id, seq) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')" | md5sum)" \
  "$(tail -n +2 "$TMP/all.jsonl" | md5sum)"
assert_contains "awkward text is escaped minimally" \
  '"detail":"quote \" backslash \\ newline \n tab \t bell \u0007 unicode é ✓ slash /"' "$(cat "$TMP/all.jsonl")"

# ---- CSV ------------------------------------------------------------------------------
run_lethe export --format csv -o "$TMP/all.csv"
assert_rc "export --format csv exits 0" 0
assert_eq "the CSV header row names every column in order" \
  "seq,at,kind,tenant_id,run_id,batch_id,item_id,rule,reference,triggered_at,deadline_at,purged_at,on_time,location,hold_id,subject_hmac,operator,count,detail,prev_hash,hash" \
  "$(head -1 "$TMP/all.csv")"
assert_eq "the CSV holds every record" "$TOTAL" \
  "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))) - 1)' "$TMP/all.csv")"
assert_eq "null is an empty unquoted field" \
  "1,$(sql "SELECT lethe.audit_time(at) FROM lethe.audit WHERE tenant_id = '$NIL' AND seq = 1"),run_started,$NIL,$R1,,,,,,,,,,,,,,,0000000000000000000000000000000000000000000000000000000000000000," \
  "$(sed -n 2p "$TMP/all.csv" | sed 's/,[0-9a-f]\{64\}$/,/')"
assert_contains "booleans are true and false" ",false,UK," "$(cat "$TMP/all.csv")"
assert_contains "text with quotes and newlines is quoted the CSV way" \
  '"quote "" backslash \ newline ' "$(cat "$TMP/all.csv")"
NAME="full CSV export" both 0 "$TMP/all.csv"
assert_contains "a CSV export verifies with the same counts" "verify: ok: $TOTAL records in 4 chains" "$(cat "$TMP/v.out")"

# ---- one tenant ------------------------------------------------------------------------
for fmt in jsonl csv; do
    run_lethe export --tenant "$T2" --format $fmt -o "$TMP/t2.$fmt"
    assert_rc "export --tenant --format $fmt exits 0" 0
    NAME="one tenant's $fmt export" both 0 "$TMP/t2.$fmt"
    assert_contains "the $fmt export holds one chain" "in 1 chains (1 from seq 1" "$(cat "$TMP/v.out")"
    assert_eq "the $fmt export holds no other tenant's records" "" \
      "$(grep -E "$T1|$T3|$NIL" "$TMP/t2.$fmt" | grep -v export_header)"
    assert_eq "the $fmt export holds exactly that tenant's chain" "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$T2'")" \
      "$(grep -c "$T2" "$TMP/t2.$fmt" | awk -v f=$fmt '{print f == "jsonl" ? $1 - 1 : $1}')"
done
assert_contains "a tenant export's header names the tenant" "\"tenant_id\":\"$T2\"" "$(head -1 "$TMP/t2.jsonl")"
head2=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$T2'")
NAME="one tenant's export against its anchored head" both 0 "$TMP/t2.jsonl" "$T2=$head2"
run_lethe export --tenant "$NIL"
assert_eq "the engine chain exports on its own" "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$NIL'")" \
  "$(echo "$OUT" | tail -n +2 | grep -c "\"tenant_id\":\"$NIL\"")"
run_lethe export --tenant ffffffff-0000-4000-8000-00000000000f
assert_eq "an unknown tenant exports a header and nothing else" "1" "$(echo "$OUT" | wc -l)"

# ---- time windows ------------------------------------------------------------------------
for fmt in jsonl csv; do
    run_lethe export --from "$M1" --to "$M2" --format $fmt -o "$TMP/w.$fmt"
    assert_rc "a window export ($fmt) exits 0" 0
    NAME="a window export ($fmt)" both 0 "$TMP/w.$fmt"
    assert_contains "a window's chains start after seq 1 ($fmt)" "in 4 chains (0 from seq 1, 4 windows)" "$(cat "$TMP/v.out")"
done
assert_eq "a window holds exactly the records with at in [from, to)" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE at >= '$M1' AND at < '$M2'")" "$(grep -vc '^{"kind":"export_' "$TMP/w.jsonl")"
# Format 2: before each chain that starts after seq 1, the record before the window's first.
assert_eq "... and before each of its 4 chains the record before it, stamped before the window" \
  "$(sql "SELECT string_agg(tenant_id || ' ' || seq, ',' ORDER BY tenant_id) FROM lethe.audit a
          WHERE at < '$M1' AND seq = (SELECT max(seq) FROM lethe.audit b WHERE b.tenant_id = a.tenant_id AND b.at < '$M1')
            AND EXISTS (SELECT 1 FROM lethe.audit c WHERE c.tenant_id = a.tenant_id AND c.at >= '$M1' AND c.at < '$M2')")" \
  "$(grep '^{"kind":"export_before","record":' "$TMP/w.jsonl" | python3 -c 'import json,sys; print(",".join(r["tenant_id"] + " " + str(r["seq"]) for r in (json.loads(l)["record"] for l in sys.stdin)))')"
assert_eq "a window holds only the second run" "$R2" \
  "$(tail -n +2 "$TMP/w.jsonl" | grep -v '^{"kind":"export_before"' | python3 -c 'import json,sys; print(*{json.loads(l)["run_id"] for l in sys.stdin})')"
run_lethe export --from "$M2"
echo "$OUT" >"$TMP/from.jsonl"
NAME="an open-ended window (file)" both 0 "$TMP/from.jsonl"
assert_eq "--from alone keeps the last run" "$R3" \
  "$(tail -n +2 "$TMP/from.jsonl" | grep -v '^{"kind":"export_before"' | python3 -c 'import json,sys; print(*{json.loads(l)["run_id"] for l in sys.stdin})')"
run_lethe export --to "$M1" --tenant "$T1"
echo "$OUT" >"$TMP/to.jsonl"
NAME="a window up to --to of one tenant" both 0 "$TMP/to.jsonl"
bare=${M1%Z}
run_lethe export --from "${bare/T/ }"
plain=$(echo "$OUT" | tail -n +2)
run_lethe export --from "${bare}+00:00"
assert_eq "times without an offset are UTC" "$plain" "$(echo "$OUT" | tail -n +2)"
run_lethe export --from "$M1" --to "2999-01-01"
assert_contains "a window that ends in the future says so" \
  "warning: export: --to 2999-01-01T00:00:00.000000Z is in the future; records written after now (" "$ERR"
assert_not_contains "and not that it ended less than a minute ago" "less than a minute ago" "$ERR"
SOON=$(date -u -d '-20 seconds' +%FT%TZ)
run_lethe export --to "$SOON"
assert_contains "a window that ended less than a minute ago warns that records may still be coming" \
  "warning: export: --to is less than a minute ago; records being written now may be missing" "$ERR"
run_lethe export --to 2020-01-01
assert_eq "a window that ended long ago does not warn" "" "$ERR"
run_lethe export --from "$M1" --to "$M1"
assert_rc "an empty window is a usage error" 2
assert_contains "an empty window says so" "error: export: --from $M1 is not before --to $M1" "$ERR"

# ---- the summary ------------------------------------------------------------------------
run_lethe export --summary
assert_rc "export --summary exits 0" 0
assert_eq "export --summary is JSON Lines by default, as documented" "summary_header" \
  "$(echo "$OUT" | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["kind"])')"
run_lethe export --summary --format text
assert_rc "export --summary --format text exits 0" 0
assert_contains "the text summary is a readable page" "lethe compliance summary" "$OUT"
assert_contains "the summary names its evidence" "$TOTAL audit records in 4 hash chains" "$OUT"
assert_contains "the summary has a row per rule" "deletion_request" "$OUT"
# Without a window the counts come from the chains' heads; with --tenant and with a window
# they are still the records' own.
run_lethe export --summary --format text --tenant "$T2"
assert_contains "a tenant's summary counts its records" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$T2'") audit records in 1 hash chain" "$OUT"
run_lethe export --summary --format text --from "$M1"
assert_contains "a window's summary counts the records in it" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE at >= '$M1'") audit records in $(sql "SELECT count(DISTINCT tenant_id) FROM lethe.audit WHERE at >= '$M1'") hash chain" "$OUT"
assert_contains "a window open at its end says the last record is in it" \
  "window      audit records from $(python3 -c 'import sys, datetime; print(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))' "$M1") (inclusive) to the last record (inclusive)" "$OUT"
run_lethe export --summary --format text --to "$M1"
assert_contains "a window closed at its end excludes it" "window      audit records from the first record (inclusive) to " "$OUT"
assert_contains "... saying so" " (exclusive)" "$(echo "$OUT" | grep '^  window')"
assert_contains "the summary explains held past deadline" "held past deadline  purged after their deadline because a hold kept them" "$OUT"
run_lethe export --summary --format csv
assert_rc "export --summary --format csv exits 0" 0
assert_eq "the summary CSV header" "rule,purged,on_time,late,max_lateness_seconds,held_past_deadline,violations,pending,overdue,nearest_deadline,violations_pending" \
  "$(echo "$OUT" | head -1)"
# Per tenant and run: items 1..4 -> 1 on time (deletion_request), 2 late (subject_request),
# 3 held (deletion_request), 4 violation; three runs, three tenants.
allrow=$(echo "$OUT" | grep '^all,' | cut -d, -f1-4,6-7)
assert_eq "the summary's overall counts" "all,36,9,9,9,9" "$allrow"
assert_eq "late and held are told apart per rule" "deletion_request,18,9,0,9,0|subject_request,9,0,9,0,0|shared_while_opted_out,9,0,0,0,9" \
  "$(echo "$OUT" | grep -E '^(deletion_request|subject_request|shared_while_opted_out),' | cut -d, -f1-4,6-7 | tr '\n' '|' | sed 's/|$//')"
late=$(echo "$OUT" | grep '^subject_request,' | cut -d, -f5)
if python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if 2*86400 + 3*3600 <= v < 2*86400 + 4*3600 else 1)" "$late"; then
    ok "the largest lateness is reported in seconds"; else not_ok "largest lateness" "got '$late'"; fi
assert_eq "the summary CSV has a row per rule and an overall row" "8" "$(echo "$OUT" | wc -l)"
run_lethe export --summary --format jsonl --tenant "$T1" --from "$M1"
assert_rc "export --summary --format jsonl exits 0" 0
assert_eq "the JSON summary is one object per line, a header first" \
  "summary_header 8 1 summary all 8 2 2 2 2" \
  "$(echo "$OUT" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
h, a = rows[0], rows[-1]
print(h["kind"], h["records"], h["chains"], a["kind"], a["rule"], a["purged"], a["on_time"],
      a["late"], a["held_past_deadline"], a["violations"])')"
assert_contains "the JSON summary header carries the window" "\"from\":\"$M1\",\"to\":null,\"tenant_id\":\"$T1\"" "$(echo "$OUT" | head -1)"


# ---- options and errors ------------------------------------------------------------------
run_lethe export --from yesterday
assert_rc "a malformed time exits 2" 2
assert_eq "a malformed time says which option" 'error: export: --from: malformed time "yesterday"
hint: times are ISO 8601, UTC unless an offset is given, e.g. 2026-11-28T03:00:00Z' "$ERR"
run_lethe export --tenant 42
assert_rc "a malformed tenant id exits 2" 2
assert_contains "a malformed tenant id says so" 'error: export: --tenant: malformed id "42"' "$ERR"
run_lethe export --format xml
assert_rc "an unknown format exits 2" 2
assert_contains "an unknown format names the known ones" 'unknown format "xml" (jsonl or csv; with --summary also text or html)' "$ERR"
run_lethe export extra
assert_rc "an unexpected argument exits 2" 2
run_lethe export --format text
assert_rc "--format text without --summary exits 2" 2
assert_eq "--format text without --summary message" "error: export: --format text is for --summary; records are jsonl or csv
hint: see 'lethe help export'" "$ERR"
run_lethe export --bogus
assert_rc "an unknown option exits 2" 2
run_lethe export -o "$TMP/no/such/dir/x.jsonl"
assert_rc "-o into a missing directory exits 2, judged before connecting" 2
assert_contains "an unwritable -o names the file" "cannot create a file next to '$TMP/no/such/dir/x.jsonl'" "$ERR"
assert_contains "... with a hint" "hint: the directory of '$TMP/no/such/dir/x.jsonl' does not exist: create it first" "$ERR"
# root writes into any directory but not into sysfs; anyone else not into a 0555 directory
if [ "$(id -u)" = 0 ]; then RO=/sys/lethe-export-test.jsonl; else mkdir -p "$TMP/ro" && chmod 0555 "$TMP/ro"; RO=$TMP/ro/x.jsonl; fi
run_lethe export -o "$RO"
assert_rc "a directory that is not writable: exit 1" 1
assert_contains "... with a hint of its own" \
  "hint: the file is written next to '$RO' under a temporary name, then renamed into place: its directory must be readable and writable by the user running lethe" "$ERR"
psql -X -q -c 'CREATE DATABASE export_empty' >/dev/null
PGDATABASE=export_empty run_lethe export
assert_rc "export from a database without the schema exits 2" 2
assert_contains "and says what to do" "hint: run 'lethe migrate' first" "$ERR"

# ---- privacy ------------------------------------------------------------------------------
run_lethe export --summary --format jsonl
echo "$OUT" >"$TMP/summary.jsonl"
psql -X -q -c "COPY lethe.audit TO STDOUT" >"$TMP/table.txt"
psql -X -q -c "COPY lethe.audit_heads TO STDOUT" >>"$TMP/table.txt"
leaks=$(sql "SELECT locator FROM lethe.items UNION ALL SELECT owner_id FROM lethe.items" | while read -r s; do
    grep -lF -- "$s" "$TMP/table.txt" "$TMP"/*.jsonl "$TMP"/*.csv 2>/dev/null; done | sort -u)
assert_eq "no locator or subject id appears in the audit table or any export" "" "$leaks"
assert_eq "no trace of the secrets at all" "" "$(grep -l 'SECRET' "$TMP/table.txt" "$TMP"/*.jsonl "$TMP"/*.csv)"
mac=$(python3 -c 'import hashlib,hmac,sys; print(hmac.new(open(sys.argv[1],"rb").read(), b"SUBJECT-SECRET-1-1@example.com", hashlib.sha256).hexdigest())' "$KEY")
assert_contains "a subject appears only as its HMAC, which its holder can look up" "\"subject_hmac\":\"$mac\"" "$(cat "$TMP/all.jsonl")"

# ---- the summary's pending items are the ones lethe.item_status shows ----------------------
psql -X -q -v ON_ERROR_STOP=1 <<EOF >/dev/null
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, shared, created_at)
VALUES ('$T1', 'dddddddd-0000-4000-8000-000000000001', '$T1', 'response', 'EU', 's3://p/1', true, now() - interval '1 day');
INSERT INTO lethe.holds (tenant_id, reason, placed_at) VALUES ('$T3', 'litigation', now() - interval '2 hours');
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES
  ('$T3', 'deletion_requested', now() - interval '1 hour', 'REQ-HELD'),
  ('$T2', 'deletion_requested', now() - interval '1 hour', 'REQ-FLIGHT');
EOF
printf 'spool: { directory = "%s/spool"; };\naudit: { anchor_file = "%s/anchors.jsonl"; };\n' "$TMP" "$TMP" >"$TMP/run.conf"
mkdir "$TMP/spool"
run_lethe --config "$TMP/run.conf" -q run
assert_rc "a run leaves items scheduled, held and in flight" 0
run_lethe export --summary --format csv
assert_eq "the summary's pending, overdue and nearest deadline per rule are item_status's" \
  "$(sql "WITH s AS MATERIALIZED (SELECT rule, deadline_at FROM lethe.item_status
                                     WHERE state IN ('due', 'scheduled', 'held', 'in_flight'))
          SELECT coalesce(rule, 'all') || ',' || count(*) || ',' || count(*) FILTER (WHERE deadline_at < now())
                 || ',' || lethe.audit_time(min(deadline_at))
            FROM s GROUP BY ROLLUP (rule) ORDER BY 1")" \
  "$(echo "$OUT" | tail -n +2 | awk -F, '$8 > 0 { print $1 "," $8 "," $9 "," $10 }' | sort)"
assert_eq "and cover every state" "held in_flight scheduled" \
  "$(sql "SELECT string_agg(DISTINCT state, ' ' ORDER BY state) FROM lethe.item_status
           WHERE state IN ('due', 'scheduled', 'held', 'in_flight')")"

# ---- speed ---------------------------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 <<'EOF' >/dev/null
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference, triggered_at,
                         deadline_at, purged_at, on_time, location)
SELECT ('eeeeeeee-0000-4000-8000-' || lpad((g % 20)::text, 12, '0'))::uuid, 'item_purged',
       gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'deletion_request', 'REQ-' || g,
       now() - interval '10 days', now() + interval '20 days', now(), true, 'EU'
  FROM generate_series(1, 100000) g;
SELECT lethe.audit_flush();
COMMIT;
EOF
t0=$(date +%s%N); "$LETHE" export -o "$TMP/big.jsonl" 2>/dev/null; t1=$(date +%s%N)
psql -X -q -c "COPY (SELECT * FROM lethe.audit ORDER BY tenant_id, seq) TO STDOUT" >"$TMP/bare.txt"; t2=$(date +%s%N)
echo "# export of $(($(wc -l <"$TMP/big.jsonl") - 1)) records: $(((t1 - t0) / 1000000)) ms; bare COPY of the same rows: $(((t2 - t1) / 1000000)) ms"
t0=$(date +%s%N); "$LETHE" verify "$TMP/big.jsonl" >/dev/null; t1=$(date +%s%N)
echo "# lethe verify of the same export: $(((t1 - t0) / 1000000)) ms"
NAME="a 100000-record export" both 0 "$TMP/big.jsonl"

# ---- CSV that a spreadsheet opens: producers' text never becomes a formula -------------------
# A producer writes a request's reference; the auditor opens the CSV export in a spreadsheet.
# Every text a spreadsheet would run (= + - @, a tab, a carriage return first) is written with
# a ' before it, and so is a text that starts with ' itself; both verifiers drop it again.
psql -X -q -c 'CREATE DATABASE export_f' >/dev/null
export PGDATABASE=export_f
"$LETHE" migrate >/dev/null 2>&1
printf 'spool: { directory = "%s/fspool"; };\naudit: { anchor_file = "%s/f-anchors.jsonl"; };\nexecutor: { command = "%s"; };\n' \
    "$TMP" "$TMP" "$(dirname "$LETHE")/fs-delete --root $TMP/fstore" > "$TMP/f.conf"
mkdir -p "$TMP/fstore"
n=0
for ref in '=HYPERLINK("http://x.test/?"&A1,"open")' '@SUM(1+1)' '+1' '-1' "'quoted" "$(printf '\tTAB')" 'plain=text'; do
    n=$((n + 1)); t=$(cat /proc/sys/kernel/random/uuid); w=$(cat /proc/sys/kernel/random/uuid)
    echo x > "$TMP/fstore/item$n"
    psql -X -q -v ON_ERROR_STOP=1 -v ref="$ref" >/dev/null <<EOF
INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$t', 'f$n');
INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$t', '$w', 'EU');
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
VALUES ('$t', gen_random_uuid(), '$w', 'prompt', 'EU', 'file://$TMP/fstore/item$n', now() - interval '3 days');
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
VALUES ('$t', 'deletion_requested', now() - interval '1 day', :'ref');
EOF
done
run_lethe --config "$TMP/f.conf" run
assert_contains "the requests with those references are purged" "7 due, 1 batches, 7 purged" "$OUT"
"$LETHE" export --format csv -o "$TMP/f.csv" 2>/dev/null
"$LETHE" export -o "$TMP/f.jsonl" 2>/dev/null
assert_contains "a formula is written as text, quoted, with a ' first" \
    "\"'=HYPERLINK(\"\"http://x.test/?\"\"&A1,\"\"open\"\")\"" "$(cat "$TMP/f.csv")"
assert_eq "no field of the CSV starts with = + - @, a tab or a carriage return" "" \
    "$(python3 -c 'import csv,sys
for row in csv.reader(open(sys.argv[1], newline="")):
    for v in row:
        if v[:1] in ("=", "+", "-", "@", "\t", "\r"): print(repr(v))' "$TMP/f.csv")"
assert_eq "the guarded fields, as a spreadsheet shows them" \
    "$(printf "'\\tTAB ''quoted '+1 '-1 '=HYPERLINK(\"http://x.test/?\"&A1,\"open\") '@SUM(1+1) plain=text")" \
    "$(python3 -c 'import csv,sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
i = rows[0].index("reference")
print(*sorted({r[i] for r in rows[1:] if r[i]}))' "$TMP/f.csv")"
assert_eq "the JSON Lines export holds the references as the producers wrote them" \
    "$(printf "\\tTAB 'quoted +1 -1 =HYPERLINK(\"http://x.test/?\"&A1,\"open\") @SUM(1+1) plain=text")" \
    "$(tail -n +2 "$TMP/f.jsonl" | python3 -c 'import json,sys
print(*sorted({r["reference"] for r in map(json.loads, sys.stdin) if r["reference"]}))')"
NAME="the CSV export with guarded fields" both 0 "$TMP/f.csv"
NAME="its JSON Lines export" both 0 "$TMP/f.jsonl"
# the guard is not part of the value: a guarded field edited to another value is caught
python3 - "$TMP/f.csv" "$TMP/f2.csv" <<'PY'
import sys
s = open(sys.argv[1], newline="").read()
open(sys.argv[2], "w", newline="").write(s.replace("'@SUM(1+1)", "'@SUM(1+2)", 1))
PY
NAME="a guarded field changed" both 4 "$TMP/f2.csv"
# a guard taken out: the values (and hashes) are the same, so it verifies, but lethe says the
# file is no longer safe to open and was not written so
sed "s/\"'=HYPERLINK(/\"=HYPERLINK(/" "$TMP/f.csv" > "$TMP/f3.csv"
run_lethe verify "$TMP/f3.csv"
assert_rc "a CSV with a guard taken out still verifies (the values are the same)" 0
assert_contains "but verify warns that a spreadsheet would run it" \
    "warning: verify: 1 field of '$TMP/f3.csv' starts with =, +, -, @, a tab or a carriage return without the ' that lethe writes before them: a spreadsheet would run it as formula; lethe did not write this file so (export it again before opening it)" "$ERR"
run_lethe verify "$TMP/f.csv"
assert_not_contains "the CSV as lethe wrote it gets no such warning" "spreadsheet" "$ERR"
# A device is no export: /dev/zero was read forever, its one line growing in memory (an outside
# tryout's finding). A FIFO (the end of a pipe) is read as a file is.
run_lethe verify /dev/zero
assert_eq "verify of a device exits 2, naming what it is" \
  "2|error: verify: cannot read '/dev/zero': it is a character device, not an export
hint: verify takes the file that 'lethe export' wrote" "$RC|$ERR"
run_lethe verify --anchors /dev/zero "$TMP/f.csv"
assert_eq "... and of a device as --anchors" \
  "2|error: verify: cannot read '/dev/zero': it is a character device, not an anchor file" \
  "$RC|$(head -1 <<<"$ERR")"
assert_eq "a FIFO is read" "0" "$(cat "$TMP/f.csv" | "$LETHE" verify /dev/stdin >/dev/null 2>&1; echo $?)"
# ---- the summary's purged counts are the records' own, whatever the window ------------------
# The whole hours of a window come counted as the records were appended (sql/0097), its partial
# first and last hours from the records. The model (tests/model/summary_model.py) judges the
# records of an export alone. First a flush whose records test the order of the outcomes: a
# copy made while opted out purged on time is a violation, a record on time with detail 'held'
# is on time, 'held; ...' not on time is held, 'held-over' is late; flushed under
# session_replication_role = replica (a replica's apply, a restore with triggers off), which the
# count follows as the audit's guards do. On the first database, whose records span the runs
# above.
export PGDATABASE=export_t
R4=11111111-0000-4000-8000-000000000004
psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF >/dev/null
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
SELECT '$T1', ('eeeeeeee-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '$T1', 'prompt', 'EU',
       's3://e/' || g, now() - interval '3 days' FROM generate_series(1, 4) g;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, operator) VALUES ('$NIL', 'run_started', '$R4', NULL);
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference, triggered_at,
                         deadline_at, purged_at, on_time, location, detail)
SELECT '$T1', 'item_purged', '$R4', '$R4', ('eeeeeeee-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
       CASE g WHEN 1 THEN 'shared_while_opted_out' ELSE 'deletion_request' END, 'REQ-E' || g,
       now() - interval '3 days', now() + interval '1 day' * CASE WHEN g <= 2 THEN 3 - g ELSE 2 - g END,
       now(), g IN (1, 2), 'EU',
       CASE g WHEN 2 THEN 'held' WHEN 3 THEN 'held; hold 99999999-0000-4000-8000-000000000009 in effect at purge'
              WHEN 4 THEN 'held-over' END
  FROM generate_series(1, 4) g ORDER BY g;
INSERT INTO audit_stage (tenant_id, kind, run_id, count) VALUES ('$NIL', 'run_finished', '$R4', 4);
SELECT lethe.audit_checkpoint('$R4');
COMMIT;
EOF
assert_eq "the flush of the outcomes' edge cases committed" "4" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE item_id::text LIKE 'eeeeeeee-%'")"
run_lethe export -o "$TMP/sum-all.jsonl"
assert_rc "the records exported for the model" 0
# The windows: none; whole hours around the records; edges inside the records' hour(s), at a
# record's own time (--from takes it, --to does not) and a microsecond either side.
# (On Citus the audit has no triggers: nothing is counted, and every summary reads the records.)
if [ "$(sql "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")" = 0 ]; then
    assert_eq "the purge records are counted by the hour as appended" \
      "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")" \
      "$(sql "SELECT sum(purged) FROM lethe.purge_outcomes")"
else
    assert_eq "on Citus no purge record is counted by the hour" "0" "$(sql "SELECT count(*) FROM lethe.purge_outcomes")"
fi
H=$(sql "SELECT lethe.audit_time(date_trunc('hour', min(at))) FROM lethe.audit WHERE kind = 'item_purged'")
H1=$(sql "SELECT lethe.audit_time(date_trunc('hour', max(at)) + interval '1 hour') FROM lethe.audit WHERE kind = 'item_purged'")
HB=$(sql "SELECT lethe.audit_time(timestamptz '$H' - interval '1 hour')")
HA=$(sql "SELECT lethe.audit_time(timestamptz '$H1' + interval '1 hour')")
P5=$(sql "SELECT lethe.audit_time(at) FROM lethe.audit WHERE kind = 'item_purged' ORDER BY at, tenant_id, seq OFFSET 5 LIMIT 1")
P5A=$(sql "SELECT lethe.audit_time(timestamptz '$P5' + interval '1 microsecond')")
P5B=$(sql "SELECT lethe.audit_time(timestamptz '$P5' - interval '1 microsecond')")
for w in "- -" "$H -" "- $H1" "$H $H1" "$HB $HA" "$HB $H1" "$M1 -" "- $M1" "$M1 $M2" "$H $M2" "$M1 $H1" \
         "$P5 -" "- $P5" "$P5A -" "- $P5A" "$P5B $P5" "$P5 $P5A" "$HB $P5" "$P5 $HA"; do
    set -- $w
    args=()
    [ "$1" = - ] || args+=(--from "$1")
    [ "$2" = - ] || args+=(--to "$2")
    run_lethe export --summary --format csv "${args[@]}"
    assert_eq "the summary from $1 to $2 counts what the records say" "ok" \
      "$(echo "$OUT" | python3 tests/model/summary_model.py "$TMP/sum-all.jsonl" "$1" "$2" 2>&1)"
done
run_lethe export --summary --format csv --tenant "$T1" --from "$M1"
assert_eq "so does a tenant's summary (from its records)" "ok" \
  "$(echo "$OUT" | python3 tests/model/summary_model.py <(grep "\"tenant_id\":\"$T1\"" "$TMP/sum-all.jsonl") "$M1" - 2>&1)"
finish
