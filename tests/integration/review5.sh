# Review of sql/0025_status_held.sql (status_unusable, the memory's kept total, the held items
# read where they are) and of the anchor check that no longer parses a recorded newest line:
# status must say what lethe.item_status says, and pending_items what pending_items_live gives,
# on a database upgraded from 0023 with its memory taken, for a role set up before 0025, after a
# tenant is deleted or added, and after a remembered due time comes; status --check must still
# see an anchor file whose recorded newest line was edited or replaced by another database's.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-review5.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
SUPER=$PGUSER
E=review5_engine_$$
trap 'rm -rf "$WORK"; for d in review5_t review5_o; do
      PGUSER=$SUPER psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
      PGUSER=$SUPER psql -X -q -d postgres -c "DROP ROLE IF EXISTS $E" >/dev/null 2>&1' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS review5_t' -c 'CREATE DATABASE review5_t' 2>/dev/null
export PGDATABASE=review5_t
write_config "$WORK/exec.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };"
CONF=$WORK/exec.conf
ago() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }

. tests/harness/status_model.sh

# same NAME [ROLE]: status (as ROLE) says what item_status says; pending_items is
# pending_items_live row for row; the memory's total is its tenants' counts
same() {
    local got want
    want=$(status_truth | sort)
    got=$(PGUSER=${2:-$SUPER} status_says | sort)
    assert_eq "$1: status says what item_status says" "$want" "$got"
    assert_eq "$1: pending_items is pending_items_live, row for row" 0 \
      "$(sql "SELECT (SELECT count(*) FROM (SELECT * FROM lethe.pending_items(now())
                                            EXCEPT ALL SELECT * FROM lethe.pending_items_live(now())) a)
                   + (SELECT count(*) FROM (SELECT * FROM lethe.pending_items_live(now())
                                            EXCEPT ALL SELECT * FROM lethe.pending_items(now())) b)")"
    assert_eq "$1: the memory's total is the sum of its tenants' counts" "t" \
      "$(sql "SELECT coalesce((SELECT scheduled FROM lethe.status_memory_meta), 0)
                     = (SELECT coalesce(sum(scheduled), 0) FROM lethe.status_memory_tenants)")"
}

# ---- a database at 0023, its roles set up, its memory taken ---------------------------------
for f in sql/000*.sql sql/001*.sql sql/002[0-3]_*.sql; do
    b=$(basename "$f" .sql); v=$((10#${b%%_*}))
    psql -X -q -v ON_ERROR_STOP=1 -1 \
      -c "CREATE SCHEMA IF NOT EXISTS lethe; CREATE TABLE IF NOT EXISTS lethe.schema_migrations
          (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
           sha256 text)" \
      -f "$f" -c "INSERT INTO lethe.schema_migrations (version, name) VALUES ($v, '${b#*_}')" \
      >/dev/null 2>&1 || not_ok "$f applies"
done
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
sql "CREATE ROLE $E LOGIN IN ROLE lethe_engine" >/dev/null
T1=$(uuid); T2=$(uuid); T3=$(uuid); W1=$(uuid); W2=$(uuid); W3=$(uuid)
mk_tenant "$T1" one; mk_tenant "$T2" two; mk_tenant "$T3" three
mk_workspace "$T1" "$W1" EU; mk_workspace "$T2" "$W2" EU; mk_workspace "$T3" "$W3" EU
for n in 1 2 3; do
    mk_item "$T1" "$(uuid)" "$W1" prompt EU "$(ago $((10 + n)))" true
    mk_item "$T2" "$(uuid)" "$W2" prompt EU "$(ago $((20 + n)))" true
done
# a shared copy made while opted out, which a hold blocks (a held violation); the opt-out is not
# consumed when the memory is taken, so the tenant has none
mk_event "$T3" sharing_opted_out "$(ago 30)"
V1=$(uuid); mk_item "$T3" "$V1" "$W3" prompt EU "$(ago 20)" true
EMPTY=$(uuid); mk_tenant "$EMPTY" empty
sql "INSERT INTO lethe.holds (tenant_id, reason) VALUES ('$T3', 'litigation')" >/dev/null
# the memory as 0017's refresh takes it
sql "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT lethe.status_memory_refresh(); COMMIT" >/dev/null
LATE=$(uuid); WL=$(uuid); mk_tenant "$LATE" late; mk_workspace "$LATE" "$WL" EU
mk_item "$LATE" "$(uuid)" "$WL" prompt EU "$(ago 5)" true
assert_eq "0017's memory holds the tenants made before it, but the one with events not consumed" "3 6" \
  "$(sql "SELECT count(*) || ' ' || sum(scheduled) FROM lethe.status_memory_tenants")"

"$LETHE" migrate >/dev/null
LATEST=$(ls sql/[0-9][0-9][0-9][0-9]_*.sql | tail -1 | sed 's|^sql/0*\([0-9]*\)_.*|\1|')
assert_eq "migrate brings it to 0025 and on, to the latest ($LATEST)" "$LATEST" \
  "$(sql "SELECT max(version) FROM lethe.schema_migrations WHERE version >= 25")"
assert_eq "0025 keeps the memory's total from its tenants' counts" "6" \
  "$(sql "SELECT scheduled FROM lethe.status_memory_meta")"
# the memory as it stands (read by the auditor's export --summary, and by pending_items)
assert_eq "upgraded: pending_items is pending_items_live before any refresh" 0 \
  "$(sql "SELECT (SELECT count(*) FROM (SELECT * FROM lethe.pending_items(now())
                                        EXCEPT ALL SELECT * FROM lethe.pending_items_live(now())) a)
               + (SELECT count(*) FROM (SELECT * FROM lethe.pending_items_live(now())
                                        EXCEPT ALL SELECT * FROM lethe.pending_items(now())) b)")"

# ---- a role set up before 0025 (roles.sql not run again), then after ------------------------
assert_eq "the engine's role was not granted status_unusable nor pending_items_unheld" "f f" \
  "$(sql "SELECT has_function_privilege('$E', 'lethe.status_unusable(timestamptz)', 'EXECUTE'),
                 has_function_privilege('$E', 'lethe.pending_items_unheld(timestamptz, uuid[], uuid[], uuid[])', 'EXECUTE')" | tr '|' ' ')"
same "upgraded, as a role set up before 0025" "$E"
PGUSER=$E run_lethe --config "$CONF" run
assert_rc "the engine runs the cycle (the held items remembered)" 0
assert_eq "the hold blocks the violation, remembered" "1" \
  "$(sql "SELECT count(*) FROM lethe.held_items WHERE tenant_id = '$T3'")"
same "after a run, as a role set up before 0025" "$E"
psql -X -q -v ON_ERROR_STOP=1 -f deploy/roles.sql >/dev/null 2>&1
same "after a run, as the role once roles.sql ran again" "$E"
same "after a run, as the owner"

# ---- a tenant deleted, another added, between refreshes -------------------------------------
sql "DELETE FROM lethe.tenants WHERE tenant_id = '$EMPTY'" >/dev/null
assert_eq "a deleted tenant's memory goes with it" "0" \
  "$(sql "SELECT count(*) FROM lethe.status_memory_tenants WHERE tenant_id = '$EMPTY'")"
NEW=$(uuid); WN=$(uuid); mk_tenant "$NEW" new; mk_workspace "$NEW" "$WN" EU
mk_item "$NEW" "$(uuid)" "$WN" prompt EU "$(ago 3)" true
assert_eq "as many tenants as memory rows again, one of them without memory" \
  "$(sql "SELECT count(*) FROM lethe.tenants")" "$(sql "SELECT count(*) + 1 FROM lethe.status_memory_tenants")"
assert_eq "status_unusable finds the tenant made since" "$NEW" \
  "$(sql "SELECT tenant_id FROM lethe.status_unusable(now()) WHERE tenant_id = '$NEW'")"
same "a tenant deleted and one added since the memory" "$E"

# ---- a tenant deleted while status takes the memory: status goes on ---------------------------
# The memory's rows reference their tenant (0025): in the refresh's repeatable read transaction
# the check of that reference cannot serialize with a deletion committed since its snapshot.
GONE=$(uuid); mk_tenant "$GONE" gone
psql -X -q -A -t -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
  -c "SELECT count(*) FROM lethe.tenants" -c "SELECT pg_sleep(1.5)" \
  -c "SELECT lethe.status_memory_refresh()" -c "COMMIT" >"$WORK/refresh.out" 2>&1 &
REFRESH=$!
sleep 0.5
sql "DELETE FROM lethe.tenants WHERE tenant_id = '$GONE'" >/dev/null
wait $REFRESH
assert_eq "a refresh whose snapshot saw a tenant deleted since commits (taking nothing)" \
  "0 0" "$? $(grep -c ERROR "$WORK/refresh.out")"
same "after a refresh that met a deleted tenant" "$E"

# ---- a remembered due time comes (the memory stops holding by itself) -----------------------
SOON=$(uuid)
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, shared)
     SELECT '$T1', '$SOON', '$W1', 'prompt', 'EU', 'file://$STORE/$SOON',
            now() + interval '3 seconds' - (lethe.due_time(now(), r.deadline, r.grace, s.lookahead) - now()),
            true
       FROM lethe.rules r CROSS JOIN lethe.settings s WHERE r.rule = 'shared_retention'" >/dev/null
echo "content of $SOON" > "$STORE/$SOON"
same "an item due in 3 s, remembered as scheduled" "$E"
assert_eq "the memory holds the tenant until that due time" "1" \
  "$(sql "SELECT count(*) FROM lethe.status_memory_tenants WHERE tenant_id = '$T1' AND holds_until > now()")"
sleep 4
same "after its due time came" "$E"
# the auditor's export --summary reads what is there
run_lethe --config "$CONF" export --summary --format csv -o "$WORK/summary.csv"
assert_rc "export --summary exits 0" 0
assert_eq "export --summary counts what item_status does" \
  "$(sql "SELECT count(*) FROM lethe.item_status WHERE state IN ('scheduled', 'due', 'held', 'in_flight')")" \
  "$(python3 -c 'import csv,sys; print(next(r["pending"] for r in csv.DictReader(open(sys.argv[1])) if r["rule"] == "all"))' "$WORK/summary.csv")"

# ---- the anchor file's recorded newest line, edited or replaced -----------------------------
A=$WORK/anchors.jsonl
# Two runs in a row: the line before the newest is recorded within the minute that
# lethe.anchor_lines_after() allows (sql/0057), however slow the machine was before (a loaded
# machine took over a minute since the suite's last run, and the cut file below was said to lack
# a line).
run_lethe --config "$CONF" run
run_lethe --config "$CONF" run
assert_rc "a run exits 0" 0
digest() { tail -1 "$A" | tr -d '\n' | sha256sum | cut -c1-64; }
assert_eq "its line is recorded" "1" \
  "$(sql "SELECT count(*) FROM lethe.anchor_lines WHERE digest = '$(digest)'")"
cp "$A" "$WORK/anchors.good"
# a head the line names made to read another hash: no longer the recorded line
python3 - "$A" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
d = json.loads(lines[-1])
h = d["heads"][0]["hash"]
d["heads"][0]["hash"] = ("0" if h[0] != "0" else "1") + h[1:]
lines[-1] = json.dumps(d, separators=(",", ":"))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
run_lethe --config "$CONF" status --check
assert_rc "status --check: a recorded newest line edited is checked head by head" 4
assert_contains "and diverges" "the audit diverges from its anchor file" "$OUT$ERR"
run_lethe --config "$CONF" run
assert_rc "a run refuses it too" 4
# truncated back to the line before (recorded too): nothing is behind
head -n -1 "$WORK/anchors.good" > "$A"
run_lethe --config "$CONF" status --check
assert_not_contains "status --check: the file truncated to its previous recorded line is fine" "anchor" "$OUT$ERR"
# another database's newest line
cp "$WORK/anchors.good" "$A"
psql -X -q -c 'DROP DATABASE IF EXISTS review5_o' -c 'CREATE DATABASE review5_o' 2>/dev/null
mkdir "$WORK/other"
(WORK=$WORK/other; write_config "$WORK/lethe.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };")
PGDATABASE=review5_o "$LETHE" migrate >/dev/null
OT=$(uuid); OW=$(uuid); PGDATABASE=review5_o mk_tenant "$OT" other
PGDATABASE=review5_o mk_workspace "$OT" "$OW" EU
PGDATABASE=review5_o mk_item "$OT" "$(uuid)" "$OW" prompt EU "$(ago 400)"
PGDATABASE=review5_o run_lethe --config "$WORK/other/lethe.conf" run
assert_rc "the other database runs" 0
tail -1 "$WORK/other/anchors.jsonl" >> "$A"
run_lethe --config "$CONF" status --check
assert_contains "status --check: another database's line at the end of the file is refused" "the audit diverges from its anchor file" "$OUT$ERR"
cp "$WORK/anchors.good" "$A"
run_lethe --config "$CONF" status --check
assert_not_contains "status --check: the file as it was is fine again" "anchor" "$OUT$ERR"

finish
