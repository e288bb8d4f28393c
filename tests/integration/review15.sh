# What outside tryouts of an operator's day found: each section the user's command and its
# outcome; each failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review15.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS review15" -c "DROP DATABASE IF EXISTS review15m" >/dev/null 2>&1' EXIT

# wait_for SQL: polls (10 s at most) until the query returns more than 0.
wait_for() {
  for _ in $(seq 100); do [ "$(sql "$1")" -gt 0 ] && return 0; sleep 0.1; done
  return 1
}

# ---- a command during the very first migrate -----------------------------------------------------
# The timer's run started while 'lethe migrate' created the schema: it was told "no lethe schema"
# (exit 2, a configuration error, with the hint to run migrate), and paged as one. A migrate's
# transaction shows nothing until it commits; the lock it holds meanwhile says it is under way.
psql -X -q -c 'DROP DATABASE IF EXISTS review15m' -c 'CREATE DATABASE review15m' 2>/dev/null
write_config "$WORK/m.conf"
# Another session creates the schema and waits: migrate, under its lock, waits on it.
PGDATABASE=review15m psql -X -q -c "BEGIN" -c "CREATE SCHEMA lethe" -c "SELECT pg_sleep(32)" -c "ROLLBACK" >/dev/null 2>&1 &
LOCKER=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE datname = 'review15m' AND query = 'SELECT pg_sleep(32)'"
PGDATABASE=review15m "$LETHE" migrate >"$WORK/m.out" 2>&1 &
MIG=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE datname = 'review15m' AND wait_event_type = 'Lock' AND query LIKE 'CREATE SCHEMA%'"
assert_eq "the migrate waits, its lock held" "0" "$?"
PGDATABASE=review15m run_lethe --config "$WORK/m.conf" run
assert_eq "a run meanwhile: exit 3, as when another run holds the lock, saying why and what to do" \
  "3|error: database 'review15m' has no lethe schema yet: a 'lethe migrate' is applying migrations to it now
hint: try again once it has finished (it commits them all at once, or none)" "$RC|$ERR"
PGDATABASE=review15m run_lethe --config "$WORK/m.conf" status
assert_eq "... and so is status" "3" "$RC"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'review15m' AND query = 'SELECT pg_sleep(32)'" >/dev/null
wait $MIG; MRC=$?; wait $LOCKER 2>/dev/null
assert_eq "the migrate then ends" "0" "$MRC"
PGDATABASE=review15m run_lethe --config "$WORK/m.conf" run
assert_eq "... and the next run does its work" "0" "$RC"
psql -X -q -c 'DROP DATABASE IF EXISTS review15m' 2>/dev/null
# Without a migrate under way, the advice stays what it was. (Under make check-citus the binary
# is a wrapper that makes a new database a Citus one and migrates it first.)
if [ -z "${CITUS_DIR:-}" ]; then
    psql -X -q -c 'CREATE DATABASE review15m' 2>/dev/null
    PGDATABASE=review15m run_lethe --config "$WORK/m.conf" run
    assert_eq "no schema and no migrate: exit 2, run migrate" "2|error: database 'review15m' has no lethe schema
hint: run 'lethe migrate' first, or check the connection (--db, -d)" "$RC|$ERR"
else
    ok "skipped on Citus: the wrapper migrates a new database first"
fi

# ---- the README's install, with the package's config in place ------------------------------------
# The package installs /etc/lethe/lethe.conf readable by root and the lethe group alone; the
# README then migrates as the postgres user ('sudo -u postgres lethe --db dbname=lethe migrate'),
# which refused: "cannot open: Permission denied". migrate with --db reads nothing from a config.
# In a mount namespace with /etc overlaid, so that the host's /etc is not touched.
if [ "$(id -u)" = 0 ] && [ -z "${CITUS_DIR:-}" ] && unshare -m --propagation private true 2>/dev/null; then
    chmod 0755 "$WORK"
    cat >"$WORK/etc_ns.sh" <<'EOS'
set -e
ov=$1; shift
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ov/up,workdir=$ov/wk" /etc
mkdir -p /etc/lethe
printf 'executor: { command = "/bin/false"; };\n' >/etc/lethe/lethe.conf
chmod 0640 /etc/lethe/lethe.conf
set +e
runuser -u postgres -- "$@"
EOS
    # as_postgres COMMAND...: COMMAND as the postgres user, with the package's config in /etc
    as_postgres() {
        rm -rf "$WORK/ov"; mkdir -p "$WORK/ov/up" "$WORK/ov/wk"
        OUT=$(cd / && unshare -m --propagation private sh "$WORK/etc_ns.sh" "$WORK/ov" "$@" 2>&1); RC=$?
    }
    psql -X -q -c 'DROP DATABASE IF EXISTS review15m' -c 'CREATE DATABASE review15m' 2>/dev/null
    as_postgres "$LETHE" --db "dbname=review15m" migrate
    assert_eq "sudo -u postgres lethe --db dbname=lethe migrate, the package's config unreadable to postgres: migrated" \
      "0|t" "$RC|$(psql -X -At -d review15m -c "SELECT count(*) > 0 FROM lethe.schema_migrations")"
    as_postgres "$LETHE" --db "dbname=review15m" status
    assert_eq "... while any other command still refuses to run on its defaults" \
      "2|error: config: '/etc/lethe/lethe.conf': cannot open: Permission denied" "$RC|$(head -1 <<<"$OUT")"
    psql -X -q -c 'DROP DATABASE IF EXISTS review15m' 2>/dev/null
else
    ok "skipped: the package's config needs a mount namespace (unshare -m, as root), on one server"
fi

rm -f "$WORK/anchors.jsonl"   # the other database's
psql -X -q -c 'DROP DATABASE IF EXISTS review15' -c 'CREATE DATABASE review15' 2>/dev/null
export PGDATABASE=review15
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); WU=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU; mk_workspace "$T" "$WU" US
write_config "$WORK/ack.conf"
write_config "$WORK/del.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"

# ---- a rerun of an open batch with a held item -----------------------------------------------
# A hold does not recall a batch already emitted (SPEC §3): 'hold place' says so to whoever places
# it. Whoever reran the batch later at 3 a.m. was told nothing, and the deleter deleted the item.
X=$(uuid); Y=$(uuid)
mk_item "$T" "$X" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$Y" "$W" prompt EU 2026-01-01T00:00:00Z false "$X"   # a copy of it
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$X" --reference CASE-50
run_lethe --config "$WORK/ack.conf" run    # no executor: the batch stays open
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$X'")
run_lethe --config "$WORK/ack.conf" rerun "$B" --operator user_o
assert_eq "a rerun with nothing held says nothing of holds" "0|0" "$RC|$(grep -c 'held by hold' <<<"$ERR")"
run_lethe --config "$WORK/ack.conf" hold place --tenant "$T" --item "$X" --reason litigation --operator user_h
H=$OUT
run_lethe --config "$WORK/ack.conf" rerun "$B" --operator user_o
assert_eq "a rerun of the batch once a hold covers the item and its copy: the operator is told, with the hold" \
  "0|warning: rerun: 2 of its items are held by hold $H, which does not recall a batch already emitted: they stay in it, and go to its deleter
hint: each such purge is recorded with the hold ('hold in effect at purge'); 'lethe explain ITEM_ID' lists an item's holds" \
  "$RC|$(grep -E '^(warning|hint): .*hold' <<<"$ERR")"
# The timer's run re-drives the open batch the same way: it names the hold, without walking each
# item's lineage (on copies thousands deep that took 90 s, at every run while the batch waits).
run_lethe --config "$WORK/ack.conf" run
assert_eq "... and so does a run that re-drives the batch: which hold, on which tenant, and how to count" \
  "0|warning: batch $B (EU): hold $H, placed on tenant $T since the batch was made, may cover some of its items; a hold does not recall a batch already emitted: they stay in it, and go to its deleter
hint: 'lethe rerun BATCH_ID' counts the items each hold covers; each such purge is recorded with the hold ('hold in effect at purge')" \
  "$RC|$(grep -E '^(warning: batch|hint: .lethe rerun)' <<<"$ERR")"
run_lethe --config "$WORK/ack.conf" hold release "$H" --operator user_h
run_lethe --config "$WORK/ack.conf" rerun "$B" --operator user_o
assert_eq "... and nothing once it is released" "0|0" "$RC|$(grep -c 'held by hold' <<<"$ERR")"

# ---- the hint of a warning about several batches is given once ----------------------------------
# 'request' and 'hold place' repeated their hint after each batch they named.
E=$(uuid); U=$(uuid)
mk_item "$T" "$E" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$U" "$WU" prompt US 2026-01-01T00:00:00Z
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$E" --reference CASE-51
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$U" --reference CASE-52
run_lethe --config "$WORK/ack.conf" run
BE=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$E'")
BU=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$U'")
assert_eq "two open batches, one per region" "2" "$(sql "SELECT count(DISTINCT batch_id) FROM lethe.batch_items WHERE item_id IN ('$E', '$U')")"
run_lethe --config "$WORK/ack.conf" hold place --tenant "$T" --reason audit --operator user_h
HA=$OUT
assert_eq "a tenant hold names each batch, then one hint" \
  "$(printf '%s\n' "warning: hold: 1 item in its scope is already in open batch $BE (EU), which a hold does not recall" "warning: hold: 1 item in its scope is already in open batch $BU (US), which a hold does not recall" | sort)
hint: their deleters may have them already; 'lethe batches --state open' shows the batches" \
  "$(grep -E "^warning: hold: .*($BE|$BU)" <<<"$ERR" | sort)
$(grep '^hint' <<<"$ERR")"
run_lethe --config "$WORK/ack.conf" hold release "$HA" --operator user_h
write_config "$WORK/short.conf" 'rules: { deletion_request: { deadline = "1h"; }; };'
run_lethe --config "$WORK/short.conf" request --tenant "$T" --reference CASE-53
assert_eq "a tenant request with an earlier deadline names each batch it cannot hurry, then one hint" \
  "0|3|1|hint: acknowledge each of these batches before" \
  "$RC|$(grep -c '^warning: request: .* already in open batch' <<<"$ERR")|$(grep -c '^hint' <<<"$ERR")|$(grep -o '^hint: acknowledge each of these batches before' <<<"$ERR")"

# ---- the spool directory is judged before the run, as every file it writes ----------------------
# spool.directory naming a file was found only once a batch was emitted: "spool: cannot create
# '/etc/passwd/EU': Not a directory", exit 1 at every hourly run, the batch left open.
Q=$(uuid); mk_item "$T" "$Q" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$Q" --reference CASE-60
: >"$WORK/plainfile"
printf 'spool: { directory = "%s"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/plainfile" "$WORK/anchors.jsonl" >"$WORK/sp1.conf"
run_lethe --config "$WORK/sp1.conf" run
assert_eq "a spool that is a file: exit 2 before anything is done, naming file, line, setting and value" \
  "2|error: config: '$WORK/sp1.conf' line 1: 'spool.directory': cannot take the manifests (it is not a directory): \"$WORK/plainfile\"
hint: each batch's manifest is written there before its deleter runs: name a directory the lethe user can write (lethe runs as user $(id -un)); nothing was done|0" \
  "$RC|$ERR|$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id = '$Q'")"
printf 'spool: { directory = "%s"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/no/such/spool" "$WORK/anchors.jsonl" >"$WORK/sp2.conf"
run_lethe --config "$WORK/sp2.conf" run
assert_eq "a spool two levels below what exists: exit 2" \
  "2|error: config: '$WORK/sp2.conf' line 1: 'spool.directory': cannot take the manifests (its directory '$WORK/no': No such file or directory): \"$WORK/no/such/spool\"" \
  "$RC|$(head -1 <<<"$ERR")"
run_lethe --config "$WORK/sp2.conf" rerun "$B" --operator user_o
assert_eq "... and so does a rerun" "2" "$RC"
printf 'spool: { directory = "%s"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/new/spool" "$WORK/anchors.jsonl" >"$WORK/sp3.conf"
run_lethe --config "$WORK/sp3.conf" run
assert_eq "a spool whose parent is missing: made with it (as the anchor file's directory is), the manifest written" \
  "0|1" "$RC|$(ls "$WORK/new/spool/EU" | grep -c "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$Q'").jsonl")"

ln -s "$WORK/nowhere" "$WORK/dangling"
printf 'spool: { directory = "%s"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/dangling" "$WORK/anchors.jsonl" >"$WORK/sp4.conf"
run_lethe --config "$WORK/sp4.conf" run
assert_eq "a spool that is a link to nothing: exit 2 (the run could not make it)" \
  "2|error: config: '$WORK/sp4.conf' line 1: 'spool.directory': cannot take the manifests (it is a symbolic link to something that does not exist): \"$WORK/dangling\"" \
  "$RC|$(head -1 <<<"$ERR")"
printf 'spool: { directory = "%s/sub"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/dangling" "$WORK/anchors.jsonl" >"$WORK/sp6.conf"
run_lethe --config "$WORK/sp6.conf" run
assert_eq "... and so is one whose parent, which the run would make, is a link to nothing" \
  "2|error: config: '$WORK/sp6.conf' line 1: 'spool.directory': cannot take the manifests (its directory '$WORK/dangling' is a symbolic link to something that does not exist): \"$WORK/dangling/sub\"" \
  "$RC|$(head -1 <<<"$ERR")"
printf 'spool: { directory = "%s/"; };\naudit: { anchor_file = "%s"; };\n' "$WORK/new/spool" "$WORK/anchors.jsonl" >"$WORK/sp5.conf"
run_lethe --config "$WORK/sp5.conf" rerun "$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$Q'")" --operator user_o
assert_contains "a spool named with a trailing slash: its manifests' paths have no '//'" "written to $WORK/new/spool/EU/" "$ERR"

# ---- the audit key's path is absolute, as every other path ---------------------------------------
# A relative key_file was read from the directory lethe was started in: a run from one directory
# worked, the timer's (started in /) exited 2 "No such file or directory".
printf 'audit: { key_file = "audit.key"; };\n' >"$WORK/relkey.conf"
run_lethe --config "$WORK/relkey.conf" status
assert_eq "a relative audit.key_file: exit 2, at its line" \
  "2|error: config: '$WORK/relkey.conf' line 1: 'audit.key_file': must be an absolute path, got \"audit.key\"" \
  "$RC|$(head -1 <<<"$ERR")"

# ---- two operators acknowledge one batch at once -------------------------------------------------
# Both read the batch open. The first closed it failed (an item still stored), the second then
# recorded that item purged, late, without the warning a later ack of a failed batch gives:
# "had a failure reported for it ... recorded as purged on this acknowledgement's word".
A1=$(uuid); A2=$(uuid); A3=$(uuid)
for i in "$A1" "$A2" "$A3"; do mk_item "$T" "$i" "$W" prompt EU 2026-01-01T00:00:00Z; done
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$A1" --reference CASE-70
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$A2" --reference CASE-71
run_lethe --config "$WORK/ack.conf" request --tenant "$T" --item "$A3" --reference CASE-72
run_lethe --config "$WORK/ack.conf" run
AB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$A1'")
assert_eq "three items in one open batch" "3" "$(sql "SELECT count(*) FROM lethe.batch_items WHERE batch_id = '$AB'")"
# Another session holds the batch's row, so that the first ack waits inside its transaction
# with the batch read open, and the second comes meanwhile.
psql -X -q -c "BEGIN" -c "SELECT 1 FROM lethe.batches WHERE batch_id = '$AB' FOR UPDATE" \
  -c "SELECT pg_sleep(33)" -c "COMMIT" >/dev/null 2>&1 &
LOCKER=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(33)'"
"$LETHE" --config "$WORK/ack.conf" ack "$AB" --failed "$A1:still there" --operator bob >"$WORK/bob.out" 2>"$WORK/bob.err" &
BOB=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%' AND query NOT LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
"$LETHE" --config "$WORK/ack.conf" ack "$AB" --operator alice >"$WORK/alice.out" 2>"$WORK/alice.err" &
ALICE=$!
wait_for "SELECT count(*) - 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(33)'" >/dev/null
wait $BOB; BRC=$?; wait $ALICE; ARC=$?; wait $LOCKER 2>/dev/null
assert_eq "the first ack closes the batch failed, its item due again" \
  "0|ack: batch $AB closed failed: 2 purged, 1 failed; its failed items are due again at the next run" "$BRC|$(cat "$WORK/bob.out")"
assert_eq "the second, made meanwhile, reads it failed: its word recorded, and said to contradict the first's" \
  "0|warning: ack: 1 item of failed batch $AB had a failure reported for it (item $A1: still there): recorded as purged on this acknowledgement's word" \
  "$ARC|$(grep '^warning' "$WORK/alice.err")"
assert_contains "... with where to look if the object is still stored" "hint: if the objects were not deleted, 'lethe reconcile --location GEO INVENTORY'" "$(cat "$WORK/alice.err")"

# ---- a password in a config others can read, a key of a few bytes ------------------------------
# The key file was warned of when others could read it; a password in the config was not, and a
# three-byte key was taken without a word.
printf 'database: { conninfo = "dbname=review15 password=S3cretPW"; };\n' >"$WORK/pw.conf"
chmod 0644 "$WORK/pw.conf"
run_lethe --config "$WORK/pw.conf" status
assert_eq "a password in a world-readable config: warned of, the value not shown, the command done" \
  "0|warning: config: '$WORK/pw.conf' line 1: 'database.conninfo': holds a password, and other users can read the file (mode 0644): (the value is not shown)
hint: chmod 0640 $WORK/pw.conf (root:lethe), or keep the password out of the config: in the lethe user's ~/.pgpass (mode 0600) or a PGPASSFILE|0" \
  "$RC|$(grep -A1 '^warning: config' <<<"$ERR")|$(grep -c S3cretPW <<<"$ERR$OUT")"
chmod 0640 "$WORK/pw.conf"
run_lethe --config "$WORK/pw.conf" status
assert_eq "... and not once it is 0640" "0|0" "$RC|$(grep -c '^warning: config' <<<"$ERR")"
printf abc >"$WORK/short.key"; chmod 0600 "$WORK/short.key"
printf 'audit: { key_file = "%s"; };\n' "$WORK/short.key" >"$WORK/shortkey.conf"
run_lethe --config "$WORK/shortkey.conf" run --dry-run
assert_eq "a key of three bytes: warned of, with how to make one" \
  "0|warning: config: '$WORK/shortkey.conf' line 1: 'audit.key_file': the key file holds only 3 bytes: \"$WORK/short.key\"
hint: an HMAC-SHA256 key is 32 random bytes or more ('head -c 32 /dev/urandom > $WORK/short.key' for a new install); a key already in use stays until it is rotated: the HMACs recorded so far were made with it" \
  "$RC|$(grep -A1 '^warning: config' <<<"$ERR")"

# ---- the monthly export's wrapper, as lethe-export.service runs it ---------------------------------
# Nothing ran it. And with the anchor file moved (audit.anchor_file changed, the unit's --anchors
# not), it verified the export without the anchors and said nothing.
MONTH=$(date -u +%Y-%m)
mkdir -p "$WORK/exports"
OUT=$(LETHE=$LETHE sh deploy/lethe-export-month --month "$MONTH" --dir "$WORK/exports" --config "$WORK/ack.conf" \
      --anchors "$WORK/anchors.jsonl" 2>&1); RC=$?
assert_eq "the month exported, its summary written, the export verified against the anchor file" \
  "0|audit-$MONTH.jsonl summary-$MONTH.jsonl|1" \
  "$RC|$(ls "$WORK/exports" | tr '\n' ' ' | sed 's/ $//')|$(grep -c '^verify: ok: .*anchored heads found' <<<"$OUT")"
OUT=$(LETHE=$LETHE sh deploy/lethe-export-month --month "$MONTH" --dir "$WORK/exports" --config "$WORK/ack.conf" \
      --anchors "$WORK/moved.jsonl" 2>&1); RC=$?
assert_eq "an anchor file that is not there: verified without it, and said" \
  "0|lethe-export-month: warning: the anchor file '$WORK/moved.jsonl' does not exist: the export is verified without it|0" \
  "$RC|$(grep '^lethe-export-month: warning' <<<"$OUT")|$(grep -c 'anchored heads found' <<<"$OUT")"
OUT=$(LETHE=$LETHE sh deploy/lethe-export-month --month "$MONTH" --dir "$WORK/exports" --config "$WORK/ack.conf" \
      --anchors "" 2>&1); RC=$?
assert_eq "an empty --anchors (an unset variable in a drop-in): a usage error, nothing exported" \
  "2|lethe-export-month: error: option '--anchors' needs a file, not an empty value" "$RC|$(head -1 <<<"$OUT")"
OUT=$(LETHE=$LETHE sh deploy/lethe-export-month --month= --dir "$WORK/exports" --config "$WORK/ack.conf" 2>&1); RC=$?
assert_eq "... and so is an empty --month (it exported the previous month)" \
  "2|lethe-export-month: error: option '--month' needs a month (YYYY-MM), not an empty value" "$RC|$(head -1 <<<"$OUT")"
