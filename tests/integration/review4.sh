# Review of the recorded anchor line (sql/0021): a database behind its anchor file (SPEC §7)
# must be refused by status --check whatever is in lethe.anchor_lines. The record must not be
# writable around the run by any role, and an audit restored in place (same file) is behind.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review4.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
SUPER=$PGUSER
E=review4_engine_$$
trap 'rm -rf "$WORK"; PGUSER=$SUPER psql -X -q -d postgres -c "DROP DATABASE IF EXISTS review4_t" >/dev/null 2>&1;
      PGUSER=$SUPER psql -X -q -d postgres -c "DROP ROLE IF EXISTS $E" >/dev/null 2>&1' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS review4_t' -c 'CREATE DATABASE review4_t' 2>/dev/null
export PGDATABASE=review4_t
"$LETHE" migrate >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
sql "CREATE ROLE $E LOGIN IN ROLE lethe_engine" >/dev/null
A=$WORK/anchors.jsonl

T1=$(uuid); w=$(uuid); mk_tenant "$T1" "t-$T1"; mk_workspace "$T1" "$w" EU
for k in 1 2; do mk_item "$T1" "$(uuid)" "$w" prompt EU 2026-01-01T00:00:0${k}Z; done
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"

run_lethe --config "$WORK/exec.conf" run
assert_rc "the first run exits 0" 0
sql "CREATE TABLE public.audit_old AS SELECT * FROM lethe.audit" >/dev/null
run_lethe --config "$WORK/exec.conf" run
assert_rc "the second run exits 0" 0
sql "CREATE TABLE public.audit_new AS SELECT * FROM lethe.audit" >/dev/null
digest() { tail -1 "$A" | tr -d '\n' | sha256sum | cut -c1-64; }
assert_eq "the newest line is recorded" "1" \
  "$(sql "SELECT count(*) FROM lethe.anchor_lines WHERE digest = '$(digest)'")"

# ---- an audit restored in place (its rows replaced, the table's file kept) -------------------
sql "BEGIN; ALTER TABLE lethe.audit DISABLE TRIGGER USER; DELETE FROM lethe.audit;
     INSERT INTO lethe.audit SELECT * FROM public.audit_old; ALTER TABLE lethe.audit ENABLE TRIGGER USER;
     COMMIT" >/dev/null
run_lethe --config "$WORK/exec.conf" status --check
assert_rc "status --check: an audit restored in place to before the newest line is behind" 4
assert_contains "and says the audit no longer holds what its heads name" "the audit diverges from its anchor file" "$OUT$ERR"

# ---- the engine's role cannot vouch for a line its database does not hold ----------------------
sql "DELETE FROM lethe.anchor_lines" >/dev/null
PGUSER=$E psql -X -q -A -t -c "INSERT INTO lethe.anchor_lines (digest, run_id, head_chain, head_seq, head_hash)
    VALUES ('$(digest)', gen_random_uuid(), gen_random_uuid(), 1, 'x')" >/dev/null 2>&1
assert_eq "lethe_engine cannot insert a record by hand" "0" "$(sql "SELECT count(*) FROM lethe.anchor_lines")"
PGUSER=$E psql -X -q -A -t -c "SELECT lethe.anchor_line_record('$(digest)', gen_random_uuid())" >/dev/null 2>&1
PGUSER=$E psql -X -q -A -t -c "SELECT lethe.anchor_line_record('$(tail -1 "$A")', gen_random_uuid())" >/dev/null 2>&1
PGUSER=$E run_lethe --config "$WORK/exec.conf" status --check
assert_rc "status --check as the engine: still behind after it tried to record the line" 4
assert_contains "and says so" "the audit diverges from its anchor file" "$OUT$ERR"

# ---- healed (the audit back as it was), the check is quiet and a run records its line -------
sql "BEGIN; ALTER TABLE lethe.audit DISABLE TRIGGER USER; DELETE FROM lethe.audit;
     INSERT INTO lethe.audit SELECT * FROM public.audit_new; ALTER TABLE lethe.audit ENABLE TRIGGER USER;
     COMMIT" >/dev/null
run_lethe --config "$WORK/exec.conf" status --check
assert_rc "status --check: with the audit back it is not behind" 0
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run after the heal exits 0" 0
assert_eq "and records its line" "1" \
  "$(sql "SELECT count(*) FROM lethe.anchor_lines WHERE digest = '$(digest)'")"
sql "DROP TABLE public.audit_old, public.audit_new" >/dev/null

# ---- a role that may not record lines: its runs count from the last run that did not die ------
# (roles.sql not run again since migration 0021). Counted from the last recorded line instead,
# every such run would anchor again every head moved since that line, a line without end.
sql "REVOKE EXECUTE ON FUNCTION lethe.anchor_line_record(text, uuid) FROM lethe_engine" >/dev/null
"$LETHE" --config "$WORK/exec.conf" -q hold place --tenant "$T1" --reason "moves the head" \
    --item "$(sql "SELECT item_id FROM lethe.items WHERE tenant_id = '$T1' LIMIT 1")" --operator user_a >/dev/null
PGUSER=$E run_lethe --config "$WORK/exec.conf" run
assert_rc "a run as a role that may not record its line exits 0" 0
assert_contains "its line anchors the hold's head" "\"chain\":\"$T1\"" "$(tail -1 "$A")"
PGUSER=$E run_lethe --config "$WORK/exec.conf" run
assert_eq "the next run's line holds the engine chain alone (its run_started and head), not the hold's head again" \
  "00000000-0000-0000-0000-000000000000 00000000-0000-0000-0000-000000000000" "$(tail -1 "$A" | python3 -c 'import json,sys; print(" ".join(h["chain"] for h in json.load(sys.stdin)["heads"]))')"
sql "GRANT EXECUTE ON FUNCTION lethe.anchor_line_record(text, uuid) TO lethe_engine" >/dev/null
finish
