# The audit log in the database: staging and flushing onto per-tenant hash chains, refusals of
# UPDATE/DELETE/TRUNCATE, two writers on one chain never forking it, and checkpoints.
. tests/harness/lib.sh
psql -X -q -c 'CREATE DATABASE audit_t' >/dev/null
export PGDATABASE=audit_t
"$LETHE" migrate >/dev/null

NIL=00000000-0000-0000-0000-000000000000
A=aaaaaaaa-0000-4000-8000-000000000001
B=bbbbbbbb-0000-4000-8000-000000000002
RUN=11111111-1111-4111-8111-111111111111
ZERO=0000000000000000000000000000000000000000000000000000000000000000

# Chain invariants over the whole table: seq dense from 1, first prev_hash zeros, each
# prev_hash the previous hash, at never going back. Prints the number of broken rows.
chain_breaks() {
    sql "SELECT count(*) FROM (
           SELECT seq, prev_hash, at, lag(seq) OVER w AS ps, lag(hash) OVER w AS ph, lag(at) OVER w AS pa
             FROM lethe.audit WINDOW w AS (PARTITION BY tenant_id ORDER BY seq)) x
          WHERE (ps IS NULL AND (seq <> 1 OR prev_hash <> repeat('0', 64)))
             OR (ps IS NOT NULL AND (seq <> ps + 1 OR prev_hash <> ph OR at < pa))"
}

# ---- staging and flushing --------------------------------------------------------------
out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, reference) VALUES
  ('$A', 'item_purged', '$RUN', 'a1'), ('$B', 'item_purged', '$RUN', 'b1'),
  ('$A', 'item_purged', '$RUN', 'a2'), ('$A', 'item_purged', '$RUN', 'a3'),
  ('$B', 'item_purged', '$RUN', ''),   ('$NIL', 'run_started', '$RUN', NULL);
SELECT lethe.audit_flush();
COMMIT;
EOF
)
assert_eq "flush returns the number of records appended" "6" "$(echo "$out" | tail -1)"
assert_eq "records keep staging order within each chain, seq dense from 1" \
  "$A 1 a1|$A 2 a2|$A 3 a3|$B 1 b1|$B 2 |$NIL 1 " \
  "$(sql "SELECT string_agg(tenant_id || ' ' || seq || ' ' || coalesce(reference, ''), '|' ORDER BY tenant_id <> '$NIL' DESC, tenant_id, seq) FROM lethe.audit")"
assert_eq "an empty string is stored as null" "1" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id = '$B' AND seq = 2 AND reference IS NULL")"
assert_eq "each chain starts with a prev_hash of 64 zeros" "3" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE seq = 1 AND prev_hash = '$ZERO'")"
assert_eq "chains link and never go back in time" "0" "$(chain_breaks)"
assert_eq "the heads hold each chain's last seq, hash and time" "0" \
  "$(sql "SELECT count(*) FROM lethe.audit_heads h LEFT JOIN LATERAL
          (SELECT a.seq, a.hash, a.at FROM lethe.audit a WHERE a.tenant_id = h.tenant_id ORDER BY seq DESC LIMIT 1) l ON true
          WHERE (h.seq, h.hash, h.at) IS DISTINCT FROM (l.seq, l.hash, l.at)")"
assert_eq "hash is SHA-256 of prev_hash, newline and the exported line without its hash" "0" \
  "$(sql "SELECT count(*) FROM lethe.audit a WHERE hash <> encode(sha256(convert_to(prev_hash || E'\n'
          || left(lethe.audit_jsonl(a), -length(',\"hash\":\"' || hash || '\"}')) || '}', 'UTF8')), 'hex')")"

# An independent recomputation: Python's json and hashlib over a record with every escape.
ref=$(printf 'T-1 "q"\\\n\001\303\251 /\t\177' | base64 -w0)
sql "BEGIN; SELECT lethe.audit_stage_open();
     INSERT INTO audit_stage (tenant_id, kind, rule, reference, triggered_at, on_time, count)
     VALUES ('cccccccc-0000-4000-8000-000000000003', 'item_purged', 'deletion_request',
             convert_from(decode('$ref', 'base64'), 'UTF8'), '2026-01-31 23:59:59.5+00', false, 0);
     SELECT lethe.audit_flush(); COMMIT;" >/dev/null
row=$(sql "SELECT lethe.audit_time(at) || ' ' || hash FROM lethe.audit WHERE tenant_id = 'cccccccc-0000-4000-8000-000000000003'")
expected=$(python3 - "${row% *}" "$ref" <<'EOF'
import base64, hashlib, json, sys
cols = ("seq at kind tenant_id run_id batch_id item_id rule reference triggered_at deadline_at "
        "purged_at on_time location hold_id subject_hmac operator count detail prev_hash").split()
r = dict.fromkeys(cols)
r.update(seq=1, at=sys.argv[1], kind="item_purged", tenant_id="cccccccc-0000-4000-8000-000000000003",
         rule="deletion_request", reference=base64.b64decode(sys.argv[2]).decode(),
         triggered_at="2026-01-31T23:59:59.500000Z", on_time=False, count=0, prev_hash="0" * 64)
c = json.dumps(r, ensure_ascii=False, separators=(",", ":"))
print(hashlib.sha256(("0" * 64 + "\n" + c).encode()).hexdigest())
EOF
)
assert_eq "the database's hash matches an independent Python computation" "$expected" "${row#* }"

out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, reference) VALUES ('$A', 'item_failed', 'a4');
SELECT lethe.audit_flush();
COMMIT;
EOF
)
assert_eq "a later flush continues the chain" "4 a4" \
  "$(sql "SELECT seq || ' ' || reference FROM lethe.audit WHERE tenant_id = '$A' ORDER BY seq DESC LIMIT 1")"
assert_eq "flushing an empty stage appends nothing" "0" "$(sql "SELECT lethe.audit_flush()")"

before=$(sql "SELECT count(*) FROM lethe.audit")
left=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind) VALUES ('$A', 'item_failed');
COMMIT;
SELECT count(*) FROM audit_stage;
EOF
)
assert_eq "staged rows that are never flushed are dropped at commit" "0" "$(echo "$left" | tail -1)"
assert_eq "and never reach the log" "$before" "$(sql "SELECT count(*) FROM lethe.audit")"

assert_sql_fails "an unknown kind is refused with the list of kinds" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind) VALUES ('$A', 'item_vanished'); SELECT lethe.audit_flush(); COMMIT;" \
  'audit: unknown record kind "item_vanished"'
assert_sql_fails "a malformed subject_hmac is refused" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, subject_hmac) VALUES ('$A', 'item_purged', 'user_a@example.com'); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_subject_hmac_format'
# 64 bytes that are not lower-case hex: the length alone does not pass them.
assert_sql_fails "an upper-case hex subject_hmac of the right length is refused" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, subject_hmac) VALUES ('$A', 'item_purged', upper(repeat('ab', 32))); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_subject_hmac_format'
assert_sql_fails "a subject_hmac of 64 bytes in 32 characters is refused" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, subject_hmac) VALUES ('$A', 'item_purged', repeat('é', 32)); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_subject_hmac_format'
assert_eq "a refused flush leaves the chain as it was" "$before" "$(sql "SELECT count(*) FROM lethe.audit")"

# ---- which chain holds which kinds (sql/0056_engine_chain_kinds.sql) ----------------------
# SPEC §5: runs, reruns, batches and checkpoints on the nil UUID's chain, the rest on tenants'.
assert_sql_fails "an engine record staged for a tenant's chain is refused" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind) VALUES ('$A', 'run_started'); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_engine_chain_kinds'
assert_sql_fails "so is a rerun record" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind, operator) VALUES ('$A', 'operator_rerun', 'x'); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_engine_chain_kinds'
assert_sql_fails "a tenant's record staged for the engine chain is refused" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind) VALUES ('$NIL', 'item_purged'); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_engine_chain_kinds'
assert_sql_fails "no tenant has the engine chain's id" \
  "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$NIL', 'nil')" 'tenants_not_nil'
assert_eq "the refused records left the chains as they were" "$before" "$(sql "SELECT count(*) FROM lethe.audit")"

# ---- append-only ------------------------------------------------------------------------
assert_sql_fails "UPDATE on the audit log is refused" \
  "UPDATE lethe.audit SET detail = 'x' WHERE tenant_id = '$A'" "UPDATE on lethe.audit is not allowed"
assert_sql_fails "an UPDATE matching no row is refused too" \
  "UPDATE lethe.audit SET detail = 'x' WHERE false" "UPDATE on lethe.audit is not allowed"
assert_sql_fails "DELETE on the audit log is refused" \
  "DELETE FROM lethe.audit WHERE tenant_id = '$A' AND seq = 4" "DELETE on lethe.audit is not allowed"
assert_sql_fails "TRUNCATE on the audit log is refused" \
  "TRUNCATE lethe.audit" "TRUNCATE on lethe.audit is not allowed"
assert_sql_fails "the refusal holds under session_replication_role = replica" \
  "SET session_replication_role = replica; DELETE FROM lethe.audit" "DELETE on lethe.audit is not allowed"
err=$(psql -X -q -c "DELETE FROM lethe.audit" 2>&1)
assert_contains "the refusal says why" "HINT:  the audit log is append-only; a correction is a new record" "$err"
owner=$(sql "SELECT tableowner FROM pg_tables WHERE schemaname = 'lethe' AND tablename = 'audit'")
assert_eq "the refusals apply to the table's owner (these statements ran as it)" "$owner" "$(sql "SELECT current_user")"
assert_eq "nothing was changed or removed" "$before" "$(sql "SELECT count(*) FROM lethe.audit")"

# ---- two writers on one chain --------------------------------------------------------
# Each session stages the two chains in the opposite order; the flush locks heads in tenant
# order, so neither forks a chain nor deadlocks.
C=cccccccc-0000-4000-8000-00000000000c
D=dddddddd-0000-4000-8000-00000000000d
writer() { # NAME FIRST SECOND
    for i in $(seq 1 20); do
        echo "BEGIN; SELECT lethe.audit_stage_open();"
        echo "INSERT INTO audit_stage (tenant_id, kind, operator, count)
              SELECT '$2', 'item_failed', '$1', g FROM generate_series(1, 5) g;"
        echo "INSERT INTO audit_stage (tenant_id, kind, operator, count) VALUES ('$3', 'item_failed', '$1', $i);"
        echo "SELECT lethe.audit_flush(); COMMIT;"
    done | psql -X -q -A -t -v ON_ERROR_STOP=1 >/dev/null 2>/tmp/audit-w-$1.$$
}
writer w1 "$C" "$D" & p1=$!
writer w2 "$D" "$C" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
assert_eq "two concurrent writers both succeed" "0 0" "$r1 $r2"
assert_eq "no deadlock was reported" "" "$(cat /tmp/audit-w-w1.$$ /tmp/audit-w-w2.$$)"
rm -f /tmp/audit-w-w1.$$ /tmp/audit-w-w2.$$
assert_eq "every record of both writers is on the chains" "120 120 120 120" \
  "$(sql "SELECT count(*) FILTER (WHERE tenant_id = '$C') + 0 || ' ' || count(*) FILTER (WHERE tenant_id = '$D')
           || ' ' || count(DISTINCT (tenant_id, seq)) FILTER (WHERE tenant_id = '$C')
           || ' ' || max(seq) FILTER (WHERE tenant_id = '$D') FROM lethe.audit")"
assert_eq "concurrent chains stay dense and linked (no fork)" "0" "$(chain_breaks)"
assert_eq "each flush's records stay together on the chain" "0" \
  "$(sql "SELECT count(*) FROM (SELECT operator, count, lag(operator) OVER (ORDER BY seq) AS p,
                                     lag(count) OVER (ORDER BY seq) AS pc
                                FROM lethe.audit WHERE tenant_id = '$C') x
          WHERE operator = 'w1' AND count > 1 AND (p <> 'w1' OR pc <> count - 1)")"

# ---- checkpoints ----------------------------------------------------------------------
headA=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$A'")
headB=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$B'")
head0=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$NIL'")
detail=$(sql "SELECT lethe.audit_checkpoint('$RUN')")
assert_eq "a checkpoint lists the engine head and every chain the run touched, by tenant" \
  "$NIL=$head0 $A=$headA $B=$headB" "$detail"
assert_eq "the checkpoint is the engine chain's next record, after the head it names" \
  "checkpoint $RUN $head0 $detail" \
  "$(sql "SELECT kind || ' ' || run_id || ' ' || prev_hash || ' ' || detail FROM lethe.audit WHERE tenant_id = '$NIL' ORDER BY seq DESC LIMIT 1")"
head0=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$NIL'")
assert_eq "a run with no records checkpoints the engine head alone" \
  "$NIL=$head0" "$(sql "SELECT lethe.audit_checkpoint('22222222-2222-4222-8222-222222222222')")"
out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<EOF
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id) VALUES ('$B', 'hold_blocked', '33333333-3333-4333-8333-333333333333');
SELECT lethe.audit_checkpoint('33333333-3333-4333-8333-333333333333');
COMMIT;
EOF
)
headB=$(sql "SELECT hash FROM lethe.audit_heads WHERE tenant_id = '$B'")
assert_contains "a checkpoint first flushes what is staged, and includes it" "$B=$headB" "$out"
assert_sql_fails "a checkpoint needs a run id" "SELECT lethe.audit_checkpoint(NULL)" "a checkpoint needs a run id"
assert_eq "all chains are still intact" "0" "$(chain_breaks)"

# ---- speed ----------------------------------------------------------------------------
ms=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<'EOF' | tail -1
BEGIN;
SELECT lethe.audit_stage_open();
INSERT INTO audit_stage (tenant_id, kind, run_id, batch_id, item_id, rule, reference, triggered_at,
                         deadline_at, purged_at, on_time, location)
SELECT ('eeeeeeee-0000-4000-8000-' || lpad((g % 50)::text, 12, '0'))::uuid, 'item_purged',
       gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'deletion_request', 'REQ-' || g,
       now() - interval '10 days', now() + interval '20 days', now(), true, 'EU'
  FROM generate_series(1, 100000) g;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT lethe.audit_flush();
SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000) FROM t0;
COMMIT;
EOF
)
echo "# flush of 100000 records over 50 chains: ${ms} ms (measured, not asserted: speed is make bench's)"
assert_eq "the bulk flush appended every record" "100000" \
  "$(sql "SELECT count(*) FROM lethe.audit WHERE tenant_id::text LIKE 'eeeeeeee-%'")"
assert_eq "the bulk flush kept every chain intact" "0" "$(chain_breaks)"

# A database that already holds a record on the wrong chain (none of lethe's writers makes one)
# keeps it: the migration adds its constraints NOT VALID, so that they bind what is written
# from then on, and warns with the count.
sql "ALTER TABLE lethe.audit DROP CONSTRAINT audit_engine_chain_kinds;
     ALTER TABLE lethe.tenants DROP CONSTRAINT tenants_not_nil" >/dev/null
sql "BEGIN; SELECT lethe.audit_stage_open();
     INSERT INTO audit_stage (tenant_id, kind, run_id) VALUES ('$A', 'run_started', '$RUN');
     SELECT lethe.audit_flush(); COMMIT;" >/dev/null
out=$(psql -X -q -v ON_ERROR_STOP=1 -f sql/0056_engine_chain_kinds.sql 2>&1); rc=$?
assert_eq "the migration over such a record succeeds" "0" "$rc"
assert_contains "... warning with the count" \
  "WARNING:  lethe.audit holds 1 records of an engine kind on a tenant's chain, or of a tenant's kind on the engine chain: they stay, and no more can be appended" "$out"
assert_contains "... and how to find them" "HINT:  find them with: SELECT tenant_id, seq, kind, at FROM lethe.audit WHERE" "$out"
assert_eq "the audit's constraint is not validated, the tenants' is" "f t" \
  "$(sql "SELECT string_agg(convalidated::text, ' ' ORDER BY conname) FROM pg_constraint
          WHERE conname IN ('audit_engine_chain_kinds', 'tenants_not_nil')" | sed 's/true/t/g; s/false/f/g')"
assert_sql_fails "and it refuses the next such record" \
  "BEGIN; SELECT lethe.audit_stage_open(); INSERT INTO audit_stage (tenant_id, kind) VALUES ('$B', 'checkpoint'); SELECT lethe.audit_flush(); COMMIT;" \
  'audit_engine_chain_kinds'
finish
