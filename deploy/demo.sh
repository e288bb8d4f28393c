#!/bin/bash
# make demo: lethe's main job on a throwaway PostgreSQL under ./.demo (or $DEMO_DIR). It writes a
# sample catalog with plain SQL, as producers would, with real files in a demo store, then runs
# the cycle with fs-delete and shows status, explain, the export summary and verify.
# `deploy/demo.sh clean` (make demo-clean) stops the server and removes the directory. Must
# never touch anything outside DEMO_DIR but the cluster directory it made itself (below), nor
# a PostgreSQL it did not start.
#
# As root the server runs as user postgres, who may not be able to enter the checkout (a clone
# in /root, or in a mktemp -d directory, is private). So then the cluster lives in a directory
# of its own under /tmp, named in DEMO_DIR/pg-home, removed when the demo ends (or, after
# DEMO_KEEP=1, by clean).
#
# Environment: DEMO_DIR (default ./.demo), LETHE and FS_DELETE (default: build/bin, then bin/),
# DEMO_KEEP=1 leaves the server running at the end and says how to connect and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO_DIR=${DEMO_DIR:-$ROOT/.demo}
case $DEMO_DIR in /*) ;; *) DEMO_DIR=$ROOT/$DEMO_DIR ;; esac
. tests/harness/pg.sh
PG_HOME=$DEMO_DIR/pg
PG_POINTER=$DEMO_DIR/pg-home
# A cluster that an earlier demo kept outside DEMO_DIR; only a directory the demo made is taken.
if [ -f "$PG_POINTER" ]; then
    case $(cat "$PG_POINTER") in /tmp/lethe-demo-pg.*) PG_HOME=$(cat "$PG_POINTER") ;; esac
fi

stop_server() {
    if [ -f "$PG_HOME/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

# remove_outside_cluster: stops the server and removes a cluster kept outside DEMO_DIR.
remove_outside_cluster() {
    stop_server
    case $PG_HOME in /tmp/lethe-demo-pg.*) rm -rf "$PG_HOME" ;; esac
    rm -f "$PG_POINTER"
}

if [ "${1:-}" = clean ]; then
    remove_outside_cluster
    rm -rf "$DEMO_DIR"
    echo "demo: removed $DEMO_DIR"
    exit 0
elif [ $# -gt 0 ]; then
    echo "usage: deploy/demo.sh [clean]" >&2
    exit 2
fi

BUILD=${BUILD:-build}
LETHE=${LETHE:-}
if [ -z "$LETHE" ]; then
    if [ -x "$BUILD/bin/lethe" ]; then LETHE=$ROOT/$BUILD/bin/lethe; else LETHE=$ROOT/bin/lethe; fi
fi
FS_DELETE=${FS_DELETE:-$(dirname "$LETHE")/fs-delete}
if [ ! -x "$FS_DELETE" ]; then
    # `make demo` builds lethe; the executor is built here when it is not there yet.
    make --no-print-directory -s BUILD="$BUILD" "$BUILD/bin/fs-delete" >/dev/null
    FS_DELETE=$ROOT/$BUILD/bin/fs-delete
fi
for b in "$LETHE" "$FS_DELETE"; do
    [ -x "$b" ] || { echo "demo: '$b' is not built; run 'make demo'" >&2; exit 2; }
done

# ---- narration ---------------------------------------------------------------------------------
if [ -t 1 ]; then B=$'\e[1m'; D=$'\e[2m'; R=$'\e[0m'; else B=; D=; R=; fi
step() { printf '\n%s== %s ==%s\n' "$B" "$*" "$R"; }
say()  { printf '%s\n' "$*" | fold -s -w 96; }
die()  { echo "demo: $*" >&2; exit 1; }
# lethe ARGS...: the binary with the demo's config, shown as typed.
lethe() {
    local shown="" a
    for a in "$@"; do case $a in *' '*) shown="$shown \"$a\"" ;; *) shown="$shown $a" ;; esac; done
    printf '%s$ lethe%s%s\n' "$D" "$shown" "$R"
    "$LETHE" --config "$DEMO_DIR/lethe.conf" "$@"
}
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
rel() { printf '%s' "${1#"$ROOT"/}"; }

# ---- a fresh start, keeping only the initialised cluster ---------------------------------------
step "a throwaway PostgreSQL"
remove_outside_cluster
mkdir -p "$DEMO_DIR"
rm -rf "$DEMO_DIR/store" "$DEMO_DIR/spool" "$DEMO_DIR/exports" "$DEMO_DIR/anchors.jsonl"
mkdir -p "$DEMO_DIR/store" "$DEMO_DIR/spool" "$DEMO_DIR/exports"
if [ "$(id -u)" = 0 ]; then
    rm -rf "$DEMO_DIR/pg"
    PG_HOME=$(mktemp -d /tmp/lethe-demo-pg.XXXXXX)
    echo "$PG_HOME" > "$PG_POINTER"
else
    PG_HOME=$DEMO_DIR/pg
fi
if [ "${DEMO_KEEP:-}" != 1 ]; then trap remove_outside_cluster EXIT; fi
PG_FSYNC=off pg_start "$PG_HOME" || die "PostgreSQL did not start; see $PG_HOME/server.log"
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS lethe_demo' -c 'CREATE DATABASE lethe_demo' >/dev/null
export PGDATABASE=lethe_demo
if [ "$PG_HOME" = "$DEMO_DIR/pg" ]; then
    say "PostgreSQL 15 listens on the socket in $(rel "$PG_HOME") (port $PGPORT); the database lethe_demo is new."
else
    say "PostgreSQL 15 runs as user postgres, who may not be able to enter $(rel "$DEMO_DIR"), so its data and socket are in $PG_HOME (port $PGPORT) and are removed at the end; the database lethe_demo is new."
fi

head -c 32 /dev/urandom > "$DEMO_DIR/audit.key"
chmod 0600 "$DEMO_DIR/audit.key"
cat > "$DEMO_DIR/lethe.conf" <<EOF
# written by deploy/demo.sh
database: { conninfo = "host=$PG_HOME port=$PGPORT dbname=lethe_demo user=postgres"; };
spool:    { directory = "$DEMO_DIR/spool"; keep = "7d"; };
executor: { command = "$FS_DELETE --root $DEMO_DIR/store"; timeout = "1m"; };
audit:    { key_file = "$DEMO_DIR/audit.key"; anchor_file = "$DEMO_DIR/anchors.jsonl"; };
EOF
say "The config $(rel "$DEMO_DIR/lethe.conf") runs fs-delete on the store $(rel "$DEMO_DIR/store") and HMACs subject ids with a fresh key. Below, \"lethe\" stands for $(rel "$LETHE") --config $(rel "$DEMO_DIR/lethe.conf")."
lethe migrate


# ---- the catalog, as producers write it ---------------------------------------------------------
step "a sample catalog, written with plain SQL as producers would"
psql -X -q -v ON_ERROR_STOP=1 -v store="$DEMO_DIR/store" >/dev/null <<'SQL'
-- The demo's own bookkeeping, beside lethe's schema: where each item's file is (the tombstone
-- clears the locator) and the names the story uses. Ids are derived from names, so that every
-- run of the demo tells the same story with the same ids.
CREATE SCHEMA demo;
CREATE FUNCTION demo.id(t text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT (substr(md5(t), 1, 12) || '4' || substr(md5(t), 14, 3) || '8' || substr(md5(t), 18, 15))::uuid $$;

INSERT INTO lethe.tenants (tenant_id, name, created_at)
SELECT demo.id(n), n, now() - interval '3 years'
  FROM unnest(ARRAY['acme', 'globex', 'initech', 'umbrella', 'hooli', 'vandelay']) n;

CREATE TEMP TABLE ws (tenant text, name text, geo text, born int, last int, users int);
INSERT INTO ws VALUES
    -- tenant    workspace       geo    conversations from .. to this many days ago, users
    ('acme',     'acme-us',      'US',  500, 210, 4),
    ('acme',     'acme-eu',      'EU',  480, 215, 3),
    ('globex',   'globex-eu',    'EU',  120,   1, 4),
    ('globex',   'globex-uk',    'UK',  100,   1, 3),
    ('initech',  'initech-anz',  'ANZ', 200,   1, 3),
    ('initech',  'initech-uk',   'UK',  150,   8, 2),
    ('umbrella', 'umbrella-uk',  'UK',  300,  70, 3),
    ('umbrella', 'umbrella-anz', 'ANZ', 280,  75, 2),
    ('hooli',    'hooli-us',     'US',  200,  50, 3),
    ('vandelay', 'vandelay-us',  'US',   90,   4, 2);
INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo, created_at)
SELECT demo.id(tenant), demo.id(name), geo, now() - interval '2 years' FROM ws;

-- Twelve conversations per workspace, evenly spread: a prompt and its response, now and then
-- a pinned answer; every third one uploads a file, whose retrieved passages the search index
-- keeps in another region (C8: copies may live elsewhere); every fourth reads an M365
-- document; and system logs, which are not Customer Data (C7).
CREATE TEMP TABLE items (tenant text, ws text, kind text, location text, owner text,
                         created_at timestamptz, shared boolean, parent text, label text);
INSERT INTO items
SELECT ws.tenant, ws.name, k.kind, k.location, k.owner, c.at + k.offs, false,
       CASE WHEN k.kind = 'retrieved' THEN ws.name || ':upload:' || g END,
       ws.name || ':' || k.kind || ':' || g
  FROM ws CROSS JOIN generate_series(1, 12) g
 CROSS JOIN LATERAL (SELECT now() - make_interval(days => ws.born - (ws.born - ws.last) * (g - 1) / 11) AS at,
                            'user' || (1 + g % ws.users) || '@' || ws.tenant || '.example' AS owner) c
 CROSS JOIN LATERAL (VALUES
        ('prompt',     ws.geo, c.owner, interval '0'),
        ('response',   ws.geo, c.owner, interval '2 seconds'),
        ('pinned',     ws.geo, c.owner, interval '1 minute'),
        ('upload',     ws.geo, c.owner, interval '0'),
        ('retrieved',  CASE ws.geo WHEN 'US' THEN 'EU' ELSE 'US' END, NULL, interval '5 minutes'),
        ('m365',       ws.geo, c.owner, interval '10 seconds'),
        ('system_log', ws.geo, NULL, interval '3 seconds')) k(kind, location, owner, offs)
 WHERE k.kind IN ('prompt', 'response', 'system_log')
    OR (k.kind = 'pinned' AND g % 5 = 0)
    OR (k.kind IN ('upload', 'retrieved') AND g % 3 = 0)
    OR (k.kind = 'm365' AND g % 4 = 0);

-- initech shares data since it opted in, 95 days ago: its ANZ workspace's recent prompts have
-- shared copies in the sharing pipeline's US store, its UK workspace's recent responses in the UK.
INSERT INTO items
SELECT i.tenant, i.ws, i.kind, CASE i.ws WHEN 'initech-anz' THEN 'US' ELSE 'UK' END, NULL,
       i.created_at + interval '1 hour', true, i.label, 'shared:' || i.label
  FROM items i
 WHERE i.tenant = 'initech'
   AND i.created_at > now() - CASE i.ws WHEN 'initech-uk' THEN interval '60 days' ELSE interval '88 days' END
   AND ((i.ws = 'initech-anz' AND i.kind = 'prompt') OR (i.ws = 'initech-uk' AND i.kind = 'response'));

-- The characters of the story.
INSERT INTO items VALUES
    -- ines at globex: a prompt, and a passage derived from it in the US index, with no owner
    ('globex',   'globex-eu',    'prompt',    'EU',  'ines@globex.example', now() - interval '20 days', false, NULL, 'ines-prompt'),
    ('globex',   'globex-eu',    'retrieved', 'US',  NULL, now() - interval '19 days', false, 'ines-prompt', 'ines-copy'),
    -- a pinned answer someone asked to delete, then changed their mind
    ('globex',   'globex-eu',    'pinned',    'EU',  'user2@globex.example', now() - interval '30 days', false, NULL, 'pinned-kept'),
    -- a shared copy 89 days old: its 90 days are nearly up
    ('initech',  'initech-anz',  'prompt',    'US',  NULL, now() - interval '89 days', true, 'initech-anz:prompt:7', 'shared-old'),
    -- a shared copy made in initech's UK workspace two days after it opted out there
    ('initech',  'initech-uk',   'response',  'UK',  NULL, now() - interval '2 days', true, NULL, 'violation'),
    -- umbrella's contract, under legal hold
    ('umbrella', 'umbrella-anz', 'upload',    'ANZ', 'user1@umbrella.example', now() - interval '90 days', false, NULL, 'contract');

CREATE TABLE demo.files (tenant_id uuid, item_id uuid, path text NOT NULL, label text NOT NULL,
                         content text NOT NULL, PRIMARY KEY (tenant_id, item_id));
INSERT INTO demo.files
SELECT demo.id(i.tenant), demo.id(i.label),
       :'store' || '/' || i.location || '/' || i.tenant || '/' || i.ws || '/' || i.kind || '-'
           || demo.id(i.label) || '.txt',
       i.label,
       i.kind || ' in ' || i.ws || coalesce(' by ' || i.owner, '') || ', made '
           || to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
  FROM items i;

-- What producers write: tenants and workspaces above, items here, events below.
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                         shared, parent_id, created_at, bytes)
SELECT demo.id(i.tenant), demo.id(i.label), demo.id(i.ws), i.owner, i.kind, i.location,
       'file://' || f.path, i.shared, demo.id(i.parent), i.created_at, octet_length(f.content) + 1
  FROM items i JOIN demo.files f ON f.item_id = demo.id(i.label)
 ORDER BY i.created_at;

INSERT INTO lethe.events (tenant_id, type, workspace_id, subject_id, item_id, occurred_at, reference)
SELECT demo.id(t), type, demo.id(w), s, demo.id(i), now() - make_interval(days => d), ref
  FROM (VALUES
    ('acme',     'capacity_deleted',     NULL,          NULL,                  NULL,          200, NULL),
    ('globex',   'm365_access_revoked',  NULL,          NULL,                  NULL,           30, NULL),
    ('globex',   'm365_access_granted',  NULL,          NULL,                  NULL,           20, NULL),
    ('globex',   'deletion_requested',   'globex-uk',   NULL,                  NULL,           10, 'SUP-1042'),
    ('globex',   'deletion_requested',   NULL,          'ines@globex.example', NULL,            5, 'GDPR-2291'),
    ('globex',   'deletion_requested',   NULL,          NULL,                  'pinned-kept',   4, 'SUP-1077'),
    ('initech',  'sharing_opted_in',     NULL,          NULL,                  NULL,           95, NULL),
    ('initech',  'sharing_opted_out',    'initech-uk',  NULL,                  NULL,            6, NULL),
    ('umbrella', 'capacity_deleted',     NULL,          NULL,                  NULL,           60, NULL),
    ('hooli',    'capacity_deleted',     NULL,          NULL,                  NULL,           40, NULL),
    ('hooli',    'capacity_provisioned', NULL,          NULL,                  NULL,           35, NULL),
    ('vandelay', 'deletion_requested',   NULL,          NULL,                  NULL,            3, 'PORTAL-88')
  ) e(t, type, w, s, i, d, ref)
 ORDER BY d DESC;
-- A cancellation names its request by reference, so it comes after it.
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
VALUES (demo.id('globex'), 'deletion_cancelled', now() - interval '3 days', 'SUP-1077');
SQL

# The files themselves: what the locators point at.
q "SELECT path || E'\t' || content FROM demo.files ORDER BY path" > "$DEMO_DIR/files.tsv"
cut -f1 "$DEMO_DIR/files.tsv" | xargs -r dirname | sort -u | xargs -r mkdir -p
while IFS=$'\t' read -r path content; do printf '%s\n' "$content" > "$path"; done < "$DEMO_DIR/files.tsv"
rm -f "$DEMO_DIR/files.tsv"

id_of()  { q "SELECT demo.id('$1')"; }
file_of() { q "SELECT path FROM demo.files WHERE label = '$1'"; }
T_UMBRELLA=$(id_of umbrella); W_UMBRELLA_ANZ=$(id_of umbrella-anz)
psql -X -q -P footer=off -c "
SELECT t.name AS tenant, string_agg(DISTINCT w.geo, ' ') AS workspaces_in, count(*) AS items,
       count(*) FILTER (WHERE i.kind <> 'system_log') AS customer_data,
       count(*) FILTER (WHERE i.shared) AS shared, count(*) FILTER (WHERE i.parent_id IS NOT NULL) AS copies,
       count(*) FILTER (WHERE i.location <> w.geo) AS stored_abroad
  FROM lethe.items i JOIN lethe.tenants t USING (tenant_id) JOIN lethe.workspaces w USING (tenant_id, workspace_id)
 GROUP BY t.name ORDER BY t.name"
say "$(q "SELECT count(*) FROM lethe.items") items of every kind (prompt, response, retrieved, pinned, upload, m365, system_log) in $(q "SELECT count(*) FROM lethe.tenants") tenants and all four regions, each a real file under $(rel "$DEMO_DIR/store"), addressed by a file:// locator. Copies point at their source with parent_id; uploads stay in their workspace's region, while the passages retrieved from them and the shared copies live in other regions."
echo
psql -X -q -P footer=off -c "
SELECT t.name AS tenant, e.type, coalesce('cancels ' || CASE WHEN e.type = 'deletion_cancelled' THEN e.reference END,
                                  'workspace ' || (SELECT f.label FROM (VALUES ('globex-uk'), ('initech-uk')) f(label)
                                                           WHERE demo.id(f.label) = e.workspace_id),
                                  'subject ' || e.subject_id,
                                  'item ' || (SELECT f.label FROM demo.files f WHERE f.item_id = e.item_id),
                                  'whole tenant') AS scope,
       extract(day FROM now() - e.occurred_at)::int || ' days ago' AS occurred, coalesce(e.reference, '') AS reference
  FROM lethe.events e JOIN lethe.tenants t USING (tenant_id) ORDER BY e.occurred_at"
say "The events producers recorded, every type there is. Nothing has been purged yet: lethe has never run."

step "an operator places a legal hold"
lethe hold place --tenant "$T_UMBRELLA" --workspace "$W_UMBRELLA_ANZ" --reason "litigation: umbrella v. raccoon city" --reference LEGAL-77
say "Nothing in umbrella's ANZ workspace, nor any copy made from it, may be purged until the hold is released."

step "what a run would do (a dry run writes nothing)"
lethe run --dry-run

step "the run"
lethe run

# ---- what happened, and why -------------------------------------------------------------------
step "what happened, and why"
# n SQL: one number.
n() { q "$1"; }
st() { # st TENANT [WORKSPACE] STATE: how many of its items are in STATE
    q "SELECT count(*) FROM lethe.item_status s JOIN demo.files f USING (tenant_id, item_id)
        WHERE s.tenant_id = demo.id('$1') AND ('$2' = '' OR f.path LIKE '%/$2/%') AND s.state = '$3'"
}
gone() { local f; f=$(file_of "$1"); [ ! -e "$f" ] || die "the file of $1 should be gone: $f"; printf '  the file %s is gone\n' "$(rel "$f")"; }
kept() { local f; f=$(file_of "$1"); [ -e "$f" ] || die "the file of $1 should still be there: $f"; printf '  the file %s is still there\n' "$(rel "$f")"; }
late=$(n "SELECT count(*) FROM lethe.audit a WHERE a.kind = 'item_purged' AND a.tenant_id = demo.id('acme') AND NOT a.on_time")
say "acme deleted all its capacity 200 days ago (C2: purge within 180 days). lethe runs here for the first time, so everything acme had is overdue: its $(st acme '' purged) items are purged now, and the audit records $late of them as late, 20 days past the deadline. Its $(st acme '' live) system logs are not Customer Data (C7) and stay."
gone acme-us:prompt:1
kept acme-eu:system_log:1
say "globex asked (SUP-1042) 10 days ago to delete its UK workspace: the $(st globex globex-uk purged) items made there before the request are purged, including the passages retrieved from its uploads that the index keeps in the US. The $(st globex globex-uk live) made since stay."
gone globex-uk:retrieved:3
say "ines@globex.example made a GDPR request 5 days ago: her prompt in the EU is purged, and so is the passage derived from it in the US index, although it has no owner: a copy never outlives its source. The audit names her only as an HMAC of her id."
gone ines-prompt
gone ines-copy
say "SUP-1077 asked to delete one pinned answer, and was cancelled a day later: the request is withdrawn and the answer stays. globex also turned off its M365 access for ten days; that deletes nothing (C6): its $(q "SELECT count(*) FROM lethe.item_status s JOIN lethe.items i USING (tenant_id, item_id) WHERE i.tenant_id = demo.id('globex') AND i.kind = 'm365' AND s.state = 'live'") M365 documents stay."
kept pinned-kept
say "initech opted out of data sharing in its UK workspace 6 days ago: its $(q "SELECT count(*) FROM lethe.audit WHERE kind = 'item_purged' AND rule = 'sharing_opt_out'") shared copies made there before are purged (C5, within 30 days). One copy was made there 2 days after the opt-out: that is a violation, purged at once and counted as one."
gone violation
say "Data shared under the opt-in is kept at most 90 days (C4): a shared copy made 89 days ago is purged now, with a day to spare. The $(st initech '' scheduled) younger shared copies are scheduled, each by its own date."
gone shared-old
kept shared:initech-anz:prompt:11
say "umbrella deleted its capacity 60 days ago, so its deadline is 120 days away: its UK workspace's $(st umbrella umbrella-uk purged) items are purged on time. Its ANZ workspace is under hold LEGAL-77: $(st umbrella umbrella-anz held) items are held, copies abroad included, and wait for the release."
kept contract
say "hooli deleted its capacity 40 days ago, then provisioned again 5 days later: the re-provisioning withdraws the obligation, and nothing of hooli's is purged ($(st hooli '' purged))."
kept hooli-us:prompt:1
say "vandelay asked in the portal (PORTAL-88) 3 days ago to delete everything: all its $(st vandelay '' purged) customer-data items are purged, its $(st vandelay '' live) system logs stay."
gone vandelay-us:upload:12

# Tolerate nothing: the store must say exactly what the catalog says.
expect="contract held|ines-copy purged|ines-prompt purged|pinned-kept live|shared-old purged|shared:initech-anz:prompt:11 scheduled|violation purged"
got=$(q "SELECT string_agg(f.label || ' ' || s.state, '|' ORDER BY f.label) FROM demo.files f
          JOIN lethe.item_status s USING (tenant_id, item_id)
         WHERE f.label IN ('contract', 'ines-copy', 'ines-prompt', 'pinned-kept', 'shared-old', 'shared:initech-anz:prompt:11', 'violation')")
[ "$got" = "$expect" ] || die "unexpected states: $got"
[ "$(st hooli '' purged)" = 0 ] || die "hooli's withdrawn obligation purged items"
[ "$(n "SELECT count(*) FROM lethe.item_status WHERE state IN ('due', 'in_flight')")" = 0 ] || die "items are still due or in flight after the run"
deleted=0; remaining=0
while IFS=$'\t' read -r state path; do
    if [ "$state" = purged ]; then
        [ ! -e "$path" ] || die "purged, but the file is still there: $path"
        deleted=$((deleted + 1))
    else
        [ -e "$path" ] || die "$state, but the file is gone: $path"
        remaining=$((remaining + 1))
    fi
done < <(q "SELECT s.state || E'\t' || f.path FROM demo.files f JOIN lethe.item_status s USING (tenant_id, item_id)")
echo
say "store: $deleted files deleted and $remaining kept, exactly as the catalog says."

step "lethe status"
lethe status
lethe status --check >/dev/null
say "status --check exits 0: nothing is past its deadline, no item keeps failing, and a run succeeded within the lookahead. A timer or a monitor can rely on that exit code."

step "is GDPR-2291 done? lethe status --reference"
lethe status --reference GDPR-2291 --tenant "$(id_of globex)"
say "One request, as a support engineer is asked about it: the items it covers, copies included, how many are purged and whether on time, and a verdict."

step "who holds what: lethe hold list"
lethe hold list --active
say "Every hold names who placed it (--operator, else the login name); placing and releasing are audited on the tenant's chain."

step "the batches the run emitted: lethe batches"
lethe batches --limit 3
say "Each batch with its location, items, executor attempts and age, and the deleter's stderr when it failed; 'lethe batches --state failed' lists those to look at."

step "why is an item where it is? lethe explain"
lethe explain "$(id_of contract)"
say "umbrella's contract is due under capacity_deleted, and hold LEGAL-77 keeps it."
echo
lethe explain "$(id_of ines-copy)"
say "The passage in the US index followed its source in the EU: the GDPR request covered it through parent_id."

step "the compliance summary for auditors"
lethe export --summary --format text
lethe export --summary --format html -o "$DEMO_DIR/exports/summary.html"
say "The same numbers as a page to look at, with charts and the commands that verify the chains: open $DEMO_DIR/exports/summary.html in a browser (one self-contained file: no script, nothing fetched)."

step "the evidence, and checking it offline"
lethe export -o "$DEMO_DIR/exports/audit.jsonl"
say "The export holds no locator and no subject id: $(grep -c 'file://' "$DEMO_DIR/exports/audit.jsonl" || true) lines mention a file, $(grep -c 'ines@' "$DEMO_DIR/exports/audit.jsonl" || true) mention ines."
[ "$(grep -c -e 'file://' -e 'ines@' "$DEMO_DIR/exports/audit.jsonl" || true)" = 0 ] || die "the export leaks a locator or a subject id"
NIL=00000000-0000-0000-0000-000000000000
ANCHORS=$DEMO_DIR/anchors.jsonl
say "Each run appended one line to the anchor file $(rel "$ANCHORS") (audit.anchor_file): the heads of the chains it appended to, its own checkpoint record included. In production it is shipped out of the database administrators' reach. Its newest line:"
tail -1 "$ANCHORS" | cut -c1-200; echo "  ..."
HEAD=$(sed -n '$s/.*{"chain":"'"$NIL"'","seq":[0-9]*,"hash":"\([0-9a-f]*\)"[,}].*/\1/p' "$ANCHORS")
[ -n "$HEAD" ] || die "the newest anchor line holds no engine head"
lethe verify "$DEMO_DIR/exports/audit.jsonl" --anchors "$ANCHORS" --expect-head "$NIL=$HEAD"
say "verify needs no database: it recomputes every hash and link and checks the export's header against its records. Against the anchor file (or a head taken from it with --expect-head) it also catches a cut-off tail, removed first records, a removed chain and a forged record re-hashed to look consistent."
sed '0,/"on_time":false/s//"on_time":true/' "$DEMO_DIR/exports/audit.jsonl" > "$DEMO_DIR/exports/tampered.jsonl"
set +e
lethe verify "$DEMO_DIR/exports/tampered.jsonl" --anchors "$ANCHORS"
rc=$?
set -e
[ "$rc" = 4 ] || die "verify of a tampered export exited $rc, not 4"
say "Someone edits one record of a late purge to read on time: verify exits 4 and names the line."

step "an idle run"
lethe run
say "Nothing new and nothing due: the run purges nothing, and costs the same however big the catalog."

step "done"
if [ "${DEMO_KEEP:-}" = 1 ]; then
    say "The server is still running. To look around:"
    echo "  export PGHOST=$PG_HOME PGPORT=$PGPORT PGUSER=postgres PGDATABASE=lethe_demo"
    echo "  psql -c 'SELECT state, count(*) FROM lethe.item_status GROUP BY 1'"
    echo "  $(rel "$LETHE") --config $(rel "$DEMO_DIR/lethe.conf") status"
    say "make demo-clean (deploy/demo.sh clean) stops it and removes $(rel "$DEMO_DIR")."
else
    if [ "$PG_HOME" = "$DEMO_DIR/pg" ]; then
        say "The server is stopped; its data, the store, the spool and the exports stay in $(rel "$DEMO_DIR")."
    else
        say "The server is stopped and its data removed; the store, the spool and the exports stay in $(rel "$DEMO_DIR")."
    fi
    say "DEMO_KEEP=1 make demo leaves the server running to look around; make demo-clean removes everything."
fi
