# deploy/roles.sql and sql/0004_security.sql: each group role can do its job through real
# connections and real lethe commands, and is refused everything else with PostgreSQL's own
# message. Login roles are cluster-wide, so they carry this suite's prefix and are dropped.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-roles.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
SUPER=$PGUSER
LOGINS="roles_t_producer roles_t_engine roles_t_operator roles_t_auditor roles_t_nobody"
GROUPS_="lethe_producer lethe_engine lethe_operator lethe_auditor lethe_restorer"
drop_all() {
    PGUSER=$SUPER psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS roles_t' >/dev/null 2>&1
    for r in $LOGINS $GROUPS_; do
        PGUSER=$SUPER psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
}
drop_all
trap 'drop_all; rm -rf "$WORK"' EXIT
psql -X -q -c 'CREATE DATABASE roles_t' >/dev/null
export PGDATABASE=roles_t
"$LETHE" migrate >/dev/null

# as ROLE CMD...: runs CMD connected as the login role ROLE.
as() { local r=$1; shift; PGUSER=$r "$@"; }
P=roles_t_producer; E=roles_t_engine; O=roles_t_operator; A=roles_t_auditor; N=roles_t_nobody

# privs ROLE [RELKINDS]: every table privilege ROLE holds in lethe, as relname:PRIV, sorted.
privs() {
    sql "SELECT coalesce(string_agg(c.relname || ':' || p, ' ' ORDER BY c.relname, p), '-')
           FROM pg_class c CROSS JOIN unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE',
                                                   'REFERENCES','TRIGGER']) p
          WHERE c.relnamespace = 'lethe'::regnamespace AND c.relkind IN ('r','p','v','m','f')
            AND has_table_privilege('$1', c.oid, p)"
}
# column_updates ROLE: the columns ROLE may UPDATE without UPDATE on the whole table.
column_updates() {
    sql "SELECT coalesce(string_agg(c.relname || '.' || a.attname, ' ' ORDER BY c.relname, a.attname), '-')
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE c.relnamespace = 'lethe'::regnamespace
            AND has_column_privilege('$1', c.oid, a.attnum, 'UPDATE')
            AND NOT has_table_privilege('$1', c.oid, 'UPDATE')"
}
# functions ROLE: the lethe functions ROLE may execute, by name.
functions() {
    sql "SELECT coalesce(string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname), '-') FROM pg_proc p
          WHERE p.pronamespace = 'lethe'::regnamespace AND has_function_privilege('$1', p.oid, 'EXECUTE')"
}
acl_snapshot() {
    sql "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
           SELECT c.relname || ' ' || coalesce(c.relacl::text, '') AS x FROM pg_class c
            WHERE c.relnamespace = 'lethe'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           UNION ALL SELECT c.relname || '.' || a.attname || ' ' || a.attacl::text
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'lethe'::regnamespace AND a.attacl IS NOT NULL
           UNION ALL SELECT p.oid::regprocedure::text || ' ' || coalesce(p.proacl::text, '')
                            || ' ' || p.prosecdef || ' ' || coalesce(p.proconfig::text, '')
             FROM pg_proc p WHERE p.pronamespace = 'lethe'::regnamespace
           UNION ALL SELECT 'schema ' || nspacl::text FROM pg_namespace WHERE nspname = 'lethe'
           UNION ALL SELECT 'database ' || datacl::text FROM pg_database WHERE datname = current_database()
           UNION ALL SELECT 'member ' || r.rolname || ' ' || m.rolname FROM pg_auth_members am
             JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
            WHERE r.rolname LIKE 'lethe\_%' AND m.rolname LIKE 'lethe\_%') s"
}

# ---- installing the roles --------------------------------------------------------------------
out=$(psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql 2>&1); rc=$?
assert_eq "roles.sql applies" "0" "$rc"
assert_eq "roles.sql says nothing on success" "" "$out"
assert_eq "the five groups exist and cannot log in" "lethe_auditor false|lethe_engine false|lethe_operator false|lethe_producer false|lethe_restorer false" \
  "$(sql "SELECT string_agg(rolname || ' ' || rolcanlogin, '|' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'lethe\_%'")"
before=$(acl_snapshot)
out=$(psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql 2>&1); rc=$?
assert_eq "roles.sql applies again" "0" "$rc"
assert_eq "roles.sql applied again says nothing" "" "$out"
assert_eq "roles.sql applied again changes nothing" "$before" "$(acl_snapshot)"
# a grant made by hand is taken back: the file states the whole truth
sql "GRANT UPDATE (reason) ON lethe.holds TO lethe_operator; GRANT DELETE ON lethe.audit TO lethe_auditor" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
assert_eq "roles.sql takes back grants it does not make" "$before" "$(acl_snapshot)"

sql "CREATE ROLE $P LOGIN IN ROLE lethe_producer; CREATE ROLE $E LOGIN IN ROLE lethe_engine;
     CREATE ROLE $O LOGIN IN ROLE lethe_operator; CREATE ROLE $A LOGIN IN ROLE lethe_auditor;
     CREATE ROLE $N LOGIN" >/dev/null

# ---- what each group holds, exactly ----------------------------------------------------------
assert_eq "producer: INSERT on the catalog, SELECT on the reference tables, nothing else" \
  "event_types:SELECT geos:SELECT kinds:SELECT tenants:INSERT workspaces:INSERT" "$(privs lethe_producer)"
assert_eq "producer: INSERT on every column of items and events but their number (seq) and the engine's owner_digest" \
  "events.seq items.owner_digest items.seq|true true" \
  "$(sql "SELECT string_agg(c.relname || '.' || a.attname, ' ' ORDER BY c.relname, a.attname)
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE c.oid IN ('lethe.items'::regclass, 'lethe.events'::regclass)
             AND NOT has_column_privilege('lethe_producer', c.oid, a.attnum, 'INSERT')")|$(sql "SELECT
           has_sequence_privilege('lethe_producer', 'lethe.catalog_seq', 'USAGE') || ' ' ||
           NOT has_sequence_privilege('lethe_producer', 'lethe.catalog_seq', 'UPDATE')")"
assert_eq "producer: no column UPDATE anywhere" "-" "$(column_updates lethe_producer)"
assert_eq "producer: no function" "-" "$(functions lethe_producer)"
assert_eq "auditor: SELECT on the audit, its heads, item_status and the schema version, nothing else" \
  "audit:SELECT audit_heads:SELECT item_status:SELECT schema_migrations:SELECT" "$(privs lethe_auditor)"
assert_eq "auditor: no column UPDATE anywhere" "-" "$(column_updates lethe_auditor)"
assert_eq "auditor: only the functions an export evaluates" \
  "audit_canonical_head audit_json_text audit_json_time audit_json_uuid audit_jsonl audit_time evaluate_all evaluate_item export_filter held_at_deadline hold_kept_at$(
     sql "SELECT ' item_status_rows' WHERE to_regprocedure('lethe.item_status_rows()') IS NOT NULL") pending_items purge_outcomes_in" "$(functions lethe_auditor)"
assert_eq "engine: only SELECT on the catalog" \
  "event_types:SELECT events:SELECT geos:SELECT holds:SELECT items:SELECT kinds:SELECT tenants:SELECT workspaces:SELECT" \
  "$(privs lethe_engine | tr ' ' '\n' | grep -E '^(tenants|workspaces|items|events|holds|geos|kinds|event_types):' | tr '\n' ' ' | sed 's/ $//')"
# What lethe writes of runs, batches, rules and settings outside the owner's functions, column
# by column (sql/0091); no column of items (only ack_batch tombstones, as the owner).
ENGINE_COLUMNS="batches.attempts batches.error batches.manifest_removed_at rules.deadline rules.enabled rules.grace runs.batches runs.error runs.events runs.failed runs.failed_batches runs.finished_at runs.held runs.items_due runs.outcome runs.purged settings.lookahead"
assert_eq "engine: no column of items; of runs, batches, rules and settings only those lethe writes directly" \
  "$ENGINE_COLUMNS" "$(column_updates lethe_engine)"
assert_eq "engine: a run inserted with its id, trigger, operator, shard and as_of only" \
  "as_of operator run_id shard trigger" \
  "$(sql "SELECT string_agg(a.attname, ' ' ORDER BY a.attname) FROM pg_attribute a
          WHERE a.attrelid = 'lethe.runs'::regclass AND a.attnum > 0 AND NOT a.attisdropped
            AND has_column_privilege('lethe_engine', a.attrelid, a.attnum, 'INSERT')")"
assert_eq "engine: only SELECT on the audit and its heads (lethe's functions append)" \
  "audit:SELECT audit_heads:SELECT" \
  "$(privs lethe_engine | tr ' ' '\n' | grep -E '^audit(_heads)?:' | tr '\n' ' ' | sed 's/ $//')"
assert_eq "engine: full DML on its own tables" "" \
  "$(for t in obligations item_obligations inbox_events inbox_items; do
       for p in SELECT INSERT UPDATE DELETE; do
         [ "$(sql "SELECT has_table_privilege('lethe_engine', 'lethe.$t', '$p')")" = t ] || echo "missing $t:$p"
       done; done)"
assert_eq "engine: SELECT alone on runs, batches, rules, settings and repurges as tables (their writes are the owner's functions')" \
  "batches:SELECT repurges:SELECT rules:SELECT runs:SELECT settings:SELECT" \
  "$(privs lethe_engine | tr ' ' '\n' | grep -E '^(runs|batches|rules|settings|repurges):' | tr '\n' ' ' | sed 's/ $//')"
assert_eq "engine and operator: only SELECT on what a purge's audit is made of (batch items, hold blocks), and on the locators' HMACs reconcile finds objects by" \
  "batch_items:SELECT hold_blocks:SELECT locator_hmacs:SELECT|batch_items:SELECT hold_blocks:SELECT locator_hmacs:SELECT" \
  "$(privs lethe_engine | tr ' ' '\n' | grep -E '^(batch_items|hold_blocks|locator_hmacs):' | tr '\n' ' ' | sed 's/ $//')|$(
     privs lethe_operator | tr ' ' '\n' | grep -E '^(batch_items|hold_blocks|locator_hmacs):' | tr '\n' ' ' | sed 's/ $//')"
assert_eq "engine: TRUNCATE, REFERENCES and TRIGGER on nothing" "" \
  "$(privs lethe_engine | tr ' ' '\n' | grep -E ':(TRUNCATE|REFERENCES|TRIGGER)$')"
# (and no trigger function: see "attach" below)
NOT_TRIGGER="pronamespace = 'lethe'::regnamespace AND prorettype <> 'trigger'::regtype"
assert_eq "engine: every lethe function but replay's verbatim append (and the replay of chains that makes it) and the operator's holds and requests" "audit_append_verbatim hold_place hold_release replay_chains request_record" \
  "$(sql "SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc WHERE $NOT_TRIGGER AND NOT has_function_privilege('lethe_engine', oid, 'EXECUTE')")"
assert_eq "operator: every lethe function but replay's verbatim append too" "audit_append_verbatim replay_chains" \
  "$(sql "SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc WHERE $NOT_TRIGGER AND NOT has_function_privilege('lethe_operator', oid, 'EXECUTE')")"
assert_eq "restorer: the verbatim append (and the replay of chains that makes it), nothing else: no schema, no table" "audit_append_verbatim replay_chains f -" \
  "$(functions lethe_restorer) $(sql "SELECT has_schema_privilege('lethe_restorer', 'lethe', 'USAGE')") $(privs lethe_restorer)"
assert_eq "restorer: nobody is made a member of it" "-" \
  "$(sql "SELECT coalesce(string_agg(m.rolname, ' '), '-') FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
          WHERE am.roleid = 'lethe_restorer'::regrole")"
assert_eq "restorer: and it is a member of no group" "-" \
  "$(sql "SELECT coalesce(string_agg(r.rolname, ' '), '-') FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid
          WHERE am.member = 'lethe_restorer'::regrole")"
assert_eq "engine: TEMP on the database, not CREATE" "t|f" \
  "$(sql "SELECT has_database_privilege('lethe_engine', current_database(), 'TEMP'), has_database_privilege('lethe_engine', current_database(), 'CREATE')")"
# Requests go through lethe.request_record(), with the operator's record: an operator's INSERT
# on events wrote a request, a cancellation or a capacity deletion that no record names anyone
# for. roles.sql takes back the grant of earlier versions.
assert_eq "operator: the engine's privileges, and no column of events to insert" "|0" \
  "$(comm -13 <(privs lethe_engine | tr ' ' '\n' | sort) <(privs lethe_operator | tr ' ' '\n' | sort) | tr '\n' ' ' | sed 's/ $//')|$(sql "
     SELECT count(*) FROM pg_attribute a
      WHERE a.attrelid = 'lethe.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped
        AND has_column_privilege('lethe_operator', a.attrelid, a.attnum, 'INSERT')")"
assert_eq "operator: no column of holds may change directly (the engine's columns alone)" "$ENGINE_COLUMNS" "$(column_updates lethe_operator)"
assert_eq "operator: the engine's functions plus placing and releasing holds, and recording requests" "hold_place hold_release request_record" \
  "$(comm -13 <(functions lethe_engine | tr ' ' '\n' | sort) <(functions lethe_operator | tr ' ' '\n' | sort) | tr '\n' ' ' | sed 's/ $//')"
assert_eq "nobody else: no schema, no table, no function through PUBLIC" "f - -" \
  "$(sql "SELECT has_schema_privilege('$N', 'lethe', 'USAGE')") $(privs $N) $(functions $N)"
assert_eq "no group may create in the schema" "false false false false false" \
  "$(sql "SELECT string_agg(has_schema_privilege(r, 'lethe', 'CREATE')::text, ' ' ORDER BY r) FROM unnest(ARRAY['lethe_auditor','lethe_engine','lethe_operator','lethe_producer','lethe_restorer']) r")"
assert_eq "every trigger function but the guard runs as the owner with a fixed search_path" "" \
  "$(sql "SELECT string_agg(proname, ' ') FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace
          AND prorettype = 'trigger'::regtype AND proname <> 'require_owner'
          AND NOT (prosecdef AND proconfig = ARRAY['search_path=lethe, pg_catalog, pg_temp'])")"
assert_eq "the guard runs as its caller" "f" \
  "$(sql "SELECT prosecdef FROM pg_proc WHERE oid = 'lethe.require_owner()'::regprocedure")"
assert_eq "the engine's writers run as the owner" "ack_batch:true audit_checkpoint:true audit_flush:true audit_stage_open:true" \
  "$(sql "SELECT string_agg(proname || ':' || prosecdef, ' ' ORDER BY proname) FROM pg_proc
          WHERE pronamespace = 'lethe'::regnamespace
            AND proname IN ('ack_batch', 'audit_checkpoint', 'audit_flush', 'audit_stage_open')")"

# ---- lethe_producer --------------------------------------------------------------------------
T=$(uuid); WE=$(uuid); WU=$(uuid); T2=$(uuid); W2=$(uuid)
I1=$(uuid); I2=$(uuid); I3=$(uuid); I4=$(uuid); C1=$(uuid); L1=$(uuid); J1=$(uuid)
PAST=$(date -u -d '-40 days' +%FT%TZ); OLD=$(date -u -d '-100 days' +%FT%TZ)
out=$(as $P mk_tenant "$T" acme 2>&1 && as $P mk_workspace "$T" "$WE" EU 2>&1 && as $P mk_workspace "$T" "$WU" US 2>&1 \
      && as $P mk_tenant "$T2" beta 2>&1 && as $P mk_workspace "$T2" "$W2" UK 2>&1); rc=$?
assert_eq "producer inserts tenants and workspaces" "0 " "$rc $out"
out=$(as $P mk_item "$T" "$I1" "$WE" prompt EU "$OLD" false "" user_a 2>&1 \
      && as $P mk_item "$T" "$C1" "$WE" response ANZ "$OLD" true "$I1" 2>&1 \
      && as $P mk_item "$T" "$I2" "$WE" upload EU "$OLD" 2>&1 \
      && as $P mk_item "$T" "$I3" "$WU" pinned US "$OLD" 2>&1 \
      && as $P mk_item "$T" "$I4" "$WU" m365 US "$OLD" 2>&1 \
      && as $P mk_item "$T" "$L1" "$WE" system_log EU "$OLD" 2>&1 \
      && as $P mk_item "$T2" "$J1" "$W2" prompt UK "$OLD" 2>&1); rc=$?
assert_eq "producer inserts items, copies included" "0 " "$rc $out"
out=$(as $P mk_event "$T" deletion_requested "$PAST" GDPR-7 subject_id user_a 2>&1 \
      && as $P mk_event "$T2" capacity_deleted "$PAST" 2>&1); rc=$?
assert_eq "producer inserts events (the identity needs no sequence grant)" "0 " "$rc $out"
assert_eq "the producer's rows wait for lethe to look: the inboxes are empty" "0 0" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.inbox_items) || ' ' || (SELECT count(*) FROM lethe.inbox_events)")"
run_lethe run --dry-run
assert_rc "a dry run looks, and rolls back what it looked at" "0"
assert_eq "... the inboxes are still empty" "0 0" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.inbox_items) || ' ' || (SELECT count(*) FROM lethe.inbox_events)")"
run_lethe status
assert_rc "status looks" 0
assert_eq "the producer's rows reached the engine's inboxes, customer data only (not the system log)" "6 2" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.inbox_items) || ' ' || (SELECT count(*) FROM lethe.inbox_events)")"
as $P assert_sql_fails "producer cannot number its own item (below what the engine looked at)" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, seq)
   VALUES ('$T', '$(uuid)', '$WE', 'prompt', 'EU', 'file:///x', now(), 1)" "permission denied for table items"
as $P assert_sql_fails "producer cannot number its own event" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, seq) VALUES ('$T', 'capacity_deleted', now(), 1)" \
  "permission denied for table events"
as $P assert_sql_fails "producer cannot write the engine's owner digest" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_digest)
   VALUES ('$T', '$(uuid)', '$WE', 'prompt', 'EU', 'file:///x', now(), '\\xdeadbeef')" "permission denied for table items"
as $P assert_sql_fails "producer cannot move the numbering back" \
  "SELECT setval('lethe.catalog_seq', 1)" "permission denied for sequence catalog_seq"
if ! citus_gap items.items_check_insert; then
as $P assert_sql_fails "producer gets the catalog's own refusal (read as the owner)" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, parent_id)
   VALUES ('$T', '$(uuid)', '$WE', 'prompt', 'EU', 'file:///x', now(), '$(uuid)')" "does not exist in its tenant"
as $P assert_sql_fails "producer: an upload abroad is still refused" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
   VALUES ('$T', '$(uuid)', '$WE', 'upload', 'US', 'file:///x', now())" "an upload must be stored in its workspace's geo EU, not US"
else
# Citus: the foreign key refuses it, in its own words
as $P assert_sql_fails "producer gets the catalog's own refusal (read as the owner)" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, parent_id)
   VALUES ('$T', '$(uuid)', '$WE', 'prompt', 'EU', 'file:///x', now(), '$(uuid)')" "items_parent_exists"
assert_gap "producer: an upload abroad is still refused" items.items_check_insert
fi
if ! citus_gap events.events_check_insert; then
as $P assert_sql_fails "producer: a cancellation naming nothing is still refused" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T', 'deletion_cancelled', now(), 'NOPE')" \
  'no earlier deletion request with reference "NOPE"'
# the foreign key names the key only to whoever may read the table: the check names the tenant
NT=$(uuid)
as $P assert_sql_fails "producer: an event of a tenant that does not exist names the tenant" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at) VALUES ('$NT', 'capacity_deleted', now())" \
  "ERROR:  event capacity_deleted: tenant $NT does not exist
HINT:  insert the tenant into lethe.tenants first"
if ! citus_gap workspaces.workspaces_check_insert; then
as $P assert_sql_fails "producer: so does a workspace of one" \
  "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$NT', '$NT', 'EU')" \
  "ERROR:  workspace $NT: tenant $NT does not exist"
fi
else
assert_gap "producer: a cancellation naming nothing is still refused" events.events_check_insert
fi
as $P assert_sql_fails "producer cannot read items" "SELECT locator FROM lethe.items" "permission denied for table items"
as $P assert_sql_fails "producer cannot read events" "SELECT * FROM lethe.events" "permission denied for table events"
as $P assert_sql_fails "producer cannot insert with RETURNING (that reads)" \
  "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$(uuid)', 'x') RETURNING tenant_id" "permission denied for table tenants"
as $P assert_sql_fails "producer cannot update items" "UPDATE lethe.items SET locator = NULL, owner_id = NULL" "permission denied for table items"
as $P assert_sql_fails "producer cannot update workspaces" "UPDATE lethe.workspaces SET created_at = now()" "permission denied for table workspaces"
as $P assert_sql_fails "producer cannot delete events" "DELETE FROM lethe.events" "permission denied for table events"
as $P assert_sql_fails "producer cannot truncate items" "TRUNCATE lethe.items" "permission denied for table items"
as $P assert_sql_fails "producer cannot place holds" \
  "INSERT INTO lethe.holds (tenant_id, reason) VALUES ('$T', 'x')" "permission denied for table holds"
as $P assert_sql_fails "producer cannot add geos" "INSERT INTO lethe.geos VALUES ('MARS')" "permission denied for table geos"
as $P assert_sql_fails "producer cannot read the audit" "SELECT * FROM lethe.audit" "permission denied for table audit"
as $P assert_sql_fails "producer cannot read item_status" "SELECT * FROM lethe.item_status" "permission denied for view item_status"
as $P assert_sql_fails "producer cannot read engine tables" "SELECT * FROM lethe.obligations" "permission denied for table obligations"
as $P assert_sql_fails "producer cannot feed the inbox itself" \
  "INSERT INTO lethe.inbox_items VALUES ('$T', '$I1')" "permission denied for table inbox_items"
as $P assert_sql_fails "producer cannot change the rules" "UPDATE lethe.rules SET enabled = false" "permission denied for table rules"
as $P assert_sql_fails "producer cannot call lethe's functions" "SELECT lethe.iso_utc(now())" "permission denied for function iso_utc"
as $P assert_sql_fails "producer cannot create in the schema" "CREATE TABLE lethe.x (a int)" "permission denied for schema lethe"
# lethe's advisory locks: a producer's session holding the run lock made every run exit 3, which
# the timer counts as a success (a producer's tryout); roles.sql, run as a superuser, takes the
# two-integer lock functions from PUBLIC. The one-bigint forms stay other applications'.
as $P assert_sql_fails "producer cannot take the run lock" \
  "SELECT pg_advisory_lock(7283310, 0)" "permission denied for function pg_advisory_lock"
as $P assert_sql_fails "producer cannot take the hold fence, not even shared" \
  "SELECT pg_try_advisory_lock_shared(7283316, 0)" "permission denied for function pg_try_advisory_lock_shared"
as $N assert_sql_fails "a login of no lethe role cannot either" \
  "SELECT pg_advisory_xact_lock(7283310, 0)" "permission denied for function pg_advisory_xact_lock"
assert_eq "the one-bigint forms are left to everyone" "t" "$(as $P sql "SELECT pg_try_advisory_lock(7283310)")"
assert_eq "the eight two-integer forms are lethe_engine's and the owner's alone" \
  "8|8|8|0|0" \
  "$(sql "SELECT count(*) FILTER (WHERE has_function_privilege('lethe_engine', p.oid, 'EXECUTE')),
                 count(*) FILTER (WHERE has_function_privilege('lethe_operator', p.oid, 'EXECUTE')),
                 count(*) FILTER (WHERE has_function_privilege((SELECT nspowner FROM pg_namespace WHERE nspname = 'lethe'), p.oid, 'EXECUTE')),
                 count(*) FILTER (WHERE has_function_privilege('lethe_producer', p.oid, 'EXECUTE')),
                 count(*) FILTER (WHERE has_function_privilege('lethe_auditor', p.oid, 'EXECUTE'))
            FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE '%advisory%lock%'
             AND p.proname NOT LIKE '%unlock%' AND p.proargtypes = '23 23'")"
PGUSER=$P run_lethe run --dry-run
assert_rc "producer cannot run lethe" 1
assert_contains "producer's run is refused by the database" "permission denied" "$ERR"

# ---- lethe_engine ----------------------------------------------------------------------------
head -c 32 /dev/urandom > "$WORK/audit.key"
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"30s\"; };" \
  "audit: { key_file = \"$WORK/audit.key\"; };"
write_config "$WORK/noexec.conf" "audit: { key_file = \"$WORK/audit.key\"; };"
PGUSER=$E run_lethe --config "$WORK/exec.conf" run
assert_rc "engine runs the cycle" 0
assert_contains "engine's run purges the subject's item, its copy and the tenant beta's item" "3 purged, 0 failed" "$OUT"
# (On Citus there is no status memory.)
[ -n "${CITUS_DIR:-}" ] ||
assert_eq "engine's run took status's memory again: no tenant is left for status to take" 0 \
  "$(sql "SELECT count(*) FROM lethe.status_unusable(now())")"
assert_eq "their files are gone; the others stay" "gone gone gone kept kept kept kept" \
  "$(for i in $I1 $C1 $J1 $I2 $I3 $I4 $L1; do [ -e "$STORE/$i" ] && printf 'kept ' || printf 'gone '; done | sed 's/ $//')"
assert_eq "the subject is HMACed in the audit" "64" \
  "$(sql "SELECT length(subject_hmac) FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$I1'")"
PGUSER=$E run_lethe status
assert_rc "engine reads status" 0
WITH_GRANT=$(printf '%s\n' "$OUT" | sed 1d)
# A role set up before sql/0025_status_held.sql was granted (roles.sql not run again yet):
# status copies the held items with the rest, as before, and says the same.
psql -X -q -c "REVOKE EXECUTE ON FUNCTION lethe.pending_items_unheld(timestamptz, uuid[], uuid[], uuid[]) FROM lethe_engine" >/dev/null
PGUSER=$E run_lethe status
assert_rc "engine reads status without the grant of pending_items_unheld" 0
assert_eq "and it says the same" "$WITH_GRANT" "$(printf '%s\n' "$OUT" | sed 1d)"
psql -X -q -c "GRANT EXECUTE ON FUNCTION lethe.pending_items_unheld(timestamptz, uuid[], uuid[], uuid[]) TO lethe_engine" >/dev/null
PGUSER=$E run_lethe explain "$C1"
assert_rc "engine explains an item" 0
assert_contains "engine's explain shows the copy purged" "purged" "$OUT"
PGUSER=$E run_lethe export -o "$WORK/engine.jsonl"
assert_rc "engine exports" 0
as $E assert_sql_fails "engine cannot insert events" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at) VALUES ('$T', 'capacity_deleted', now())" "permission denied for table events"
as $E assert_sql_fails "engine cannot place holds" \
  "INSERT INTO lethe.holds (tenant_id, reason) VALUES ('$T', 'x')" "permission denied for table holds"
as $E assert_sql_fails "engine cannot release holds" "UPDATE lethe.holds SET released_at = now()" "permission denied for table holds"
as $E assert_sql_fails "engine cannot move the inbox's watermark (it would hide every row below it)" \
  "UPDATE lethe.inbox_watermark SET high = 9000000000000000000" "permission denied for table inbox_watermark"
as $E assert_sql_fails "engine cannot drop the inbox's gaps" "DELETE FROM lethe.inbox_gaps" "permission denied for table inbox_gaps"
# What an outside security review did with the service account's login, each refused now
# (sql/0091): a deadline of 100 years, which the next purge would have been judged by; a run's
# as_of moved, which hid from ack_batch a hold placed since; a batch moved to another location,
# or closed with a planted repurge, which tombstoned a live item with no record.
if ! citus_gap rules.rules_within_commitment; then
as $E assert_sql_fails "engine cannot lengthen a rule's deadline past its commitment" \
  "UPDATE lethe.rules SET deadline = '100 years' WHERE rule = 'deletion_request'" \
  "rules: the deadline of deletion_request (100 years) is longer than its commitment (30 days)"
else
assert_gap "engine cannot lengthen a rule's deadline past its commitment" rules.rules_within_commitment
fi
as $E assert_sql_fails "engine cannot move a run's as_of" "UPDATE lethe.runs SET as_of = '2999-01-01'" "permission denied for table runs"
as $E assert_sql_fails "engine cannot insert a run already succeeded" \
  "INSERT INTO lethe.runs (run_id, trigger, as_of, outcome) VALUES (gen_random_uuid(), 'timer', now(), 'succeeded')" \
  "permission denied for table runs"
as $E assert_sql_fails "engine cannot insert a run whose as_of is in the future (ack_batch's holds are those placed since it)" \
  "INSERT INTO lethe.runs (run_id, trigger, as_of) VALUES (gen_random_uuid(), 'timer', '2999-01-01')" \
  "runs: a run's as_of (2999-01-01 00:00:00+00) may not lie in the future"
# A finished run's row was the service account's to rewrite (its column grants): a run that
# failed set to succeeded with no failed items, which status --check and the metrics read.
R1=$(sql "SELECT run_id FROM lethe.runs WHERE outcome <> 'running' ORDER BY started_at LIMIT 1")
R1_AT=$(sql "SELECT lethe.iso_utc(finished_at) || ' ' || outcome FROM lethe.runs WHERE run_id = '$R1'")
as $E assert_sql_fails "engine cannot rewrite a finished run (sql/0100)" \
  "UPDATE lethe.runs SET outcome = 'succeeded', failed = 0, error = NULL WHERE run_id = '$R1'" \
  "runs: run $R1 ended ${R1_AT#* } at ${R1_AT%% *}: a finished run is not written over"
as $E assert_sql_fails "... nor its counts" \
  "UPDATE lethe.runs SET purged = purged + 1 WHERE run_id = '$R1'" "a finished run is not written over"
as $E assert_sql_fails "engine cannot emit what is due at an instant in the future" \
  "SELECT lethe.audit_stage_open(); SELECT * FROM lethe.emit_batches(gen_random_uuid(), '2999-01-01', 0, 0, 100, NULL)" \
  "emit_batches: 2999-01-01 00:00:00+00 is in the future: nothing is due then yet"
as $E assert_sql_fails "engine cannot set a negative lookahead (due times past deadlines)" \
  "UPDATE lethe.settings SET lookahead = '-1 day'" 'violates check constraint "settings_lookahead_not_negative"'
# repurge_emit() takes its candidates from the caller's temporary table: a live item planted
# there was deleted by the next run (replay's form, with a made-up proof, and reconcile's).
for proof in "repeat('0', 64)" "NULL::text"; do
as $E assert_sql_fails "engine cannot have a live item purged again (proof $proof)" \
  "CREATE TEMP TABLE repurge_candidates AS
     SELECT i.tenant_id, i.item_id, i.location, i.locator, 'replay'::text AS reason,
            $proof AS proof_hash, 'deletion_request'::text AS rule, NULL::text AS reference,
            NULL::text AS subject_hmac, now() AS triggered_at, now() AS deadline_at,
            now() AS purged_at, gen_random_uuid() AS purged_in
       FROM lethe.items i WHERE i.item_id = '$I3';
   SELECT * FROM lethe.repurge_emit(gen_random_uuid(), 'x', 100)" \
  "repurge: a candidate is an item no purge is recorded for: nothing is purged again"
done
as $E assert_sql_fails "engine cannot set a negative grace" \
  "UPDATE lethe.rules SET grace = '-1 day' WHERE rule = 'deletion_request'" 'violates check constraint "rules_grace_not_negative"'
as $E assert_sql_fails "engine cannot move a batch to another location" "UPDATE lethe.batches SET location = 'US'" "permission denied for table batches"
as $E assert_sql_fails "engine cannot close a batch" "UPDATE lethe.batches SET state = 'acknowledged'" "permission denied for table batches"
as $E assert_sql_fails "engine cannot plant a repurge" \
  "INSERT INTO lethe.repurges (tenant_id, item_id, batch_id, reason, state) VALUES ('$T', '$I3', gen_random_uuid(), 'reconcile', 'pending')" \
  "permission denied for table repurges"
# reconcile finds a purged item's objects by its locator's HMAC: rows rewritten by the engine's
# login hid two objects a lying deleter had left, listed as orphans (sql/0094).
PT=$(sql "SELECT tenant_id || ' ' || item_id FROM lethe.batch_items WHERE outcome = 'purged' ORDER BY item_id LIMIT 1")
as $E assert_sql_fails "engine cannot rewrite a locator's HMAC" \
  "UPDATE lethe.locator_hmacs SET locator_hmac = repeat('a', 64)" "permission denied for table locator_hmacs"
as $E assert_sql_fails "engine cannot delete one" "DELETE FROM lethe.locator_hmacs" "permission denied for table locator_hmacs"
# ... nor the purged counts status shows (rows planted there: 100,508 purged of 8), nor who
# recorded a request (status --reference named another operator than the audit).
as $E assert_sql_fails "engine cannot plant purged counts" \
  "INSERT INTO lethe.purged_counts (rule, purged) VALUES ('deletion_request', 100000)" "permission denied for table purged_counts"
as $E assert_sql_fails "engine cannot rename a request's operator" \
  "UPDATE lethe.request_operators SET operator = 'alice'" "permission denied for table request_operators"
# ... nor the counts appended by the hour with the audit, which status's late purges and the
# auditor's summary read (sql/0096, sql/0097): deleted and multiplied, they had the summary say
# 60 purged on time of 18 purged, 12 of them late, held or violations.
as $E assert_sql_fails "engine cannot rewrite the purge outcomes counted by the hour" \
  "UPDATE lethe.purge_outcomes SET purged = purged * 10" "permission denied for table purge_outcomes"
as $E assert_sql_fails "engine cannot delete them" "DELETE FROM lethe.purge_outcomes WHERE outcome <> 'on_time'" \
  "permission denied for table purge_outcomes"
as $E assert_sql_fails "engine cannot plant late purges counted by the hour" \
  "INSERT INTO lethe.late_purges (hour, held, purged) VALUES (now(), false, 100000)" "permission denied for table late_purges"
# ... nor attach the owner's trigger functions (SECURITY DEFINER) to a table of its own, which
# appended 60 purges on time to the summary's counts from a temporary table: no role here may
# execute a trigger function, and the two counting ones count lethe.audit alone.
as $E assert_sql_fails "engine cannot attach the purge outcomes' counting to a table of its own" \
  "CREATE TEMP TABLE fake (at timestamptz, rule text, on_time boolean, detail text, kind text, purged_at timestamptz, deadline_at timestamptz);
   CREATE TRIGGER t AFTER INSERT ON fake REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lethe.purge_outcomes_append()" \
  "permission denied for function lethe.purge_outcomes_append"
as $E assert_sql_fails "nor the purged counts' (status's purged line)" \
  "CREATE TEMP TABLE fake (tenant_id uuid, item_id uuid, outcome text);
   CREATE TRIGGER t AFTER INSERT ON fake REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lethe.purged_count_insert()" \
  "permission denied for function lethe.purged_count_insert"
assert_eq "no role here may execute a trigger function of lethe's" "-" \
  "$(sql "SELECT coalesce(string_agg(DISTINCT r || ':' || p.proname, ' '), '-') FROM pg_proc p
            CROSS JOIN unnest(ARRAY['$P', '$E', '$O', '$A', 'lethe_restorer']) r
           WHERE p.pronamespace = 'lethe'::regnamespace AND p.prorettype = 'trigger'::regtype
             AND has_function_privilege(r, p.oid, 'EXECUTE')")"
sql "CREATE TEMP TABLE fake (at timestamptz, rule text, on_time boolean, detail text, kind text, purged_at timestamptz, deadline_at timestamptz);
     CREATE TRIGGER t AFTER INSERT ON fake REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lethe.purge_outcomes_append();
     INSERT INTO fake VALUES (now(), 'deletion_request', true, NULL, 'item_purged', now(), now())" >"$WORK/fake.out" 2>&1 || true
assert_contains "... not even attached by a superuser to another table" \
  "purge_outcomes_append() counts the records of lethe.audit only" "$(cat "$WORK/fake.out")"
assert_eq "no role here may write those counts (the engine and its operators read them, as every table)" \
  "late_purges:SELECT purge_outcomes:SELECT late_purges:SELECT purge_outcomes:SELECT" \
  "$(for r in $P $E $O $A; do privs $r | tr ' ' '\n' | grep -E '^(late_purges|purge_outcomes):'; done | tr '\n' ' ' | sed 's/ $//')"
as $E assert_sql_fails "engine cannot have a purged item's HMAC changed by its writer" \
  "SELECT lethe.record_locator_hmacs('EU', ARRAY['${PT% *}']::uuid[], ARRAY['${PT#* }']::uuid[], ARRAY[repeat('a', 64)])" \
  "locator_hmacs: item ${PT#* } is purged: the HMAC of its locator is what reconcile finds its objects by, and is not changed"
# sql/0102: a batch's HMACs go in first, for items whose locator is there; the rest is looked at
# one by one. Two new items (N1, N2) live in the transaction only; each refusal is made as the
# engine's login, in a savepoint, and what it leaves is read after it.
N1=$(uuid); N2=$(uuid); NX=$(uuid)
PH=$(sql "SELECT location || ' ' || locator_hmac FROM lethe.locator_hmacs WHERE item_id = '${PT#* }'")
hm=$(psql -X -q -A -t <<SQL 2>&1
BEGIN;
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
VALUES ('$T', '$N1', '$WE', 'prompt', 'EU', 'file:///roles-n1', now()),
       ('$T', '$N2', '$WE', 'prompt', 'EU', 'file:///roles-n2', now());
SAVEPOINT a;
SET LOCAL ROLE $E;
SELECT lethe.record_locator_hmacs('EU', ARRAY['$T', '${PT% *}']::uuid[], ARRAY['$N1', '${PT#* }']::uuid[], ARRAY[repeat('b', 64), repeat('a', 64)]);
ROLLBACK TO SAVEPOINT a;
SELECT 'new kept ' || count(*) FROM lethe.locator_hmacs WHERE item_id = '$N1';
SAVEPOINT b;
DELETE FROM lethe.locator_hmacs WHERE item_id = '${PT#* }';
SET LOCAL ROLE $E;
SELECT lethe.record_locator_hmacs('EU', ARRAY['${PT% *}']::uuid[], ARRAY['${PT#* }']::uuid[], ARRAY[repeat('9', 64)]);
ROLLBACK TO SAVEPOINT b;
SAVEPOINT c;
SET LOCAL ROLE $E;
SELECT lethe.record_locator_hmacs('EU', ARRAY['$T']::uuid[], ARRAY['$NX']::uuid[], ARRAY[repeat('9', 64)]);
ROLLBACK TO SAVEPOINT c;
SELECT 'counts ' || lethe.record_locator_hmacs('EU', ARRAY['$T']::uuid[], ARRAY['$N1']::uuid[], ARRAY[repeat('c', 64)]);
SELECT 'counts ' || lethe.record_locator_hmacs('EU', ARRAY['$T', '$T']::uuid[], ARRAY['$N1', '$N2']::uuid[], ARRAY[repeat('d', 64), repeat('e', 64)]);
SELECT 'counts ' || lethe.record_locator_hmacs('EU', ARRAY['$T', '$T']::uuid[], ARRAY['$N1', '$N2']::uuid[], ARRAY[repeat('d', 64), repeat('e', 64)]);
SELECT 'hmacs ' || string_agg(left(locator_hmac, 3), ',' ORDER BY locator_hmac) FROM lethe.locator_hmacs WHERE item_id IN ('$N1', '$N2');
SELECT 'counts ' || lethe.record_locator_hmacs('${PH% *}', ARRAY['${PT% *}']::uuid[], ARRAY['${PT#* }']::uuid[], ARRAY['${PH#* }']);
-- A repurge's manifest made under another audit key brings another HMAC for a purged item.
INSERT INTO lethe.repurges (tenant_id, item_id, batch_id, reason, state)
SELECT '${PT% *}', '${PT#* }', b.batch_id, 'reconcile', 'pending' FROM lethe.batches b ORDER BY b.created_at LIMIT 1;
SELECT 'repurge ' || lethe.record_locator_hmacs('${PH% *}', ARRAY['${PT% *}']::uuid[], ARRAY['${PT#* }']::uuid[], ARRAY[repeat('f', 64)]);
SELECT 'repurge kept ' || (locator_hmac = '${PH#* }') FROM lethe.locator_hmacs WHERE item_id = '${PT#* }';
ROLLBACK;
SQL
)
assert_contains "... nor sent beside an item that has none yet" \
  "ERROR:  locator_hmacs: item ${PT#* } is purged: the HMAC of its locator is what reconcile finds its objects by, and is not changed" "$hm"
assert_contains "... and the new item's HMAC is not kept" "new kept 0" "$hm"
# An outside tryout: a purged item with no HMAC (purged by a run without an audit key) was given
# one naming another object, which reconcile then found and the next run deleted.
assert_contains "a purged item without an HMAC is given none" \
  "ERROR:  locator_hmacs: item ${PT#* } is purged and has no locator HMAC: one recorded now would send reconcile after whatever object it names" "$hm"
assert_contains "an item the catalog does not hold is given none" "ERROR:  locator_hmacs: item $NX is not in the catalog" "$hm"
assert_eq "the writer records a new item's HMAC and changes it, and takes a purged item's own again" \
  "hmacs ddd,eee" "$(grep '^hmacs ' <<<"$hm")"
# What it returns: the rows inserted and changed. On Citus the row count of an INSERT ... SELECT
# is of the rows sent to the shards (sql/0102), so it is compared on one server only.
if [ "$(sql "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")" = 0 ]; then
    assert_eq "... and counts them: new, changed and new, the same again, the purged item's own" "1|2|0|0" \
      "$(grep '^counts ' <<<"$hm" | sed 's/^counts //' | tr '\n' '|' | sed 's/|$//')"
fi
assert_eq "a purged item with a repurge pending, sent with another HMAC: not refused, kept as recorded" \
  "repurge kept true" "$(grep '^repurge kept ' <<<"$hm")"
PGUSER=$E run_lethe request --tenant "$T" --item "$I3" --reference ENG-1
assert_rc "engine cannot record a request" 1
assert_contains "engine's request is refused by the database" "permission denied for function request_record" "$ERR"
PGUSER=$E run_lethe hold place --tenant "$T" --item "$I3" --reason test
assert_rc "engine cannot place a hold" 1
assert_contains "engine's hold is refused by the database" "permission denied for function hold_place" "$ERR"
as $E assert_sql_fails "engine cannot insert items" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
   VALUES ('$T', '$(uuid)', '$WE', 'prompt', 'EU', 'file:///x', now())" "permission denied for table items"
as $E assert_sql_fails "engine cannot change an item beyond the tombstone" "UPDATE lethe.items SET kind = 'pinned'" "permission denied for table items"
as $E assert_sql_fails "engine cannot delete items" "DELETE FROM lethe.items" "permission denied for table items"
as $E assert_sql_fails "engine cannot insert tenants" "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$(uuid)', 'x')" "permission denied for table tenants"
as $E assert_sql_fails "engine cannot add geos" "INSERT INTO lethe.geos VALUES ('MARS')" "permission denied for table geos"
as $E assert_sql_fails "engine cannot update the audit" "UPDATE lethe.audit SET detail = 'x'" "permission denied for table audit"
as $E assert_sql_fails "engine cannot append exported records (replay's append is lethe_restorer's)" \
  "SELECT lethe.audit_append_verbatim('{}'::text[])" "permission denied for function audit_append_verbatim"
as $E assert_sql_fails "engine cannot delete the audit" "DELETE FROM lethe.audit" "permission denied for table audit"
as $E assert_sql_fails "engine cannot truncate the audit" "TRUNCATE lethe.audit" "permission denied for table audit"
as $E assert_sql_fails "engine cannot delete chain heads" "DELETE FROM lethe.audit_heads" "permission denied for table audit_heads"
as $E assert_sql_fails "engine cannot create in the schema" "CREATE TABLE lethe.x (a int)" "permission denied for schema lethe"
PGUSER=$E run_lethe migrate
assert_rc "engine cannot migrate" 1
assert_contains "engine's migrate is refused" "permission denied" "$ERR"

# ---- lethe_operator --------------------------------------------------------------------------
PGUSER=$O run_lethe request --tenant "$T" --item "$I3" --reference OPS-1 --operator user_o
assert_rc "operator records a request" 0
assert_contains "the request is recorded with its operator" "operator:    user_o" "$OUT"
PGUSER=$O run_lethe hold place --tenant "$T" --item "$I4" --reason "legal hold" --reference LEGAL-1
assert_rc "operator places a hold" 0
H=$(printf '%s\n' "$OUT" | head -1)
as $P mk_event "$T" deletion_requested "$PAST" TICKET-9 item_id "$I4"
PGUSER=$O run_lethe --config "$WORK/noexec.conf" run --operator user_o
assert_rc "operator runs the cycle (no executor: the batch waits for ack)" 0
assert_contains "the held item is reported, not batched" "1 held" "$OUT"
B=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$I3' AND outcome IS NULL")
PGUSER=$O run_lethe ack "$B" --operator user_o
assert_rc "operator acks a batch" 0
assert_eq "operator's ack output" "ack: batch $B acknowledged: 1 purged, 0 failed" "$OUT"
PGUSER=$O run_lethe hold release "$H"
assert_rc "operator releases the hold" 0
PGUSER=$O run_lethe --config "$WORK/noexec.conf" run --operator user_o
B2=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$I4' AND outcome IS NULL")
PGUSER=$O run_lethe --config "$WORK/exec.conf" rerun "$B2" --operator user_o
assert_rc "operator reruns a batch" 0
assert_eq "operator's rerun output" "rerun: batch $B2 re-driven: 1 purged, 0 failed" "$OUT"
assert_eq "the rerun deleted the file" "gone" "$([ -e "$STORE/$I4" ] || echo gone)"
assert_eq "the audit names the operator" "user_o" "$(sql "SELECT operator FROM lethe.audit WHERE kind = 'operator_rerun'")"
as $O assert_sql_fails "operator cannot change a hold's reason" "UPDATE lethe.holds SET reason = 'x'" "permission denied for table holds"
# sql/0039: a hold is placed and released only with its audit record, at the time it happens
as $O assert_sql_fails "operator cannot insert an event by SQL (a request no record names anyone for)" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T', 'capacity_deleted', now(), 'SQL-1')" \
  "permission denied for table events"
as $O assert_sql_fails "operator cannot place a hold by SQL (no hold_placed record, any placed_at)" \
  "INSERT INTO lethe.holds (tenant_id, item_id, reason, placed_at) VALUES ('$T', '$I3', 'x', '2000-01-01Z')" \
  "permission denied for table holds"
as $O assert_sql_fails "operator cannot release a hold by SQL (no hold_released record, any name)" \
  "UPDATE lethe.holds SET released_at = now(), released_by = 'bob'" "permission denied for table holds"
as $O assert_sql_fails "operator cannot stage a hold_placed record by hand" \
  "SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, hold_id) VALUES ('$T', 'hold_placed', gen_random_uuid()); SELECT lethe.audit_flush()" \
  "audit: hold_placed records are written only by lethe's own functions"
before_holds=$(sql "SELECT count(*) FROM lethe.audit WHERE kind IN ('hold_placed', 'hold_released')")
PGUSER=$O run_lethe hold place --tenant "$T" --item "$I3" --reason "roles test" --operator user_o
assert_rc "operator places a hold with lethe" 0
HR=$(sql "SELECT hold_id FROM lethe.holds WHERE reason = 'roles test'")
PGUSER=$O run_lethe hold release "$HR" --operator user_o
assert_rc "... and releases it" 0
assert_eq "both are in the audit, with the operator and the hold" "hold_placed user_o $HR scope item
hold_released user_o $HR scope item" \
  "$(sql "SELECT kind || ' ' || operator || ' ' || hold_id || ' ' || split_part(detail, ',', 1) FROM lethe.audit
           WHERE kind IN ('hold_placed', 'hold_released') AND hold_id = '$HR' ORDER BY seq")"
as $O assert_sql_fails "operator cannot delete holds" "DELETE FROM lethe.holds" "permission denied for table holds"
as $O assert_sql_fails "operator cannot insert items" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
   VALUES ('$T', '$(uuid)', '$WE', 'prompt', 'EU', 'file:///x', now())" "permission denied for table items"
as $O assert_sql_fails "operator cannot insert tenants" "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$(uuid)', 'x')" "permission denied for table tenants"
as $O assert_sql_fails "operator cannot update the audit" "UPDATE lethe.audit SET operator = 'x'" "permission denied for table audit"
as $O assert_sql_fails "operator cannot delete the audit" "DELETE FROM lethe.audit" "permission denied for table audit"
as $O assert_sql_fails "operator cannot truncate the audit" "TRUNCATE lethe.audit" "permission denied for table audit"
as $O assert_sql_fails "operator cannot append exported records (lethe_restorer's, granted for a restore)" \
  "SELECT lethe.audit_append_verbatim('{}'::text[])" "permission denied for function audit_append_verbatim"
# granted for a restore, the operator may; revoked after, no longer
sql "GRANT lethe_restorer TO $O" >/dev/null
assert_eq "operator: granted lethe_restorer, the verbatim append (an empty one appends nothing)" "0" \
  "$(as $O sql "SELECT lethe.audit_append_verbatim('{}'::text[])")"
out=$(psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql 2>&1); rc=$?
assert_eq "roles.sql run while someone holds lethe_restorer applies, and warns" "0
WARNING:  lethe_restorer is granted to $O
HINT:  it is for a restore only: REVOKE lethe_restorer FROM $O once replay is done" "$rc
$(printf '%s\n' "$out" | sed 's/^psql:[^ ]* //')"
assert_eq "... but leaves the grant to the DBA" "t" "$(sql "SELECT pg_has_role('$O', 'lethe_restorer', 'MEMBER')")"
sql "REVOKE lethe_restorer FROM $O" >/dev/null
as $O assert_sql_fails "operator: lethe_restorer revoked, refused again" \
  "SELECT lethe.audit_append_verbatim('{}'::text[])" "permission denied for function audit_append_verbatim"

# ---- lethe_auditor ---------------------------------------------------------------------------
PGUSER=$A run_lethe export -o "$WORK/audit.jsonl"
assert_rc "auditor exports" 0
assert_eq "the auditor's export holds every record the engine exported earlier" "0" \
  "$(grep -vxFf "$WORK/audit.jsonl" "$WORK/engine.jsonl" | grep -c '"seq"')"
run_lethe verify "$WORK/audit.jsonl"
assert_rc "the auditor's export verifies" 0
assert_contains "verify says ok" "verify: ok:" "$OUT"
assert_eq "no locator in the auditor's export" "0" "$(grep -c "$STORE" "$WORK/audit.jsonl")"
PGUSER=$A run_lethe export --format csv -o "$WORK/audit.csv"
assert_rc "auditor exports CSV" 0
PGUSER=$A run_lethe export --summary --format text
assert_rc "auditor reads the summary, pending items included (item_status)" 0
assert_not_contains "the summary knows the pending items" "pending is not shown" "$OUT"
# The auditor reads lethe.item_status itself, granted the view and no table under it: on Citus
# the view's reads went to the shards as the auditor, who was refused there (sql/0073).
assert_eq "auditor reads item_status, every item of it" "$(sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'purged') FROM lethe.item_status")" \
  "$(as $A psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'purged') FROM lethe.item_status" 2>&1)"
PGUSER=$A run_lethe export --summary --format html
assert_rc "auditor writes the HTML summary (lateness, weeks, chain heads)" 0
assert_contains "with its pending chart" 'id="total-pending"' "$OUT"
PGUSER=$A run_lethe export --tenant "$T"
assert_rc "auditor exports one tenant's chain" 0
as $A assert_sql_fails "auditor cannot read items" "SELECT item_id FROM lethe.items" "permission denied for table items"
as $A assert_sql_fails "auditor cannot read locators" "SELECT locator FROM lethe.items" "permission denied for table items"
as $A assert_sql_fails "auditor cannot read events (subject ids)" "SELECT subject_id FROM lethe.events" "permission denied for table events"
as $A assert_sql_fails "auditor cannot read holds" "SELECT * FROM lethe.holds" "permission denied for table holds"
as $A assert_sql_fails "auditor cannot read batch items" "SELECT * FROM lethe.batch_items" "permission denied for table batch_items"
as $A assert_sql_fails "auditor cannot read obligations" "SELECT subject_id FROM lethe.obligations" "permission denied for table obligations"
as $A assert_sql_fails "auditor cannot read batches (executor text)" "SELECT error FROM lethe.batches" "permission denied for table batches"
as $A assert_sql_fails "auditor cannot append to the audit" \
  "INSERT INTO lethe.audit (seq, at, kind, tenant_id, prev_hash, hash) SELECT 99, now(), 'checkpoint', tenant_id, hash, hash FROM lethe.audit_heads LIMIT 1" \
  "permission denied for table audit"
as $A assert_sql_fails "auditor cannot update the audit" "UPDATE lethe.audit SET detail = 'x'" "permission denied for table audit"
as $A assert_sql_fails "auditor cannot delete the audit" "DELETE FROM lethe.audit" "permission denied for table audit"
# A command the auditor may not run is refused once: hold list read the anchor check's tables
# first, three errors and hints for one refusal (an outside tryout).
PGUSER=$A run_lethe --config "$WORK/noexec.conf" hold list
assert_eq "the auditor's hold list is refused with one error, the anchor file there to check" \
  "1|1|error: query failed: permission denied for table holds|yes" \
  "$RC|$(grep -c '^error' <<<"$ERR")|$(grep '^error' <<<"$ERR")|$([ -s "$WORK/anchors.jsonl" ] && echo yes)"
as $A assert_sql_fails "auditor cannot truncate the audit" "TRUNCATE lethe.audit" "permission denied for table audit"
as $A assert_sql_fails "auditor cannot move chain heads" "UPDATE lethe.audit_heads SET seq = 0" "permission denied for table audit_heads"
as $A assert_sql_fails "auditor cannot write the catalog" "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$(uuid)', 'x')" "permission denied for table tenants"
as $A assert_sql_fails "auditor cannot flush audit records" "SELECT lethe.audit_flush()" "permission denied for function audit_flush"
as $A assert_sql_fails "auditor cannot create in the schema" "CREATE TABLE lethe.x (a int)" "permission denied for schema lethe"
PGUSER=$A run_lethe --config "$WORK/noexec.conf" run
assert_rc "auditor cannot run the cycle" 1
assert_contains "auditor's run is refused by the database" "permission denied" "$ERR"
PGUSER=$A run_lethe explain "$I3"
assert_rc "auditor cannot explain an item" 1
PGUSER=$A run_lethe hold place --tenant "$T" --reason x
assert_rc "auditor cannot place a hold" 1

# ---- no role writes around the audit: insert a row, move a head, clear a locator ------------
# A correctly hashed record, as a forger who read the chain would compute it.
FORGED="INSERT INTO lethe.audit (seq, at, kind, tenant_id, prev_hash, hash)
        SELECT h.seq + 1, now(), 'checkpoint', h.tenant_id, h.hash,
               encode(sha256(convert_to(h.hash || E'\n' || lethe.audit_canonical_head(h.seq + 1, now(),
                 'checkpoint', h.tenant_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                 NULL, NULL, NULL, NULL, NULL) || ',\"prev_hash\":\"' || h.hash || '\"}', 'UTF8')), 'hex')
          FROM lethe.audit_heads h ORDER BY h.tenant_id LIMIT 1"
MOVE="UPDATE lethe.audit_heads SET seq = seq + 1"
CLEAR="UPDATE lethe.items SET locator = NULL, owner_id = NULL WHERE item_id = '$I2'"
audit_before=$(sql "SELECT count(*) || ' ' || sum(seq) FROM lethe.audit_heads")
for r in $P $E $O $A; do
    as $r assert_sql_fails "$r cannot insert an audit row, even one hashed right" "$FORGED" "permission denied"
    as $r assert_sql_fails "$r cannot move a chain head" "$MOVE" "permission denied for table audit_heads"
    as $r assert_sql_fails "$r cannot clear a locator outside a batch" "$CLEAR" "permission denied for table items"
done
# a grant made by hand does not open the way: the triggers refuse whoever is not the owner
if ! citus_gap audit.audit_append_by_engine; then
sql "GRANT INSERT ON lethe.audit TO lethe_engine; GRANT UPDATE ON lethe.audit_heads, lethe.items TO lethe_engine" >/dev/null
as $E assert_sql_fails "with a grant, the engine still cannot insert an audit row" "$FORGED" \
  "only lethe's own functions append to the audit log"
as $E assert_sql_fails "with a grant, the engine still cannot move a head" "$MOVE" \
  "only lethe's own functions move an audit chain's head"
as $E assert_sql_fails "with a grant, the engine still cannot clear a locator" "$CLEAR" \
  "only an acknowledgement tombstones an item"
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
assert_eq "the chains and the items are as they were" "$audit_before live" \
  "$(sql "SELECT count(*) || ' ' || sum(seq) FROM lethe.audit_heads") $(sql "SELECT CASE WHEN locator IS NULL THEN 'tombstoned' ELSE 'live' END FROM lethe.items WHERE item_id = '$I2'")"
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_rc "and every later run still works" 0
else
assert_gap "with a grant, the engine still cannot insert an audit row" audit.audit_append_by_engine
assert_gap "with a grant, the engine still cannot move a head" audit_heads.audit_heads_by_engine
assert_gap "with a grant, the engine still cannot clear a locator" items.items_tombstone_by_ack
fi

# ---- the owner's writers cannot be made to run another role's code (sql/0037) ---------------
# A temporary audit_stage made first, with a trigger: audit_flush (as the owner) would have
# fired it. The trigger would record who it ran as; it never runs.
ATTACK_STAGE=$(cat <<'EOF'
CREATE TEMP TABLE ran (who text);
CREATE TEMP TABLE audit_stage (ord bigserial, tenant_id uuid NOT NULL, kind text NOT NULL, run_id uuid,
  batch_id uuid, item_id uuid, rule text, reference text, triggered_at timestamptz, deadline_at timestamptz,
  purged_at timestamptz, on_time boolean, location text, hold_id uuid, subject_hmac text, operator text,
  count bigint, detail text);
GRANT ALL ON pg_temp.audit_stage, pg_temp.ran TO PUBLIC;
CREATE FUNCTION pg_temp.esc() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN INSERT INTO pg_temp.ran VALUES (current_user); RETURN NULL; END $f$;
CREATE TRIGGER esc BEFORE TRUNCATE ON pg_temp.audit_stage FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.esc();
INSERT INTO pg_temp.audit_stage (tenant_id, kind) VALUES ('00000000-0000-0000-0000-000000000000', 'checkpoint');
SELECT lethe.audit_flush();
EOF
)
audit_before=$(sql "SELECT count(*) FROM lethe.audit")
for r in $E $O; do
    as $r assert_sql_fails "$r: a temporary audit_stage of its own is refused by audit_flush" "$ATTACK_STAGE" \
      'audit: the temporary relation "audit_stage" of this session is not lethe'"'"'s own'
done
as $E assert_sql_fails "a temporary view read by repurge_emit is refused" \
  "CREATE TEMP VIEW repurge_candidates AS SELECT 1 AS x; SELECT * FROM lethe.repurge_emit(gen_random_uuid(), 'EU', 10)" \
  'audit: the temporary relation "repurge_candidates" of this session is not lethe'"'"'s own'
as $E assert_sql_fails "... and so is one with a trigger, read by emit_batches" \
  "CREATE TEMP TABLE seeds (a int); CREATE FUNCTION pg_temp.f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
   CREATE TRIGGER f BEFORE INSERT ON pg_temp.seeds FOR EACH ROW EXECUTE FUNCTION pg_temp.f();
   SELECT * FROM lethe.emit_batches(gen_random_uuid(), now(), 0, 0, 10, NULL)" \
  'audit: the temporary relation "seeds" of this session is not lethe'"'"'s own'
FORGE="INSERT INTO audit_stage (tenant_id, kind, item_id, rule, reference, on_time, triggered_at, deadline_at, purged_at)
       VALUES ('$T', 'item_purged', '$(uuid)', 'deletion_request', 'REQ-1', true, '2026-01-01Z', '2099-01-01Z', '2026-01-02Z')"
for r in $E $O; do
    as $r assert_sql_fails "$r: an item_purged record staged by hand is refused, hashed or not" \
      "SELECT lethe.audit_stage_open(); $FORGE; SELECT lethe.audit_flush()" \
      "audit: item_purged records are written only by lethe's own functions"
    as $r assert_sql_fails "$r: ... and a staged row cannot claim to be the owner's" \
      "SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, sealed) VALUES ('$T', 'item_purged', true)" \
      "permission denied for table audit_stage"
done
# sql/0066: a withdrawal and a request are recorded by the functions that make them, from the
# catalog: a login holding only lethe_engine could stage and flush either (a withdrawal of a
# request nobody cancelled, a request nobody made, with any operator's name).
for r in $E $O; do
    for k in obligation_withdrawn request_recorded; do
        as $r assert_sql_fails "$r: a $k record staged by hand is refused" \
          "SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, rule, reference, operator, detail)
           VALUES ('$T', '$k', 'deletion_request', 'FORGED-1', 'someone', 'withdrawn at 2026-12-04T10:30:00.000000Z');
           SELECT lethe.audit_flush()" \
          "audit: $k records are written only by lethe's own functions"
    done
    as $r assert_sql_fails "$r: a withdrawal record that no event of the catalog makes is refused" \
      "SELECT lethe.audit_withdrawals(ARRAY['$T']::uuid[], ARRAY['deletion_request'], ARRAY['FORGED-1'],
                                      ARRAY['2026-12-01Z']::timestamptz[], ARRAY[NULL]::text[], ARRAY[7]::bigint[],
                                      ARRAY[(SELECT min(event_id) FROM lethe.events WHERE tenant_id = '$T')],
                                      ARRAY[(SELECT max(event_id) FROM lethe.events WHERE tenant_id = '$T')])" \
      "audit: no event of tenant $T withdraws the deletion_request obligation triggered at 2026-12-01T00:00:00.000000Z by event"
done
assert_eq "none of it reached the audit" 0 "$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'FORGED-1' OR detail LIKE 'withdrawn at 2026-12-04T10:30%'")"
# A true withdrawal (a request and its cancellation, in the catalog) staged by hand again and
# again is recorded once; a negative count, or a subject's HMAC on a request of no subject, is
# refused (the count and the HMAC are the engine's word: the database cannot check them).
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES
       ('$T2', 'deletion_requested', '2026-11-01Z', 'R-WD'), ('$T2', 'deletion_cancelled', '2026-11-02Z', 'R-WD')" >/dev/null
WD_ARGS="ARRAY['$T2']::uuid[], ARRAY['deletion_request'], ARRAY['R-WD'], ARRAY['2026-11-01Z']::timestamptz[]"
WD_EVENTS="ARRAY[(SELECT event_id FROM lethe.events WHERE reference = 'R-WD' AND type = 'deletion_requested')],
           ARRAY[(SELECT event_id FROM lethe.events WHERE reference = 'R-WD' AND type = 'deletion_cancelled')]"
as $E psql -X -q -A -t -v ON_ERROR_STOP=1 \
  -c "SELECT lethe.audit_withdrawals($WD_ARGS, ARRAY[NULL]::text[], ARRAY[0]::bigint[], $WD_EVENTS),
             lethe.audit_withdrawals($WD_ARGS, ARRAY[NULL]::text[], ARRAY[0]::bigint[], $WD_EVENTS), lethe.audit_flush()" \
  -c "SELECT lethe.audit_withdrawals($WD_ARGS, ARRAY[NULL]::text[], ARRAY[0]::bigint[], $WD_EVENTS), lethe.audit_flush()" \
  >"$WORK/wd.out" 2>&1
assert_eq "a true withdrawal staged by hand three times is recorded once" "1|0|1 0|0|1" \
  "$(tr '\n' ' ' <"$WORK/wd.out" | sed 's/ $//')|$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'R-WD' AND kind = 'obligation_withdrawn'")"
# ... and so is one of a request with an empty reference (the record holds none, and looking
# the record up by its reference never found it): once, and a later cancellation not at all.
# Such events are refused since schema version 114 (events_reference_not_blank, NOT VALID): these
# stand for ones written before it, which stay.
sql "ALTER TABLE lethe.events DROP CONSTRAINT events_reference_not_blank" >/dev/null
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES
       ('$T2', 'deletion_requested', '2026-10-01Z', ''), ('$T2', 'deletion_cancelled', '2026-10-02Z', ''),
       ('$T2', 'deletion_cancelled', '2026-10-03Z', '')" >/dev/null
sql "ALTER TABLE lethe.events ADD CONSTRAINT events_reference_not_blank
       CHECK (reference ~ '[^[:space:]\u0085\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]') NOT VALID" >/dev/null
EMPTY="ARRAY['$T2']::uuid[], ARRAY['deletion_request'], ARRAY[''], ARRAY['2026-10-01Z']::timestamptz[], ARRAY[NULL]::text[], ARRAY[0]::bigint[],
       ARRAY[$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$T2' AND reference = '' AND type = 'deletion_requested'")]::bigint[]"
EV_E1=$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$T2' AND reference = '' AND occurred_at = '2026-10-02Z'")
EV_E2=$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$T2' AND reference = '' AND occurred_at = '2026-10-03Z'")
as $E psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT lethe.audit_withdrawals($EMPTY, ARRAY[$EV_E1]::bigint[]), lethe.audit_flush()" \
  -c "SELECT lethe.audit_withdrawals($EMPTY, ARRAY[$EV_E1]::bigint[]), lethe.audit_flush()" >"$WORK/wd-empty.out" 2>&1
as $E assert_sql_fails "engine: a later cancellation of a request with an empty reference is refused" \
  "SELECT lethe.audit_withdrawals($EMPTY, ARRAY[$EV_E2]::bigint[])" \
  "is recorded withdrawn at 2026-10-02T00:00:00.000000Z already; event $EV_E2, later, does not withdraw it"
assert_eq "a withdrawal of a request with an empty reference is recorded once" "1|1 0|0|1" \
  "$(tr '\n' ' ' <"$WORK/wd-empty.out" | sed 's/ $//')|$(sql "SELECT count(*) FROM lethe.audit
      WHERE tenant_id = '$T2' AND kind = 'obligation_withdrawn' AND reference IS NULL AND triggered_at = '2026-10-01Z'")"
for r in $E $O; do
    as $r assert_sql_fails "$r: a withdrawal with a negative count is refused" \
      "SELECT lethe.audit_withdrawals($WD_ARGS, ARRAY[NULL]::text[], ARRAY[-5]::bigint[], $WD_EVENTS)" \
      "audit: a withdrawal of a deletion_request obligation counts items released (-5 given)"
    as $r assert_sql_fails "$r: ... and one with a subject's HMAC on a request of no subject" \
      "SELECT lethe.audit_withdrawals($WD_ARGS, ARRAY[repeat('ab', 32)], ARRAY[1]::bigint[], $WD_EVENTS)" \
      "carries a subject's HMAC only for a subject_request"
done
audit_before=$((audit_before + 2))  # the two true withdrawals above; nothing else reaches the audit
as $E assert_sql_fails "the engine's own records are still staged: a run_started goes through (rolled back here)" \
  "BEGIN; SELECT lethe.audit_stage_open();
   INSERT INTO audit_stage (tenant_id, kind, run_id) VALUES ('00000000-0000-0000-0000-000000000000', 'run_started', gen_random_uuid());
   SELECT 1 / (lethe.audit_flush() - 1)" "division by zero"
# sql/0055: a run's own records go straight to the engine chain; no other kind goes that way
as $E assert_sql_fails "the engine appends a run_started record without a stage (rolled back here)" \
  "BEGIN; SELECT 1 / (lethe.audit_append_run('run_started', gen_random_uuid(), NULL, NULL, 'x') * 0)" \
  "division by zero"
for r in $E $O; do
    as $r assert_sql_fails "$r: audit_append_run appends no checkpoint" \
      "SELECT lethe.audit_append_run('checkpoint', gen_random_uuid(), NULL, NULL, 'forged heads')" \
      "audit: checkpoint records are written only by lethe's own functions"
    as $r assert_sql_fails "$r: ... nor any other kind" \
      "SELECT lethe.audit_append_run('item_purged', gen_random_uuid(), NULL, NULL, NULL)" \
      "audit: item_purged records are written only by lethe's own functions"
    as $r assert_sql_fails "$r: audit_append_one, the owner's building block, appends nothing for another role" \
      "SELECT lethe.audit_append_one('checkpoint', gen_random_uuid(), NULL, NULL, 'forged heads')" \
      "permission denied for table audit_heads"
done
as $E assert_sql_fails "a run record without its run is refused" \
  "SELECT lethe.audit_append_run('run_finished', NULL, NULL, NULL, NULL)" \
  "audit: a run_finished record needs a run id"
assert_eq "nothing of this reached the audit" "$audit_before" "$(sql "SELECT count(*) FROM lethe.audit")"
# what the session staged before goes first: the chain keeps the order the records were made in
# (committed and read afterwards: on Citus the engine's read of the audit inside the transaction
# that appended as the owner fails)
as $E psql -X -q -A -t -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT lethe.audit_stage_open()" \
  -c "INSERT INTO audit_stage (tenant_id, kind, run_id, detail) VALUES ('00000000-0000-0000-0000-000000000000', 'run_finished', gen_random_uuid(), 'order x1')" \
  -c "SELECT lethe.audit_append_run('run_started', gen_random_uuid(), NULL, NULL, 'order x2')" \
  -c "SELECT lethe.audit_flush()" -c "COMMIT" >/dev/null
assert_eq "records staged before a direct append come first in the engine chain" \
  "run_finished order x1|run_started order x2" \
  "$(sql "SELECT string_agg(kind || ' ' || detail, '|' ORDER BY seq) FROM lethe.audit
           WHERE tenant_id = '00000000-0000-0000-0000-000000000000' AND detail LIKE 'order x_'")"
as $P assert_sql_fails "producers create no temporary table" "CREATE TEMP TABLE x (a int)" \
  "permission denied to create temporary tables"
as $A assert_sql_fails "nor do auditors" "CREATE TEMP TABLE x (a int)" "permission denied to create temporary tables"
assert_eq "every PL/pgSQL writer that runs as the owner and touches a temporary relation checks the session first" "-" \
  "$(sql "SELECT coalesce(string_agg(p.proname, ' ' ORDER BY p.proname), '-') FROM pg_proc p
           WHERE p.pronamespace = 'lethe'::regnamespace AND p.prosecdef AND p.prorettype <> 'trigger'::regtype
             AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
             AND p.prosrc ~* '(\mtemp|audit_stage)'
             AND p.prosrc !~ 'PERFORM lethe\.(definer_temp_guard|audit_stage_open)\(\);'")"
# A request's record is appended in the call that writes its event (the caller flushed it, and
# one that did not left an event with no record), under the scope's rule.
as $O assert_sql_fails "operator: a request's record names the rule of its scope, not the caller's" \
  "SELECT * FROM lethe.request_record('$T2', NULL, 'someone@example.com', NULL, 'OP-RULE', 'user_o',
                                      interval '10 years', 'capacity_deleted', NULL)" \
  "request: a request of this scope falls under rule subject_request, not capacity_deleted"
as $O psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT event_id FROM lethe.request_record('$T2', '$W2', NULL, NULL,
    'OP-NOFLUSH', 'user_o', interval '30 days', 'deletion_request', NULL)" >/dev/null
assert_eq "a request recorded without a flush of the caller's has its record" "1 deletion_request user_o" \
  "$(sql "SELECT count(*) || ' ' || min(rule) || ' ' || min(operator) FROM lethe.audit
           WHERE tenant_id = '$T2' AND kind = 'request_recorded' AND reference = 'OP-NOFLUSH'")"
# sql/0070: a deadline not after the request is refused (the audit would vouch for a deadline
# no config gives); none, for a rule disabled in the config, is still recorded as none.
for d in "interval '-5 days'" "interval '0'" "interval '1 mon -40 days'"; do
    as $O assert_sql_fails "operator: a request's deadline of $d is refused" \
      "SELECT * FROM lethe.request_record('$T2', '$W2', NULL, NULL, 'OP-NEG', 'user_o', $d, 'deletion_request', NULL)" \
      "request: a deadline must lie after the request"
done
as $O psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT event_id FROM lethe.request_record('$T2', '$W2', NULL, NULL,
    'OP-NONE', 'user_o', NULL, 'deletion_request', NULL)" >/dev/null
assert_eq "... and none is recorded as none" "0 1 1" \
  "$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'OP-NEG'") $(
     sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE deadline_at IS NULL)
            FROM lethe.audit WHERE tenant_id = '$T2' AND kind = 'request_recorded' AND reference = 'OP-NONE'")"
# The cancellation of R-WD above is consumed by a run as a login holding only lethe_engine.
# On Citus that run failed whole before schema version 69 ("cannot perform query on placements
# that were modified in this transaction by a different user": the derivation wrote the
# obligations as the engine, and the withdrawal's record was made as the owner in the same
# transaction); the record is now made in a transaction of its own.
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_rc "the engine's run consumes the withdrawal" 0
assert_eq "... and records it no second time" "1 0" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'R-WD' AND kind = 'obligation_withdrawn'") $(
     sql "SELECT count(*) FROM lethe.withdrawals_unrecorded")"
# sql/0069: what a login holding only lethe_engine can write into lethe.withdrawals_unrecorded
# (its own table) does not become a false record. A withdrawal that no event makes fails the
# run, which names it, until its row is deleted; nothing of it reaches the audit.
OB_WD=$(sql "SELECT obligation_id FROM lethe.obligations WHERE tenant_id = '$T2' AND reference = 'R-WD'")
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T2', 'deletion_requested', '2026-11-05Z', 'R-MARK')" >/dev/null
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
OB_MARK=$(sql "SELECT obligation_id FROM lethe.obligations WHERE tenant_id = '$T2' AND reference = 'R-MARK'")
EV_MARK=$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$T2' AND reference = 'R-MARK'")
wd_row() { # the engine writes a row of its own table (on Citus a statement of its own: the
            # owner's recording cannot read in a transaction where the engine wrote)
    as $E psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO lethe.withdrawals_unrecorded (tenant_id, obligation_id, withdrawn_by, released)
        VALUES ('$T2', $1, $2, $3)" >/dev/null
}
wd_row "$OB_MARK" "$(sql "SELECT max(event_id) FROM lethe.events WHERE tenant_id = '$T2'")" 3
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_rc "a withdrawal written by hand that no event makes fails the run" 1
assert_contains "... naming it" "audit: no event of tenant $T2 withdraws the deletion_request obligation triggered at 2026-11-05T00:00:00.000000Z by event $EV_MARK (reference R-MARK) as event" "$ERR"
assert_contains "... and saying how it is undone" "stops the runs of its tenant's shard until its row is deleted" "$ERR"
assert_eq "... and nothing of it reaches the audit" 0 \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'R-MARK' AND kind = 'obligation_withdrawn'")"
as $E psql -X -q -v ON_ERROR_STOP=1 -c "DELETE FROM lethe.withdrawals_unrecorded" >/dev/null
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_rc "and a run after the row is deleted works" 0
# The engine's login reruns a failed batch: the derivation the rerun makes first writes as the
# engine, the emission as the owner, each now in a transaction of its own. On Citus the rerun
# failed whole before ("cannot perform query on placements that were modified in this
# transaction by a different user"; an outside tryout).
FI=$(uuid); as $P mk_item "$T2" "$FI" "$W2" prompt UK "$OLD" >/dev/null 2>&1
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, item_id) VALUES ('$T2', 'deletion_requested', '2026-11-06Z', 'R-FB', '$FI')" >/dev/null
PGUSER=$E "$LETHE" --config "$WORK/noexec.conf" run >/dev/null 2>&1
FB=$(sql "SELECT batch_id FROM lethe.batch_items WHERE item_id = '$FI' AND outcome IS NULL")
"$LETHE" ack "$FB" --failed "$FI:busy" --operator user_o >/dev/null 2>&1
PGUSER=$E run_lethe --config "$WORK/noexec.conf" rerun "$FB" --operator user_o
assert_rc "the engine reruns a failed batch" 0
assert_contains "... and batches its still-due item again" "rerun: failed batch $FB: still-due items put in new batch " "$OUT"
assert_eq "... in a batch of its own, open" "1 open" \
  "$(sql "SELECT count(*) || ' ' || min(b.state) FROM lethe.batch_items i JOIN lethe.batches b USING (batch_id)
           WHERE i.item_id = '$FI' AND i.batch_id <> '$FB'")"
# A later cancellation than the one recorded withdraws nothing (the earliest withdraws), and a
# count above the tenant's items is refused.
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T2', 'deletion_cancelled', '2026-11-03Z', 'R-WD')" >/dev/null
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_eq "a run records no second withdrawal for a later cancellation" "1 0" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'R-WD' AND kind = 'obligation_withdrawn'") $(
     sql "SELECT count(*) FROM lethe.withdrawals_unrecorded")"
EV_LATER=$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$T2' AND reference = 'R-WD' AND occurred_at = '2026-11-03Z'")
EV_CANCEL=$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$T2' AND reference = 'R-WD' AND occurred_at = '2026-11-02Z'")
wd_row "$OB_WD" "$EV_LATER" 0
as $E assert_sql_fails "engine: ... nor is it recorded when written by hand" "SELECT lethe.withdrawals_record(0, 0)" \
  "audit: the deletion_request obligation of tenant $T2 triggered at 2026-11-01T00:00:00.000000Z is recorded withdrawn at 2026-11-02T00:00:00.000000Z already; event $EV_LATER, later, does not withdraw it"
as $E psql -X -q -v ON_ERROR_STOP=1 -c "DELETE FROM lethe.withdrawals_unrecorded" >/dev/null
wd_row "$OB_WD" "$EV_CANCEL" 1000000
as $E assert_sql_fails "engine: a withdrawal releasing more items than its tenant has is refused" \
  "SELECT lethe.withdrawals_record(0, 0)" "audit: a withdrawal of tenant $T2 cannot release 1000000 items: the tenant has"
as $E psql -X -q -v ON_ERROR_STOP=1 -c "DELETE FROM lethe.withdrawals_unrecorded" >/dev/null
as $E assert_sql_fails "engine: withdrawals are recorded only in a READ COMMITTED transaction" \
  "BEGIN ISOLATION LEVEL REPEATABLE READ;
   SELECT lethe.audit_withdrawals($WD_ARGS, ARRAY[NULL]::text[], ARRAY[0]::bigint[],
                                  ARRAY[$(sql "SELECT event_id FROM lethe.events WHERE reference = 'R-WD' AND type = 'deletion_requested'")]::bigint[],
                                  ARRAY[$EV_CANCEL]::bigint[])" \
  "audit: withdrawals are recorded in a READ COMMITTED transaction, not REPEATABLE READ"
# Two sessions recording the same withdrawal side by side: one record (each found none in its
# own snapshot and appended one, before the lock).
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES
       ('$T2', 'deletion_requested', '2026-11-07Z', 'R-RACE'), ('$T2', 'deletion_cancelled', '2026-11-08Z', 'R-RACE')" >/dev/null
(PGUSER=$E LETHE_FAULT=after_derive exec "$LETHE" --config "$WORK/noexec.conf" -q run) >/dev/null 2>&1
assert_eq "a run killed after its derivation leaves the withdrawal unrecorded" "137 1" \
  "$? $(sql "SELECT count(*) FROM lethe.withdrawals_unrecorded")"
gone_backends
as $E psql -X -q -A -t -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT lethe.withdrawals_record(0, 0)" \
  -c "SELECT pg_sleep(2)" -c "COMMIT" >"$WORK/race-a.out" 2>&1 &
race=$!
sleep 0.7
as $E psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT lethe.withdrawals_record(0, 0)" >"$WORK/race-b.out" 2>&1
wait $race
assert_eq "two sessions recording side by side: the first records it, the second nothing" "1|0" \
  "$(head -1 "$WORK/race-a.out")|$(cat "$WORK/race-b.out")"
assert_eq "... and the audit holds one record" "1 0" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE reference = 'R-RACE' AND kind = 'obligation_withdrawn'") $(
     sql "SELECT count(*) FROM lethe.withdrawals_unrecorded")"
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_rc "and a run after all of it works" 0

# ---- an obligation says what its event says (sql/0077) --------------------------------------
# An outside tryout, as a login holding only lethe_engine, moved a request's triggered_at forward:
# the next run's purge ten days late was recorded on time, hashed and anchored. Withdrawing it by
# hand made it owe nothing, with no cancellation behind it and no record of it.
TF=$(uuid); WF=$(uuid); IF=$(uuid)
mk_tenant "$TF" forgery; mk_workspace "$TF" "$WF" EU
mk_item "$TF" "$IF" "$WF" prompt EU 2026-01-01T00:00:00Z
mk_event "$TF" deletion_requested "$(date -u -d '-40 days' +%FT%TZ)" R-FORGE item_id "$IF"
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run --as-of "$(date -u -d '-41 days' +%FT%TZ)"
assert_rc "the engine derives the request (a run as of before it)" 0
OBF=$(sql "SELECT obligation_id FROM lethe.obligations WHERE tenant_id = '$TF' AND reference = 'R-FORGE'")
if ! citus_gap obligations.obligations_borne_out; then
as $E assert_sql_fails "the engine cannot move an obligation's trigger (a late purge would read on time)" \
  "UPDATE lethe.obligations SET triggered_at = now() WHERE tenant_id = '$TF'" \
  "obligation $OBF of tenant $TF: what its event says cannot be changed so"
as $E assert_sql_fails "... nor withdraw it with no event behind it" \
  "UPDATE lethe.obligations SET withdrawn_at = now() WHERE tenant_id = '$TF'" \
  "obligation $OBF of tenant $TF: its withdrawal (withdrawn_at, withdrawn_by) cannot be changed so"
WF2=$(uuid); mk_workspace "$TF" "$WF2" EU
mk_event "$TF" deletion_requested "$(date -u -d '-40 days' +%FT%TZ)" R-EMPTY workspace_id "$WF2"
EVF=$(sql "SELECT event_id FROM lethe.events WHERE tenant_id = '$TF' AND reference = 'R-EMPTY'")
as $E assert_sql_fails "... nor insert one its event does not make" \
  "INSERT INTO lethe.obligations (tenant_id, rule, event_id, reference, workspace_id, shared_only,
                                  triggered_at, covers_until)
   SELECT '$TF', 'deletion_request', $EVF, 'R-EMPTY', '$WF2', false, now(), now()" \
  "is not what event $EVF makes of it"
as $E assert_sql_fails "... nor delete one" "DELETE FROM lethe.obligations WHERE tenant_id = '$TF'" \
  "an obligation is never deleted"
assert_sql_fails "the owner cannot move a trigger either" \
  "UPDATE lethe.obligations SET triggered_at = now() WHERE tenant_id = '$TF'" "cannot be changed so"
else
assert_gap "the engine cannot move an obligation's trigger" obligations.obligations_borne_out
assert_gap "the engine cannot delete an obligation" obligations.obligations_by_engine
fi
# A true cancellation withdraws it, as the engine, through the same check.
mk_event "$TF" deletion_cancelled "$(date -u -d '-39 days' +%FT%TZ)" R-FORGE
PGUSER=$E run_lethe --config "$WORK/noexec.conf" run
assert_rc "a run as the engine withdraws it by the cancellation" 0
assert_eq "... which is recorded, the item owing nothing" "1|live" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$TF' AND kind = 'obligation_withdrawn'")|$(
     sql "SELECT state FROM lethe.item_status WHERE item_id = '$IF'")"

# ---- the audit is append-only for everyone, the owner included -------------------------------
if ! citus_gap audit.audit_no_update_delete; then
assert_sql_fails "the owner cannot update the audit" "UPDATE lethe.audit SET detail = 'x'" "UPDATE on lethe.audit is not allowed"
assert_sql_fails "the owner cannot delete the audit" "DELETE FROM lethe.audit" "DELETE on lethe.audit is not allowed"
assert_sql_fails "the owner cannot truncate the audit" "TRUNCATE lethe.audit" "TRUNCATE on lethe.audit is not allowed"
else
# Citus: no role but the owner may write the audit (the grants above); the owner is not refused
assert_gap "the owner cannot update the audit" audit.audit_no_update_delete
assert_gap "the owner cannot truncate the audit" audit.audit_no_truncate
fi
as $N assert_sql_fails "a role in no group cannot reach the schema" "SELECT * FROM lethe.audit" "permission denied for schema lethe"

# ---- a permission error's hint: the grant to give, or roles.sql when the login has the role ----
# As a migrate leaves a table it adds until roles.sql runs again: the group lacks the grant.
sql "REVOKE SELECT ON lethe.batches FROM lethe_engine" >/dev/null
PGUSER=$E run_lethe --config "$WORK/noexec.conf" batches
assert_eq "a member of lethe_engine refused by a grant the group lacks is sent to roles.sql, not to a GRANT it has" \
  "1|error: query failed: permission denied for table batches
hint: 'lethe batches' needs the privileges of lethe_engine, which $E holds already: lethe_engine lacks this grant; run deploy/roles.sql again as a superuser (as after every 'lethe migrate': it grants what a migration added)" \
  "$RC|$ERR"
sql "GRANT USAGE ON SCHEMA lethe TO $N; GRANT SELECT ON lethe.schema_migrations TO $N" >/dev/null
PGUSER=$N run_lethe --config "$WORK/noexec.conf" batches
assert_eq "a login in no group is told the GRANT to give" \
  "1|hint: 'lethe batches' needs the privileges of lethe_engine: GRANT lethe_engine TO $N (deploy/roles.sql creates the roles)" \
  "$RC|$(printf '%s\n' "$ERR" | grep '^hint')"
sql "REVOKE ALL ON SCHEMA lethe FROM $N; REVOKE ALL ON lethe.schema_migrations FROM $N" >/dev/null
# A member that does not inherit the role's privileges (NOINHERIT): a GRANT would change nothing.
sql "DROP ROLE IF EXISTS ${E}_ni; CREATE ROLE ${E}_ni LOGIN NOINHERIT IN ROLE lethe_engine" >/dev/null
PGUSER=${E}_ni run_lethe --config "$WORK/noexec.conf" batches
assert_eq "a NOINHERIT member is told to inherit, not to GRANT the role it is a member of" \
  "1|hint: 'lethe batches' needs the privileges of lethe_engine, which ${E}_ni is a member of but does not inherit (NOINHERIT): ALTER ROLE ${E}_ni INHERIT" \
  "$RC|$(printf '%s\n' "$ERR" | grep '^hint')"
sql "DROP ROLE ${E}_ni" >/dev/null

# ---- after a later migrate, roles.sql is applied again ---------------------------------------
"$LETHE" migrate >/dev/null
# as roles.sql before schema 39 left them: the operator's direct writes to holds, PUBLIC's TEMP
sql "GRANT INSERT, UPDATE (released_at, released_by) ON lethe.holds TO lethe_operator;
     GRANT TEMPORARY ON DATABASE roles_t TO PUBLIC" >/dev/null
out=$(psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql 2>&1); rc=$?
assert_eq "roles.sql applies after migrate" "0 " "$rc $out"
assert_eq "and leaves the same grants, an older version's taken back" "$before" "$(acl_snapshot)"
finish
