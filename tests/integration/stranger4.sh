# A fourth stranger's tries, from the user's side: the operators' tools with wrong or odd
# arguments and environments, and the hints that should get them unstuck. Each case failed
# before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-stranger4.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
SUPER=$PGUSER
LOGINS="stranger4_engine stranger4_operator"
GROUPS_="lethe_producer lethe_engine lethe_operator lethe_auditor lethe_restorer"
drop_all() {
    for d in stranger4_1 stranger4_2 stranger4_3 stranger4_4 stranger4_5 stranger4_restored; do
        PGUSER=$SUPER psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1
    done
    for r in $LOGINS $GROUPS_; do
        PGUSER=$SUPER psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
}
drop_all
trap 'drop_all; rm -rf "$WORK"' EXIT
round=0
A=$WORK/anchors.jsonl

# ---- 1. replay's permission hint names the role replay needs -----------------------------------
# README: "When PostgreSQL refuses a statement for lack of privilege, the hint names the group
# role the command needs". Replay appends exported records through audit_append_verbatim(),
# which only lethe_restorer may call (granted for a restore, revoked after); run as the service
# user (lethe_engine), after a restore, the hint said "GRANT lethe_engine TO <user>", a role the
# user already had.
fresh_catalog stranger4 2
T2=$(uuid); mk_tenant "$T2" other
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
psql -X -q -c "CREATE ROLE stranger4_engine LOGIN IN ROLE lethe_engine" \
     -c "CREATE ROLE stranger4_operator LOGIN IN ROLE lethe_operator" >/dev/null
psql -X -q -d postgres -c "CREATE DATABASE stranger4_restored TEMPLATE $DB" >/dev/null
write_config "$WORK/c1.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
run_lethe --config "$WORK/c1.conf" run
assert_rc "a run purges the due items" 0
run_lethe --config "$WORK/c1.conf" export -o "$WORK/e1.jsonl"
export PGDATABASE=stranger4_restored
before=$(sql "SELECT count(*) FROM lethe.audit")
run_lethe --config "$WORK/c1.conf" -U stranger4_engine replay --operator user_o --anchors "$A" "$WORK/e1.jsonl"
assert_rc "replay as the engine's user is refused: exit 1" 1
assert_contains "the hint names lethe_restorer, the role replay needs, and how it is granted" \
  "hint: 'lethe replay' needs the privileges of lethe_restorer, which nobody holds day to day: for the restore a DBA grants it (GRANT lethe_restorer TO stranger4_engine), you replay, and the DBA revokes it after (REVOKE lethe_restorer FROM stranger4_engine); deploy/roles.sql creates the role" "$ERR"
assert_eq "nothing was appended" "$before" "$(sql "SELECT count(*) FROM lethe.audit")"
run_lethe --config "$WORK/c1.conf" -U stranger4_operator replay --operator user_o --anchors "$A" "$WORK/e1.jsonl"
assert_rc "as the operator without lethe_restorer it is refused too: exit 1" 1
assert_contains "... naming the operator's role" \
  "error: replay: role 'stranger4_operator' may not append exported records to the audit; nothing was replayed" "$ERR"
assert_eq "nothing was appended" "$before" "$(sql "SELECT count(*) FROM lethe.audit")"
psql -X -q -c "GRANT lethe_restorer TO stranger4_operator" >/dev/null
# The database that went ahead keeps the anchor file as it was; the healed one's replay, which
# batches repurges, appends its own line to $A, as a run does.
sed "s|$A|$WORK/anchors-ahead.jsonl|" "$WORK/c1.conf" > "$WORK/c1-ahead.conf"; cp "$A" "$WORK/anchors-ahead.jsonl"
run_lethe --config "$WORK/c1.conf" -U stranger4_operator replay --operator user_o --anchors "$A" "$WORK/e1.jsonl"
assert_rc "as the operator granted lethe_restorer the same replay heals the database" 0
assert_contains "and catches up with the anchor" "replay: caught up with the anchor" "$OUT$ERR"
# a chain of one record (a hold placed on another tenant in the database that went ahead):
# counted in words that agree with the number
PGDATABASE=$DB run_lethe --config "$WORK/c1-ahead.conf" hold place --tenant "$T2" --reason r --operator user_o
assert_rc "a hold is placed on the other tenant" 0
PGDATABASE=$DB run_lethe --config "$WORK/c1-ahead.conf" export --tenant "$T2" -o "$WORK/e1b.jsonl"
run_lethe --config "$WORK/c1.conf" -U stranger4_operator replay --operator user_o "$WORK/e1b.jsonl"
assert_rc "a replay of its one record: exit 4, the hold it records is not in this catalog" 4
assert_contains "... named, with the command that places it again" \
  "which the restored catalog does not hold; place it again with 'lethe hold place'" "$ERR"
assert_contains "the chain's line says 1 record" "replay: chain $T2: 1 record appended, up to seq 1" "$ERR"
assert_contains "and so does the sum" "replay: 1 record appended to 1 chain, 0 chains already present" "$OUT"
psql -X -q -c "REVOKE lethe_restorer FROM stranger4_operator" >/dev/null

# ---- 2. a blank or garbled $SUDO_USER is no operator's name ------------------------------------
# README: the operator is --operator, else $SUDO_USER, else the account of the effective user,
# else $USER; "an empty one is refused". A $SUDO_USER of blanks was recorded in the audit as the
# operator, and one that is not UTF-8 failed inside the audited transaction (exit 1, "invalid
# byte sequence"). Neither names anyone: the next source is used, as for an empty one.
fresh_catalog stranger4 1
write_config "$WORK/c2.conf"
me=$(id -un)
SUDO_USER='   ' run_lethe --config "$WORK/c2.conf" request --tenant "$T" --reference SU-1
assert_rc "a request with a blank \$SUDO_USER is recorded" 0
assert_contains "by the account, not by blanks" "operator:    $me" "$OUT"
assert_eq "the audit names the account" "$me" \
  "$(sql "SELECT operator FROM lethe.audit WHERE kind = 'request_recorded' AND reference = 'SU-1'")"
SUDO_USER=$(printf '\377\376') run_lethe --config "$WORK/c2.conf" hold place --tenant "$T" --reason r --reference SU-2
assert_rc "a hold with a \$SUDO_USER that is not UTF-8 is placed" 0
assert_eq "by the account" "$me" "$(sql "SELECT placed_by FROM lethe.holds WHERE reference = 'SU-2'")"
hold=$(sql "SELECT hold_id FROM lethe.holds WHERE reference = 'SU-2'")
SUDO_USER=$(printf '\t') run_lethe --config "$WORK/c2.conf" hold release "$hold"
assert_rc "and released with a \$SUDO_USER of a tab" 0
assert_eq "... saying once that \$SUDO_USER names no one, and who is recorded instead" \
  "1|warning: hold: \$SUDO_USER is not a name that can be recorded (a control character, invalid UTF-8, only blanks, or over 1024 bytes): the operator recorded is $me; pass --operator NAME to name the person" \
  "$(grep -c 'SUDO_USER' <<<"$ERR")|$(grep 'SUDO_USER' <<<"$ERR")"
assert_eq "by the account" "$me" "$(sql "SELECT released_by FROM lethe.holds WHERE hold_id = '$hold'")"
LONG=$(python3 -c 'print("\u00e9" * 300)')
SUDO_USER=$LONG run_lethe --config "$WORK/c2.conf" hold place --tenant "$T" --reason r --reference SU-3
assert_eq "a \$SUDO_USER of 300 two-byte characters is recorded whole (it was cut mid-character: exit 1)" \
  "0|300" "$RC|$(sql "SELECT char_length(placed_by) FROM lethe.holds WHERE reference = 'SU-3'")"
assert_eq "... as it is" "t" "$(sql "SELECT placed_by = repeat('é', 300) FROM lethe.holds WHERE reference = 'SU-3'")"
SUDO_USER=$(python3 -c 'print("a" * 1025)') run_lethe --config "$WORK/c2.conf" hold place --tenant "$T" --reason r --reference SU-4
assert_eq "one over 1024 bytes, which --operator may not be, is passed over for the account, with the warning" \
  "0|$me|1" "$RC|$(sql "SELECT placed_by FROM lethe.holds WHERE reference = 'SU-4'")|$(grep -c 'or over 1024 bytes): the operator recorded is' <<<"$ERR")"

# ---- 3. reconcile: a location no geo can have, the orphans file, the counts --------------------
# SPEC §6: a usage error exits 2 with a message. "--location eu" (the geos are capitals) and an
# empty --location exited 1 and printed nothing at all. --orphans FILE had a writer of its own:
# its temporary was FILE.tmp.XXXXXX, not lethe's ".<name>.<16 hex>.tmp" (README), and "-" made
# a file named "-" where every other FILE of lethe's means standard output.
fresh_catalog stranger4 1
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$WORK/key"; chmod 600 "$WORK/key"
write_config "$WORK/c3.conf" "audit: { key_file = \"$WORK/key\"; };"
printf 'file://%s/stray\n' "$STORE" > "$WORK/inv"
runs=$(sql "SELECT count(*) FROM lethe.runs")
run_lethe --config "$WORK/c3.conf" reconcile --location eu "$WORK/inv"
assert_rc "a lower-case location is a usage error: exit 2" 2
assert_eq "... saying so, with a hint" 'error: reconcile: unknown location "eu"
hint: locations are the geos in lethe.geos, in capitals, e.g. EU' "$ERR"
run_lethe --config "$WORK/c3.conf" reconcile --location '' "$WORK/inv"
assert_rc "an empty location: exit 2" 2
assert_contains "... saying so" 'error: reconcile: unknown location ""' "$ERR"
run_lethe --db "host=/nonexistent-$$" --config "$WORK/c3.conf" reconcile --location eu "$WORK/inv"
assert_rc "it is judged before the database is connected" 2
assert_eq "nothing was recorded" "$runs" "$(sql "SELECT count(*) FROM lethe.runs")"

run_lethe --config "$WORK/c3.conf" reconcile --location EU --orphans - "$WORK/inv"
assert_rc "--orphans - exits 0" 0
assert_eq "and writes the orphans to standard output, then the summary" "file://$STORE/stray
reconcile: EU: 1 inventory line, 0 objects of purged items still stored, put in 0 repurge batches; 1 line naming no item written to standard output" "$OUT"
assert_eq "no file named '-' appears" "no" "$([ -e ./- ] && echo yes || echo no)"
run_lethe --config "$WORK/c3.conf" reconcile --location EU --orphans "$WORK/no-dir/orphans" "$WORK/inv"
assert_rc "an orphans file in a missing directory: exit 2, judged before connecting" 2
assert_eq "the message names the file asked for, not a temporary" \
  "error: reconcile: cannot create a file next to '$WORK/no-dir/orphans': No such file or directory
hint: the directory of '$WORK/no-dir/orphans' does not exist: create it first, or name a file in one that does" "$ERR"
mkfifo "$WORK/fifo"
( cat "$WORK/fifo" > "$WORK/from-fifo" ) &
run_lethe --config "$WORK/c3.conf" reconcile --location EU --orphans "$WORK/fifo" "$WORK/inv"
wait
assert_rc "--orphans through a FIFO exits 0" 0
assert_eq "the reader gets the orphans" "file://$STORE/stray" "$(cat "$WORK/from-fifo")"
assert_eq "and the FIFO is still a FIFO" "yes" "$([ -p "$WORK/fifo" ] && echo yes)"

# ---- 4. the options before the command may be abbreviated too --------------------------------
# README: "Long options may be abbreviated to any unambiguous prefix (--chec is --check), as
# with other GNU tools." Only a command's own options could: "lethe --conf FILE status" said
# "unknown option '--conf'", and "--ver" did not say that it is ambiguous.
run_lethe --conf "$WORK/c3.conf" status --js
assert_rc "--conf is --config" 0
run_lethe --conf="$WORK/c3.conf" --verb --qu status
assert_rc "--conf=FILE, --verb and --qu are --config=FILE, --verbose and --quiet" 0
run_lethe --dbn "$PGDATABASE" --conf "$WORK/c3.conf" batches --limit 1
assert_rc "--dbn is --dbname, while --db stays --db" 0
run_lethe --vers
assert_eq "--vers is --version" "lethe 0.1.0" "$OUT"
run_lethe --ver
assert_rc "--ver is ambiguous: exit 2" 2
assert_eq "... naming both" "error: option '--ver' is ambiguous: '--verbose' or '--version'
hint: see 'lethe --help'" "$ERR"
run_lethe --d x status
assert_rc "--d is ambiguous too (--db, --dbname)" 2

# ---- 5. a shard worker that stopped fails the check ---------------------------------------------
# README (Timers): each shard must run at least once per lookahead. status --check passed as
# long as any run succeeded: with shard 0/2 running hourly and the worker of shard 1/2 stopped
# for days, the hourly check stayed green while half the tenants' deadlines came and went.
fresh_catalog stranger4 0
write_config "$WORK/c5.conf"
run_lethe --config "$WORK/c5.conf" run --shard 0/2
run_lethe --config "$WORK/c5.conf" run --shard 1/2
run_lethe --config "$WORK/c5.conf" status --check
assert_rc "every shard of 2 ran: the check passes" 0
# (a finished run is not written over, sql/0100: the test moves it back in time as a DBA would)
sql "SET session_replication_role = replica; UPDATE lethe.runs SET started_at = started_at - interval '3 days', finished_at = finished_at - interval '3 days'
      WHERE shard = '1/2'" >/dev/null
last=$(sql "SELECT lethe.iso_utc(finished_at) FROM lethe.runs WHERE shard = '1/2'")
run_lethe --config "$WORK/c5.conf" run --shard 0/2
assert_rc "shard 0/2 runs on" 0
run_lethe --config "$WORK/c5.conf" status --check
assert_rc "shard 1/2 has not run for 3 days (lookahead 2d): exit 4" 4
assert_eq "the check names the stopped shard"   "error: status: check failed: no run of shard 1/2 succeeded within the lookahead (2d): the last one finished at $last" "$ERR"
run_lethe --config "$WORK/c5.conf" run --shard 1/4
run_lethe --config "$WORK/c5.conf" status --check
assert_rc "a shard of another N does not stand in for it" 4
assert_contains "... and shards of 4 that never ran are named too"   "no run of shard 0/4 succeeded within the lookahead (2d): none ever did" "$OUT"
run_lethe --config "$WORK/c5.conf" run
run_lethe --config "$WORK/c5.conf" status --check
assert_rc "a run over the whole catalog covers every tenant: the check passes" 0

# ---- 6. a rerun that finds nothing due says where the items went ----------------------------------
# README's walkthrough: "A batch failed ... To retry now: lethe rerun BATCH_ID". When the hourly
# run had already put the items into a batch of its own, the rerun said only "none of its items
# is due any more; no new batch": at 3 a.m. that reads as lost.
fresh_catalog stranger4 2
write_config "$WORK/c6.conf"
run_lethe --config "$WORK/c6.conf" run
B1=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe --config "$WORK/c6.conf" ack "$B1" --failed "${ITEMS[0]}" --failed "${ITEMS[1]}" --operator user_o
assert_rc "the deleter failed both items" 0
run_lethe --config "$WORK/c6.conf" run
B2=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
run_lethe --config "$WORK/c6.conf" rerun "$B1" --operator user_o
assert_rc "a rerun of the failed batch exits 0" 0
assert_contains "it says nothing is due" "none of its items is due any more; no new batch" "$OUT"
assert_contains "and where the items are" "rerun: 2 of its items are in open batch $B2
hint: 'lethe rerun $B2' drives that batch now" "$ERR"
run_lethe --config "$WORK/c6.conf" ack "$B2" --failed "${ITEMS[1]}" --operator user_o
run_lethe --config "$WORK/c6.conf" run
B3=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
run_lethe --config "$WORK/c6.conf" rerun "$B1" --operator user_o
assert_contains "one purged since, one in flight again" "rerun: 1 of its items was purged in batch $B2
rerun: 1 of its items is in open batch $B3" "$ERR"

# ---- 7. a hold placed while a run is under way holds ------------------------------------------
# A run takes its as_of when it starts and judged holds at as_of when it emitted its batches, so
# a hold placed during its derivation (or after an --as-of in the past) held nothing: the run
# handed the items of a litigation hold, committed before the batch was, to the deleter
# (SPEC §3: a held item is never due; sql/0024_hold_during_run.sql).
fresh_catalog stranger4 3
write_config "$WORK/c7.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };"
# derivation slowed down by two seconds (a statement trigger on what it writes), and a hold on
# the first item placed in the middle of it
sql "CREATE FUNCTION public.stranger4_slow() RETURNS trigger LANGUAGE plpgsql AS
       'BEGIN PERFORM pg_sleep(2); RETURN NULL; END';
     CREATE TRIGGER stranger4_slow AFTER INSERT ON lethe.obligations
       FOR EACH STATEMENT EXECUTE FUNCTION public.stranger4_slow()" >/dev/null
( sleep 1; "$LETHE" --config "$WORK/c7.conf" -q hold place --tenant "$T" --item "${ITEMS[0]}" \
      --reason litigation --reference CASE-7 --operator user_o > "$WORK/hold7" ) &
run_lethe --config "$WORK/c7.conf" run
wait
sql "DROP TRIGGER stranger4_slow ON lethe.obligations; DROP FUNCTION public.stranger4_slow()" >/dev/null
assert_rc "the run exits 0" 0
assert_eq "the hold was placed while the run derived" "yes" \
  "$(sql "SELECT CASE WHEN h.placed_at > r.as_of THEN 'yes' END FROM lethe.holds h, lethe.runs r")"
assert_contains "the run counts the held item" "2 purged, 0 failed items, 0 failed batches, 1 held" "$OUT"
assert_eq "the held item's file is still there" "yes" "$([ -e "$STORE/${ITEMS[0]}" ] && echo yes)"
assert_eq "the others are gone" "no no" \
  "$([ -e "$STORE/${ITEMS[1]}" ] && echo yes || echo no) $([ -e "$STORE/${ITEMS[2]}" ] && echo yes || echo no)"
assert_eq "the held item is in no batch" "0" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id = '${ITEMS[0]}'")"
assert_eq "the block is audited once, naming the hold" "1 $(cat "$WORK/hold7")" \
  "$(sql "SELECT count(*) || ' ' || min(hold_id::text) FROM lethe.audit WHERE kind = 'hold_blocked' AND item_id = '${ITEMS[0]}'")"
run_lethe --config "$WORK/c7.conf" explain "${ITEMS[0]}" --json
assert_contains "explain says held" '"state": "held"' "$OUT"

# the same with --as-of an hour ago and a hold placed now: the dry run says so, the run holds
fresh_catalog stranger4 2
hold=$("$LETHE" --config "$WORK/c7.conf" -q hold place --tenant "$T" --item "${ITEMS[1]}" --reason r --operator user_o)
past=$(date -u -d '-1 hour' +%FT%TZ)
run_lethe --config "$WORK/c7.conf" run --dry-run --as-of "$past"
assert_contains "the dry run plans the item held" "due 1 item, held 1" "$OUT"
run_lethe --config "$WORK/c7.conf" run --as-of "$past"
assert_contains "the run holds it" "1 purged, 0 failed items, 0 failed batches, 1 held" "$OUT"
assert_eq "its file is kept" "yes" "$([ -e "$STORE/${ITEMS[1]}" ] && echo yes)"
run_lethe --config "$WORK/c7.conf" -q hold release "$hold" --operator user_o
run_lethe --config "$WORK/c7.conf" run
assert_contains "released, the next run purges it" "1 purged" "$OUT"

# ---- 8. a hold that cannot keep what is already in flight says so -------------------------------
# SPEC §3: a hold does not recall a batch already emitted. "lethe hold place" printed the new
# hold's id and nothing else, although items in its scope were in an open batch that the next
# run (or the deleter that has the manifest) deletes: whoever places a litigation hold at 3 a.m.
# must know at once what it cannot keep.
fresh_catalog stranger4 2
write_config "$WORK/c8.conf"
run_lethe --config "$WORK/c8.conf" run
B=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
W2=$(uuid); mk_workspace "$T" "$W2" EU
run_lethe --config "$WORK/c8.conf" hold place --tenant "$T" --workspace "$W2" --reason r --operator user_o
assert_rc "a hold on a workspace with nothing in flight" 0
assert_not_contains "says nothing of batches" "open batch" "$ERR"
run_lethe --config "$WORK/c8.conf" hold place --tenant "$T" --item "${ITEMS[0]}" --reason litigation --operator user_o
assert_rc "a hold on an item in flight is placed" 0
assert_contains "and warns that it does not recall the batch" \
  "warning: hold: 1 item in its scope is already in open batch $B (EU), which a hold does not recall
hint: its deleter may have it already; 'lethe batches --state open' shows the batch" "$ERR"
run_lethe --config "$WORK/c8.conf" hold place --tenant "$T" --reason litigation --operator user_o
assert_contains "a tenant hold counts both" "warning: hold: 2 items in its scope are already in open batch $B (EU)" "$ERR"

# ---- 9. a help that could not be written is a failure, whichever way it was asked for -----------
# "lethe --help" and "--version" to a full disk exit 1 (stranger3); "lethe help", "lethe help
# COMMAND", "lethe COMMAND --help" and "fs-delete --help" exited 0 having written nothing.
"$LETHE" help >/dev/full 2>"$WORK/e9"; rc=$?
assert_eq "lethe help to a full device exits 1" "1" "$rc"
assert_eq "... and says so" "error: help: cannot write to standard output: No space left on device" "$(cat "$WORK/e9")"
"$LETHE" help status >/dev/full 2>/dev/null; rc=$?
assert_eq "lethe help status to a full device exits 1" "1" "$rc"
"$LETHE" status --help >/dev/full 2>"$WORK/e9"; rc=$?
assert_eq "lethe status --help to a full device exits 1" "1" "$rc"
assert_eq "... naming what it could not write" "error: status --help: cannot write to standard output: No space left on device" "$(cat "$WORK/e9")"
"$FS_DELETE" --help >/dev/full 2>"$WORK/e9"; rc=$?
assert_eq "fs-delete --help to a full device exits 1" "1" "$rc"
assert_eq "... and says so" "fs-delete: error: cannot write the help: No space left on device" "$(cat "$WORK/e9")"
run_lethe help status
assert_rc "written, the help still exits 0" 0

# ---- 10. nothing lethe writes replaces the anchor file ----------------------------------------
# "lethe export -o /var/lib/lethe/anchors.jsonl" (a tab-completed path at 3 a.m.) replaced the
# anchor file with an export: the evidence the exports are checked against was gone, and every
# run refused to work from then on. -o, --orphans and --metrics-file now refuse it, by any path.
fresh_catalog stranger4 1
write_config "$WORK/c10.conf" "audit: { key_file = \"$WORK/key\"; };"
run_lethe --config "$WORK/c10.conf" run
assert_rc "a run writes the anchor file" 0
cp "$A" "$WORK/anchors.before"
run_lethe --config "$WORK/c10.conf" export -o "$A"
assert_rc "export -o the anchor file: exit 2" 2
assert_eq "... saying why" "error: export: -o '$A' is the anchor file (audit.anchor_file); refusing to replace it
hint: the anchor file is the evidence the exports are checked against; write to another file" "$ERR"
run_lethe --config "$WORK/c10.conf" export --summary -o "$WORK/../$(basename "$WORK")/./anchors.jsonl"
assert_rc "by another path to it too" 2
run_lethe --config "$WORK/c10.conf" run --metrics-file "$A"
assert_rc "run --metrics-file the anchor file: exit 2" 2
assert_contains "... before it runs" "error: run: --metrics-file '$A' is the anchor file" "$ERR"
run_lethe --config "$WORK/c10.conf" reconcile --location EU --orphans "$A" "$WORK/inv"
assert_rc "reconcile --orphans the anchor file: exit 2" 2
assert_eq "the anchor file is as it was" "same" "$(cmp -s "$A" "$WORK/anchors.before" && echo same)"
# Nor the audit key or the config (an outside tryout replaced both with a summary: every HMAC
# computed after matched nothing before, and the next run read an export as its settings).
cp "$WORK/key" "$WORK/key.before"; cp "$WORK/c10.conf" "$WORK/c10.before"
run_lethe --config "$WORK/c10.conf" export --summary -o "$WORK/key"
assert_rc "export -o the audit key: exit 2" 2
assert_eq "... saying why" "error: export: -o '$WORK/key' is the audit key (audit.key_file); refusing to replace it
hint: write to another file" "$ERR"
run_lethe --config "$WORK/c10.conf" export -o "$WORK/./c10.conf"
assert_rc "export -o the config file, by another path: exit 2" 2
assert_contains "... saying why" "is the config file; refusing to replace it" "$ERR"
run_lethe --config "$WORK/c10.conf" run --metrics-file "$WORK/key"
assert_rc "run --metrics-file the audit key: exit 2" 2
assert_eq "the key and the config are as they were" "same same" \
    "$(cmp -s "$WORK/key" "$WORK/key.before" && echo same) $(cmp -s "$WORK/c10.conf" "$WORK/c10.before" && echo same)"
assert_eq "and no run was recorded by the refused ones" "1" "$(sql "SELECT count(*) FROM lethe.runs")"
run_lethe --config "$WORK/c10.conf" export -o "$WORK/e10.jsonl"
assert_rc "another file is written" 0
# Nor a file the config @includes, whatever it holds (one with only batch settings was written
# over with exit 0, and every command after exited 2 on its syntax).
echo 'batch: { max_items = 5; };' >"$WORK/inc10.conf"; cp "$WORK/inc10.conf" "$WORK/inc10.before"
{ echo "@include \"$WORK/inc10.conf\""; cat "$WORK/c10.conf"; } >"$WORK/c10i.conf"
run_lethe --config "$WORK/c10i.conf" export -o "$WORK/inc10.conf"
assert_eq "export -o a file the config @includes: exit 2, saying why" "2|error: export: -o '$WORK/inc10.conf' is a config file (one '$WORK/c10i.conf' @includes); refusing to replace it
hint: write to another file" "$RC|$ERR"
run_lethe --config "$WORK/c10i.conf" export --summary -o "$WORK/./inc10.conf"
assert_rc "export --summary -o it by another path: exit 2" 2
run_lethe --config "$WORK/c10i.conf" run --metrics-file "$WORK/inc10.conf"
assert_rc "run --metrics-file it: exit 2" 2
# Nor the anchor file or the key before they exist, by another spelling of the path (compared
# as strings, "../x" was another file: an export became the anchor file's first line, and the
# key a later request computed its HMACs with).
mkdir -p "$WORK/fresh"
sed "s|anchor_file = \"[^\"]*\"|anchor_file = \"$WORK/fresh/anchors.jsonl\"|; s|key_file = \"[^\"]*\"|key_file = \"$WORK/fresh/k.key\"|" \
    "$WORK/c10.conf" >"$WORK/c10f.conf"
run_lethe --config "$WORK/c10f.conf" export -o "$WORK/fresh/../fresh/anchors.jsonl"
assert_eq "export -o the anchor file not made yet, by another path: exit 2, nothing made" \
  "2|error: export: -o '$WORK/fresh/../fresh/anchors.jsonl' is the anchor file (audit.anchor_file); refusing to replace it|absent" \
  "$RC|$(head -1 <<<"$ERR")|$([ -e "$WORK/fresh/anchors.jsonl" ] && echo present || echo absent)"
run_lethe --config "$WORK/c10f.conf" run --metrics-file "$WORK/./fresh/anchors.jsonl"
assert_eq "run --metrics-file it: exit 2, saying why" \
  "2|error: run: --metrics-file '$WORK/./fresh/anchors.jsonl' is the anchor file (audit.anchor_file); refusing to replace it" \
  "$RC|$(head -1 <<<"$ERR")"
run_lethe --config "$WORK/c10f.conf" export --summary -o "$WORK/fresh/./k.key"
assert_eq "export -o the audit key not made yet, by another path: exit 2, nothing made" "2|absent" \
  "$RC|$([ -e "$WORK/fresh/k.key" ] && echo present || echo absent)"
run_lethe --config "$WORK/c10f.conf" export -o "$WORK/fresh/other.jsonl"
assert_rc "another new file there is written" 0
assert_eq "the included file is as it was, and the config still reads" "same|0" \
    "$(cmp -s "$WORK/inc10.conf" "$WORK/inc10.before" && echo same)|$("$LETHE" --config "$WORK/c10i.conf" status >/dev/null 2>&1; echo $?)"

# ---- 11. a subject of blanks names no one; a subject is printed as text -----------------------
# An empty --subject was refused, a blank one ("$SUBJECT" holding a space) was recorded: a hold
# or a request on no one, while the operator took the subject for held or deleted. And the
# request's answer printed the subject's control characters raw.
fresh_catalog stranger4 1
write_config "$WORK/c11.conf"
before=$(sql "SELECT (SELECT count(*) FROM lethe.events) + (SELECT count(*) FROM lethe.holds) + (SELECT count(*) FROM lethe.audit)")
run_lethe --config "$WORK/c11.conf" request --tenant "$T" --subject '   ' --reference BL-1
assert_rc "a request on a blank subject: exit 2" 2
assert_eq "... saying so" "error: request: --subject must not be blank
hint: see 'lethe help request'" "$ERR"
run_lethe --config "$WORK/c11.conf" hold place --tenant "$T" --subject "$(printf '\t')" --reason r
assert_rc "a hold on a blank subject: exit 2" 2
assert_contains "... saying so" "error: hold place: --subject must not be blank" "$ERR"
# Blank in any script: a request for U+00A0 failed on the catalog's check with the database's
# words, and a hold on it was placed, covering no one.
run_lethe --config "$WORK/c11.conf" request --tenant "$T" --subject $'\u00a0' --reference BL-3
assert_eq "a request on a no-break space: exit 2, said as for spaces" "2 error: request: --subject must not be blank" "$RC ${ERR%%$'\n'*}"
run_lethe --config "$WORK/c11.conf" hold place --tenant "$T" --subject $'\u200b\u3000\u3164' --reason r
assert_eq "a hold on a zero-width and an ideographic space: exit 2" "2 error: hold place: --subject must not be blank" "$RC ${ERR%%$'\n'*}"
assert_eq "nothing was written" "$before" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.events) + (SELECT count(*) FROM lethe.holds) + (SELECT count(*) FROM lethe.audit)")"
run_lethe --config "$WORK/c11.conf" request --tenant "$T" --subject "$(printf 'user_a\033[2J')" --reference BL-2
assert_rc "a subject with a control character is recorded" 0
assert_eq "as given" "$(printf 'user_a\033[2J')" "$(sql "SELECT subject_id FROM lethe.events WHERE reference = 'BL-2'")"
assert_not_contains "and not echoed (no subject id in clear on stdout)" 'user_a' "$OUT$ERR"

finish
