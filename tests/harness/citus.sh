#!/bin/bash
# make check-citus: when the citus extension is installed, starts a Citus coordinator and two
# workers (PostgreSQL 15, loopback, temp dirs under /tmp, as user postgres), runs the
# integration suites that matter against the coordinator, then runs one catalog on a
# distributed database and on a plain one and compares item states and audit. When Citus is
# not installed it says so in one line and exits 0.
#
# The suites create their own databases and run `lethe migrate`; the binary they are handed
# is a wrapper (citus-lethe.sh) that, before a migrate, makes the database a Citus database
# (the extension on the coordinator and the workers, the workers registered). lethe itself
# does nothing to get Citus: on a database with the extension, migrate distributes the schema.
set -u
cd "$(dirname "$0")/../.."
. tests/harness/pg.sh
: "${LETHE:?LETHE must name the binary under test}"

# What pg_available_extensions reads: the control file, and the library it loads.
if [ ! -f "$("$PG_BIN/pg_config" --sharedir 2>/dev/null)/extension/citus.control" ] ||
   [ ! -f "$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null)/citus.so" ]; then
    echo "check-citus: the citus extension is not installed for PostgreSQL 15; nothing to do"
    exit 0
fi

CITUS_DIR=$(mktemp -d /tmp/lethe-citus.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres: "$CITUS_DIR" && chmod 0755 "$CITUS_DIR"
citus_stop() {
    for n in coord w1 w2; do
        [ -d "$CITUS_DIR/$n" ] && as_pg "$PG_BIN/pg_ctl" -D "$CITUS_DIR/$n" -m immediate stop >/dev/null 2>&1
    done
    rm -rf "$CITUS_DIR"
}
trap citus_stop EXIT
for n in coord w1 w2; do
    as_pg "$PG_BIN/initdb" -D "$CITUS_DIR/$n" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$CITUS_DIR/$n.initdb.log" 2>&1 || { cat "$CITUS_DIR/$n.initdb.log" >&2; exit 1; }
    port=$(pg_free_port)
    echo "$port" > "$CITUS_DIR/$n.port"
    as_pg "$PG_BIN/pg_ctl" -D "$CITUS_DIR/$n" -l "$CITUS_DIR/$n.log" -w -t 60 \
        -o "-k $CITUS_DIR -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c shared_preload_libraries=citus -c max_worker_processes=256" \
        start >/dev/null || { cat "$CITUS_DIR/$n.log" >&2; exit 1; }
done
export PGHOST=$CITUS_DIR PGPORT=$(cat "$CITUS_DIR/coord.port") PGUSER=postgres PGDATABASE=postgres
export SERVER_LOG=$CITUS_DIR/coord.log SERVER_DATA=$CITUS_DIR/coord
export CITUS_DIR CITUS_WORKERS="$(cat "$CITUS_DIR/w1.port") $(cat "$CITUS_DIR/w2.port")"
echo "check-citus: coordinator on 127.0.0.1:$PGPORT, workers on ${CITUS_WORKERS// /, }"

# The suites get copies of the binaries in the cluster's directory (as run-integration.sh
# does), and LETHE names the wrapper next to them.
mkdir -m 0755 "$CITUS_DIR/bin"
for b in "$LETHE" "$(dirname "$LETHE")/fs-delete"; do
    [ -f "$b" ] && install -m 0755 "$b" "$CITUS_DIR/bin/"
done
install -m 0755 "$LETHE" "$CITUS_DIR/bin/lethe.real"
install -m 0755 tests/harness/citus-lethe.sh "$CITUS_DIR/bin/lethe"
export LETHE_BUILD=${LETHE_BUILD:-$(dirname "$(dirname "$LETHE")")}
export LETHE=$CITUS_DIR/bin/lethe

SUITES=${CITUS_SUITES:-"tests/integration/migrate.sh tests/integration/catalog.sh tests/integration/rules.sh
    tests/integration/run.sh tests/integration/requests.sh tests/integration/roles.sh
    tests/integration/export.sh tests/integration/verify.sh tests/integration/crash.sh
    tests/integration/restore.sh tests/integration/governance.sh tests/integration/disabled.sh
    tests/integration/lateack.sh tests/integration/keys.sh tests/integration/outgrow.sh
    tests/integration/review15.sh tests/integration/oncall.sh tests/integration/readme_claims.sh
    tests/integration/fence.sh
    tests/harness/citus-compare.sh"}
pass=0; fail=0; failed_suites=""
for t in $SUITES; do
    name=$(basename "$t" .sh)
    log=$(mktemp)
    PGDATABASE=postgres bash "$t" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1 && echo "not ok - $name exited $rc" >>"$log"
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ] || [ -n "${VERBOSE:-}" ]; then
        if [ -n "${VERBOSE:-}" ]; then cat "$log"; else grep -m1 -A6 '^not ok - ' "$log"; fi
    fi
    [ "$f" != 0 ] && failed_suites="$failed_suites $name"
    printf '%-28s %4d passed, %d failed\n' "$name" "$p" "$f"
    rm -f "$log"
done
[ -n "$failed_suites" ] && echo "failed suites on citus:$failed_suites"
echo "check-citus: $pass passed, $fail failed"
[ "$fail" = 0 ]
