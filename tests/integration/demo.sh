# make demo end to end: deploy/demo.sh in a DEMO_DIR of its own (it starts its own PostgreSQL,
# beside the harness's), twice, then deploy/demo.sh clean. The demo checks itself as it goes;
# this suite checks what it leaves behind.
. tests/harness/lib.sh
. tests/harness/catalog.sh
# The demo's directory sits in a private one (mktemp -d makes it 0700), as a clone in /root
# would: as root, the server's user postgres cannot enter it, and the demo must still work.
P=$(mktemp -d /tmp/lethe-demo.XXXXXX)
D=$P/demo
trap 'DEMO_DIR=$D ./deploy/demo.sh clean >/dev/null 2>&1; rm -rf "$P"' EXIT
export LETHE FS_DELETE

# demo: runs the demo into OUT and RC, stderr included (lethe's log lines are part of it).
demo() { OUT=$(DEMO_DIR=$D ./deploy/demo.sh "$@" 2>&1); RC=$?; ERR=; }
# pg_home: where the demo's cluster is (outside the demo's directory when root runs it).
pg_home() { if [ -f "$D/pg-home" ]; then cat "$D/pg-home"; else echo "$D/pg"; fi; }
# alive PID: the process exists and is not a zombie (a stopped postmaster is reaped by init,
# which may take its time).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
# files_said WORD: the files the demo said are gone or still there.
files_said() { printf '%s\n' "$OUT" | sed -n "s/^  the file \(.*\) is $1\$/\1/p"; }

demo
assert_rc "the demo exits 0" 0
[ "$RC" = 0 ] || printf '%s\n' "$OUT" | tail -30 | sed 's/^/#   /'
store_line=$(printf '%s\n' "$OUT" | grep -o 'store: [0-9]* files deleted and [0-9]* kept, exactly as the catalog says')
assert_contains "the demo checks the store against the catalog" "exactly as the catalog says" "$store_line"
deleted=$(echo "$store_line" | awk '{print $2}'); kept=$(echo "$store_line" | awk '{print $6}')
assert_eq "the store keeps exactly the files the demo says are kept" "$kept" "$(find "$D/store" -type f | wc -l)"
assert_eq "the demo deleted files" "yes" "$([ "${deleted:-0}" -gt 100 ] && echo yes)"
gone=$(files_said gone); still=$(files_said "still there")
assert_eq "the demo names the files it shows gone and kept" "7 5" "$(echo "$gone" | grep -c .) $(echo "$still" | grep -c .)"
assert_eq "every file said to be gone is gone" "" "$(for f in $gone; do [ -e "$f" ] && echo "$f"; done)"
assert_eq "every file said to be kept is there" "" "$(for f in $still; do [ -e "$f" ] || echo "$f"; done)"
assert_contains "a copy in another region followed its source" "/store/US/globex/globex-eu/retrieved-" "$gone"
assert_contains "the held contract stays" "/store/ANZ/umbrella/umbrella-anz/upload-" "$still"
assert_contains "the demo places a hold" "hold: placed on workspace" "$OUT"
assert_contains "the run purges with fs-delete" "executor: fs-delete:" "$OUT"
assert_contains "the demo shows status" "status at " "$OUT"
assert_contains "status --check passes" "check: ok" "$OUT"
assert_contains "the demo explains the held item" "state      held" "$OUT"
assert_contains "the demo explains a copy" "copy of    " "$OUT"
assert_contains "the demo shows the export summary" "lethe compliance summary" "$OUT"
assert_contains "the summary counts acme's late purges" "late" "$OUT"
assert_contains "the demo names the page of the summary" "open $D/exports/summary.html in a browser" "$OUT"
assert_contains "the page is there, self-contained" "<svg" "$(cat "$D/exports/summary.html")"
assert_eq "the page loads nothing" "0" "$(grep -c '<script\|src="http' "$D/exports/summary.html")"
assert_contains "verify said ok" "verify: ok: " "$OUT"
assert_contains "verify matched the expected head" "1 expected head matched" "$OUT"
assert_contains "verify caught the tampered record" "hash mismatch" "$OUT"
assert_eq "the export holds no locator" "0" "$(grep -c 'file://' "$D/exports/audit.jsonl")"
assert_eq "the export holds subject HMACs, not subject ids" "0 yes" \
  "$(grep -c 'ines@' "$D/exports/audit.jsonl") $(grep -q '"subject_hmac":"[0-9a-f]\{64\}"' "$D/exports/audit.jsonl" && echo yes)"
assert_eq "the server is stopped at the end" "stopped" "$([ -e "$(pg_home)/data/postmaster.pid" ] || echo stopped)"
if [ "$(id -u)" = 0 ]; then
    cluster=$(printf '%s\n' "$OUT" | grep -o '/tmp/lethe-demo-pg\.[A-Za-z0-9]*' | head -1)
    assert_contains "as root the cluster lives outside the private directory" "/tmp/lethe-demo-pg." "$cluster"
    assert_eq "that cluster is removed at the end" "gone" "$([ -n "$cluster" ] && [ ! -e "$cluster" ] && [ ! -e "$D/pg-home" ] && echo gone)"
    assert_eq "postgres could not have entered the demo's directory" "no" \
      "$(runuser -u postgres -- test -x "$D" && echo yes || echo no)"
fi

# twice: the second run rebuilds the catalog and the store from scratch
first_store=$store_line
demo
assert_rc "the demo runs again" 0
assert_contains "the second run tells the same story" "$first_store" "$OUT"
assert_eq "the second run's store is the first's" "$kept" "$(find "$D/store" -type f | wc -l)"

# DEMO_KEEP=1 leaves the server running; clean stops it and removes everything
OUT=$(DEMO_KEEP=1 DEMO_DIR=$D ./deploy/demo.sh 2>&1); RC=$?
assert_rc "the demo with DEMO_KEEP=1 exits 0" 0
kept_home=$(pg_home)
assert_contains "it says how to connect" "export PGHOST=$kept_home PGPORT=" "$OUT"
pid=$(head -1 "$kept_home/data/postmaster.pid" 2>/dev/null)
assert_eq "the server is left running" "running" "$([ -n "$pid" ] && alive "$pid" && echo running)"
demo clean
assert_rc "demo clean exits 0" 0
assert_eq "demo clean removes the directory" "gone" "$([ -e "$D" ] || echo gone)"
assert_eq "demo clean removes the cluster's directory" "gone" "$([ -e "$kept_home" ] || echo gone)"
assert_eq "demo clean stops the server" "stopped" "$(alive "$pid" || echo stopped)"
demo clean
assert_rc "demo clean of nothing exits 0" 0
demo bogus
assert_rc "an unknown argument is a usage error" 2
assert_contains "usage" "usage: deploy/demo.sh [clean]" "$OUT"
finish
