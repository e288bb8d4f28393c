# make check-citus only: one catalog, written by plain SQL as producers would, into a database
# laid out on Citus and into a plain PostgreSQL database (on the coordinator, without the
# extension); the same runs at the same --as-of on both; then item states, batches and audit
# must be the same (ids and instants the runs choose are left out, everything else compared).
. tests/harness/lib.sh
. tests/harness/compare-catalog.sh
WORK=$(mktemp -d /tmp/lethe-citus-compare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
REAL=$(dirname "$LETHE")/lethe.real
for db in compare_citus compare_plain; do   # each its own spool and anchor file
    mkdir -p "$WORK/$db"
    printf 'spool: { directory = "%s/%s/spool"; keep = "7d"; };\naudit: { anchor_file = "%s/%s/anchors.jsonl"; };\n' \
        "$WORK" $db "$WORK" $db > "$WORK/$db.conf"
done
DAY=$(date -u -d '-2 days' +%F)

psql -X -q -c 'DROP DATABASE IF EXISTS compare_citus' -c 'DROP DATABASE IF EXISTS compare_plain' \
    -c 'CREATE DATABASE compare_citus' -c 'CREATE DATABASE compare_plain' 2>/dev/null
PGDATABASE=compare_citus "$LETHE" migrate >/dev/null 2>&1
PGDATABASE=compare_plain "$REAL" migrate >/dev/null 2>&1
assert_eq "compare_citus is laid out on Citus" "24" \
    "$(PGDATABASE=compare_citus sql "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'lethe.%'")"
assert_eq "compare_plain is plain PostgreSQL" "0" \
    "$(PGDATABASE=compare_plain sql "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")"
# --shard K/N along Citus's placement (sql/0027_shard_placement.sql): lethe's tables have 32
# shards, a tenant's bucket is the shard Citus puts it in, and a shard K/2 (two workers) is the
# shards worker K was given.
placement() {
    PGDATABASE=compare_citus sql "WITH s AS (
        SELECT d.shardid, row_number() OVER (ORDER BY d.shardminvalue::int) - 1 AS idx, n.nodeport
          FROM pg_dist_shard d JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
         WHERE d.logicalrelid = 'lethe.tenants'::regclass),
      t AS (SELECT gen_random_uuid() AS tenant_id FROM generate_series(1, 1000)),
      x AS (SELECT t.tenant_id, s.idx, s.nodeport FROM t
              JOIN s ON s.shardid = get_shard_id_for_distribution_column('lethe.tenants', t.tenant_id))
    $1"
}
assert_eq "Citus: lethe's tables have 32 shards" "32" \
    "$(PGDATABASE=compare_citus sql "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'lethe.tenants'::regclass")"
assert_eq "Citus: 1,000 tenants' buckets are their Citus shards" "0" \
    "$(placement "SELECT count(*) FROM x WHERE lethe.shard_of(x.tenant_id, 32) <> x.idx")"
assert_eq "Citus: shard K/2 is worker K's shards" "2 2" \
    "$(placement "SELECT count(DISTINCT (lethe.shard_of(x.tenant_id, 2), x.nodeport)) || ' '
                         || count(DISTINCT x.nodeport) FROM x")"
for db in compare_citus compare_plain; do
    catalog $db >"$WORK/$db.catalog" 2>&1
    sequence $db "$WORK/$db.conf" "$WORK/$db" "$REAL"
    states $db >"$WORK/$db.states" 2>&1
done
for f in catalog run1 ack run2 status summary explain; do
    assert_eq "$f: the same output on Citus as on one server" "$(norm "$WORK/compare_plain.$f")" \
        "$(norm "$WORK/compare_citus.$f")"
done
assert_eq "the plain run found due items" "yes" "$(grep -q '|due|\||in_flight|' "$WORK/compare_plain.states" && echo yes || echo no)"
if diff "$WORK/compare_plain.states" "$WORK/compare_citus.states" >"$WORK/diff"; then
    ok "item states, batches and audit are the same on Citus as on one server"
else
    not_ok "item states, batches and audit are the same on Citus as on one server" "$(head -20 "$WORK/diff")"
fi
finish
