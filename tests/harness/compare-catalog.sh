# The catalog and the comparison that tests/harness/citus-compare.sh (make check-citus) and
# tests/integration/citus_forms.sh (make check) share: catalog DB writes one catalog as
# producers would, states DB prints what must be the same wherever it is run, norm FILE leaves
# out what differs between any two runs. DAY must be set (the requests' day).
catalog() { # DB: 6 tenants, each with 2 workspaces, 40 items (some copies), events and a hold
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<SQL
INSERT INTO lethe.tenants (tenant_id, name)
SELECT md5('t' || t)::uuid, 'tenant ' || t FROM generate_series(1, 6) t;
INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo)
SELECT md5('t' || t)::uuid, md5('w' || t || '/' || w)::uuid, (ARRAY['EU', 'US'])[w]
  FROM generate_series(1, 6) t, generate_series(1, 2) w;
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id)
SELECT md5('t' || t)::uuid, md5('i' || t || '/' || i)::uuid, md5('w' || t || '/' || (i % 2 + 1))::uuid,
       (ARRAY['prompt', 'response', 'upload', 'system_log'])[i % 4 + 1],
       (ARRAY['EU', 'US'])[i % 2 + 1], 'file:///nonexistent/' || t || '/' || i,
       '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 hour', 'subject-' || (i % 3)
  FROM generate_series(1, 6) t, generate_series(1, 40) i;
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, workspace_id)
SELECT md5('t' || t)::uuid, 'deletion_requested', '${DAY}T00:00:00Z', 'REQ-' || t, md5('w' || t || '/1')::uuid
  FROM generate_series(1, 6) t WHERE t % 2 = 0;
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, subject_id)
SELECT md5('t' || t)::uuid, 'deletion_requested', '${DAY}T00:00:00Z', 'SUBJ-' || t, 'subject-1'
  FROM generate_series(1, 6) t WHERE t % 3 = 0;
INSERT INTO lethe.events (tenant_id, type, occurred_at)
SELECT md5('t' || t)::uuid, 'capacity_deleted', '2026-02-01T00:00:00Z' FROM generate_series(1, 6) t WHERE t = 5;
INSERT INTO lethe.holds (tenant_id, hold_id, subject_id, reason, placed_at)
SELECT md5('t' || t)::uuid, md5('h' || t)::uuid, 'subject-2', 'litigation', '2026-01-01T00:00:00Z'
  FROM generate_series(1, 6) t WHERE t % 2 = 0;
-- Copies (a copy of a copy too), some shared, and shared items of their own: lineage,
-- shared_retention and, after tenant 3's opt-out, shared_while_opted_out.
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id,
                         parent_id, shared)
SELECT md5('t' || t)::uuid, md5('c' || t || '/' || i)::uuid, md5('w' || t || '/' || (i % 2 + 1))::uuid,
       'response', (ARRAY['EU', 'US'])[i % 2 + 1], 'file:///nonexistent/c' || t || '/' || i,
       '2026-03-01T00:00:00Z'::timestamptz + i * interval '1 day', 'subject-' || (i % 3),
       md5('i' || t || '/' || i)::uuid, i % 3 = 0
  FROM generate_series(1, 6) t, generate_series(1, 12) i;
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id,
                         parent_id, shared)
SELECT md5('t' || t)::uuid, md5('cc' || t || '/' || i)::uuid, md5('w' || t || '/' || (i % 2 + 1))::uuid,
       'response', (ARRAY['EU', 'US'])[i % 2 + 1], 'file:///nonexistent/cc' || t || '/' || i,
       '2026-06-01T00:00:00Z'::timestamptz + i * interval '1 day', NULL,
       md5('c' || t || '/' || i)::uuid, i % 4 = 0
  FROM generate_series(1, 6) t, generate_series(1, 6) i;
INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, owner_id, shared)
SELECT md5('t' || t)::uuid, md5('s' || t || '/' || i)::uuid, md5('w' || t || '/1')::uuid,
       'prompt', 'EU', 'file:///nonexistent/s' || t || '/' || i,
       '2026-05-01T00:00:00Z'::timestamptz + i * interval '20 days', 'subject-3', true
  FROM generate_series(1, 6) t, generate_series(1, 10) i;
INSERT INTO lethe.events (tenant_id, type, occurred_at, workspace_id)
VALUES (md5('t3')::uuid, 'sharing_opted_out', '2026-07-01T00:00:00Z', md5('w3/1')::uuid);
INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
VALUES (md5('t4')::uuid, 'deletion_cancelled', '${DAY}T06:00:00Z', 'REQ-4');
SQL
}
states() { # DB: what must be the same on both
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'item', tenant_id, item_id, state, rule, due_at, deadline_at FROM lethe.item_status ORDER BY 2, 3;
SELECT 'batch', location, state, count(*), sum(items) FROM (
    SELECT b.location, b.state, b.batch_id, count(*) AS items FROM lethe.batches b
      JOIN lethe.batch_items bi ON bi.batch_id = b.batch_id GROUP BY 1, 2, 3) x GROUP BY 2, 3 ORDER BY 2, 3;
SELECT 'audit', tenant_id, seq, kind, item_id, rule, reference, triggered_at, deadline_at, on_time,
       location, hold_id, count, detail FROM lethe.audit
 WHERE tenant_id <> '00000000-0000-0000-0000-000000000000' ORDER BY 2, 3;
SELECT 'engine chain', seq, kind, count FROM lethe.audit
 WHERE tenant_id = '00000000-0000-0000-0000-000000000000' AND kind <> 'checkpoint' ORDER BY 2;
SQL
}

# Ids, hashes, instants and durations differ between any two runs, and each database has its
# own spool; the rest of the output may not.
norm() {
    sed -E 's/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/ID/g; s/[0-9a-f]{64}/HASH/g;
            s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/TIME/g; s/[0-9]+(\.[0-9]+)? ?(ms|s)\b/DURATION/g;
            s/"max_lateness_seconds":[0-9.]+/"max_lateness_seconds":N/g;
            s/compare_(citus|plain)/DB/g' "$1"
}

# sequence DB CONF OUT LETHE: the runs compared, each output in OUT.<step>: a run at noon on
# DAY, an ack of each batch it emitted (the EU batches with one item failed), a run now, then
# status, the auditor's summary and the explanation of a few items.
sequence() {
    local db=$1 conf=$2 out=$3 bin=$4 b failed
    PGDATABASE=$db "$bin" --config "$conf" run --as-of "${DAY}T12:00:00Z" >"$out.run1" 2>&1
    echo "exit $?" >>"$out.run1"
    : >"$out.ack"
    # (batches are local on Citus, batch_items distributed: joined through a subquery)
    for b in $(PGDATABASE=$db sql "SELECT b.batch_id || ':' || b.location FROM lethe.batches b
                                     JOIN (SELECT i.batch_id, min(i.item_id::text) AS first
                                             FROM lethe.batch_items i GROUP BY i.batch_id) x
                                       ON x.batch_id = b.batch_id
                                    WHERE b.state = 'open' ORDER BY b.location, x.first"); do
        failed=
        [ "${b#*:}" = EU ] && failed=$(PGDATABASE=$db sql "SELECT min(i.item_id::text) FROM lethe.batch_items i
                                                            WHERE i.batch_id = '${b%%:*}'")
        b=${b%%:*}
        PGDATABASE=$db "$bin" --config "$conf" ack "$b" ${failed:+--failed "$failed"} --operator compare \
            >>"$out.ack" 2>&1
        echo "exit $?" >>"$out.ack"
    done
    PGDATABASE=$db "$bin" --config "$conf" run >"$out.run2" 2>&1
    echo "exit $?" >>"$out.run2"
    PGDATABASE=$db "$bin" --config "$conf" status >"$out.status" 2>&1
    echo "exit $?" >>"$out.status"
    PGDATABASE=$db "$bin" --config "$conf" export --summary >"$out.summary" 2>&1
    echo "exit $?" >>"$out.summary"
    : >"$out.explain"   # a copy, a held item, a shared one, a copy of a copy, a purged one
    for i in c3/3 i2/2 s1/10 cc4/4 i1/3; do
        PGDATABASE=$db "$bin" --config "$conf" explain "$(PGDATABASE=$db sql "SELECT md5('$i')::uuid")" \
            >>"$out.explain" 2>&1
        echo "exit $?" >>"$out.explain"
    done
}
