# The command line: --help, --version, help COMMAND, unknown commands and options, exit codes.
. tests/harness/lib.sh

run_lethe --version
assert_rc "--version exits 0" 0
assert_eq "--version prints the version" "lethe 0.1.0" "$OUT"
# An argument after them is refused, as after any command (SPEC §6: exit 2); it exited 0.
run_lethe --version extra
assert_eq "--version with an argument after it exits 2" "2|error: --version: unexpected argument 'extra'
hint: 'lethe --version' takes nothing after it" "$RC|$ERR"
run_lethe help run extra
assert_eq "help COMMAND with an argument after it exits 2" "2|error: help: unexpected argument 'extra'
hint: 'lethe help COMMAND' takes one command" "$RC|$ERR"

run_lethe --help
assert_rc "--help exits 0" 0
for c in migrate run status explain ack rerun request hold batches export verify help; do
    assert_contains "--help lists $c" "  $c " "$OUT"
done
assert_contains "--help lists exit codes" "3 run lock held" "$OUT"

run_lethe help run
assert_rc "help run exits 0" 0
assert_contains "help run shows usage" "usage: lethe run [--as-of TS] [--dry-run [--items]] [--shard K/N]" "$OUT"
assert_contains "help run describes --metrics-file" "--metrics-file F" "$OUT"

run_lethe export --help
assert_rc "COMMAND --help exits 0" 0
assert_contains "export --help shows usage" "usage: lethe export" "$OUT"

run_lethe frobnicate
assert_rc "unknown command exits 2" 2
assert_eq "unknown command message" "error: unknown command 'frobnicate'
hint: see 'lethe help' for the list of commands" "$ERR"

run_lethe --frob migrate
assert_rc "unknown global option exits 2" 2
assert_eq "unknown global option message" "error: unknown option '--frob'
hint: see 'lethe --help'" "$ERR"

run_lethe '-?'
assert_rc "-? is --help's short form" 0
assert_contains "-? prints the overview" "usage: lethe [--config FILE]" "$OUT"
assert_contains "--help lists psql's connection options" "  -h, --host HOST" "$(
    "$LETHE" --help)"

# Long options may be abbreviated (README), a command's --help too, while it is unambiguous.
run_lethe status --he
assert_rc "status --he is status --help" 0
assert_eq "status --he prints status's help" "usage: lethe status [--json] [--check]" "$(echo "$OUT" | head -1)"
run_lethe export --h
assert_eq "export --h is export --help" "0|usage: lethe export" "$RC|$(echo "$OUT" | head -1 | cut -c1-19)"
run_lethe status --hx
assert_rc "status --hx is an unknown option" 2
assert_eq "status --hx is named" "error: status: unknown option '--hx'" "$(echo "$ERR" | head -1)"

run_lethe help nosuch
assert_rc "help of an unknown command exits 2" 2

run_lethe
assert_rc "no command exits 2" 2
assert_contains "no command message" "error: no command given" "$ERR"

run_lethe migrate --bogus
assert_rc "unknown command option exits 2" 2
assert_eq "unknown command option message" "error: migrate: unknown option '--bogus'
hint: see 'lethe help migrate'" "$ERR"

run_lethe --db "host=/nonexistent-dir port=1" migrate
assert_rc "unreachable database exits 1" 1
assert_contains "unreachable database message" "error: cannot connect to the database:" "$ERR"

# ---- what every option value must be, whatever the command -----------------------------------
# Free text is UTF-8 (the database would refuse it mid-transaction, exit 1), and an operator has
# a name. Each refusal exits 2 before anything is written; the value is never echoed (it may be
# a subject id). A real database, with an open batch to point at.
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS cli_t' -c 'CREATE DATABASE cli_t' >/dev/null 2>&1
export PGDATABASE=cli_t
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); I=$(uuid)
mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
mk_item "$T" "$I" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested 2026-01-02T00:00:00Z R-0 item_id "$I"
write_config "$WORK/lethe.conf"   # no executor: the run leaves its batch open
export LETHE_CONF=$WORK/lethe.conf
"$LETHE" --config "$LETHE_CONF" -q run --as-of 2026-01-03T00:00:00Z >/dev/null
B=$(sql "SELECT batch_id FROM lethe.batches")
assert_eq "the fixture has one open batch" "open" "$(sql "SELECT state FROM lethe.batches")"
written() { sql "SELECT (SELECT count(*) FROM lethe.audit) || ' ' || (SELECT count(*) FROM lethe.events)
                 || ' ' || (SELECT count(*) FROM lethe.holds) || ' ' || (SELECT count(*) FROM lethe.runs)
                 || ' ' || (SELECT count(*) FROM lethe.batches)"; }
BEFORE=$(written)
UTF8_HINT="hint: option values are UTF-8 text; check the encoding of the terminal or script that passed it"

# refused NAME EXPECTED_STDERR ARGS...: exit 2, exactly that stderr, nothing on stdout, nothing written.
refused() {
    local name=$1 expect=$2; shift 2
    run_lethe --config "$LETHE_CONF" "$@"
    if [ "$RC" = 2 ] && [ "$ERR" = "$expect" ] && [ -z "$OUT" ] && [ "$(written)" = "$BEFORE" ]; then
        ok "$name"
    else
        not_ok "$name" "expected exit 2, got $RC" "expected stderr: $expect" "actual stderr:   $ERR" \
          "stdout: $OUT" "rows (audit events holds runs batches): $BEFORE before, $(written) after"
    fi
}
refused "run: invalid UTF-8 in --operator" "error: run: --operator: not valid UTF-8 (byte 0xe9 at offset 3)
$UTF8_HINT" run --operator $'Ren\xe9e'
refused "rerun: invalid UTF-8 in --operator" "error: rerun: --operator: not valid UTF-8 (byte 0xff at offset 0)
$UTF8_HINT" rerun "$B" --operator $'\xff'
refused "ack: invalid UTF-8 in a --failed reason" "error: ack: --failed: not valid UTF-8 (byte 0xc3 at offset 42)
$UTF8_HINT" ack "$B" --failed "$I:disk "$'\xc3('
# One item twice with two reasons: one was dropped without a word (an outside tryout's finding).
refused "ack: --failed naming one item twice" "error: ack: --failed names item $I twice; give it once, with one reason
hint: see 'lethe help ack'" ack "$B" --failed "$I:disk full" --failed "$I:offline"
refused "ack: invalid UTF-8 in --operator=" "error: ack: --operator: not valid UTF-8 (byte 0xed at offset 1)
$UTF8_HINT" ack "$B" --operator=$'a\xed\xa0\x80'
refused "request: invalid UTF-8 in --reference" "error: request: --reference: not valid UTF-8 (byte 0x80 at offset 2)
$UTF8_HINT" request --tenant "$T" --reference $'T-\x80'
refused "request: invalid UTF-8 in --subject, never echoed" "error: request: --subject: not valid UTF-8 (byte 0xc0 at offset 2)
$UTF8_HINT" request --tenant "$T" --subject $'al\xc0\xafice@example.com' --reference R-1
refused "hold place: invalid UTF-8 in --reason" "error: hold: --reason: not valid UTF-8 (byte 0xf4 at offset 6)
$UTF8_HINT" hold place --tenant "$T" --reason $'legal \xf4\x90\x80\x80'
refused "hold place: invalid UTF-8 in --reference" "error: hold: --reference: not valid UTF-8 (byte 0xe2 at offset 4)
$UTF8_HINT" hold place --tenant "$T" --reason litigation --reference $'CASE\xe2\x82'

# An id is at most 1024 bytes, as the database holds it (sql/0041): before 0041 a longer
# --reference failed inside the database ("index row requires 9032 bytes"), exit 1. The value is
# never echoed.
LONG=$(python3 -c "import secrets; print(secrets.token_hex(4500))")
refused "request: a --reference of 9000 bytes" "error: request: --reference is 9000 bytes long; at most 1024 are allowed
hint: --reference names a ticket or a request, e.g. --reference TICKET-1234; give its id, not a text" \
    request --tenant "$T" --reference "$LONG"
refused "request: a --subject of 1025 bytes, never echoed" "error: request: --subject is 1025 bytes long; at most 1024 are allowed
hint: --subject names a subject by its id in the catalog; give that id, not a text" \
    request --tenant "$T" --subject "${LONG:0:1025}" --reference R-1
refused "hold place: a --reference of 1025 bytes" "error: hold: --reference is 1025 bytes long; at most 1024 are allowed
hint: --reference names a ticket or a request, e.g. --reference TICKET-1234; give its id, not a text" \
    hold place --tenant "$T" --reason litigation --reference "${LONG:0:1025}"
refused "run: an --operator of 2000 bytes" "error: run: --operator is 2000 bytes long; at most 1024 are allowed
hint: --operator names the person or account acting, e.g. --operator user_a; give a name, not a text" \
    run --operator "${LONG:0:2000}"
run_lethe --config "$LETHE_CONF" status --reference "${LONG:0:1024}" --tenant "$T"
assert_eq "status --reference of 1024 bytes is looked up (no such request), not refused for its length" \
    "2 error: status: no deletion request with reference \"${LONG:0:1024}\" in tenant $T" "$RC ${ERR%%$'\n'*}"

# A value given twice was taken as its last, silently: `request --reference X1 --reference X2`
# recorded X2. Only --failed and --expect-head are given as often as needed.
refused "request: --reference given twice" "error: request: --reference is given twice; give it once
hint: see 'lethe help request'" request --tenant "$T" --reference R-1 --reference R-2
refused "request: --tenant given twice, even the same" "error: request: --tenant is given twice; give it once
hint: see 'lethe help request'" request --tenant "$T" --tenant "$T" --reference R-1
refused "status: --reference given twice, one as --reference=" "error: status: --reference is given twice; give it once
hint: see 'lethe help status'" status --tenant "$T" --reference=R-1 --reference R-2
refused "run: --operator given twice" "error: run: --operator is given twice; give it once
hint: see 'lethe help run'" run --operator a --operator b
# The options before the command too: `lethe --db A --db B run` ran against B, silently.
refused "--config given twice (once by the harness, once here)" "error: option '--config' is given twice; give it once
hint: see 'lethe --help'" --config "$LETHE_CONF" run
refused "--db given twice, one as --db=" "error: option '--db' is given twice; give it once
hint: see 'lethe --help'" --db=dbname=a --db dbname=b run
refused "-p and --port both given" "error: option '--port' is given twice; give it once
hint: see 'lethe --help'" -p 5432 --port=5433 status
# An empty --db= fell back to libpq's environment, silently, while -d '' was refused.
run_lethe --db= status
assert_eq "--db= with no value: exit 2, said" "2 error: option '--db' needs a value" "$RC ${ERR%%$'\n'*}"
run_lethe --db " " -d "  " status
assert_eq "--db of spaces: exit 2, said" "2 error: option '--db' needs a value" "$RC ${ERR%%$'\n'*}"
run_lethe -d "  " status
assert_eq "-d of spaces: exit 2, said" "2 error: option '-d' needs a value" "$RC ${ERR%%$'\n'*}"
refused "request: a --reference of spaces" "error: request: --reference is blank
hint: --reference takes a ticket or request id, e.g. --reference TICKET-1234" request --tenant "$T" --reference "   "
refused "hold place: a --reason of spaces" "error: hold: --reason is blank
hint: --reason takes the reason in words, e.g. --reason 'litigation hold, case 42'" hold place --tenant "$T" --reason "	 "

# A malformed id or time is shown as text others wrote is: escaped, cut at 511 bytes (a 10 KB
# argument was echoed whole, an escape sequence with it).
refused "explain: a malformed id with an escape sequence is shown escaped" "error: explain: ITEM_ID: malformed id \"ab\\x1B[2Jc\"
hint: ids are UUIDs, e.g. 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f" explain $'ab\x1b[2Jc'
run_lethe --config "$LETHE_CONF" export --from "$(printf 'y%.0s' $(seq 3000))"
assert_eq "export: a 3000-byte malformed time is cut at 511 bytes where it is shown" \
  "2 error: export: --from: malformed time \"$(printf 'y%.0s' $(seq 508))...\"" "$RC ${ERR%%$'\n'*}"
# A well-formed time lethe cannot take says why: finer than a microsecond (it was cut, where
# PostgreSQL rounds), or an instant before 1970 (judged on the instant, not the year as written).
refused "run: more than 6 fractional digits" "error: run: --as-of: time \"2026-01-31T23:59:59.9999999Z\" has more than 6 fractional digits: lethe keeps times to the microsecond
hint: times are ISO 8601, UTC unless an offset is given, e.g. 2026-11-28T03:00:00Z" run --dry-run --as-of 2026-01-31T23:59:59.9999999Z
refused "run: an instant before 1970, whatever the year as written" "error: run: --as-of: time \"1970-01-01T00:00:00+00:01\" lies outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z
hint: times are ISO 8601, UTC unless an offset is given, e.g. 2026-11-28T03:00:00Z" run --dry-run --as-of 1970-01-01T00:00:00+00:01

# An operator needs a name, on every command that takes --operator.
for cmd in run "rerun $B" "ack $B" "request --tenant $T --reference R-2"; do
    c=${cmd%% *}
    for name in "" "   " $'\t' $'\u00a0' $'\u200b' $'\u3000 \ufeff' $'\u3164' $'\u2800\u2066'; do
        refused "$c: --operator '$name' is refused" "error: $c: --operator needs a name
hint: see 'lethe help $c'" $cmd --operator "$name"
    done
done
# Nor one with a line break or a control character, which forged a line of a listing.
for name in $'user_a\nuser_b' $'x\x01' $'x\x7f' $'x\u2028y' $'x\u0085'; do
    refused "hold: --operator $(printf '%q' "$name") is refused" "error: hold: --operator is a name, with no line break or control character in it
hint: see 'lethe help hold'" hold place --tenant "$T" --reason r --operator "$name"
done
refused "rerun: --operator= with nothing is refused" "error: rerun: --operator needs a name
hint: see 'lethe help rerun'" rerun "$B" --operator=

# Well-formed text of any script goes through, and reaches the audit as given.
run_lethe --config "$LETHE_CONF" ack "$B" --operator 'Renée Müller 東京'
assert_rc "a UTF-8 operator is accepted" 0
assert_eq "the audit names the operator as given" "Renée Müller 東京" \
  "$(sql "SELECT DISTINCT operator FROM lethe.audit WHERE kind = 'item_purged'")"
# A file name is bytes, not text: -o and --output take any.
run_lethe export -o "$WORK/audit-"$'\xff'".jsonl"
assert_rc "export -o takes a file name that is not UTF-8" 0
assert_eq "the export is written under that name" yes "$([ -s "$WORK/audit-"$'\xff'".jsonl" ] && echo yes)"

# Options are judged before the database is connected: a typo is a usage error (2) even while
# the database is down, and the message names the option, not the connection.
DOWN="host=/nonexistent dbname=x"
for args in "run --bogus" "status --chekc" "batches --limit x" "explain not-a-uuid" \
            "hold place --tenant x" "request --tenant" "ack" "export --from yesterday" \
            "replay" "reconcile --location EU" "migrate extra" "rerun"; do
    run_lethe --db "$DOWN" $args
    assert_rc "with the database down, '$args' exits 2" 2
    assert_not_contains "and says nothing of the connection: $args" "cannot connect" "$ERR"
done
run_lethe --db "$DOWN" status
assert_rc "good options with the database down: exit 1" 1
assert_contains "which names the connection" "cannot connect to the database" "$ERR"
# lethe's own options given after the command, as a person at 3 a.m. types them: said where they go
for opt in "--config /etc/lethe/lethe.conf" "--db=x" "-d x" "-q"; do
    run_lethe --db "$DOWN" status $opt
    assert_eq "'status $opt' exits 2 and says the option goes before the command" "2
error: status: unknown option '${opt%% *}'
hint: '$(o=${opt%% *}; echo "${o%%=*}")' is an option of lethe itself: it goes before the command ('lethe $(o=${opt%% *}; echo "${o%%=*}") ... status ...'); see 'lethe --help'" "$RC
$ERR"
done
run_lethe run -?
assert_eq "'run -?' is 'run --help' (README: -? is the short form of --help)" "0 usage: lethe run" \
  "$RC $(printf '%s\n' "$OUT" | head -1 | cut -c1-16)"

finish
