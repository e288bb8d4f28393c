# The SQL is a layer (issue 13, STYLE.md): every statement the engine sends lives in
# engine/db*.c (or in sql/, as functions those call), and every result is read by column name
# (db_get, db_str, db_true, db_get_long, or an index from db_col), so that a reordered or
# renamed SELECT aborts with "no column" instead of printing another column's value. The unit
# suite tests/unit/test_db.c shows the abort; this suite keeps the sources to the rule.
. tests/harness/lib.sh

SOURCES=$(ls engine/*.c jobs/*.c)
OUTSIDE=$(ls engine/*.c jobs/*.c | grep -v '^engine/db')

# A statement is a string literal that begins with an SQL command word.
STATEMENT='"[[:space:]]*(SELECT|INSERT INTO|UPDATE|DELETE FROM|WITH|COPY|CREATE|ALTER|DROP|BEGIN|COMMIT|ROLLBACK|LOCK|TRUNCATE|SET|SAVEPOINT|TABLE|VALUES)\b'
# A read by position: a result accessor whose column argument is not a name (a number, a
# constant, a loop index), on one line or across several (tests/harness/positional_reads.pl).
positional() { perl tests/harness/positional_reads.pl "$@"; }

# The patterns find what they are meant to find (a check that cannot fail proves nothing).
assert_eq "the statement pattern finds a statement" "2" \
    "$(printf '%s\n' 'q = "SELECT 1";' '"  UPDATE lethe.batches SET x = 1"' 'puts("selected");' | grep -cE "$STATEMENT")"
SAMPLE=$(mktemp /tmp/lethe-layer.XXXXXX.c); trap 'rm -f "$SAMPLE"' EXIT
cat > "$SAMPLE" <<'EOS'
PQgetvalue(r, 0, 3);
json_text(out, r, row, B_ID);
PQgetvalue(r, i, 0)[0];
for (int k = 0; k < 9; k++) json_text(o->out, r, row, k);
json_text(stdout, r, row,
          B_STATE);
int c = db_col(r, "line"); PQgetvalue(r, i, c);
json_bool(stdout, r, row, db_col(r, "active"));
db_str(r, 0, "state");
EOS
assert_eq "the positional check finds reads by number, constant and loop index, on one line or two" \
    "$SAMPLE:1 $SAMPLE:2 $SAMPLE:3 $SAMPLE:4 $SAMPLE:5" \
    "$(positional "$SAMPLE" | cut -d: -f1,2 | tr '\n' ' ' | sed 's/ $//')"

found=$(grep -nE "$STATEMENT" $OUTSIDE)
assert_eq "no statement outside engine/db*.c" "" "$found"
found=$(positional $SOURCES)
assert_eq "no result read by position" "" "$found"
# libpq's query calls themselves only in engine/db*.c.
found=$(grep -nE '\b(PQexec|PQexecParams|PQprepare|PQexecPrepared|PQsendQuery|PQsendQueryParams)\(' $OUTSIDE)
assert_eq "libpq is called to run statements only in engine/db*.c" "" "$found"
found=$(grep -nE '\b(db_exec|db_query|db_query_one_row)\(' $OUTSIDE | grep -v '^engine/db')
assert_eq "db_exec and db_query are called only in engine/db*.c" "" "$found"
finish
