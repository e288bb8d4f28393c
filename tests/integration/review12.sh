# What outside tryouts of this stop found (an auditor checking the evidence against itself),
# each section the user's command and its outcome; each failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review12.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS review12_r" >/dev/null 2>&1' EXIT

# ---- status --reference after the config's deadline changed ------------------------------------
# A request's purges are recorded on time, late or held by the deadline of their batch. status
# --reference judged them again by the deadline of the config of the last run: after the
# deadline was set back from a short one, a purge recorded late and one recorded held were said
# on time, while export --summary (from the records) said otherwise.
psql -X -q -c 'DROP DATABASE IF EXISTS review12_r' -c 'CREATE DATABASE review12_r' 2>/dev/null
export PGDATABASE=review12_r
"$LETHE" migrate >/dev/null
write_config "$WORK/short.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
  'rules: { deletion_request: { deadline = "6s"; }; };'
write_config "$WORK/long.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
X=$(uuid); Y=$(uuid)
mk_item "$T" "$X" "$W" prompt EU 2026-01-01T00:00:00Z
mk_item "$T" "$Y" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/short.conf" request --tenant "$T" --item "$X" --reference CASE-9
run_lethe hold place --tenant "$T" --item "$X" --reason "inquiry"
H=$(sql "SELECT hold_id FROM lethe.holds")
run_lethe --config "$WORK/short.conf" run
assert_contains "the held item is kept" "0 purged, 0 failed items, 0 failed batches, 1 held" "$OUT"
run_lethe --config "$WORK/short.conf" request --tenant "$T" --item "$Y" --reference CASE-10
sleep 7   # both deadlines pass: the one item under its hold, the other with no run
run_lethe hold release "$H"
run_lethe --config "$WORK/short.conf" run
assert_contains "both purged" "2 purged, 0 failed items" "$OUT"
assert_eq "recorded: one held past its deadline, one late" "held|false
|false" "$(sql "SELECT coalesce(detail, '') || '|' || on_time FROM lethe.audit WHERE kind = 'item_purged' ORDER BY detail NULLS LAST")"
run_lethe --config "$WORK/long.conf" run   # the config's deadline back to 30 days
run_lethe status --tenant "$T" --reference CASE-9
assert_contains "status --reference: the purge recorded held past its deadline is counted so, not by the config's deadline now" \
  "  purged:     1 (on time 0, late 0, held past the deadline 1)" "$OUT"
run_lethe status --tenant "$T" --reference CASE-10 --json
assert_eq "... and the one recorded late, late" "1 0 1 0" \
  "$(python3 -c 'import json,sys; p=json.load(sys.stdin)["purged"]; print(p["count"], p["on_time"], p["late"], p["held_past_deadline"])' <<<"$OUT")"
"$LETHE" export --summary -o "$WORK/s.jsonl" 2>/dev/null
assert_eq "... as export --summary does" "2 0 1 1" \
  "$(summary_rule "$WORK/s.jsonl" deletion_request purged on_time late held_past_deadline)"

# ---- what a security review found ------------------------------------------------------------
# A connection string libpq cannot read was quoted whole in the error, password included (in the
# journal, under systemd): the value is named, not shown.
printf 'database: { conninfo = "postgresql://lethe:Secr3tPw@[fd00::5/lethe"; };\n' >"$WORK/typo.conf"
run_lethe --config "$WORK/typo.conf" run
assert_eq "a conninfo libpq cannot read: exit 2, its message without the value" \
  "2|error: config: '$WORK/typo.conf' line 1: 'database.conninfo': libpq cannot read it (end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"(the value)\"): (the value is not shown: it may hold a password)" \
  "$RC|$(head -1 <<<"$ERR")"
run_lethe --db 'postgresql://lethe:Secr3tPw_x@[::1]x/lethe' status
assert_eq "... and so given with --db" \
  "2|error: cannot connect to the database: bad connection string (--db): unexpected character \"x\" at position 36 in URI (expected \":\" or \"/\"): \"(the value)\"" \
  "$RC|$(head -1 <<<"$ERR")"
# ... nor a piece of it libpq quotes (where it stopped reading: a password, maybe), nor a
# conninfo given with -d, which libpq reads only when it connects.
run_lethe --db 'postgresql://lethe:Hun%ter2@db/lethe' status
assert_eq "the piece libpq stopped at is not shown" \
  "2|error: cannot connect to the database: bad connection string (--db): invalid percent-encoded token: \"...\"" \
  "$RC|$(head -1 <<<"$ERR")"
run_lethe --db 'dbname=lethe password=Hunter2 secret' status
assert_eq "... a word after the password neither" \
  "error: cannot connect to the database: bad connection string (--db): missing \"=\" after \"...\" in connection info string" \
  "$(head -1 <<<"$ERR")"
run_lethe -d 'postgresql://lethe:Secr3tPw@[fd00::5/lethe' status
assert_eq "... nor a conninfo given with -d" \
  "error: cannot connect to the database: end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"(the value)\"" \
  "$(head -1 <<<"$ERR")"
# A deleter was handed lethe's whole environment, PGPASSWORD (libpq's way to give the engine's
# password) included.
cat >"$WORK/envdump" <<EOS
#!/bin/sh
env >"$WORK/executor.env"
ls -l /proc/self/fd/ >"$WORK/executor.fdl"
exec $FS_DELETE --root $STORE "\$@"
EOS
chmod +x "$WORK/envdump"
write_config "$WORK/env.conf" "executor: { command = \"$WORK/envdump\"; };"
Z=$(uuid); mk_item "$T" "$Z" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/env.conf" request --tenant "$T" --item "$Z" --reference CASE-11
PGPASSWORD=Secr3tPw_engine run_lethe --config "$WORK/env.conf" run
assert_eq "the deleter ran with its batch in its environment, and no database password" "1|0" \
  "$(grep -c '^LETHE_BATCH_ID=' "$WORK/executor.env")|$(grep -c 'PGPASSWORD' "$WORK/executor.env")"
# ... and nothing of lethe's open but its standard input, output and error: not the database's
# socket, not the log, the spool, the locks or the pipes of another deleter.
assert_eq "the deleter holds no file of lethe's" "0 1 2" "$(awk 'NR > 1 && $NF !~ /^\/proc\// { print $9 }' "$WORK/executor.fdl" | sort -n | paste -sd' ')"
# An export replaced with -o keeps its permissions and its group, as the metrics file does.
: >"$WORK/kept.jsonl"; chmod 0640 "$WORK/kept.jsonl"; chgrp nogroup "$WORK/kept.jsonl"
"$LETHE" export -o "$WORK/kept.jsonl" 2>/dev/null
assert_eq "export -o over a file of the auditors' group: written, still 0640 and that group's" "640 nogroup yes" \
  "$(stat -c '%a %G' "$WORK/kept.jsonl") $([ -s "$WORK/kept.jsonl" ] && echo yes)"
# verify quoted a tenant id from the file as it was: escape sequences in it drew a fake
# "verify: ok" over the verdict on the auditor's terminal.
"$LETHE" export -o "$WORK/all.jsonl" 2>/dev/null
python3 - "$WORK/all.jsonl" "$WORK/forged.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[1]); r["tenant_id"] = "x\r\x1b[2Kverify: ok: 9 records in 1 chains\x1b[8m"
lines[1] = json.dumps(r, separators=(",", ":"))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
run_lethe verify "$WORK/forged.jsonl"
assert_eq "verify of a forged tenant id: exit 4, and no control character reaches the terminal" "4|0" \
  "$RC|$(printf '%s' "$OUT" | tr -d '\n' | LC_ALL=C grep -c $'[\x01-\x1f]')"
assert_contains "... the id shown escaped" 'tenant x\x0D\x1B[2Kverify: ok: 9 records in 1 chains\x1B[8m: the chain is not among' "$OUT"

# ---- shard runs sharing one metrics file (metrics.file in the config) ------------------------------
# A shard's successful run replaced the file with its own series alone: the other shard's lines,
# its lethe_run_success 0 after a failure included, were gone, and the alert on it with them.
run_lethe --config "$WORK/long.conf" run --shard 0/2 --metrics-file "$WORK/m.prom"
run_lethe --config "$WORK/long.conf" --db "host=$WORK/nowhere dbname=none" run --shard 1/2 --metrics-file "$WORK/m.prom"
run_lethe --config "$WORK/long.conf" run --shard 0/2 --metrics-file "$WORK/m.prom"
assert_eq "after shard 0/2 succeeds again, shard 1/2's failure is still in the file" \
  'lethe_run_success{shard="0/2"} 1
lethe_run_success{shard="1/2"} 0' "$(grep '^lethe_run_success' "$WORK/m.prom")"
run_lethe --config "$WORK/long.conf" run --shard 1/2 --metrics-file "$WORK/m.prom"
assert_eq "... and after 1/2 succeeds, both shards' series, each family's TYPE once, followed by its lines" \
  "1|2|2|lethe_run_success{shard=\"1/2\"} 1
lethe_run_success{shard=\"0/2\"} 1" \
  "$(grep -c '^# TYPE lethe_run_success ' "$WORK/m.prom")|$(grep -c '^lethe_open_batches{' "$WORK/m.prom")|$(grep -c '^lethe_run_duration_seconds{' "$WORK/m.prom")|$(grep -A2 '^# TYPE lethe_run_success ' "$WORK/m.prom" | sed 1d)"

# ---- rerun with another tenant's id ----------------------------------------------------------------
# The batch is there, of another tenant: "unknown batch B" said nothing of the tenant given.
write_config "$WORK/false.conf" 'executor: { command = "/bin/false"; };'
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" beta; mk_workspace "$T2" "$W2" EU
Q=$(uuid); mk_item "$T2" "$Q" "$W2" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/false.conf" request --tenant "$T2" --item "$Q" --reference CASE-12
run_lethe --config "$WORK/false.conf" run
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$Q'")
run_lethe --config "$WORK/false.conf" rerun "$B" --tenant "$T"
assert_eq "rerun of a batch with another tenant's id: exit 2, naming the tenant" \
  "2|error: rerun: unknown batch $B for tenant $T
hint: no batch of that id holds an item of that tenant; 'lethe batches --tenant T' lists the tenant's batches" "$RC|$ERR"

# ---- a spool directory a run by hand as root made ---------------------------------------------------
# Every later run of the service user failed with "Permission denied" and no word of why.
if [ "$(id -u)" = 0 ]; then
    N=$WORK/nb; mkdir -p "$N/spool/EU" "$N/store"; chmod 0755 "$WORK" "$N"; chmod 0750 "$N/spool/EU"
    chown nobody "$N/spool" "$N/store"
    printf 'spool: { directory = "%s/spool"; };\nexecutor: { command = "%s --root %s/store"; };\naudit: { anchor_file = "%s/spool/anchors.jsonl"; };\n' \
      "$N" "$FS_DELETE" "$N" "$N" >"$N/c.conf"; chmod 0644 "$N/c.conf"
    # (the binary itself: under make check-citus $LETHE is a wrapper that calls it beside it)
    real=$LETHE; [ -x "$(dirname "$LETHE")/lethe.real" ] && real=$(dirname "$LETHE")/lethe.real
    cp "$real" "$N/lethe"; chmod 0755 "$N/lethe"
    V=$(uuid); mk_item "$T" "$V" "$W" prompt EU 2026-01-01T00:00:00Z
    run_lethe request --tenant "$T" --item "$V" --reference CASE-13
    OUT=$(cd / && runuser -u nobody -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" \
          "$N/lethe" --config "$N/c.conf" run 2>&1); RC=$?
    assert_eq "a location's directory another user made: the run fails, saying whose it is and what to do" \
      "1|error: spool: cannot read '$N/spool/EU': Permission denied
hint: '$N/spool/EU' belongs to root, uid 0 (a run by hand as another user made it?): give it to nobody, the user this run is, e.g. chown -R nobody: '$N/spool/EU', and run lethe by hand as that user (sudo -u nobody lethe run)" \
      "$RC|$(grep -A1 "^error: spool" <<<"$OUT")"
    # An anchor file an operator cannot read (the service user's, 0600): the hint names its
    # owner as the user to run as (it named a user "lethe", which need not exist).
    mkdir -p "$N/anc"; chmod 0755 "$N/anc"
    sed "s|$N/spool/anchors.jsonl|$N/anc/anchors.jsonl|" "$N/c.conf" >"$N/c2.conf"; chmod 0644 "$N/c2.conf"
    : >"$N/anc/anchors.jsonl"; chmod 0600 "$N/anc/anchors.jsonl"
    V2=$(uuid); mk_item "$T" "$V2" "$W" prompt EU 2026-01-01T00:00:00Z
    OUT=$(cd / && runuser -u nobody -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" \
          "$N/lethe" --config "$N/c2.conf" request --tenant "$T" --item "$V2" --reference CASE-14 2>&1); RC=$?
    assert_eq "an anchor file the operator cannot read: the request fails, naming the file's owner as the user to run as" \
      "1|hint: request reads the anchor file before it writes the audit, to refuse a restored database: run it as root, the file's owner (sudo -u root lethe ...), or give this user read access to '$N/anc/anchors.jsonl'; nothing was written|0" \
      "$RC|$(grep "^hint: request reads the anchor file" <<<"$OUT")|$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'CASE-14'")"
fi

# ---- a tombstone no purge made ------------------------------------------------------------------
# A superuser's UPDATE that clears a locator (the triggers let a superuser through) made status
# --reference say the request was done, with no purge recorded and the object still stored.
U=$(uuid); mk_item "$T" "$U" "$W" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/long.conf" request --tenant "$T" --item "$U" --reference CASE-14
psql -X -q -c "SET session_replication_role = replica; UPDATE lethe.items SET locator = NULL, owner_id = NULL WHERE item_id = '$U'" >/dev/null 2>&1 \
  || sql "ALTER TABLE lethe.items DISABLE TRIGGER ALL; UPDATE lethe.items SET locator = NULL, owner_id = NULL WHERE item_id = '$U'; ALTER TABLE lethe.items ENABLE TRIGGER ALL" >/dev/null
run_lethe --config "$WORK/long.conf" run
run_lethe status --tenant "$T" --reference CASE-14
assert_eq "status --reference: a tombstone with no purge record is no purge, and the request not done" \
  "  purged:     0 (on time 0, late 0, held past the deadline 0)|  tombstoned with no purge record: 1|not done: 1 covered item is tombstoned with no purge record (changed outside lethe; 'lethe explain ITEM' names it)" \
  "$(grep -E '^  purged:|^  tombstoned' <<<"$OUT" | paste -sd'|')|$(tail -1 <<<"$OUT")"
