# shellcheck shell=bash
# The helpers bench.sh and citus.sh share. BENCH_NAME prefixes their messages; measure() needs
# WORK (the work directory) and RES (the results file, one line a measurement).

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
note() { echo "$BENCH_NAME: $*" >&2; }
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# measure NAME CMD...: wall time (ms) and peak RSS (kB) of CMD, recorded under NAME. An exit
# status other than 0 (or OK_RC) stops the bench with CMD's output.
measure() {
    local name=$1 t0 t1 rc
    shift
    t0=$(now_ms)
    /usr/bin/time -f "%M" -o "$WORK/rss" "$@" > "$WORK/out" 2> "$WORK/err"
    rc=$?
    t1=$(now_ms)
    if [ $rc -ne 0 ] && [ $rc != "${OK_RC:-0}" ]; then
        cat "$WORK/out" "$WORK/err" >&2
        die "$name failed (exit $rc)"
    fi
    printf '%s\t%s\t%s\n' "$name" "$((t1 - t0))" "$(tail -1 "$WORK/rss")" >> "$RES"
}

# The table: med KEY [COLUMN] is the median of KEY's measurements (column 2, the time in ms, or
# 3, the peak RSS in kB); ratio, secs and mb print them.
med() { awk -F'\t' -v k="$1" -v c="${2:-2}" '$1 == k { print $c }' "$RES" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'; }
secs() { awk -v m="$1" 'BEGIN { if (m < 1000) printf "%d ms", m; else printf "%.2f s", m / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
