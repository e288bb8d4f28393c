#!/bin/bash
# make bench (issue 7): lethe against the bare SQL a DBA would write, on identical data, with a
# throwaway PostgreSQL of its own (fsync on). Prints one table: medians over BENCH_REPS
# repetitions, ratios first, absolute figures second; then where the full cycle's time goes.
# Never part of `make check`: it asserts nothing about speed, it only measures and reports.
#
#   BENCH_ITEMS=1000000      catalog size (10000000 for the large run)
#   BENCH_REPS=3             repetitions of every measurement (median reported)
#   BENCH_SMALL_ITEMS=10000  the small catalog the idle run is compared with
#   BENCH_SHARED_BUFFERS=4GB the server's shared_buffers
#   BENCH_KEEP=1             keep the work directory (server log, plans, manifests, exports)
#   BENCH_BEFORE=PATH        another lethe binary (an earlier commit): the steady cycle and the
#                            cycle shapes are also timed with it, and the matrix times its
#                            export --summary and verify, on the same data in the same run
#                            (before/after figures of a change). The catalogs are then built and
#                            primed by it, at its schema; every copy lethe itself runs on is
#                            migrated by lethe first (untimed).
#   BENCH_CITUS_ITEMS=100000 the Citus section's catalog: when the citus extension is installed,
#                            tests/bench/citus.sh runs at the end (its own Citus coordinator and two
#                            workers, and a plain server) and prints the cycle, an idle run and
#                            producers' inserts on Citus next to one server; else one line says so
#   BENCH_CITUS_ONLY=1       only the Citus section
#   BENCH_CITUS=0            no Citus section (tests/integration/bench.sh runs the bench small)
set -u
cd "$(dirname "$0")/../.."
: "${LETHE:?LETHE must name the binary under test}"
# BENCH_CITUS_ONLY=1: the Citus section alone (citus.sh starts servers of its own).
if [ "${BENCH_CITUS_ONLY:-0}" != 0 ]; then exec bash tests/bench/citus.sh; fi
ITEMS=${BENCH_ITEMS:-1000000}
REPS=${BENCH_REPS:-3}
SMALL=${BENCH_SMALL_ITEMS:-10000}
HERE=$PWD/tests/bench
export PG_FSYNC=on PG_SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-4GB}

. tests/harness/pg.sh
WORK=$(mktemp -d /tmp/lethe-bench.XXXXXX)
chmod 0755 "$WORK"
pg_start || exit 1
cleanup() {
    pg_stop
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

BENCH_NAME=bench
. tests/bench/measure.sh

# A server set up as a DBA would for this machine; both sides run on it.
q -d postgres \
  -c "ALTER SYSTEM SET max_wal_size = '16GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" \
  -c "ALTER SYSTEM SET work_mem = '64MB'" -c "ALTER SYSTEM SET maintenance_work_mem = '1GB'" \
  -c "ALTER SYSTEM SET effective_cache_size = '16GB'" -c "ALTER SYSTEM SET random_page_cost = 1.1" \
  -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %d '" -c "SELECT pg_reload_conf()" >/dev/null \
  || die "cannot configure the server"

head -c 32 /dev/urandom > "$WORK/audit.key"
chmod 0600 "$WORK/audit.key"
CONF=$WORK/lethe.conf
cat > "$CONF" <<EOF
spool:    { directory = "$WORK/spool"; keep = "7d"; };
executor: { command = "$HERE/ack-all.sh"; timeout = "15m"; };
audit:    { key_file = "$WORK/audit.key"; };
EOF
# conf_of DB: the config with an anchor file of DB's own (a run compares the newest anchor line
# with its database, so databases that take turns must not share one).
conf_of() {
    local c=$WORK/lethe-$1.conf
    [ -f "$c" ] || sed "s|^audit: .*|audit:    { key_file = \"$WORK/audit.key\"; anchor_file = \"$WORK/anchors-$1.jsonl\"; };|" "$CONF" >"$c"
    echo "$c"
}
lethe() { "$LETHE" --config "$(conf_of "${PGDATABASE:-postgres}")" "$@"; }
# BUILDER: the binary that builds and primes the catalogs (the before binary when given, so that
# its copies keep its schema: a migration's SQL would otherwise be timed with the old binary).
BUILDER=${BENCH_BEFORE:-$LETHE}
builder() { "$BUILDER" --config "$(conf_of "${PGDATABASE:-postgres}")" "$@"; }

# ---- the template catalogs ----------------------------------------------------------------

# build_template DB N: the catalog of N items, primed by one lethe run, plus what producers
# wrote since (see generate.sql). Everything timed later starts from a copy of it.
build_template() {
    local db=$1 n=$2 t0 chunk=500000
    t0=$(now_ms)
    q -d postgres -c "CREATE DATABASE $db" || return 1
    PGDATABASE=$db builder migrate >/dev/null || return 1
    q -d "$db" -f "$HERE/generate.sql" -f "$HERE/shapes.sql" -f "$HERE/baseline.sql" >/dev/null || return 1
    q -d "$db" -c "SELECT bench.setup($n, date_trunc('second', now()))" >/dev/null || return 1
    local o half lo hi
    o=$(q -d "$db" -c "SELECT originals FROM bench.params")
    half=$(( o + (n - o) / 2 ))
    for ((lo = 0; lo < o; lo += chunk)); do
        hi=$(( lo + chunk < o ? lo + chunk : o ))
        q -d "$db" -c "SET synchronous_commit = off" -c "SELECT bench.originals($lo, $hi)" >/dev/null || return 1
    done
    # copies of originals first, then copies that may copy those copies
    for range in "$o $half" "$half $n"; do
        set -- $range
        for ((lo = $1; lo < $2; lo += chunk)); do
            hi=$(( lo + chunk < $2 ? lo + chunk : $2 ))
            q -d "$db" -c "SET synchronous_commit = off" -c "SELECT bench.copies($lo, $hi)" >/dev/null || return 1
        done
    done
    q -d "$db" -c "SELECT bench.history()" -c "VACUUM ANALYZE" >/dev/null || return 1
    local p t1
    p=$(q -d "$db" -c "SELECT lethe.iso_utc(p) FROM bench.params")
    t1=$(now_ms)
    PGDATABASE=$db builder -q run --as-of "$p" > "$WORK/prime-$db.out" 2>&1 || { cat "$WORK/prime-$db.out" >&2; return 1; }
    echo "$(( $(now_ms) - t1 ))" > "$WORK/prime-$db.ms"
    # The DBA's audit table holds the same purges, so that both start from the same history.
    q -d "$db" -c "INSERT INTO bench.audit_plain SELECT tenant_id, item_id, rule, triggered_at, deadline_at,
                          purged_at, purged_at <= deadline_at FROM lethe.batch_items WHERE outcome = 'purged'" \
      -c "SELECT bench.recent_events()" -c "SELECT bench.recent_items()" \
      -c "CREATE TABLE bench.due_list AS SELECT * FROM bench.dba_due((SELECT g FROM bench.params))" \
      -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null || return 1
    echo "$(( $(now_ms) - t0 ))" > "$WORK/build-$db.ms"
}

# copy_of TEMPLATE DB [raw]: a fresh copy (file copy: fast, and no WAL for the whole catalog),
# migrated by lethe unless raw (a copy for the before binary, or a template of copies for it).
copy_of() {
    PGOPTIONS='-c client_min_messages=warning' q -d postgres -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2 TEMPLATE $1 STRATEGY FILE_COPY" >/dev/null || return 1
    # A fresh copy holds its template's audit, whose anchor file is the template's: the copy
    # gets a copy of it. (Without it, the first run found the lines the database recorded
    # missing from the file, and every status and run after it searched the file for them.)
    rm -f "$WORK/anchors-$2.jsonl"
    if [ -f "$WORK/anchors-$1.jsonl" ]; then cp "$WORK/anchors-$1.jsonl" "$WORK/anchors-$2.jsonl" || return 1; fi
    if [ -n "${BENCH_BEFORE:-}" ] && [ "${3:-}" != raw ]; then
        PGDATABASE=$2 lethe migrate >/dev/null || return 1
    fi
}

note "building the catalog of $ITEMS items (template database)"
build_template bench_tpl "$ITEMS" || die "building the catalog failed"
note "building the small catalog of $SMALL items"
build_template bench_small "$SMALL" || die "building the small catalog failed"
AS_OF=$(q -d bench_tpl -c "SELECT lethe.iso_utc(g) FROM bench.params")
SMALL_AS_OF=$(q -d bench_small -c "SELECT lethe.iso_utc(g) FROM bench.params")
DUE=$(q -d bench_tpl -c "SELECT count(*) FROM bench.due_list")
read -r TENANTS LIVE EVENTS HOLDS < <(q -F ' ' -d bench_tpl -c "SELECT (SELECT count(*) FROM lethe.tenants),
    (SELECT count(*) FROM lethe.items WHERE locator IS NOT NULL), (SELECT count(*) FROM lethe.events),
    (SELECT count(*) FROM lethe.holds)")
TOTAL=$(q -d bench_tpl -c "SELECT count(*) FROM lethe.items")

# ---- measurements -------------------------------------------------------------------------

RES=$WORK/results.tsv
: > "$RES"
purged_ids() { q -d "$1" -c "SELECT item_id FROM lethe.items WHERE locator IS NULL ORDER BY item_id"; }

lethe_cycle() { # DB: the full cycle, then an idle run, export and verify
    measure run env PGDATABASE="$1" "$LETHE" --config "$(conf_of "$1")" -q run --as-of "$AS_OF"
    # The operator's first status after the hourly cycle (before the run took status's memory
    # itself, this one took it, for every tenant the cycle changed).
    measure status_first env PGDATABASE="$1" "$LETHE" --config "$(conf_of "$1")" status
    settle
    # Right after the cycle, the index of open batch items is full of entries that the
    # acknowledgements made dead; the next timer tick comes after autovacuum has removed them.
    measure idle_unvacuumed env PGDATABASE="$1" "$LETHE" --config "$(conf_of "$1")" -q run --as-of "$AS_OF"
    q -d "$1" -c "VACUUM ANALYZE" >/dev/null
    settle
    measure idle env PGDATABASE="$1" "$LETHE" --config "$(conf_of "$1")" -q run --as-of "$AS_OF"
    grep -q " 0 due," "$WORK/out" || die "the idle run found work: $(cat "$WORK/out")"
}
baseline_cycle() { measure bare psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" -d "$1" -f "$HERE/purge.sql"; }
floor_cycle() { measure floor psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$HERE/floor.sql"; }
shards() {
    measure shards bash -c '
        PGDATABASE=$1 "$2" --config "$3" -q run --as-of "$4" --shard 0/2 & a=$!
        PGDATABASE=$1 "$2" --config "$3" -q run --as-of "$4" --shard 1/2 & b=$!
        wait $a; ra=$?; wait $b; rb=$?; [ $ra = 0 ] && [ $rb = 0 ]' _ "$1" "$LETHE" "$(conf_of "$1")" "$AS_OF"
}
lethe_export() { measure export env PGDATABASE="$1" "$LETHE" --config "$(conf_of "$1")" export -o "$WORK/export.jsonl"; }
copy_export() {
    measure copy psql -X -q -v ON_ERROR_STOP=1 -d "$1" -o "$WORK/copy.jsonl" \
        -c "COPY (SELECT lethe.audit_jsonl(a) FROM lethe.audit a ORDER BY a.tenant_id, a.seq) TO STDOUT"
}
export_pair() { # DB REP: lethe export and the same records through COPY, in alternating order
    if [ $(($2 % 2)) = 1 ]; then lethe_export "$1"; copy_export "$1"; else copy_export "$1"; lethe_export "$1"; fi
    measure verify "$LETHE" verify "$WORK/export.jsonl"
    measure sha256sum sha256sum "$WORK/export.jsonl"
}

# settle: nothing left over from the previous measurement (autovacuum of a copy that has just
# been written to, dirty buffers) runs into the next one on this 2-core machine.
settle() {
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" = 0 ] && break
        sleep 0.1
    done
    q -d postgres -c "CHECKPOINT" >/dev/null
}
# fresh DB: a copy of the template, the server settled.
fresh() { copy_of bench_tpl "$1" ${2:-} || die "copying the template failed"; settle; }
drop() { q -d postgres -c "DROP DATABASE $1" >/dev/null; }

copy_of bench_small small_run
PGDATABASE=small_run lethe -q run --as-of "$SMALL_AS_OF" >/dev/null || die "the small catalog's run failed"
for ((r = 1; r <= REPS; r++)); do
    note "repetition $r of $REPS"
    # Alternate which side goes first, so that neither always meets a warmer cache.
    for side in $(if [ $((r % 2)) = 1 ]; then echo lethe bare; else echo bare lethe; fi) floor shards ${BENCH_BEFORE:+before}; do
        fresh "rep_$side" $([ $side = before ] && echo raw)
        case $side in
            before) measure run_before env PGDATABASE=rep_before "$BENCH_BEFORE" --config "$(conf_of rep_before)" -q run --as-of "$AS_OF"
                    measure status_first_before env PGDATABASE=rep_before "$BENCH_BEFORE" --config "$(conf_of rep_before)" status ;;
            lethe)  lethe_cycle rep_lethe
                    settle
                    export_pair rep_lethe "$r" ;;
            bare)   baseline_cycle rep_bare ;;
            floor)  floor_cycle rep_floor ;;
            shards) shards rep_shards ;;
        esac
        if [ "$r" = 1 ] && [ "$side" != floor ]; then
            purged_ids "rep_$side" > "$WORK/purged.$side"
        fi
        if [ "$r" = 1 ] && [ "$side" = lethe ]; then
            EXPORT_LINES=$(wc -l < "$WORK/export.jsonl")
            EXPORT_BYTES=$(stat -c %s "$WORK/export.jsonl")
            COPY_BYTES=$(stat -c %s "$WORK/copy.jsonl")
            read -r RUN_PURGED RUN_HELD < <(q -F ' ' -d rep_lethe -c "SELECT purged, held FROM lethe.runs
                WHERE as_of = '$AS_OF' ORDER BY started_at LIMIT 1")
        fi
        drop "rep_$side"
    done
    q -d small_run -c "VACUUM ANALYZE" >/dev/null
    settle
    measure idle_small env PGDATABASE=small_run "$LETHE" --config "$(conf_of small_run)" -q run --as-of "$SMALL_AS_OF"
    if [ "$r" = 1 ]; then
        # Same data, same purge: the item sets must agree, or the comparison means nothing.
        cmp -s "$WORK/purged.lethe" "$WORK/purged.bare" || die "lethe and the bare SQL purged different items"
        cmp -s "$WORK/purged.lethe" "$WORK/purged.shards" || die "the two shards purged different items than one run"
        if [ -n "${BENCH_BEFORE:-}" ]; then
            cmp -s "$WORK/purged.lethe" "$WORK/purged.before" || die "lethe and the before binary purged different items"
        fi
    fi
done

# ---- the matrix (issue 14): every shape of work against its own floor ---------------------

# The steady catalog: the template after one full cycle at G (the DBA's audit table holds the
# same purges). Every shape below starts from a copy of it, adds what producers write for that
# shape (untimed), and is then timed at --as-of G against the bare SQL and the write floor.
note "matrix: building the steady catalog"
copy_of bench_tpl bench_steady raw || die "copying the template failed"
PGDATABASE=bench_steady builder -q run --as-of "$AS_OF" >/dev/null || die "the steady catalog's run failed"
# Status's memory as the cycle leaves it with lethe (its run takes it as it ends): a before binary
# whose run did not is given it by its own status, so that every shape below starts from the same
# state whichever binary built the catalog (untimed; with lethe's own run there is nothing to take).
PGDATABASE=bench_steady builder status >/dev/null || die "the steady catalog's status failed"
q -d bench_steady -c "INSERT INTO bench.audit_plain SELECT tenant_id, item_id, rule, triggered_at, deadline_at,
                          purged_at, purged_at <= deadline_at FROM lethe.batch_items b WHERE outcome = 'purged'
                          ON CONFLICT DO NOTHING" -c "VACUUM ANALYZE" >/dev/null || die "the steady catalog failed"

scaled() { awk -v n="$ITEMS" -v per="$1" -v lo="$2" 'BEGIN { v = int(n * per / 1000000); print (v < lo ? lo : v) }'; }
N_TENANTWIDE=$(scaled 100000 1000)   # fresh items in one tenant (ITEMS/10)
N_CAPACITY=$(scaled 500 10)          # tenants whose capacity is deleted (500 at 1M items, 15%)
N_SUBJECTS=$(scaled 10000 100)       # subject requests (10,000 at 1M items)
N_LINEAGE=$(scaled 10000 100)        # originals, each with five levels of copies (6 items)
N_HELD=$(scaled 45000 450)           # held due items (45k at 1M items)
N_INSERTS=$(scaled 200000 1000)      # producer inserts (ITEMS/5)

# shape_template NAME SQL: a copy of the steady catalog with SQL's work added and analyzed, and
# bench.due_list (the write floor's list) selected again.
shape_template() {
    copy_of bench_steady "tpl_$1" raw || die "copying the steady catalog failed"
    q -d "tpl_$1" -c "$2" -c "VACUUM ANALYZE" -c "DROP TABLE bench.due_list" \
      -c "CREATE TABLE bench.due_list AS SELECT * FROM bench.dba_due((SELECT g FROM bench.params))" \
      -c "ANALYZE bench.due_list" >/dev/null || die "setting up shape $1 failed"
    q -d "tpl_$1" -c "SELECT count(*) FROM bench.due_list" > "$WORK/due.$1"
}
# cycle_shape NAME REP: lethe run, the bare SQL and the write floor (and the before binary's
# run), each on a fresh copy.
cycle_shape() {
    local s=$1 r=$2 side
    for side in $(if [ $((r % 2)) = 1 ]; then echo lethe bare; else echo bare lethe; fi) floor ${BENCH_BEFORE:+before}; do
        copy_of "tpl_$s" "m_$side" $([ $side = before ] && echo raw) || die "copying shape $s failed"
        settle
        case $side in
            before) measure "${s}_before" env PGDATABASE=m_before "$BENCH_BEFORE" --config "$(conf_of m_before)" -q run --as-of "$AS_OF" ;;
            lethe) measure "${s}_run" env PGDATABASE=m_lethe "$LETHE" --config "$(conf_of m_lethe)" -q run --as-of "$AS_OF" ;;
            bare)  measure "${s}_bare" psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" -d m_bare -f "$HERE/purge.sql" ;;
            floor) measure "${s}_floor" psql -X -q -v ON_ERROR_STOP=1 -d m_floor -f "$HERE/floor.sql" ;;
        esac
        [ "$r" = 1 ] && [ "$side" != floor ] && purged_ids "m_$side" > "$WORK/purged.$s.$side"
        drop "m_$side"
    done
    if [ "$r" = 1 ]; then
        cmp -s "$WORK/purged.$s.lethe" "$WORK/purged.$s.bare" || die "shape $s: lethe and the bare SQL purged different items"
        if [ -n "${BENCH_BEFORE:-}" ]; then
            cmp -s "$WORK/purged.$s.lethe" "$WORK/purged.$s.before" || die "shape $s: lethe and the before binary purged different items"
        fi
    fi
}

# At 10M items every shape's catalog is a copy of the steady one (about 10 GB each): each is
# built when its shape is measured and dropped after it, so that no more than one is on disk.
AUDIT_ROWS=$(q -d bench_steady -c "SELECT count(*) FROM lethe.audit")
PURGED_ROWS=$(q -d bench_steady -c "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged'")
EXPLAIN_ITEM=$(q -F ' ' -d bench_steady -c "SELECT tenant_id, item_id FROM lethe.items WHERE parent_id IS NOT NULL
                                             ORDER BY item_id LIMIT 1")
set -- $EXPLAIN_ITEM; EXPLAIN_TENANT=$1; EXPLAIN_ID=$2

for s in tenantwide capacity subjects lineage; do
    note "matrix: shape $s"
    case $s in
        tenantwide) shape_template tenantwide "SELECT bench.shape_tenant_request($N_TENANTWIDE)" ;;
        capacity)   shape_template capacity "SELECT bench.shape_capacity($N_CAPACITY)" ;;
        subjects)   shape_template subjects "SELECT bench.shape_subjects($N_SUBJECTS)" ;;
        lineage)    shape_template lineage "SELECT bench.shape_lineage($N_LINEAGE)" ;;
    esac
    for ((r = 1; r <= REPS; r++)); do cycle_shape "$s" "$r"; done
    drop "tpl_$s"
done
note "matrix: the held items"
# The cycle shapes' catalogs kept the builder's schema; what lethe runs on from here is migrated.
if [ -n "${BENCH_BEFORE:-}" ]; then PGDATABASE=bench_steady lethe migrate >/dev/null || die "migrating the steady catalog failed"; fi
copy_of bench_steady tpl_held || die "copying the steady catalog failed"
q -d tpl_held -c "SELECT bench.shape_held($N_HELD)" >/dev/null || die "setting up the held shape failed"
PGDATABASE=tpl_held lethe -q run --as-of "$AS_OF" >/dev/null || die "the held shape's first run failed"
q -d tpl_held -c "VACUUM ANALYZE" >/dev/null
HELD_NOW=$(q -d tpl_held -c "SELECT count(*) FROM lethe.pending_items(now()) WHERE state = 'held'")  # item_status evaluates every item: 40+ min at 1M
for ((r = 1; r <= REPS; r++)); do
    settle
    measure held_idle env PGDATABASE=tpl_held "$LETHE" --config "$(conf_of tpl_held)" -q run --as-of "$AS_OF"
    grep -q " 0 due," "$WORK/out" || die "the held shape's idle run found work: $(cat "$WORK/out")"
done
drop tpl_held
note "matrix: export, summary, status, verify"
# The first summary after the cycle: measured once, apart from the later ones (the run took
# status's memory as it ended; the first status after the cycle, with the before binary too, is
# timed in the steady cycle's repetitions).
settle
measure summary_first env PGDATABASE=bench_steady "$LETHE" --config "$(conf_of bench_steady)" export --summary -o "$WORK/m-summary.txt"
for ((r = 1; r <= REPS; r++)); do
    # 7: export and --summary over the steady catalog's audit
    settle
    measure m_export env PGDATABASE=bench_steady "$LETHE" --config "$(conf_of bench_steady)" export -o "$WORK/m-export.jsonl"
    measure m_copy psql -X -q -v ON_ERROR_STOP=1 -d bench_steady -o "$WORK/m-copy.jsonl" \
        -c "COPY (SELECT lethe.audit_jsonl(a) FROM lethe.audit a ORDER BY a.tenant_id, a.seq) TO STDOUT"
    measure summary env PGDATABASE=bench_steady "$LETHE" --config "$(conf_of bench_steady)" export --summary -o "$WORK/m-summary.txt"
    if [ -n "${BENCH_BEFORE:-}" ]; then
        measure summary_before env PGDATABASE=bench_steady "$BENCH_BEFORE" --config "$(conf_of bench_steady)" export --summary -o "$WORK/m-summary-before.txt"
    fi
    measure groupby psql -X -q -v ON_ERROR_STOP=1 -d bench_steady -o "$WORK/m-groupby.txt" -f "$HERE/summary.sql"
    # 8: status, status --check and explain; the floors are one psql round trip and the item's row
    measure status env PGDATABASE=bench_steady "$LETHE" --config "$(conf_of bench_steady)" status
    OK_RC=4 measure status_check env PGDATABASE=bench_steady "$LETHE" --config "$(conf_of bench_steady)" status --check
    measure explain env PGDATABASE=bench_steady "$LETHE" --config "$(conf_of bench_steady)" explain "$EXPLAIN_ID" --tenant "$EXPLAIN_TENANT"
    measure psql_one psql -X -q -d bench_steady -c "SELECT 1"
    measure item_row psql -X -q -d bench_steady -c "SELECT * FROM lethe.item_status WHERE tenant_id = '$EXPLAIN_TENANT' AND item_id = '$EXPLAIN_ID'"
    # 9: verify against a Python script that chains SHA-256 over the same lines, and sha256sum
    measure m_verify "$LETHE" verify "$WORK/m-export.jsonl"
    [ -n "${BENCH_BEFORE:-}" ] && measure m_verify_before "$BENCH_BEFORE" verify "$WORK/m-export.jsonl"
    measure m_python python3 "$HERE/chain.py" "$WORK/m-export.jsonl"
    measure m_sha256sum sha256sum "$WORK/m-export.jsonl"
done
note "matrix: producer inserts"
copy_of bench_steady tpl_inserts || die "copying the steady catalog failed"
q -d tpl_inserts -c "SELECT bench.shape_tenant('inserts')" -c "VACUUM ANALYZE" >/dev/null || die "setting up inserts failed"
for ((r = 1; r <= REPS; r++)); do
    # 10: producer inserts with the engine's triggers, and with them disabled
    for side in $(if [ $((r % 2)) = 1 ]; then echo triggers plain; else echo plain triggers; fi); do
        copy_of tpl_inserts m_ins || die "copying the inserts shape failed"
        [ $side = plain ] && q -d m_ins -c "ALTER TABLE lethe.items DISABLE TRIGGER USER" >/dev/null
        settle
        measure "ins_$side" psql -X -q -v ON_ERROR_STOP=1 -d m_ins -c "SELECT bench.shape_items('inserts', 'a', $N_INSERTS)"
        drop m_ins
    done
done
drop tpl_inserts
M_EXPORT_LINES=$(wc -l < "$WORK/m-export.jsonl"); M_EXPORT_BYTES=$(stat -c %s "$WORK/m-export.jsonl")

# ---- where the full cycle's time goes: one more run, every statement logged ---------------

note "profiling one more full cycle"
fresh rep_profile
q -d postgres -c "ALTER DATABASE rep_profile SET log_min_duration_statement = 0" >/dev/null
LOG=$PG_DIR/server.log
from=$(($(wc -l < "$LOG") + 1))
t0=$(now_ms)
PGDATABASE=rep_profile lethe -q run --as-of "$AS_OF" >/dev/null || die "the profiled run failed"
PROFILE_MS=$(( $(now_ms) - t0 ))
tail -n +"$from" "$LOG" > "$WORK/profile.log"
q -d rep_profile -c "VACUUM ANALYZE" >/dev/null
settle
from=$(($(wc -l < "$LOG") + 1))
t0=$(now_ms)
PGDATABASE=rep_profile lethe -q run --as-of "$AS_OF" >/dev/null || die "the profiled idle run failed"
PROFILE_IDLE_MS=$(( $(now_ms) - t0 ))
tail -n +"$from" "$LOG" > "$WORK/profile-idle.log"
# The plan of the idle run's one statement that grows (the due items a hold blocks, re-checked).
q -d rep_profile -c "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM lethe.due_items('$AS_OF', 0, 0)" \
    > "$WORK/explain-idle-due-items.txt"
q -d postgres -c "DROP DATABASE rep_profile" >/dev/null

# ---- the table ----------------------------------------------------------------------------


RUN=$(med run); BARE=$(med bare); FLOOR=$(med floor); IDLE=$(med idle); IDLE_S=$(med idle_small); IDLE_U=$(med idle_unvacuumed)
EXPORT=$(med export); COPY=$(med copy); VERIFY=$(med verify); SHA=$(med sha256sum); SHARDS=$(med shards)
RSS_RUN=$(med run 3); RSS_IDLE=$(med idle 3); RSS_EXPORT=$(med export 3); RSS_VERIFY=$(med verify 3)
met() { awk -v v="$1" -v t="$2" -v d="$3" 'BEGIN { if ((d == "le" && v <= t) || (d == "ge" && v >= t)) print "met"; else print "not met" }'; }
r_run=$(awk -v a="$RUN" -v b="$BARE" 'BEGIN { print a / b }')
r_export=$(awk -v a="$EXPORT" -v b="$COPY" 'BEGIN { print a / b }')
r_shards=$(awk -v a="$RUN" -v b="$SHARDS" 'BEGIN { print a / b }')

# The matrix first: every shape's ratio to its own floor, then the absolute figures.
row() { # LABEL LETHE_KEY FLOOR_KEY TARGET
    local a b
    a=$(med "$2"); b=$(med "$3")
    printf '%-58s %-9s %-10s %-10s %-9s %s\n' "$1" "$(ratio "$a" "$b")" "$(secs "$a")" "$(secs "$b")" "$(mb "$(med "$2" 3)")" "$4"
}
lim() { awk -v a="$(med "$1")" -v b="$(med "$2")" -v t="$3" 'BEGIN { print (b > 0 && a / b <= t) ? "met" : "not met" }'; }
abs() { awk -v a="$(med "$1")" -v t="$2" 'BEGIN { print (a <= t) ? "met" : "not met" }'; }
echo
echo "lethe bench matrix: $TOTAL items, BENCH_ITEMS=$ITEMS, medians of $REPS repetitions (ratio = lethe / floor; RSS = lethe's peak);" \
     "huge pages reserved by the host: $(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo 2>/dev/null || echo unknown)"
printf '%-58s %-9s %-10s %-10s %-9s %s\n' "shape / floor" ratio lethe floor RSS target
row "1 steady hourly cycle / bare SQL" run bare "<= 2x ($(lim run bare 2))"
row "  / write floor" run floor "<= 2.5x ($(lim run floor 2.5))"
[ -n "${BENCH_BEFORE:-}" ] && row "  before: run / bare SQL" run_before bare "(before/after: $(ratio "$(med run_before)" "$(med run)"))"
row "2 tenant-wide request, $(cat "$WORK/due.tenantwide") fresh items / bare SQL" tenantwide_run tenantwide_bare "<= 2x ($(lim tenantwide_run tenantwide_bare 2))"
row "  / write floor" tenantwide_run tenantwide_floor ""
[ -n "${BENCH_BEFORE:-}" ] && row "  before: run / bare SQL" tenantwide_before tenantwide_bare "(before/after: $(ratio "$(med tenantwide_before)" "$(med tenantwide_run)"))"
row "3 capacity deleted, $N_CAPACITY tenants ($(cat "$WORK/due.capacity") items) / bare SQL" capacity_run capacity_bare "<= 2x ($(lim capacity_run capacity_bare 2))"
row "  / write floor" capacity_run capacity_floor ""
[ -n "${BENCH_BEFORE:-}" ] && row "  before: run / bare SQL" capacity_before capacity_bare "(before/after: $(ratio "$(med capacity_before)" "$(med capacity_run)"))"
row "4 $N_SUBJECTS subject requests ($(cat "$WORK/due.subjects") items) / bare SQL" subjects_run subjects_bare "<= 2x ($(lim subjects_run subjects_bare 2))"
row "  / write floor" subjects_run subjects_floor ""
[ -n "${BENCH_BEFORE:-}" ] && row "  before: run / bare SQL" subjects_before subjects_bare "(before/after: $(ratio "$(med subjects_before)" "$(med subjects_run)"))"
row "5 lineage 5 deep, $(cat "$WORK/due.lineage") items / bare SQL" lineage_run lineage_bare "<= 2x ($(lim lineage_run lineage_bare 2))"
row "  / write floor" lineage_run lineage_floor ""
[ -n "${BENCH_BEFORE:-}" ] && row "  before: run / bare SQL" lineage_before lineage_bare "(before/after: $(ratio "$(med lineage_before)" "$(med lineage_run)"))"
row "6 idle run, $HELD_NOW held due items / 10k catalog" held_idle idle_small "< 100 ms ($(abs held_idle 100)), flat"
row "7 export, $M_EXPORT_LINES records / COPY" m_export m_copy "<= 1.5x ($(lim m_export m_copy 1.5))"
row "  export --summary / GROUP BY of the audit" summary groupby "<= 2x ($(lim summary groupby 2))"
row "  the first --summary after the cycle / GROUP BY" summary_first groupby "<= 2x ($(lim summary_first groupby 2)), one sample"
row "8 status / psql SELECT 1" status psql_one "< 100 ms ($(abs status 100))"
row "  status --check / psql SELECT 1" status_check psql_one "< 100 ms ($(abs status_check 100))"
row "  the first status after the cycle / psql SELECT 1" status_first psql_one "< 100 ms ($(abs status_first 100))"
[ -n "${BENCH_BEFORE:-}" ] && row "  before: the first status after the cycle" status_first_before psql_one ""
row "  explain / psql: its item_status row" explain item_row "< 100 ms ($(abs explain 100))"
row "9 verify / Python chained SHA-256" m_verify m_python "<= 1x ($(lim m_verify m_python 1))"
row "  verify / sha256sum" m_verify m_sha256sum "(floor)"
if [ -n "${BENCH_BEFORE:-}" ]; then
    row "  before: export --summary / GROUP BY ($BENCH_BEFORE)" summary_before groupby ""
    row "  before: verify / Python chained SHA-256" m_verify_before m_python ""
fi
row "10 $N_INSERTS producer inserts / without triggers" ins_triggers ins_plain "<= 1.3x ($(lim ins_triggers ins_plain 1.3))"
echo "  shapes 2-5 and 10 each run on a fresh copy of the steady catalog (the template after one full"
echo "  cycle) with that shape's work added; 6-9 on the steady catalog itself ($AUDIT_ROWS audit rows, $PURGED_ROWS purges)."
echo "  bare SQL = bench.dba_due + audit + tombstone in one statement (purge.sql); write floor = the"
echo "  audit INSERT and tombstone of the due list selected beforehand (floor.sql); the items each"
echo "  shape purges are checked to be the same for lethe and the bare SQL."

cat <<EOF

lethe bench: $TOTAL items ($LIVE live) in $TENANTS tenants, 4 geos, $EVENTS events, $HOLDS holds
  due at as_of $AS_OF: $DUE items ($(awk -v d="$DUE" -v n="$TOTAL" 'BEGIN { printf "%.1f%%", 100 * d / n }')), purged by the run: $RUN_PURGED, held: $RUN_HELD
  $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); $(q -d postgres -c "SELECT split_part(version(), ' on ', 1)"), fsync $(q -d postgres -c "SHOW fsync"), shared_buffers $(q -d postgres -c "SHOW shared_buffers")
  medians of $REPS repetitions, each on a fresh copy of the same catalog

measure                                         ratio     lethe        baseline     target
full cycle / bare SQL (select+audit+tombstone)  $(printf '%-9s %-12s %-12s %s' "$(ratio "$RUN" "$BARE")" "$(secs "$RUN")" "$(secs "$BARE")" "<= 1.25x ($(met "$r_run" 1.25 le))")
full cycle / write floor (audit+tombstone)      $(printf '%-9s %-12s %-12s %s' "$(ratio "$RUN" "$FLOOR")" "$(secs "$RUN")" "$(secs "$FLOOR")" "(floor: the due list given)")
idle run right after the cycle, unvacuumed      $(printf '%-9s %-12s %-12s %s' "$(ratio "$IDLE_U" "$IDLE_S")" "$(secs "$IDLE_U")" "$(secs "$IDLE_S")" "(before autovacuum)")
idle run: this catalog / the small one          $(printf '%-9s %-12s %-12s %s' "$(ratio "$IDLE" "$IDLE_S")" "$(secs "$IDLE")" "$(secs "$IDLE_S")" "< 100 ms ($(met "$IDLE" 100 le)), flat")
export / COPY of the same records               $(printf '%-9s %-12s %-12s %s' "$(ratio "$EXPORT" "$COPY")" "$(secs "$EXPORT")" "$(secs "$COPY")" "<= 1.5x ($(met "$r_export" 1.5 le))")
verify / sha256sum of the export                $(printf '%-9s %-12s %-12s %s' "$(ratio "$VERIFY" "$SHA")" "$(secs "$VERIFY")" "$(secs "$SHA")" "(floor)")
two shards in parallel: throughput / one run    $(printf '%-9s %-12s %-12s %s' "$(ratio "$RUN" "$SHARDS")" "$(secs "$SHARDS")" "$(secs "$RUN")" ">= 1.3x ($(met "$r_shards" 1.3 ge))")

small catalog: $(q -d bench_small -c "SELECT count(*) FROM lethe.items") items; idle runs have nothing new and nothing due; they run after
  VACUUM ANALYZE (as after autovacuum), except the unvacuumed one; the held items are re-checked
peak RSS of lethe: run $(mb "$RSS_RUN"), idle run $(mb "$RSS_IDLE"), export $(mb "$RSS_EXPORT"), verify $(mb "$RSS_VERIFY")
export: $EXPORT_LINES records, $EXPORT_BYTES bytes (the COPY: $COPY_BYTES bytes)
template: built in $(secs "$(cat "$WORK/build-bench_tpl.ms")"), of which the priming run (the first run over the whole catalog) $(secs "$(cat "$WORK/prime-bench_tpl.ms")")

baselines: bare SQL = bench.dba_due() (tests/bench/baseline.sql: every event re-read, lineage,
  holds; no state but its own audit table) + one plain audit row per due item + the tombstone
  UPDATE, in one statement (tests/bench/purge.sql). Write floor = the same audit INSERT and
  tombstone UPDATE of a given list of the due items (tests/bench/floor.sql). Both run through
  psql, which pays a process start and a connection as lethe does.
EOF

echo
echo "where the profiled full cycle's time goes ($(secs "$PROFILE_MS") wall; server statements by phase, client time from the gaps between them):"
python3 "$HERE/phases.py" "$WORK/profile.log" "$PROFILE_MS"
echo
echo "where the profiled idle run's time goes ($(secs "$PROFILE_IDLE_MS") wall):"
python3 "$HERE/phases.py" "$WORK/profile-idle.log" "$PROFILE_IDLE_MS"

# ---- Citus next to one server (citus.sh: servers of its own; one line when Citus is absent) ---

pg_stop   # this bench's server is done; it does not run beside the Citus section's four
echo
if [ "${BENCH_CITUS:-1}" = 0 ]; then echo "bench: BENCH_CITUS=0: no Citus section"; exit 0; fi
bash "$HERE/citus.sh" || die "the Citus section failed"
