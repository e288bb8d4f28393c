"""The summary's purged counts, worked out from the records of an export alone.

    summary_model.py EXPORT.jsonl FROM TO < lethe's `export --summary --format csv`

FROM and TO bound the window ([FROM, TO), "-" for none) as lethe's --from and --to do. Each
item_purged record of the window is judged as SPEC §5 and the README say: a copy made while
opted out is a violation whenever it is purged; then on time; then held past its deadline
(detail 'held' or 'held; ...'); otherwise late. Per rule and overall: purged, on_time, late, the
largest lateness of the late ones in seconds, held_past_deadline, violations. Prints "ok", or
each row where lethe's CSV differs, and exits 1.
"""
import csv
import json
import sys
from datetime import datetime


def time(t):  # lethe's time form, 2026-12-06T09:41:23.989842Z (UTC)
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")


def model(path, lo, hi):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") != "item_purged":
                continue
            if (lo and r["at"] < lo) or (hi and r["at"] >= hi):  # one time form: text order
                continue
            if r["rule"] == "shared_while_opted_out":
                outcome = "violations"
            elif r["on_time"]:
                outcome = "on_time"
            elif r["detail"] is not None and (r["detail"] == "held" or r["detail"].startswith("held;")):
                outcome = "held_past_deadline"
            else:
                outcome = "late"
            for key in (r["rule"] or "(none)", "all"):
                row = rows.setdefault(key, {"purged": 0, "on_time": 0, "late": 0, "held_past_deadline": 0,
                                            "violations": 0, "max_lateness_seconds": None})
                row["purged"] += 1
                row[outcome] += 1
                if outcome == "late":
                    late = (time(r["purged_at"]) - time(r["deadline_at"])).total_seconds()
                    m = row["max_lateness_seconds"]
                    row["max_lateness_seconds"] = late if m is None else max(m, late)
    return rows


def main():
    path, lo, hi = sys.argv[1], sys.argv[2], sys.argv[3]
    lo = None if lo == "-" else lo
    hi = None if hi == "-" else hi
    want = model(path, lo, hi)
    got = {r["rule"]: r for r in csv.DictReader(sys.stdin)}
    bad = []
    for rule in sorted(set(want) | {k for k, r in got.items() if int(r["purged"])}):
        w, g = want.get(rule), got.get(rule)
        if w is None or g is None:
            bad.append(f"{rule}: model {w}, lethe {g}")
            continue
        for k in ("purged", "on_time", "late", "held_past_deadline", "violations"):
            if int(g[k]) != w[k]:
                bad.append(f"{rule}: {k} model {w[k]}, lethe {g[k]}")
        m, s = w["max_lateness_seconds"], g["max_lateness_seconds"]
        if (m is None) != (s == "") or (m is not None and abs(float(s) - m) > 1e-5):
            bad.append(f"{rule}: max_lateness_seconds model {m}, lethe {s!r}")
    print("\n".join(bad) if bad else "ok")
    sys.exit(1 if bad else 0)


main()
