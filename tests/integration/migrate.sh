# lethe migrate on an empty database, then again (a no-op), and the schema it leaves.
. tests/harness/lib.sh
psql -X -q -c 'CREATE DATABASE migrate_t' >/dev/null
export PGDATABASE=migrate_t

run_lethe migrate
assert_rc "migrate on an empty database exits 0" 0
assert_contains "migrate reports what it applied" "migrate: applied" "$OUT"
first=$(sql "SELECT count(*) FROM lethe.schema_migrations")

run_lethe migrate
assert_rc "migrate again exits 0" 0
assert_contains "migrate again is a no-op" "nothing to do" "$OUT"
assert_eq "migrate again applies nothing" "$first" "$(sql "SELECT count(*) FROM lethe.schema_migrations")"

assert_eq "geos are seeded" "ANZ,EU,UK,US" "$(sql "SELECT string_agg(geo, ',' ORDER BY geo) FROM lethe.geos")"
assert_eq "every catalog table leads its key with tenant_id" "events holds items workspaces" \
  "$(sql "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
          WHERE n.nspname = 'lethe' AND i.indisprimary AND a.attname = 'tenant_id' AND c.relname IN ('items','events','holds','workspaces')")"

# every migration's SHA-256 is recorded; one whose text changed since is refused
assert_eq "each applied migration has its SHA-256" "$first" \
  "$(sql "SELECT count(*) FROM lethe.schema_migrations WHERE sha256 ~ '^[0-9a-f]{64}\$'")"
assert_eq "the recorded SHA-256 is the file's" "$(sha256sum sql/0003_audit.sql | cut -c1-64)" \
  "$(sql "SELECT sha256 FROM lethe.schema_migrations WHERE version = 3")"
sql "UPDATE lethe.schema_migrations SET sha256 = repeat('0', 64) WHERE version = 3" >/dev/null
run_lethe migrate
assert_rc "an applied migration whose text changed: migrate exits 2" 2
assert_eq "... and says which, with a hint" "error: migrate: migration 0003_audit was applied with another text (sha256 000000000000..., this lethe's is $(sha256sum sql/0003_audit.sql | cut -c1-12)...)
hint: a migration never changes once applied: put the change in a new file sql/NNNN_description.sql" "$ERR"
sql "UPDATE lethe.schema_migrations SET sha256 = NULL WHERE version = 3" >/dev/null
run_lethe migrate
assert_rc "a migration applied before checksums existed is recorded on first sight" 0
assert_eq "... with its SHA-256" "$(sha256sum sql/0003_audit.sql | cut -c1-64)" \
  "$(sql "SELECT sha256 FROM lethe.schema_migrations WHERE version = 3")"

# migrate hardens the schema itself, with no roles.sql: definer writers, invoker guards,
# nothing through PUBLIC, and it puts back what a hand made undo
sql "ALTER FUNCTION lethe.audit_flush() SECURITY INVOKER; GRANT EXECUTE ON FUNCTION lethe.audit_flush() TO PUBLIC" >/dev/null
run_lethe migrate
assert_rc "migrate with nothing to apply exits 0" 0
assert_eq "the engine's writers run as the owner, the guard as its caller" "t t t f" \
  "$(sql "SELECT (SELECT prosecdef FROM pg_proc WHERE oid = 'lethe.audit_flush()'::regprocedure),
                 (SELECT bool_and(prosecdef) FROM pg_proc WHERE proname = 'ack_batch'),
                 (SELECT bool_and(prosecdef) FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace
                     AND prorettype = 'trigger'::regtype AND proname <> 'require_owner'),
                 (SELECT prosecdef FROM pg_proc WHERE oid = 'lethe.require_owner()'::regprocedure)" | tr '|' ' ')"
assert_eq "no lethe function is executable through PUBLIC" "0" \
  "$(sql "SELECT count(*) FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
          WHERE p.pronamespace = 'lethe'::regnamespace AND a.grantee = 0")"

# two migrates at once never interleave: both succeed, and the schema is applied once
psql -X -q -c 'CREATE DATABASE migrate_c' >/dev/null
PGDATABASE=migrate_c "$LETHE" migrate >/tmp/m1.$$ 2>&1 & p1=$!
PGDATABASE=migrate_c "$LETHE" migrate >/tmp/m2.$$ 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
assert_eq "concurrent migrates both succeed" "0 0" "$r1 $r2"
assert_eq "concurrent migrates apply each migration once" "$first" \
  "$(PGDATABASE=migrate_c sql "SELECT count(*) FROM lethe.schema_migrations")"
rm -f /tmp/m1.$$ /tmp/m2.$$

# A deployment a superuser installed, whose schema a DBA then gave a dedicated owner (as the
# README advises): on one server a superuser's migrate gives that owner lethe's objects, the
# table of migrations included (migrate makes it, no migration names it), then migrates as it;
# on Citus it gives nothing (the coordinator's shards are tables of the schema too) and names
# the objects, with the statement a DBA runs.
OWNR=migrate_own_r
psql -X -q -c 'CREATE DATABASE migrate_own' -c "DROP ROLE IF EXISTS $OWNR" -c "CREATE ROLE $OWNR NOLOGIN" >/dev/null
PGDATABASE=migrate_own run_lethe migrate
PGDATABASE=migrate_own sql "ALTER SCHEMA lethe OWNER TO $OWNR" >/dev/null
PGDATABASE=migrate_own run_lethe migrate
if [ "$(PGDATABASE=migrate_own sql "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")" = 0 ]; then
    assert_eq "schema given a dedicated owner after a superuser's install: migrate gives it every object, migrations' table included" \
      "0|migrate: schema already at version $(ls sql/*.sql | wc -l), no migration to apply|0|$OWNR" \
      "$RC|$OUT|$(PGDATABASE=migrate_own sql "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'lethe'::regnamespace AND relowner <> '$OWNR'::regrole)
             + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace AND proowner <> '$OWNR'::regrole)")|$(PGDATABASE=migrate_own sql "SELECT relowner::regrole FROM pg_class WHERE oid = 'lethe.schema_migrations'::regclass")"
    assert_contains "... and names what it gave" "migrate: gave $OWNR, the schema's owner, " "$ERR"
else
    assert_eq "on Citus, the schema given a dedicated owner after a superuser's install: migrate gives nothing, exits 1" \
      "1|postgres" "$RC|$(PGDATABASE=migrate_own sql "SELECT relowner::regrole FROM pg_class WHERE oid = 'lethe.schema_migrations'::regclass")"
    assert_contains "... names the objects that are not the owner's" \
      "objects of schema lethe are not its owner's ($OWNR): " "$ERR"
    assert_contains "... and says a DBA gives them, with the statement" \
      "hint: a DBA gives them to $OWNR if they are lethe's (the first: ALTER " "$ERR"
fi
psql -X -q -c 'DROP DATABASE migrate_own' -c "DROP ROLE $OWNR" >/dev/null

# A database an owner that is not a superuser owns (createdb -O), migrated by a superuser, on one
# server and on Citus. On Citus the schema was made in migrate's transaction, as the owner, and
# Citus's making of the owner's role on the workers failed there: "must be superuser to alter
# superuser roles or change superuser attribute" (an outside tryout). It is made for the owner
# first, in a transaction of its own. (On Citus the owner must be able to log in: Citus reaches
# the workers as it.)
LO=migrate_lo_owner
psql -X -q -c "DROP DATABASE IF EXISTS migrate_lo" -c "DROP ROLE IF EXISTS $LO" >/dev/null 2>&1
psql -X -q -c "CREATE ROLE $LO LOGIN NOSUPERUSER" -c "CREATE DATABASE migrate_lo OWNER $LO" >/dev/null
PGDATABASE=migrate_lo run_lethe migrate
assert_eq "a superuser migrates a database an owner that is not a superuser owns: every object the owner's" \
  "0|$LO|0" \
  "$RC|$(PGDATABASE=migrate_lo sql "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'lethe'")|$(PGDATABASE=migrate_lo sql "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'lethe'::regnamespace AND relowner <> '$LO'::regrole)
         + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace AND proowner <> '$LO'::regrole)")"
PGDATABASE=migrate_lo PGUSER=$LO run_lethe migrate
assert_eq "... the owner migrates it again: nothing to do" "0|migrate: schema already at version $(ls sql/*.sql | wc -l), nothing to do" "$RC|$OUT"
PGDATABASE=migrate_lo run_lethe status --check
assert_rc "... and status reads it (no run yet: exit 4)" 4
psql -X -q -c 'DROP DATABASE migrate_lo WITH (FORCE)' -c "DROP ROLE $LO" >/dev/null
finish
