# A deployment that outgrows one server (sql/0085; README "Outgrowing one server"). On one
# server (make check): what citus_outgrow() drops on Citus is what the migrations make without
# it, name for name, and there it changes nothing. Under make check-citus: a database lethe has
# run on, made a Citus database the two ways a DBA does it (the extension added in place; a
# dump restored into a database made on Citus), then `lethe migrate`: each is laid out as one
# made on Citus from the start (the same gaps, the same guards on the shards, lethe's functions
# on the workers), and runs, status and the export work there. Before 0085 the first way failed
# at migrate and at every run, the second at every run (the one-server memories' triggers made
# on the shards), and status listed the scheduled items twice.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-outgrow.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
chmod 0755 "$WORK"
DBS="outgrow_a outgrow_b outgrow_c"
drop_all() {
    local d w
    for d in $DBS; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
        for w in ${CITUS_WORKERS:-}; do
            psql -X -q -p "$w" -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
        done
    done
}
trap 'drop_all; rm -rf "$WORK"' EXIT
drop_all
# Under make check-citus, LETHE is a wrapper that makes a database a Citus one at its first
# migrate: the one-server deployment is migrated by the binary itself.
REAL=$LETHE
[ -n "${CITUS_WORKERS:-}" ] && REAL=$(dirname "$LETHE")/lethe.real
FS_DELETE=$(dirname "$LETHE")/fs-delete
write_config "$WORK/a.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; timeout = \"60s\"; };"

# ---- one server --------------------------------------------------------------------------
psql -X -q -d postgres -c "CREATE DATABASE outgrow_a" >/dev/null
export PGDATABASE=outgrow_a
"$REAL" migrate >/dev/null
listed=$(sql "SELECT count(*) FROM lethe.citus_one_server_only()")
assert_eq "every trigger and key citus_outgrow() drops is one the migrations make on one server" \
  "$listed of $listed" \
  "$(sql "SELECT count(*) FROM lethe.citus_one_server_only() s
           WHERE (s.kind = 'trigger' AND EXISTS (SELECT 1 FROM pg_trigger t
                   WHERE t.tgrelid = ('lethe.' || s.tbl)::regclass AND t.tgname = s.name AND NOT t.tgisinternal))
              OR (s.kind = 'fkey' AND EXISTS (SELECT 1 FROM pg_constraint c
                   WHERE c.conrelid = ('lethe.' || s.tbl)::regclass AND c.conname = s.name AND c.contype = 'f'))") of $listed"
assert_eq "on one server citus_outgrow() does nothing" "0|$listed" \
  "$(sql "SELECT lethe.citus_outgrow()")|$(sql "SELECT count(*) FROM lethe.citus_one_server_only() s
           WHERE EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = ('lethe.' || s.tbl)::regclass AND t.tgname = s.name)
              OR EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = ('lethe.' || s.tbl)::regclass AND c.conname = s.name)")"

# A deployment with a history: a tenant, shared items with copies, a subject request that
# purges, a run, a status (which takes its memory).
T=$(uuid); W=$(uuid)
mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
for i in $(seq 1 12); do
    id=$(uuid); mk_item "$T" "$id" "$W" prompt EU "$(date -u -d "-$((i * 5)) days" +%FT%TZ)" \
        "$([ $((i % 3)) = 0 ] && echo true || echo false)" "" "user$((i % 4))@acme.example"
    [ $((i % 3)) = 0 ] && mk_item "$T" "$(uuid)" "$W" retrieved EU "$(date -u -d "-$((i * 5 - 1)) days" +%FT%TZ)" true "$id"
done
mk_event "$T" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" REQ-1 subject_id user1@acme.example
run_lethe --config "$WORK/a.conf" run
assert_eq "one server: the run purges the subject's three items and the copy of the shared one" "0|4" \
  "$RC|$(sql "SELECT count(*) FROM lethe.batch_items WHERE outcome = 'purged'")"
run_lethe --config "$WORK/a.conf" status
assert_rc "one server: status" 0
SCHEDULED=$(sql "SELECT count(*) FROM lethe.pending_items(now()) WHERE state = 'scheduled'")
assert_eq "one server: status remembers the scheduled shared items" "$SCHEDULED" \
  "$(sql "SELECT count(*) FROM lethe.status_memory WHERE NOT standing")"

if [ -z "${CITUS_WORKERS:-}" ]; then
    finish
    exit $?
fi

# ---- onto Citus --------------------------------------------------------------------------
# The same deployment twice: outgrow_b is its copy, dumped.
psql -X -q -d postgres -c "CREATE DATABASE outgrow_b TEMPLATE outgrow_a" >/dev/null
pg_dump -Fc -d outgrow_b -f "$WORK/b.dump"
cp "$WORK/anchors.jsonl" "$WORK/anchors-b.jsonl"
sed "s#$WORK/anchors.jsonl#$WORK/anchors-b.jsonl#" "$WORK/a.conf" > "$WORK/b.conf"

# outgrow_a in place: the extension on it and on the workers' databases of that name, the
# workers registered (as Citus's documentation does it), then migrate.
for w in $CITUS_WORKERS; do
    psql -X -q -p "$w" -d postgres -c "CREATE DATABASE outgrow_a" >/dev/null
    psql -X -q -p "$w" -d outgrow_a -c "CREATE EXTENSION citus" >/dev/null
done
psql -X -q -c "CREATE EXTENSION citus" -c "SELECT citus_set_coordinator_host('127.0.0.1', $PGPORT)" >/dev/null
for w in $CITUS_WORKERS; do psql -X -q -c "SELECT citus_add_node('127.0.0.1', $w)" >/dev/null; done
run_lethe migrate
assert_rc "in place: migrate lays the deployment out on Citus" 0
assert_not_contains "... without an error" "error" "$ERR"
assert_eq "... and the memories empty, as on a database made on Citus" "0|0|0" \
  "$(sql "SELECT (SELECT count(*) FROM lethe.status_memory) || '|' || (SELECT count(*) FROM lethe.status_memory_tenants)
               || '|' || (SELECT count(*) FROM lethe.purged_counts)")"

# outgrow_b restored into a database made on Citus (README's drill), then migrate.
restore_db outgrow_b "$WORK/b.dump" >/dev/null 2>&1
PGDATABASE=outgrow_b run_lethe migrate
assert_rc "dump and restore: migrate" 0

# outgrow_c made on Citus from the start (the wrapper), for comparison.
psql -X -q -d postgres -c "CREATE DATABASE outgrow_c" >/dev/null
PGDATABASE=outgrow_c "$LETHE" migrate >/dev/null 2>&1
layout() { # DB: its gaps, its guards, and every trigger on its shards, by table
    PGDATABASE=$1 sql "SELECT string_agg(what, ' ' ORDER BY what) FROM lethe.citus_gaps"
    PGDATABASE=$1 sql "SELECT string_agg(what, ' ' ORDER BY what) FROM lethe.citus_shard_guards"
    for w in $CITUS_WORKERS; do
        psql -X -q -A -t -p "$w" -d "$1" -c "SELECT string_agg(DISTINCT regexp_replace(c.relname, '_[0-9]+$', '') || '.' || t.tgname, ' ')
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = 'lethe'::regnamespace AND NOT t.tgisinternal"
    done
}
# The functions Citus does not make on the workers (it knows them in pg_dist_object).
unknown() { PGDATABASE=$1 sql "SELECT coalesce(string_agg(p.oid::regprocedure::text, ' ' ORDER BY 1), '-')
    FROM pg_proc p WHERE p.pronamespace = 'lethe'::regnamespace AND p.prokind = 'f'
     AND NOT EXISTS (SELECT 1 FROM pg_dist_object o WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)"; }
assert_eq "in place: lethe's functions are made on the workers, as on a database made on Citus" \
  "$(unknown outgrow_c)" "$(unknown outgrow_a)"
FRESH=$(layout outgrow_c)
assert_eq "in place: laid out as a database made on Citus (gaps, guards, triggers on every worker)" "$FRESH" "$(layout outgrow_a)"
assert_eq "dump and restore: the same" "$FRESH" "$(layout outgrow_b)"

# Then it runs: a new item and a request for it, and the shared items go on being scheduled.
for db in a b; do
    export PGDATABASE=outgrow_$db
    X=$(uuid); mk_item "$T" "$X" "$W" prompt EU "$(date -u -d '-2 days' +%FT%TZ)"
    mk_event "$T" deletion_requested "$(date -u -d '-1 hour' +%FT%TZ)" "REQ-$db" item_id "$X"
    run_lethe --config "$WORK/$db.conf" run
    assert_eq "$db: the run on Citus purges the new request's item" "0|purged|f" \
      "$RC|$(sql "SELECT outcome FROM lethe.batch_items WHERE item_id = '$X'")|$([ -e "$STORE/$X" ] && echo t || echo f)"
    run_lethe --config "$WORK/$db.conf" status --json
    assert_eq "$db: status counts each scheduled item once" "$SCHEDULED" \
      "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["scheduled"])')"
    run_lethe --config "$WORK/$db.conf" status --check
    assert_rc "$db: status --check" 0
    run_lethe --config "$WORK/$db.conf" export -o "$WORK/$db.jsonl"
    assert_rc "$db: export" 0
    run_lethe verify "$WORK/$db.jsonl"
    assert_eq "$db: the export verifies, the records of one server and of Citus in one chain" "0" "$RC"
done

# A database laid out by a lethe before 0085: a memory's trigger made on the shards, where its
# table is not. Every run failed; migrate takes it away.
export PGDATABASE=outgrow_a
sql "SELECT run_command_on_placements('lethe.batch_items', 'CREATE TRIGGER batch_items_status_dirty_insert AFTER INSERT ON %s
       REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION lethe.status_dirty_mark()')" >/dev/null
sql "INSERT INTO lethe.citus_shard_guards (what, enforced) VALUES ('batch_items.batch_items_status_dirty_insert', 'as an earlier lethe made it')" >/dev/null
X=$(uuid); mk_item "$T" "$X" "$W" prompt EU "$(date -u -d '-2 days' +%FT%TZ)"
mk_event "$T" deletion_requested "$(date -u -d '-1 hour' +%FT%TZ)" REQ-X item_id "$X"
run_lethe --config "$WORK/a.conf" run
assert_eq "laid out before 0085: the run fails on the shards" "1|relation \"lethe.status_dirty\" does not exist" \
  "$RC|$(printf '%s\n' "$ERR" | grep -o 'relation "lethe.status_dirty" does not exist' | head -1)"
run_lethe migrate
assert_rc "... migrate takes the trigger off the shards" 0
assert_eq "... and off the guards" "0" \
  "$(sql "SELECT count(*) FROM lethe.citus_shard_guards WHERE what = 'batch_items.batch_items_status_dirty_insert'")"
run_lethe --config "$WORK/a.conf" run
assert_eq "... and the next run purges" "0|purged" "$RC|$(sql "SELECT outcome FROM lethe.batch_items WHERE item_id = '$X' AND outcome = 'purged'")"
finish
