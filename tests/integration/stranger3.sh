# A third stranger's tries, from the user's side: the anchor file as an operator may find it
# (edited, replaced by garbage), answers that could not be written, and config files that
# @include others. Each case failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-stranger3.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
round=0
A=$WORK/anchors.jsonl

# ---- 1. an anchor file that no run can use fails status --check -------------------------------
# SPEC §6/§7: status --check exits 4 when the audit is behind its anchor file. When the newest
# line is not an anchor line at all, every run refused to work (exit 1), and status --check
# said "check: ok" with exit 0: the hourly check stayed green while no run could purge. Then a
# line that is not lethe's (one echo) stopped every purge, exit 1 and paged, run after run (an
# outside tryout): the check now takes the newest anchor line before it and says so at every run
# until a run's own line follows; verify --anchors fails on it (exit 4, naming it). A file with
# no anchor line at all is taken as empty, as a missing one is.
fresh_catalog stranger3 2
write_config "$WORK/c1.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/c1.conf" run
assert_rc "a first run anchors its heads" 0
cp "$A" "$WORK/anchors.good"
FIRST_RUN=$(sql "SELECT run_id FROM lethe.runs")
echo 'this is not json' >> "$A"
run_lethe --config "$WORK/c1.conf" status --check
assert_rc "status --check with a garbage newest anchor line: the check takes the line before it, exit 0" 0
assert_contains "... and warns, naming both lines" \
  "warning: anchor: '$A': its newest line (line 2) is not valid JSON; the check takes line 1 before it (run $FIRST_RUN)" "$ERR"
mk_item "$T" "$(uuid)" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u +%FT%TZ)" "REQ-G"
run_lethe --config "$WORK/c1.conf" run
assert_rc "a run goes on past it: exit 0" 0
assert_contains "... warning the same, with what to do" \
  "hint: that line is not one lethe wrote: remove it from the file (keep a copy for whoever looks into it)" "$ERR"
assert_eq "... and purges" "3" "$(sql "SELECT count(*) FROM lethe.item_status WHERE state = 'purged'")"
assert_eq "... appending its line after the garbage" "3 this is not json" "$(wc -l <"$A") $(sed -n 2p "$A")"
run_lethe --config "$WORK/c1.conf" run
assert_not_contains "the next run has its predecessor's line newest: no warning" "its newest line" "$ERR"
"$LETHE" --config "$WORK/c1.conf" export -o "$WORK/all.jsonl" 2>/dev/null
run_lethe verify "$WORK/all.jsonl" --anchors "$A"
assert_rc "verify --anchors with the garbage line in the file: a failed check, exit 4" 4
assert_contains "... naming the line" "verify: anchor file '$A' line 2 is not valid JSON: it is not a line lethe wrote" "$OUT"
sed -i 2d "$A"
run_lethe verify "$WORK/all.jsonl" --anchors "$A"
assert_rc "... and without it, the export verifies" 0
cp "$A" "$WORK/anchors.good"
# JSON that lethe never writes is named as such: a key twice, a number past 64 bits.
head -1 "$WORK/anchors.good" | sed 's/^{"run_id":/{"run_id":"x","run_id":/' >>"$A"
run_lethe verify "$WORK/all.jsonl" --anchors "$A"
assert_eq "verify --anchors: a line with a key twice is named so, exit 4" \
  "4|verify: anchor file '$A' line $(wc -l <"$A") is a line with a key twice (lethe writes each key once): it is not a line lethe wrote" \
  "$RC|$(printf '%s\n' "$OUT" | grep "^verify: anchor file")"
cp "$WORK/anchors.good" "$A"
head -1 "$WORK/anchors.good" | sed 's/"seq":[0-9]*/"seq":99999999999999999999/' >>"$A"
run_lethe --config "$WORK/c1.conf" status --check
assert_contains "status: a line with a number past 64 bits is named so" \
  "warning: anchor: '$A': its newest line (line $(wc -l <"$A")) is a line with a number too large for 64 bits; the check takes line" "$ERR"
cp "$WORK/anchors.good" "$A"

# a head with a bad hash, in the only line: no anchor line at all. Taken as an empty file (as a
# missing one is): said, and the runs go on (a stranger's retry: "rm; echo garbage >>" stopped
# every purge again), the loss of the lines the database recorded noted (sql/0081).
head -1 "$WORK/anchors.good" >"$A"
sed -i '$ s/"hash":"\([0-9a-f]\)/"hash":"\1\1/' "$A"
run_lethe --config "$WORK/c1.conf" status --check
assert_rc "status --check with no anchor line in the file: exit 0" 0
run_lethe --config "$WORK/c1.conf" run
assert_rc "a run goes on over a file with no anchor line: exit 0" 0
assert_contains "... saying what the line is not, and that the file is taken as empty" \
  "warning: anchor: '$A' holds no anchor line: its newest (line 1) is not an anchor line (a head is not {\"chain\":UUID,\"seq\":N,\"hash\":HEX}); taken as empty" "$ERR"
assert_contains "... and that the database recorded lines appended to it" \
  "warning: anchor: '$A' is missing or empty, but the database recorded" "$ERR"
assert_eq "... appending its own line after it" "2" "$(wc -l <"$A")"
run_lethe --config "$WORK/c1.conf" run
assert_contains "the next run still says what the file lacks" "warning: anchor: '$A' still lacks" "$ERR"

# an anchor file that is a directory
rm -f "$A"; mkdir "$A"
run_lethe --config "$WORK/c1.conf" status --check
assert_rc "status --check fails when the anchor file is a directory" 4
rmdir "$A"; cp "$WORK/anchors.good" "$A"
run_lethe --config "$WORK/c1.conf" status --check
assert_rc "with the file restored the check passes again" 0

# ---- 2. an answer that could not be written is a failure --------------------------------------
# status, batches and the run's summary went to a full disk and lethe exited 0.
run_lethe --config "$WORK/c1.conf" status
"$LETHE" --config "$WORK/c1.conf" status >/dev/full 2>"$WORK/e2"; rc=$?
assert_eq "status to a full device exits 1" "1" "$rc"
assert_contains "and says so" "error: status: cannot write to standard output: No space left on device" "$(cat "$WORK/e2")"
"$LETHE" --config "$WORK/c1.conf" batches --json >/dev/full 2>/dev/null; rc=$?
assert_eq "batches to a full device exits 1" "1" "$rc"

# A reader that went away (a pipe whose reading end is closed): an exit code of the table, not
# death by SIGPIPE (141, which python reports as -13); a verdict is kept.
closed_pipe() {
  python3 -c 'import os, subprocess, sys
r, w = os.pipe(); os.close(r)
e = open(sys.argv[1], "w")
print(subprocess.run(sys.argv[2:], stdout=w, stderr=e).returncode)' "$WORK/e2" "$LETHE" "$@"
}
assert_eq "status --check into a closed pipe: exit 1, saying so" \
  "1|error: status: cannot write to standard output: Broken pipe" \
  "$(closed_pipe --config "$WORK/c1.conf" status --check)|$(grep '^error' "$WORK/e2")"
"$LETHE" export -o "$WORK/cp.jsonl" 2>/dev/null
sed -i '2s/"seq":1/"seq":9/' "$WORK/cp.jsonl"
assert_eq "verify of an edited export into a closed pipe: still exit 4" "4" "$(closed_pipe verify "$WORK/cp.jsonl")"
assert_eq "help into a closed pipe: exit 1" "1" "$(closed_pipe help)"
assert_eq "a usage error with stdout closed as a pipe: still exit 2" "2" "$(closed_pipe status --bogus)"

"$LETHE" --version >/dev/full 2>"$WORK/e2"; rc=$?
assert_eq "--version to a full device exits 1" "1" "$rc"
assert_contains "and says so" "error: --version: cannot write to standard output: No space left on device" "$(cat "$WORK/e2")"

# ---- 3. @include: the included file is judged as the main one ----------------------------------
# libconfig reads @include'd files itself: a FIFO blocked for ever (README: "a FIFO or a
# device is refused at once rather than waited on"), a directory made its scanner exit the
# process, an error inside an included file was reported under the main file's name with the
# included file's line, and an included integer was read as libconfig wraps it.
mkfifo "$WORK/fifo"
printf '# local settings\n@include "%s"\n' "$WORK/fifo" > "$WORK/c3a.conf"
t0=$(date +%s)
out=$(timeout 10 "$LETHE" --config "$WORK/c3a.conf" status 2>&1); rc=$?
assert_eq "an @include of a FIFO is refused at once: exit 2" "2" "$rc"
assert_eq "... without waiting on it" "yes" "$([ $(( $(date +%s) - t0 )) -lt 5 ] && echo yes)"
assert_contains "... naming the file, the line and the path" \
  "error: config: '$WORK/c3a.conf' line 2: '@include': \"$WORK/fifo\" is a FIFO, not a regular file of settings" "$out"
printf '@include "%s"\n' "$WORK" > "$WORK/c3b.conf"
out=$("$LETHE" --config "$WORK/c3b.conf" status 2>&1); rc=$?
assert_eq "an @include of a directory exits 2" "2" "$rc"
assert_contains "... with lethe's own message" "'@include': cannot read \"$WORK\": Is a directory" "$out"
printf 'batch: { max_items = 10; };\n\nschedule: { lookahead = "2x"; };\n' > "$WORK/inc.conf"
printf '@include "%s"\n' "$WORK/inc.conf" > "$WORK/c3c.conf"
out=$("$LETHE" --config "$WORK/c3c.conf" status 2>&1); rc=$?
assert_eq "a bad setting in an included file exits 2" "2" "$rc"
assert_contains "... and names that file and its line" \
  "error: config: '$WORK/inc.conf' line 3: 'schedule.lookahead': bad duration \"2x\"" "$out"
printf 'x\n\n\nbad = ;\n' > "$WORK/inc2.conf"
printf '@include "%s"\n' "$WORK/inc2.conf" > "$WORK/c3d.conf"
out=$("$LETHE" --config "$WORK/c3d.conf" status 2>&1)
assert_contains "a syntax error in an included file names that file" "error: config: '$WORK/inc2.conf' line 4: syntax error" "$out"
printf '\nbatch: { max_items = 4294967297; };\n' > "$WORK/inc3.conf"
printf '@include "%s"\n' "$WORK/inc3.conf" > "$WORK/c3e.conf"
out=$("$LETHE" --config "$WORK/c3e.conf" status 2>&1); rc=$?
assert_eq "an included integer is judged as written: exit 2" "2" "$rc"
assert_contains "... not read as libconfig wraps it" \
  "error: config: '$WORK/inc3.conf' line 2: 'batch.max_items': must be 2147483647 or less, got 4294967297" "$out"
printf 'batch: { max_items = 1; };\n' > "$WORK/inc4.conf"
printf '@include "%s"\n%s\n' "$WORK/inc4.conf" "spool: { directory = \"$WORK/spool\"; }; audit: { anchor_file = \"$A\"; };" > "$WORK/c3f.conf"
run_lethe --config "$WORK/c3f.conf" run --dry-run
assert_rc "a config with a good @include works" 0
# errors found after reading (a geo the catalog lacks, an audit key that cannot be read) name the
# included file that holds the setting too
printf '\n\nexecutor: { locations = { XX = "/bin/true"; }; };\n' > "$WORK/inc5.conf"
printf '@include "%s"\n%s\n' "$WORK/inc5.conf" "spool: { directory = \"$WORK/spool\"; }; audit: { anchor_file = \"$A\"; };" > "$WORK/c3g.conf"
run_lethe --config "$WORK/c3g.conf" run --dry-run
assert_rc "an included location naming no geo exits 2" 2
assert_contains "... naming the included file and its line" \
  "error: config: '$WORK/inc5.conf' line 3: 'executor.locations.XX': no such geo in lethe.geos" "$ERR"
printf '\naudit: { key_file = "%s"; };\n' "$WORK/no-such.key" > "$WORK/inc6.conf"
printf '@include "%s"\n%s\n' "$WORK/inc6.conf" "spool: { directory = \"$WORK/spool\"; };" > "$WORK/c3h.conf"
run_lethe --config "$WORK/c3h.conf" run --dry-run
assert_rc "an included audit key that does not exist exits 2" 2
assert_contains "... naming the included file and its line" "error: config: '$WORK/inc6.conf' line 2: 'audit.key_file'" "$ERR"

# ---- 4. a replayed record cannot be dated in the future ---------------------------------------
# lethe.audit_append_verbatim() is lethe_restorer's (lethe replay). A correctly hashed record
# dated later than now was appended; the chain head's time moved there and every later record
# of the chain (a hold placed now) was dated then too, so every export of the chain failed
# verify. No export holds a record from the future: it is refused (sql/0022).
fresh_catalog stranger3 1
write_config "$WORK/c4.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/c4.conf" run
assert_rc "a run purges, on the tenant's chain" 0
head=$(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T'")
forge() { # AT: a record continuing the tenant's chain, hashed correctly, dated AT
    python3 - "$T" $head "$1" <<'PY'
import hashlib, json, sys
t, seq, prev, at = sys.argv[1:]
rec = {"seq": int(seq) + 1, "at": at, "kind": "hold_released", "tenant_id": t}
for m in ("run_id", "batch_id", "item_id", "rule", "reference", "triggered_at", "deadline_at",
          "purged_at", "on_time", "location"):
    rec[m] = None
rec.update({"hold_id": "11111111-1111-4111-8111-111111111111", "subject_hmac": None,
            "operator": "user_m", "count": None, "detail": None, "prev_hash": prev})
canon = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
rec["hash"] = hashlib.sha256((prev + "\n" + canon).encode()).hexdigest()
print(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
PY
}
LINE=$(forge "$(date -u -d '+5 hours' +%FT%T.000000Z)")
assert_sql_fails "a record dated in the future is refused" \
  "SELECT lethe.audit_append_verbatim(ARRAY[\$\$$LINE\$\$])" "its time is later than now"
assert_eq "the chain head did not move" "$head" "$(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T'")"
sleep 0.01; LINE=$(forge "$(date -u +%FT%T.%6NZ)")
assert_eq "a record dated before now still continues the chain (what replay appends)" "1" \
  "$(sql "SELECT lethe.audit_append_verbatim(ARRAY[\$\$$LINE\$\$])")"

# ---- 5. reconcile never hands a deleter a live item's object -----------------------------------
# SPEC C1/§7: a locator used again (a purged item's path, then a new item stored there) made the
# inventory's object match the purged item's HMAC: reconcile put it into a repurge batch and
# the next run deleted the live item's data.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/key5"; chmod 600 "$WORK/key5"
fresh_catalog stranger3 1
A5=${ITEMS[0]}
write_config "$WORK/c5.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };" \
  "audit: { key_file = \"$WORK/key5\"; };"
run_lethe --config "$WORK/c5.conf" run
assert_rc "the first item is purged" 0
B5=$(uuid)
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
     VALUES ('$T', '$B5', '$W', 'prompt', 'EU', 'file://$STORE/$A5', now())" >/dev/null
echo "the new item's content" > "$STORE/$A5"
echo "file://$STORE/$A5" > "$WORK/inv5"
run_lethe --config "$WORK/c5.conf" reconcile --location EU "$WORK/inv5"
assert_rc "reconcile exits 0" 0
assert_contains "it batches nothing" "1 inventory line, 0 objects of purged items still stored, put in 0 repurge batches" "$OUT"
assert_contains "and says why" "warning: reconcile: EU: 1 inventory line of purged items also names a live item's object (its locator was used again); left alone" "$ERR"
run_lethe --config "$WORK/c5.conf" run
assert_eq "the live item's object is still stored" "the new item's content" "$(cat "$STORE/$A5" 2>&1)"
assert_eq "no item_repurged record" "0" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_repurged'")"
rm -f "$STORE/$A5"

# ---- 6. replay refuses another database's exports ---------------------------------------------
# SPEC §7 heals a restored database from its own exports. Given another database's export
# (a wrong --db, a staging file), replay refused its engine chain but appended its tenant
# chains: records of tenants this catalog never had, in an append-only log, for ever.
write_config "$WORK/c6.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
fresh_catalog stranger3 2
run_lethe --config "$WORK/c6.conf" run
"$LETHE" export -o "$WORK/other.jsonl" 2>/dev/null
fresh_catalog stranger3 1
run_lethe --config "$WORK/c6.conf" run
audit_before=$(sql "SELECT count(*) FROM lethe.audit")
run_lethe --config "$WORK/c6.conf" replay --operator user_o "$WORK/other.jsonl"
assert_rc "replaying another database's export exits 4" 4
assert_contains "and says whose it is" \
  "error: replay: the exports' engine chain begins with another record than this database's: they are another database's exports; nothing was replayed" "$ERR"
assert_eq "no record of it was appended" "$audit_before" "$(sql "SELECT count(*) FROM lethe.audit")"

# ---- 7. a receipt may spell its item id in capitals ------------------------------------------
# An id is a UUID, and a UUID's hex digits may be written in either case (RFC 4122 reads them
# case-insensitively); a deleter that prints them upper-case has still deleted the objects.
fresh_catalog stranger3 2
printf '#!/bin/bash\nfor id in $(tail -n +2 "$1" | sed "s/^{\\"item_id\\":\\"\\([^\\"]*\\)\\".*/\\1/"); do echo "deleted ${id^^}"; done\n' > "$WORK/upper"
chmod +x "$WORK/upper"
write_config "$WORK/c7.conf" "executor: { command = \"$WORK/upper\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/c7.conf" run
assert_rc "a run whose deleter prints upper-case ids exits 0" 0
assert_eq "both items are recorded purged" "2" "$(sql "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")"
assert_eq "none failed" "0" "$(sql "SELECT count(*) FROM lethe.batch_items WHERE outcome = 'failed'")"

# ---- 8. two databases given one anchor file -------------------------------------------------
# Every run compares the newest anchor line with its database. With two databases configured
# with one anchor file, the other database's line made a run refuse to work with "the database
# was restored to an earlier state: run 'lethe replay'", which cannot help: the engine chain
# of each database is its own, so the line names it at a seq where this database holds another
# record. That is said, and the hint names the anchor file.
fresh_catalog stranger3 1
X=$PGDATABASE
write_config "$WORK/c8.conf"
for _ in 1 2 3; do run_lethe --config "$WORK/c8.conf" run; done
fresh_catalog stranger3 1
run_lethe --config "$WORK/c8.conf" run
assert_rc "the other database's run exits 0" 0
export PGDATABASE=$X
run_lethe --config "$WORK/c8.conf" run
assert_rc "a run against another database's anchor line refuses to work: exit 4" 4
assert_contains "it says the audit diverges from the file" "error: run: the audit diverges from its anchor file '$A'" "$ERR"
assert_contains "naming the engine chain" "chain 00000000-0000-0000-0000-000000000000 anchored at seq" "$ERR"
assert_contains "and the hint names the anchor file, not replay" \
  "hint: every database's engine chain is its own: the anchor file is another database's (give each database its own audit.anchor_file)" "$ERR"
run_lethe --config "$WORK/c8.conf" status --check
assert_rc "status --check fails on it: exit 4" 4
assert_contains "and says the same" "the anchor file is another database's, or this audit was rewritten after that line" "$OUT$ERR"

finish
