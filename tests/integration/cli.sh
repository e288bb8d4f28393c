# The command line: --help, --version, help COMMAND, unknown commands and options, exit codes.
. tests/harness/lib.sh

run_lethe --version
assert_rc "--version exits 0" 0
assert_eq "--version prints the version" "lethe 0.1.0" "$OUT"

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

finish
