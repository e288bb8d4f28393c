#!/bin/bash
# Runs every tests/integration/*.sh against throwaway PostgreSQL servers (each suite in
# databases of its own), stops the servers, and prints the totals.
#
# The suites run in CHECK_LANES lanes at once (default: the number of processors, at most 4).
# A lane is one server of its own, which runs its suites one after the other, so the roles,
# settings and restarts a suite makes reach only the suites of its lane, as they did when
# every suite shared one server in turn. Lanes take the next suite from one queue, the longest
# first (SLOW_FIRST); a suite's output is printed whole once it ends, and its time with it.
set -u
cd "$(dirname "$0")/../.."
. tests/harness/pg.sh
: "${LETHE:?LETHE must name the binary under test}"
export LETHE
# Suites also run lethe as other users (root runs it as postgres), who may not be able to enter
# the checkout: every lane gets copies of the binaries in its cluster's directory, which anyone
# can enter and which goes when the server does. LETHE_BUILD keeps naming the build.
export LETHE_BUILD=${LETHE_BUILD:-$(dirname "$(dirname "$LETHE")")}
BUILT=$LETHE
# A run the idle probe (sql/0040_idle_probe.sql) finds idle also takes the full way here, and
# fails if that finds anything to derive or emit: every idle run of every suite checks the
# probe against the derivation and the emission. (tests/integration/idle.sh runs without it.)
export LETHE_IDLE_CROSSCHECK=${LETHE_IDLE_CROSSCHECK:-1}

# Suites run lethe without --config too, which then reads /etc/lethe/lethe.conf and keeps its
# anchors in /var/lib/lethe (the defaults): on a machine where lethe was run or installed so,
# they would read that machine's anchors, and fail as a restored database. Said, not guessed at.
for f in /etc/lethe/lethe.conf /var/lib/lethe/anchors.jsonl; do
    if [ -e "$f" ]; then
        echo "integration: $f exists on this machine; the suites run lethe with its defaults and would read it" >&2
        echo "hint: run the suites where lethe is not deployed, or move $f aside for the run" >&2
        exit 1
    fi
done

# The suites that take longest (measured two at a time on 2 cores, 80 s and more): started
# first, so that no lane is left with a long one at the end.
SLOW_FIRST="lineage rules lineage_model demo executor crash verify explain_status deb status_memory governance report run review5"

suites=$(for t in ${INTEGRATION_SUITES:-tests/integration/*.sh}; do echo "$t"; done)
ordered=$( { for s in $SLOW_FIRST; do printf '%s\n' "$suites" | grep -x "tests/integration/$s.sh"; done
             printf '%s\n' "$suites" | grep -vxF -f <(for s in $SLOW_FIRST; do echo "tests/integration/$s.sh"; done); } )

lanes=${CHECK_LANES:-$(nproc 2>/dev/null || echo 1)}
[ "$lanes" -gt 4 ] && lanes=4
[ "$lanes" -lt 1 ] && lanes=1
n=$(printf '%s\n' "$ordered" | grep -c .)
[ "$lanes" -gt "$n" ] && lanes=$n

RES=$(mktemp -d /tmp/lethe-check.XXXXXX)
trap 'rm -rf "$RES"' EXIT
printf '%s\n' "$ordered" > "$RES/queue"

# next_suite: takes the first suite off the queue (under a lock), or fails when it is empty.
next_suite() {
    exec 9>>"$RES/queue.lock"
    flock 9
    NEXT=$(head -n 1 "$RES/queue")
    [ -n "$NEXT" ] && sed -i 1d "$RES/queue"
    flock -u 9
    exec 9>&-
    [ -n "$NEXT" ]
}

lane() {
    pg_start || { echo "lane $1: the server did not start" > "$RES/lane$1.failed"; return 1; }
    mkdir -m 0755 "$PG_DIR/bin"
    for b in "$BUILT" "$(dirname "$BUILT")/fs-delete"; do
        [ -f "$b" ] && install -m 0755 "$b" "$PG_DIR/bin/"
    done
    export LETHE=$PG_DIR/bin/lethe
    while next_suite; do
        name=$(basename "$NEXT" .sh)
        log=$RES/$name.log
        t0=$(date +%s)
        PGDATABASE=postgres bash "$NEXT" >"$log" 2>&1
        rc=$?
        p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
        [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1 && echo "not ok - $name exited $rc" >>"$log"
        echo "$p $f $(( $(date +%s) - t0 ))" > "$RES/$name.result"
        {
            if [ "$f" != 0 ] || [ -n "${VERBOSE:-}" ]; then cat "$log"; fi
            printf '%-28s %4d passed, %d failed (%ds)\n' "$name" "$p" "$f" "$(( $(date +%s) - t0 ))"
        } > "$RES/$name.out"
        cat "$RES/$name.out"
    done
    pg_stop
    trap - EXIT
}

echo "integration: $n suites in $lanes lanes, the longest first; each is printed when it ends"
# Each lane is a process group of its own (set -m), so that an interrupt ends it whole: its
# suite and the lethe it runs with SIGTERM, then the lane's own exit trap stops its server.
# (Started with & in a script, a lane would ignore the terminal's SIGINT and run on.)
pids=""
stop_lanes() {
    trap - INT TERM
    for p in $pids; do kill -TERM -- "-$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    echo "integration: interrupted" >&2
    exit 130
}
trap stop_lanes INT TERM
set -m
for i in $(seq 1 "$lanes"); do
    lane "$i" & pids="$pids $!"
done
set +m
for p in $pids; do wait "$p"; done

pass=0; fail=0; failed_suites=""
for t in $ordered; do
    name=$(basename "$t" .sh)
    if [ ! -f "$RES/$name.result" ]; then
        echo "not ok - $name did not run"
        fail=$((fail + 1)); failed_suites="$failed_suites $name"
        continue
    fi
    read -r p f _ < "$RES/$name.result"
    pass=$((pass + p)); fail=$((fail + f))
    [ "$f" != 0 ] && failed_suites="$failed_suites $name"
done
for l in "$RES"/lane*.failed; do [ -f "$l" ] && cat "$l" && fail=$((fail + 1)); done
[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "integration: $pass passed, $fail failed ($lanes lanes)"
[ "$fail" = 0 ] && [ -z "$failed_suites" ]
