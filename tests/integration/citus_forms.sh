# The Citus forms of the run's statements (sql/0047_citus_statements.sql), on one server:
# every edit still finds its text, a statement rewritten without its Citus form is named, and
# the edited functions mean what the others mean. One catalog (tests/harness/compare-catalog.sh,
# the one make check-citus compares across servers) goes into two databases, one of them with
# every Citus form applied; the same runs and acks on both must leave the same item states,
# batches and audit, and print the same.
. tests/harness/lib.sh
. tests/harness/compare-catalog.sh
WORK=$(mktemp -d /tmp/lethe-citus-forms.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
DAY=$(date -u -d '-2 days' +%F)
run_lethe migrate
assert_rc "migrate" 0

assert_eq "every Citus form still finds the statement it replaces" "" \
  "$(sql "SELECT fn || ' ' || step || ': ' || problem FROM lethe.citus_edits_check()" 2>&1)"
assert_eq "the Citus forms cover the functions the run reaches" "t" \
  "$(sql "SELECT count(DISTINCT fn) >= 15 FROM lethe.citus_edits")"

# A statement of one server's form rewritten (here, by a space) and its Citus form not: named.
assert_eq "a statement rewritten without its Citus form is named" \
  "lethe.propagate_seeds() 1: its text is not in the function" \
  "$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
DO $$ BEGIN
    EXECUTE replace(pg_get_functiondef('lethe.propagate_seeds()'::regprocedure),
                    'AND i.locator IS NOT NULL))', 'AND i.locator IS NOT NULL ) )');
END $$;
SELECT fn || ' ' || step || ': ' || problem FROM lethe.citus_edits_check();
ROLLBACK;
SQL
)"

for db in forms_plain forms_edited; do
    mkdir -p "$WORK/$db"
    printf 'spool: { directory = "%s/%s/spool"; keep = "7d"; };\naudit: { anchor_file = "%s/%s/anchors.jsonl"; };\n' \
        "$WORK" $db "$WORK" $db > "$WORK/$db.conf"
    sql "DROP DATABASE IF EXISTS $db" >/dev/null
    sql "CREATE DATABASE $db" >/dev/null
    PGDATABASE=$db "$LETHE" migrate >/dev/null 2>&1
done
# What citus_layout() does on a Citus database, here on one server.
PGDATABASE=forms_edited sql "SELECT count(*) FROM lethe.citus_edits_check(true)" >"$WORK/edited" 2>&1
PGDATABASE=forms_edited sql "SELECT lethe.citus_item_status()" >>"$WORK/edited" 2>&1
assert_eq "every Citus form applies on one server" "0" "$(head -1 "$WORK/edited")"
assert_eq "the functions were edited" "t|t|t" \
  "$(PGDATABASE=forms_edited sql "SELECT (SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                                          WHERE p.oid = 'lethe.lineage(uuid[],uuid[],timestamptz,boolean,boolean)'::regprocedure) = 'plpgsql',
                                         position('OFFSET 0' IN pg_get_functiondef('lethe.derive_consume(integer,integer)'::regprocedure)) = 0,
                                         position('item_status_rows' IN pg_get_viewdef('lethe.item_status'::regclass)) > 0
                                         AND position('evaluate_all' IN (SELECT prosrc FROM pg_proc
                                              WHERE oid = 'lethe.item_status_rows()'::regprocedure)) > 0")"
assert_eq "applied edits are not applied again" "" \
  "$(PGDATABASE=forms_edited sql "SELECT fn FROM lethe.citus_edits_check(true)")"
# Every migrate ends with lethe.harden(), which rewrites functions' headers: the next migrate
# on Citus must still see the edited functions as edited (their bodies).
assert_eq "after the hardening, applied edits are still not applied again" "" \
  "$(PGDATABASE=forms_edited sql "SELECT lethe.harden()" >/dev/null 2>&1
     PGDATABASE=forms_edited sql "SELECT fn || ' ' || step || ': ' || problem FROM lethe.citus_edits_check(true)" 2>&1)"
# A row added by a later migration for a function edited already (sql/0048) is applied to the
# edited body, alone: the earlier rows, whose text is gone, are not tried again.
later=$(PGDATABASE=forms_edited psql -X -q -A -t -v ON_ERROR_STOP=1 <<'SQL' 2>&1
BEGIN;
INSERT INTO lethe.citus_edits (fn, step, old, new, why) VALUES
('lethe.record_locator_hmacs(text,uuid[],uuid[],text[])', 3, 'recorded_at = EXCLUDED.recorded_at',
 'recorded_at = EXCLUDED.recorded_at /* step 3 */', 'test');
SELECT coalesce(string_agg(fn || ' ' || step || ': ' || problem, ','), '') FROM lethe.citus_edits_check(true);
SELECT (length(prosrc) - length(replace(prosrc, '/* step 3 */', ''))) / length('/* step 3 */')
  FROM pg_proc WHERE oid = 'lethe.record_locator_hmacs(text,uuid[],uuid[],text[])'::regprocedure;
SELECT last_step FROM lethe.citus_edited WHERE fn = 'lethe.record_locator_hmacs(text,uuid[],uuid[],text[])';
ROLLBACK;
SQL
)
assert_eq "a later step of an edited function is applied, alone" "|1|3" "$(printf '%s' "$later" | tr '\n' '|')"

for db in forms_plain forms_edited; do
    catalog $db >"$WORK/$db.catalog" 2>&1
    sequence $db "$WORK/$db.conf" "$WORK/$db" "$LETHE"
    states $db >"$WORK/$db.states" 2>&1
done
# The dry run's plan (due_items(), sql/0072) after the runs, as of a day on, in a transaction
# rolled back in which the catalog's holds are released and a hold on every tenant is placed an
# hour after that as_of: the items the old holds kept are due, and the new holds hold them. The
# Citus form matches holds placed after as_of in statements of their own.
AS=$(sql "SELECT lethe.iso_utc(now() + interval '1 day')")
plan() { PGDATABASE=$1 psql -X -q -A -t -v ON_ERROR_STOP=1 <<SQL 2>&1
BEGIN;
UPDATE lethe.holds SET released_at = now(), released_by = 'citus_forms' WHERE released_at IS NULL;
INSERT INTO lethe.holds (tenant_id, hold_id, reason, placed_at)
SELECT t.tenant_id, md5('late' || t.tenant_id)::uuid, 'placed after the plan''s as_of', '$AS'::timestamptz + interval '1 hour'
  FROM lethe.tenants t;
SELECT string_agg(concat_ws(' ', d.tenant_id, d.item_id, d.rule, d.hold_id), ','
                  ORDER BY d.tenant_id, d.item_id, d.rule)
  FROM lethe.due_items('$AS', 0, 0) d;
SELECT count(*) FROM lethe.due_items('$AS', 0, 0) d
  JOIN lethe.holds h ON h.tenant_id = d.tenant_id AND h.hold_id = d.hold_id
 WHERE h.placed_at > '$AS';
ROLLBACK;
SQL
}
plan forms_plain >"$WORK/plain.plan"; plan forms_edited >"$WORK/edited.plan"
assert_eq "the dry run's plan is the same with the Citus forms, holds placed after its as_of included" \
  "$(cat "$WORK/plain.plan")" "$(cat "$WORK/edited.plan")"
assert_eq "... and those holds hold its items" "t" "$(awk 'NR == 2 { print ($1 > 0) ? "t" : $0 }' "$WORK/edited.plan")"
for f in catalog run1 ack run2 status summary explain; do
    assert_eq "$f: the same output with the Citus forms" \
        "$(norm "$WORK/forms_plain.$f" | sed 's/forms_plain/DB/g')" \
        "$(norm "$WORK/forms_edited.$f" | sed 's/forms_edited/DB/g')"
done
assert_eq "the runs purged, failed, held and scheduled items" "t|t|t|t" \
  "$(PGDATABASE=forms_plain sql "SELECT bool_or(state = 'purged'), bool_or(attempts > 0), bool_or(state = 'held'),
                                        bool_or(state = 'scheduled') FROM lethe.item_status")"
assert_eq "copies and shared items were purged by their lineage and their sharing" "t|t|t" \
  "$(PGDATABASE=forms_plain sql "SELECT bool_or(s.state IN ('purged', 'in_flight') AND i.parent_id IS NOT NULL),
                                        bool_or(s.rule = 'shared_retention'), bool_or(s.rule = 'shared_while_opted_out')
                                   FROM lethe.item_status s JOIN lethe.items i USING (tenant_id, item_id)")"
if diff "$WORK/forms_plain.states" "$WORK/forms_edited.states" >"$WORK/diff"; then
    ok "item states, batches and audit are the same with the Citus forms"
else
    not_ok "item states, batches and audit are the same with the Citus forms" "$(head -20 "$WORK/diff")"
fi
# lethe.evaluate_all() (the Citus view's evaluation) against evaluate_item(), item by item.
assert_eq "evaluate_all agrees with evaluate_item on every live item" "t|0|0" \
  "$(PGDATABASE=forms_plain sql "WITH a AS (
        SELECT i.tenant_id, i.item_id, e.* FROM lethe.items i
          CROSS JOIN LATERAL lethe.evaluate_item(i.tenant_id, i.item_id, '${DAY}T18:00:00Z') e
         WHERE i.locator IS NOT NULL AND e.rule IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b WHERE b.tenant_id = i.tenant_id
                              AND b.item_id = i.item_id AND (b.outcome IS NULL OR b.outcome = 'purged'))),
      b AS (SELECT * FROM lethe.evaluate_all('${DAY}T18:00:00Z'))
     SELECT (SELECT count(*) FROM a) > 0, (SELECT count(*) FROM (TABLE a EXCEPT ALL TABLE b) x),
            (SELECT count(*) FROM (TABLE b EXCEPT ALL TABLE a) y)")"
finish
