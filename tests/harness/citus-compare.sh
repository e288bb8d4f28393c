# make check-citus only: one catalog, written by plain SQL as producers would, into a database
# laid out on Citus and into a plain PostgreSQL database (on the coordinator, without the
# extension); the same runs at the same --as-of on both; then item states, batches and audit
# must be the same (ids and instants the runs choose are left out, everything else compared).
. tests/harness/lib.sh
WORK=$(mktemp -d /tmp/lethe-citus-compare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
REAL=$(dirname "$LETHE")/lethe.real
for db in compare_citus compare_plain; do   # each its own spool and anchor file
    mkdir -p "$WORK/$db"
    printf 'spool: { directory = "%s/%s/spool"; keep = "7d"; };\naudit: { anchor_file = "%s/%s/anchors.jsonl"; };\n' \
        "$WORK" $db "$WORK" $db > "$WORK/$db.conf"
done
DAY=$(date -u -d '-2 days' +%F)

catalog() { # DB: 6 tenants, each with 2 workspaces, 40 items (some copies), events and a hold
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<SQL
INSERT INTO lethe.tenants (tenant_id, name)
SELECT md5('t' || t)::uuid, 'tenant ' || t FROM generate_series(1, 6) t;
INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo)
SELECT md5('t' || t)::uuid, md5('w' || t || '/' || w)::uuid, (ARRAY['EU', 'US'])[w]
  FROM generate_series(1, 6) t, generate_series(1, 2) w;
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id)
SELECT md5('t' || t)::uuid, md5('i' || t || '/' || i)::uuid, md5('w' || t || '/' || (i % 2 + 1))::uuid,
       (ARRAY['prompt', 'response', 'upload', 'system_log'])[i % 4 + 1],
       (ARRAY['EU', 'US'])[i % 2 + 1], 'file:///nonexistent/' || t || '/' || i,
       '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 hour', 'subject-' || (i % 3)
  FROM generate_series(1, 6) t, generate_series(1, 40) i;
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, workspace_id)
SELECT md5('t' || t)::uuid, 'deletion_requested', '${DAY}T00:00:00Z', 'REQ-' || t, md5('w' || t || '/1')::uuid
  FROM generate_series(1, 6) t WHERE t % 2 = 0;
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id)
SELECT md5('t' || t)::uuid, 'deletion_requested', '${DAY}T00:00:00Z', 'SUBJ-' || t, 'subject-1'
  FROM generate_series(1, 6) t WHERE t % 3 = 0;
INSERT INTO lethe.events (tenant_id, type, occurred_at)
SELECT md5('t' || t)::uuid, 'capacity_deleted', '2026-02-01T00:00:00Z' FROM generate_series(1, 6) t WHERE t = 5;
INSERT INTO lethe.holds (tenant_id, hold_id, subject_id, reason, placed_at)
SELECT md5('t' || t)::uuid, md5('h' || t)::uuid, 'subject-2', 'litigation', '2026-01-01T00:00:00Z'
  FROM generate_series(1, 6) t WHERE t % 2 = 0;
SQL
}
states() { # DB: what must be the same on both
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'item', tenant_id, item_id, state, rule, due_at, deadline_at FROM lethe.item_status ORDER BY 2, 3;
SELECT 'batch', location, state, count(*), sum(items) FROM (
    SELECT b.location, b.state, b.batch_id, count(*) AS items FROM lethe.batches b
      JOIN lethe.batch_items bi ON bi.batch_id = b.batch_id GROUP BY 1, 2, 3) x GROUP BY 2, 3 ORDER BY 2, 3;
SELECT 'audit', tenant_id, seq, kind, item_id, rule, reference, triggered_at, deadline_at, on_time,
       location, hold_id, count, detail FROM lethe.audit
 WHERE tenant_id <> '00000000-0000-0000-0000-000000000000' ORDER BY 2, 3;
SELECT 'engine chain', seq, kind, count FROM lethe.audit
 WHERE tenant_id = '00000000-0000-0000-0000-000000000000' AND kind <> 'checkpoint' ORDER BY 2;
SQL
}

psql -X -q -c 'DROP DATABASE IF EXISTS compare_citus' -c 'DROP DATABASE IF EXISTS compare_plain' \
    -c 'CREATE DATABASE compare_citus' -c 'CREATE DATABASE compare_plain' 2>/dev/null
PGDATABASE=compare_citus "$LETHE" migrate >/dev/null 2>&1
PGDATABASE=compare_plain "$REAL" migrate >/dev/null 2>&1
assert_eq "compare_citus is laid out on Citus" "21" \
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
    PGDATABASE=$db "$REAL" --config "$WORK/$db.conf" run --as-of "${DAY}T12:00:00Z" >"$WORK/$db.run1" 2>&1
    echo "exit $?" >>"$WORK/$db.run1"
    PGDATABASE=$db "$REAL" --config "$WORK/$db.conf" run >"$WORK/$db.run2" 2>&1
    echo "exit $?" >>"$WORK/$db.run2"
    states $db >"$WORK/$db.states" 2>&1
done
# Ids, hashes, instants and durations differ between any two runs, and each database has its
# own spool; the rest of the output may not.
norm() {
    sed -E 's/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/ID/g; s/[0-9a-f]{64}/HASH/g;
            s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/TIME/g; s/[0-9]+(\.[0-9]+)? ?(ms|s)\b/DURATION/g;
            s/compare_(citus|plain)/DB/g' "$1"
}
for f in catalog run1 run2; do
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
