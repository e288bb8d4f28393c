# lethe request and lethe hold place|release: what they record, what they print, and how they
# refuse bad input (exit 2 with the exact message).
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-requests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS requests_t' -c 'CREATE DATABASE requests_t' 2>/dev/null
export PGDATABASE=requests_t
"$LETHE" migrate >/dev/null

T=$(uuid); T2=$(uuid); W=$(uuid); W2=$(uuid); I=$(uuid); NOPE=$(uuid)
mk_tenant "$T" acme; mk_tenant "$T2" globex
mk_workspace "$T" "$W" EU; mk_workspace "$T2" "$W2" US
mk_item "$T" "$I" "$W" prompt EU 2026-01-01T00:00:00Z false "" user_a

# ---- request: refusals ------------------------------------------------------------------------
run_lethe request --reference R-1
assert_rc "request without --tenant exits 2" 2
assert_eq "request without --tenant message" "error: request: --tenant is required
hint: see 'lethe help request'" "$ERR"

run_lethe request --tenant not-a-uuid --reference R-1
assert_rc "request with a malformed tenant exits 2" 2
assert_eq "malformed tenant message" 'error: request: --tenant: malformed id "not-a-uuid"
hint: ids are UUIDs, e.g. 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f' "$ERR"

run_lethe request --tenant "$T" --item 1234 --reference R-1
assert_rc "request with a malformed item exits 2" 2
assert_contains "malformed item message" 'error: request: --item: malformed id "1234"' "$ERR"

run_lethe request --tenant "$T" --workspace "${W}x" --reference R-1
assert_rc "request with a malformed workspace exits 2" 2

run_lethe request --tenant "$NOPE" --reference R-1
assert_rc "request for an unknown tenant exits 2" 2
assert_eq "unknown tenant message" "error: request: no tenant $NOPE
hint: tenants are the rows of lethe.tenants; check the id" "$ERR"

run_lethe request --tenant "$T" --workspace "$W" --item "$I" --reference R-1
assert_rc "two scopes exit 2" 2
assert_eq "two scopes message" "error: request: give at most one of --workspace, --subject and --item
hint: see 'lethe help request'" "$ERR"

run_lethe request --tenant "$T" --subject user_a --subject user_b --reference R-1
assert_rc "the same scope twice exits 2" 2

run_lethe request --tenant "$T" --workspace "$W"
assert_rc "request without --reference exits 2" 2
assert_eq "missing reference message" "error: request: --reference is required (the ticket or request id)
hint: see 'lethe help request'" "$ERR"

run_lethe request --tenant "$T" --reference ""
assert_rc "an empty reference exits 2" 2

run_lethe request --tenant "$T" --subject "" --reference R-1
assert_rc "an empty subject exits 2" 2
assert_eq "empty subject message" "error: request: --subject must not be empty
hint: see 'lethe help request'" "$ERR"

run_lethe request --tenant "$T" --workspace "$W2" --reference R-1
assert_rc "a workspace of another tenant exits 2" 2
assert_eq "workspace of another tenant message" "error: request: no workspace $W2 in tenant $T
hint: check the id, and that it belongs to this tenant" "$ERR"

run_lethe request --tenant "$T" --item "$NOPE" --reference R-1
assert_rc "an unknown item exits 2" 2
assert_eq "unknown item message" "error: request: no item $NOPE in tenant $T
hint: check the id, and that it belongs to this tenant" "$ERR"

run_lethe request --tenant "$T" --reference R-1 extra
assert_rc "an extra argument exits 2" 2
assert_contains "extra argument message" "error: request: unexpected argument 'extra'" "$ERR"

run_lethe request --tenant "$T" --reference R-1 --bogus
assert_rc "an unknown option exits 2" 2
assert_contains "unknown option message" "error: request: unknown option '--bogus'" "$ERR"

run_lethe request --tenant "$NOPE" --subject secret-subject-id --reference R-1
assert_not_contains "a subject id never reaches stderr" "secret-subject-id" "$ERR"
assert_eq "refused requests record nothing" "0" "$(sql "SELECT count(*) FROM lethe.events")"

# ---- request: what it records and prints ------------------------------------------------------
run_lethe request --tenant "$T" --workspace "$W" --reference "TICKET-7" --operator user_b
assert_rc "a workspace request exits 0" 0
assert_eq "a workspace request prints nothing on stderr" "" "$ERR"
EV=$(sql "SELECT event_id FROM lethe.events WHERE reference = 'TICKET-7'")
assert_eq "the event is a deletion request for the workspace, with its reference" \
  "deletion_requested|$W|||TICKET-7" \
  "$(sql "SELECT type, workspace_id, subject_id, item_id, reference FROM lethe.events WHERE event_id = $EV")"
assert_eq "it occurs now" "t" \
  "$(sql "SELECT occurred_at BETWEEN now() - interval '1 minute' AND now() FROM lethe.events WHERE event_id = $EV")"
assert_eq "the operator is kept beside the event" "user_b" \
  "$(sql "SELECT operator FROM lethe.request_operators WHERE tenant_id = '$T' AND event_id = $EV")"
OCC=$(sql "SELECT lethe.iso_utc(occurred_at) FROM lethe.events WHERE event_id = $EV")
DL=$(sql "SELECT lethe.iso_utc(occurred_at + interval '30 days') FROM lethe.events WHERE event_id = $EV")
assert_eq "a request prints what it recorded" "recorded deletion request $EV
tenant:      $T
scope:       workspace $W
rule:        deletion_request
reference:   TICKET-7
occurred_at: $OCC
deadline_at: $DL (30d, as configured)
operator:    user_b" "$OUT"

run_lethe request --tenant "$T" --subject user_a --reference GDPR-1
assert_rc "a subject request exits 0" 0
EV2=$(sql "SELECT event_id FROM lethe.events WHERE reference = 'GDPR-1'")
DL2=$(sql "SELECT lethe.iso_utc(occurred_at + interval '1 month') FROM lethe.events WHERE event_id = $EV2")
assert_contains "a subject request names its rule" "rule:        subject_request" "$OUT"
assert_contains "a subject request says it is a data subject's, as hold place does" "scope:       a data subject's items" "$OUT"
assert_not_contains "... and never prints the subject id in clear" "user_a" "$OUT$ERR"
assert_contains "a subject request's deadline is one calendar month" "deadline_at: $DL2 (1mo, as configured)" "$OUT"
assert_eq "a subject request records the subject" "|user_a|" \
  "$(sql "SELECT workspace_id, subject_id, item_id FROM lethe.events WHERE event_id = $EV2")"
assert_eq "no operator given, the login name is recorded (never 'operator')" "${SUDO_USER:-$(id -un)}" \
  "$(sql "SELECT operator FROM lethe.request_operators WHERE event_id = $EV2")"

# A reference or an operator's name that holds the subject id would put it in the audit and every
# export in clear, next to its HMAC (an outside tryout): refused before anything is recorded, in
# any case of its letters; and by the database for every writer (sql/0114).
events_n=$(sql "SELECT count(*) FROM lethe.events")
run_lethe request --tenant "$T" --subject user_a --reference "erasure for USER_A, ticket 9"
assert_eq "a reference holding the subject id is refused: exit 2, the id not shown" \
  "2|error: request: --reference holds the subject id: the audit and every export would carry it in clear next to the subject's HMAC, and tie that HMAC to the person in every record
hint: name the ticket, not the person (e.g. --reference DSR-1234): a subject is recorded by its HMAC only" "$RC|$ERR"
run_lethe request --tenant "$T" --subject user_a --reference GDPR-9 --operator "desk (user_a)"
assert_eq "... so is an operator's name holding it" \
  "2|error: request: the operator's name holds the subject id: the audit and every export would carry it in clear next to the subject's HMAC, and tie that HMAC to the person in every record" \
  "$RC|$(head -1 <<<"$ERR")"
run_lethe hold place --tenant "$T" --subject user_a --reason litigation --reference "hold-user_a"
assert_eq "... and a hold's reference holding it" \
  "2|error: hold place: --reference holds the subject id: the audit and every export would carry it in clear next to the subject's HMAC, and tie that HMAC to the person in every record" \
  "$RC|$(head -1 <<<"$ERR")"
assert_eq "... nothing was recorded" "$events_n 0" \
  "$(sql "SELECT count(*) FROM lethe.events") $(sql "SELECT count(*) FROM lethe.holds WHERE reference = 'hold-user_a'")"
assert_sql_fails "a producer's request whose reference holds its subject id is refused by the database" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, subject_id, reference)
   VALUES ('$T', 'deletion_requested', now(), 'user_a', 'DSR for User_A')" \
  'violates check constraint "events_reference_without_subject_id"'
assert_eq "... while a reference merely like it is taken" "1" \
  "$(sql "BEGIN; INSERT INTO lethe.events (tenant_id, type, occurred_at, subject_id, reference)
          VALUES ('$T', 'deletion_requested', now(), 'user_a', 'DSR for user_b');
          SELECT count(*) FROM lethe.events WHERE reference = 'DSR for user_b'; ROLLBACK" | tail -1)"
# ... as is one that holds it only inside a longer word: subject 42 is not in TICKET-1042, bob not
# in bobby (a later tryout: the plain substring refused genuine tickets and operators).
assert_eq "... and one that holds it inside a longer word" "1" \
  "$(sql "BEGIN; INSERT INTO lethe.events (tenant_id, type, occurred_at, subject_id, reference)
          VALUES ('$T', 'deletion_requested', now(), '42', 'TICKET-1042');
          SELECT count(*) FROM lethe.events WHERE reference = 'TICKET-1042'; ROLLBACK" | tail -1)"
assert_sql_fails "... but not one where it stands as a word, whatever its characters" \
  "INSERT INTO lethe.events (tenant_id, type, occurred_at, subject_id, reference)
   VALUES ('$T', 'deletion_requested', now(), 'a.b+c@x', 'case (A.B+C@X)')" \
  'violates check constraint "events_reference_without_subject_id"'
T42=$(uuid); mk_tenant "$T42" t42
run_lethe request --tenant "$T42" --subject bob --reference TICKET-1042 --operator bobby
assert_rc "lethe request --subject bob --reference TICKET-1042 --operator bobby is taken" 0

run_lethe request --tenant "$T" --item "$I" --reference ITEM-1
assert_rc "an item request exits 0" 0
assert_contains "an item request names the item" "scope:       item $I" "$OUT"

run_lethe request --tenant "$T" --reference TENANT-1
assert_rc "a tenant-wide request exits 0" 0
assert_contains "a tenant-wide request says so" "scope:       the whole tenant" "$OUT"

run_lethe request --tenant "$T" --workspace "$W" --reference TICKET-7
assert_rc "a second request with the same tenant and reference exits 0 (a retry)" 0
assert_eq "and records nothing, saying so" "deletion request $EV of tenant $T already has reference TICKET-7 (occurred at $OCC, recorded by user_b); nothing recorded" "$OUT"
assert_eq "a retry records no second event" "1" "$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'TICKET-7'")"
# Withdrawn by a cancellation, the same request again is no retry: it was taken for one and
# recorded nothing, exit 0, and the subject's deletion was believed in force (an outside tryout).
TC=$(uuid); WC=$(uuid); mk_tenant "$TC" cancelled; mk_workspace "$TC" "$WC" EU
run_lethe request --tenant "$TC" --workspace "$WC" --reference CANCEL-1 --operator user_b
EVC=$(sql "SELECT event_id FROM lethe.events WHERE reference = 'CANCEL-1'")
OCCC=$(sql "SELECT lethe.iso_utc(occurred_at) FROM lethe.events WHERE event_id = $EVC")
CAN=$(date -u +%FT%T.%6NZ)
mk_event "$TC" deletion_cancelled "$CAN" CANCEL-1
run_lethe request --tenant "$TC" --workspace "$WC" --reference CANCEL-1 --operator user_b
assert_rc "the same request after its cancellation exits 2" 2
assert_eq "... naming the withdrawal (a run need not have seen it yet)" "error: request: deletion request $EVC of tenant $TC with reference \"CANCEL-1\" (occurred at $OCCC) was withdrawn by a cancellation at $(sql "SELECT lethe.iso_utc('$CAN'::timestamptz)"); nothing recorded
hint: a cancellation names its request by reference; give the new request a reference of its own" "$ERR"
assert_eq "... and records no event" "1" \
  "$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'CANCEL-1' AND type = 'deletion_requested'")"

write_config "$WORK/off.conf" 'rules: { deletion_request: { enabled = false; deadline = "10d"; }; };'
run_lethe --config "$WORK/off.conf" request --tenant "$T2" --reference OFF-1
assert_rc "a request under a disabled rule is still recorded" 0
assert_contains "and says it has no deadline" "deadline_at: none: deletion_request is disabled in the config" "$OUT"

write_config "$WORK/ten.conf" 'rules: { deletion_request: { deadline = "10d"; }; };'
run_lethe --config "$WORK/ten.conf" request --tenant "$T2" --reference TEN-1
DL3=$(sql "SELECT lethe.iso_utc(occurred_at + interval '10 days') FROM lethe.events WHERE reference = 'TEN-1'")
assert_contains "the printed deadline follows the config" "deadline_at: $DL3 (10d, as configured)" "$OUT"

# The next run derives the request like any producer's event.
write_config "$WORK/run.conf"
"$LETHE" --config "$WORK/run.conf" -q run >/dev/null 2>&1
assert_eq "the run turns the requests into obligations" "deletion_request 3|subject_request 1" \
  "$(sql "SELECT string_agg(rule || ' ' || n, '|' ORDER BY rule) FROM (SELECT rule, count(*) n
            FROM lethe.obligations WHERE tenant_id = '$T' GROUP BY rule) x")"
assert_eq "the requested item is in flight under the earliest deadline" "in_flight" \
  "$(sql "SELECT state FROM lethe.item_status WHERE item_id = '$I'")"

# ---- hold place ---------------------------------------------------------------------------------
run_lethe hold
assert_rc "hold without a subcommand exits 2" 2
assert_eq "hold without a subcommand message" "error: hold: name what to do: hold place ..., hold release HOLD_ID or hold list
hint: see 'lethe help hold'" "$ERR"
run_lethe hold remove x
assert_rc "an unknown hold subcommand exits 2" 2
assert_contains "unknown subcommand message" "error: hold: unknown subcommand 'remove'" "$ERR"

run_lethe hold place --tenant "$T" --workspace "$W"
assert_rc "hold place without --reason exits 2" 2
assert_eq "missing reason message" "error: hold place: --reason is required (why the items must be kept)
hint: see 'lethe help hold'" "$ERR"
run_lethe hold place --reason litigation
assert_rc "hold place without --tenant exits 2" 2
assert_contains "missing tenant message" "error: hold place: --tenant is required" "$ERR"
run_lethe hold place --tenant "$NOPE" --reason litigation
assert_rc "hold place for an unknown tenant exits 2" 2
assert_eq "hold place unknown tenant message" "error: hold place: no tenant $NOPE
hint: tenants are the rows of lethe.tenants; check the id" "$ERR"
run_lethe hold place --tenant "$T" --item zzz --reason litigation
assert_rc "hold place with a malformed item exits 2" 2
assert_contains "hold place malformed item message" 'error: hold: --item: malformed id "zzz"' "$ERR"
run_lethe hold place --tenant "$T" --item "$I" --subject user_a --reason litigation
assert_rc "hold place with two scopes exits 2" 2
assert_contains "hold place two scopes message" "error: hold place: give at most one of --workspace, --subject and --item" "$ERR"
run_lethe hold place --tenant "$T" --item "$NOPE" --reason litigation
assert_rc "hold place on an unknown item exits 2" 2
assert_eq "hold place unknown item message" "error: hold place: no item $NOPE in tenant $T
hint: check the id, and that it belongs to this tenant" "$ERR"
run_lethe hold place --tenant "$T" --workspace "$W2" --reason litigation
assert_rc "hold place on another tenant's workspace exits 2" 2
assert_eq "refused holds record nothing" "0" "$(sql "SELECT count(*) FROM lethe.holds")"

run_lethe hold place --tenant "$T" --workspace "$W" --reason "litigation" --reference CASE-9
assert_rc "hold place exits 0" 0
H=$OUT
assert_eq "hold place prints the hold id alone" "1" "$(echo "$OUT" | grep -cxE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')"
assert_eq "the hold is recorded with its scope, reason and reference, placed now, active" \
  "$T|$W|||litigation|CASE-9|t|t" \
  "$(sql "SELECT tenant_id, workspace_id, subject_id, item_id, reason, reference,
                 placed_at BETWEEN now() - interval '1 minute' AND now(), released_at IS NULL
            FROM lethe.holds WHERE hold_id = '$H'")"
assert_contains "hold place says what it placed on stderr" "hold: placed on workspace $W in tenant $T at " "$ERR"

run_lethe -q hold place --tenant "$T" --subject secret-subject-id --reason "data subject dispute"
assert_rc "a subject hold exits 0" 0
HS=$OUT
assert_eq "-q keeps stderr empty" "" "$ERR"
run_lethe hold place --tenant "$T" --subject secret-subject-id --reason "again"
assert_not_contains "a subject id never reaches stderr" "secret-subject-id" "$ERR"
assert_contains "a subject hold is described without the subject" "hold: placed on a data subject's items in tenant $T" "$ERR"
assert_eq "a subject hold records the subject" "secret-subject-id" \
  "$(sql "SELECT subject_id FROM lethe.holds WHERE hold_id = '$HS'")"

run_lethe -q hold place --tenant "$T2" --reason "whole tenant"
assert_rc "a tenant-wide hold exits 0" 0
HT=$OUT

# ---- hold release -------------------------------------------------------------------------------
run_lethe hold release
assert_rc "hold release without an id exits 2" 2
assert_eq "missing hold id message" "error: hold release: name the hold: hold release HOLD_ID
hint: see 'lethe help hold'" "$ERR"
run_lethe hold release not-a-hold
assert_rc "hold release with a malformed id exits 2" 2
assert_contains "malformed hold id message" 'error: hold: HOLD_ID: malformed id "not-a-hold"' "$ERR"
run_lethe hold release "$NOPE"
assert_rc "releasing an unknown hold exits 2" 2
assert_eq "unknown hold message" "error: hold release: no hold $NOPE
hint: 'lethe hold list' shows the holds; 'lethe hold place' prints a new one's id" "$ERR"
run_lethe hold release "$H" --tenant "$T2"
assert_rc "releasing a hold under another tenant exits 2" 2
assert_contains "hold in another tenant message" "error: hold release: no hold $H in tenant $T2" "$ERR"
assert_eq "a refused release changes nothing" "t" "$(sql "SELECT released_at IS NULL FROM lethe.holds WHERE hold_id = '$H'")"

run_lethe hold release "$H"
assert_rc "hold release exits 0" 0
REL=$(sql "SELECT lethe.iso_utc(released_at) FROM lethe.holds WHERE hold_id = '$H'")
assert_eq "hold release prints when and by whom" "released hold $H of tenant $T at $REL by ${SUDO_USER:-$(id -un)}" "$OUT"
assert_eq "the hold is released now" "t" \
  "$(sql "SELECT released_at BETWEEN now() - interval '1 minute' AND now() FROM lethe.holds WHERE hold_id = '$H'")"

run_lethe hold release "$H"
assert_rc "releasing twice exits 0 (a retry)" 0
assert_eq "releasing twice says so" "hold $H of tenant $T was already released at $REL by ${SUDO_USER:-$(id -un)}; nothing to do" "$OUT"
assert_eq "releasing twice keeps the first release" "$REL" \
  "$(sql "SELECT lethe.iso_utc(released_at) FROM lethe.holds WHERE hold_id = '$H'")"

run_lethe hold release --tenant "$T2" "$HT"
assert_rc "hold release with --tenant exits 0" 0
run_lethe hold release "$HS" extra
assert_rc "hold release with an extra argument exits 2" 2

# A hold id names one hold in the whole catalog: the database refuses a second tenant's copy,
# so "found in two tenants" cannot arise. On Citus that index cannot be kept (it does not lead
# with tenant_id; migrate lists it in lethe.citus_gaps): the copy is taken, and hold release
# refuses to guess which tenant's hold is meant.
if ! citus_gap holds_id; then
    assert_sql_fails "a hold id cannot be reused in another tenant" \
      "INSERT INTO lethe.holds (tenant_id, hold_id, reason) VALUES ('$T2', '$HS', 'copy')" "duplicate key"
else
    sql "INSERT INTO lethe.holds (tenant_id, hold_id, reason) VALUES ('$T2', '$HS', 'copy')" >/dev/null
    run_lethe hold release "$HS"
    assert_rc "Citus: a hold id in two tenants: hold release exits 2" 2
    assert_eq "Citus: a hold id in two tenants: hold release says so" \
      "error: hold release: hold $HS exists in more than one tenant
hint: pass --tenant T to say which" "$ERR"
    assert_eq "Citus: a hold id in two tenants: neither is released" "2" \
      "$(sql "SELECT count(*) FROM lethe.holds WHERE hold_id = '$HS' AND released_at IS NULL")"
fi

# ---- a hold on items already in flight says so, descendants included (on Citus too) -----------
# SPEC §3: a hold does not recall a batch already emitted; hold place warns of each open batch
# that holds items of its scope. A hold covers its item's descendants: a child in flight counts.
T3=$(uuid); W3=$(uuid); P3=$(uuid); C3=$(uuid); O3=$(uuid)
mk_tenant "$T3" initech; mk_workspace "$T3" "$W3" EU
mk_item "$T3" "$P3" "$W3" prompt EU 2026-01-01T00:00:00Z false "" user_p
mk_item "$T3" "$C3" "$W3" response EU 2026-01-01T00:00:00Z false "$P3" user_c
mk_item "$T3" "$O3" "$W3" prompt EU 2026-01-01T00:00:00Z false "" user_o
mk_event "$T3" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" REQ-FLIGHT
write_config "$WORK/flight.conf"
run_lethe --config "$WORK/flight.conf" run
B3=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T3'")
assert_eq "the three items are in one open batch" "3 open" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE tenant_id = '$T3' AND batch_id = '$B3' AND outcome IS NULL") $(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B3'")"
run_lethe --config "$WORK/flight.conf" hold place --tenant "$T3" --item "$P3" --reason litigation --reference LIT-F --operator user_o
assert_eq "a hold on the parent in flight: placed, warning of it and its child, nothing else on stderr" \
  "0|warning: hold: 2 items in its scope are already in open batch $B3 (EU), which a hold does not recall
hint: its deleter may have them already; 'lethe batches --state open' shows the batch" \
  "$RC|$(printf '%s\n' "$ERR" | grep -v '^hold: placed on')"
run_lethe --config "$WORK/flight.conf" hold place --tenant "$T3" --subject user_c --reason litigation --reference LIT-S --operator user_o
assert_contains "a hold on the child's subject: one item" \
  "warning: hold: 1 item in its scope is already in open batch $B3 (EU)" "$ERR"
# The deleter acknowledges the batch: the held parent is purged, on record as any purge.
# explain says the hold was in effect then, and why it did not keep the item.
run_lethe --config "$WORK/flight.conf" ack "$B3" --operator user_o
assert_rc "the batch in flight is acknowledged whole" 0
HP3=$(sql "SELECT hold_id FROM lethe.holds WHERE tenant_id = '$T3' AND reference = 'LIT-F'")
run_lethe --config "$WORK/flight.conf" explain "$P3" --tenant "$T3"
assert_contains "explain: the hold in effect at the purge is said, with why it did not keep it" \
  "note: hold $HP3 (placed $(sql "SELECT lethe.iso_utc(placed_at) FROM lethe.holds WHERE hold_id = '$HP3'")) was in effect when the item was purged at $(sql "SELECT lethe.iso_utc(purged_at) FROM lethe.batch_items WHERE item_id = '$P3' AND outcome = 'purged'"): its batch was emitted at $(sql "SELECT lethe.iso_utc(created_at) FROM lethe.batches WHERE batch_id = '$B3'"), before the hold, and a hold does not recall a batch already emitted" "$OUT"
run_lethe --config "$WORK/flight.conf" explain "$O3" --tenant "$T3"
assert_not_contains "... not for an item no hold covered" "note: hold" "$OUT"
# The evidence says so too (sql/0064): each item_purged record names the first hold placed that
# covered the item at the purge (the child is covered by LIT-F through its parent, placed before
# LIT-S), with detail 'hold in effect at purge'; the item no hold covered reads as any purge.
assert_eq "item_purged records name the hold in effect at the purge" \
  "$P3|$HP3|hold in effect at purge|t|REQ-FLIGHT
$C3|$HP3|hold in effect at purge|t|REQ-FLIGHT
$O3|||t|REQ-FLIGHT" \
  "$(sql "SELECT item_id, hold_id, detail, on_time, reference FROM lethe.audit
           WHERE tenant_id = '$T3' AND kind = 'item_purged'
           ORDER BY item_id = '$P3' DESC, item_id = '$C3' DESC")"

# A hold placed on an item already past its deadline (SPEC §3 counts held past the deadline only
# an item a hold kept past it): the item was late before the hold, and its purge is late, under
# its request's reference (sql/0083), however briefly the hold lasted; a hold placed after its
# batch was emitted and in effect at the purge is named in the detail. A hold placed after the
# emission and released before the receipt was not in effect at the purge: nothing is said of it.
T5=$(uuid); W5=$(uuid); X5=$(uuid); Y5=$(uuid)
mk_tenant "$T5" hooli; mk_workspace "$T5" "$W5" EU
mk_item "$T5" "$X5" "$W5" prompt EU 2026-01-01T00:00:00Z
mk_item "$T5" "$Y5" "$W5" prompt EU 2026-01-01T00:00:00Z
mk_event "$T5" deletion_requested "$(date -u -d '-40 days' +%FT%TZ)" REQ-LATE
H51=$("$LETHE" --config "$WORK/flight.conf" hold place --tenant "$T5" --item "$X5" --reason litigation --reference LIT-PAST --operator user_o 2>/dev/null)
run_lethe --config "$WORK/flight.conf" run
assert_eq "a hold on an overdue item blocks it" "1" \
  "$(sql "SELECT count(*) FROM lethe.hold_blocks WHERE tenant_id = '$T5' AND hold_id = '$H51'")"
run_lethe --config "$WORK/flight.conf" hold release "$H51" --operator user_o
run_lethe --config "$WORK/flight.conf" run
B5=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T5' AND item_id = '$X5'")
H52=$("$LETHE" --config "$WORK/flight.conf" hold place --tenant "$T5" --item "$X5" --reason litigation --reference LIT-NOW --operator user_o 2>/dev/null)
H53=$("$LETHE" --config "$WORK/flight.conf" hold place --tenant "$T5" --item "$Y5" --reason litigation --reference LIT-GONE --operator user_o 2>/dev/null)
run_lethe --config "$WORK/flight.conf" hold release "$H53" --operator user_o
B5Y=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T5' AND item_id = '$Y5'")
run_lethe --config "$WORK/flight.conf" ack "$B5" --operator user_o
assert_rc "the overdue batch is acknowledged" 0
run_lethe --config "$WORK/flight.conf" ack "$B5Y" --operator user_o
assert_rc "the batch that took the other item at the first run is acknowledged" 0
assert_eq "held only after its deadline: late, under its request's reference, the hold at the purge named" \
  "$X5|$H52|hold in effect at purge|f|REQ-LATE
$Y5|||f|REQ-LATE" \
  "$(sql "SELECT item_id, hold_id, detail, on_time, reference FROM lethe.audit
           WHERE tenant_id = '$T5' AND kind = 'item_purged' ORDER BY item_id = '$X5' DESC")"
run_lethe --config "$WORK/flight.conf" export --summary --tenant "$T5"
assert_contains "... and the summary counts both late, none held past its deadline" \
  '"rule":"deletion_request","purged":2,"on_time":0,"late":2' "$OUT"
assert_contains "... (held_past_deadline 0)" '"held_past_deadline":0' "$OUT"
run_lethe --config "$WORK/flight.conf" explain "$X5" --tenant "$T5"
assert_contains "explain agrees: counted as late" "after the deadline: counted as late" "$OUT"

# A hold placed before the deadline and released after it kept the item past it: its purge is
# counted held, not late, under the hold's reference, as before. (The request's deadline is 10
# seconds away when the hold is placed, and has passed when the hold is released.)
TH=$(uuid); WH=$(uuid); XH=$(uuid)
mk_tenant "$TH" initech; mk_workspace "$TH" "$WH" EU
mk_item "$TH" "$XH" "$WH" prompt EU 2026-01-01T00:00:00Z
mk_event "$TH" deletion_requested "$(date -u -d '-720 hours +10 seconds' +%FT%TZ)" REQ-SOON
HH=$("$LETHE" --config "$WORK/flight.conf" hold place --tenant "$TH" --item "$XH" --reason litigation --reference LIT-INTIME --operator user_o 2>/dev/null)
run_lethe --config "$WORK/flight.conf" run
assert_eq "a hold placed before the deadline blocks the item due now" "1|t" \
  "$(sql "SELECT count(*), bool_and(h.placed_at < o.triggered_at + interval '720 hours')
            FROM lethe.hold_blocks b JOIN lethe.holds h USING (tenant_id, hold_id)
            JOIN lethe.obligations o ON o.tenant_id = b.tenant_id AND o.reference = 'REQ-SOON'
           WHERE b.tenant_id = '$TH' AND b.hold_id = '$HH'")"
for ((i = 0; i < 30; i++)); do
    [ "$(sql "SELECT now() > triggered_at + interval '720 hours' FROM lethe.obligations
               WHERE tenant_id = '$TH' AND reference = 'REQ-SOON'")" = t ] && break
    sleep 1
done
run_lethe --config "$WORK/flight.conf" hold release "$HH" --operator user_o
run_lethe --config "$WORK/flight.conf" run
BH=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$TH' AND item_id = '$XH'")
run_lethe --config "$WORK/flight.conf" ack "$BH" --operator user_o
assert_eq "held past its deadline by a hold placed before it: held, under the hold's reference" \
  "$XH|$HH|held|f|LIT-INTIME" \
  "$(sql "SELECT item_id, hold_id, detail, on_time, reference FROM lethe.audit
           WHERE tenant_id = '$TH' AND kind = 'item_purged'")"
run_lethe --config "$WORK/flight.conf" export --summary --tenant "$TH"
assert_contains "... and the summary counts it held past its deadline" \
  '"rule":"deletion_request","purged":1,"on_time":0,"late":0' "$OUT"
assert_contains "... (held_past_deadline 1)" '"held_past_deadline":1' "$OUT"
# A hold placed on an overdue item in flight, the attempt failed, the item held as it was due
# again, then the late acknowledgement of the first attempt: the item was late before the hold
# (sql/0083), and the record names the hold in effect at the purge once.
T6=$(uuid); W6=$(uuid); S6=$(uuid)
mk_tenant "$T6" pied_piper; mk_workspace "$T6" "$W6" EU
mk_item "$T6" "$S6" "$W6" prompt EU 2026-01-01T00:00:00Z
mk_event "$T6" deletion_requested "$(date -u -d '-40 days' +%FT%TZ)" REQ-S6
run_lethe --config "$WORK/flight.conf" run
B6=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T6'")
H6=$("$LETHE" --config "$WORK/flight.conf" hold place --tenant "$T6" --item "$S6" --reason litigation --reference LIT-S6 --operator user_o 2>/dev/null)
run_lethe --config "$WORK/flight.conf" ack "$B6" --failed "$S6:disk" --operator user_o
run_lethe --config "$WORK/flight.conf" run
assert_eq "the failed item, due again, is blocked by the hold" "1" \
  "$(sql "SELECT count(*) FROM lethe.hold_blocks WHERE tenant_id = '$T6' AND hold_id = '$H6'")"
run_lethe --config "$WORK/flight.conf" ack "$B6" --operator user_o
assert_eq "a late acknowledgement under a hold placed after the deadline: late, the hold named once" \
  "$H6|hold in effect at purge|f|REQ-S6" \
  "$(sql "SELECT hold_id, detail, on_time, reference FROM lethe.audit
           WHERE tenant_id = '$T6' AND kind = 'item_purged'")"
# explain judges a purge as the evidence does (its item_purged record), not by the deadline alone:
# held past it, late, or on time under a hold.
run_lethe --config "$WORK/flight.conf" explain "$XH" --tenant "$TH"
assert_contains "explain: a purge kept past its deadline by a hold is counted held, as the audit does" \
  "in batch $BH under deletion_request (deadline $(sql "SELECT lethe.iso_utc(deadline_at) FROM lethe.batch_items WHERE item_id = '$XH' AND outcome = 'purged'")): after the deadline, kept past it by hold $HH: counted as held, not late" "$OUT"
run_lethe --config "$WORK/flight.conf" explain "$Y5" --tenant "$T5"
assert_contains "explain: a late purge no hold kept is counted late" \
  "): after the deadline: counted as late" "$OUT"
run_lethe --config "$WORK/flight.conf" explain "$S6" --tenant "$T6"
assert_contains "explain: the late acknowledgement under a hold placed after the deadline is late" \
  "after the deadline: counted as late" "$OUT"
run_lethe --config "$WORK/flight.conf" explain "$P3" --tenant "$T3"
assert_contains "explain: an on-time purge under a hold placed in flight is on time" \
  "(deadline $(sql "SELECT lethe.iso_utc(deadline_at) FROM lethe.batch_items WHERE item_id = '$P3' AND outcome = 'purged'")): on time" "$OUT"
run_lethe --config "$WORK/flight.conf" explain --json "$X5" --tenant "$T5"
assert_eq "explain --json: purge_record is the audit's record, under the request's reference" \
  "{'seq': $(sql "SELECT seq FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$X5'"), 'rule': 'deletion_request', 'reference': 'REQ-LATE', 'on_time': False, 'hold_id': '$H52', 'detail': 'hold in effect at purge'}" \
  "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["purge_record"])')"
run_lethe --config "$WORK/flight.conf" explain --json "$XH" --tenant "$TH"
assert_eq "explain --json: ... under the hold's reference when held past its deadline" \
  "{'seq': $(sql "SELECT seq FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$XH'"), 'rule': 'deletion_request', 'reference': 'LIT-INTIME', 'on_time': False, 'hold_id': '$HH', 'detail': 'held'}" \
  "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["purge_record"])')"
run_lethe --config "$WORK/flight.conf" explain --json "$O3" --tenant "$T3"
assert_eq "explain --json: an on-time purge no hold covered" \
  "{'seq': $(sql "SELECT seq FROM lethe.audit WHERE kind = 'item_purged' AND item_id = '$O3'"), 'rule': 'deletion_request', 'reference': 'REQ-FLIGHT', 'on_time': True, 'hold_id': None, 'detail': None}" \
  "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["purge_record"])')"
# A failure reported after the acknowledgement changes nothing, and says so.
run_lethe --config "$WORK/flight.conf" ack "$B6" --failed "$S6:gone wrong" --operator user_o
assert_eq "a failed receipt for an acknowledged batch: exit 0, nothing changed, a warning" \
  "0|ack: batch $B6 was already acknowledged; nothing changed|warning: ack: batch $B6 was acknowledged already: 1 failed receipt given now changes nothing; its items are purged and on record
hint: if the deleter left objects behind, 'lethe reconcile --location GEO INVENTORY' finds them in the storage's inventory|1" \
  "$RC|$OUT|$ERR|$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$T6' AND kind = 'item_purged'")"
# An acknowledgement by hand names its operator without --operator: $SUDO_USER, as the README says
# of every operator command (it was recorded with none).
T7=$(uuid); W7=$(uuid); S7=$(uuid)
mk_tenant "$T7" hooli_xyz; mk_workspace "$T7" "$W7" EU
mk_item "$T7" "$S7" "$W7" prompt EU 2026-01-01T00:00:00Z
mk_event "$T7" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" REQ-S7
run_lethe --config "$WORK/flight.conf" run
B7=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T7'")
SUDO_USER=erin run_lethe --config "$WORK/flight.conf" ack "$B7"
assert_eq "ack without --operator: exit 0, its records name \$SUDO_USER" \
  "0|batch_acknowledged erin
item_purged erin" \
  "$RC|$(sql "SELECT kind || ' ' || coalesce(operator, '-') FROM lethe.audit
              WHERE tenant_id IN ('$T7', '00000000-0000-0000-0000-000000000000') AND batch_id = '$B7'
                AND kind IN ('item_purged', 'batch_acknowledged') ORDER BY kind")"
# The README's jq line lists them from an export alone.
"$LETHE" --config "$WORK/flight.conf" export -o "$WORK/underhold.jsonl" 2>/dev/null
assert_eq "README: jq lists every purge made under a hold from an export" \
  "$(printf '%s\n' "$C3 hold in effect at purge" "$P3 hold in effect at purge" "$X5 hold in effect at purge" "$S6 hold in effect at purge" | sort)" \
  "$(JQ_LINE=$(grep -m1 '^jq -c .select(.kind == "item_purged"' README.md)
     cd "$WORK" && cp underhold.jsonl export.jsonl && bash -c "$JQ_LINE" | jq -r '.item_id + " " + .detail' | sort)"

# A hold placed while a run forms its batches, after they judged the holds: it kept nothing back,
# and its warning, looking before the batches committed, named nothing. The run is held up here
# at its insert into lethe.batches (after its hold check) by a session that locks the table.
# (On Citus the batches are not held up by a LOCK TABLE on the coordinator, so the run is not
# caught in the act there; the fence is an advisory lock of the coordinator's alone, the same.)
if [ "$(sql "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")" = 1 ]; then
    ok "skipped on Citus: a run cannot be held up at its insert into lethe.batches here"
else
    T4=$(uuid); W4=$(uuid); Q1=$(uuid); Q2=$(uuid)
    mk_tenant "$T4" umbrella; mk_workspace "$T4" "$W4" EU
    mk_item "$T4" "$Q1" "$W4" prompt EU 2026-01-01T00:00:00Z
    mk_item "$T4" "$Q2" "$W4" prompt EU 2026-01-01T00:00:00Z
    mk_event "$T4" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" REQ-RACE
    psql -X -q -c "BEGIN" -c "LOCK TABLE lethe.batches IN SHARE MODE" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
    LOCKER=$!
    sleep 0.5
    "$LETHE" --config "$WORK/flight.conf" run >"$WORK/race.out" 2>"$WORK/race.err" &
    RUNNER=$!
    for _ in $(seq 50); do
        [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7283316 AND NOT granted OR (locktype = 'relation' AND relation = 'lethe.batches'::regclass AND NOT granted)")" != 0 ] && break
        sleep 0.1
    done
    SQLOUT=$(psql -X -q -c "SET lock_timeout = '300ms'" \
      -c "SELECT hold_id FROM lethe.hold_place('$T4', NULL, NULL, NULL, 'by sql', 'LIT-SQL', 'user_o', NULL)" 2>&1)
    assert_contains "lethe.hold_place() called by SQL waits for the batches too (fenced in the database)" \
      "canceling statement due to lock timeout" "$SQLOUT"
    run_lethe --config "$WORK/flight.conf" hold place --tenant "$T4" --reason litigation --reference LIT-RACE --operator user_o
    wait "$RUNNER"; wait "$LOCKER"
    B4=$(sql "SELECT DISTINCT batch_id FROM lethe.batch_items WHERE tenant_id = '$T4'")
    assert_eq "a hold placed while the batches were formed: both items were already in a batch" "2" \
      "$(sql "SELECT count(*) FROM lethe.batch_items WHERE tenant_id = '$T4' AND batch_id = '$B4'")"
    assert_contains "... so the hold waited for them, and says so" \
      "hold: a run is forming batches, or another hold is being placed; waiting until it commits, so that this hold either keeps the batches' items back or names the batches it cannot recall" "$ERR"
    assert_contains "... and names the batch it cannot recall" \
      "warning: hold: 2 items in its scope are already in open batch $B4 (EU), which a hold does not recall" "$ERR"
    assert_eq "... and is recorded as placed after the batch was emitted, when it was" "t" \
      "$(sql "SELECT h.placed_at > b.created_at FROM lethe.holds h, lethe.batches b WHERE h.reference = 'LIT-RACE' AND b.batch_id = '$B4'")"
fi

# lethe.hold_place() and lethe.hold_release() called by SQL, committed with no flush: the hold was
# placed and released with no record in the audit (the stage is emptied at commit).
HQ=$(sql "SELECT hold_id FROM lethe.hold_place('$T3', NULL, NULL, NULL, 'by sql', 'LIT-BYSQL', 'user_o', NULL)")
sql "SELECT * FROM lethe.hold_release('$T3', '$HQ', 'user_o', NULL)" >/dev/null
assert_eq "a hold placed and released by SQL: both are in the audit" "hold_placed user_o|hold_released user_o" \
  "$(sql "SELECT string_agg(kind || ' ' || operator, '|' ORDER BY seq) FROM lethe.audit WHERE tenant_id = '$T3' AND hold_id = '$HQ'")"

# ---- a withdrawal that occurred before the run withdraws, whatever the run's --as-of ------------
# A catch-up run --as-of a time before a cancellation that had already occurred recorded the
# withdrawal and, in the same run, batched the item under the request it had recorded as
# withdrawn (SPEC §3: a withdrawal applies to the items not handed over when the engine
# processes it; the purge happens now). The same for a whole tenant re-provisioned.
T5=$(uuid); W5=$(uuid); I5=$(uuid); T6=$(uuid); W6=$(uuid); I6=$(uuid)
mk_tenant "$T5" initech; mk_workspace "$T5" "$W5" EU
mk_item "$T5" "$I5" "$W5" prompt EU 2026-10-01T00:00:00Z
mk_event "$T5" deletion_requested 2026-11-01T00:00:00Z R-CATCHUP
mk_event "$T5" deletion_cancelled 2026-11-02T00:00:00Z R-CATCHUP
mk_tenant "$T6" hooli; mk_workspace "$T6" "$W6" EU
mk_item "$T6" "$I6" "$W6" prompt EU 2026-10-01T00:00:00Z
mk_event "$T6" capacity_deleted 2026-11-01T00:00:00Z
mk_event "$T6" capacity_provisioned 2026-11-01T00:00:01Z
run_lethe --config "$WORK/run.conf" run --dry-run --as-of 2026-11-01T12:00:00Z --items
assert_rc "a dry run --as-of before the cancellation" 0
assert_not_contains "... lists neither item as due" "$I5" "$OUT"
assert_not_contains "... nor the re-provisioned tenant's" "$I6" "$OUT"
run_lethe --config "$WORK/run.conf" run --as-of 2026-11-01T00:00:00.5Z
assert_rc "a catch-up run --as-of before both withdrawals" 0
assert_eq "... batches neither item" "0" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id IN ('$I5', '$I6')")"
assert_eq "... which stay live" "live|live" \
  "$(sql "SELECT string_agg(state, '|' ORDER BY tenant_id = '$T5') FROM lethe.item_status WHERE item_id IN ('$I5', '$I6')")"
assert_eq "the withdrawals are recorded from their events (rule, reference, trigger, when)" \
  "deletion_request R-CATCHUP 2026-11-01 00:00:00+00 withdrawn at 2026-11-02T00:00:00.000000Z|capacity_deleted  2026-11-01 00:00:00+00 withdrawn at 2026-11-01T00:00:01.000000Z" \
  "$(sql "SET TimeZone = UTC; SELECT string_agg(rule || ' ' || coalesce(reference, '') || ' ' || triggered_at || ' ' || detail, '|' ORDER BY rule DESC)
           FROM lethe.audit WHERE kind = 'obligation_withdrawn' AND tenant_id IN ('$T5', '$T6')")"
run_lethe --config "$WORK/run.conf" run
assert_eq "a run now batches neither either" "0" \
  "$(sql "SELECT count(*) FROM lethe.batch_items WHERE item_id IN ('$I5', '$I6')")"

# ---- a withdrawal's record is made by the run after one killed as its derivation committed ---
# The record is made in a transaction of its own after the derivation's (sql/0069: on Citus the
# owner cannot append it where the engine wrote the obligations); lethe.withdrawals_unrecorded
# keeps the withdrawal and the number of items it released until then, and the next run
# records it, once, with that number. An earlier cancellation committed after the kill is a
# second withdrawal of the same obligation: both are recorded, in the order they were made,
# exactly as in a tenant where nothing was killed.
wd_records() { # TENANT: its withdrawal records, in the order of its chain
    sql "SELECT string_agg(rule || ' ' || coalesce(reference, '-') || ' ' || count || ' ' || detail, ',' ORDER BY seq)
           FROM lethe.audit WHERE tenant_id = '$1' AND kind = 'obligation_withdrawn'"
}
T7=$(uuid); W7=$(uuid); T8=$(uuid); W8=$(uuid)
for t in "$T7 $W7 umbrella" "$T8 $W8 wayne"; do
    set -- $t
    mk_tenant "$1" "$3"; mk_workspace "$1" "$2" EU
    for _ in 1 2 3; do mk_item "$1" "$(uuid)" "$2" prompt EU 2026-10-01T00:00:00Z; done
    run_lethe hold place --tenant "$1" --reason "kept for the test" --reference LIT-KILL
    assert_rc "a hold keeps $3's items" 0
    mk_event "$1" deletion_requested 2026-11-01T00:00:00Z R-KILL
done
run_lethe --config "$WORK/run.conf" run
assert_eq "the request covers the held items" "3 3" \
  "$(sql "SELECT string_agg(n::text, ' ') FROM (SELECT count(*) n FROM lethe.item_obligations
           WHERE tenant_id IN ('$T7', '$T8') AND rule = 'deletion_request' GROUP BY tenant_id) x")"
mk_event "$T7" deletion_cancelled 2026-11-20T00:00:00Z R-KILL
mk_event "$T8" deletion_cancelled 2026-11-20T00:00:00Z R-KILL
(LETHE_FAULT=after_derive exec "$LETHE" --config "$WORK/run.conf" -q run) >/dev/null 2>&1
assert_eq "a run killed right after its derivation committed" "137" "$?"
gone_backends
assert_eq "... left both withdrawals unrecorded, with the items each released, and no record" "3 3|0" \
  "$(sql "SELECT string_agg(released::text, ' ') FROM lethe.withdrawals_unrecorded")|$(
     sql "SELECT count(*) FROM lethe.audit WHERE kind = 'obligation_withdrawn' AND tenant_id IN ('$T7', '$T8')")"
run_lethe --config "$WORK/run.conf" status --check
assert_rc "status --check between the two runs" 0
# T7 only: an earlier cancellation, committed after the kill
mk_event "$T7" deletion_cancelled 2026-11-10T00:00:00Z R-KILL
run_lethe --config "$WORK/run.conf" run
assert_rc "the next run finishes" 0
assert_eq "... and records the withdrawal with the count its derivation kept" \
  "deletion_request R-KILL 3 withdrawn at 2026-11-20T00:00:00.000000Z" "$(wd_records "$T8")"
assert_eq "... and, where an earlier cancellation came since, both, in the order they were made" \
  "deletion_request R-KILL 3 withdrawn at 2026-11-20T00:00:00.000000Z,deletion_request R-KILL 0 withdrawn at 2026-11-10T00:00:00.000000Z" \
  "$(wd_records "$T7")"
assert_eq "... leaving nothing unrecorded" "0" "$(sql "SELECT count(*) FROM lethe.withdrawals_unrecorded")"
# the same without a kill, in a tenant of its own: the same records
T9=$(uuid); W9=$(uuid)
mk_tenant "$T9" stark; mk_workspace "$T9" "$W9" EU
for _ in 1 2 3; do mk_item "$T9" "$(uuid)" "$W9" prompt EU 2026-10-01T00:00:00Z; done
run_lethe hold place --tenant "$T9" --reason "kept for the test" --reference LIT-KILL
mk_event "$T9" deletion_requested 2026-11-01T00:00:00Z R-KILL
run_lethe --config "$WORK/run.conf" run
mk_event "$T9" deletion_cancelled 2026-11-20T00:00:00Z R-KILL
run_lethe --config "$WORK/run.conf" run
mk_event "$T9" deletion_cancelled 2026-11-10T00:00:00Z R-KILL
run_lethe --config "$WORK/run.conf" run
assert_eq "a tenant where nothing was killed has the same records" "$(wd_records "$T7")" "$(wd_records "$T9")"
run_lethe --config "$WORK/run.conf" run
assert_eq "a run after it records none of them a second time" "1 2 2" \
  "$(sql "SELECT string_agg(n::text, ' ' ORDER BY n) FROM (SELECT count(*) n FROM lethe.audit
           WHERE tenant_id IN ('$T7', '$T8', '$T9') AND kind = 'obligation_withdrawn' GROUP BY tenant_id) x")"

# Two requests with one reference and one time, of two workspaces (two obligations whose
# records are alike but for their count), and of two subjects: each withdrawal has its record
# (the second was taken for the first's, and went unrecorded).
T10=$(uuid); WA=$(uuid); WB=$(uuid)
mk_tenant "$T10" acme2; mk_workspace "$T10" "$WA" EU; mk_workspace "$T10" "$WB" EU
for _ in 1 2; do mk_item "$T10" "$(uuid)" "$WA" prompt EU 2026-10-01T00:00:00Z; done
for _ in 1 2 3; do mk_item "$T10" "$(uuid)" "$WB" prompt EU 2026-10-01T00:00:00Z false "" user_g; done
run_lethe hold place --tenant "$T10" --reason "kept for the test" --reference LIT-G7
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, workspace_id) VALUES
       ('$T10', 'deletion_requested', '2026-11-01Z', 'G-7', '$WA'), ('$T10', 'deletion_requested', '2026-11-01Z', 'G-7', '$WB')" >/dev/null
sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id) VALUES
       ('$T10', 'deletion_requested', '2026-11-01Z', 'G-8', 'user_g'), ('$T10', 'deletion_requested', '2026-11-01Z', 'G-8', 'user_h')" >/dev/null
run_lethe --config "$WORK/run.conf" run
mk_event "$T10" deletion_cancelled 2026-11-20T00:00:00Z G-7
mk_event "$T10" deletion_cancelled 2026-11-20T00:00:00Z G-8
run_lethe --config "$WORK/run.conf" run
assert_rc "a run withdraws two requests of one reference twice over" 0
assert_eq "... and records each of the four withdrawals" \
  "deletion_request G-7 2 withdrawn at 2026-11-20T00:00:00.000000Z,deletion_request G-7 3 withdrawn at 2026-11-20T00:00:00.000000Z,subject_request G-8 0 withdrawn at 2026-11-20T00:00:00.000000Z,subject_request G-8 3 withdrawn at 2026-11-20T00:00:00.000000Z" \
  "$(sql "SELECT string_agg(rule || ' ' || reference || ' ' || count || ' ' || detail, ',' ORDER BY rule, count)
           FROM lethe.audit WHERE tenant_id = '$T10' AND kind = 'obligation_withdrawn'")"

# ---- a request for a system log: recorded, and said to cover nothing (C7) -----------------------
# It was accepted without a word, and status --reference then said "done": the operator took the
# log for deleted.
LOG=$(uuid); CUST=$(uuid)
mk_item "$T10" "$LOG" "$WA" system_log EU 2026-01-01T00:00:00Z
mk_item "$T10" "$CUST" "$WA" prompt EU 2026-01-01T00:00:00Z
run_lethe --config "$WORK/run.conf" request --tenant "$T10" --item "$LOG" --reference R-LOG
assert_eq "a request for a system log is recorded, warning that it covers nothing" \
  "0|1|warning: request: item $LOG is a system log, not Customer Data (C7): no rule purges it, or any copy made of it, so this request covers nothing" \
  "$RC|$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'R-LOG'")|$ERR"
run_lethe --config "$WORK/run.conf" request --tenant "$T10" --item "$CUST" --reference R-CUST
assert_eq "a request for a customer item says nothing of the kind" "0|" "$RC|$ERR"

# ---- a request for an item stamped ahead of the database's clock ---------------------------------
# A producer may write up to five minutes ahead; the catalog refused the request with a producer's
# hint ("give the time the request was made"), which lethe request has no option for.
AHEAD=$(uuid)
mk_item "$T10" "$AHEAD" "$WA" prompt EU "$(date -u -d '+4 minutes' +%FT%T.000000Z)"
AHEAD_AT=$(sql "SELECT lethe.iso_utc(created_at) FROM lethe.items WHERE item_id = '$AHEAD'")
run_lethe --config "$WORK/run.conf" request --tenant "$T10" --item "$AHEAD" --reference R-AHEAD
assert_eq "a request for an item created ahead of now: exit 2, nothing recorded" "2|0" \
  "$RC|$(sql "SELECT count(*) FROM lethe.events WHERE reference = 'R-AHEAD'")"
assert_eq "... saying when it may be recorded" \
  "error: request: item $AHEAD was created at $AHEAD_AT, later than now on the database's clock: a request covers the items created by the time it is recorded
hint: its producer's clock is ahead of the database's (by up to five minutes); record the request again after $AHEAD_AT; nothing was recorded" "$ERR"

finish
