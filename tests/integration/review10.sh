# Review of who may write the audit (SPEC §5: no role, the operator's included, inserts an audit
# row): lethe_operator could call lethe.audit_append_verbatim() from psql and append a forged,
# correctly hashed item_purged record, for an item that never existed, continuing its tenant's
# chain; the next run, status --check, export and verify --anchors all passed. The database
# cannot tell a replayed record from a forged one, so the verbatim append became lethe_restorer's,
# a right nobody holds day to day (deploy/roles.sql), taken back from every other role on an
# upgraded database by sql/0033_restorer.sql. Each section failed before its fix.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review10.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
SUPER=$PGUSER
OPS=review10_operator
GROUPS_="lethe_producer lethe_engine lethe_operator lethe_auditor lethe_restorer"
drop_all() {
    for d in review10_f review10_u; do
        PGUSER=$SUPER psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1
    done
    for r in $OPS $GROUPS_; do
        PGUSER=$SUPER psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
}
drop_all
trap 'drop_all; rm -rf "$WORK"' EXIT
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
A=$WORK/anchors.jsonl
ago() { date -u -d "-$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- 1. the operator cannot forge an item_purged record -----------------------------------------
psql -X -q -c 'CREATE DATABASE review10_f' >/dev/null
export PGDATABASE=review10_f
"$LETHE" migrate >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
psql -X -q -c "CREATE ROLE $OPS LOGIN IN ROLE lethe_operator" >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
mk_item "$T" "$(uuid)" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(ago '1 day')" REQ-1
run_lethe --config "$WORK/exec.conf" run
assert_rc "a run purges the tenant's item" 0
"$LETHE" export --tenant "$T" -o "$WORK/t.jsonl" 2>/dev/null
# forge: the tenant's last item_purged record made over for an item that never existed, dated
# now, continuing the chain's head and hashed as the engine hashes (SPEC §5)
forge() {
    python3 - "$WORK/t.jsonl" $(sql "SELECT seq || ' ' || hash FROM lethe.audit_heads WHERE tenant_id = '$T'") \
        "$(uuid)" "$(date -u +%FT%T.%6NZ)" <<'PY'
import hashlib, json, sys
src, seq, prev, item, at = sys.argv[1:]
def canon(r):
    return json.dumps(r, separators=(",", ":"), ensure_ascii=False)
lines = [json.loads(l) for l in open(src, encoding="utf-8").read().splitlines()[1:]]
rec = [r for r in lines if r["kind"] == "item_purged"][-1]
h = rec.pop("hash")
assert hashlib.sha256((rec["prev_hash"] + "\n" + canon(rec)).encode()).hexdigest() == h
rec.update({"seq": int(seq) + 1, "at": at, "item_id": item, "purged_at": at, "prev_hash": prev})
rec["hash"] = hashlib.sha256((prev + "\n" + canon({k: v for k, v in rec.items() if k != "hash"})).encode()).hexdigest()
print(canon(rec))
PY
}
sleep 0.01; LINE=$(forge)
assert_contains "the forged record is an item_purged one" '"kind":"item_purged"' "$LINE"
before=$(sql "SELECT count(*) || ' ' || max(seq) FROM lethe.audit WHERE tenant_id = '$T'")
PGUSER=$OPS assert_sql_fails "the operator's forged append is refused" \
  "SELECT lethe.audit_append_verbatim(ARRAY[\$\$$LINE\$\$])" "permission denied for function audit_append_verbatim"
assert_eq "... and the chain is as it was" "$before" \
  "$(sql "SELECT count(*) || ' ' || max(seq) FROM lethe.audit WHERE tenant_id = '$T'")"
run_lethe --config "$WORK/exec.conf" status --check
assert_rc "status --check passes on the untouched audit" 0
# The same call, granted lethe_restorer, is taken: the database cannot tell the forgery from a
# replayed record. That is why nobody holds the role outside a restore.
psql -X -q -c "GRANT lethe_restorer TO $OPS" >/dev/null
assert_eq "granted lethe_restorer, the same call appends it (the break-glass right it is)" "1" \
  "$(PGUSER=$OPS sql "SELECT lethe.audit_append_verbatim(ARRAY[\$\$$LINE\$\$])")"
psql -X -q -c "REVOKE lethe_restorer FROM $OPS" >/dev/null
sleep 0.01; LINE=$(forge)
PGUSER=$OPS assert_sql_fails "revoked after, the next forgery is refused again" \
  "SELECT lethe.audit_append_verbatim(ARRAY[\$\$$LINE\$\$])" "permission denied for function audit_append_verbatim"

# ---- 2. a database upgraded after roles.sql granted the append to lethe_operator ----------------
# Before this change roles.sql granted EXECUTE on the function to lethe_operator. migrate takes
# that grant back at once (sql/0033), from every role but the owner and lethe_restorer, before
# roles.sql runs again; roles.sql then gives it to lethe_restorer alone.
psql -X -q -c 'CREATE DATABASE review10_u' >/dev/null
export PGDATABASE=review10_u
"$LETHE" migrate >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
F="lethe.audit_append_verbatim(text[])"
# grantees: who may execute the function, besides the owner
grantees() {
    sql "SELECT coalesce(string_agg(a.grantee::regrole::text, ' ' ORDER BY a.grantee::regrole::text COLLATE \"C\"), '-')
           FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
          WHERE p.oid = '$F'::regprocedure AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner"
}
# as the old roles.sql left it (no lethe_restorer yet), and a grant made by hand to a login
sql "REVOKE EXECUTE ON FUNCTION $F FROM lethe_restorer; GRANT EXECUTE ON FUNCTION $F TO lethe_operator, $OPS;
     DELETE FROM lethe.schema_migrations WHERE version = 33" >/dev/null
assert_eq "the old grants are in place" "lethe_operator $OPS" "$(grantees)"
run_lethe migrate
assert_rc "migrate applies 0033" 0
assert_eq "... which takes the append back from the operators: only the owner keeps it" "-" "$(grantees)"
assert_eq "... the operator's login cannot append" "f" \
  "$(sql "SELECT has_function_privilege('$OPS', '$F', 'EXECUTE')")"
assert_eq "... while the operator keeps every other function (but the trigger functions: roles.sh)" "audit_append_verbatim replay_chains" \
  "$(sql "SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace
            AND prorettype <> 'trigger'::regtype AND NOT has_function_privilege('$OPS', oid, 'EXECUTE')")"
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
assert_eq "roles.sql run again gives it to lethe_restorer alone" "lethe_restorer" "$(grantees)"
sql "DELETE FROM lethe.schema_migrations WHERE version = 33" >/dev/null
run_lethe migrate
assert_eq "0033 applied again keeps lethe_restorer's grant" "0 lethe_restorer" "$RC $(grantees)"
finish
