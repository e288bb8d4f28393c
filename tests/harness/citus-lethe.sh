#!/bin/bash
# The lethe that make check-citus hands the suites: before `migrate`, it makes the database
# named by PGDATABASE a Citus database when it is not one yet (the same database on each
# worker, the extension everywhere, the coordinator and the workers registered), then runs the
# real binary with the same arguments. Everything else goes straight to the real binary.
REAL=$(dirname "$0")/lethe.real
for a in "$@"; do
    case $a in migrate) ;; *) continue ;; esac
    db=${PGDATABASE:-postgres}
    q() { PGUSER=postgres psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
    (
        flock 9
        has=$(q -d "$db" -c "SELECT count(*) FROM pg_extension WHERE extname = 'citus'") || exit 1
        [ "$has" = 1 ] && exit 0
        for w in $CITUS_WORKERS; do
            q -p "$w" -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
                -c "CREATE DATABASE \"$db\"" >/dev/null || exit 1
            q -p "$w" -d "$db" -c "CREATE EXTENSION citus" >/dev/null || exit 1
        done
        q -d "$db" -c "CREATE EXTENSION citus" \
            -c "SELECT citus_set_coordinator_host('127.0.0.1', $PGPORT)" >/dev/null || exit 1
        for w in $CITUS_WORKERS; do
            q -d "$db" -c "SELECT citus_add_node('127.0.0.1', $w)" >/dev/null || exit 1
        done
    ) 9>>"$CITUS_DIR/setup.lock" || { echo "check-citus: could not make $db a Citus database" >&2; exit 1; }
    break
done
exec "$REAL" "$@"
