# Review of the shard placement (sql/0027_shard_placement.sql, run --shard K/N up to 32) and of
# the queues' vacuum setting (sql/0026_queue_vacuum.sql), as an operator meets them: a database
# upgraded with open batches that shard runs emitted under the old hash, the shard option as
# typed, two shard runs of one N side by side, and `lethe migrate` run as a role that does not
# own the schema.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review7.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
SUPER=$PGUSER
OWN=review7_own_$$; OPS=review7_ops_$$
trap 'rm -rf "$WORK"; for d in review7_up review7_par review7_mig; do
      PGUSER=$SUPER psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
      for r in $OWN $OPS; do PGUSER=$SUPER psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done' EXIT
write_config "$WORK/noexec.conf"
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
ago() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }

# ---- --shard as typed ------------------------------------------------------------------------
# Plain decimal digits only; any N above 32, however large, is refused for that reason.
psql -X -q -c 'DROP DATABASE IF EXISTS review7_par' -c 'CREATE DATABASE review7_par' 2>/dev/null
export PGDATABASE=review7_par
"$LETHE" migrate >/dev/null
for s in " 1/2" "+1/2" "1/+2" "1/ 2" "-0/2" "32/32" "1/0"; do
    run_lethe --config "$WORK/noexec.conf" run --shard "$s" --dry-run
    assert_eq "shard \"$s\" is malformed (exit 2, said so)" \
      "2 error: run: --shard: malformed shard \"$s\" (expected K/N with 0 <= K < N <= 32)
hint: see 'lethe help run'" "$RC $ERR"
done
for s in 5/2048 1/99999999999999999999 0/4294967298; do
    run_lethe --config "$WORK/noexec.conf" run --shard "$s" --dry-run
    assert_eq "shard $s: N above 32 is refused as such (exit 2)" \
      "2 error: run: --shard $s: N is at most 32: tenants are hashed into 32 buckets (Citus's shards), and shard K/N is the buckets equal to K modulo N
hint: see 'lethe help run'" "$RC $ERR"
done
for s in 0/32 31/32 0/1 01/2; do
    run_lethe --config "$WORK/noexec.conf" run --shard "$s" --dry-run
    assert_rc "shard $s is a shard" 0
done

# ---- two shard runs of one N side by side: each tenant in exactly one, each item purged once -
TEN=(); ALL=()
for t in $(seq 12); do
    T=$(uuid); W=$(uuid); TEN+=("$T"); mk_tenant "$T" "par$t"; mk_workspace "$T" "$W" EU
    for _ in 1 2; do i=$(uuid); ALL+=("$i"); mk_item "$T" "$i" "$W" prompt EU 2026-01-01T00:00:00Z; done
    mk_event "$T" deletion_requested "$(ago 1)" "PAR-$t"
done
pids=()
for k in 0 1 2; do "$LETHE" --config "$WORK/exec.conf" run --shard "$k/3" >"$WORK/par$k.out" 2>&1 & pids+=($!); done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs$? "; done
assert_eq "shards 0/3, 1/3, 2/3 run side by side" "0 0 0 " "$rcs"
assert_eq "every item purged, each exactly once" "24 24 24" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.item_status WHERE state = 'purged') || ' ' ||
                 count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged'")"
assert_eq "each batch holds the tenants of its own shard only" "0" \
  "$(sql "SELECT count(*) FROM lethe.batches b JOIN lethe.batch_items bi USING (batch_id)
           WHERE lethe.shard_of(bi.tenant_id, 3) <> split_part(b.shard, '/', 1)::integer")"
assert_eq "each shard run purged its tenants' items: together all 24" "24" \
  "$(cat "$WORK"/par?.out | sed -n 's/.* \([0-9]*\) purged,.*/\1/p' | awk '{s += $1} END {print s}')"

# ---- an upgrade with open batches that shard runs emitted under the old hash ------------------
# The binary of schema 26 put a tenant in shard (first 32 bits of tenant_id) mod N; its batches
# are emulated by giving lethe.shard_of its 0002 body while they are emitted.
psql -X -q -c 'DROP DATABASE IF EXISTS review7_up' -c 'CREATE DATABASE review7_up' 2>/dev/null
export PGDATABASE=review7_up
"$LETHE" migrate >/dev/null
rm -f "$WORK/anchors.jsonl"   # a new database has anchored nothing
OLD="('x' || substr(u::text, 1, 8))::bit(32)::bigint % 2"
# one tenant for each (old shard, new shard) pair of N = 2
PICK=$(sql "SELECT string_agg(u::text, ' ' ORDER BY o, n) FROM (
              SELECT DISTINCT ON ($OLD, lethe.shard_of(u, 2)) u, $OLD AS o, lethe.shard_of(u, 2) AS n
                FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 200)) g
               ORDER BY $OLD, lethe.shard_of(u, 2), u) p")
read -r -a UP <<< "$PICK"
assert_eq "four tenants, one for each old and new shard of 2" 4 "${#UP[@]}"
UPI=()
for t in 0 1 2 3; do
    W=$(uuid); mk_tenant "${UP[$t]}" "up$t"; mk_workspace "${UP[$t]}" "$W" EU
    for _ in 1 2; do i=$(uuid); UPI+=("$i"); mk_item "${UP[$t]}" "$i" "$W" prompt EU 2026-01-01T00:00:00Z; done
    mk_event "${UP[$t]}" deletion_requested "$(ago 1)" "UP-$t"
done
NEWFN=$(sql "SELECT pg_get_functiondef('lethe.shard_of(uuid, integer)'::regprocedure)")
sql "CREATE OR REPLACE FUNCTION lethe.shard_of(t uuid, n integer) RETURNS integer LANGUAGE sql
     IMMUTABLE PARALLEL SAFE AS \$\$ SELECT (('x' || substr(t::text, 1, 8))::bit(32)::bigint % n)::integer \$\$" >/dev/null
for k in 0 1; do run_lethe --config "$WORK/noexec.conf" run --shard "$k/2"; done
sql "$NEWFN" >/dev/null
assert_eq "upgrade: the old shard runs left one open batch each, of 4 items" "0/2 4|1/2 4" \
  "$(sql "SELECT string_agg(shard || ' ' || items, '|' ORDER BY shard) FROM lethe.batches WHERE state = 'open'")"
assert_eq "upgrade: both now hold tenants of both shards" "2" \
  "$(sql "SELECT count(*) FROM (SELECT batch_id FROM lethe.batch_items GROUP BY batch_id
                                 HAVING count(DISTINCT lethe.shard_of(tenant_id, 2)) = 2) m")"
run_lethe migrate
assert_rc "upgrade: migrate exits 0" 0
assert_contains "upgrade: migrate warns that no shard run re-drives them" \
  "warning: migrate: 2 open batches emitted by shard runs now hold tenants of several shards (a tenant's shard is its Citus shard since schema version 27): no shard run re-drives them" "$ERR"
assert_contains "upgrade: ... and says what does" \
  "hint: run 'lethe run' once without --shard, which re-drives every open batch (it exits 3 while a shard run holds the lock: run it again); 'lethe status' lists them" "$ERR"
for k in 0 1; do run_lethe --config "$WORK/exec.conf" run --shard "$k/2"; done
assert_eq "upgrade: shard runs leave them open, and purge nothing twice" "2 0" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.batches WHERE state = 'open') || ' ' ||
                 (SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged')")"
OLDEST=$(sql "SELECT batch_id FROM lethe.batches WHERE state = 'open' ORDER BY created_at, batch_id LIMIT 1")
run_lethe --config "$WORK/exec.conf" status --check
assert_rc "upgrade: status --check judges by SPEC's conditions (nothing overdue yet)" 0
assert_contains "upgrade: status warns that no shard run re-drives them" \
  "warning: status: 2 open batches (the oldest $OLDEST) hold tenants of several shards of 2: no shard run re-drives them" "$ERR"
assert_contains "upgrade: ... and says what does" \
  "hint: run 'lethe run' once without --shard, which re-drives every open batch (it exits 3 while a shard run holds the lock: run it again)" "$ERR"
run_lethe --config "$WORK/noexec.conf" status
assert_not_contains "upgrade: without an executor, open batches wait for 'lethe ack' whatever runs: no warning" "warning" "$ERR"
run_lethe --config "$WORK/exec.conf" run
assert_rc "upgrade: the run without --shard exits 0" 0
assert_contains "upgrade: ... and re-drives both" "succeeded" "$OUT"
for k in 0 1; do run_lethe --config "$WORK/exec.conf" run --shard "$k/2"; done
assert_eq "upgrade: every item purged once, with one record each, its file gone" "8 8 8 0" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.item_status WHERE state = 'purged') || ' ' ||
                 count(*) || ' ' || count(DISTINCT item_id) FROM lethe.audit WHERE kind = 'item_purged'") $(
     for i in "${UPI[@]}"; do [ -e "$STORE/$i" ] && echo "$i"; done | wc -l)"
assert_eq "upgrade: each batch acknowledged once" "2 2" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT batch_id) FROM lethe.audit WHERE kind = 'batch_acknowledged'")"
run_lethe migrate
assert_not_contains "upgrade: once re-driven, migrate warns no more" "warning" "$ERR"
run_lethe --config "$WORK/exec.conf" status
assert_not_contains "upgrade: ... nor does status" "warning" "$ERR"
run_lethe --config "$WORK/exec.conf" export -o "$WORK/up.jsonl"
run_lethe verify "$WORK/up.jsonl" --anchors "$WORK/anchors.jsonl"
assert_rc "upgrade: the audit verifies against the anchors" 0

# ---- migrate as a role that does not own the schema (0026 alters tables, 0027 replaces a
# function: the owner's acts) --------------------------------------------------------------------
psql -X -q -c 'DROP DATABASE IF EXISTS review7_mig' -c 'CREATE DATABASE review7_mig' \
     -c "CREATE ROLE $OWN LOGIN" -c "CREATE ROLE $OPS LOGIN" 2>/dev/null
psql -X -q -d review7_mig -c "GRANT CREATE ON DATABASE review7_mig TO $OWN, $OPS" 2>/dev/null
export PGDATABASE=review7_mig
PGUSER=$OWN run_lethe migrate
assert_rc "migrate as the role that is to own the schema" 0
PGUSER=$OPS run_lethe migrate
assert_rc "migrate as another role exits 1" 1
assert_contains "... says who owns the schema" \
  "error: migrate: role '$OPS' may not change schema lethe, which $OWN owns" "$ERR"
assert_contains "... and who to run it as" \
  "hint: run 'lethe migrate' as $OWN (or a role that is a member of it), then deploy/roles.sql again" "$ERR"
finish
