"""An independent model of SPEC §3 (the rules, lineage, holds, timing), written from the SPEC
and not from lethe's SQL, for the property test in tests/model/lineage_check.py.

It knows a catalog as a producer and an operator wrote it (items, events in commit order,
holds) and the purges of earlier runs, and answers what a run at an instant batches and what
lethe.item_status says of each item. It assumes an executor that acknowledges every item, so
that nothing stays in flight between runs. Standard library only; no SQL.
"""
import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

DAY = timedelta(days=1)
# rule: (deadline, grace, tie-break order); a deadline is days or ("mo", n)
RULES = {
    "shared_while_opted_out": (0, 0, 1),
    "subject_request": (("mo", 1), 0, 2),
    "deletion_request": (30, 0, 3),
    "sharing_opt_out": (30, 0, 4),
    "capacity_deleted": (180, 0, 5),
    "shared_retention": (90, 90, 6),
}
LOOKAHEAD = 2  # days


def add(t, d):
    """t + d, d in days or ("mo", n): a calendar month with end-of-month clamping."""
    if isinstance(d, tuple):
        m = t.month - 1 + d[1]
        y, m = t.year + m // 12, m % 12 + 1
        return t.replace(year=y, month=m, day=min(t.day, calendar.monthrange(y, m)[1]))
    return t + d * DAY


def timing(rule, t):
    """(due_at, deadline_at) of an obligation triggered at t (SPEC §3 Timing)."""
    deadline, grace, _ = RULES[rule]
    dl = add(t, deadline)
    return max(t, min(add(t, grace), dl - LOOKAHEAD * DAY)), dl


@dataclass
class Item:
    id: str
    ws: str
    kind: str
    owner: str  # the owner as written, kept after a purge (the subject is still theirs)
    shared: bool
    parent: str
    created: datetime

    @property
    def customer_data(self):
        return self.kind != "system_log"


@dataclass
class Event:
    type: str
    occurred: datetime
    ws: str = None
    subject: str = None
    item: str = None
    ref: str = None


@dataclass
class Hold:
    placed: datetime
    ws: str = None
    subject: str = None
    item: str = None
    released: datetime = None


@dataclass
class Ob:
    rule: str
    trigger: datetime
    due: datetime
    deadline: datetime
    active: bool
    via: str
    withdrawn: datetime = None  # when a later event withdraws it (never, for a purged source's)


@dataclass
class Model:
    items: dict = field(default_factory=dict)
    events: list = field(default_factory=list)  # in commit order
    holds: dict = field(default_factory=dict)
    purged: dict = field(default_factory=dict)  # item -> (rule, trigger, due, deadline)
    # The wall clock when the engine looks: a purge happens then, so a withdrawal that has
    # occurred by then withdraws whatever a run's as_of (SPEC §3: when the engine processes it).
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def chain(self, x):
        """The item and its ancestors, nearest first."""
        out, i = [], self.items[x]
        while i is not None:
            out.append(i)
            i = self.items.get(i.parent) if i.parent else None
        return out

    def opted_out(self, ws, t):
        """Sharing state at t: the latest sharing event of the tenant or ws decides; an opt-out
        at the very instant covers the item instead, an opt-in at that instant counts."""
        best = None
        for n, e in enumerate(self.events):
            if e.type not in ("sharing_opted_in", "sharing_opted_out") or e.ws not in (None, ws):
                continue
            if e.occurred < t or (e.occurred == t and e.type == "sharing_opted_in"):
                key = (e.occurred, e.type == "sharing_opted_in", n)
                if best is None or key > best[0]:
                    best = (key, e.type)
        return best is not None and best[1] == "sharing_opted_out"

    def withdrawn_at(self, e):
        """When an event's obligation is withdrawn: the earliest later cancellation naming the
        request, or the earliest later re-provisioning of a capacity deletion."""
        if e.type == "deletion_requested":
            ws = [c.occurred for c in self.events if c.type == "deletion_cancelled"
                  and c.ref == e.ref and c.occurred > e.occurred]
        elif e.type == "capacity_deleted":
            ws = [c.occurred for c in self.events if c.type == "capacity_provisioned"
                  and c.occurred > e.occurred]
        else:
            ws = []
        return min(ws) if ws else None

    @staticmethod
    def rule_of(e):
        if e.type == "deletion_requested":
            return "subject_request" if e.subject else "deletion_request"
        return {"capacity_deleted": "capacity_deleted",
                "sharing_opted_out": "sharing_opt_out"}.get(e.type)

    def covers(self, e, y):
        if y.created > e.occurred:
            return False
        if e.type == "sharing_opted_out" and not y.shared:
            return False
        return ((e.ws is None or e.ws == y.ws) and (e.subject is None or e.subject == y.owner)
                and (e.item is None or e.item == y.id))

    def lineage(self, x, as_of):
        """Every obligation of x through itself and its ancestors (SPEC §3 Lineage)."""
        if not self.items[x].customer_data:
            return []
        obs = []
        for y in self.chain(x):
            if y.id in self.purged and y.id != x:
                rule, t, due, dl = self.purged[y.id]
                obs.append(Ob(rule, t, due, dl, True, y.id))
            if not y.customer_data:
                continue  # a system log starts no coverage; coverage flows through it
            for e in self.events:
                rule = self.rule_of(e)
                if rule and self.covers(e, y):
                    w = self.withdrawn_at(e)
                    obs.append(Ob(rule, e.occurred, *timing(rule, e.occurred),
                                  w is None or w > max(as_of, self.now), y.id, w))
            if y.shared:
                obs.append(Ob("shared_retention", y.created,
                              *timing("shared_retention", y.created), True, y.id))
                if self.opted_out(y.ws, y.created):
                    obs.append(Ob("shared_while_opted_out", y.created,
                                  *timing("shared_while_opted_out", y.created), True, y.id))
        return obs

    def standing(self, x, as_of):
        """(rule, due, deadline) from the active obligations, or None."""
        act = [o for o in self.lineage(x, as_of) if o.active]
        if not act:
            return None
        # due when the first obligation comes due that is not withdrawn by then
        dues = [o.due for o in act if o.withdrawn is None or o.withdrawn > o.due]
        if not dues:
            return None
        due = min(dues)
        # the rule it is (or will be) due under: among those in effect then
        at = max(as_of, due)
        g = min(act, key=lambda o: (o.trigger > at or (o.withdrawn is not None and o.withdrawn <= at),
                                    o.deadline, RULES[o.rule][2]))
        return g.rule, due, g.deadline

    def held(self, x, as_of):
        for h in self.holds.values():
            if not (h.placed <= as_of and (h.released is None or h.released > as_of)):
                continue
            for y in self.chain(x):
                if ((h.ws is None or h.ws == y.ws) and (h.subject is None or h.subject == y.owner)
                        and (h.item is None or h.item == y.id)):
                    return True
        return False

    def plan(self, as_of):
        """What a run at as_of finds due: {item: (rule, due, deadline, held)}."""
        out = {}
        for x, i in self.items.items():
            if x in self.purged or not i.customer_data:
                continue
            s = self.standing(x, as_of)
            if s and s[1] <= as_of:
                out[x] = s + (self.held(x, as_of),)
        return out

    def run(self, as_of, acked=lambda x: True):
        """A run at as_of: {item: (rule, deadline)} batched. The executor acknowledges the items
        acked(x) says it does; the others fail (SPEC §4: the batch is closed, they are due again
        at the next run) and their obligations wait in self.batched for a late `lethe ack`."""
        batched = {}
        self.batched = {}
        for x, (rule, due, dl, held) in self.plan(as_of).items():
            if not held:
                trig = next(o.trigger for o in self.lineage(x, as_of)
                            if o.active and o.rule == rule and o.deadline == dl)
                self.batched[x] = (rule, trig, due, dl)
                if acked(x):
                    self.purged[x] = (rule, trig, due, dl)
                batched[x] = (rule, dl)
        return batched

    def late_ack(self, failed):
        """`lethe ack` of a failed batch ({item: obligation} of its items that failed): the
        deletions happened, whatever is withdrawn or held since (SPEC §4), under the obligation
        each was batched under; an item purged since by another batch is purged once."""
        for x, ob in failed.items():
            self.purged.setdefault(x, ob)

    def state(self, x, now):
        """(state, rule, due, deadline) as lethe.item_status gives them at now."""
        if x in self.purged:
            rule, _, due, dl = self.purged[x]
            return "purged", rule, due, dl
        s = self.standing(x, now) if self.items[x].customer_data else None
        if s is None:
            return "live", None, None, None
        rule, due, dl = s
        if due <= now:
            return ("held" if self.held(x, now) else "due"), rule, due, dl
        return "scheduled", rule, due, dl


def utc(s):
    """Parses lethe's ISO 8601 UTC times (2024-01-01T00:00:00.000000Z)."""
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def iso(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t else None
