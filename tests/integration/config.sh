# The config file (SPEC §6) through the real binary: each mistake exits 2 with the file, the
# line, the setting and the value, and a hint; the database is reachable, so only the config
# can be at fault. Then a valid full config, and which connection setting wins.
. tests/harness/lib.sh
psql -X -q -c 'CREATE DATABASE config_t' >/dev/null
export PGDATABASE=config_t
D=$(mktemp -d /tmp/lethe-config.XXXXXX)
trap 'rm -rf "$D"' EXIT
chmod 0755 "$D"   # so that an unprivileged user can read the configs (see the key file test)
CONF=$D/lethe.conf

# conf_fails NAME "CONFIG TEXT" "EXPECTED STDERR": the whole two-line message, exactly.
conf_fails() {
    printf '%s\n' "$2" >"$CONF"
    run_lethe --config "$CONF" migrate
    if [ "$RC" = 2 ] && [ "$ERR" = "$3" ] && [ -z "$OUT" ]; then
        ok "$1"
    else
        not_ok "$1" "expected exit 2, got $RC" "expected stderr: $3" "actual stderr:   $ERR" "stdout: $OUT"
    fi
}
DUR_HINT='hint: a duration is a non-negative integer and a unit (s, m, h, d, w or mo), e.g. "30d"'

# ---- syntax --------------------------------------------------------------------------------
conf_fails "a syntax error names the file and the line" \
'database: { conninfo = "dbname=lethe"; };
batch: { max_items = = 5; };' \
"error: config: '$CONF' line 2 (setting 'max_items'): syntax error
hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes"
conf_fails "a value not quoted names its setting, never the value (a password, maybe)" \
'database: { conninfo = "dbname=lethe port=5"; };
database2: { conninfo = dbname=lethe password=s3cret; };' \
"error: config: '$CONF' line 2 (setting 'conninfo'): syntax error
hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes"
conf_fails "an unclosed group is a syntax error at the end of the file" \
'# lethe
rules: {
  deletion_request: { deadline = "30d"; };' \
"error: config: '$CONF' line 4 at the end of the file (something left unfinished: a '{', '(' or '[' never closed, a ';' missing?): syntax error
hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes"
# A '"' missing: libconfig reads the string across line ends, and the error came lines later, or
# at the end of the file, blamed on an unfinished group (an outside tryout).
conf_fails "a string never closed is named by the line it opens on" \
'batch: { max_items = 5; };
# a "comment" holds no string
schedule: { lookahead = "2d; };' \
"error: config: '$CONF' line 4 at the end of the file (the string opened on line 3 is never closed: a '\"' missing?): syntax error
hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes"
conf_fails "... and one that runs on into the next line's string, too" \
'batch: { max_items = 5; };
schedule: { lookahead = "2d; };
spool: { keep = "7d"; };' \
"error: config: '$CONF' line 3 (the string opened on line 2 runs on to line 3: a '\"' missing on line 2?): syntax error
hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes"
# A lookahead not shorter than the shortest deadline: said, not refused (an outside tryout took
# 400d: status --check would report a stopped timer only 400 days on).
printf 'schedule: { lookahead = "400d"; };\n' >"$CONF"
run_lethe --config "$CONF" batches --limit 1
assert_eq "a lookahead of 400d is said with its file and line and the shortest deadline (no schema here yet)" \
  "warning: config: '$CONF' line 1: 'schedule.lookahead' 400d is not shorter than the shortest deadline (subject_request, 1mo): every item is purged as soon as it is due, and 'status --check' says that no run succeeded only 400d after the last one did" \
  "$(head -1 <<<"$ERR")"
printf 'schedule: { lookahead = "7d"; };\n' >"$CONF"
run_lethe --config "$CONF" batches --limit 1
assert_eq "... one of 7d is not" "0" "$(grep -c 'lookahead' <<<"$ERR")"
conf_fails "... and one that runs on to a later line's string (an outside tryout's: it was blamed on an unfinished group)" \
'batch: { max_items = 5; };
schedule: {
  lookahead = "2h;
};
metrics: { file = "/x"; };' \
"error: config: '$CONF' line 5 (the string opened on line 3 runs on to line 5: a '\"' missing on line 3?): syntax error
hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes"
conf_fails "a setting given twice is refused" \
'batch: { max_items = 5; };
schedule: { lookahead = "1d"; lookahead = "2d"; };' \
"error: config: '$CONF' line 2 (setting 'lookahead'): syntax error: duplicate setting name
hint: a setting is given twice in one group, or a group twice; keep one of them (line 2: schedule: { lookahead = \"1d\"; lookahead = \"2d\"; };)"
conf_fails "a group given twice is refused, the hint naming groups too" \
'batch: { max_items = 5; };
batch: { max_items = 6; };' \
"error: config: '$CONF' line 2 (setting 'max_items'): syntax error: duplicate setting name
hint: a setting is given twice in one group, or a group twice; keep one of them (line 2: batch: { max_items = 6; };)"

# ---- unknown settings ----------------------------------------------------------------------
conf_fails "an unknown top-level setting is refused" \
'batch: { max_items = 5; };

colour = "blue";' \
"error: config: '$CONF' line 3: 'colour': unknown setting
hint: known settings here: database, spool, executor, audit, batch, schedule, metrics, rules"
conf_fails "an unknown rule is refused" \
'rules: {
  deletion_request: { deadline = "30d"; };
  foo: { deadline = "1d"; };
};' \
"error: config: '$CONF' line 3: 'rules.foo': unknown setting
hint: known settings here: deletion_request, subject_request, capacity_deleted, sharing_opt_out, shared_retention"
conf_fails "an unknown setting inside a rule is refused" \
'rules: {
  deletion_request: {
    deadline = "30d";
    foo = "1d";
  };
};' \
"error: config: '$CONF' line 4: 'rules.deletion_request.foo': unknown setting
hint: known settings here: deadline, grace, enabled"
conf_fails "an unknown database setting is refused" 'database: { conninfo = "dbname=x"; user = "lethe"; };' \
"error: config: '$CONF' line 1: 'database.user': unknown setting
hint: known settings here: conninfo"
conf_fails "an unknown executor setting is refused" 'executor: { command = "/bin/true"; retries = 3; };' \
"error: config: '$CONF' line 1: 'executor.retries': unknown setting
hint: known settings here: command, timeout, locations"

# ---- wrong types ---------------------------------------------------------------------------
conf_fails "a string where an integer is expected is refused" 'batch: { max_items = "10000"; };' \
"error: config: '$CONF' line 1: 'batch.max_items': expected an integer, got \"10000\"
hint: max_items is a whole number, e.g. max_items = 10000;"
conf_fails "a float where an integer is expected is refused" 'batch: { max_items = 2.5; };' \
"error: config: '$CONF' line 1: 'batch.max_items': expected an integer, got 2.5
hint: max_items is a whole number, e.g. max_items = 10000;"
conf_fails "a float in exponent form is shown as written (it read 1000)" 'batch: { max_items = 1e3; };' \
"error: config: '$CONF' line 1: 'batch.max_items': expected an integer, got 1e3
hint: max_items is a whole number, e.g. max_items = 10000;"
conf_fails "a file that begins with a byte order mark is said to" $'\xef\xbb\xbfbatch: { max_items = 10; };' \
"error: config: '$CONF' line 1: the file begins with a byte order mark (bytes EF BB BF), which libconfig cannot read
hint: save it as UTF-8 without a byte order mark, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' '$CONF'"
conf_fails "an integer where a group is expected is refused" 'batch = 10000;' \
"error: config: '$CONF' line 1: 'batch': expected a group, got 10000
hint: write batch as a group: batch: { ... };"
conf_fails "an integer where a rule's group is expected is refused" 'rules: { deletion_request = 30; };' \
"error: config: '$CONF' line 1: 'rules.deletion_request': expected a group, got 30
hint: each rule is a group, e.g. deletion_request: { deadline = \"30d\"; grace = \"0d\"; };"
conf_fails "an integer where a string is expected is refused" 'database: { conninfo = 5432; };' \
"error: config: '$CONF' line 1: 'database.conninfo': expected a string, got 5432
hint: conninfo is a libpq connection string, e.g. \"host=/run/postgresql dbname=lethe\""
conf_fails "a port that is not a number is a config error (exit 2, file and line), not a failed connection" \
  'database: { conninfo = "host=/nowhere port=abc password=s3cret"; };' \
"error: config: '$CONF' line 1: 'database.conninfo': its port is not a port number (the value is not shown: it may hold a password)
hint: port=N, N from 1 to 65535 (or several, comma-separated, one per host)"
conf_fails "... and so is a port past 65535 in a list" 'database: { conninfo = "host=a,b port=5432,65536"; };' \
"error: config: '$CONF' line 1: 'database.conninfo': its port is not a port number (the value is not shown: it may hold a password)
hint: port=N, N from 1 to 65535 (or several, comma-separated, one per host)"
conf_fails "... and a password libpq would take for an empty port is not shown" \
  'database: { conninfo = "host=/nowhere port= password=s3cret"; };' \
"error: config: '$CONF' line 1: 'database.conninfo': its port is not a port number (the value is not shown: it may hold a password)
hint: port=N, N from 1 to 65535 (or several, comma-separated, one per host)"
printf 'batch: { max_items = 5; };\n' >"$CONF"
run_lethe --config "$CONF" -h /nowhere -p abc status
assert_eq "-p that is not a port: a usage error (exit 2) before any connection" \
  "2|error: -p: not a port number
hint: -p N, N from 1 to 65535 (or several, comma-separated, one per host)" "$RC|$ERR"
run_lethe --config "$CONF" --db "host=/nowhere port= password=s3cret" status
assert_eq "--db whose port libpq would take a password for: exit 2, the value not shown" \
  "2|error: --db: its port is not a port number (the value is not shown: it may hold a password)
hint: port=N, N from 1 to 65535 (or several, comma-separated, one per host)" "$RC|$ERR"
# A mistyped key is named (it is no value); the value given with it is not (an outside tryout).
run_lethe --config "$CONF" --db "dbname=lethe passwrd=s3cret" status
assert_eq "--db with a mistyped key: exit 2, the key named, its value not shown" \
  "2|error: cannot connect to the database: bad connection string (--db): invalid connection option \"passwrd\"" \
  "$RC|$(head -1 <<<"$ERR")"
assert_not_contains "... nor anywhere" "s3cret" "$OUT$ERR"
# libpq judges some values only as it connects: one it does not know is the connection string's
# error, exit 2, where it came from named, the value not shown (an outside tryout: exit 1, as if
# the server were down, no line named).
printf 'batch: { max_items = 5; };\ndatabase: { conninfo = "sslmode=bogus%s"; };\n' "$(printf ' host=%s port=%s dbname=%s' "$PGHOST" "$PGPORT" "$PGDATABASE")" >"$CONF"
run_lethe --config "$CONF" status
assert_eq "an sslmode libpq does not know in the config: exit 2, its file and line, the value not shown" \
  "2|error: config: '$CONF' line 2: 'database.conninfo': libpq refuses a value in it (invalid sslmode value: \"...\") (the value is not shown: it may hold a password)
hint: libpq's documentation lists each keyword's values (\"Parameter Key Words\"), e.g. sslmode is disable, allow, prefer, require, verify-ca or verify-full" "$RC|$ERR"
run_lethe --config "$CONF" --db "dbname=$PGDATABASE connect_timeout=abc password=s3cret" status
assert_eq "... an integer option that is not one, given with --db: exit 2, the keyword named" \
  "2|error: --db: libpq refuses a value in it (invalid integer value \"...\" for connection option \"connect_timeout\") (the value is not shown: it may hold a password)" \
  "$RC|$(head -1 <<<"$ERR")"
run_lethe --config "$CONF" --db "host=a,b port=1,2,3" status
assert_eq "... ports that do not pair with the hosts: exit 2" \
  "2|error: --db: libpq refuses a value in it (could not match 3 port numbers to 2 hosts) (the value is not shown: it may hold a password)" \
  "$RC|$(head -1 <<<"$ERR")"
printf 'database: { conninfo = "host=%s port=%s dbname=%s"; };\n' "$PGHOST" "$PGPORT" "$PGDATABASE" >"$CONF"
OUT=$(PGSSLMODE=bogus "$LETHE" --config "$CONF" status 2>&1); RC=$?
assert_eq "... a PG* variable's value is not blamed on database.conninfo, which does not set it" \
  "2|error: cannot connect to the database: libpq refuses a value of its environment (invalid sslmode value: \"...\"): a PG* variable (PGSSLMODE, PGTARGETSESSIONATTRS, ...) gives sslmode, which database.conninfo does not" \
  "$RC|$(head -1 <<<"$OUT")"
printf 'batch: { max_items = 5; };\n' >"$CONF"
OUT=$(PGTARGETSESSIONATTRS=sideways "$LETHE" --config "$CONF" status 2>&1); RC=$?
assert_eq "... or in libpq's environment: exit 2, the variables named" \
  "2|error: cannot connect to the database: libpq refuses a value of its environment (invalid target_session_attrs value: \"...\"): a PG* variable (PGSSLMODE, PGTARGETSESSIONATTRS, ...)" \
  "$RC|$(head -1 <<<"$OUT")"
printf 'database: { conninfo = "host=/nowhere/x,/nowhere/y port=\x27 05493 ,\x27"; };\n' >"$CONF"
run_lethe --config "$CONF" status
assert_eq "a port as libpq takes it (blanks, leading zeros, an empty one) passes the check (and fails to connect)" \
  "1|error: cannot connect to the database" "$RC|$(head -1 <<<"$ERR" | cut -d: -f1-2)"
conf_fails "a conninfo libpq cannot read names the file and the line, not the value (it may hold a password)" \
  'batch: { max_items = 5; };
database: { conninfo = "host=x password=s3cret =="; };' \
"error: config: '$CONF' line 2: 'database.conninfo': libpq cannot read it (invalid connection option \"\"): (the value is not shown: it may hold a password)
hint: conninfo is key=value pairs or a postgresql:// URI, e.g. \"host=/run/postgresql dbname=lethe\""
conf_fails "an empty executor command is refused" 'executor: { command = ""; };' \
"error: config: '$CONF' line 1: 'executor.command': must not be empty, got \"\"
hint: command is the path of the deleter, e.g. \"/usr/libexec/lethe/fs-delete\""
# The manifest path is appended to the command as written: a comment took it in (an outside
# tryout's "del.sh   # US deleter" failed every batch of its geo, the run exiting 0).
CMD_HINT='hint: lethe runs the command as written with the manifest path appended as one more argument; move a comment to a line of its own, e.g. # US deleter, then command = "/usr/libexec/lethe/us-delete";'
conf_fails "a deleter command ending in a comment is refused" 'executor: { command = "/bin/true   # US deleter"; };' \
"error: config: '$CONF' line 1: 'executor.command': a comment ('#') would take the manifest path lethe appends into it; got \"/bin/true   # US deleter\"
$CMD_HINT"
END_HINT='hint: lethe runs the command as written with the manifest path appended as one more argument; end it with the deleter and its options, e.g. command = "/usr/libexec/lethe/us-delete --root /srv";'
conf_fails "... and a location's ending in ';'" 'executor: { locations: { EU = "sleep 1; /bin/true;"; }; };' \
"error: config: '$CONF' line 1: 'executor.locations.EU': a trailing ';', '&' or '|' would make the manifest path lethe appends a command of its own; got \"sleep 1; /bin/true;\"
$END_HINT"
conf_fails "... and one ending in '>' (the manifest overwritten)" 'executor: { command = "/bin/true >"; };' \
"error: config: '$CONF' line 1: 'executor.command': a trailing '<' or '>' would make the manifest path lethe appends a redirection (a '>' would overwrite the manifest); got \"/bin/true >\"
$END_HINT"
conf_ok_cmd() {
    printf 'executor: { command = "%s"; };\n' "$2" >"$CONF"
    run_lethe --config "$CONF" batches   # no schema here: a config taken gets past the config
    case "$ERR" in *"error: config:"*) not_ok "$1" "the config was refused" "$ERR" ;; *) ok "$1" ;; esac
}
conf_ok_cmd "a '#' inside a word or quotes, and an escaped ';', are no comment and no end" \
  "sleep 0; /bin/true a#b '# x;' \\\\;"
conf_ok_cmd "a command of two lines: the path goes to the last" 'set -e\n/bin/true 2>&1'
conf_ok_cmd "... and a comment on a line before the last is the shell's, harmless" 'set -e # strict; \"quoted\n/bin/true'
conf_fails "... but a comment on a line of its own at its end is refused" 'executor: { command = "/bin/true\n# deleter"; };' \
"error: config: '$CONF' line 1: 'executor.command': a comment ('#') would take the manifest path lethe appends into it; got \"/bin/true\\x0A# deleter\"
$CMD_HINT"
conf_fails "a number where true or false is expected is refused" 'rules: { subject_request: { enabled = 1; }; };' \
"error: config: '$CONF' line 1: 'rules.subject_request.enabled': expected true or false, got 1
hint: write enabled = true; or enabled = false;"
conf_fails "a location that is not a geo name is refused" 'executor: { locations: { eu = "/bin/true"; }; };' \
"error: config: '$CONF' line 1: 'executor.locations.eu': is not a geo name (upper-case letters, digits, _), got the key \"eu\"
hint: name a geo as the catalog does, e.g. EU = \"/usr/libexec/lethe/eu-delete\";"

# ---- sizes ---------------------------------------------------------------------------------
conf_fails "batch.max_items = 0 is refused" 'batch: { max_items = 0; };' \
"error: config: '$CONF' line 1: 'batch.max_items': must be 1 or more, got 0
hint: a batch holds at least one item, e.g. max_items = 10000;"
conf_fails "a negative batch.max_items is refused" 'batch: { max_items = -5; };' \
"error: config: '$CONF' line 1: 'batch.max_items': must be 1 or more, got -5
hint: a batch holds at least one item, e.g. max_items = 10000;"
# libconfig keeps the low 32 bits of an integer without an L suffix: this one read as 1.
MAX_HINT='hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;'
conf_fails "batch.max_items = 4294967297 is refused, not read as 1" 'batch: { max_items = 4294967297; };' \
"error: config: '$CONF' line 1: 'batch.max_items': must be 2147483647 or less, got 4294967297
$MAX_HINT"
conf_fails "a batch.max_items beyond the database's integer is refused" \
'batch: {
  max_items =   # split over lines
    2147483648;
};' \
"error: config: '$CONF' line 2: 'batch.max_items': must be 2147483647 or less, got 2147483648
$MAX_HINT"
conf_fails "a batch.max_items beyond 64 bits is refused as written" 'batch: { max_items = 99999999999999999999L; };' \
"error: config: '$CONF' line 1: 'batch.max_items': must be 2147483647 or less, got 99999999999999999999L
$MAX_HINT"
conf_fails "a duration beyond 1000 years is refused" 'spool: { keep = "365251d"; };' \
"error: config: '$CONF' line 1: 'spool.keep': out of range, got \"365251d\"
hint: a duration is at most 1000 years, e.g. \"365250d\" or \"12000mo\""

# ---- durations -----------------------------------------------------------------------------
conf_fails "a duration without a unit is refused" \
'rules: {
  capacity_deleted: { deadline = "180"; };
};' \
"error: config: '$CONF' line 2: 'rules.capacity_deleted.deadline': bad duration \"180\"
hint: durations take a unit, e.g. \"180d\""
conf_fails "an unquoted duration is refused" 'spool: { keep = 7; };' \
"error: config: '$CONF' line 1: 'spool.keep': bad duration 7
hint: durations take a unit, e.g. \"7d\""
conf_fails "a deleter's timeout without a unit is taken for seconds in the hint (not 30 days)" \
'executor: { command = "/bin/true"; timeout = 30; };' \
"error: config: '$CONF' line 1: 'executor.timeout': bad duration 30
hint: durations take a unit, e.g. \"30s\""
conf_fails "an unquoted negative duration is refused without suggesting a negative one" \
'rules: { deletion_request: { grace = -5; }; };' \
"error: config: '$CONF' line 1: 'rules.deletion_request.grace': bad duration -5
$DUR_HINT"
conf_fails "a bad unit is refused" 'rules: { deletion_request: { deadline = "1y"; }; };' \
"error: config: '$CONF' line 1: 'rules.deletion_request.deadline': bad duration \"1y\"
$DUR_HINT"
conf_fails "a space before the unit is refused" 'rules: { subject_request: { deadline = "1 mo"; }; };' \
"error: config: '$CONF' line 1: 'rules.subject_request.deadline': bad duration \"1 mo\"
$DUR_HINT"
conf_fails "a negative duration is refused" 'rules: { shared_retention: { grace = "-1d"; }; };' \
"error: config: '$CONF' line 1: 'rules.shared_retention.grace': bad duration \"-1d\"
$DUR_HINT"
conf_fails "a zero lookahead is refused" 'schedule: { lookahead = "0d"; };' \
"error: config: '$CONF' line 1: 'schedule.lookahead': must be positive, got \"0d\"
hint: 'lookahead' must be longer than zero, e.g. \"2d\""
conf_fails "a zero executor timeout is refused" 'executor: { timeout = "0s"; };' \
"error: config: '$CONF' line 1: 'executor.timeout': must be positive, got \"0s\"
hint: 'timeout' must be longer than zero, e.g. \"15m\""
conf_fails "a zero rule deadline is refused" 'rules: { sharing_opt_out: { deadline = "0mo"; }; };' \
"error: config: '$CONF' line 1: 'rules.sharing_opt_out.deadline': must be positive, got \"0mo\"
hint: 'deadline' must be longer than zero, e.g. \"2d\""
# A deadline longer than the commitment its rule keeps (SPEC §1) would schedule every pending
# item past it and record the purge as on time: refused. Shorter is a stricter policy: taken.
conf_fails "a deadline longer than the commitment is refused" 'rules: { deletion_request: { deadline = "30mo"; }; };' \
"error: config: '$CONF' line 1: 'rules.deletion_request.deadline': longer than the commitment it keeps, got \"30mo\"
hint: the published commitment is 30d: a deadline may be shortened, never lengthened; write deadline = \"30d\" or less"
conf_fails "... in days where it is a calendar month (31 days outlast February)" \
'rules: { subject_request: { deadline = "31d"; }; };' \
"error: config: '$CONF' line 1: 'rules.subject_request.deadline': longer than the commitment it keeps, got \"31d\"
hint: the published commitment is 1mo: a deadline may be shortened, never lengthened; write deadline = \"1mo\" or less (in days, \"28d\" or less: a month can be that short)"
conf_fails "... in months where it is days (a month can be 31 days)" \
'rules: { deletion_request: { deadline = "1mo"; }; };' \
"error: config: '$CONF' line 1: 'rules.deletion_request.deadline': longer than the commitment it keeps, got \"1mo\"
hint: the published commitment is 30d: a deadline may be shortened, never lengthened; write deadline = \"30d\" or less"

# ---- the audit key -------------------------------------------------------------------------
# Read only by the commands that compute HMACs with it (run, rerun, ack): they refuse a key
# they cannot use with exit 2 before doing anything; every other command never opens it.
# run_lethe_within SECONDS ARGS...: run_lethe, killed (exit 124) if it takes longer: a FIFO
# that is waited on instead of refused fails the test rather than hanging the suite.
run_lethe_within() {
    local t=$1; shift
    OUT=$(timeout "$t" "$LETHE" "$@" 2>"$D/err"); RC=$?; ERR=$(cat "$D/err")
}
psql -X -q -c 'CREATE DATABASE config_key_t' >/dev/null
KEYDB="host=$PGHOST port=$PGPORT user=$PGUSER dbname=config_key_t"
# key_fails NAME "CONFIG TEXT" "EXPECTED STDERR": as conf_fails, for 'run --dry-run'.
key_fails() {
    printf '%s\n' "$2" >"$CONF"
    run_lethe_within 30 --config "$CONF" run --dry-run
    if [ "$RC" = 2 ] && [ "$ERR" = "$3" ] && [ -z "$OUT" ]; then
        ok "$1"
    else
        not_ok "$1" "expected exit 2, got $RC" "expected stderr: $3" "actual stderr:   $ERR" "stdout: $OUT"
    fi
}
KEY_HINT="and make it readable by the lethe user, or remove the setting"
KEY_NAMES='hint: key_file names the file that holds the HMAC key, e.g. "/etc/lethe/audit.key"'
key_fails "a missing audit.key_file is refused" "audit: { key_file = \"$D/missing.key\"; };" \
"error: config: '$CONF' line 1: 'audit.key_file': cannot read the key file (No such file or directory): \"$D/missing.key\"
hint: create it with 'head -c 32 /dev/urandom > $D/missing.key' $KEY_HINT"
mkdir "$D/keydir"
key_fails "a directory as audit.key_file is refused" "audit: { key_file = \"$D/keydir\"; };" \
"error: config: '$CONF' line 1: 'audit.key_file': cannot read the key file (Is a directory): \"$D/keydir\"
$KEY_NAMES"
: >"$D/empty.key"
key_fails "an empty audit.key_file is refused" "audit: { key_file = \"$D/empty.key\"; };" \
"error: config: '$CONF' line 1: 'audit.key_file': the key file is empty: \"$D/empty.key\"
hint: create it with 'head -c 32 /dev/urandom > $D/empty.key' $KEY_HINT"
mkfifo "$D/fifo.key"
key_fails "a FIFO as audit.key_file is refused at once" \
"audit: {
  key_file = \"$D/fifo.key\";
};" \
"error: config: '$CONF' line 2: 'audit.key_file': the key file is not a regular file (a FIFO): \"$D/fifo.key\"
$KEY_NAMES"
for cmd in "ack 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f" "rerun 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f"; do
    run_lethe_within 30 --config "$CONF" $cmd
    assert_rc "${cmd%% *} needs the key too: a FIFO exits 2" 2
done
run_lethe_within 30 --config "$CONF" --db "$KEYDB" migrate
assert_rc "migrate never opens the key file, not even a FIFO" 0
run_lethe --config "$CONF" --db "$KEYDB" status
assert_rc "status never opens the key file" 0
run_lethe_within 30 --config "$CONF" --db "$KEYDB" hold list
assert_rc "hold list never opens the key file (it computes no HMAC)" 0
run_lethe_within 30 --config "$CONF" --db "$KEYDB" hold place --tenant 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f --reason r
assert_rc "hold place needs the key: a FIFO exits 2" 2

# README's install order: 'sudo -u postgres lethe migrate' with a key only the lethe user can
# read. root reads everything, so as root the binary runs as the unprivileged postgres user
# (the harness's server runs as it, and copies the binary where it can reach it).
head -c 32 /dev/urandom >"$D/secret.key"
chmod 0600 "$D/secret.key"
printf 'audit: { key_file = "%s"; };\n' "$D/secret.key" >"$CONF"
chmod 0644 "$CONF"
as_other() { # runs lethe as a user who cannot read secret.key; sets RC, OUT and ERR
    if [ "$(id -u)" = 0 ]; then
        OUT=$(runuser -u postgres -- "$LETHE" "$@" 2>"$D/err"); RC=$?
    else
        chmod 0000 "$D/secret.key"
        OUT=$("$LETHE" "$@" 2>"$D/err"); RC=$?
        chmod 0600 "$D/secret.key"
    fi
    ERR=$(cat "$D/err")
}
as_other --config "$CONF" --db "$KEYDB" migrate
assert_rc "migrate runs as another user without reading the key" 0
as_other --config "$CONF" --db "$KEYDB" run --dry-run
assert_eq "run as a user who cannot read the key exits 2" 2 "$RC"
assert_eq "an unreadable audit.key_file is named with the reason" \
"error: config: '$CONF' line 1: 'audit.key_file': cannot read the key file (Permission denied): \"$D/secret.key\"
hint: the file exists: give the lethe user read access to it (root:lethe 0640, or owned by lethe 0600) and run as that user; do not create a new key or remove the setting: the HMACs recorded so far were made with this one" "$ERR"

# A key others can read is used, with a warning naming the mode.
cp "$D/secret.key" "$D/open.key"
chmod 0644 "$D/open.key"
printf 'audit: { key_file = "%s"; };\n' "$D/open.key" >"$CONF"
run_lethe --config "$CONF" --db "$KEYDB" run --dry-run
assert_rc "a key readable by others still works" 0
assert_eq "a key readable by others is warned about" \
"warning: config: '$CONF' line 1: 'audit.key_file': the key file can be read or changed by other users (mode 0644): \"$D/open.key\"
hint: chmod 0600 $D/open.key, owned by the user lethe runs as (or 0640 owned by root and the lethe group)" \
"$(printf '%s\n' "$ERR" | grep -A1 '^warning: config:')"
run_lethe --config "$CONF" --db "$KEYDB" migrate
assert_not_contains "migrate does not warn about a key it never reads" "key file" "$ERR"
chmod 0600 "$D/open.key"
run_lethe --config "$CONF" --db "$KEYDB" run --dry-run
assert_not_contains "a private key is not warned about" "warning: config:" "$ERR"

# ---- files ---------------------------------------------------------------------------------
run_lethe --config "$D/nope.conf" migrate
assert_rc "a missing --config file exits 2" 2
assert_eq "a missing --config file is named" "error: config: '$D/nope.conf': cannot open: No such file or directory
hint: pass an existing file with --config, or leave it out to use the defaults" "$ERR"
run_lethe --config "$D" migrate
assert_rc "a directory as --config exits 2" 2
assert_eq "a directory as --config is named" "error: config: '$D': cannot read: Is a directory
hint: pass an existing file with --config, or leave it out to use the defaults" "$ERR"
mkfifo "$D/fifo.conf"
run_lethe_within 30 --config "$D/fifo.conf" migrate
assert_rc "a FIFO as --config exits 2 at once (124: it waited for a writer)" 2
assert_eq "a FIFO as --config is named" "error: config: '$D/fifo.conf': not a regular file (a FIFO)
hint: --config takes a regular file, not a pipe, a socket or a device" "$ERR"
run_lethe --config /dev/null migrate
assert_rc "a device as --config exits 2" 2
assert_eq "a device as --config is named" "error: config: '/dev/null': not a regular file (a character device)
hint: --config takes a regular file, not a pipe, a socket or a device" "$ERR"
run_lethe --config
assert_rc "--config without a value exits 2" 2
assert_eq "--config without a value says so" "error: option '--config' needs a value
hint: see 'lethe --help'" "$ERR"

# ---- a valid config ------------------------------------------------------------------------
# SPEC §6's full example, word for word but for the key file, which must exist here.
cat >"$CONF" <<EOF
database: { conninfo = "host=/run/postgresql dbname=lethe"; };
spool:    { directory = "/var/lib/lethe/spool"; keep = "7d"; };
executor: {
  command = "/usr/libexec/lethe/fs-delete";
  timeout = "15m";
  locations: { EU = "/usr/libexec/lethe/eu-delete"; };   # one region's own deleter
};
audit:    { key_file = "$D/secret.key"; };         # an explicit file that cannot be read exits 2
batch:    { max_items = 10000; };
schedule: { lookahead = "2d"; };
rules: {                                                  # each rule: deadline, grace, enabled
  deletion_request: { deadline = "30d";  grace = "0d"; };
  subject_request:  { deadline = "1mo"; };
  capacity_deleted: { deadline = "180d"; grace = "0d"; };
  sharing_opt_out:  { deadline = "30d"; };
  shared_retention: { deadline = "90d";  grace = "90d"; };
};
EOF
HERE="host=$PGHOST port=$PGPORT user=$PGUSER"
run_lethe --config "$CONF" --db "$HERE dbname=config_t" migrate
assert_rc "the full example config is accepted" 0
assert_contains "the full example config runs the command" "migrate: applied" "$OUT"
assert_not_contains "the full example config raises no error" "error:" "$ERR"
assert_eq "the full example config's command did its work" t \
  "$(sql "SELECT to_regclass('lethe.items') IS NOT NULL")"
run_lethe --config "$CONF" migrate
assert_rc "without --db the example's own conninfo is used (and cannot connect here)" 1
assert_contains "the example's conninfo is what failed" "error: cannot connect to the database:" "$ERR"
printf '# nothing but a comment\n' >"$CONF"
run_lethe --config "$CONF" migrate
assert_rc "a config with no settings is accepted" 0
# (the deadlines refused above when longer than their commitments: at or within them, taken)
printf '%s\n' 'rules: { subject_request: { deadline = "28d"; }; capacity_deleted: { deadline = "180d"; };' \
  '  shared_retention: { deadline = "12w"; }; sharing_opt_out: { deadline = "720h"; }; };' > "$CONF"
run_lethe --config "$CONF" migrate
assert_rc "deadlines at or within their commitments are taken" 0

# ---- connection order: --db, then database.conninfo, then PG* ------------------------------
for db in conn_db conn_cfg conn_env; do psql -X -q -c "CREATE DATABASE $db" >/dev/null; done
has_schema() { psql -X -q -A -t -d "$1" -c "SELECT to_regclass('lethe.items') IS NOT NULL"; }
BOGUS_ENV="PGHOST=/nonexistent-lethe PGPORT=1 PGDATABASE=nowhere PGUSER=nobody"
BOGUS="host=/nonexistent-lethe port=1 dbname=nowhere"

printf 'database: { conninfo = "%s"; };\n' "$BOGUS" >"$CONF"
run_lethe --config "$CONF" --db "$HERE dbname=conn_db" migrate
assert_rc "--db wins over a bogus database.conninfo" 0
assert_eq "--db's database is the one migrated" "t|f|f" \
  "$(has_schema conn_db)|$(has_schema conn_cfg)|$(has_schema conn_env)"

printf 'database: { conninfo = "%s dbname=conn_cfg"; };\n' "$HERE" >"$CONF"
OUT=$(env $BOGUS_ENV "$LETHE" --config "$CONF" migrate 2>&1); RC=$?
assert_eq "database.conninfo wins over a bogus PG* environment" 0 "$RC"
assert_eq "database.conninfo's database is the one migrated" "t|t|f" \
  "$(has_schema conn_db)|$(has_schema conn_cfg)|$(has_schema conn_env)"

run_lethe --config "$CONF" --db "$BOGUS" migrate
assert_rc "a bogus --db is used even when database.conninfo is good" 1
assert_contains "a bogus --db fails to connect" "error: cannot connect to the database:" "$ERR"

printf 'database: { conninfo = "%s"; };\n' "$BOGUS" >"$CONF"
PGDATABASE=conn_env run_lethe --config "$CONF" migrate
assert_rc "a bogus database.conninfo is used even when PG* is good" 1
assert_contains "... and the hint names the config it came from" \
  "hint: check database.conninfo in '$CONF', which this connection came from" "$ERR"

printf 'batch: { max_items = 5; };\n' >"$CONF"
PGDATABASE=conn_env run_lethe --config "$CONF" migrate
assert_rc "without --db or database.conninfo, PG* is used" 0
assert_eq "PG*'s database is the one migrated" "t|t|t" \
  "$(has_schema conn_db)|$(has_schema conn_cfg)|$(has_schema conn_env)"

# ---- a relative @include is the working directory's (README, "Configuration") -----------------
mkdir -p "$WORK/rel/inc"
printf 'batch: { max_items = 5; };\n' >"$WORK/rel/inc/batch.conf"
printf '@include "inc/batch.conf"\n' >"$WORK/rel/main.conf"
OUT=$(cd "$WORK/rel" && PGDATABASE=conn_env "$LETHE" --config "$WORK/rel/main.conf" migrate 2>&1); RC=$?
assert_eq "a relative @include is read from the working directory" "0" "$RC"
OUT=$(cd / && PGDATABASE=conn_env "$LETHE" --config "$WORK/rel/main.conf" migrate 2>&1); RC=$?
assert_eq "... not from the including file's: elsewhere (/, as under systemd) it is not found, exit 2" \
  "2|error: config: '$WORK/rel/main.conf' line 1: '@include': cannot read \"inc/batch.conf\"" \
  "$RC|$(head -1 <<<"$OUT" | cut -d: -f1-5)"
assert_eq "... and the hint says where a relative path is read from (an outside tryout)" \
  "hint: a relative path is read from the directory lethe runs in, not the config's (a timer runs it from /): @include names a regular config file, e.g. @include \"/etc/lethe/lethe.conf.d/local.conf\"" \
  "$(sed -n 2p <<<"$OUT")"

finish
