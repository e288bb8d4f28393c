#!/usr/bin/env python3
"""verify_export.py FILE [TENANT=HASH]...: checks a lethe audit export (JSON Lines or CSV)
with nothing but the Python standard library, independently of lethe's own code. Prints
"ok" and exits 0, or prints the first problem and exits 4, like `lethe verify`.

## Audit export format

An export holds hash chains, one per tenant (engine records use the nil UUID
00000000-0000-0000-0000-000000000000), ordered by tenant_id, then seq.

Every record has these members, always all present, in this order (the same order as the
CSV columns): seq, at, kind, tenant_id, run_id, batch_id, item_id, rule, reference,
triggered_at, deadline_at, purged_at, on_time, location, hold_id, subject_hmac, operator,
count, detail, prev_hash, hash.

- seq and count are integers; on_time is true or false; everything else is a string.
  Times are UTC ISO 8601 with exactly six fractional digits and "Z"
  (2026-11-28T13:25:39.123456Z); uuids are lower case; hashes are 64 lower-case hex digits.
  An absent value is null. No text value is ever the empty string.
- JSON Lines: one record per line. A first line whose "kind" is "export_header" describes the
  export (format, from, to, tenant_id, exported_at) and is not a record.
- CSV: a header row with the member names, then one row per record. An empty field is null.

canonical = the record as a JSON object without its "hash" member: the members above, in that
order, with no whitespace, UTF-8, strings escaped minimally (\\" and \\\\, \\b \\f \\n \\r \\t,
other control characters below U+0020 as \\u00xx in lower-case hex, nothing else escaped),
integers in plain digits, true/false/null as literals.

hash = lower-case hex SHA-256 of the UTF-8 bytes of prev_hash + "\\n" + canonical.

In each chain seq starts at 1 with a prev_hash of 64 zeros, and each next record has seq + 1
and the previous record's hash as its prev_hash. An export of a time window may start a chain
later: its first record's prev_hash is then taken as given. A chain's records are contiguous.
When the header's "from" is null (the whole log) every chain must start at seq 1; when its
"tenant_id" is set every record must be that tenant's. Comparing each chain's last hash with a
head anchored elsewhere (the checkpoints lethe logs) shows that no tail was cut off.
"""
import csv, hashlib, json, sys

COLS = ("seq at kind tenant_id run_id batch_id item_id rule reference triggered_at deadline_at "
        "purged_at on_time location hold_id subject_hmac operator count detail prev_hash hash").split()
TYPES = {"seq": int, "count": int, "on_time": bool}

def need(ok, why):  # not assert: python -O must not skip the checks
    if not ok:
        raise ValueError(why)

def unique(pairs):
    need(len(dict(pairs)) == len(pairs), "duplicate member")
    return dict(pairs)

def records(path, header):
    with open(path, encoding="utf-8", newline="") as f:
        if f.readline().rstrip("\r\n") == ",".join(COLS):  # CSV: empty is null, then by type
            typed = {"seq": int, "count": int, "on_time": {"true": True, "false": False}.__getitem__}
            yield from ({k: typed.get(k, str)(v) if v else None for k, v in zip(COLS, row, strict=True)}
                        for row in csv.reader(f, strict=True))
            return
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line.decode("utf-8"), object_pairs_hook=unique)
            if n > 1 or rec.get("kind") != "export_header":
                yield rec
            else:
                need(json.dumps(rec.get("format")) == "1", "unknown export format")
                header.update(rec)

def verify(path, expected):
    heads, header, last = {}, {}, None
    with open(path, "rb") as f:
        need(f.read(1), "empty file")
    for rec in records(path, header):
        need(set(rec) == set(COLS), "members differ")
        need(all(v is None or type(v) is TYPES.get(k, str) for k, v in rec.items()), "bad type")
        need(None not in (rec["seq"], rec["at"], rec["kind"], rec["tenant_id"], rec["prev_hash"]), "null")
        t, seq, prev = rec["tenant_id"], rec["seq"], rec["prev_hash"]
        need(header.get("tenant_id") in (None, t), "record of another tenant")
        need(t == last or t not in heads, "chain resumes after another chain")
        if t in heads:
            need((seq, prev) == (heads[t][0] + 1, heads[t][1]), f"broken link at seq {seq}")
        else:
            need(seq >= 1 and (seq > 1 or prev == "0" * 64), "bad chain start")
            need(seq == 1 or header.get("from", 1) is not None, "chain starts after seq 1")
        canonical = json.dumps({k: rec[k] for k in COLS[:-1]}, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256((prev + "\n" + canonical).encode("utf-8")).hexdigest()
        need(digest == rec["hash"], f"tenant {t}: hash mismatch at seq {seq}")
        heads[t], last = (seq, digest), t
    for t, h in (e.split("=", 1) for e in expected):
        need(heads.get(t.lower(), (0, None))[1] == h.lower(), f"tenant {t}: head differs")
    return len(heads)

if __name__ == "__main__":
    try:
        print(f"ok: {verify(sys.argv[1], sys.argv[2:])} chains")
    except Exception as e:  # a file that does not even parse fails the check too
        print(f"FAILED: {type(e).__name__}: {e}")
        sys.exit(4)
