# The catalog's refusals (SPEC §2): every statement a producer must not get away with fails
# with its own message, and nothing of it is kept. Also the inserts that must work, in bulk too.
. tests/harness/lib.sh
psql -X -q -c 'CREATE DATABASE catalog_t' >/dev/null
export PGDATABASE=catalog_t
"$LETHE" migrate >/dev/null 2>&1 || { not_ok "migrate the suite's database"; finish; exit 1; }

T=11111111-1111-4111-8111-111111111111    # the tenant most tests use
T2=22222222-2222-4222-8222-222222222222   # another tenant
W=aaaaaaaa-0000-4000-8000-00000000000e    # T's workspace in EU
WUS=aaaaaaaa-0000-4000-8000-0000000000a5  # T's workspace in US
W2=aaaaaaaa-0000-4000-8000-0000000000e2   # T2's workspace in EU
P=bbbbbbbb-0000-4000-8000-000000000001    # a prompt owned by user_a
C=bbbbbbbb-0000-4000-8000-000000000002    # a shared response copied from P, stored in US
U=bbbbbbbb-0000-4000-8000-000000000003    # an upload, in its workspace's geo
X=bbbbbbbb-0000-4000-8000-0000000000ff    # an item id never inserted
P2=bbbbbbbb-0000-4000-8000-000000000021   # T2's item

# item ID WORKSPACE KIND LOCATION [PARENT|NULL] [SHARED] [TENANT]: one item's INSERT.
item() {
    local parent=${5:-NULL}
    [ "$parent" != NULL ] && parent="'$parent'"
    echo "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
            shared, parent_id, created_at, bytes)
          VALUES ('${7:-$T}', '$1', '$2', 'user_a', '$3', '$4', 's3://bucket/$1', ${6:-false}, $parent,
                  '2026-01-01T00:00:00Z', 42)"
}
# event TYPE [COLUMNS VALUES]: one event's INSERT for tenant T, e.g. event deletion_requested ", subject_id" ", 'user_b'".
event() {
    echo "INSERT INTO lethe.events (tenant_id, type, occurred_at$2) VALUES ('$T', '$1', '2026-02-01T00:00:00Z'$3)"
}
count() { sql "SELECT count(*) FROM lethe.$1"; }

# ---- valid inserts -------------------------------------------------------------------------
sql "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$T', 'acme'), ('$T2', 'globex')" >/dev/null
sql "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES
       ('$T', '$W', 'EU'), ('$T', '$WUS', 'US'), ('$T2', '$W2', 'EU')" >/dev/null
assert_eq "valid workspaces are accepted" 3 "$(count workspaces)"
sql "$(item "$P" "$W" prompt EU)" >/dev/null
sql "$(item "$C" "$W" response US "$P" true)" >/dev/null
sql "$(item "$U" "$W" upload EU)" >/dev/null
sql "$(item "$P2" "$W2" prompt EU NULL false "$T2")" >/dev/null
assert_eq "valid items are accepted, a shared copy in another geo among them" \
  "$P|prompt|EU|f|
$C|response|US|t|$P
$U|upload|EU|f|" \
  "$(sql "SELECT item_id, kind, location, shared, parent_id FROM lethe.items WHERE tenant_id = '$T' ORDER BY item_id")"
sql "$(item bbbbbbbb-0000-4000-8000-000000000004 "$W" retrieved ANZ "$U")
     ; $(item bbbbbbbb-0000-4000-8000-000000000005 "$W" system_log EU)" >/dev/null
assert_eq "content retrieved from an upload may be stored elsewhere; system_log is a known kind" 6 "$(count items)"

psql -X -q -c "INSERT INTO lethe.geos VALUES ('APAC')" >/dev/null
sql "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$T', 'aaaaaaaa-0000-4000-8000-0000000000ac', 'APAC')" >/dev/null
assert_eq "a geo an operator adds is usable at once" APAC \
  "$(sql "SELECT geo FROM lethe.workspaces WHERE workspace_id = 'aaaaaaaa-0000-4000-8000-0000000000ac'")"

# ---- times lethe cannot compute with (sql/0037) ---------------------------------------------
# One such row made every derivation fail ("timestamp out of range") for every tenant, or left
# a batch that could never be acknowledged.
for at in 294276-12-30T00:00:00Z infinity -infinity "4713-01-01 00:00:00Z BC" 1969-12-31T23:59:59Z 3000-01-01T00:00:00Z; do
    assert_sql_fails "an item created at '$at' is refused" \
      "$(item "$X" "$W" prompt EU | sed "s/'2026-01-01T00:00:00Z'/'$at'/")" \
      'violates check constraint "items_created_at_from_1970_to_2999"'
    assert_sql_fails "an event that occurred at '$at' is refused" \
      "$(event capacity_deleted | sed "s/'2026-02-01T00:00:00Z'/'$at'/")" \
      'violates check constraint "events_occurred_at_from_1970_to_2999"'
done
assert_eq "the first and last instants allowed are accepted (an item's up to the clock)" "1|1" \
  "$(sql "BEGIN; $(item "$X" "$W" prompt EU | sed "s/'2026-01-01T00:00:00Z'/'1970-01-01T00:00:00Z'/");
          $(event capacity_deleted | sed "s/'2026-02-01T00:00:00Z'/'2999-12-31T23:59:59.999999Z'/");
          SELECT (SELECT count(*) FROM lethe.items WHERE item_id = '$X') || '|'
                 || (SELECT count(*) FROM lethe.events WHERE occurred_at > '2999-12-31'); ROLLBACK" | tail -1)"

# ---- times no rule could act on (sql/0080) ----------------------------------------------------
# An item dated in the future is covered by no event until then (SPEC §3: created_at <=
# occurred_at): a request for its tenant, or for the item itself, left it live and said done.
# Up to 5 minutes ahead is clock skew; later is refused, in bulk as well, naming the zone in which
# a time without an offset was read.
items_before=$(count items)
assert_sql_fails "an item dated an hour ahead of the clock is refused" \
  "$(item "$X" "$W" prompt EU | sed "s/'2026-01-01T00:00:00Z'/now() + interval '1 hour'/")" \
  "ERROR:  item $X: created_at "
assert_sql_fails "... saying it is in the future, read in the session's zone" \
  "SET TimeZone = 'America/Los_Angeles'; $(item "$X" "$W" prompt EU | sed "s/'2026-01-01T00:00:00Z'/'2999-12-31 00:00'/")" \
  "ERROR:  item $X: created_at 2999-12-31T08:00:00.000000Z is in the future
HINT:  created_at is when the object was stored, at most 5 minutes ahead of the database's clock; a time without an offset is read in the session's TimeZone (SHOW TimeZone)"
assert_sql_fails "... and in a bulk insert, the one row named" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
   SELECT '$T', CASE WHEN g = 500 THEN '$X'::uuid ELSE gen_random_uuid() END, '$W', 'prompt', 'EU',
          's3://b/' || g, CASE WHEN g = 500 THEN now() + interval '1 day' ELSE now() END
     FROM generate_series(1, 1000) g" \
  "ERROR:  item $X: created_at"
assert_eq "... nothing of them was kept" "$items_before" "$(count items)"
assert_eq "four minutes ahead (clock skew) is accepted" "1" \
  "$(sql "BEGIN; $(item "$X" "$W" prompt EU | sed "s/'2026-01-01T00:00:00Z'/now() + interval '4 minutes'/");
          SELECT count(*) FROM lethe.items WHERE item_id = '$X'; ROLLBACK" | tail -1)"
# A request for one item created after the request occurred covers nothing; refused.
assert_sql_fails "a request for an item created after it occurred is refused, with both times" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, item_id, reference)
   VALUES ('$T', 'deletion_requested', '2025-12-31T23:59:59Z', '$P', 'REQ-EARLY')" \
  "ERROR:  event deletion_requested: item $P was created at 2026-01-01T00:00:00.000000Z, after the request occurred (2025-12-31T23:59:59.000000Z)
HINT:  a request covers the items created by its occurred_at: give the time the request was made"
assert_eq "... one at the item's very instant is accepted" "1" \
  "$(sql "BEGIN; INSERT INTO lethe.events (tenant_id, type, occurred_at, item_id, reference)
                 VALUES ('$T', 'deletion_requested', '2026-01-01T00:00:00Z', '$P', 'REQ-TIE');
          SELECT count(*) FROM lethe.events WHERE reference = 'REQ-TIE'; ROLLBACK" | tail -1)"

# ---- identifiers longer than 1024 bytes (sql/0041) ------------------------------------------
# Random text does not compress: 1,025 bytes of it went into an index before 0041, 9,000 bytes
# failed there with "index row requires 9032 bytes" and no column named.
rnd() { python3 -c "import secrets, sys; sys.stdout.write(secrets.token_hex(($1 + 1) // 2)[:$1])"; }
R1024=$(rnd 1024); R1025=$(rnd 1025); R9000=$(rnd 9000)
events_before=$(count events); items_before=$(count items)
for r in "$R1025" "$R9000"; do
    assert_sql_fails "an event whose reference is ${#r} bytes is refused by name" \
      "$(event deletion_requested ", reference" ", '$r'")" \
      'violates check constraint "events_reference_at_most_1024_bytes"'
    assert_sql_fails "a subject request for a subject of ${#r} bytes is refused by name" \
      "$(event deletion_requested ", subject_id, reference" ", '$r', 'REQ-LONG-SUBJECT'")" \
      'violates check constraint "events_subject_id_at_most_1024_bytes"'
    assert_sql_fails "an item whose owner is ${#r} bytes is refused by name" \
      "$(item "$X" "$W" prompt EU | sed "s/'user_a'/'$r'/")" \
      'violates check constraint "items_owner_id_at_most_1024_bytes"'
done
# A tenant named with 540 MB broke every listing of names (sql/0092).
assert_sql_fails "a tenant whose name is 1,025 bytes is refused by name" \
  "INSERT INTO lethe.tenants (tenant_id, name) VALUES (gen_random_uuid(), '$R1025')" \
  'violates check constraint "tenants_name_at_most_1024_bytes"'
assert_eq "... and one of 1,024 bytes accepted" "1" \
  "$(sql "BEGIN; INSERT INTO lethe.tenants (tenant_id, name) VALUES (gen_random_uuid(), '$R1024');
          SELECT count(*) FROM lethe.tenants WHERE name = '$R1024'; ROLLBACK" | tail -1)"
# multi-byte text counts in bytes: 513 two-byte characters are 1,026 bytes
assert_sql_fails "the limit is in bytes, not characters" \
  "$(event deletion_requested ", reference" ", repeat('é', 513)")" \
  'violates check constraint "events_reference_at_most_1024_bytes"'
assert_eq "nothing of them was kept" "$events_before $items_before" "$(count events) $(count items)"
# (two values: a reference that holds its subject id is refused, sql/0114)
S1024=$(rnd 1024)
assert_eq "1,024 bytes are accepted in each" "1|1|1" \
  "$(sql "BEGIN; $(event deletion_requested ", reference, subject_id" ", '$R1024', '$S1024'");
          $(item "$X" "$W" prompt EU | sed "s/'user_a'/'$R1024'/");
          SELECT (SELECT count(*) FROM lethe.events WHERE reference = '$R1024' AND subject_id = '$S1024')
                 || '|' || (SELECT count(*) FROM lethe.items WHERE owner_id = '$R1024')
                 || '|' || (SELECT count(*) FROM lethe.events WHERE octet_length(reference) = 1024);
          ROLLBACK" | tail -1)"
assert_sql_fails "a hold whose reference is 1,025 bytes is refused by name" \
  "INSERT INTO lethe.holds (tenant_id, hold_id, reason, reference) VALUES ('$T', gen_random_uuid(), 'audit', '$R1025')" \
  'violates check constraint "holds_reference_at_most_1024_bytes"'
assert_sql_fails "a hold on a subject of 1,025 bytes is refused by name" \
  "INSERT INTO lethe.holds (tenant_id, hold_id, reason, subject_id) VALUES ('$T', gen_random_uuid(), 'audit', '$R1025')" \
  'violates check constraint "holds_subject_id_at_most_1024_bytes"'

# a blank locator named nothing its deleter could delete: the item failed at every run
for loc in "" " " "$(printf '\t\n')"; do
    assert_sql_fails "an item whose locator is '$(printf %q "$loc")' is refused by name" \
      "$(item "$X" "$W" prompt EU | sed "s|'s3://bucket/$X'|'$loc'|")" \
      'violates check constraint "items_locator_not_blank"'
done
# ... blank in any script (sql/0086): a producer's tryout had a locator of U+200B, and one of
# U+3000 and U+00A0, taken and failed by the deleter at every run
for loc in "$(printf '\342\200\213')" "$(printf '\343\200\200\302\240')" "$(printf '\357\273\277 \342\200\250')"; do
    assert_sql_fails "an item whose locator is $(printf '%s' "$loc" | od -An -tx1 | tr -d ' \n') is refused by name" \
      "$(item "$X" "$W" prompt EU | sed "s|'s3://bucket/$X'|'$loc'|")" \
      'violates check constraint "items_locator_not_blank_in_any_script"'
done
assert_eq "a locator with a no-break space in it is taken" "1" \
  "$(sql "BEGIN; $(item "$X" "$W" prompt EU | sed "s|'s3://bucket/$X'|'s3://a$(printf '\302\240')b'|");
          SELECT count(*) FROM lethe.items WHERE item_id = '$X'; ROLLBACK" | tail -1)"
# an owner no subject can be: the subject's requests never reached the item
for own in "" " " "$(printf '\343\200\200')"; do
    assert_sql_fails "an item whose owner_id is '$(printf %q "$own")' is refused by name" \
      "$(item "$X" "$W" prompt EU | sed "s|'user_a'|'$own'|")" \
      'violates check constraint "items_owner_id_not_blank"'
done
# a request for a blank subject named no one ('' was refused already, by the insert's check)
assert_sql_fails "a request for the subject ' ' is refused by name" \
  "$(event deletion_requested ", subject_id" ", ' '")" \
  'violates check constraint "events_subject_id_not_blank"'
# README: a row of a tenant that does not exist is refused naming the tenant (sql/0114: the
# foreign key's detail names the key only to a role that may read the table, not a producer's)
NOTENANT=$(sql "SELECT gen_random_uuid()")
NOWS=$(sql "SELECT gen_random_uuid()")
assert_sql_fails "a workspace of an unknown tenant is refused, naming the tenant" \
  "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$NOTENANT', '$NOWS', 'EU')" \
  "ERROR:  workspace $NOWS: tenant $NOTENANT does not exist
HINT:  insert the tenant into lethe.tenants first"
assert_sql_fails "... an event of one" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$NOTENANT', 'deletion_requested', now(), 'REQ-NT')" \
  "ERROR:  event deletion_requested: tenant $NOTENANT does not exist
HINT:  insert the tenant into lethe.tenants first"
assert_sql_fails "... an item of one (not blamed on its workspace)" \
  "$(item "$X" "$NOWS" prompt EU "" false "$NOTENANT")" \
  "ERROR:  item $X: tenant $NOTENANT does not exist
HINT:  insert the tenant into lethe.tenants first, then its workspace"
# an event's reference of white space alone names nothing (lethe request refuses it as blank);
# a cancellation matches its request by reference (sql/0114)
events_blank=$(count events)
for ref in "' '" "E'\\u200b'" "E'\\u3000\\t'" "''"; do
    assert_sql_fails "an event whose reference is $ref is refused by name" \
      "$(event deletion_requested ", reference" ", $ref")" \
      'violates check constraint "events_reference_not_blank"'
done
assert_eq "... nothing of them was kept" "$events_blank" "$(count events)"
# a locator is at most 64 KiB (sql/0053): one whose escaping passed 1 GB failed its whole batch's
# manifest at every run
L65536=$(head -c 65536 /dev/zero | tr '\0' 'x')
assert_sql_fails "an item whose locator is 65,537 bytes is refused by name" \
  "$(item "$X" "$W" prompt EU | sed "s|'s3://bucket/$X'|'s3://$L65536'|")" \
  'violates check constraint "items_locator_at_most_65536_bytes"'
assert_eq "a locator of 65,536 bytes is taken" "1" \
  "$(sql "BEGIN; $(item "$X" "$W" prompt EU | sed "s|'s3://bucket/$X'|'s3://${L65536:5}'|");
          SELECT count(*) FROM lethe.items WHERE item_id = '$X' AND octet_length(locator) = 65536; ROLLBACK" | tail -1)"

# ---- unknown kind and geo ------------------------------------------------------------------
items_before=$(count items)
assert_sql_fails "an unknown kind is refused" "$(item "$X" "$W" video EU)" \
  "ERROR:  item $X: unknown kind \"video\""
assert_sql_fails "an unknown kind's hint lists the kinds" "$(item "$X" "$W" video EU)" \
  "HINT:  kinds are prompt, response, retrieved, pinned, upload, m365, system_log"
assert_sql_fails "an unknown geo in an item's location is refused" "$(item "$X" "$W" prompt MARS)" \
  "ERROR:  item $X: unknown geo \"MARS\" in location"
assert_sql_fails "an item's location is case-sensitive" "$(item "$X" "$W" prompt eu)" \
  "ERROR:  item $X: unknown geo \"eu\" in location"
assert_sql_fails "an unknown geo in a workspace is refused" \
  "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$T', 'aaaaaaaa-0000-4000-8000-0000000000ff', 'MARS')" \
  "ERROR:  workspace aaaaaaaa-0000-4000-8000-0000000000ff: unknown geo \"MARS\""
assert_sql_fails "an unknown geo in a workspace has a hint" \
  "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$T', 'aaaaaaaa-0000-4000-8000-0000000000ff', 'MARS')" \
  "HINT:  geos are listed in lethe.geos; an operator adds new ones there first"
assert_sql_fails "an item without a locator is refused" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, created_at)
   VALUES ('$T', '$X', '$W', 'prompt', 'EU', now())" \
  "ERROR:  item $X: locator must not be null"

# ---- workspace and parent ------------------------------------------------------------------
assert_sql_fails "an item whose workspace does not exist is refused" \
  "$(item "$X" aaaaaaaa-0000-4000-8000-000000000404 prompt EU)" \
  "ERROR:  item $X: workspace aaaaaaaa-0000-4000-8000-000000000404 does not exist in its tenant"
assert_sql_fails "an item in another tenant's workspace is refused" "$(item "$X" "$W2" prompt EU)" \
  "ERROR:  item $X: workspace $W2 does not exist in its tenant"
assert_sql_fails "an item whose parent does not exist is refused" \
  "$(item "$X" "$W" response EU bbbbbbbb-0000-4000-8000-000000000404)" \
  "ERROR:  item $X: parent bbbbbbbb-0000-4000-8000-000000000404 does not exist in its tenant"
assert_sql_fails "an item whose parent is in another tenant is refused" "$(item "$X" "$W" response EU "$P2")" \
  "ERROR:  item $X: parent $P2 does not exist in its tenant"
assert_sql_fails "an item that is its own parent is refused" "$(item "$X" "$W" response EU "$X")" \
  "ERROR:  item $X: an item cannot be its own parent"
L1=bbbbbbbb-0000-4000-8000-0000000000c1; L2=bbbbbbbb-0000-4000-8000-0000000000c2
L3=bbbbbbbb-0000-4000-8000-0000000000c3; L4=bbbbbbbb-0000-4000-8000-0000000000c4
assert_sql_fails "two items that are each other's parent, inserted together, are refused" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, parent_id, created_at)
   VALUES ('$T', '$L1', '$W', 'response', 'EU', 'l', '$L2', now()),
          ('$T', '$L2', '$W', 'response', 'EU', 'l', '$L1', now())" \
  "ERROR:  item $L1: its chain of parents loops back on itself"
assert_sql_fails "a loop of parents in one multi-row insert is refused, naming a row on or below it" \
  "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, parent_id, created_at)
   VALUES ('$T', '$L1', '$W', 'prompt', 'EU', 'l', '$P', now()),
          ('$T', '$L2', '$W', 'response', 'EU', 'l', '$L3', now()),
          ('$T', '$L3', '$W', 'response', 'EU', 'l', '$L4', now()),
          ('$T', '$L4', '$W', 'response', 'EU', 'l', '$L2', now())" \
  "ERROR:  item $L2: its chain of parents loops back on itself"
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, parent_id, created_at)
     VALUES ('$T', '$L3', '$W', 'response', 'EU', 'l', '$L2', now()),
            ('$T', '$L2', '$W', 'response', 'EU', 'l', '$L1', now()),
            ('$T', '$L1', '$W', 'prompt', 'EU', 'l', '$C', now())" >/dev/null
assert_eq "a chain of parents inserted in one statement, children first, is accepted" \
  "$L1|$C
$L2|$L1
$L3|$L2" "$(sql "SELECT item_id, parent_id FROM lethe.items WHERE item_id IN ('$L1', '$L2', '$L3') ORDER BY item_id")"
items_before=$((items_before + 3))

# ---- uploads -------------------------------------------------------------------------------
assert_sql_fails "a shared upload is refused" "$(item "$X" "$W" upload EU NULL true)" \
  "ERROR:  item $X: an upload cannot be shared"
assert_sql_fails "an upload outside its workspace's geo is refused" "$(item "$X" "$W" upload US)" \
  "ERROR:  item $X: an upload must be stored in its workspace's geo EU, not US"
assert_sql_fails "an upload in a US workspace stored in EU is refused" "$(item "$X" "$WUS" upload EU)" \
  "ERROR:  item $X: an upload must be stored in its workspace's geo US, not EU"
assert_eq "no refused item was kept" "$items_before" "$(count items)"

# ---- workspaces: the geo is fixed ----------------------------------------------------------
assert_sql_fails "changing a workspace's geo is refused" \
  "UPDATE lethe.workspaces SET geo = 'US' WHERE workspace_id = '$W'" \
  "ERROR:  workspace $W: its geo is fixed at creation (EU cannot become US)"
assert_sql_fails "changing a workspace's geo to an unknown one is refused" \
  "UPDATE lethe.workspaces SET geo = 'MARS' WHERE workspace_id = '$W'" \
  "ERROR:  workspace $W: its geo is fixed at creation (EU cannot become MARS)"
assert_eq "the workspace keeps its geo" EU "$(sql "SELECT geo FROM lethe.workspaces WHERE workspace_id = '$W'")"

# ---- items: immutable but for the tombstone ------------------------------------------------
immutable="ERROR:  item $P: items are immutable; only the engine's tombstone may clear locator and owner_id"
# On Citus the distribution column cannot change at all: Citus refuses that before any trigger.
for change in "tenant_id = '$T2'" "item_id = '$X'" "workspace_id = '$WUS'" "owner_id = 'user_m'" \
              "kind = 'pinned'" "location = 'US'" "locator = 's3://elsewhere'" "shared = true" \
              "parent_id = '$U'" "created_at = '2020-01-01T00:00:00Z'" "bytes = 0"; do
    assert_sql_fails "changing an item's ${change%% =*} is refused" \
      "UPDATE lethe.items SET $change WHERE item_id = '$P'" \
      "$(refusal "$immutable" "${change%% =*}")"
done
assert_sql_fails "clearing owner_id alone (not a tombstone) is refused" \
  "UPDATE lethe.items SET owner_id = NULL WHERE item_id = '$P'" "$immutable"
assert_sql_fails "clearing locator alone (keeping the subject) is refused" \
  "UPDATE lethe.items SET locator = NULL WHERE item_id = '$P'" "$immutable"
assert_sql_fails "the tombstone with another change is refused" \
  "UPDATE lethe.items SET locator = NULL, owner_id = NULL, bytes = 0 WHERE item_id = '$P'" "$immutable"
assert_eq "a refused change leaves the item as it was" "user_a|s3://bucket/$P|42|prompt" \
  "$(sql "SELECT owner_id, locator, bytes, kind FROM lethe.items WHERE item_id = '$P'")"
run_tomb=$(sql "UPDATE lethe.items SET locator = NULL, owner_id = NULL WHERE item_id IN ('$P', '$U') RETURNING item_id" 2>&1)
assert_eq "the tombstone (locator and owner_id cleared) is allowed" "$P
$U" "$(printf '%s\n' "$run_tomb" | sort)"
assert_eq "the tombstone clears locator and owner_id and keeps every other column" "-|-|$W|prompt|EU|42" \
  "$(sql "SELECT coalesce(owner_id, '-'), coalesce(locator, '-'), workspace_id, kind, location, bytes FROM lethe.items WHERE item_id = '$P'")"
assert_sql_fails "a tombstone's locator cannot come back" \
  "UPDATE lethe.items SET locator = 's3://bucket/$P' WHERE item_id = '$P'" "$immutable"
assert_sql_fails "a tombstone's owner cannot come back" \
  "UPDATE lethe.items SET owner_id = 'user_a' WHERE item_id = '$P'" "$immutable"
assert_sql_fails "DELETE on items is refused" "DELETE FROM lethe.items WHERE item_id = '$C'" \
  "ERROR:  DELETE on lethe.items is not allowed"
assert_sql_fails "TRUNCATE on items is refused" "TRUNCATE lethe.items" \
  "ERROR:  TRUNCATE on lethe.items is not allowed"
assert_eq "items are all still there" "$items_before" "$(count items)"

# ---- events --------------------------------------------------------------------------------
sql "$(event deletion_requested "" "")
     ; $(event deletion_requested ", workspace_id, reference" ", '$W', 'REQ-1'")
     ; $(event deletion_requested ", subject_id" ", 'user_a'")
     ; $(event deletion_requested ", item_id" ", '$C'")
     ; $(event sharing_opted_out ", workspace_id" ", '$W'")
     ; $(event sharing_opted_in "" "")
     ; $(event capacity_deleted ", reference" ", 'CAP-1'")
     ; $(event capacity_provisioned "" "")
     ; $(event m365_access_revoked "" "")
     ; $(event m365_access_granted "" "")
     ; $(event deletion_cancelled ", reference" ", 'REQ-1'" | sed "s/2026-02-01T00:00:00Z/2026-02-02T00:00:00Z/")" >/dev/null
assert_eq "valid events of every type are accepted" 11 "$(count events)"
assert_eq "event_id gets a default, a distinct one per event" "11|11" \
  "$(sql "SELECT count(event_id), count(DISTINCT event_id) FROM lethe.events")"
assert_eq "recorded_at gets a default" 0 "$(sql "SELECT count(*) FROM lethe.events WHERE recorded_at IS NULL")"
# sql/0038: an id the sequence has not given would make a later plain insert collide
NEXT=$(sql "SELECT max(event_id) + 1 FROM lethe.events")
for id in "$NEXT" 1000000 0 -5; do
    # On Citus a shard cannot read the coordinator's sequence: the bound above is not checked.
    if [ "$id" -gt 0 ] && citus_gap events.event_id_given; then
        assert_gap "an event_id the database did not give ($id) is refused" events.event_id_given
        continue
    fi
    assert_sql_fails "an event_id the database did not give ($id) is refused" \
      "INSERT INTO lethe.events (tenant_id, event_id, type, occurred_at) OVERRIDING SYSTEM VALUE
       VALUES ('$T', $id, 'm365_access_granted', '2026-02-01T00:00:00Z')" \
      "event m365_access_granted: event_id $id was not given by the database"
done
sql "$(event m365_access_granted)" >/dev/null
assert_eq "... so the next plain insert gets the next id, as if none had been tried" "$NEXT" \
  "$(sql "SELECT max(event_id) FROM lethe.events")"
events_before=$(count events)

assert_sql_fails "an unknown event type is refused" "$(event deletion_requsted "" "")" \
  "ERROR:  unknown event type \"deletion_requsted\""
assert_sql_fails "an unknown event type's hint lists the types" "$(event opted_out "" "")" \
  "HINT:  types are capacity_deleted, capacity_provisioned, deletion_cancelled, deletion_requested, m365_access_granted, m365_access_revoked, sharing_opted_in, sharing_opted_out"
for type in deletion_cancelled capacity_deleted capacity_provisioned m365_access_revoked m365_access_granted; do
    for scope in "workspace_id|'$W'" "subject_id|'user_a'" "item_id|'$C'"; do
        col=${scope%%|*}
        assert_sql_fails "$type with a $col is refused" \
          "$(event "$type" ", $col, reference" ", ${scope#*|}, 'REQ-1'")" \
          "ERROR:  event $type: does not take a $col scope"
    done
done
assert_sql_fails "a whole-tenant type's scope refusal has a hint" "$(event capacity_deleted ", workspace_id" ", '$W'")" \
  "HINT:  capacity_deleted applies to the whole tenant; leave the scope columns null"
for type in sharing_opted_in sharing_opted_out; do
    for scope in "subject_id|'user_a'" "item_id|'$C'"; do
        col=${scope%%|*}
        assert_sql_fails "$type with a $col is refused" "$(event "$type" ", $col" ", ${scope#*|}")" \
          "ERROR:  event $type: does not take a $col scope"
    done
done
assert_sql_fails "a workspace-only type's scope refusal names what it takes" "$(event sharing_opted_out ", item_id" ", '$C'")" \
  "HINT:  sharing_opted_out takes workspace_id"
assert_sql_fails "a request with a workspace and a subject is refused" \
  "$(event deletion_requested ", workspace_id, subject_id" ", '$W', 'user_a'")" \
  "ERROR:  event deletion_requested: more than one scope column (workspace_id, subject_id)"
assert_sql_fails "a request with a subject and an item is refused" \
  "$(event deletion_requested ", subject_id, item_id" ", 'user_a', '$C'")" \
  "ERROR:  event deletion_requested: more than one scope column (subject_id, item_id)"
assert_sql_fails "a request with all three scope columns is refused" \
  "$(event deletion_requested ", workspace_id, subject_id, item_id" ", '$W', 'user_a', '$C'")" \
  "ERROR:  event deletion_requested: more than one scope column (workspace_id, subject_id, item_id)"
assert_sql_fails "an opt-out with a workspace and an item is refused as more than one scope" \
  "$(event sharing_opted_out ", workspace_id, item_id" ", '$W', '$C'")" \
  "ERROR:  event sharing_opted_out: more than one scope column (workspace_id, item_id)"
assert_sql_fails "a request naming another tenant's workspace is refused" \
  "$(event deletion_requested ", workspace_id" ", '$W2'")" \
  "ERROR:  event deletion_requested: workspace $W2 does not exist in its tenant
HINT:  insert the workspace into lethe.workspaces first, in the same tenant"
assert_sql_fails "a request naming an item that does not exist is refused" \
  "$(event deletion_requested ", item_id" ", '$X'")" \
  "ERROR:  event deletion_requested: item $X does not exist in its tenant
HINT:  insert the item into lethe.items first, in the same tenant"
assert_sql_fails "a request naming an empty subject is refused" \
  "$(event deletion_requested ", subject_id" ", ''")" \
  "ERROR:  event deletion_requested: subject_id must not be empty"
assert_sql_fails "a cancellation without a reference is refused" "$(event deletion_cancelled "" "")" \
  "ERROR:  deletion_cancelled: no earlier deletion request with reference \"\" in this tenant"
assert_sql_fails "a cancellation naming no request is refused" \
  "$(event deletion_cancelled ", reference" ", 'REQ-404'")" \
  "ERROR:  deletion_cancelled: no earlier deletion request with reference \"REQ-404\" in this tenant"
assert_sql_fails "a cancellation naming an event that is not a request is refused" \
  "$(event deletion_cancelled ", reference" ", 'CAP-1'")" \
  "ERROR:  deletion_cancelled: no earlier deletion request with reference \"CAP-1\" in this tenant"
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T2', 'deletion_requested', now(), 'REQ-T2')" >/dev/null
events_before=$((events_before + 1))
assert_sql_fails "a cancellation naming another tenant's request is refused" \
  "$(event deletion_cancelled ", reference" ", 'REQ-T2'")" \
  "ERROR:  deletion_cancelled: no earlier deletion request with reference \"REQ-T2\" in this tenant"
# SPEC §2: a cancellation names an earlier request; SPEC §3: it withdraws one whose occurred_at
# is before its own. One dated before (or at) its request withdrew nothing, silently (sql/0080).
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T', 'deletion_requested', '2026-03-10T00:00:00Z', 'REQ-LATER')" >/dev/null
events_before=$((events_before + 1))
assert_sql_fails "a cancellation dated before its request is refused, with both times" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T', 'deletion_cancelled', '2026-03-09T00:00:00Z', 'REQ-LATER')" \
  "ERROR:  deletion_cancelled: no earlier deletion request with reference \"REQ-LATER\" in this tenant
HINT:  the request \"REQ-LATER\" occurred at 2026-03-10T00:00:00.000000Z, the cancellation at 2026-03-09T00:00:00.000000Z: a cancellation withdraws a request only when it occurs after it"
assert_sql_fails "... and one at its very instant" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T', 'deletion_cancelled', '2026-03-10T00:00:00Z', 'REQ-LATER')" \
  "ERROR:  deletion_cancelled: no earlier deletion request with reference \"REQ-LATER\" in this tenant"
assert_eq "... one a microsecond after it is accepted" "1" \
  "$(sql "BEGIN; INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$T', 'deletion_cancelled', '2026-03-10T00:00:00.000001Z', 'REQ-LATER');
          SELECT count(*) FROM lethe.events WHERE reference = 'REQ-LATER' AND type = 'deletion_cancelled'; ROLLBACK" | tail -1)"
assert_sql_fails "a producer cannot choose event_id" \
  "INSERT INTO lethe.events (tenant_id, event_id, type, occurred_at) VALUES ('$T', 99, 'capacity_deleted', now())" \
  "ERROR:  cannot insert a non-DEFAULT value into column \"event_id\""
assert_eq "no refused event was kept" "$events_before" "$(count events)"

assert_sql_fails "UPDATE on events is refused" "UPDATE lethe.events SET reference = 'x' WHERE type = 'capacity_deleted'" \
  "ERROR:  UPDATE on lethe.events is not allowed"
assert_sql_fails "DELETE on events is refused" "DELETE FROM lethe.events WHERE type = 'deletion_cancelled'" \
  "ERROR:  DELETE on lethe.events is not allowed"
assert_sql_fails "TRUNCATE on events is refused" "TRUNCATE lethe.events" \
  "ERROR:  TRUNCATE on lethe.events is not allowed"
assert_sql_fails "TRUNCATE of tenants cascading into the catalog is refused" "TRUNCATE lethe.tenants CASCADE" \
  "ERROR:  TRUNCATE on lethe."
assert_eq "events are untouched" "$events_before|CAP-1" \
  "$(sql "SELECT count(*), max(reference) FILTER (WHERE type = 'capacity_deleted') FROM lethe.events")"

# ---- holds ---------------------------------------------------------------------------------
H=$(sql "INSERT INTO lethe.holds (tenant_id, item_id, reason, reference) VALUES ('$T', '$C', 'litigation', 'LEGAL-7') RETURNING hold_id")
case "$H" in
  [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*-*-*-????????????) ok "hold_id gets a generated uuid" ;;
  *) not_ok "hold_id gets a generated uuid" "got: $H" ;;
esac
H2=$(sql "INSERT INTO lethe.holds (tenant_id, reason) VALUES ('$T', 'audit') RETURNING hold_id")
assert_eq "each hold gets its own id and a placed_at" "2|2|0" \
  "$(sql "SELECT count(*), count(DISTINCT hold_id), count(*) FILTER (WHERE placed_at IS NULL) FROM lethe.holds WHERE hold_id IN ('$H', '$H2')")"
assert_sql_fails "a hold with more than one scope column is refused" \
  "INSERT INTO lethe.holds (tenant_id, workspace_id, subject_id, reason) VALUES ('$T', '$W', 'user_a', 'x')" \
  "violates check constraint \"holds_one_scope\""

only="ERROR:  hold $H: the only change allowed is setting released_at once"
for change in "tenant_id = '$T2'" "hold_id = 'abcdefab-0000-4000-8000-000000000001'" "workspace_id = '$W'" "subject_id = 'user_a'" \
              "item_id = '$P'" "reason = 'none'" "reference = 'LEGAL-8'" "placed_at = '2020-01-01T00:00:00Z'"; do
    assert_sql_fails "changing a hold's ${change%% =*} is refused" \
      "UPDATE lethe.holds SET $change WHERE hold_id = '$H'" "$(refusal "$only" "${change%% =*}")"
done
assert_sql_fails "releasing with another change is refused" \
  "UPDATE lethe.holds SET released_at = now(), reason = 'done' WHERE hold_id = '$H'" "$only"
assert_sql_fails "releasing before the hold was placed is refused" \
  "UPDATE lethe.holds SET released_at = '2000-01-01T00:00:00Z' WHERE hold_id = '$H'" \
  "violates check constraint \"holds_release_after_placing\""
assert_eq "a refused change leaves the hold as it was" "litigation|LEGAL-7|$C|t" \
  "$(sql "SELECT reason, reference, item_id, released_at IS NULL FROM lethe.holds WHERE hold_id = '$H'")"
sql "UPDATE lethe.holds SET released_at = now() WHERE hold_id = '$H'" >/dev/null
assert_eq "releasing a hold once is allowed" "t" "$(sql "SELECT released_at IS NOT NULL FROM lethe.holds WHERE hold_id = '$H'")"
released=$(sql "SELECT released_at FROM lethe.holds WHERE hold_id = '$H'")
assert_sql_fails "a second release is refused" \
  "UPDATE lethe.holds SET released_at = now() + interval '1 hour' WHERE hold_id = '$H'" \
  "ERROR:  hold $H: already released at "
assert_sql_fails "un-releasing a hold is refused" \
  "UPDATE lethe.holds SET released_at = NULL WHERE hold_id = '$H'" \
  "ERROR:  hold $H: already released at "
assert_eq "the first release stands" "$released" "$(sql "SELECT released_at FROM lethe.holds WHERE hold_id = '$H'")"
assert_sql_fails "DELETE on holds is refused" "DELETE FROM lethe.holds WHERE hold_id = '$H2'" \
  "ERROR:  DELETE on lethe.holds is not allowed"
assert_sql_fails "TRUNCATE on holds is refused" "TRUNCATE lethe.holds" \
  "ERROR:  TRUNCATE on lethe.holds is not allowed"
assert_eq "holds are all still there" 2 "$(count holds)"

# ---- bulk ----------------------------------------------------------------------------------
bulk() { # PREFIX BAD_ROW: 10,000 items in one INSERT ... SELECT; row BAD_ROW (if any) has an unknown kind
    echo "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator, shared, created_at)
          SELECT '$T', ('$1' || lpad(to_hex(i), 12, '0'))::uuid, '$W', 'user' || (i % 100),
                 CASE WHEN i = $2 THEN 'video' ELSE (ARRAY['prompt','response','retrieved','pinned','m365'])[1 + i % 5] END,
                 (ARRAY['EU','US','UK','ANZ'])[1 + i % 4], 's3://bulk/' || i, i % 7 = 0,
                 timestamptz '2026-01-01' + i * interval '1 minute'
            FROM generate_series(1, 10000) i"
}
before=$(count items)
assert_sql_fails "one bad row rejects the whole bulk insert" "$(bulk cccccccc-0000-4000-8000- 5000)" \
  "ERROR:  item cccccccc-0000-4000-8000-000000001388: unknown kind \"video\""
assert_eq "nothing of the rejected bulk insert is kept" "$before" "$(count items)"
sql "$(bulk dddddddd-0000-4000-8000- 0)" >/dev/null
assert_eq "a bulk INSERT ... SELECT of 10,000 items succeeds" "10000" \
  "$(sql "SELECT count(*) FROM lethe.items WHERE item_id::text LIKE 'dddddddd-%'")"

copy_rows() { # FIRST_KIND: two rows for COPY, the first of the given kind
    printf '%s\t%s\t%s\t%s\t%s\tcopy://1\t2026-01-01 00:00:00+00\n' "$T" eeeeeeee-0000-4000-8000-000000000001 "$W" "$1" EU
    printf '%s\t%s\t%s\t%s\t%s\tcopy://2\t2026-01-01 00:00:00+00\n' "$T" eeeeeeee-0000-4000-8000-000000000002 "$W" prompt EU
}
copy_cmd="COPY lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at) FROM STDIN"
err=$(copy_rows video | psql -X -q -v ON_ERROR_STOP=1 -c "$copy_cmd" 2>&1 >/dev/null) && not_ok "COPY with a bad row is refused" "COPY succeeded" ||
  assert_contains "COPY with a bad row is refused" "ERROR:  item eeeeeeee-0000-4000-8000-000000000001: unknown kind \"video\"" "$err"
assert_eq "nothing of the refused COPY is kept" 0 "$(sql "SELECT count(*) FROM lethe.items WHERE item_id::text LIKE 'eeeeeeee-%'")"
copy_rows pinned | psql -X -q -v ON_ERROR_STOP=1 -c "$copy_cmd" >/dev/null 2>&1
assert_eq "COPY of valid rows is accepted" 2 "$(sql "SELECT count(*) FROM lethe.items WHERE item_id::text LIKE 'eeeeeeee-%'")"

finish
