# make bench, small: the whole bench (tests/bench/bench.sh) at 5,000 items, one repetition, on a
# server of its own. It measures nothing here; what it checks is what makes its figures mean
# something: the catalogs its producers write are accepted by the catalog's rules as they stand
# (a generator the catalog refuses stops the bench, as sql/0080 once did), and in the steady
# cycle and every cycle shape lethe purged exactly the items the bare SQL a DBA would write
# purged (tests/bench/baseline.sql: an independent model of the rules), and two shards the
# same items as one run. About 40 seconds, most of it waiting for fsync.
. tests/harness/lib.sh

OUT=$(BENCH_ITEMS=5000 BENCH_SMALL_ITEMS=2000 BENCH_REPS=1 BENCH_SHARED_BUFFERS=128MB BENCH_CITUS=0 \
      bash tests/bench/bench.sh 2>&1)
RC=$?
ERR=
assert_rc "the bench at 5,000 items runs to its end" 0
assert_not_contains "lethe and the bare SQL purged the same items in every shape" "purged different items" "$OUT"
for row in "1 steady hourly cycle / bare SQL" "2 tenant-wide request" "3 capacity deleted" "4 100 subject requests" \
           "5 lineage 5 deep" "6 idle run" "7 export" "8 status" "9 verify" "10 1000 producer inserts"; do
    assert_contains "the matrix has its row: $row" "$row" "$OUT"
done
assert_contains "the profile of the full cycle is printed" "where the profiled full cycle's time goes" "$OUT"
assert_contains "BENCH_CITUS=0 leaves the Citus section out, and says so" "bench: BENCH_CITUS=0: no Citus section" "$OUT"
finish
