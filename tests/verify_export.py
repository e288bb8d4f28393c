#!/usr/bin/env python3
"""verify_export.py FILE [[--expect-head] TENANT=HASH]... [--anchors ANCHOR_FILE]: checks a lethe audit export (JSON Lines or CSV; --anchors needs JSON Lines, as for lethe verify)
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
- JSON Lines: one record per line, after a first line whose "kind" is "export_header". The
  header is not a record; it describes the export (format, from, to, tenant_id, exported_at)
  and claims what it holds: "records" (how many) and "chains", one {chain, first_seq,
  last_seq, records} per chain. An export without it fails; every claim must match the
  records, and every record's "at" must lie in [from, to), and no later than an hour after now
  (no run can have written a record dated ahead). Format 2 (format 1 has none): in an export
  with a "from", each chain that starts after seq 1 comes right after a line
  {"kind":"export_before","record":RECORD}, RECORD being the record before the chain's first:
  it must hash right, be stamped before "from", and its hash be the first's prev_hash. A format 1
  export with a "from" that starts a chain after seq 1 is refused: nothing shows its first
  records are there, and the header that says "format 1" is not hashed (export it again).
- CSV: a header row with the member names, then one row per record. An empty field is null.
  A text value that starts with = + - @, a tab, a carriage return or ' is written with a '
  before it (a spreadsheet shows it as text instead of running it as a formula): a text
  field's leading ' is not part of the value.

canonical = the record as a JSON object without its "hash" member: the members above, in that
order, with no whitespace, UTF-8, strings escaped minimally (\\" and \\\\, \\b \\f \\n \\r \\t,
other control characters below U+0020 as \\u00xx in lower-case hex, nothing else escaped),
integers in plain digits, true/false/null as literals.

hash = lower-case hex SHA-256 of the UTF-8 bytes of prev_hash + "\\n" + canonical.

In each chain seq starts at 1 with a prev_hash of 64 zeros, and each next record has seq + 1
and the previous record's hash as its prev_hash. An export of a time window may start a chain
later: its first record's prev_hash is then taken as given. A chain's records are contiguous,
and the chains come in tenant_id order (the engine chain first).
When the header's "from" is null (the whole log) every chain must start at seq 1; when its
"tenant_id" is set every record must be that tenant's. Comparing each chain's last hash with a
head anchored elsewhere (the checkpoints lethe logs) shows that no tail was cut off.

Checkpoints: a checkpoint record's detail is "CHAIN=HASH CHAIN=HASH ...", the head of every
chain its run touched. When the export holds the run's run_started (or operator_rerun) record,
every head it names must be in the export (not for a one-tenant export).

Anchors: audit.anchor_file has one line per run, {"run_id", "at", "heads": [{"chain", "seq",
"hash", "at"}]}; a line that names no head, names a member twice, or has a head whose seq is
not a whole number from 1 or whose hash is not 64 lower-case hex digits is not lethe's (exit 4,
as lethe verify --anchors). Every head whose own "at" lies in the export's window (from "from" up to "to";
up to "exported_at" when "to" is null) must be in the export with that hash (a head inside a
chain passes), unless its line was written after the window's end and after "exported_at" and
the head's own "at" lies within a minute before "exported_at" (its record may have committed after
the export was taken; one stamped earlier had committed). Heads without their own "at" (lines
written before lethe kept it) are judged by their line's "at" instead, and have one
allowance instead: in an export with a "from" that holds the engine chain, a run whose
run_started (or operator_rerun) record is not in it began before the window and may have moved
heads before it; in a one-tenant export with a "from", heads before the chain's first exported
record are not required. No head falls between two lines that say from when they name every
chain appended to ("since"): a record past the highest seq any line names for its chain, stamped
after the "since" of the first line of the newest run of such lines (each counting from before
the line before it was written), has no anchor yet; the newest line coming more than an hour
after it, it was added after the fact.
"""
import csv, hashlib, json, re, sys

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
            def text(v):  # the formula guard; a field a spreadsheet would run without it is said
                if v[0] in "=+-@\t\r":
                    print(f"warning: a field starts with {v[0]!r} without the ' lethe writes before it", file=sys.stderr)
                need(not v.startswith("'") or v[1:2] in ("=", "+", "-", "@", "\t", "\r", "'"),
                     "a ' that lethe does not write: it guards only =, +, -, @, tab, CR or '")
                return v[1:] if v.startswith("'") else v
            def integer(v):  # digits as lethe reads them: not int()'s "+8", "0_8", " 8" or other scripts' digits
                need(re.fullmatch(r"-?[0-9]+", v), f"a CSV integer field holds {v!r}")
                return int(v)
            typed = {"seq": integer, "count": integer, "on_time": {"true": True, "false": False}.__getitem__}
            yield from ({k: typed.get(k, text)(v) if v else None for k, v in zip(COLS, row, strict=True)}
                        for row in csv.reader(f, strict=True))
            return
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line.decode("utf-8"), object_pairs_hook=unique)
            if n > 1 or rec.get("kind") != "export_header":
                need(n > 1, "line 1: the export has no header")
                yield rec
            else:
                need(json.dumps(rec.get("format")) in ("1", "2"), "unknown export format")
                need(isinstance(rec.get("exported_at"), str), "the header has no exported_at")
                for m in ("from", "to", "exported_at"):  # lethe's one form, as the records' times
                    need(rec.get(m) is None or (isinstance(rec[m], str) and re.fullmatch(TIME, rec[m])),
                         f"the header's {m} is not a time as lethe writes it")
                # null is the unbounded window; absent is an edited header (else neither the whole
                # log's seq 1 nor a window's export_before would be asked for)
                need("from" in rec and "to" in rec, "the header has no from or no to")
                need(type(rec.get("records")) is int and type(rec.get("chains")) is list,
                     "the header makes no claims")
                header.update(rec)

def vouch_from(path):  # the "since" of the first line of the newest run of lines with one, each
    frm, prev = None, None  # before the line before it was written (else a line is missing)
    spans = []  # and each line's [since, fenced): every record stamped
    with open(path, encoding="utf-8") as f:  # then was committed when the line took its heads
        for line in f.read().split("\n"):
            try:
                a = json.loads(line)
            except ValueError:
                continue
            if "since" not in a:  # (a line's span is its own claim: it stays whatever the lines around it say)
                frm = None
            elif frm is None or a["since"] > prev:
                frm = a["since"]
            if "since" in a and "fenced" in a:
                spans.append((a["since"], a["fenced"]))
            prev = a["at"]
    return frm, spans

TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"  # UTC, six digits, Z (SPEC §3)
LOWER_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ENGINE_KINDS = {"run_started", "run_finished", "operator_rerun", "batch_emitted", "batch_acknowledged",
                "batch_failed", "checkpoint"}
KINDS = ENGINE_KINDS | {"item_failed", "item_purged", "obligation_withdrawn", "hold_blocked", "item_repurged",
                        "hold_placed", "hold_released", "request_recorded"}


def on_calendar(t):  # 23:26:61 or February 30 is no time PostgreSQL writes
    from datetime import datetime
    try:
        datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")
        return True
    except ValueError:
        return False
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

def anchored(path):  # [(line at, run_id, chain, seq, hash, head at)], a torn last line skipped
    refs = []
    with open(path, encoding="utf-8", newline="") as f:  # lines end at \n alone, as lethe reads them
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line:  # an empty line (or a lone CR) is skipped; one of spaces is not a line lethe wrote
            continue
        try:
            a = json.loads(line, object_pairs_hook=unique)  # a member twice: not lethe's line
        except ValueError:
            if n == len(lines):  # no newline after it: torn while appending, unless a whole
                try:             # anchor line has bytes glued after it, which no crash leaves
                    g, _ = json.JSONDecoder(object_pairs_hook=unique).raw_decode(line)
                except ValueError:
                    break
                need(not (isinstance(g, dict) and "heads" in g),
                     f"anchor line {n} is an anchor line with bytes after it: not a line lethe wrote")
                break
            raise
        need(isinstance(a, dict) and isinstance(a.get("run_id"), str) and re.fullmatch(UUID, a["run_id"]),
             f"anchor line {n} is not an anchor line (run_id, at, heads)")
        need(a["heads"], f"anchor line {n} names no chain head: not a line lethe wrote")
        need("fenced" not in a or ("since" in a and type(a["fenced"]) is str and re.fullmatch(TIME, a["fenced"])),
             f"anchor line {n}: fenced is not a time, or comes without since")
        for h in a["heads"]:  # lethe writes seq as a whole number (19, never 19.0) from 1
            need(type(h["seq"]) is int and h["seq"] >= 1, f"anchor line {n}: seq {h['seq']!r} is not lethe's")
            need(re.fullmatch(r"[0-9a-f]{64}", h["hash"] if type(h["hash"]) is str else ""),
                 f"anchor line {n}: a head's hash is not lethe's")
        refs += [(a["at"], a["run_id"], str(h["chain"]).lower(), h["seq"], h["hash"], h.get("at"))
                 for h in a["heads"]]  # a chain id is a UUID, read in either case, as lethe reads it
        # a run takes its heads before it writes its line: none is stamped after the line
        for h in a["heads"]:
            need(h.get("at") is None or h["at"] <= norm(a["at"], 3600),
                 f"anchor line {n}: chain {h['chain']} head stamped after the line itself")
    return refs

def verify(path, expected, anchors=None):
    heads, header, last, firsts, hashes, started, times = {}, {}, None, {}, {}, set(), {}
    named = set()  # (chain, hash) named by the checkpoint of a run started in the export
    refs = anchored(anchors) if anchors else []
    wanted = {(c, s) for _, _, c, s, _, _ in refs}
    reach = {}
    for _, _, c, s, _, _ in refs:
        reach[c] = max(reach.get(c, 0), s)
    first_line, spans = vouch_from(anchors) if anchors else (None, [])  # "" is the start of the log
    hour_before_newest = norm(max((at for at, *_ in refs), default=None), -3600)
    # No run has written a record stamped later than now (an hour's margin for the clocks)
    from datetime import datetime, timezone
    future = norm(datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), 3600)
    with open(path, "rb") as f:
        need(f.read(1), "empty file")
    before = None  # (chain, seq, hash) of an export_before line, whose chain comes next
    unvouched = []  # records past every head the anchor file names, judged by the next line
    for rec in records(path, header):
        if rec.get("kind") == "export_before" and set(rec) == {"kind", "record"}:
            # Format 2: the record before a window's chain that starts after seq 1, stamped
            # before the window; its hash is the chain's first prev_hash (else first records
            # of the window were removed: the record before those left is one of them).
            w = rec["record"]
            need(header.get("format") == 2 and header.get("from") is not None and before is None,
                 "an export_before line where lethe writes none")
            need(isinstance(w, dict) and set(w) == set(COLS), "export_before: not a record")
            canonical = json.dumps({k: w[k] for k in COLS[:-1]}, ensure_ascii=False, separators=(",", ":"))
            need(hashlib.sha256((w["prev_hash"] + "\n" + canonical).encode("utf-8")).hexdigest() == w["hash"],
                 "export_before: hash mismatch")
            need(w["at"] < norm(header["from"]), f"chain {w['tenant_id']}: export_before record inside the window: first records removed")
            need(w["tenant_id"] not in heads, "export_before after its chain's records")
            before = (w["tenant_id"], w["seq"], w["hash"])
            continue
        need(set(rec) == set(COLS), "members differ")
        need(all(v is None or type(v) is TYPES.get(k, str) for k, v in rec.items()), "bad type")
        need(None not in (rec["seq"], rec["at"], rec["kind"], rec["tenant_id"], rec["prev_hash"]), "null")
        t, seq, prev = rec["tenant_id"], rec["seq"], rec["prev_hash"]
        need(header.get("tenant_id") in (None, t), "record of another tenant")
        if before is not None:
            need(t not in heads and before == (t, seq - 1, prev), f"chain {t}: not the export_before line's next record: first records removed")
            before = None
        elif t not in heads and seq > 1 and header.get("from") is not None:
            # format 1 has no such line, and its header is not hashed: refused (export again)
            need(False, f"chain {t}: starts at seq {seq} without its export_before line: first records removed"
                        if header.get("format") == 2 else f"chain {t}: a format 1 window starting at seq {seq}: export it again")
        need(t == last or t not in heads, "chain resumes after another chain")
        need(last is None or t >= last, "chains out of tenant_id order")
        if t in heads:
            need((seq, prev) == (heads[t][0] + 1, heads[t][1]), f"broken link at seq {seq}")
            need(rec["at"] >= times[t], f"tenant {t}: seq {seq} is earlier than the record before it")
        else:
            need(seq >= 1 and (seq > 1 or prev == "0" * 64), "bad chain start")
            need(seq == 1 or header.get("from", 1) is not None, "chain starts after seq 1")
        canonical = json.dumps({k: rec[k] for k in COLS[:-1]}, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256((prev + "\n" + canonical).encode("utf-8")).hexdigest()
        need(digest == rec["hash"], f"tenant {t}: hash mismatch at seq {seq}")
        need(header.get("from") is None or rec["at"] >= norm(header["from"]), "record before from")
        need(header.get("to") is None or rec["at"] < norm(header["to"]), "record after to")
        for m in ("at", "triggered_at", "deadline_at", "purged_at"):  # one form: they compare as text
            need(rec[m] is None or (re.fullmatch(TIME, rec[m]) and on_calendar(rec[m])),
                 f"tenant {t}: seq {seq}: {m} is not a time as lethe writes it")
        # what the audit's own checks refuse (sql/0003_audit.sql), re-hashed or not
        need(rec["kind"] in KINDS and (t == NIL) == (rec["kind"] in ENGINE_KINDS),
             f"tenant {t}: seq {seq}: a kind lethe does not write on this chain")
        need(all(rec[m] is None or re.fullmatch(LOWER_UUID, rec[m]) for m in ("tenant_id", "run_id", "batch_id", "item_id", "hold_id")),
             f"tenant {t}: seq {seq}: a uuid not as lethe writes one")
        need(all(rec[m] != "" for m in ("rule", "reference", "location", "operator", "detail")),
             f"tenant {t}: seq {seq}: an empty text, which lethe writes as null")
        need(rec["subject_hmac"] is None or re.fullmatch("[0-9a-f]{64}", rec["subject_hmac"]),
             f"tenant {t}: seq {seq}: a subject_hmac that is no HMAC")
        need(header.get("exported_at") is None or rec["at"] < norm(header["exported_at"]), "record after exported_at")
        need(rec["at"] <= future, f"tenant {t}: seq {seq} is later than this machine's clock by more than an hour")
        if t not in heads:
            firsts[t] = seq
        if refs and seq > reach.get(t, 0):
            need(t == NIL or not any(s <= rec["at"] < e for s, e in spans),  # the engine chain: named at the run's checkpoint
                 f"chain {t} seq {seq}: anchored by no line, though stamped before a line's fence")
        if refs and first_line is not None and rec["at"] > first_line and seq > reach.get(t, 0):
            need(rec["at"] >= hour_before_newest, f"chain {t} seq {seq}: anchored by no line")
            # within the hour before the newest line, or after it: no line vouches for it yet
            unvouched.append(f"chain {t} seq {seq} at {rec['at']}")
        if (t, seq) in wanted:
            hashes[(t, seq)] = digest
        if t == NIL and rec["kind"] in ("run_started", "operator_rerun"):
            started.add(rec["run_id"])
        if t == NIL and rec["kind"] == "checkpoint" and rec["run_id"] in started and not header.get("tenant_id"):
            for c, h in (x.split("=", 1) for x in (rec["detail"] or "").split(" ")
                         if len(x) == 36 + 1 + 64 and x[36] == "="):  # CHAIN=HASH; lethe reads no other token
                if c != NIL:
                    named.add((c, h))
        hashes.setdefault(("expected", t), set()).add(digest)
        heads[t], last, times[t] = (seq, digest), t, rec["at"]
    need(before is None, "an export_before line followed by no record of its chain")
    if header:
        need(all(type(c) is dict and all(type(c.get(k)) is int for k in ("first_seq", "last_seq", "records"))
                 for c in header["chains"]), "a chain's claim is not {chain, first_seq, last_seq, records} as integers")
        claims = {c["chain"]: (c["first_seq"], c["last_seq"], c["records"]) for c in header["chains"]}
        need(len(claims) == len(header["chains"]), "a chain claimed twice")
        need(header["records"] == sum(s - firsts[t] + 1 for t, (s, _) in heads.items()), "record count")
        need(claims == {t: (firsts[t], s, s - firsts[t] + 1) for t, (s, _) in heads.items()}, "chain claims")
    for c, h in sorted(named):
        need(h in hashes.get(("expected", c), ()), f"chain {c}: head {h[:12]} named by a checkpoint missing")
    frm, to, tenant = (norm(header.get("from")), norm(header.get("to")), header.get("tenant_id"))
    exported = norm(header.get("exported_at"))
    if header.get("exported_at") and to is None:
        to = norm(header["exported_at"])  # an open-ended export: lines written after the snapshot
    for at, run, c, s, h, head_at in refs:
        if (c, s) in hashes:
            need(hashes[(c, s)] == h, f"chain {c} seq {s}: not the anchored record")
            continue
        when = head_at or at  # a head with its own time falls in the window when that time does
        if (tenant and c != tenant) or (frm and when < frm) or (to and when >= to):
            continue
        if head_at and header.get("to") is None and to and at >= to and exported and at >= exported \
                and head_at >= norm(header["exported_at"], -60):
            continue  # open-ended, written after the export: its record, stamped within a minute of the
            #           snapshot, may have committed after it (a window with a "to" ends there whatever
            #           the unhashed exported_at says, or moving it would choose what is excused)
        need(c not in heads or s < heads[c][0], f"chain {c}: anchored seq {s} cut off")
        if not head_at and frm and (tenant or (NIL in heads and run not in started)):
            continue
        need(False, f"chain {c}: anchored seq {s} missing")
    for t, h in (e.split("=", 1) for e in expected):
        need(h.lower() in hashes.get(("expected", t.lower()), ()), f"tenant {t}: head not in the export")
    if unvouched:  # passed, and said, as lethe verify says it
        n = len(unvouched)
        print(f"warning: {n} record{'' if n == 1 else 's'} (the first: {unvouched[0]}) newer than every "
              f"head of {'its' if n == 1 else 'their'} chain the anchor file names: no line vouches for "
              f"{'it' if n == 1 else 'them'} yet (the next run's line will)", file=sys.stderr)
    return len(heads)

NIL = "00000000-0000-0000-0000-000000000000"

def norm(t, shift=0):  # a header's time in the records' own form, SHIFT seconds later
    if t is None:
        return None
    from datetime import datetime, timedelta, timezone
    d = datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(timezone.utc) + timedelta(seconds=shift)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

if __name__ == "__main__":
    try:
        args, anchors = sys.argv[2:], None
        if "--anchors" in args:
            i = args.index("--anchors")
            anchors, args = args[i + 1], args[:i] + args[i + 2:]
        # lethe verify's spelling (--expect-head TENANT=HASH) or the bare TENANT=HASH
        args = [a.split("=", 1)[1] if a.startswith("--expect-head=") else a
                for a in args if a != "--expect-head"]
        for a in args:  # a head that is not TENANT=HASH is a usage error (exit 2), as for lethe
            if "=" not in a:
                print(f"FAILED: expected TENANT=HASH, got {a!r}")
                sys.exit(2)
        if anchors is not None:
            try:  # an anchor file that cannot be read is a usage error (exit 2), as for lethe
                open(anchors, encoding="utf-8").close()
            except OSError as e:
                print(f"FAILED: {e}")
                sys.exit(2)
            with open(sys.argv[1], encoding="utf-8", newline="") as f:
                if f.readline().rstrip("\r\n") == ",".join(COLS):  # as lethe: no window stated
                    print("FAILED: --anchors needs a JSON Lines export: a CSV export does not state its window")
                    sys.exit(2)
        print(f"ok: {verify(sys.argv[1], args, anchors)} chains")
    except Exception as e:  # a file that does not even parse fails the check too
        print(f"FAILED: {type(e).__name__}: {e}")
        sys.exit(4)
