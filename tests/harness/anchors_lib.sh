# shellcheck shell=bash
# What anchors.sh and fence.sh share: a chain's head as the database and an anchor line name it,
# an export manipulated as a forger would, and both verifiers run on one file. Needs WORK, and
# lib.sh's sql and run_lethe.

# head_of CHAIN: its head as "SEQ HASH AT"; head_json CHAIN "SEQ HASH AT": that head as an anchor
# line names it.
head_of() { sql "SELECT seq || ' ' || hash || ' ' || lethe.audit_time(at) FROM lethe.audit_heads WHERE tenant_id = '$1'"; }
head_json() { set -- "$1" $2; printf '{"chain":"%s","seq":%s,"hash":"%s","at":"%s"}' "$1" "$2" "$3" "$4"; }

# tamper OP TENANT SEQ: a manipulated copy of the export ($SRC, else $WORK/all.jsonl) in
# $WORK/x.jsonl. With "claims" as a fourth argument the header's claims are rewritten to match,
# as a careful forger would.
tamper() {
    python3 - "${SRC:-$WORK/all.jsonl}" "$WORK/x.jsonl" "$@" <<'EOF'
import hashlib, json, os, sys
src, dst, op, tenant, seq = sys.argv[1:6]
claims = len(sys.argv) > 6
seq = int(seq)
lines = open(src, encoding="utf-8").read().splitlines()
head, recs, before = json.loads(lines[0]), [], {}
for l in lines[1:]:  # an export_before line goes back in before its chain's first record
    d = json.loads(l)
    if d.get("kind") == "export_before" and "record" in d:
        before[d["record"]["tenant_id"]] = l
    else:
        recs.append(d)
if os.environ.get("FORMAT1"):  # as a lethe before format 2 wrote the window: no such lines
    head["format"], before = 1, {}
idx = [i for i, r in enumerate(recs) if r["tenant_id"] == tenant]
at = [i for i in idx if recs[i]["seq"] == seq][0] if seq else None
def rehash(chain):
    prev = None
    for i in [i for i, r in enumerate(recs) if r["tenant_id"] == chain]:
        r = recs[i]
        if prev is not None:
            r["prev_hash"] = prev
        canon = json.dumps({k: v for k, v in r.items() if k != "hash"}, ensure_ascii=False, separators=(",", ":"))
        r["hash"] = prev = hashlib.sha256((r["prev_hash"] + "\n" + canon).encode()).hexdigest()
if op == "change":
    recs[at]["location"] = "US"
elif op == "remove":
    del recs[at]
elif op == "swap":
    recs[at], recs[at + 1] = recs[at + 1], recs[at]
elif op == "cut-tail":
    recs = [r for r in recs if r["tenant_id"] != tenant or r["seq"] < seq]
elif op == "cut-head":
    recs = [r for r in recs if r["tenant_id"] != tenant or r["seq"] > seq]
elif op == "drop-chain":
    recs = [r for r in recs if r["tenant_id"] != tenant]
elif op == "keep-checkpoints":
    recs = [r for r in recs if r["tenant_id"] != tenant or r["kind"] == "checkpoint"]
elif op == "forge":
    recs[at]["rule"] = "shared_retention"
    rehash(tenant)
elif op == "append":  # a forged item_purged hashed onto the end of the chain (SEQ: its last)
    i = [i for i in idx if recs[i]["seq"] == seq][0]  # (an export with none: its last record)
    tmpl = next((r for r in recs if r["kind"] == "item_purged"), recs[i])
    # APPEND_LATE: stamped just before the export was taken, after the runs' lines (as an ack
    # made after the last run would be); else at the time of the record before it
    when = recs[i]["at"]
    if os.environ.get("APPEND_LATE"):
        from datetime import datetime, timedelta
        when = (datetime.strptime(head["exported_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    f = dict(tmpl, tenant_id=tenant, seq=seq + 1, at=when, prev_hash=recs[i]["hash"],
             item_id="11111111-2222-4333-8444-555555555555", reference="FORGED", on_time=True)
    canon = json.dumps({k: v for k, v in f.items() if k != "hash"}, ensure_ascii=False, separators=(",", ":"))
    f["hash"] = hashlib.sha256((f["prev_hash"] + "\n" + canon).encode()).hexdigest()
    recs.insert(i + 1, f)
elif op == "future":  # the same, stamped far ahead, the header's exported_at after it
    i = [i for i in idx if recs[i]["seq"] == seq][0]
    tmpl = next(r for r in recs if r["kind"] == "item_purged")
    f = dict(tmpl, tenant_id=tenant, seq=seq + 1, at="2099-01-01T00:00:00.000000Z", prev_hash=recs[i]["hash"],
             item_id="11111111-2222-4333-8444-555555555555", reference="FORGED", on_time=True)
    canon = json.dumps({k: v for k, v in f.items() if k != "hash"}, ensure_ascii=False, separators=(",", ":"))
    f["hash"] = hashlib.sha256((f["prev_hash"] + "\n" + canon).encode()).hexdigest()
    recs.insert(i + 1, f)
    head["exported_at"] = "2099-01-01T00:00:01.000000Z"
elif op == "offset":  # the same, its time written with an offset: 23 hours on, read as text earlier
    i = [i for i in idx if recs[i]["seq"] == seq][0]
    tmpl = next(r for r in recs if r["kind"] == "item_purged")
    f = dict(tmpl, tenant_id=tenant, seq=seq + 1, at=recs[i]["at"][:-1] + "-23:00", prev_hash=recs[i]["hash"],
             item_id="11111111-2222-4333-8444-555555555555", reference="FORGED", on_time=True)
    canon = json.dumps({k: v for k, v in f.items() if k != "hash"}, ensure_ascii=False, separators=(",", ":"))
    f["hash"] = hashlib.sha256((f["prev_hash"] + "\n" + canon).encode()).hexdigest()
    recs.insert(i + 1, f)
elif op == "set":  # FORM=k=v (v as JSON, else text): one member of the record, the chain re-hashed
    k, v = os.environ["FORM"].split("=", 1)
    try:
        v = json.loads(v)
    except ValueError:
        pass
    recs[at][k] = recs[at][k][:17] + "61" + recs[at][k][19:] if v == "SECOND61" else v
    rehash(tenant)
elif op == "backdate":  # a record re-dated before the one it follows, the chain re-hashed
    recs[at]["at"] = recs[at - 1]["at"][:4] + "-01-01T00:00:00.000000Z"
    rehash(tenant)
if claims:
    sys.path.insert(0, "tests/harness")
    from claims import reclaim
    reclaim(head, recs)
    if op == "cut-head":
        head["from"] = recs[0]["at"]
out, last = [json.dumps(head, separators=(",", ":"))], None
for r in recs:
    if r["tenant_id"] != last and r["tenant_id"] in before:
        out.append(before.pop(r["tenant_id"]))
    last = r["tenant_id"]
    out.append(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
open(dst, "w", encoding="utf-8").write("\n".join(out) + "\n")
EOF
}
# by_both FILE ANCHORS: lethe verify (RC, OUT, ERR) and verify_export.py ($WORK/p.out) on FILE
# against ANCHORS; BOTH is their two exit codes.
by_both() {
    run_lethe verify "$1" --anchors "$2"
    python3 tests/verify_export.py "$1" --anchors "$2" >"$WORK/p.out" 2>&1
    BOTH="$RC $?"
}
# later_line FILE COPY: COPY is FILE with a line appended two hours after its newest, as a later
# run's would be (with since; naming the engine chain only, past its head).
later_line() {
    cp "$1" "$2"
    python3 - "$1" "$2" <<'EOF'
import json, sys, uuid
from datetime import datetime, timedelta
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
at = (datetime.strptime(last["at"], "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
nil = [h for h in last["heads"] if h["chain"] == "00000000-0000-0000-0000-000000000000"][0]
line = {"run_id": str(uuid.uuid4()), "at": at,
        "heads": [{"chain": nil["chain"], "seq": nil["seq"] + 1000, "hash": "ab" * 32, "at": at}],
        "since": last["at"]}
open(sys.argv[2], "a").write(json.dumps(line, separators=(",", ":")) + "\n")
EOF
}
