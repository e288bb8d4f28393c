#!/usr/bin/env python3
"""Property test of SPEC §3 lineage: random catalogs with lineage several levels deep, purges
(runs at chosen --as-of, with an executor that records each manifest and acknowledges every
item), holds placed and released, system logs in chains, events and copies committed late.
For each catalog, item by item, lethe must agree with the model of tests/model/lineage_model.py:
the --dry-run plan before each run, what each run batches (its manifests), then
lethe.item_status for every item and `lethe explain --json` for some.

    lineage_check.py [--seed S] [--catalogs N]    (PG* in the environment; LETHE the binary)

The catalogs share one database, each tenant alone in a shard of its own (runs take
--shard). Prints one "ok"/"not ok" line per catalog, with the seed of a failing catalog, so
that `--seed S --catalogs 1` replays it. Seeded and deterministic; standard library only.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shard_hash  # noqa: E402
from lineage_model import Event, Hold, Item, Model, iso, utc  # noqa: E402

LETHE = os.environ["LETHE"]
KINDS = ["prompt", "response", "retrieved", "pinned", "upload", "m365", "system_log"]
SUBJECTS = ["user_a", "user_b", "user_c"]


# psql itself, not Debian's wrapper script (a Perl start per statement adds up)
PSQL = os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
if not os.access(PSQL, os.X_OK):
    PSQL = "psql"


def psql(db, sql):
    r = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-d", db, "-c", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (r.stderr.strip(), sql[:2000]))
    return [l.split("\t") for l in r.stdout.splitlines() if l]


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        v = iso(v)
    return "'" + str(v).replace("'", "''") + "'"


class Catalog:
    """One generated catalog in a database of its own, mirrored in the model."""

    def __init__(self, seed, shard, db, work, base, misbehave=False):
        self.rng = random.Random(seed)
        # The deleter's misbehaviour is drawn from an RNG of its own: the same seed makes the
        # same catalog with a well-behaved deleter or not.
        self.misbehave = random.Random(seed ^ 0x5EED) if misbehave else None
        self.failed = {}  # failed batch -> {item: obligation} of its items that failed
        self.attempts = {}  # item -> failed attempts
        self.seed, self.db, self.work, self.base = seed, db, work, base
        self.m = Model()
        # The tenant is drawn until its bucket is K, which puts it alone in shard K of 32
        # (lethe.shard_of, worked out by shard_hash.py), so that the catalogs share one
        # database and every run and dry run sees only its own.
        self.shard = "%d/%d" % (shard, shard_hash.BUCKETS)
        # (Drawn from an RNG of its own, so that the catalog is the same in any shard: a
        # failing catalog replays alone, in shard 0.)
        draw = random.Random(self.rng.getrandbits(96))
        while True:
            self.tenant = str(uuid.UUID(int=draw.getrandbits(128), version=4))
            if shard_hash.bucket(self.tenant) == shard:
                break
        self.ws = {}
        self.sql = []
        self.refs = []
        self.n = 0
        self.failures = []
        self.late_acks = 0

    def uid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def when(self, lo, hi):
        """An instant on a 6-hour grid in [lo, hi] (ties between events and items happen)."""
        steps = max(0, int((hi - lo) / timedelta(hours=6)))
        return lo + timedelta(hours=6) * self.rng.randint(0, steps)

    def setup(self):
        self.sql.append("INSERT INTO lethe.tenants (tenant_id, name) VALUES (%s, 'prop')" % q(self.tenant))
        for geo in ("EU", "US"):
            w = self.uid()
            self.ws[w] = geo
            self.sql.append("INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES (%s, %s, %s)"
                            % (q(self.tenant), q(w), q(geo)))

    def item(self, lo, hi, parent=False):
        r = self.rng
        x = self.uid()
        ws = r.choice(list(self.ws))
        kind = r.choice(KINDS)
        if parent is False:
            parent = r.choice(list(self.m.items)) if self.m.items and r.random() < 0.55 else None
        created = self.when(lo, hi)
        if parent and r.random() < 0.8:  # a copy is mostly made after its source
            created = max(created, self.m.items[parent].created)
        shared = kind != "upload" and r.random() < 0.35
        owner = r.choice(SUBJECTS + [None])
        loc = self.ws[ws] if kind == "upload" else r.choice(["EU", "US"])
        self.m.items[x] = Item(x, ws, kind, owner, shared, parent, created)
        self.last = x
        self.sql.append(
            "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator,"
            " created_at, shared, parent_id, owner_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            % (q(self.tenant), q(x), q(ws), q(kind), q(loc), q("file:///nonexistent/" + x),
               q(created), q(shared), q(parent), q(owner)))

    def event(self, lo, hi):
        r = self.rng
        t = self.when(lo, hi)
        k = r.random()
        e = None
        if k < 0.40:
            self.n += 1
            ref = "R%d" % self.n
            s = r.random()
            e = Event("deletion_requested", t, ref=ref)
            if s < 0.2:
                pass
            elif s < 0.45:
                e.ws = r.choice(list(self.ws))
            elif s < 0.7:
                e.subject = r.choice(SUBJECTS)
            else:  # one item created by then: the database refuses a later one (sql/0080)
                made = [x for x, i in self.m.items.items() if i.created <= t]
                if made:
                    e.item = r.choice(made)
            self.refs.append((ref, t))
        elif k < 0.55 and any(at < t for _, at in self.refs):
            # it names a request that occurred before it (SPEC §2; refused otherwise)
            e = Event("deletion_cancelled", t, ref=r.choice([x for x, at in self.refs if at < t]))
        elif k < 0.60:
            e = Event("capacity_deleted", t)
        elif k < 0.66:
            e = Event("capacity_provisioned", t)
        elif k < 0.83:
            e = Event("sharing_opted_out", t, ws=r.choice([None] + list(self.ws)))
        else:
            e = Event("sharing_opted_in", t, ws=r.choice([None] + list(self.ws)))
        self.m.events.append(e)
        self.sql.append(
            "INSERT INTO lethe.events (tenant_id, type, occurred_at, workspace_id, subject_id, item_id,"
            " reference) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            % (q(self.tenant), q(e.type), q(e.occurred), q(e.ws), q(e.subject), q(e.item), q(e.ref)))

    def hold(self, lo, hi):
        r = self.rng
        h = Hold(self.when(lo, hi))
        s = r.random()
        if s < 0.15:
            pass
        elif s < 0.45:
            h.ws = r.choice(list(self.ws))
        elif s < 0.7:
            h.subject = r.choice(SUBJECTS)
        elif self.m.items:
            h.item = r.choice(list(self.m.items))
        hid = self.uid()
        self.m.holds[hid] = h
        self.sql.append(
            "INSERT INTO lethe.holds (tenant_id, hold_id, workspace_id, subject_id, item_id, reason,"
            " placed_at) VALUES (%s, %s, %s, %s, %s, 'prop', %s)"
            % (q(self.tenant), q(hid), q(h.ws), q(h.subject), q(h.item), q(h.placed)))

    def release(self, hi):
        open_ = [k for k, h in self.m.holds.items() if h.released is None and h.placed <= hi]
        if open_:
            hid = self.rng.choice(open_)
            h = self.m.holds[hid]
            h.released = self.when(h.placed, hi)
            self.sql.append("UPDATE lethe.holds SET released_at = %s WHERE tenant_id = %s AND hold_id = %s"
                            % (q(h.released), q(self.tenant), q(hid)))

    def flush(self):
        if self.sql:
            psql(self.db, ";\n".join(self.sql))
            self.sql = []

    def check(self, what, want, got):
        if want != got:
            self.failures.append((what, want, got))

    def lethe(self, *args):
        return subprocess.run([LETHE, "--config", os.path.join(self.work, "lethe.conf"), "--db",
                               "dbname=" + self.db] + list(args), capture_output=True, text=True)

    def dry_run(self, as_of):
        r = self.lethe("run", "--dry-run", "--shard", self.shard, "--as-of", iso(as_of))
        if r.returncode != 0:
            raise RuntimeError("dry run failed: " + r.stderr)
        total = re.search(r"due (\d+) items?, held (\d+)", r.stdout)
        got = {"total": (int(total.group(1)), int(total.group(2)))}
        section = ""
        for line in r.stdout.splitlines():
            if line.startswith("by "):
                section = line[3:-1]
            elif section == "rule":
                m = re.match(r"\s+(\S+)\s+(\d+) items?, (\d+) held$", line)
                got[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        plan = self.m.plan(as_of)
        want = {"total": (sum(not v[3] for v in plan.values()), sum(v[3] for v in plan.values()))}
        for rule in {v[0] for v in plan.values()}:
            want[rule] = (sum(1 for v in plan.values() if v[0] == rule and not v[3]),
                          sum(1 for v in plan.values() if v[0] == rule and v[3]))
        self.check("dry-run plan at %s (unheld, held)" % iso(as_of), want, got)

    def deleter(self):
        """Tells the deleter (record.sh) what to answer in the next run: per item a receipt
        (deleted, absent, failed), none, or one naming a foreign id; per location its exit
        status. A well-behaved deleter acknowledges every item and exits 0."""
        actions = {}
        for loc in ("EU", "US"):
            path = os.path.join(self.work, "exit." + loc)
            if self.misbehave and self.misbehave.random() < 0.12:
                with open(path, "w") as f:
                    f.write("3\n")
            elif os.path.exists(path):
                os.unlink(path)
        with open(os.path.join(self.work, "actions"), "w") as f:
            f.write("- -\n")
            if self.misbehave:
                for x in sorted(self.m.items):
                    a = self.misbehave.choices(["deleted", "absent", "failed", "none", "foreign"],
                                               [70, 8, 12, 5, 5])[0]
                    actions[x] = a
                    f.write("%s %s\n" % (x, a))
        return actions

    def run(self, as_of):
        rec = os.path.join(self.work, "batched")
        open(rec, "w").close()
        actions = self.deleter()
        r = self.lethe("-q", "run", "--json", "--shard", self.shard, "--as-of", iso(as_of))
        if r.returncode != 0:
            raise RuntimeError("run failed: " + r.stdout + r.stderr)
        got, batch_of = {}, {}
        with open(rec) as f:
            for line in f:
                b, x, rule, dl = line.split()
                got[x] = (rule, dl)
                batch_of[x] = b
        acked = lambda x: actions.get(x, "deleted") in ("deleted", "absent")  # noqa: E731
        want = {x: (rule, iso(dl)) for x, (rule, dl) in self.m.run(as_of, acked).items()}
        self.check("run at %s batches (item: rule, deadline)" % iso(as_of), want, got)
        # the run's own account (SPEC §4: counted truly in its summary), against the receipts
        failed = {x: ob for x, ob in self.m.batched.items() if not acked(x)}
        for x, ob in failed.items():
            self.attempts[x] = self.attempts.get(x, 0) + 1
            if x in batch_of:  # (one lethe did not batch is a disagreement already)
                self.failed.setdefault(batch_of[x], {})[x] = ob
        j = json.loads(r.stdout)
        self.check("run at %s counts (batches, purged, failed items, failed batches)" % iso(as_of),
                   (len(set(batch_of.values())), len(self.m.batched) - len(failed), len(failed),
                    len({batch_of.get(x) for x in failed})),
                   (j["batches"], j["purged"], j["failed"], j["failed_batches"]))

    def late_ack(self):
        """`lethe ack` of one failed batch, some runs later: its deleter did delete after all."""
        if not self.failed or self.misbehave.random() > 0.4:
            return
        b = self.misbehave.choice(sorted(self.failed))
        r = self.lethe("ack", b, "--operator", "prop")
        self.check("ack of failed batch %s (exit)" % b, 0, r.returncode)
        self.m.late_ack(self.failed.pop(b))
        self.late_acks += 1

    def status(self, pending=False):
        # item_status at now(), and (pending) what `lethe status` counts, set-based, at the
        # same instant: that one reads every tenant's pending items, so only once per catalog
        rows = psql(self.db, "SELECT 's', s.item_id, s.state, coalesce(s.rule, '-'),"
                             " coalesce(lethe.iso_utc(s.due_at), '-'), coalesce(lethe.iso_utc(s.deadline_at), '-'),"
                             " lethe.iso_utc(now()), s.attempts FROM lethe.item_status s WHERE s.tenant_id = %s"
                             " UNION ALL SELECT 'p', p.item_id, p.state, p.rule, lethe.iso_utc(p.due_at),"
                             " lethe.iso_utc(p.deadline_at), NULL, NULL FROM lethe.pending_items(now()) p"
                             " WHERE %s AND p.tenant_id = %s"
                             # each deletion audited once, under the obligation it was made for
                             " UNION ALL SELECT 'a', a.item_id, count(*)::text, min(a.rule), NULL,"
                             " min(lethe.iso_utc(a.deadline_at)), NULL, NULL FROM lethe.audit a"
                             " WHERE a.tenant_id = %s AND a.kind = 'item_purged' GROUP BY a.item_id"
                             % (q(self.tenant), q(pending), q(self.tenant), q(self.tenant)))
        now = utc(next(r[6] for r in rows if r[0] == "s"))
        # failed attempts are the item's while it is not purged
        got = {r[1]: tuple(r[2:6]) + ((r[7],) if r[2] != "purged" else ()) for r in rows if r[0] == "s"}
        pend = {r[1]: tuple(r[2:6]) for r in rows if r[0] == "p"}
        want = {}
        for x in self.m.items:
            st, rule, due, dl = self.m.state(x, now)
            want[x] = (st, rule or "-", iso(due) or "-", iso(dl) or "-")
            if st != "purged":
                want[x] += (str(self.attempts.get(x, 0)),)
        bad = {x: (want[x], got.get(x)) for x in want if want[x] != got.get(x)}
        self.check("item_status at %s (item: model, lethe)" % iso(now), {}, bad)
        audited = {r[1]: (r[2], r[3], r[5]) for r in rows if r[0] == "a"}
        self.check("item_purged records (item: how many, rule, deadline)",
                   {x: ("1", rule, iso(dl)) for x, (rule, _, _, dl) in self.m.purged.items()},
                   audited)
        want_pend = {x: w[:4] for x, w in want.items() if w[0] not in ("purged", "live")}
        if pending:
            self.check("pending_items at %s (item: state, rule, due, deadline)" % iso(now), want_pend, pend)
        return want

    def explain(self, want):
        # copies first: they are what lineage is about
        xs = sorted(self.m.items, key=lambda x: (self.m.items[x].parent is None, x))[:3]
        for x in xs:
            r = self.lethe("explain", "--json", x)
            d = json.loads(r.stdout)
            got = (d["state"], d["rule"] or "-", d["due_at"] or "-", d["deadline_at"] or "-")
            self.check("explain %s (state, rule, due, deadline)" % x, want[x][:4], got)


def one(seed, shard, db, work, base, misbehave):
    c = Catalog(seed, shard, db, work, base, misbehave)
    r = c.rng
    c.setup()
    start = base - timedelta(days=400)
    runs = sorted(c.when(base - timedelta(days=300), base) for _ in range(r.randint(3, 5)))
    prev = start
    for as_of in runs:
        for _ in range(r.randint(2, 6)):
            c.item(prev, as_of) if r.random() < 0.8 else c.item(start, as_of)  # some late
        if r.random() < 0.06:  # a chain of copies deeper than any walk may stop at (SPEC: any depth)
            c.item(prev, as_of)
            for _ in range(r.randint(65, 70)):
                c.item(prev, as_of, parent=c.last)
        for _ in range(r.randint(0, 3)):
            c.event(prev, as_of) if r.random() < 0.7 else c.event(start, base)  # late or ahead
        if r.random() < 0.15:  # dated after every run, after now: not in effect yet (sql/0068)
            c.event(base + timedelta(days=1), base + timedelta(days=40))
        if r.random() < 0.35:
            c.hold(start, as_of)
        if r.random() < 0.3:
            c.release(as_of if r.random() < 0.7 else base)
        c.flush()
        if misbehave:
            c.late_ack()
        c.dry_run(as_of)
        c.run(as_of)
        want = c.status(pending=as_of == runs[-1])
        prev = as_of
    c.explain(want)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1100)
    ap.add_argument("--catalogs", type=int, default=32)
    ap.add_argument("--keep", action="store_true", help="keep the database (lineage_model)")
    ap.add_argument("--misbehave", action="store_true",
                    help="a deleter that fails items, answers nothing or for foreign ids, exits"
                         " non-zero, and some of whose failed batches are acknowledged late")
    a = ap.parse_args()
    if not 1 <= a.catalogs <= shard_hash.BUCKETS:
        ap.error("--catalogs: 1 to %d (the catalogs share one database, one shard each)"
                 % shard_hash.BUCKETS)
    work = tempfile.mkdtemp(prefix="lethe-model.")
    with open(os.path.join(work, "record.sh"), "w") as f:
        # one "batch item rule deadline" line per manifest item (JSON Lines, header first) into
        # the record, and on stdout what the actions file says of the item (a receipt, none,
        # or one for a foreign id; "deleted" when it says nothing), then the exit status the
        # file exit.LOCATION holds (else 0); sed and awk, so that no interpreter starts per batch
        f.write("#!/bin/sh\n"
                "W=%s\n"
                "sed -n '2,$s/^{\"item_id\":\"\\([^\"]*\\)\".*\"rule\":\"\\([^\"]*\\)\""
                ".*\"deadline_at\":\"\\([^\"]*\\)\".*/\\1 \\2 \\3/p' \"$1\" >\"$W/cur.$LETHE_BATCH_ID\"\n"
                "sed \"s/^/$LETHE_BATCH_ID /\" \"$W/cur.$LETHE_BATCH_ID\" >>\"$W/batched\"\n"
                "awk 'NR == FNR { a[$1] = $2; next }\n"
                "     { x = ($1 in a) ? a[$1] : \"deleted\"\n"
                "       if (x == \"deleted\" || x == \"absent\") print x, $1\n"
                "       else if (x == \"failed\") print \"failed\", $1, \"disk full\"\n"
                "       else if (x == \"foreign\") print \"deleted\", $1 \"0\" }' \"$W/actions\" \"$W/cur.$LETHE_BATCH_ID\"\n"
                "if [ -f \"$W/exit.$LETHE_LOCATION\" ]; then exit \"$(cat \"$W/exit.$LETHE_LOCATION\")\"; fi\n"
                % work)
    os.chmod(os.path.join(work, "record.sh"), 0o755)
    with open(os.path.join(work, "lethe.conf"), "w") as f:
        f.write('spool: { directory = "%s/spool"; keep = "7d"; };\n' % work)
        f.write('executor: { command = "%s/record.sh"; };\n' % work)
        # Anchors of its own: never the machine's /var/lib/lethe/anchors.jsonl.
        f.write('audit: { anchor_file = "%s/anchors.jsonl"; };\n' % work)
    db = "lineage_model"
    psql("postgres", "DROP DATABASE IF EXISTS %s" % db)
    psql("postgres", "CREATE DATABASE %s" % db)
    subprocess.run([LETHE, "--db", "dbname=" + db, "migrate"], check=True, capture_output=True)
    # Every instant is on the hour, more than an hour before now, so that item_status (at
    # now()) and the model agree whatever the seconds.
    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    failed = 0
    for i in range(a.catalogs):
        seed = a.seed + i
        c = None
        try:
            c = one(seed, i, db, work, base, a.misbehave)
            fails = c.failures
        except Exception as e:  # a refused statement or a failed run is a failure too
            fails = [("catalog", "no error", str(e))]
        if fails:
            failed += 1
            print("not ok - catalog seed %d: lethe and the model disagree (replay: --seed %d --catalogs 1)"
                  % (seed, seed))
            for what, want, got in fails[:5]:
                print("#   %s\n#     model: %s\n#     lethe: %s" % (what, want, got))
        else:
            print("ok - catalog seed %d: %d items, %d events, %d holds, %d purged%s agree" % (
                seed, len(c.m.items), len(c.m.events), len(c.m.holds), len(c.m.purged),
                ", %d failed attempts, %d late acks" % (sum(c.attempts.values()), c.late_acks)
                if a.misbehave else ""))
    if not a.keep:
        psql("postgres", "DROP DATABASE %s" % db)
    shutil.rmtree(work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
