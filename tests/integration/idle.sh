# The idle run's short way (sql/0040_idle_probe.sql, issue 14 shape 6): a run that finds
# nothing new and nothing come due skips the derivation and the emission. Everywhere else the
# harness sets LETHE_IDLE_CROSSCHECK=1, so that every idle run of every suite also takes the full
# way and fails if that finds work; here the short way is taken as a timer would take it, and
# each thing that makes a run not idle is shown to send it the full way, with the purges that
# follow. A run takes the short way when its debug log says "idle (nothing new, nothing come due)".
. tests/harness/lib.sh
. tests/harness/catalog.sh
unset LETHE_IDLE_CROSSCHECK
WORK=$(mktemp -d /tmp/lethe-idle.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS idle_1" >/dev/null 2>&1' EXIT
IDLE="idle (nothing new, nothing come due)"
# grace 10d on deletion requests: a request's items come due 10 days after it, by time alone
write_config "$WORK/lethe.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
    'rules: { deletion_request: { deadline = "30d"; grace = "10d"; }; };'
run() { run_lethe -v --config "$WORK/lethe.conf" run "$@"; }
purged() { sql "SELECT count(*) FROM lethe.items WHERE locator IS NULL"; }
kinds() { sql "SELECT string_agg(kind, ',' ORDER BY seq) FROM lethe.audit
                WHERE run_id = (SELECT run_id FROM lethe.runs ORDER BY started_at DESC LIMIT 1)"; }

psql -X -q -c "DROP DATABASE IF EXISTS idle_1" -c "CREATE DATABASE idle_1" >/dev/null 2>&1
export PGDATABASE=idle_1
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); mk_tenant "$T" first; mk_workspace "$T" "$W" EU
T0=2026-03-01T00:00:00Z
mk_event "$T" deletion_requested "$T0" REQ-TIME
for i in 1 2 3; do mk_item "$T" "$(uuid)" "$W" prompt EU 2026-02-01T00:00:00Z; done

# ---- 1. new events and items go the full way; then the run is idle --------------------------------
run --as-of 2026-03-02T00:00:00Z
assert_rc "the first run succeeds" 0
assert_not_contains "a run with new events and items is not idle" "$IDLE" "$ERR"
assert_contains "it found the new event" "1 new events, 0 due, 0 batches" "$OUT"
run --as-of 2026-03-02T01:00:00Z
assert_rc "the next run succeeds" 0
assert_contains "nothing new and nothing due: the short way" "$IDLE" "$ERR"
assert_contains "its summary" "0 new events, 0 due, 0 batches, 0 purged, 0 failed items, 0 failed batches, 0 held" "$OUT"
assert_contains "its emission line is the one an idle emission logs" "emitted 0 batches with 0 items (0 held)" "$ERR"
assert_eq "it records its start, end and checkpoint, nothing else" "run_started,run_finished,checkpoint" "$(kinds)"
assert_eq "its run record" "succeeded 0 0 0" \
    "$(sql "SELECT outcome || ' ' || events || ' ' || items_due || ' ' || batches FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
assert_eq "nothing purged yet" 0 "$(purged)"

# ---- 2. time alone: the request's items come due 10 days after it --------------------------------
run --as-of 2026-03-10T23:59:59Z
assert_contains "a second before they are due: idle" "$IDLE" "$ERR"
run --as-of 2026-03-11T00:00:00Z
assert_rc "the run at the due time succeeds" 0
assert_not_contains "at the due time the run is not idle" "$IDLE" "$ERR"
assert_contains "and purges the three items" "3 due, 1 batches, 3 purged" "$OUT"
assert_eq "the three are purged" 3 "$(purged)"
run --as-of 2026-03-11T01:00:00Z
assert_contains "after them: idle again" "$IDLE" "$ERR"

# ---- 3. a new item, and a new event, each end the short way --------------------------------------
I4=$(uuid); mk_item "$T" "$I4" "$W" prompt EU 2026-02-15T00:00:00Z
run --as-of 2026-03-11T02:00:00Z
assert_not_contains "a new item (a copy committed late, inside the request's scope): not idle" "$IDLE" "$ERR"
assert_contains "it is purged at once, its request overdue" "1 due, 1 batches, 1 purged" "$OUT"
mk_event "$T" sharing_opted_in 2026-03-11T02:30:00Z
run --as-of 2026-03-11T03:00:00Z
assert_not_contains "a new event: not idle" "$IDLE" "$ERR"
assert_contains "one new event" "1 new events" "$OUT"

# ---- 4. shared_retention: a shared item comes due by time alone ----------------------------------
T2=$(uuid); W2=$(uuid); mk_tenant "$T2" shared; mk_workspace "$T2" "$W2" EU
S1=$(uuid); mk_item "$T2" "$S1" "$W2" prompt EU 2026-03-12T00:00:00Z true
run --as-of 2026-03-12T01:00:00Z
assert_not_contains "the shared item is new: not idle" "$IDLE" "$ERR"
run --as-of 2026-06-07T23:59:59Z
assert_contains "a second before its due time (88 days: 90 less the lookahead): idle" "$IDLE" "$ERR"
assert_eq "the range's start moved with the idle run" 32 \
    "$(sql "SELECT count(*) FROM lethe.shared_seeded WHERE upto = '2026-06-07T23:59:59Z'::timestamptz - interval '88 days'")"
run --as-of 2026-06-08T00:00:00Z
assert_not_contains "at its due time: not idle" "$IDLE" "$ERR"
assert_contains "the shared item is purged" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "it is the one" "" "$(sql "SELECT locator FROM lethe.items WHERE item_id = '$S1'")"

# ---- 5. a hold: the held items are remembered, the run is idle, a release ends it ----------------
T3=$(uuid); W3=$(uuid); mk_tenant "$T3" held; mk_workspace "$T3" "$W3" EU
for i in 1 2; do mk_item "$T3" "$(uuid)" "$W3" prompt EU 2026-01-01T00:00:00Z; done
HOLD=$("$LETHE" --config "$WORK/lethe.conf" hold place --tenant "$T3" --reason litigation --reference CASE-1 2>/dev/null)
mk_event "$T3" deletion_requested "$(date -u -d '-20 days' +%FT%TZ)" REQ-HELD
run
assert_contains "the held items are due and held" "2 held" "$OUT"
run
assert_contains "remembered: the next run is idle" "$IDLE" "$ERR"
assert_contains "and reports the two held" "0 due, 0 batches, 0 purged, 0 failed items, 0 failed batches, 2 held" "$OUT"
"$LETHE" --config "$WORK/lethe.conf" hold release "$HOLD" >/dev/null 2>&1
run
assert_not_contains "after the release: not idle" "$IDLE" "$ERR"
assert_contains "the two are purged" "2 due, 1 batches, 2 purged" "$OUT"

# ---- 6. a rule disabled: the remembered range is forgotten the full way -------------------------
run
assert_contains "idle before the change" "$IDLE" "$ERR"
write_config "$WORK/off.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
    'rules: { deletion_request: { deadline = "30d"; grace = "10d"; }; shared_retention: { deadline = "90d"; grace = "90d"; enabled = false; }; };'
run_lethe -v --config "$WORK/off.conf" run
assert_not_contains "shared_retention disabled: its remembered range sends the run the full way" "$IDLE" "$ERR"
assert_eq "which forgets it" 0 "$(sql "SELECT count(*) FROM lethe.shared_seeded")"
run_lethe -v --config "$WORK/off.conf" run
assert_contains "then idle" "$IDLE" "$ERR"

# ---- 7. shards: an idle shard takes the short way, the other its work ----------------------------
run
T4=$(uuid); while [ "$(sql "SELECT lethe.shard_of('$T4', 2)")" != "$(sql "SELECT 1 - lethe.shard_of('$T', 2)")" ]; do T4=$(uuid); done
W4=$(uuid); mk_tenant "$T4" other; mk_workspace "$T4" "$W4" EU
I5=$(uuid); mk_item "$T4" "$I5" "$W4" prompt EU 2026-01-01T00:00:00Z
mk_event "$T4" deletion_requested "$(date -u -d '-20 days' +%FT%TZ)" REQ-SHARD
K=$(sql "SELECT lethe.shard_of('$T', 2)"); K4=$(sql "SELECT lethe.shard_of('$T4', 2)")
run --shard "$K/2"
assert_contains "the shard without the new tenant is idle" "$IDLE" "$ERR"
assert_eq "its item is not touched" "file://$STORE/$I5" "$(sql "SELECT locator FROM lethe.items WHERE item_id = '$I5'")"
run --shard "$K4/2"
assert_not_contains "the shard with it is not" "$IDLE" "$ERR"
assert_contains "and purges its item" "1 due, 1 batches, 1 purged" "$OUT"

# ---- 8. killed on the short way: the next run marks it died and goes on --------------------------
LETHE_FAULT=after_emit "$LETHE" --config "$WORK/lethe.conf" -q run >/dev/null 2>&1
gone_backends
assert_eq "the run killed after its (skipped) emission is left running" running \
    "$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC LIMIT 1")"
run
assert_rc "the next run succeeds" 0
assert_contains "idle itself" "$IDLE" "$ERR"
assert_eq "the killed run is marked died" died \
    "$(sql "SELECT outcome FROM lethe.runs ORDER BY started_at DESC OFFSET 1 LIMIT 1")"
"$LETHE" --config "$WORK/lethe.conf" export -o "$WORK/all.jsonl" >/dev/null 2>&1
run_lethe verify --anchors "$WORK/anchors.jsonl" "$WORK/all.jsonl"
assert_rc "the whole audit verifies against the anchors" 0

# ---- 9. an open batch driven again: the emission runs, and the items it failed wait -----------
# The probe's answer holds only if no open batch was driven since; the items a re-driven batch
# fails are due again at the next run (sql/0058_failed_next_run.sql), not in a new batch of the
# same run for the same deleter.
T6=$(uuid); W6=$(uuid); mk_tenant "$T6" reopened; mk_workspace "$T6" "$W6" EU
mk_item "$T6" "$(uuid)" "$W6" prompt EU 2026-01-01T00:00:00Z
mk_event "$T6" deletion_requested "$(date -u -d '-20 days' +%FT%TZ)" REQ-OPEN
LETHE_FAULT=after_emit "$LETHE" --config "$WORK/lethe.conf" -q run >/dev/null 2>&1
gone_backends
assert_eq "a run killed after its emission leaves its batch open" open \
    "$(sql "SELECT state FROM lethe.batches ORDER BY created_at DESC LIMIT 1")"
write_config "$WORK/fail.conf" 'executor: { command = "/bin/false"; };' \
    'rules: { deletion_request: { deadline = "30d"; grace = "10d"; }; };'
run_lethe -v --config "$WORK/fail.conf" run
assert_contains "nothing new: the probe finds the run idle" "$IDLE" "$ERR"
assert_contains "but the open batch was driven again, and the emission runs after it" \
    "debug: phase emit: " "$ERR"
assert_contains "its item failed, and waits for the next run (no new batch in this one)" \
    "0 new events, 0 due, 0 batches, 0 purged, 1 failed items, 1 failed batches" "$OUT"

run
assert_contains "with the executor back, the failed item is purged" "1 due, 1 batches, 1 purged" "$OUT"

# ---- 10. a withdrawal that takes effect after its events were consumed, over an open batch -----
# The request comes due and its item is emitted (the run is killed before driving it); the
# cancellation, consumed by that run, is dated a few seconds on, and takes effect then. At the
# next run nothing is new, but the withdrawal must drop the item's row before the open batch is
# driven again and fails: an item whose obligation was withdrawn is not due, and must not be
# emitted again. (A cancellation that has occurred when a run processes it withdraws at once,
# whatever the run's --as-of: sql/0067_withdrawn_by_now.sql; only one dated after the run waits.)
T7=$(uuid); W7=$(uuid); mk_tenant "$T7" withdrawn; mk_workspace "$T7" "$W7" EU
I7=$(uuid); mk_item "$T7" "$I7" "$W7" prompt EU 2026-01-01T00:00:00Z
CANCEL_AT=$(sql "SELECT lethe.iso_utc(now() + interval '8 seconds')")
mk_event "$T7" deletion_requested "$(date -u -d '-20 days' +%FT%TZ)" REQ-LATE
mk_event "$T7" deletion_cancelled "$CANCEL_AT" REQ-LATE
LETHE_FAULT=after_emit "$LETHE" --config "$WORK/lethe.conf" -q run >/dev/null 2>&1
gone_backends
assert_eq "the item is in an open batch" open \
    "$(sql "SELECT b.state FROM lethe.batch_items i JOIN lethe.batches b USING (batch_id) WHERE i.item_id = '$I7'")"
until [ "$(sql "SELECT now() > '$CANCEL_AT'")" = t ]; do sleep 0.5; done
run_lethe -v --config "$WORK/fail.conf" run
assert_not_contains "the withdrawal now in effect: not idle" "$IDLE" "$ERR"
assert_contains "the batch failed and its item, no longer due, was not emitted again" \
    "0 new events, 0 due, 0 batches, 0 purged, 1 failed items" "$OUT"
assert_eq "the item's row is gone" 0 "$(sql "SELECT count(*) FROM lethe.item_obligations WHERE item_id = '$I7'")"
assert_eq "and the item kept" "file://$STORE/$I7" "$(sql "SELECT locator FROM lethe.items WHERE item_id = '$I7'")"

# ---- 11. subjects without an HMAC: idle without a key, the full way once a key is given -------
T8=$(uuid); W8=$(uuid); mk_tenant "$T8" subjects; mk_workspace "$T8" "$W8" EU
I8=$(uuid); mk_item "$T8" "$I8" "$W8" prompt EU 2026-01-01T00:00:00Z false "" user-8
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id)
     VALUES ('$T8', 'deletion_requested', now() - interval '1 day', 'REQ-SUBJ', 'user-8')" >/dev/null
run
assert_contains "a subject's request purges its item" "1 due, 1 batches, 1 purged" "$OUT"
assert_eq "without an audit key its obligation has no HMAC" 1 \
    "$(sql "SELECT count(*) FROM lethe.obligations WHERE tenant_id = '$T8' AND subject_hmac IS NULL")"
run
assert_contains "without a key that is nothing to do: idle" "$IDLE" "$ERR"
head -c 32 /dev/urandom > "$WORK/audit.key"; chmod 0600 "$WORK/audit.key"
write_config "$WORK/key.conf" "executor: { command = \"$FS_DELETE --root $STORE\"; };" \
    "audit: { key_file = \"$WORK/audit.key\"; };" \
    'rules: { deletion_request: { deadline = "30d"; grace = "10d"; }; };'
run_lethe -v --config "$WORK/key.conf" run
assert_not_contains "with a key, the subject to hash: not idle" "$IDLE" "$ERR"
assert_eq "the HMAC is stored" 0 \
    "$(sql "SELECT count(*) FROM lethe.obligations WHERE tenant_id = '$T8' AND subject_hmac IS NULL")"
run_lethe -v --config "$WORK/key.conf" run
assert_contains "then idle" "$IDLE" "$ERR"

# ---- 11b. many subjects at once: hashed a chunk at a time (10,000), every one of them ----------
T9=$(uuid); T10=$(uuid); T11=$(uuid)
for t in "$T9" "$T10" "$T11"; do mk_tenant "$t" many-subjects; done
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id)
     SELECT t, 'deletion_requested', now() - interval '1 day', 'REQ-MANY-' || j, 'many-' || t || '-' || j
       FROM unnest(ARRAY['$T9', '$T10', '$T11']::uuid[]) t, generate_series(1, 8001) j" >/dev/null
run_lethe --config "$WORK/key.conf" run
assert_rc "a run with 24,003 new subject requests succeeds" 0
# The model: HMAC-SHA256 of each subject under the key, computed here (Python's hmac).
psql -X -q -A -t -F ' ' -c "SELECT subject_id, coalesce(subject_hmac, '-') FROM lethe.obligations
     WHERE tenant_id IN ('$T9', '$T10', '$T11')" > "$WORK/subjects.txt"
assert_eq "each of the 24,003 has its HMAC, the model's (across chunk and tenant boundaries)" "24003 24003" \
    "$(python3 -c 'import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read()
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
ok = sum(hmac.new(key, s.encode(), hashlib.sha256).hexdigest() == m for s, m in rows)
print(len(rows), ok)' "$WORK/audit.key" "$WORK/subjects.txt")"

# ---- 12. the cross-check: the same catalog, every run also taken the full way --------------------
LETHE_IDLE_CROSSCHECK=1 run_lethe -v --config "$WORK/lethe.conf" run
assert_rc "a cross-checked idle run succeeds" 0
assert_contains "it took the full way as well" "0 new events, 0 new items, 0 obligations, 0 withdrawn, 0 expanded" "$ERR"
finish
