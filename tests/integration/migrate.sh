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

# two migrates at once never interleave: both succeed, and the schema is applied once
psql -X -q -c 'CREATE DATABASE migrate_c' >/dev/null
PGDATABASE=migrate_c "$LETHE" migrate >/tmp/m1.$$ 2>&1 & p1=$!
PGDATABASE=migrate_c "$LETHE" migrate >/tmp/m2.$$ 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
assert_eq "concurrent migrates both succeed" "0 0" "$r1 $r2"
assert_eq "concurrent migrates apply each migration once" "$first" \
  "$(PGDATABASE=migrate_c sql "SELECT count(*) FROM lethe.schema_migrations")"
rm -f /tmp/m1.$$ /tmp/m2.$$
finish
