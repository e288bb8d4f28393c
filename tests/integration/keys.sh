# The audit key in use (sql/0084): a key_file replaced by another key is said, by the commands
# whose HMACs it makes (run, rerun, request, reconcile), naming both keys by fingerprint and
# since when; reconcile names the keys in use before the present one, whose locator HMACs it
# cannot match. An auditor's tryout found reconcile reporting "0 objects still stored" for an
# object left behind, with no word, after the key file had been replaced.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-keys.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS keys_t" >/dev/null 2>&1' EXIT
psql -X -q -c "DROP DATABASE IF EXISTS keys_t" -c "CREATE DATABASE keys_t" >/dev/null 2>&1
export PGDATABASE=keys_t
"$LETHE" migrate >/dev/null
FS_DELETE=$(dirname "$LETHE")/fs-delete

head -c 32 /dev/urandom > "$WORK/k1"
head -c 32 /dev/urandom > "$WORK/k2"
chmod 0600 "$WORK/k1" "$WORK/k2"
# A deleter that acknowledges every item and deletes nothing (the object is left behind).
cat > "$WORK/liar" <<'EOS'
#!/bin/sh
tail -n +2 "$1" | sed -e 's/^{"item_id":"\([^"]*\)".*/deleted \1/'
EOS
chmod +x "$WORK/liar"
for k in 1 2; do
    write_config "$WORK/k$k.conf" "audit: { key_file = \"$WORK/k$k\"; };" \
        "executor: { command = \"$WORK/liar\"; timeout = \"60s\"; };"
done
# fp KEYFILE: the fingerprint, computed here on its own: HMAC-SHA256 of the fixed text, 16 digits.
fp() { printf '%s' "lethe audit key fingerprint" |
       openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(od -An -tx1 -v "$1" | tr -d ' \n')" |
       sed 's/.*= //' | cut -c1-16; }
F1=$(fp "$WORK/k1"); F2=$(fp "$WORK/k2")

T=$(uuid); W=$(uuid); X=$(uuid); Y=$(uuid)
mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
for i in "$X" "$Y"; do
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
         VALUES ('$T', '$i', '$W', 'prompt', 'EU', 'file://$STORE/$i', '2026-01-01')" >/dev/null
    echo "content of $i" > "$STORE/$i"
done
mk_event "$T" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" REQ-X item_id "$X"

run_lethe --config "$WORK/k1.conf" run
assert_eq "a run with the first key purges (its deleter leaves the object behind)" "0|purged|t" \
  "$RC|$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$X'")|$([ -e "$STORE/$X" ] && echo t)"
assert_eq "... and records its key as the one in use, by its fingerprint alone" "$F1" \
  "$(sql "SELECT string_agg(fingerprint, ' ') FROM lethe.audit_keys")"
assert_not_contains "... saying nothing of keys" "audit key" "$ERR"
run_lethe --config "$WORK/k1.conf" run
assert_not_contains "the same key again: nothing said" "audit key" "$ERR"

run_lethe --config "$WORK/k2.conf" run --dry-run
assert_contains "another key in a dry run: said" \
  "warning: run: the audit key (audit.key_file, fingerprint $F2) is not the key in use since" "$ERR"
assert_eq "... and not recorded" "$F1" "$(sql "SELECT string_agg(fingerprint, ' ') FROM lethe.audit_keys")"
SINCE1=$(sql "SELECT lethe.iso_utc(since) FROM lethe.audit_keys WHERE fingerprint = '$F1'")
run_lethe --config "$WORK/k2.conf" run
assert_rc "a run with another key goes on" 0
assert_eq "... warning, naming both keys and since when the first was in use, with a hint" \
  "warning: run: the audit key (audit.key_file, fingerprint $F2) is not the key in use since $SINCE1 (fingerprint $F1): subject and locator HMACs made with it do not match those made before, so reconcile does not recognise the stored objects of items purged before, and a subject's records before and after differ
hint: if the key file was replaced by mistake, put the earlier key back; this key is the one in use from now (lethe.audit_keys)" \
  "$(printf '%s\n' "$ERR" | grep -A1 'audit key')"
run_lethe --config "$WORK/k2.conf" run
assert_not_contains "the next run with it says nothing" "audit key" "$ERR"

"$FS_DELETE" --inventory "$STORE" > "$WORK/inventory.txt"
run_lethe --config "$WORK/k2.conf" reconcile --location EU "$WORK/inventory.txt"
SINCE2=$(sql "SELECT lethe.iso_utc(since) FROM lethe.audit_keys WHERE fingerprint = '$F2'")
assert_eq "reconcile with the new key: the object left behind is not recognised, and it says why" \
  "0|reconcile: EU: 2 inventory lines, 0 objects of purged items still stored, put in 0 repurge batches
warning: reconcile: the audit key with fingerprint $F1 was in use from $SINCE1 until $SINCE2: the locator HMACs recorded then are not this key's (fingerprint $F2), so the stored objects of items purged then are not recognised here, and are counted as naming no item
hint: reconcile with that key in audit.key_file (a config of its own) to find them" \
  "$RC|$OUT
$(printf '%s\n' "$ERR" | grep -A1 'audit key')"
run_lethe --config "$WORK/k1.conf" reconcile --location EU "$WORK/inventory.txt"
assert_eq "with the earlier key put back, it finds the object" \
  "0|reconcile: EU: 2 inventory lines, 1 object of purged items still stored, put in 1 repurge batch" "$RC|$OUT"
# The earlier key, as the hint says: the key in use stays. (An outside tryout: reconcile made it
# the key in use again, every run after it warned to put "the earlier key" back, and the keys'
# periods dated from the reconcile.)
assert_eq "... saying whose key it is, and that the key in use stays" \
  "reconcile: the audit key (audit.key_file, fingerprint $F1) was in use from $SINCE1 until $SINCE2: it matches the locator HMACs recorded then; the key in use stays the one with fingerprint $F2" \
  "$(grep -o 'reconcile: the audit key (audit.key_file.*' <<<"$ERR")"
assert_not_contains "... with no warning that the key changed" "is not the key in use" "$ERR"
assert_eq "each key is noted once, the latest in use first, as the reconcile found them" "$F2@$SINCE2 $F1@$SINCE1" \
  "$(sql "SELECT string_agg(fingerprint || '@' || lethe.iso_utc(since), ' ' ORDER BY since DESC) FROM lethe.audit_keys")"
# The next run with the present key sends that repurge: its manifest's HMAC of the object's
# locator is the present key's, not the one recorded when the item was purged, which stays as
# it is (sql/0102). An outside tryout found every run after such a reconcile failing: "its
# manifest could not be written: ... item X is purged: the HMAC of its locator is ... not changed".
HX=$(sql "SELECT location || ' ' || locator_hmac FROM lethe.locator_hmacs WHERE item_id = '$X'")
run_lethe --config "$WORK/k2.conf" run
assert_eq "a run with the present key sends the repurge the earlier key found, and it is done" \
  "0|done|1 open batch re-driven" "$RC|$(sql "SELECT string_agg(state, ',') FROM lethe.repurges WHERE item_id = '$X'")|$(grep -o '1 open batch re-driven' <<<"$OUT")"
assert_not_contains "... with no word of a purged item's HMAC" "is purged" "$ERR"
assert_not_contains "... nor of keys" "audit key" "$ERR"
assert_eq "... and the purged item's HMAC is the one recorded, by the earlier key" "$HX" \
  "$(sql "SELECT location || ' ' || locator_hmac FROM lethe.locator_hmacs WHERE item_id = '$X'")"
# A key never in use before, in a reconcile: noted as in use from now, as by a run, and the key
# in use until now is named among those before it (the keys read again after the noting).
head -c 32 /dev/urandom > "$WORK/k3"; chmod 0600 "$WORK/k3"
write_config "$WORK/k3.conf" "audit: { key_file = \"$WORK/k3\"; };" \
    "executor: { command = \"$WORK/liar\"; timeout = \"60s\"; };"
F3=$(fp "$WORK/k3")
run_lethe --config "$WORK/k3.conf" reconcile --location EU "$WORK/inventory.txt"
assert_eq "a new key in a reconcile: said, noted as in use, and the key in use until now named before it" \
  "0|1|1|$F3 $F2 $F1" \
  "$RC|$(grep -c "warning: reconcile: the audit key (audit.key_file, fingerprint $F3) is not the key in use since $SINCE2 (fingerprint $F2)" <<<"$ERR")|$(grep -c "warning: reconcile: the audit key with fingerprint $F2 was in use from $SINCE2 until " <<<"$ERR")|$(sql "SELECT string_agg(fingerprint, ' ' ORDER BY since DESC) FROM lethe.audit_keys")"
# A key that comes back: each period is its own (sql/0103). An outside tryout rotated K1 -> K2 ->
# K3 -> K2 and found reconcile dating K1's period until K3 came into use, and K2's first period
# gone, as the keys' table kept one row per key.
SINCE3=$(sql "SELECT lethe.iso_utc(since) FROM lethe.audit_keys WHERE fingerprint = '$F3'")
run_lethe --config "$WORK/k2.conf" run
SINCE4=$(sql "SELECT lethe.iso_utc(since) FROM lethe.audit_keys WHERE fingerprint = '$F2'")
assert_eq "the key in use before comes back: a period of its own, the key's first one kept" \
  "0|$F1@$SINCE1 $F2@$SINCE2 $F3@$SINCE3 $F2@$SINCE4" \
  "$RC|$(sql "SELECT string_agg(fingerprint || '@' || lethe.iso_utc(since), ' ' ORDER BY since) FROM lethe.audit_key_periods")"
assert_contains "... said as another key, the one in use since the reconcile" \
  "warning: run: the audit key (audit.key_file, fingerprint $F2) is not the key in use since $SINCE3 (fingerprint $F3)" "$ERR"
run_lethe --config "$WORK/k1.conf" reconcile --location EU "$WORK/inventory.txt"
assert_eq "reconcile with the first key: its own period, and the others' (not the key in use)" \
  "0|reconcile: the audit key (audit.key_file, fingerprint $F1) was in use from $SINCE1 until $SINCE2: it matches the locator HMACs recorded then; the key in use stays the one with fingerprint $F2
warning: reconcile: the audit key with fingerprint $F3 was in use from $SINCE3 until $SINCE4: the locator HMACs recorded then are not this key's (fingerprint $F1), so the stored objects of items purged then are not recognised here, and are counted as naming no item" \
  "$RC|$(grep 'audit key' <<<"$ERR")"
run_lethe --config "$WORK/k2.conf" reconcile --location EU "$WORK/inventory.txt"
assert_eq "reconcile with the key in use: every other key, each with its own period" \
  "0|warning: reconcile: the audit key with fingerprint $F3 was in use from $SINCE3 until $SINCE4: the locator HMACs recorded then are not this key's (fingerprint $F2), so the stored objects of items purged then are not recognised here, and are counted as naming no item
warning: reconcile: the audit key with fingerprint $F1 was in use from $SINCE1 until $SINCE2: the locator HMACs recorded then are not this key's (fingerprint $F2), so the stored objects of items purged then are not recognised here, and are counted as naming no item" \
  "$RC|$(grep 'audit key' <<<"$ERR")"
run_lethe --config "$WORK/k3.conf" run
SINCE5=$(sql "SELECT lethe.iso_utc(since) FROM lethe.audit_keys WHERE fingerprint = '$F3'")
run_lethe --config "$WORK/k2.conf" reconcile --location EU "$WORK/inventory.txt"
assert_eq "a key in use twice before: both its periods, and the key in use stays" \
  "0|reconcile: the audit key (audit.key_file, fingerprint $F2) was in use from $SINCE2 until $SINCE3 and from $SINCE4 until $SINCE5: it matches the locator HMACs recorded then; the key in use stays the one with fingerprint $F3
warning: reconcile: the audit key with fingerprint $F1 was in use from $SINCE1 until $SINCE2: the locator HMACs recorded then are not this key's (fingerprint $F2), so the stored objects of items purged then are not recognised here, and are counted as naming no item" \
  "$RC|$(grep 'audit key' <<<"$ERR")"
assert_eq "... noting no period" "5" "$(sql "SELECT count(*) FROM lethe.audit_key_periods")"
# Another role, even granted the table, writes it only through lethe's functions.
sql "DROP ROLE IF EXISTS keys_t_intruder; CREATE ROLE keys_t_intruder;
     GRANT USAGE ON SCHEMA lethe TO keys_t_intruder;
     GRANT INSERT, DELETE ON lethe.audit_keys, lethe.audit_key_periods TO keys_t_intruder" >/dev/null
assert_sql_fails "the table is written through lethe's functions only" \
  "SET ROLE keys_t_intruder; INSERT INTO lethe.audit_keys (fingerprint) VALUES ('0123456789abcdef')" \
  "only lethe's own functions note the audit keys in use"
assert_sql_fails "... and so are the periods, nor can one be taken out" \
  "SET ROLE keys_t_intruder; DELETE FROM lethe.audit_key_periods" \
  "only lethe's own functions note the audit keys in use"
sql "REVOKE ALL ON lethe.audit_keys, lethe.audit_key_periods FROM keys_t_intruder; REVOKE USAGE ON SCHEMA lethe FROM keys_t_intruder;
     DROP ROLE keys_t_intruder" >/dev/null
finish
