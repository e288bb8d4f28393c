#!/bin/bash
# Starts one throwaway PostgreSQL, runs every tests/integration/*.sh against it (each in a
# database of its own), stops the server, and prints the totals.
set -u
cd "$(dirname "$0")/../.."
. tests/harness/pg.sh
: "${LETHE:?LETHE must name the binary under test}"
export LETHE
pg_start || exit 1
# Suites also run lethe as other users (root runs it as postgres), who may not be able to enter
# the checkout: every suite gets copies of the binaries in the cluster's directory, which
# anyone can enter and which goes when the server does. LETHE_BUILD keeps naming the build.
export LETHE_BUILD=${LETHE_BUILD:-$(dirname "$(dirname "$LETHE")")}
mkdir -m 0755 "$PG_DIR/bin"
for b in "$LETHE" "$(dirname "$LETHE")/fs-delete"; do
    [ -f "$b" ] && install -m 0755 "$b" "$PG_DIR/bin/"
done
LETHE=$PG_DIR/bin/lethe
pass=0; fail=0; failed_suites=""
for t in ${INTEGRATION_SUITES:-tests/integration/*.sh}; do
    name=$(basename "$t" .sh)
    log=$(mktemp)
    PGDATABASE=postgres bash "$t" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1 && echo "not ok - $name exited $rc" >>"$log"
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ] || [ -n "${VERBOSE:-}" ]; then cat "$log"; fi
    [ "$f" != 0 ] && failed_suites="$failed_suites $name"
    printf '%-28s %4d passed, %d failed\n' "$name" "$p" "$f"
    rm -f "$log"
done
pg_stop
trap - EXIT
[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "integration: $pass passed, $fail failed"
[ "$fail" = 0 ] && [ -z "$failed_suites" ]
