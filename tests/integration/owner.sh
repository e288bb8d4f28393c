# A deployment as the README sets it up: the schema owned by a dedicated role that is not a
# superuser (README, "Installing"), deploy/roles.sql run by a superuser, and every command run
# by the login of the role that does it: the service account's runs and reconcile, the
# operator's requests, holds, acks, reruns and restore drill, the auditor's exports. Every
# other suite migrates as a superuser, for whom no privilege is ever missing: with a dedicated
# owner, reconcile ("permission denied for table repurge_candidates") and replay ("permission
# denied for table replay_lines") failed for every operator until sql/0088; and a restore made
# by the owner gave every login lethe's advisory locks back, which the owner's roles.sql then
# warned of only as it did at every run, whether so or not.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-owner.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
DB=owner_t
OWN=owner_t_owner; SVC=owner_t_service; OPS=owner_t_operator; AUD=owner_t_auditor; PRO=owner_t_producer
drop_all() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP DATABASE IF EXISTS ${DB}_mixed_su" \
        -c "DROP DATABASE IF EXISTS ${DB}_mixed" -c "DROP ROLE IF EXISTS ${DB}_reporting" -c "DROP ROLE IF EXISTS ${DB}_dba" >/dev/null 2>&1
    for r in $SVC $OPS $AUD $PRO $OWN; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done
}
drop_all
trap 'drop_all; rm -rf "$WORK"' EXIT
psql -X -q -d postgres -c "CREATE ROLE $OWN LOGIN NOSUPERUSER CREATEROLE" -c "CREATE DATABASE $DB OWNER $OWN" >/dev/null
export PGDATABASE=$DB
# As the install does it: a superuser migrates a database the owner owns (createdb -O), as that
# owner; before, every object of lethe's was the superuser's, definers included.
run_lethe migrate
assert_eq "a superuser migrates as the database's owner: the schema and every object of lethe's are the owner's" \
  "0|migrate: as the database's owner, $OWN|$OWN false|0" \
  "$RC|$(grep -o "migrate: as the .* owner, .*" <<<"$ERR")|$(sql "SELECT r.rolname || ' ' || r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'lethe'")|$(sql "SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace AND proowner::regrole::text <> '$OWN')
         + (SELECT count(*) FROM pg_class WHERE relnamespace = 'lethe'::regnamespace AND relowner::regrole::text <> '$OWN')")"
PGUSER=$OWN run_lethe migrate
assert_eq "the owner migrates it again: nothing to do" "0|migrate: schema already at version $(ls sql/*.sql | wc -l), nothing to do" "$RC|$OUT"
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
sql "CREATE ROLE $SVC LOGIN IN ROLE lethe_engine; CREATE ROLE $OPS LOGIN IN ROLE lethe_operator;
     CREATE ROLE $AUD LOGIN IN ROLE lethe_auditor; CREATE ROLE $PRO LOGIN IN ROLE lethe_producer" >/dev/null
# roles.sql again as the owner, as after every upgrade: a superuser has taken lethe's locks
# from PUBLIC already, and the owner's run has nothing to warn of.
assert_eq "roles.sql as the owner, after a superuser's: no warning of the locks" "0" \
  "$(PGUSER=$OWN psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql 2>&1 >/dev/null | grep -c 'advisory locks')"
head -c 32 /dev/urandom > "$WORK/audit.key"; chmod 600 "$WORK/audit.key"
write_config "$WORK/exec.conf" "audit: { key_file = \"$WORK/audit.key\"; };" \
    "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"60s\"; };"
write_config "$WORK/noexec.conf" "audit: { key_file = \"$WORK/audit.key\"; };"
as() { local r=$1; shift; PGUSER=$r run_lethe "$@"; }
YESTERDAY=$(date -u -d '-1 day' +%FT%TZ)

T=$(uuid); W=$(uuid); mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
A=(); for i in 1 2 3 4 5; do A+=("$(uuid)"); mk_item "$T" "${A[-1]}" "$W" prompt EU 2026-01-01T00:00:00Z false "" "user$i@acme.example"; done

# ---- the operator's requests and holds; the service account's run --------------------------
as $OPS --config "$WORK/exec.conf" request --tenant "$T" --item "${A[0]}" --reference REQ-1 --operator user_o
assert_rc "the operator records a request" 0
as $OPS --config "$WORK/exec.conf" request --tenant "$T" --subject user2@acme.example --reference REQ-2 --operator user_o
assert_rc "... and one for a subject" 0
as $OPS --config "$WORK/exec.conf" hold place --tenant "$T" --item "${A[1]}" --reason "legal hold" --reference LH-1 --operator user_o
assert_rc "the operator places a hold" 0
HID=$(sql "SELECT hold_id FROM lethe.holds WHERE reference = 'LH-1'")
pg_dump -Fc -f "$WORK/backup.dump" "$DB"   # the backup: requests and hold recorded, nothing purged
as $SVC --config "$WORK/exec.conf" run
assert_rc "the service account runs the cycle" 0
assert_eq "... and the request's item is purged, the held one kept" "true false" \
  "$(sql "SELECT (SELECT locator IS NULL FROM lethe.items WHERE item_id = '${A[0]}') || ' ' || (SELECT locator IS NULL FROM lethe.items WHERE item_id = '${A[1]}')")"
as $OPS --config "$WORK/exec.conf" hold list
assert_contains "the operator lists the hold" "$HID" "$OUT"
as $OPS --config "$WORK/exec.conf" explain "${A[1]}"
assert_rc "the operator explains the held item" 0
as $OPS --config "$WORK/exec.conf" hold release "$HID" --operator user_o
assert_rc "the operator releases the hold" 0

# ---- an open batch acknowledged, a failed one rerun ----------------------------------------
as $SVC --config "$WORK/noexec.conf" run
assert_rc "a run without a deleter leaves the released item's batch open" 0
OB=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open'")
as $OPS --config "$WORK/noexec.conf" ack "$OB" --failed "${A[1]}:offline" --operator user_o
assert_rc "the operator acknowledges it, with a failure" 0
as $OPS --config "$WORK/exec.conf" rerun "$OB" --operator user_o
assert_rc "the operator reruns the failed batch" 0
assert_eq "... and the released item is purged" "t" "$(sql "SELECT locator IS NULL FROM lethe.items WHERE item_id = '${A[1]}'")"

# ---- reconcile: storage that kept a purged object ------------------------------------------
echo "kept" > "$STORE/${A[0]}"
"$FS_DELETE" --inventory "$STORE" > "$WORK/eu.inventory"
as $SVC --config "$WORK/exec.conf" reconcile --location EU --orphans "$WORK/eu.orphans" "$WORK/eu.inventory"
assert_eq "the service account reconciles: the kept object goes into a repurge batch" \
  "0|reconcile: EU: 4 inventory lines, 1 object of purged items still stored, put in 1 repurge batch; 0 lines naming no item written to $WORK/eu.orphans" \
  "$RC|$OUT"
as $SVC --config "$WORK/exec.conf" run
assert_eq "... which the next run deletes" "0 gone" "$RC $([ -e "$STORE/${A[0]}" ] && echo kept || echo gone)"
as $SVC --config "$WORK/exec.conf" status --check
assert_rc "status --check is ok" 0

# ---- the auditor's evidence ------------------------------------------------------------------
as $AUD --config "$WORK/exec.conf" export -o "$WORK/export.jsonl"
assert_rc "the auditor exports" 0
as $AUD --config "$WORK/exec.conf" export --summary -o "$WORK/summary.txt"
assert_rc "... and the summary" 0
as $AUD --config "$WORK/exec.conf" verify "$WORK/export.jsonl" --anchors "$WORK/anchors.jsonl"
assert_rc "... which verifies against the anchors" 0

# ---- the restore drill, as the README gives it -------------------------------------------------
psql -X -q -d postgres -c "DROP DATABASE $DB" -c "CREATE DATABASE $DB OWNER $OWN" >/dev/null
PGUSER=$OWN pg_restore -d "$DB" "$WORK/backup.dump"
assert_eq "the owner restores the backup from before the purges" "0 0" \
  "$? $(sql "SELECT count(*) FROM lethe.items WHERE locator IS NULL")"
# A restore made by the owner cannot take pg_catalog's advisory locks from PUBLIC again.
assert_eq "... after which a producer may take the run lock, and the owner's roles.sql says so" "t|1" \
  "$(PGUSER=$PRO sql "SELECT pg_try_advisory_lock(7283310, 0)")|$(PGUSER=$OWN psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql 2>&1 >/dev/null | grep -c "every login of this database may take lethe's advisory locks")"
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
PGUSER=$PRO assert_sql_fails "roles.sql run by a superuser, as the drill says: the producer may not" \
  "SELECT pg_try_advisory_lock(7283310, 0)" "permission denied for function pg_try_advisory_lock"
sql "GRANT lethe_restorer TO $OPS" >/dev/null
as $OPS --config "$WORK/exec.conf" replay --operator user_o --anchors "$WORK/anchors.jsonl" "$WORK/export.jsonl"
assert_eq "the operator replays the export: the purged items are batched again, and the release after the backup is named (exit 4)" \
  "4|2 items live again put in 1 repurge batch|the audit records hold $HID released (seq 6), which the restored catalog holds active" \
  "$RC|$(grep -o '[0-9]* items live again put in [0-9]* repurge batch' <<<"$OUT")|$(grep -o "the audit records hold $HID released (seq [0-9]*), which the restored catalog holds active" <<<"$ERR")"
sql "REVOKE lethe_restorer FROM $OPS" >/dev/null
as $OPS --config "$WORK/exec.conf" hold release "$HID" --operator user_o
assert_rc "the operator releases the hold again, as replay says" 0
as $SVC --config "$WORK/exec.conf" run
assert_eq "the next run deletes them again" "0 2" \
  "$RC $(sql "SELECT count(*) FROM lethe.items WHERE locator IS NULL")"
as $AUD --config "$WORK/exec.conf" export -o "$WORK/after.jsonl"
as $AUD --config "$WORK/exec.conf" verify "$WORK/after.jsonl" --anchors "$WORK/anchors.jsonl"
assert_rc "the audit after the drill verifies against the anchors" 0

# ---- an upgrade by a superuser before migrate took the schema's owner ---------------------------
# A deployment whose owner migrated first, then a superuser migrated an upgrade as itself (as
# every migrate did before): the objects that upgrade made are the superuser's. Every later
# migrate failed then, the owner's and the superuser's (which now runs as the owner) alike,
# with "role 'X' may not change schema lethe, which X owns". Made here as that upgrade left it:
# a function and a table of the superuser's, and the migration that replaces the function to
# apply again. Beside them a DBA's own view in the schema, which no migrate may take: given to
# the owner it would read the catalog with the owner's rights for whoever may read the view.
DB2=${DB}_mixed; REP=${DB}_reporting; NOINH=${DB}_dba
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB2" -c "DROP ROLE IF EXISTS $REP" -c "DROP ROLE IF EXISTS $NOINH" \
  -c "CREATE DATABASE $DB2 OWNER $OWN" -c "CREATE ROLE $REP NOLOGIN" >/dev/null 2>&1
SU=$(sql "SELECT current_user")
PGDATABASE=$DB2 PGUSER=$OWN run_lethe migrate
PGDATABASE=$DB2 sql "ALTER FUNCTION lethe.reconcile_candidates(text) OWNER TO $SU;
    ALTER TABLE lethe.batches OWNER TO $SU;
    DELETE FROM lethe.schema_migrations WHERE version = 88;
    CREATE VIEW lethe.su_report AS SELECT count(*) AS n FROM lethe.items;
    GRANT USAGE, CREATE ON SCHEMA lethe TO $REP; CREATE SCHEMA reports AUTHORIZATION $REP;
    SET ROLE $REP; CREATE VIEW lethe.report AS SELECT 1 AS one" >/dev/null
PGDATABASE=$DB2 PGUSER=$OWN run_lethe migrate
assert_eq "the owner's migrate names the objects other roles own, and who may give them" \
  "1|error: migrate: 4 objects of schema lethe are not its owner's ($OWN): function lethe.reconcile_candidates(p_location text), table lethe.batches, view lethe.su_report and 1 more
hint: a superuser's migrate made those of $SU before migrate took the schema's owner: run 'lethe migrate' as a superuser, which gives them to $OWN, then deploy/roles.sql again
hint: the others (the first: view lethe.su_report, $SU's) a DBA gives to $OWN if they are lethe's (ALTER VIEW lethe.su_report OWNER TO $OWN), or moves to another schema: lethe's schema holds lethe's objects only" \
  "$RC|$(grep -v '^error: query failed' <<<"$ERR")"
PGDATABASE=$DB2 run_lethe migrate
assert_eq "a superuser's migrate takes no DBA's object, a superuser's own view included: it names the views alone, and gives nothing" \
  "1|error: migrate: 2 objects of schema lethe are not its owner's ($OWN): view lethe.su_report, view lethe.report|$REP $SU|$SU" \
  "$RC|$(grep '^error: migrate' <<<"$ERR")|$(PGDATABASE=$DB2 sql "SELECT string_agg(relowner::regrole::text, ' ' ORDER BY relname) FROM pg_class WHERE relname IN ('report', 'su_report')")|$(PGDATABASE=$DB2 sql "SELECT relowner::regrole FROM pg_class WHERE oid = 'lethe.batches'::regclass")"
PGDATABASE=$DB2 sql "ALTER VIEW lethe.report SET SCHEMA reports; ALTER VIEW lethe.su_report SET SCHEMA reports" >/dev/null
# The run lock held: a migrate that would take a table exits 3 at once, and takes nothing.
coproc LOCKER { PGDATABASE=$DB2 psql -X -q -A -t -c "SELECT pg_advisory_lock(7283310, 0)" -c "SELECT 'locked'" -c "SELECT pg_sleep(30)" 2>/dev/null; }
read -r -t 10 _ <&"${LOCKER[0]}"
START=$(date +%s)
PGDATABASE=$DB2 run_lethe migrate
assert_eq "... while a run holds the run lock it exits 3 at once, having given nothing" "3|1|$SU" \
  "$RC|$(( $(date +%s) - START < 5 ))|$(PGDATABASE=$DB2 sql "SELECT relowner::regrole FROM pg_class WHERE oid = 'lethe.batches'::regclass")"
assert_contains "... its hint says what would lock what (the objects to give), not only a migration" \
  "hint: giving the schema's owner the 2 objects a superuser owns there would lock them under it: wait for it to finish (or stop the lethe timers for the upgrade), then migrate again; nothing was given or applied" "$ERR"
kill "$LOCKER_PID" 2>/dev/null; wait "$LOCKER_PID" 2>/dev/null
PGDATABASE=$DB2 sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB2' AND pid <> pg_backend_pid()" >/dev/null
PGDATABASE=$DB2 run_lethe migrate
assert_eq "the DBA's view moved out, a superuser's migrate gives the owner what the superuser owned, then migrates as the owner" \
  "0|migrate: as the schema's owner, $OWN
migrate: gave $OWN, the schema's owner, 2 objects of schema lethe that a superuser owned: function lethe.reconcile_candidates(p_location text), table lethe.batches|migrate: applied 1 migration, schema at version $(ls sql/*.sql | wc -l)|0" \
  "$RC|$ERR|$OUT|$(PGDATABASE=$DB2 sql "SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace AND proowner::regrole::text <> '$OWN')
         + (SELECT count(*) FROM pg_class WHERE relnamespace = 'lethe'::regnamespace AND relowner::regrole::text <> '$OWN')")"
# A DBA's login that is a member of the owner without inheriting its rights (NOINHERIT), and an
# extension a DBA put in the schema (its members are the extension's, never given).
psql -X -q -d postgres -c "CREATE ROLE $NOINH LOGIN NOINHERIT IN ROLE $OWN" >/dev/null
PGDATABASE=$DB2 sql "DELETE FROM lethe.schema_migrations WHERE version = 88; CREATE EXTENSION pgcrypto SCHEMA lethe" >/dev/null
PGDATABASE=$DB2 PGUSER=$NOINH run_lethe migrate
assert_eq "a member of the owner that does not inherit its rights migrates as the owner" \
  "0|migrate: as the schema's owner, $OWN|migrate: applied 1 migration, schema at version $(ls sql/*.sql | wc -l)" "$RC|$ERR|$OUT"
PGDATABASE=$DB2 run_lethe migrate
assert_eq "... and a superuser's migrate leaves the extension's functions to it" \
  "0|migrate: as the schema's owner, $OWN|$SU" \
  "$RC|$ERR|$(PGDATABASE=$DB2 sql "SELECT proowner::regrole FROM pg_proc WHERE oid = 'lethe.gen_random_bytes(integer)'::regprocedure")"
PGDATABASE=$DB2 PGUSER=$OWN run_lethe migrate
assert_eq "... after which the owner migrates again" "0|migrate: schema already at version $(ls sql/*.sql | wc -l), nothing to do" "$RC|$OUT"
# Two superusers' upgrades left objects: the hint names both. Given with nothing to apply, stdout
# does not say there was nothing to do.
SU2=${DB}_su2
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $SU2" -c "CREATE ROLE $SU2 SUPERUSER NOLOGIN" >/dev/null
PGDATABASE=$DB2 sql "ALTER TABLE lethe.batches OWNER TO $SU; ALTER FUNCTION lethe.reconcile_candidates(text) OWNER TO $SU2;
    DELETE FROM lethe.schema_migrations WHERE version = 88" >/dev/null
PGDATABASE=$DB2 PGUSER=$OWN run_lethe migrate
assert_contains "two superusers' leftovers: the owner's migrate names both superusers" \
  "hint: a superuser's migrate made those of $SU and $SU2 before migrate took the schema's owner" "$ERR"
PGDATABASE=$DB2 run_lethe migrate
PGDATABASE=$DB2 sql "ALTER TABLE lethe.batches OWNER TO $SU" >/dev/null
PGDATABASE=$DB2 run_lethe migrate
assert_eq "objects given with no migration to apply: stdout says so, not 'nothing to do'" \
  "0|migrate: schema already at version $(ls sql/*.sql | wc -l), no migration to apply|migrate: gave $OWN, the schema's owner, 1 object of schema lethe that a superuser owned: table lethe.batches" \
  "$RC|$OUT|$(grep '^migrate: gave' <<<"$ERR")"
psql -X -q -d postgres -c "DROP ROLE $SU2" >/dev/null
# A database a superuser made (or restored into), the schema the dedicated owner's, who may not
# create in the database: migrate did CREATE SCHEMA IF NOT EXISTS as the owner, which PostgreSQL
# refuses before it looks for the schema.
psql -X -q -d postgres -c "CREATE DATABASE ${DB2}_su TEMPLATE $DB2 OWNER $SU" >/dev/null
PGDATABASE=${DB2}_su run_lethe migrate
assert_eq "a superuser migrates a database it owns whose schema the owner owns" \
  "0|migrate: schema already at version $(ls sql/*.sql | wc -l), nothing to do" "$RC|$OUT"
psql -X -q -d postgres -c "DROP DATABASE ${DB2}_su" -c "DROP DATABASE $DB2" -c "DROP ROLE $REP" -c "DROP ROLE $NOINH" >/dev/null

finish
