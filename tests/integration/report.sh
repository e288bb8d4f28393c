# lethe export --summary --format html: a catalog purged by real runs (on time, late by every
# amount, held past deadline, a violation, failures, pending items over many weeks), the page
# rendered by a real headless Chromium, and every number on it read back from the rendered DOM
# and compared with `export --summary --format jsonl`. The commands the page gives for
# verifying the chains are run as written. A screenshot is kept under build/artifacts/.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-report.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
STORE=$WORK/store; mkdir -p "$STORE"
ARTIFACTS=${ARTIFACTS:-$(dirname "$(dirname "$LETHE")")/artifacts}
mkdir -p "$ARTIFACTS"
write_config "$WORK/lethe.conf" \
    "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
    "rules: { deletion_request: { deadline = \"30d\"; grace = \"20d\"; };" \
    "         capacity_deleted: { deadline = \"180d\"; grace = \"170d\"; }; };"
CONF=$WORK/lethe.conf
psql -X -q -c 'DROP DATABASE IF EXISTS report_t' -c 'CREATE DATABASE report_t' 2>/dev/null
export PGDATABASE=report_t
"$LETHE" migrate >/dev/null

# ---- a catalog whose outcomes are known -------------------------------------------------------
A=$(uuid); B=$(uuid); C=$(uuid); D=$(uuid)
WA=$(uuid); WH=$(uuid); WK=$(uuid); WS=$(uuid); WB=$(uuid); WC=$(uuid); WD=$(uuid)
mk_tenant "$A" acme; mk_tenant "$B" globex; mk_tenant "$C" initech; mk_tenant "$D" umbrella
mk_workspace "$A" "$WA" EU; mk_workspace "$A" "$WH" US; mk_workspace "$A" "$WK" UK
mk_workspace "$A" "$WS" EU; mk_workspace "$B" "$WB" US; mk_workspace "$C" "$WC" ANZ
mk_workspace "$D" "$WD" EU
# items TENANT WS PREFIX N [CREATED_AGO] [SHARED] [OWNER]: N items PREFIX-1..N whose locators
# name files that do not exist (fs-delete answers "absent", which acknowledges them).
items() {
    local owner=${7:+"'$7'"}
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, shared, owner_id)
         SELECT '$1', gen_random_uuid(), '$2', 'prompt', w.geo, 'file://$STORE/LOCATOR-SECRET-$3-' || g,
                now() - interval '${5:-200 days}', ${6:-false}, ${owner:-NULL}
           FROM generate_series(1, $4) g, lethe.workspaces w WHERE w.workspace_id = '$2'" >/dev/null
        sql "INSERT INTO names SELECT item_id, '$3-' || substr(locator, length('file://$STORE/LOCATOR-SECRET-$3-') + 1)
           FROM lethe.items WHERE locator LIKE 'file://$STORE/LOCATOR-SECRET-$3-%'" >/dev/null
}
# request PREFIX FROM TO AGO: a deletion request per item PREFIX-FROM..TO, made AGO ago.
request() {
    sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, item_id)
         SELECT i.tenant_id, 'deletion_requested', now() - interval '$4', 'REQ-' || n.name, i.item_id
           FROM names n JOIN lethe.items i USING (item_id)
          WHERE n.name LIKE '$1-%' AND substr(n.name, length('$1-') + 1)::int BETWEEN $2 AND $3" >/dev/null
}
sql "CREATE TABLE names (item_id uuid, name text)" >/dev/null
items "$A" "$WA" a 40
request a 1 12 '22 days'                 # due, deadline in 8 days: on time
request a 13 15 '30 days 30 minutes'     # late by half an hour
request a 16 16 '30 days 5 hours'        # late by five hours
request a 17 18 '32 days'                # late by two days
request a 19 20 '75 days'                # late by 45 days
request a 21 30 '5 days'                 # scheduled: due in 15 days, deadline in 25
request a 31 40 '1 day'                  # scheduled: deadline in 29 days
items "$A" "$WH" h 4
# Held past the deadline by a hold placed before it (sql/0083): the request's 30 days end 15
# seconds from now, the hold is placed at once, and released once the deadline has passed.
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, workspace_id)
     VALUES ('$A', 'deletion_requested', now() - interval '720 hours' + interval '15 seconds', 'REQ-HELD', '$WH')" >/dev/null
items "$A" "$WK" k 3
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, workspace_id)
     VALUES ('$A', 'deletion_requested', now() - interval '35 days', 'REQ-KEPT', '$WK')" >/dev/null
# A failing item: its locator lies outside fs-delete's root, so it fails and stays overdue.
sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at)
     VALUES ('$A', gen_random_uuid(), '$WA', 'prompt', 'EU', 'file:///LOCATOR-SECRET-outside', now() - interval '90 days')" >/dev/null
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, item_id)
     SELECT '$A', 'deletion_requested', now() - interval '33 days', 'REQ-FAIL', item_id
       FROM lethe.items WHERE locator = 'file:///LOCATOR-SECRET-outside'" >/dev/null
# Sharing: opted out ten days ago, then a shared copy: a violation.
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, workspace_id) VALUES ('$A', 'sharing_opted_out', now() - interval '10 days', '$WS')" >/dev/null
items "$A" "$WS" v 2 '5 days' true
# Shared copies under the opt-in: 100 days old (late by 10 days), and younger ones pending.
items "$B" "$WB" s100 3 '100 days' true
items "$B" "$WB" s80 4 '80 days' true
items "$B" "$WB" s60 5 '60 days' true
items "$B" "$WB" s30 6 '30 days' true
# A data subject's request (1mo, no grace): on time.
items "$B" "$WB" subj 5 '200 days' false SUBJECT-SECRET-1@example.com
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id)
     VALUES ('$B', 'deletion_requested', now() - interval '3 days', 'GDPR-7', 'SUBJECT-SECRET-1@example.com')" >/dev/null
# All capacity deleted (180 days to purge, the commitment: a config may not lengthen it):
# yesterday, so 179 days ahead, "later" (26 weeks from this week's Monday) from Wednesday to
# Sunday and the last week before it else (the page's weeks are checked against item_status
# either way); and 60 days ago, 17 weeks ahead: the chart's axis is long enough to turn its
# labels.
items "$C" "$WC" c 6
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at) VALUES ('$C', 'capacity_deleted', now() - interval '1 day')" >/dev/null
items "$D" "$WD" d 3
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at) VALUES ('$D', 'capacity_deleted', now() - interval '60 days')" >/dev/null

HELD=$("$LETHE" --config "$CONF" -q hold place --tenant "$A" --workspace "$WH" --reason litigation --reference CASE-1)
"$LETHE" --config "$CONF" -q hold place --tenant "$A" --workspace "$WK" --reason litigation --reference CASE-2 >/dev/null
"$LETHE" --config "$CONF" -q run >/dev/null 2>&1
assert_eq "the hold is placed before the deadline it keeps the items past" "t" \
  "$(sql "SELECT h.placed_at < e.occurred_at + interval '720 hours' FROM lethe.holds h, lethe.events e
           WHERE h.hold_id = '$HELD' AND e.reference = 'REQ-HELD'")"
for ((i = 0; i < 40; i++)); do
    [ "$(sql "SELECT now() > occurred_at + interval '720 hours' FROM lethe.events WHERE reference = 'REQ-HELD'")" = t ] && break
    sleep 1
done
"$LETHE" --config "$CONF" -q hold release "$HELD" >/dev/null
"$LETHE" --config "$CONF" -q run >/dev/null 2>&1

# ---- the page -----------------------------------------------------------------------------------
run_lethe --config "$CONF" export --summary --format jsonl
echo "$OUT" >"$WORK/summary.jsonl"
run_lethe --config "$CONF" export --summary --format html -o "$WORK/report.html"
assert_rc "export --summary --format html -o exits 0" 0
assert_eq "it says where the page went" "export: wrote the summary to '$WORK/report.html'" "$ERR"
assert_eq "no temporary file is left beside the page" "anchors.jsonl lethe.conf report.html spool store summary.jsonl" \
  "$(ls -A "$WORK" | sort | tr '\n' ' ' | sed 's/ $//')"
cp "$WORK/report.html" "$ARTIFACTS/report.html"
run_lethe --config "$CONF" export --summary --format html
assert_rc "export --summary --format html to standard output exits 0" 0
assert_eq "standard output gets the same page (but for the time it was made)" \
  "$(sed 's/[0-9-]*T[0-9:.]*Z//g; s/[0-9-]* [0-9:]* UTC//g' "$WORK/report.html")" "$(echo "$OUT" | sed 's/[0-9-]*T[0-9:.]*Z//g; s/[0-9-]* [0-9:]* UTC//g')"

page=$(cat "$WORK/report.html")
assert_contains "the page forbids scripts and network by policy" \
  "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">" "$page"
assert_eq "the page has no script, link, source or URL" "" \
  "$(grep -oiE '<script|<link|<img|<iframe|<object|src=|href=|url\(|@import|https?:' "$WORK/report.html" | sort -u)"
assert_eq "no locator, subject id or customer text is on the page" "" "$(grep -o 'SECRET' "$WORK/report.html")"
assert_eq "the charts are inline SVG" "3" "$(grep -c '<svg ' "$WORK/report.html")"

# ---- rendered by Chromium --------------------------------------------------------------------------
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
DOM=$WORK/report.html
if [ -z "$CHROMIUM" ]; then
    echo "ok - skipped: chromium not installed"
else
    chrome() { timeout 60 "$CHROMIUM" --headless --disable-gpu --no-sandbox --no-first-run \
        --disable-extensions --hide-scrollbars --user-data-dir="$WORK/chromium" "$@" 2>/dev/null; }
    t0=$(date +%s%N)
    chrome --dump-dom "file://$WORK/report.html" >"$WORK/dom.html"; rc=$?
    assert_eq "headless Chromium renders the page (--dump-dom exits 0)" 0 "$rc"
    assert_contains "the rendered DOM holds the page" "<h1>lethe compliance summary</h1>" "$(cat "$WORK/dom.html")"
    DOM=$WORK/dom.html
    rm -f "$ARTIFACTS/report.png"
    chrome --screenshot="$ARTIFACTS/report.png" --window-size=1200,2700 "file://$WORK/report.html" >/dev/null
    t1=$(date +%s%N)
    assert_eq "a screenshot is kept as a test artefact" "1200x2700" \
      "$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]) if d[:8]==b"\x89PNG\r\n\x1a\n" else "not a png")' "$ARTIFACTS/report.png" 2>&1)"
    echo "# chromium: dump-dom and screenshot in $(((t1 - t0) / 1000000)) ms; screenshot $ARTIFACTS/report.png"
fi

# ---- every number on the page is the summary's -------------------------------------------------------
cat >"$WORK/read.py" <<'EOF'
# Reads the page's marked numbers (data- attributes and the text shown next to them).
import html.parser, json, sys

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.cells, self.rects, self.groups, self.ids, self.pre = [], [], [], [], {}, {}
        self.tags = set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag in ("br", "meta", "line", "rect", "path") or tag == "i":
            if tag == "rect" and "data-count" in a:
                g = next((x[1] for x in reversed(self.stack) if x[0] == "g"), {})
                self.rects.append(dict(a, group=g))
            return
        self.stack.append([tag, a, ""])
        if tag == "tr" and "data-rule" in a:
            self.row = a["data-rule"]
        if tag == "g":
            self.groups.append(a)
    def handle_endtag(self, tag):
        if not self.stack or tag in ("br", "meta", "line", "rect", "path", "i"):
            return
        t, a, text = self.stack.pop()
        if self.stack:
            self.stack[-1][2] += text
        if t == "td" and "data-field" in a:
            self.cells.append((self.row, a["data-field"], a.get("data-value"), text.strip()))
        if "id" in a:
            self.ids[a["id"]] = (a.get("data-value"), text)
        if t == "tr" and "data-chain" in a:
            self.groups.append(a)
    def handle_data(self, d):
        if self.stack:
            self.stack[-1][2] += d

p = Page()
p.feed(open(sys.argv[1], encoding="utf-8").read())
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
want = {r["rule"]: r for r in rows if r["kind"] == "summary"}
what = sys.argv[3]
INT = ("purged", "on_time", "late", "held_past_deadline", "violations", "pending", "overdue")
if what == "table":
    # Each rule's row: every field, as the attribute and as the text shown.
    bad = []
    seen = {}
    for rule, field, value, text in p.cells:
        seen.setdefault(rule, {})[field] = (value, text)
    for rule, w in want.items():
        got = seen.get(rule, {})
        for f in INT:
            v, t = got.get(f, (None, None))
            if v != str(w[f]) or (t or "").replace(",", "") != str(w[f]):
                bad.append(f"{rule}.{f}: page {v!r}/{t!r}, jsonl {w[f]!r}")
        for f in ("max_lateness_seconds", "nearest_deadline"):
            v, t = got.get(f, (None, None))
            same = v == w[f] if f == "nearest_deadline" else (
                v is None and w[f] is None or v is not None and w[f] is not None and float(v) == w[f])
            if not same:
                bad.append(f"{rule}.{f}: page {v!r}, jsonl {w[f]!r}")
    extra = set(seen) - set(want)
    print(f"{len(want)} rules" if not bad and not extra else "; ".join(bad) + f" extra={extra}")
elif what == "cards":
    a = want["all"]
    bad = [f for f in INT if p.ids.get("total-" + f, (None,))[0] != str(a[f])
           or p.ids["total-" + f][1].replace(",", "") != str(a[f])]
    print("ok" if not bad else "differ: " + ",".join(bad))
elif what == "header":
    h = rows[0]
    print(p.ids["records"][0] == str(h["records"]), p.ids["chains"][0] == str(h["chains"]),
          p.ids["generated"][0] >= h["generated_at"], len(p.ids["generated"][0]) == 27)
elif what == "rules-chart":
    got = {}
    for r in p.rects:
        if "data-rule" in r and "data-outcome" in r:
            got.setdefault(r["data-rule"], {}).setdefault(r["data-outcome"], 0)
            got[r["data-rule"]][r["data-outcome"]] += int(r["data-count"])
    bad = []
    for rule, w in want.items():
        if rule == "all":
            continue
        for f in ("on_time", "late", "held_past_deadline", "violations"):
            if got.get(rule, {}).get(f, 0) != w[f]:
                bad.append(f"{rule}.{f}: chart {got.get(rule, {}).get(f, 0)}, jsonl {w[f]}")
    totals = {g["data-rule"]: None for g in p.groups if "data-rule" in g}
    print("ok" if not bad and set(totals) == set(want) - {"all"} else "; ".join(bad) + f" rules={sorted(totals)}")
elif what == "lateness":
    b = [(g["data-bucket"], int(g["data-late"]), int(g["data-held"])) for g in p.groups if "data-bucket" in g]
    segs = {}
    for r in p.rects:
        if "data-bucket" in r:
            segs[(r["data-bucket"], r["data-outcome"])] = int(r["data-count"])
    consistent = all(segs.get((n, "late"), 0) == l and segs.get((n, "held_past_deadline"), 0) == h for n, l, h in b)
    print(" | ".join(f"{n}: {l} {h}" for n, l, h in b),
          "| sums", sum(x[1] for x in b) == want["all"]["late"],
          sum(x[2] for x in b) == want["all"]["held_past_deadline"], consistent)
elif what == "weeks":
    # Per rule, the bars add up to its pending and the overdue bar is its overdue; each bar's
    # total is the sum of its segments. Then the weeks themselves, for comparison with SQL.
    bars = {g["data-week"]: int(g["data-total"]) for g in p.groups if "data-week" in g}
    pending, overdue, sums = {}, {}, {}
    for r in p.rects:
        wk = r["group"].get("data-week")
        if wk is None:
            continue
        n = int(r["data-count"])
        pending[r["data-rule"]] = pending.get(r["data-rule"], 0) + n
        sums[wk] = sums.get(wk, 0) + n
        if wk == "overdue":
            overdue[r["data-rule"]] = overdue.get(r["data-rule"], 0) + n
    bad = [rule for rule, w in want.items() if rule != "all" and
           (pending.get(rule, 0) != w["pending"] or overdue.get(rule, 0) != w["overdue"])]
    bad += [wk for wk, t in bars.items() if sums.get(wk, 0) != t]
    print("ok" if not bad else "differ: " + ",".join(bad))
    print(" ".join(f"{wk}={t}" for wk, t in bars.items() if t and wk != "overdue"))
    print("weeks", " ".join(wk for wk in bars))
elif what == "heads":
    print("\n".join(f'{g["data-chain"]} {g["data-last-seq"]} {g["data-hash"]}' for g in p.groups if "data-chain" in g))
elif what == "generated":
    print(p.ids["generated"][0])
elif what == "commands":
    print(p.ids["export-command"][1].strip() + "\n" + p.ids["verify-command"][1].strip())
elif what == "tags":
    print(" ".join(sorted(p.tags)))
EOF
read_page() { python3 "$WORK/read.py" "$DOM" "$WORK/summary.jsonl" "$@" 2>&1; }
nrules=$(grep -c '"kind":"summary"' "$WORK/summary.jsonl")
assert_eq "every rule's row on the page equals the jsonl summary, field by field" "$nrules rules" "$(read_page table)"
assert_eq "the overall figures at the top equal the jsonl summary's" "ok" "$(read_page cards)"
assert_eq "the records, chains and time equal the jsonl summary header's" "True True True True" "$(read_page header)"
assert_eq "the per-rule chart's segments equal the jsonl summary" "ok" "$(read_page rules-chart)"
assert_eq "the outcomes are the ones the catalog was built for" \
  "deletion_request,12,8,4,0|subject_request,5,0,0,0|capacity_deleted,0,0,0,0|sharing_opt_out,0,0,0,0|shared_retention,0,3,0,0|shared_while_opted_out,0,0,0,2" \
  "$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["kind"] == "summary" and r["rule"] != "all":
        print(r["rule"], r["on_time"], r["late"], r["held_past_deadline"], r["violations"], sep=",")' "$WORK/summary.jsonl" | tr '\n' '|' | sed 's/|$//')"
assert_eq "the lateness distribution puts each late item in its bucket and adds up to the summary" \
  "up to 1 hour: 3 4 | 1 to 24 hours: 1 0 | 1 to 7 days: 2 0 | 7 to 30 days: 3 0 | over 30 days: 2 0 | sums True True True" \
  "$(read_page lateness)"
weeks=$(read_page weeks)
PENDING="state IN ('due', 'scheduled', 'held', 'in_flight')"
assert_eq "the pending chart adds up, per rule, to the summary's pending and overdue" "ok" "$(echo "$weeks" | sed -n 1p)"
HORIZON="date_trunc('week', now()) + interval '26 weeks'"
assert_eq "each week's bar holds the items whose deadline falls in that week, later ones apart (item_status by SQL)" \
  "$(sql "SELECT string_agg(w || '=' || n, ' ' ORDER BY w < 'a' DESC, w) FROM (SELECT CASE WHEN deadline_at >= $HORIZON THEN 'later'
            ELSE to_char(date_trunc('week', deadline_at), 'YYYY-MM-DD') END w, count(*) n
            FROM lethe.item_status WHERE $PENDING AND deadline_at >= now() GROUP BY 1) x")" \
  "$(echo "$weeks" | sed -n 2p)"
# "later" is on the axis when an item's deadline is past the horizon: the catalog's 180-day
# deadlines fall past it, or within it early on a Monday, when the week that starts it is new.
LATER=$(sql "SELECT CASE WHEN count(*) > 0 THEN ' later' ELSE '' END FROM lethe.item_status WHERE $PENDING AND deadline_at >= $HORIZON")
assert_eq "the axis runs week by week from this week to the last deadline before later, empty weeks included" \
  "weeks overdue $(sql "SELECT string_agg(to_char(g, 'YYYY-MM-DD'), ' ' ORDER BY g) FROM generate_series(date_trunc('week', now()),
            (SELECT date_trunc('week', max(deadline_at)) FROM lethe.item_status WHERE $PENDING AND deadline_at < $HORIZON), interval '1 week') g")$LATER" \
  "$(echo "$weeks" | sed -n 3p)"

# ---- the chain heads, and the page's own commands run as written ---------------------------------
assert_eq "the page lists every chain with the log's own head" \
  "$(sql "SELECT tenant_id || ' ' || seq || ' ' || hash FROM lethe.audit_heads WHERE seq > 0 ORDER BY tenant_id")" "$(read_page heads)"
mkdir -p "$WORK/bin" "$WORK/auditor"; ln -s "$LETHE" "$WORK/bin/lethe"
read_page commands >"$WORK/commands.sh"
CHAINS=$(sql "SELECT count(*) FROM lethe.audit_heads WHERE seq > 0")
assert_eq "the commands export the window up to the page's time, then verify every head" \
  "lethe export --to $(read_page generated) --format jsonl -o audit.jsonl|lethe verify audit.jsonl \\|$CHAINS" \
  "$(head -2 "$WORK/commands.sh" | tr '\n' '|')$(grep -c -- '--expect-head' "$WORK/commands.sh")"
verdict=$(cd "$WORK/auditor" && PATH="$WORK/bin:$PATH" bash -e "$WORK/commands.sh" 2>/dev/null); rc=$?
assert_eq "the page's commands, run as written, verify the chains" 0 "$rc"
records=$(head -1 "$WORK/summary.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
assert_eq "and verify says what the page said it would" \
  "verify: ok: $records records in $CHAINS chains ($CHAINS from seq 1, 0 windows), $CHAINS expected heads matched; records from the start of the log until $(read_page generated)" "$verdict"
assert_contains "the page names that verdict" "$records records in $CHAINS chains" "$(cat "$WORK/report.html")"

# A window of one tenant: the commands carry --from and --tenant, and still verify.
run_lethe --config "$CONF" export --summary --format html --tenant "$A" --from 2020-01-01 -o "$WORK/tenant.html"
assert_rc "a tenant's window as HTML exits 0" 0
python3 "$WORK/read.py" "$WORK/tenant.html" "$WORK/summary.jsonl" commands >"$WORK/commands.sh"
assert_contains "its export command keeps the window's start" \
  "lethe export --from 2020-01-01T00:00:00.000000Z --to " "$(head -1 "$WORK/commands.sh")"
assert_contains "and names the tenant" " --tenant $A --format jsonl -o audit.jsonl" "$(head -1 "$WORK/commands.sh")"
assert_contains "the page's window: its start to the microsecond, its open end the last record, included" \
  '<dd id="window">audit records from 2020-01-01 00:00:00.000000 UTC (inclusive) to the last record (inclusive)</dd>' \
  "$(cat "$WORK/tenant.html")"
verdict=$(cd "$WORK/auditor" && PATH="$WORK/bin:$PATH" bash -e "$WORK/commands.sh" 2>/dev/null); rc=$?
assert_eq "which verify that one chain against its head, over the tenant's window" \
  "0 1 chains (1 from seq 1, 0 windows), 1 expected head matched; records of tenant $A from 2020-01-01T00:00:00.000000Z until $(head -1 "$WORK/commands.sh" | sed 's/.* --to \([^ ]*\) .*/\1/')" \
  "$rc $(echo "$verdict" | sed 's/.* records in //')"

# ---- text from the database is escaped ------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference, triggered_at, deadline_at, purged_at, on_time, location)
VALUES ('$C', 'item_purged', gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), '<b>x</b> & "q" ''s''', 'R', now(), now() + interval '1 day', now(), true, 'ANZ');
SELECT lethe.audit_flush();
COMMIT;
SQL
run_lethe --config "$CONF" export --summary --format html -o "$WORK/escaped.html"
assert_rc "a rule name with markup in it still makes a page" 0
assert_eq "its markup is shown as text, never parsed" "no b element; row for <b>x</b> & \"q\" 's'" \
  "$(python3 - "$WORK/escaped.html" <<'PY'
import html.parser, sys
class P(html.parser.HTMLParser):
    tags, rules = set(), []
    def handle_starttag(self, t, a):
        self.tags.add(t)
        a = dict(a)
        if t == "tr" and "data-rule" in a:
            self.rules.append(a["data-rule"])
p = P(); p.feed(open(sys.argv[1]).read())
print("b element" if "b" in p.tags else "no b element;", *[f"row for {r}" for r in p.rules if "<" in r])
PY
)"
assert_contains "and escaped in the file" "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &#39;s&#39;" "$(cat "$WORK/escaped.html")"

# ---- refusals -----------------------------------------------------------------------------------
run_lethe export --format html
assert_rc "--format html without --summary exits 2" 2
assert_eq "and says why" "error: export: --format html needs --summary
hint: the records themselves are exported as jsonl or csv; the HTML page is the summary's" "$ERR"
finish
