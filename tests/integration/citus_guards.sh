# The refusals made on Citus's shards (sql/0050_citus_shard_guards.sql), on one server. On
# Citus, lethe.citus_guard_shards() makes each trigger the layout dropped on every shard: a
# function that reads other lethe tables gets a copy for the shard, which reads the placements
# of the same tenants on the same node. Here stand-in "shards" (tables with a shard's name and
# the same columns) take the guards exactly as a worker does (citus_guard_copy,
# citus_guard_trigger, citus_guard_node), and every table a copy reads is shown to be the
# shard's: a row that is only in a stand-in is found, one that is only in the distributed
# table is not. make check-citus runs catalog.sh against the real shards.
. tests/harness/lib.sh
run_lethe migrate
assert_rc "migrate" 0

T=91000000-0000-4000-8000-000000000001
W=92000000-0000-4000-8000-000000000001     # a workspace only in the stand-in shard
WD=92000000-0000-4000-8000-000000000002    # a workspace only in lethe.workspaces
P=93000000-0000-4000-8000-000000000001     # a parent only in the stand-in shard
sql "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$T', 'guards')" >/dev/null
sql "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$T', '$WD', 'EU')" >/dev/null

# The stand-ins: the shard of items, workspaces and events for tenant T, and the node's copies
# of the reference tables the functions read, with their rows (and one geo only there).
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE TABLE lethe.items_900001 (LIKE lethe.items INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE lethe.workspaces_900002 (LIKE lethe.workspaces INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE lethe.events_900003 (LIKE lethe.events INCLUDING ALL);
CREATE TABLE lethe.kinds_900004 AS SELECT * FROM lethe.kinds;
CREATE TABLE lethe.geos_900005 AS SELECT * FROM lethe.geos;
CREATE TABLE lethe.event_types_900006 AS SELECT * FROM lethe.event_types;
INSERT INTO lethe.geos_900005 (geo) VALUES ('MOON');
SQL
GUARD="WITH m (tbl, shard, id) AS (VALUES ('items', 'lethe.items_900001', 900001),
                 ('workspaces', 'lethe.workspaces_900002', 900002), ('events', 'lethe.events_900003', 900003),
                 ('kinds', 'lethe.kinds_900004', 900004), ('geos', 'lethe.geos_900005', 900005),
                 ('event_types', 'lethe.event_types_900006', 900006)),
     t AS (SELECT tg.tgname::text AS name, c.relname::text AS tbl, pg_get_triggerdef(tg.oid) AS def,
                  p.proname::text AS fn, m.shard, m.id
             FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_proc p ON p.oid = tg.tgfoid
             JOIN m ON m.tbl = c.relname
            WHERE c.relnamespace = 'lethe'::regnamespace
              AND tg.tgname IN ('items_check_insert', 'items_check_update', 'items_no_delete',
                                'items_no_truncate', 'items_tombstone_by_ack', 'workspaces_check_insert',
                                'workspaces_check_update', 'events_check_insert', 'events_no_update',
                                'events_no_truncate')),
     copied AS (SELECT DISTINCT fn, id FROM t
                 WHERE fn IN ('items_check_insert', 'workspaces_check_insert', 'events_check_insert'))
SELECT lethe.citus_guard_node(
         (SELECT array_agg(lethe.citus_guard_copy(pg_get_functiondef(('lethe.' || c.fn || '()')::regprocedure),
                                                  c.fn, c.id, (SELECT array_agg(tbl) FROM m),
                                                  (SELECT array_agg(shard) FROM m)))
            FROM copied c),
         array_agg(t.shard ORDER BY t.name), array_agg(t.name ORDER BY t.name),
         array_agg(lethe.citus_guard_trigger(t.def, t.tbl, t.shard,
                                             CASE WHEN t.fn IN (SELECT fn FROM copied) THEN t.id END)
                   ORDER BY t.name),
         array_agg(t.name = 'items_tombstone_by_ack' ORDER BY t.name))
  FROM t"
assert_eq "the node reports every trigger made on its shards" 10 "$(sql "$GUARD" 2>&1)"
oids() { sql "SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_trigger WHERE tgrelid::regclass::text ~ '_90000[0-9]$'"; }
before=$(oids)
assert_eq "guarding again reports them all ..." 10 "$(sql "$GUARD" 2>&1)"
assert_eq "... and leaves the triggers as they were (none dropped and made again)" "$before" "$(oids)"
assert_eq "a copy a function, and none reads a distributed table by its name" "3|0" \
  "$(sql "SELECT count(*), count(*) FILTER (WHERE prosrc ~ '(FROM|JOIN) lethe\.(items|workspaces|events|kinds|geos|event_types)\M')
            FROM pg_proc WHERE pronamespace = 'lethe'::regnamespace AND proname ~ '_90000[0-9]$'")"
assert_eq "the tombstone's guard fires always, as on the distributed table" "A" \
  "$(sql "SELECT tgenabled FROM pg_trigger WHERE tgname = 'items_tombstone_by_ack' AND tgrelid = 'lethe.items_900001'::regclass")"

# workspaces_check_insert's copy reads the node's geos
assert_eq "a workspace in a geo only the node's copy lists is taken by the shard" "" \
  "$(sql "INSERT INTO lethe.workspaces_900002 (tenant_id, workspace_id, geo) VALUES ('$T', '$W', 'MOON')" 2>&1)"
assert_sql_fails "... and refused by the distributed table" \
  "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$T', gen_random_uuid(), 'MOON')" \
  'unknown geo "MOON"'
assert_sql_fails "an unknown geo on the shard: the same message, and the hint names lethe.geos" \
  "INSERT INTO lethe.workspaces_900002 (tenant_id, workspace_id, geo) VALUES ('$T', gen_random_uuid(), 'MARS')" \
  "HINT:  geos are listed in lethe.geos; an operator adds new ones there first"

# items_check_insert's copy reads the shard's workspaces and items, the node's kinds and geos
item() { # ID WORKSPACE KIND [PARENT]
    local parent=NULL
    [ -n "${4:-}" ] && parent="'$4'"
    echo "INSERT INTO lethe.items_900001 (tenant_id, item_id, workspace_id, kind, location, locator, created_at, parent_id)
          VALUES ('$T', '$1', '$2', '$3', 'EU', 's3://b/$1', '2026-01-01T00:00:00Z', $parent)"
}
assert_eq "an item in the shard's workspace is taken" "" "$(sql "$(item "$P" "$W" prompt)" 2>&1)"
assert_sql_fails "an item in a workspace the shard does not hold is refused, with the same message" \
  "$(item 93000000-0000-4000-8000-000000000002 "$WD" prompt)" \
  "ERROR:  item 93000000-0000-4000-8000-000000000002: workspace $WD does not exist in its tenant"
assert_eq "a copy whose parent is in the shard is taken" "" \
  "$(sql "$(item 93000000-0000-4000-8000-000000000003 "$W" response "$P")" 2>&1)"
assert_sql_fails "an unknown kind on the shard: the same message" \
  "$(item 93000000-0000-4000-8000-000000000004 "$W" video)" \
  'ERROR:  item 93000000-0000-4000-8000-000000000004: unknown kind "video"'
assert_sql_fails "changing an item on the shard is refused" \
  "UPDATE lethe.items_900001 SET kind = 'pinned' WHERE item_id = '$P'" \
  "ERROR:  item $P: items are immutable; only the engine's tombstone may clear locator and owner_id"
assert_sql_fails "DELETE on the shard names the table, not the shard" \
  "DELETE FROM lethe.items_900001" "ERROR:  DELETE on lethe.items is not allowed"

# events_check_insert's copy reads the shard's items and events and the node's event types
ev() { # TYPE REFERENCE [ITEM]
    local item=NULL
    [ -n "${3:-}" ] && item="'$3'"
    echo "INSERT INTO lethe.events_900003 (tenant_id, type, occurred_at, reference, item_id)
          VALUES ('$T', '$1', '2026-02-01T00:00:00Z', '$2', $item)"
}
D=93000000-0000-4000-8000-000000000009     # an item only in lethe.items
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
     VALUES ('$T', '$D', '$WD', 'prompt', 'EU', 's3://b/$D', '2026-01-01T00:00:00Z')" >/dev/null
assert_eq "a request for an item the shard holds is taken" "" "$(sql "$(ev deletion_requested REQ-9 "$P")" 2>&1)"
assert_eq "a cancellation of a request the shard holds is taken" "" \
  "$(sql "$(ev deletion_cancelled REQ-9 | sed 's/2026-02-01T00:00:00Z/2026-02-02T00:00:00Z/')" 2>&1)"
assert_contains "one dated at its request's instant is refused there too (sql/0080)" \
  'no earlier deletion request with reference "REQ-9"' "$(sql "$(ev deletion_cancelled REQ-9)" 2>&1)"
assert_sql_fails "a request for an item only the distributed table holds is refused" \
  "$(ev deletion_requested REQ-10 "$D")" "ERROR:  event deletion_requested: item $D does not exist in its tenant"
assert_sql_fails "an unknown type on the shard: the same message" \
  "$(ev deletion_requsted REQ-11)" 'ERROR:  unknown event type "deletion_requsted"'
assert_eq "an event_id above the sequence is taken by the shard (listed as events.event_id_given on Citus)" "" \
  "$(sql "INSERT INTO lethe.events_900003 (tenant_id, event_id, type, occurred_at) OVERRIDING SYSTEM VALUE
          VALUES ('$T', 1000000, 'm365_access_granted', '2026-02-01T00:00:00Z')" 2>&1)"
assert_sql_fails "an event_id below 1 is still refused on the shard" \
  "INSERT INTO lethe.events_900003 (tenant_id, event_id, type, occurred_at) OVERRIDING SYSTEM VALUE
   VALUES ('$T', 0, 'm365_access_granted', '2026-02-01T00:00:00Z')" \
  "ERROR:  event m365_access_granted: event_id 0 was not given by the database"

# Without Citus, migrate guards nothing and lists nothing.
assert_eq "on one server citus_guard_shards() does nothing" "0|0|0" \
  "$(sql "SELECT lethe.citus_guard_shards(), (SELECT count(*) FROM lethe.citus_gaps), (SELECT count(*) FROM lethe.citus_shard_guards)")"
finish
