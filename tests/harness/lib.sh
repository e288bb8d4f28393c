# Assertions for the integration suites (shell, against the real binary and a real
# PostgreSQL). Each assertion prints one "ok" or "not ok" line; the runner counts them.

PASS=0
FAIL=0

ok()     { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $1"; shift; for l in "$@"; do printf '#   %s\n' "$l"; done; }

# sql "STATEMENT": runs through psql, unaligned, no headers; prints the result.
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
# wait_for SQL: polls (10 s at most) until the query returns more than 0: another session's
# state that a step waits on (a sleep under way, a lock waited for).
wait_for() {
    local _
    for _ in $(seq 100); do [ "$(sql "$1")" -gt 0 ] && return 0; sleep 0.1; done
    return 1
}

# gone_backends: after a run was killed, until the server has noticed that its client is gone
# (its backend holds the run lock until then; on a loaded machine, or with a sanitizer's slow
# process exit, the next run could otherwise start first and rightly exit 3). At most 10 s.
gone_backends() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lethe/run/%'")" = 0 ] && return
        sleep 0.1
    done
}

# run_lethe ARGS...: runs the binary, capturing OUT, ERR and RC.
# summary_rule FILE RULE FIELD...: the FIELDs of RULE's line in an export --summary (JSON
# Lines), space-separated.
summary_rule() {
    python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("rule") == sys.argv[2]: print(*(r[k] for k in sys.argv[3:]))' "$@"
}

run_lethe() {
    OUT=$("$LETHE" "$@" 2>/tmp/lethe-err.$$) ; RC=$?
    ERR=$(cat /tmp/lethe-err.$$); rm -f /tmp/lethe-err.$$
}

assert_eq() { # NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "actual:   $3"; fi
}
assert_rc() { # NAME EXPECTED_RC   (uses RC, OUT, ERR from run_lethe)
    if [ "$RC" = "$2" ]; then ok "$1"; else not_ok "$1" "expected exit $2, got $RC" "stdout: $OUT" "stderr: $ERR"; fi
}
assert_contains() { # NAME NEEDLE HAYSTACK
    case "$3" in *"$2"*) ok "$1" ;; *) not_ok "$1" "expected to contain: $2" "actual: $3" ;; esac
}
assert_not_contains() { # NAME NEEDLE HAYSTACK
    case "$3" in *"$2"*) not_ok "$1" "expected not to contain: $2" "actual: $3" ;; *) ok "$1" ;; esac
}
# assert_sql_fails NAME "STATEMENT" "expected message part"
assert_sql_fails() {
    local err
    if err=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$2" 2>&1 >/dev/null); then
        not_ok "$1" "statement succeeded: $2"
    else
        assert_contains "$1" "$3" "$err"
    fi
}

finish() { echo "# $(basename "$0"): $PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; }

# citus_gap WHAT: true when the database is laid out on Citus and lethe.citus_gaps lists WHAT, a
# trigger or index that the Citus layout could not keep (migrate warns of each). A suite asserts
# a refusal the database makes, or else that the gap is listed: under make check-citus.
gaps_listing() { sql "SELECT count(*) FROM lethe.citus_gaps WHERE what = '$1'"; }
citus_gap() { [ "$(gaps_listing "$1")" = 1 ]; }
# refusal MESSAGE COLUMN: the refusal expected of an UPDATE of COLUMN: MESSAGE, except that on
# Citus an UPDATE of the distribution column (tenant_id) is refused by Citus itself, first.
refusal() {
    if [ "$2" = tenant_id ] && [ "$(sql "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")" = 1 ]; then
        echo "ERROR:  modifying the partition value of rows is not allowed"
    else
        echo "$1"
    fi
}
# assert_gap NAME WHAT: the assertion made in place of a refusal that WHAT made.
assert_gap() { assert_eq "$1 (Citus: not made, listed in lethe.citus_gaps as $2)" "1" "$(gaps_listing "$2")"; }

# restore_db DB DUMP: the database DB, dropped and made again from DUMP (pg_dump -Fc), as an
# operator restores one. On one server: a new database and pg_restore. Under make check-citus
# (CITUS_WORKERS names the workers' ports) a restore is of the whole Citus database: DB is
# made again on the coordinator and on every worker, with the extension and the workers
# registered, the coordinator's dump (which holds every shard's rows) restored into it as plain
# tables, and `lethe migrate` lays them out again (README, "Outgrowing one server").
restore_db() {
    local db=$1 dump=$2 w
    if [ -z "${CITUS_WORKERS:-}" ]; then
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
        pg_restore -d "$db" "$dump"
        return
    fi
    for w in $CITUS_WORKERS; do
        psql -X -q -p "$w" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
        psql -X -q -p "$w" -d "$db" -c "CREATE EXTENSION citus" >/dev/null
    done
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    psql -X -q -d "$db" -c "CREATE EXTENSION citus" -c "SELECT citus_set_coordinator_host('127.0.0.1', $PGPORT)" >/dev/null
    for w in $CITUS_WORKERS; do
        psql -X -q -d "$db" -c "SELECT citus_add_node('127.0.0.1', $w)" >/dev/null
    done
    # The workers first: Citus makes the schema's functions on the workers only as they are
    # created in a database that already has the extension and its nodes.
    pg_restore -L <(pg_restore -l "$dump" | grep -v ' EXTENSION - citus') -d "$db" "$dump"
    PGDATABASE=$db "$LETHE" migrate >/dev/null
}
