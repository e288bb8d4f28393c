#!/bin/bash
# make bench's Citus section: the same catalog on a Citus cluster and on one server, the same
# work timed on both in one run. Called by bench.sh at its end, or alone with
# BENCH_CITUS_ONLY=1 make bench (or LETHE=build/bin/lethe tests/bench/citus.sh). Prints one
# table: medians over BENCH_REPS repetitions, ratio = Citus / one server first, absolute
# figures second. Asserts nothing about speed. When the citus extension is not installed for
# PostgreSQL 15 it says so in one line and exits 0.
#
#   BENCH_CITUS_ITEMS=100000 catalog size on both sides
#   BENCH_REPS=3             repetitions of every measurement (median reported)
#   BENCH_KEEP=1             keep the work directory (server logs, manifests, outputs)
#
# Four servers of its own (PostgreSQL 15, initdb as user postgres, sockets in a temp dir under
# /tmp, loopback): a Citus coordinator and two workers, and one plain server; all four with the
# settings bench.sh gives its server (fsync on), shared_buffers 1GB each. On Citus a database is
# made a Citus database before `lethe migrate` (the extension on every node, the coordinator's
# host set, the workers added), as tests/harness/citus-lethe.sh does; migrate then lays the
# schema out distributed. Then the catalog is written through the coordinator.
#
# The catalog is generate.sql's (README.md beside this file), with one change: Citus refuses
# SQL functions that read or write its tables with parameters ("could not create distributed
# plan ... use of parameters in SQL functions"), so its six generating functions are loaded as
# PL/pgSQL (the same statements between BEGIN and END), on both sides. Both sides get the same
# catalog at the same G, primed by one lethe run at P = G - 1 day, then phase B; that state is
# the template of every measurement, which runs on a fresh copy of it (on Citus: a copy of the
# database on each of the three nodes, the template closed to connections first, since Citus's
# maintenance daemon keeps one open).
#
# Measured, each on its own copy, the two sides in alternating order:
#   cycle      `lethe run --as-of G` with the executor ack-all.sh (bench.sh's lethe_cycle)
#   idle run   `lethe run --as-of G` right after it (nothing new, nothing due)
#   inserts    what producers write: 20,000 new items in one INSERT ... SELECT, and 1,000 items
#              as 1,000 single-row INSERTs (autocommit) in one psql session, spread over the
#              catalog's tenants; through the coordinator on Citus. On Citus the one statement
#              is also timed in a session with citus.max_adaptive_executor_pool_size = 1 (one
#              connection per worker), after the others on the same copy
# In the first repetition the two sides must purge exactly the same items.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/harness/pg.sh
. tests/harness/pg.sh

if [ ! -f "$("$PG_BIN/pg_config" --sharedir 2>/dev/null)/extension/citus.control" ] ||
   [ ! -f "$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null)/citus.so" ]; then
    echo "bench: the citus extension is not installed for PostgreSQL 15; no Citus section"
    exit 0
fi

ITEMS=${BENCH_CITUS_ITEMS:-100000}
REPS=${BENCH_REPS:-3}
N_BULK=20000
N_SINGLE=1000
HERE=$PWD/tests/bench
BENCH_NAME="bench citus"
. tests/bench/measure.sh

if [ -z "${LETHE:-}" ]; then
    LETHE=$PWD/build/bin/lethe
    [ -x "$LETHE" ] || make -s || die "building lethe failed"
fi
[ -x "$LETHE" ] || die "no lethe binary at $LETHE"

WORK=$(mktemp -d /tmp/lethe-bench-citus.XXXXXX)
chmod 0755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
NODES="coord w1 w2 plain"
cleanup() {
    local n
    for n in $NODES; do
        [ -f "$WORK/$n/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$WORK/$n" -m immediate stop >/dev/null 2>&1
    done
    if [ -n "${BENCH_KEEP:-}" ]; then note "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# One binary for the whole section: build/bin/lethe may be rebuilt while this runs.
install -m 0755 "$LETHE" "$WORK/lethe"
LETHE=$WORK/lethe

# ---- the servers ---------------------------------------------------------------------------

# The settings bench.sh gives its server, on every node; the workers plan the coordinator's
# tasks with their own jit setting, so it is off there (README, "Outgrowing one server").
SETTINGS=(-c fsync=on -c shared_buffers=1GB -c max_connections=120 -c max_worker_processes=256
    -c work_mem=64MB -c maintenance_work_mem=1GB -c effective_cache_size=16GB -c random_page_cost=1.1
    -c max_wal_size=16GB -c checkpoint_timeout=30min)
for n in $NODES; do
    as_pg "$PG_BIN/initdb" -D "$WORK/$n" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$WORK/$n.initdb.log" 2>&1 || { cat "$WORK/$n.initdb.log" >&2; die "initdb $n failed"; }
    port=$(pg_free_port)
    echo "$port" > "$WORK/$n.port"
    extra=
    case $n in
        coord) extra="-c shared_preload_libraries=citus" ;;
        w1|w2) extra="-c shared_preload_libraries=citus -c jit=off" ;;
    esac
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/$n" -l "$WORK/$n.log" -w -t 60 \
        -o "-k $WORK -p $port -c listen_addresses=127.0.0.1 ${SETTINGS[*]} $extra" \
        start >/dev/null || { cat "$WORK/$n.log" >&2; die "starting $n failed"; }
done
C_PORT=$(cat "$WORK/coord.port"); P_PORT=$(cat "$WORK/plain.port")
W_PORTS="$(cat "$WORK/w1.port") $(cat "$WORK/w2.port")"
export PGHOST=$WORK PGUSER=postgres
unset PGDATABASE PGPORT
note "Citus coordinator on 127.0.0.1:$C_PORT, workers on ${W_PORTS// /, }; one server on $P_PORT"

port_of() { case $1 in citus) echo "$C_PORT" ;; plain) echo "$P_PORT" ;; esac; }
# on_nodes SIDE: the ports of every node that holds a side's databases (workers first).
on_nodes() { case $1 in citus) echo "$W_PORTS $C_PORT" ;; plain) echo "$P_PORT" ;; esac; }

head -c 32 /dev/urandom > "$WORK/audit.key"
chmod 0600 "$WORK/audit.key"
# conf_of DB: the config with an anchor file of DB's own (as in bench.sh).
conf_of() {
    local c=$WORK/lethe-$1.conf
    [ -f "$c" ] || cat > "$c" <<EOF
spool:    { directory = "$WORK/spool"; keep = "7d"; };
executor: { command = "$HERE/ack-all.sh"; timeout = "15m"; };
audit:    { key_file = "$WORK/audit.key"; anchor_file = "$WORK/anchors-$1.jsonl"; };
EOF
    echo "$c"
}
# lethe SIDE DB ARGS...: lethe on SIDE's database DB, never without --config.
lethe() { PGPORT=$(port_of "$1") PGDATABASE=$2 "$LETHE" --config "$(conf_of "$2")" "${@:3}"; }

# generate.sql with its six generating functions in PL/pgSQL (see the header).
GEN=$WORK/generate.sql
sed -e 's/RETURNS void LANGUAGE sql AS \$\$$/RETURNS void LANGUAGE plpgsql AS $$ BEGIN/' \
    -e 's/^\$\$;$/END $$;/' "$HERE/generate.sql" > "$GEN"
if [ "$(grep -c 'LANGUAGE plpgsql AS \$\$ BEGIN$' "$GEN")" != 6 ] || [ "$(grep -c '^END \$\$;$' "$GEN")" != 6 ]; then
    die "generate.sql no longer has the six generating functions this script converts"
fi

# ---- the catalogs --------------------------------------------------------------------------

# new_db SIDE DB: an empty database; on Citus made a Citus database (citus-lethe.sh's steps).
new_db() {
    local p
    for p in $(on_nodes "$1"); do
        q -p "$p" -d postgres -c "CREATE DATABASE $2" >/dev/null || return 1
    done
    [ "$1" = plain ] && return 0
    for p in $W_PORTS; do q -p "$p" -d "$2" -c "CREATE EXTENSION citus" >/dev/null || return 1; done
    q -p "$C_PORT" -d "$2" -c "CREATE EXTENSION citus" \
        -c "SELECT citus_set_coordinator_host('127.0.0.1', $C_PORT)" >/dev/null || return 1
    for p in $W_PORTS; do q -p "$C_PORT" -d "$2" -c "SELECT citus_add_node('127.0.0.1', $p)" >/dev/null || return 1; done
}

# build SIDE DB: generate.sql's catalog of ITEMS items at G, primed by one run at P, plus phase B
# (bench.sh's build_template, without the bare SQL's tables). Times in $WORK/{build,prime}-SIDE.ms.
build() {
    local side=$1 db=$2 p t0 t1 o n=$ITEMS half lo hi chunk=500000 range from to
    p=$(port_of "$side")
    t0=$(now_ms)
    new_db "$side" "$db" || return 1
    lethe "$side" "$db" migrate > "$WORK/migrate-$side.out" 2>&1 || { cat "$WORK/migrate-$side.out" >&2; return 1; }
    q -p "$p" -d "$db" -f "$GEN" >/dev/null || return 1
    q -p "$p" -d "$db" -c "SELECT bench.setup($n, '$G')" >/dev/null || return 1
    o=$(q -p "$p" -d "$db" -c "SELECT originals FROM bench.params")
    half=$(( o + (n - o) / 2 ))
    for ((lo = 0; lo < o; lo += chunk)); do
        hi=$(( lo + chunk < o ? lo + chunk : o ))
        q -p "$p" -d "$db" -c "SET synchronous_commit = off" -c "SELECT bench.originals($lo, $hi)" >/dev/null || return 1
    done
    for range in "$o $half" "$half $n"; do
        read -r from to <<< "$range"
        for ((lo = from; lo < to; lo += chunk)); do
            hi=$(( lo + chunk < to ? lo + chunk : to ))
            q -p "$p" -d "$db" -c "SET synchronous_commit = off" -c "SELECT bench.copies($lo, $hi)" >/dev/null || return 1
        done
    done
    q -p "$p" -d "$db" -c "SELECT bench.history()" -c "VACUUM ANALYZE" >/dev/null || return 1
    t1=$(now_ms)
    lethe "$side" "$db" -q run --as-of "$(q -p "$p" -d "$db" -c "SELECT lethe.iso_utc(p) FROM bench.params")" \
        > "$WORK/prime-$side.out" 2>&1 || { cat "$WORK/prime-$side.out" >&2; return 1; }
    echo "$(( $(now_ms) - t1 ))" > "$WORK/prime-$side.ms"
    q -p "$p" -d "$db" -c "SELECT bench.recent_events()" -c "SELECT bench.recent_items()" \
        -c "VACUUM ANALYZE" >/dev/null || return 1
    echo "$(( $(now_ms) - t0 ))" > "$WORK/build-$side.ms"
    q -p "$p" -d "$db" -F ' ' -c "SELECT (SELECT count(*) FROM lethe.items),
        (SELECT count(*) FROM lethe.items WHERE locator IS NOT NULL), (SELECT count(*) FROM lethe.tenants),
        (SELECT count(*) FROM lethe.events), (SELECT count(*) FROM lethe.holds),
        (SELECT max(version) FROM lethe.schema_migrations), (SELECT lethe.iso_utc(g) FROM bench.params)" \
        > "$WORK/sizes.$side" || return 1
}
# close SIDE DB: the template of every copy is closed to connections (Citus's maintenance
# daemon keeps one open on every node, and CREATE DATABASE ... TEMPLATE needs none).
close() {
    local x
    for x in $(on_nodes "$1"); do
        # (a connection that ends by itself meanwhile is only worth a warning: not shown)
        q -p "$x" -d postgres -c "SET client_min_messages = error" -c "ALTER DATABASE $2 WITH ALLOW_CONNECTIONS false" \
            -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$2'" >/dev/null || return 1
    done
}

# copy_of SIDE TEMPLATE DB: a fresh copy of the template (on Citus, on every node).
copy_of() {
    local x i
    for x in $(on_nodes "$1"); do
        for ((i = 0; i < 50; i++)); do   # a backend being terminated may linger a moment
            q -p "$x" -d postgres -c "CREATE DATABASE $3 TEMPLATE $2 STRATEGY FILE_COPY" >/dev/null 2>"$WORK/copy.err" && break
            grep -q 'being accessed by other users' "$WORK/copy.err" || { cat "$WORK/copy.err" >&2; return 1; }
            sleep 0.2
        done
        [ "$i" -lt 50 ] || { cat "$WORK/copy.err" >&2; return 1; }
    done
    rm -f "$WORK/anchors-$3.jsonl"  # a fresh copy: the anchors of the one before are not its own
}
drop() {
    local x
    for x in $(on_nodes "$1"); do q -p "$x" -d postgres -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null; done
}
# settle: nothing left over from the previous measurement (autovacuum, dirty buffers) runs into
# the next one, on any of the four servers.
settle() {
    local n x i
    for n in $NODES; do
        x=$(cat "$WORK/$n.port")
        for ((i = 0; i < 600; i++)); do
            [ "$(q -p "$x" -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" = 0 ] && break
            sleep 0.1
        done
        q -p "$x" -d postgres -c "CHECKPOINT" >/dev/null
    done
}

G=$(q -p "$P_PORT" -d postgres -c "SELECT date_trunc('second', now())")
note "building the catalog of $ITEMS items on Citus"
build citus c_tpl || die "building the catalog on Citus failed"
note "building the same catalog on one server"
build plain p_tpl || die "building the catalog on one server failed"
cmp -s "$WORK/sizes.citus" "$WORK/sizes.plain" ||
    die "the two catalogs differ: Citus $(cat "$WORK/sizes.citus"), one server $(cat "$WORK/sizes.plain")"
read -r TOTAL LIVE TENANTS EVENTS HOLDS SCHEMA AS_OF < "$WORK/sizes.plain"
TENANTS_N=$TENANTS

# The producers' statements: new originals spread over the catalog's tenants, each in its
# tenant's first workspace and that workspace's geo (as generate.sql's new items).
cat > "$WORK/bulk.sql" <<EOF
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                         shared, parent_id, created_at, bytes)
SELECT md5('tenant/' || i % $TENANTS_N)::uuid, md5('bench-bulk/' || i)::uuid,
       md5('workspace/' || i % $TENANTS_N || '/0')::uuid, 'user' || i % 20 || '@tenant' || i % $TENANTS_N,
       CASE WHEN i % 2 = 0 THEN 'prompt' ELSE 'response' END, bench.geo(bench.h(i % $TENANTS_N * 4, 2)),
       'store://new/bulk/' || i, false, NULL, '$AS_OF'::timestamptz - interval '30 minutes', 1000
  FROM generate_series(1, $N_BULK) i;
EOF
# The same statement (other ids) in a session that lets Citus's executor open one connection
# per worker instead of up to citus.max_adaptive_executor_pool_size (16): a statement that
# writes every shard otherwise opens connections to the workers anew, whatever its size.
{ echo "SET citus.max_adaptive_executor_pool_size = 1;"; sed 's|bench-bulk/|bench-bulk-pool1/|; s|store://new/bulk/|store://new/bulk-pool1/|' "$WORK/bulk.sql"; } > "$WORK/bulk-pool1.sql"
q -p "$P_PORT" -d p_tpl -c "SELECT format('INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, '
        'location, locator, shared, parent_id, created_at, bytes) VALUES (%L, %L, %L, %L, %L, %L, %L, false, NULL, %L, 1000);',
        bench.tenant(i % $TENANTS_N), md5('bench-single/' || i)::uuid, bench.workspace(i % $TENANTS_N, 0),
        'user' || i % 20 || '@tenant' || i % $TENANTS_N, CASE WHEN i % 2 = 0 THEN 'prompt' ELSE 'response' END,
        bench.geo(bench.h(i % $TENANTS_N * 4, 2)), 'store://new/single/' || i,
        '$AS_OF'::timestamptz - interval '30 minutes')
      FROM generate_series(1, $N_SINGLE) i" > "$WORK/single.sql" || die "writing the single-row INSERTs failed"
[ "$(grep -c '^INSERT INTO' "$WORK/single.sql")" = "$N_SINGLE" ] || die "the single-row INSERTs are not $N_SINGLE"
close citus c_tpl || die "closing the Citus template failed"
close plain p_tpl || die "closing the one-server template failed"

# ---- measurements --------------------------------------------------------------------------

RES=$WORK/results.tsv
: > "$RES"
run_line() { sed -E 's/^run [0-9a-f-]+ succeeded: as_of [^,]*, //; s/^run [0-9a-f-]+ //; s/, [0-9.]+s$//' "$WORK/out"; }

for ((r = 1; r <= REPS; r++)); do
    note "repetition $r of $REPS"
    for side in $(if [ $((r % 2)) = 1 ]; then echo citus plain; else echo plain citus; fi); do
        db=${side:0:1}_rep
        copy_of "$side" "${side:0:1}_tpl" "$db" || die "copying the $side template failed"
        p=$(port_of "$side")
        settle
        measure "${side}_run" env PGPORT="$p" PGDATABASE="$db" "$LETHE" --config "$(conf_of "$db")" -q run --as-of "$AS_OF"
        [ "$r" = 1 ] && run_line > "$WORK/run.$side"
        settle
        measure "${side}_idle" env PGPORT="$p" PGDATABASE="$db" "$LETHE" --config "$(conf_of "$db")" -q run --as-of "$AS_OF"
        grep -q " 0 due," "$WORK/out" || die "the idle run on $side found work: $(cat "$WORK/out")"
        if [ "$r" = 1 ]; then
            q -p "$p" -d "$db" -c "SELECT tenant_id, item_id FROM lethe.items WHERE locator IS NULL ORDER BY 1, 2" \
                > "$WORK/purged.$side" || die "listing the purged items on $side failed"
            q -p "$p" -d "$db" -F ' ' -c "SELECT purged, held FROM lethe.runs WHERE as_of = '$AS_OF'
                ORDER BY started_at LIMIT 1" > "$WORK/counts.$side"
        fi
        settle
        measure "${side}_bulk" psql -X -q -v ON_ERROR_STOP=1 -p "$p" -d "$db" -f "$WORK/bulk.sql"
        settle
        measure "${side}_single" psql -X -q -v ON_ERROR_STOP=1 -p "$p" -d "$db" -f "$WORK/single.sql"
        extra=0
        if [ "$side" = citus ]; then
            settle
            measure citus_bulk_pool1 psql -X -q -v ON_ERROR_STOP=1 -p "$p" -d "$db" -f "$WORK/bulk-pool1.sql"
            extra=$N_BULK
        fi
        [ "$(q -p "$p" -d "$db" -c "SELECT count(*) FROM lethe.items")" = $((TOTAL + N_BULK + N_SINGLE + extra)) ] ||
            die "the inserts on $side did not write every item"
        drop "$side" "$db"
    done
    if [ "$r" = 1 ]; then
        # Same data, same purge: the item sets must agree, or the comparison means nothing.
        cmp -s "$WORK/purged.citus" "$WORK/purged.plain" ||
            die "Citus and one server purged different items ($(wc -l < "$WORK/purged.citus") and $(wc -l < "$WORK/purged.plain"))"
        cmp -s "$WORK/run.citus" "$WORK/run.plain" ||
            die "the cycle's summary differs: Citus '$(cat "$WORK/run.citus")', one server '$(cat "$WORK/run.plain")'"
    fi
done

# ---- the table -----------------------------------------------------------------------------

lim() { awk -v a="$(med "$1")" -v b="$(med "$2")" -v t="$3" 'BEGIN { print (b > 0 && a / b <= t) ? "met" : "not met" }'; }
row() { # LABEL KEY TARGET: Citus / one server
    local a b
    a=$(med "citus_$2"); b=$(med "plain_$2")
    printf '%-54s %-9s %-10s %-10s %s\n' "$1" "$(ratio "$a" "$b")" "$(secs "$a")" "$(secs "$b")" "$3"
}
read -r PURGED HELD < "$WORK/counts.plain"
CITUS_VERSION=$(q -p "$C_PORT" -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'citus'")
echo
echo "lethe bench on Citus: $TOTAL items ($LIVE live) in $TENANTS tenants, $EVENTS events, $HOLDS holds, BENCH_CITUS_ITEMS=$ITEMS;" \
     "medians of $REPS repetitions (ratio = Citus / one server)"
printf '%-54s %-9s %-10s %-10s %s\n' "measure" ratio Citus "one server" target
row "steady hourly cycle (lethe run, executor ack-all.sh)" run "-"
row "idle run right after it (nothing due)" idle "-"
row "producer inserts: $N_BULK items, one INSERT ... SELECT" bulk "<= 3x ($(lim citus_bulk plain_bulk 3))"
printf '%-54s %-9s %-10s %-10s %s\n' "  the same, SET citus.max_adaptive_executor_pool_size=1" \
    "$(ratio "$(med citus_bulk_pool1)" "$(med plain_bulk)")" "$(secs "$(med citus_bulk_pool1)")" "$(secs "$(med plain_bulk)")" \
    "<= 3x ($(lim citus_bulk_pool1 plain_bulk 3))"
row "producer inserts: $N_SINGLE single-row INSERTs" single "<= 3x ($(lim citus_single plain_single 3))"
cat <<EOF
  peak RSS of lethe: cycle $(mb "$(med citus_run 3)") on Citus, $(mb "$(med plain_run 3)") on one server; idle run $(mb "$(med citus_idle 3)") and $(mb "$(med plain_idle 3)")
  the cycle at as_of $AS_OF, the same on both: $(cat "$WORK/run.plain")
    (the same $PURGED items purged on both; $HELD held)
  Citus $CITUS_VERSION: a coordinator and two workers, $(q -p "$C_PORT" -d postgres -c "SELECT split_part(version(), ' on ', 1)"), loopback, one machine ($(nproc) cores);
    schema version $SCHEMA, laid out by lethe migrate$(sed -n 's/.*warning: migrate: on this Citus layout \(.*\)/, which warns: \1/p' "$WORK/migrate-citus.out" | head -1)
  one server: the same settings (fsync on, shared_buffers 1GB each); every measurement on a fresh copy of the same catalog
  templates built in $(secs "$(cat "$WORK/build-citus.ms")") on Citus and $(secs "$(cat "$WORK/build-plain.ms")") on one server,
    of which the priming run (the first run over the whole catalog) $(secs "$(cat "$WORK/prime-citus.ms")") and $(secs "$(cat "$WORK/prime-plain.ms")")
  inserts: new originals spread over the $TENANTS tenants, through the coordinator on Citus; the single-row
    INSERTs each commit on their own (psql, autocommit); the session with one connection per worker
    ran after the others, on the same copy (so into a catalog $((N_BULK + N_SINGLE)) items larger)
EOF
