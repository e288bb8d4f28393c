# The operator's and the auditor's side, tried as a stranger would: the README's and SPEC's
# exact statements about stop requests, exit codes and what producers' text can do to the
# output, checked against what the binary does.
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-stranger.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
round=0

# fresh N: a new database with one tenant and N due items (real files) in EU.
fresh() { fresh_catalog stranger "$@"; }
# sigterm_when_running MARKER ARGS...: starts lethe ARGS, sends SIGTERM once a process whose
# command line holds MARKER runs, waits; RC, OUT and ERR as run_lethe sets them.
sigterm_when_running() {
    local mark=$1; shift
    "$LETHE" "$@" >"$WORK/sig.out" 2>"$WORK/sig.err" &
    local pid=$!
    for _ in $(seq 100); do pgrep -f "$mark" >/dev/null && break; sleep 0.05; done
    kill -TERM "$pid"; wait "$pid"; RC=$?
    OUT=$(cat "$WORK/sig.out"); ERR=$(cat "$WORK/sig.err")
}
printf '#!/bin/sh\nsleep 1\nexec %s --root %s "$@"\n' "$FS_DELETE" "$STORE" > "$WORK/slow-delete"
chmod +x "$WORK/slow-delete"

# ---- 1. a stop request while the last batch's executor runs -----------------------------------
# SPEC §4: a stop request at any phase ends the run with exit 1 and outcome interrupted. With
# one batch there is no safe point after its executor; the run used to end "succeeded", exit 0.
fresh 2
write_config "$WORK/c1.conf" "executor: { command = \"$WORK/slow-delete\"; timeout = \"30s\"; };"
sigterm_when_running "$WORK/slow-delete" --config "$WORK/c1.conf" run
assert_eq "SIGTERM during the only batch's executor: exit 1" "1" "$RC"
assert_eq "the run is recorded interrupted" "interrupted" "$(sql "SELECT outcome FROM lethe.runs")"
assert_contains "the summary line says interrupted" "interrupted: as_of" "$OUT"
assert_eq "the executor finished: its receipts are recorded" "acknowledged 2" \
  "$(sql "SELECT state || ' ' || (SELECT count(*) FROM lethe.batch_items WHERE outcome = 'purged') FROM lethe.batches")"
assert_eq "the reason reads as a sentence" "stopped by a signal after its last batch; nothing was left undone" \
  "$(sql "SELECT error FROM lethe.runs")"

# two batches: the reason of a stop between batches has no stray space before its semicolon
fresh 2
write_config "$WORK/c1b.conf" "executor: { command = \"$WORK/slow-delete\"; timeout = \"30s\"; };" \
  "batch: { max_items = 1; };"
sigterm_when_running "$WORK/slow-delete" --config "$WORK/c1b.conf" run
assert_eq "SIGTERM between batches: exit 1" "1" "$RC"
assert_eq "the reason has no stray space" "stopped by a signal; 1 batch left open for the next run" \
  "$(sql "SELECT error FROM lethe.runs")"
# ... and the batch it left has its manifest in the spool, as a run without an executor leaves
# one: an operator may delete by hand and acknowledge it before the next run (an outside tryout
# found the spool without it, and nothing to work from).
LB=$(sql "SELECT batch_id || ' ' || location FROM lethe.batches WHERE state = 'open'")
assert_eq "the batch left open has its manifest, naming its one item" "2" \
  "$(wc -l < "$WORK/spool/${LB#* }/${LB% *}.jsonl" 2>/dev/null)"
assert_contains "... which the run says" \
  "batch ${LB% *} (${LB#* }) left open, its manifest written to $WORK/spool/${LB#* }/${LB% *}.jsonl: the next run drives it, or 'lethe ack' records what was deleted by hand" "$ERR"

# a rerun is a run: the same holds for it
fresh 2
write_config "$WORK/c1c.conf"
run_lethe --config "$WORK/c1c.conf" run   # no executor: the batch stays open
B=$(sql "SELECT batch_id FROM lethe.batches")
sigterm_when_running "$WORK/slow-delete" --config "$WORK/c1.conf" rerun "$B" --operator user_d
assert_eq "SIGTERM during a rerun's executor: exit 1" "1" "$RC"
assert_eq "the rerun is recorded interrupted, the batch acknowledged" "interrupted acknowledged" \
  "$(sql "SELECT r.outcome || ' ' || b.state FROM lethe.runs r, lethe.batches b WHERE r.operator = 'user_d'")"
# ... and when the stopped executor then fails the batch as a whole: interrupted, not failed (it
# was recorded failed, while a run in the same place was interrupted: an outside tryout)
printf '#!/bin/sh\nsleep 1\nexit 5\n' > "$WORK/slow-fail"; chmod +x "$WORK/slow-fail"
write_config "$WORK/c1d.conf" "executor: { command = \"$WORK/slow-fail\"; timeout = \"30s\"; };"
fresh 2
run_lethe --config "$WORK/c1c.conf" run
B=$(sql "SELECT batch_id FROM lethe.batches")
sigterm_when_running "$WORK/slow-fail" --config "$WORK/c1d.conf" rerun "$B" --operator user_f
assert_eq "SIGTERM during a rerun whose executor then fails: exit 1" "1" "$RC"
assert_eq "... recorded interrupted" "interrupted" \
  "$(sql "SELECT outcome FROM lethe.runs WHERE operator = 'user_f'")"

# ---- 2. a malformed connection string is a usage or configuration error (SPEC §6: exit 2) --------
write_config "$WORK/c2.conf" 'database: { conninfo = "dbname"; };'
run_lethe --config "$WORK/c2.conf" status
assert_rc "a malformed database.conninfo exits 2" 2
assert_contains "and names the file, the line and the setting" "error: config: '$WORK/c2.conf' line 2: 'database.conninfo': libpq cannot read it (missing \"=\" after \"(the value)\" in connection info string)" "$ERR"
run_lethe --db "postgresql://[::1" status
assert_rc "a malformed --db URI exits 2" 2
run_lethe --db "host=/nonexistent-socket-dir dbname=x" status
assert_rc "a server that cannot be reached is still a runtime failure: exit 1" 1

# ---- 3. a producer's text is data, not terminal control or lines of lethe's own -----------------
# A tenant's name, a reference and a hold's reason are written with plain SQL by producers and
# operators. `batches --json` split the tenants column on newlines and invented a tenant; the
# text outputs passed escape sequences and newlines to the terminal, where a name could clear
# the screen or print a line such as "check: ok" that lethe never wrote.
fresh 1
EVIL=$(printf 'evil\033[2J\ncheck: ok')
sql "UPDATE lethe.tenants SET name = \$\$$EVIL\$\$ WHERE tenant_id = '$T'" >/dev/null
I=${ITEMS[0]}
sql "INSERT INTO lethe.holds (tenant_id, item_id, reason, reference) VALUES ('$T', '$I', E'keep\\033[31m\\nit', E'CASE\\r-1')" >/dev/null
write_config "$WORK/c3.conf"
run_lethe --config "$WORK/c3.conf" run
H=$(uuid); I2=$(uuid); mk_item "$T" "$I2" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u +%FT%TZ)" "$(printf 'REQ\033]0;x\007')" item_id "$I2"
run_lethe --config "$WORK/c3.conf" run
run_lethe --config "$WORK/c3.conf" batches --json
assert_eq "batches --json: the tenant's name whole, and no invented tenant" "[[\"$T\", \"evil\\u001b[2J\\ncheck: ok\"]]" \
  "$(printf '%s' "$OUT" | python3 -c 'import json, sys; b = json.load(sys.stdin)["batches"]
print(json.dumps(sorted({(t["tenant_id"], t["name"]) for x in b for t in x["tenants"]})))')"
run_lethe --config "$WORK/c3.conf" batches
assert_contains "batches: the name shown with its control characters escaped" \
  "$T (evil\\x1B[2J\\x0Acheck: ok)" "$OUT"
run_lethe --config "$WORK/c3.conf" hold list
assert_contains "hold list: the tenant's name escaped" "(evil\\x1B[2J\\x0Acheck: ok)" "$OUT"
assert_contains "hold list: the reason escaped" "reason:    keep\\x1B[31m\\x0Ait" "$OUT"
assert_contains "hold list: the reference escaped" "reference: CASE\\x0D-1" "$OUT"
run_lethe --config "$WORK/c3.conf" explain "$I"
assert_contains "explain: the hold's reason escaped" "reason    keep\\x1B[31m\\x0Ait" "$OUT"
run_lethe --config "$WORK/c3.conf" explain "$I2"
assert_contains "explain: the reference escaped" "reference \"REQ\\x1B]0;x\\x07\"" "$OUT"
# A subject id is a producer's text too: explain showed it raw in an obligation's and a hold's
# scope (a producer's tryout forged a "state purged" line with one).
SUBJ=$(printf 'evil\n\033[31mstate      purged')
I3=$(uuid); mk_item "$T" "$I3" "$W" prompt EU 2026-01-01T00:00:00Z false "" "$SUBJ"
sql "INSERT INTO lethe.holds (tenant_id, subject_id, reason) VALUES ('$T', \$\$$SUBJ\$\$, 'kept')" >/dev/null
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id)
     VALUES ('$T', 'deletion_requested', now() - interval '1 minute', 'REQ-S', \$\$$SUBJ\$\$)" >/dev/null
run_lethe --config "$WORK/c3.conf" run
run_lethe --config "$WORK/c3.conf" explain "$I3"
assert_contains "explain: a subject request's scope escaped" \
  ", reference \"REQ-S\", scope subject evil\\x0A\\x1B[31mstate      purged" "$OUT"
assert_contains "explain: a subject hold's scope escaped" "scope     subject evil\\x0A\\x1B[31mstate      purged" "$OUT"
run_lethe --config "$WORK/c3.conf" status
assert_contains "status: the tenant's name escaped" "(evil\\x1B[2J\\x0Acheck: ok)" "$OUT"
for out in batches "hold list" status "explain $I" "explain $I2" "explain $I3"; do
    # shellcheck disable=SC2086
    run_lethe --config "$WORK/c3.conf" $out
    case "$OUT" in
        *"$(printf '\033')"* | *"$(printf '\r')"* | *"$(printf '\a')"*) not_ok "$out: no control character reaches the terminal" ;;
        *) ok "$out: no control character reaches the terminal" ;;
    esac
done

# ---- 4. the help says what the README and the binary do ------------------------------------------
run_lethe help reconcile
assert_contains "help reconcile: --operator is in the usage line" "[--format lines|s3-csv|auto]
                       [--operator NAME]" "$OUT"
run_lethe help status
assert_contains "help status: --check names the anchor check too" "or the audit
                    is behind the anchor file (audit.anchor_file)" "$OUT"
assert_contains "... and a deleter program that cannot run, and a failed repurge (README and lethe(1) name them)" \
  "a repurge failed, no run succeeded within the lookahead, a
                    deleter program or an executor.locations geo refuses every run" "$OUT"
run_lethe --help
assert_contains "--help names its short form -? (-h is --host)" "-?, --help        this text" "$OUT"
for c in ack rerun replay reconcile; do
    run_lethe help "$c"
    assert_contains "help $c: the operator's default as documented" 'default $SUDO_USER,' "$OUT"
    assert_not_contains "help $c: not \$USER before the account" 'or $USER' "$OUT"
done

# ---- 5. an export of a tenant with no record says so ----------------------------------------------
# An empty export verifies ("ok: 0 records"), so a mistyped --tenant used to pass in silence.
# A warning was still a clean, verifying file of nothing, exit 0, where every other command
# exits 2 for a tenant nobody knows (an outside tryout's finding): refused, nothing written.
run_lethe --config "$WORK/c3.conf" export --tenant 00000000-0000-0000-0000-00000000000f -o "$WORK/none.jsonl"
assert_eq "an export of a tenant the audit has no chain of: exit 2, no file" "2 no file" \
  "$RC $([ -e "$WORK/none.jsonl" ] && echo file || echo no file)"
assert_eq "... saying so" "error: export: the audit holds no record of tenant 00000000-0000-0000-0000-00000000000f
hint: a tenant's chain begins with its first request, hold or purge; check the id ('lethe export' without --tenant holds every chain); nothing was written" \
  "$(grep -v '^hint: chmod\|^warning: config' <<<"$ERR")"
# The summary says what is pending too, which a tenant with nothing audited yet may have (an
# outside tryout saw one refused): it is written.
run_lethe --config "$WORK/c3.conf" export --summary --tenant 00000000-0000-0000-0000-00000000000f
assert_eq "... its summary is written (the pending part reads the catalog)" "0 0" \
  "$RC $(grep -c '"pending":[1-9]' <<<"$OUT")"
assert_eq "... with a warning that the audit holds no record of the tenant (a mistyped id's zeros)" \
  "warning: export: the audit holds no record of tenant 00000000-0000-0000-0000-00000000000f: the summary counts no purge of it, and only what the catalog owes under its obligations as pending; check the id if you expected records" \
  "$(grep '^warning: export' <<<"$ERR")"
run_lethe --config "$WORK/c3.conf" export --summary --tenant "$T"
assert_eq "... and none for a tenant the audit holds" "0|0" "$RC|$(grep -c '^warning: export' <<<"$ERR")"
run_lethe --config "$WORK/c3.conf" export --tenant "$T" --to 2000-01-01T00:00:00Z -o "$WORK/none.jsonl"
assert_eq "a tenant's chain with no record in the window: exit 0, and a warning" \
  "0 warning: export: no audit record of tenant $T in this window
hint: the tenant's chain holds records outside it; check the window" "$RC $(grep -v '^hint: chmod\|^warning: config\|^export: wrote' <<<"$ERR")"
run_lethe --config "$WORK/c3.conf" export --tenant "$T" -o "$WORK/t.jsonl"
assert_not_contains "a tenant with records: no warning" "warning" "$ERR"

# ---- 6. a flag given a value is named as such, not as an unknown short option ---------------------
write_config "$WORK/c6.conf"
run_lethe --config "$WORK/c6.conf" status --json=1
assert_rc "status --json=1 exits 2" 2
assert_eq "and names the option" "error: status: option '--json' takes no value
hint: see 'lethe help status'" "$ERR"
run_lethe --config "$WORK/c6.conf" run --dry-run=yes
assert_contains "run --dry-run=yes names the option" "error: run: option '--dry-run' takes no value" "$ERR"
run_lethe --config "$WORK/c6.conf" status -x
assert_contains "an unknown short option is still named" "error: status: unknown option '-x'" "$ERR"

# ---- 7. replay --anchors refuses a forged export before it appends anything -----------------------
# A chain whose records were changed and re-hashed verifies on its own; only the anchor file
# shows the forgery. replay verified each export without the anchors, appended the forged
# records verbatim (for ever: the audit is append-only), and only then found the database
# "behind its anchor". The true export could no longer be replayed for that chain.
fresh 2
write_config "$WORK/c7.conf"
run_lethe --config "$WORK/c7.conf" run                         # one open batch, anchored
pg_dump -Fc -f "$WORK/c7.dump" "$DB"
B=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe --config "$WORK/c7.conf" ack "$B" --operator user_o    # two item_purged on T's chain
run_lethe --config "$WORK/c7.conf" run                         # anchors T's head
run_lethe --config "$WORK/c7.conf" export -o "$WORK/c7.jsonl"
python3 - "$T" "$WORK/c7.jsonl" "$WORK/c7-forged.jsonl" <<'PY'
import hashlib, json, sys
tenant, src, dst = sys.argv[1:]
lines = open(src).read().splitlines()
out, prev = [lines[0]], None
for line in lines[1:]:
    r = json.loads(line)
    if r["tenant_id"] == tenant:
        if r["kind"] == "item_purged":
            r["on_time"] = True
            r["rule"] = "capacity_deleted"
        if prev:
            r["prev_hash"] = prev
        r.pop("hash")
        canon = json.dumps(r, separators=(",", ":"), ensure_ascii=False)
        r["hash"] = prev = hashlib.sha256((r["prev_hash"] + "\n" + canon).encode()).hexdigest()
    out.append(json.dumps(r, separators=(",", ":"), ensure_ascii=False))
open(dst, "w").write("\n".join(out) + "\n")
PY
run_lethe verify "$WORK/c7-forged.jsonl"
assert_rc "the forged export verifies on its own" 0
psql -X -q -d postgres -c "DROP DATABASE $DB" -c "CREATE DATABASE $DB" >/dev/null
pg_restore -d "$DB" "$WORK/c7.dump"
run_lethe --config "$WORK/c7.conf" replay --operator user_o --anchors "$WORK/anchors.jsonl" "$WORK/c7-forged.jsonl"
assert_rc "replay --anchors of the forged export exits 4" 4
assert_contains "it says the export does not verify" "does not verify; nothing was replayed" "$ERR"
assert_eq "and appended nothing to the forged chain" "0" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$T' AND kind = 'item_purged'")"
run_lethe --config "$WORK/c7.conf" replay --operator user_o --anchors "$WORK/anchors.jsonl" "$WORK/c7.jsonl"
assert_rc "the true export still replays, and catches up with the anchor" 0
assert_eq "with the true records" "deletion_request deletion_request" \
  "$(sql "SELECT string_agg(rule, ' ') FROM lethe.audit WHERE tenant_id = '$T' AND kind = 'item_purged'")"
run_lethe --config "$WORK/c7.conf" replay --operator user_o "$WORK/c7.jsonl"
assert_contains "replay without --anchors warns that a re-hashed forgery goes unseen" \
  "warning: replay: the exports are checked on their own: a forged chain re-hashed to look whole is caught only against the anchor file" "$ERR"

# ---- 8. reconcile counts in words that agree with the number ---------------------------------------
fresh 1
head -c 32 /dev/urandom > "$WORK/c8.key"; chmod 600 "$WORK/c8.key"
write_config "$WORK/c8.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
  "audit: { key_file = \"$WORK/c8.key\"; };"
run_lethe --config "$WORK/c8.conf" run
echo "restored from a storage backup" > "$STORE/${ITEMS[0]}"
"$FS_DELETE" --inventory "$STORE" > "$WORK/c8.inventory"
run_lethe --config "$WORK/c8.conf" reconcile --location EU "$WORK/c8.inventory"
assert_rc "reconcile finds the object that came back" 0
assert_contains "one object, in the singular" "): 1 object of purged items, to purge again" "$ERR"

# ---- 9. the connection's options are UTF-8 text too ---------------------------------------------
# README: "Every option value on the command line must be UTF-8 text (file names excepted)". --db,
# -p, -U and -d went to libpq as they were, and a bad byte surfaced as "database "?" does not
# exist", exit 1.
run_lethe --db "$(printf 'dbname=\377')" status
assert_rc "--db with an invalid byte exits 2" 2
assert_eq "and says so" "error: option '--db': not valid UTF-8 (byte 0xff at offset 7)
hint: option values are UTF-8 text; check the encoding of the terminal or script that passed it" "$ERR"
run_lethe -U "$(printf 'al\376ce')" status
assert_rc "-U with an invalid byte exits 2" 2
run_lethe -d "$(printf 'db\376')" status
assert_rc "-d with an invalid byte exits 2" 2

# ---- 10. an executor that fails after a receipt for every item failed nothing ----------------------
# It deleted every object and said so, then exited 3 (or timed out: a child kept its stdout).
# The batch is acknowledged; the run said "batch ... failed ... unreceipted items are due again",
# and a rerun recorded itself failed and exited 1, "the executor failed the batch as a whole".
printf '#!/bin/sh\n%s --root %s "$@"\nexit 3\n' "$FS_DELETE" "$STORE" > "$WORK/all-then-3"
chmod +x "$WORK/all-then-3"
fresh 2
write_config "$WORK/c10.conf" "executor: { command = \"$WORK/all-then-3\"; };"
run_lethe --config "$WORK/c10.conf" run
assert_eq "every item purged, the batch acknowledged" "acknowledged 2" \
  "$(sql "SELECT state || ' ' || (SELECT count(*) FROM lethe.batch_items WHERE outcome = 'purged') FROM lethe.batches")"
assert_contains "the run says what happened" "executor exit status 3, but every item had its receipt; acknowledged" "$ERR"
assert_not_contains "and not that the batch failed" "failed: executor" "$ERR"
fresh 2
run_lethe --config "$WORK/c1c.conf" run   # no executor: the batch stays open
B=$(sql "SELECT batch_id FROM lethe.batches")
run_lethe --config "$WORK/c10.conf" rerun "$B" --operator user_d
assert_rc "a rerun whose executor receipted every item exits 0" 0
assert_eq "and is recorded succeeded" "succeeded acknowledged" \
  "$(sql "SELECT r.outcome || ' ' || b.state FROM lethe.runs r, lethe.batches b WHERE r.operator = 'user_d'")"

# ---- 11. the dry run's --items says each item's reference, as the README says ---------------------
fresh 1
write_config "$WORK/c11.conf"
run_lethe --config "$WORK/c11.conf" run --dry-run --items
assert_contains "the text plan names the item's reference" "item ${ITEMS[0]} tenant $T reference \"REQ-$round\"" "$OUT"

# ---- 12. what the stranger left: paths, counts, an unreadable anchor file -------------------------
fresh 1
printf 'spool: { directory = "spool"; };\naudit: { anchor_file = "%s/anchors.jsonl"; };\n' "$WORK" > "$WORK/c12.conf"
run_lethe --config "$WORK/c12.conf" run --dry-run
assert_rc "a relative spool.directory exits 2" 2
assert_contains "and says the path must be absolute" "line 1: 'spool.directory': must be an absolute path, got \"spool\"" "$ERR"
write_config "$WORK/c12m.conf" 'metrics: { file = "lethe.prom"; };'
run_lethe --config "$WORK/c12m.conf" run --dry-run
assert_rc "a relative metrics.file exits 2" 2
write_config "$WORK/c12.conf"
run_lethe --config "$WORK/c12.conf" batches --limit 99999999999999
assert_rc "batches --limit beyond an int exits 2" 2
assert_contains "and says the range" "--limit: not a count from 0 to 2147483647" "$ERR"
mkdir -p "$WORK/anchordir"
printf 'spool: { directory = "%s/spool"; };\naudit: { anchor_file = "%s/anchordir"; };\n' "$WORK" "$WORK" > "$WORK/c12a.conf"
run_lethe --config "$WORK/c12a.conf" status --check
assert_not_contains "status --check with an anchor file it cannot read prints no error about it" "error: anchor:" "$ERR"
assert_contains "it warns that it could not read it" "warning: anchor: '$WORK/anchordir' is not a regular file" "$ERR"

finish
