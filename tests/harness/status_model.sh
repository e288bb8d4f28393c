# The independent check of status (sourced by the suites that compare status with the truth):
# status_says prints what `lethe status --json` says, status_truth the same worked out from
# lethe.item_status, one line each, in an order of their own (compare them sorted):
#   RULE STATE N           items per rule and state (scheduled, due, held, in_flight; no zeros)
#   overdue N              past the deadline, not kept past it by a hold, not a violation
#   held past deadline N [ITEMS]   and the items status lists, in its order: held, and a hold
#                          was in effect at the deadline (the one keeping it, or one that
#                          blocked it before): SPEC §3, as ack_batch records the purge
#   violations N           shared copies made while opted out, not purged yet
#   next TENANT ITEM STATE the first ten next deadlines, in status's order
# Needs LETHE, CONF and sql (tests/harness/lib.sh).
status_says() {
    "$LETHE" --config "$CONF" status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for c in d["counts"]:
    for s in ("scheduled", "due", "held", "in_flight"):
        if c[s]:
            print(c["rule"], s, c[s])
print("overdue", d["overdue"]["count"])
print(("held past deadline %d " % d["held_past_deadline"]["count"]
       + " ".join(i["item_id"] for i in d["held_past_deadline"]["items"])).rstrip())
print("violations", d["violations"]["pending"])
for n, i in enumerate(d["next_deadlines"][:10]):
    print("next %02d %s %s %s" % (n, i["tenant_id"], i["item_id"], i["state"]))'
}
status_truth() {
    sql "WITH s AS (SELECT * FROM lethe.item_status
                     WHERE state IN ('scheduled', 'due', 'held', 'in_flight')),
         p AS (SELECT s.*, s.state = 'held' AND s.deadline_at < now()
                           AND EXISTS (SELECT 1 FROM lethe.holds y
                                        WHERE y.tenant_id = s.tenant_id
                                          AND y.placed_at <= s.deadline_at
                                          AND (y.released_at IS NULL OR y.released_at > s.deadline_at)
                                          AND (y.hold_id = s.hold_id
                                               OR y.hold_id IN (SELECT b.hold_id FROM lethe.hold_blocks b
                                                                 WHERE b.tenant_id = s.tenant_id
                                                                   AND b.item_id = s.item_id))) AS kept
                 FROM s)
         SELECT rule || ' ' || state || ' ' || count(*) FROM p GROUP BY rule, state
         UNION ALL
         SELECT 'overdue ' || count(*) FROM p
          WHERE deadline_at < now() AND NOT kept AND rule <> 'shared_while_opted_out'
         UNION ALL
         SELECT 'held past deadline ' || count(*) || ' '
                || coalesce(string_agg(item_id::text, ' ' ORDER BY deadline_at, tenant_id, item_id), '')
           FROM p WHERE kept
         UNION ALL
         SELECT 'violations ' || count(*) FROM p WHERE rule = 'shared_while_opted_out'
         UNION ALL
         SELECT 'next ' || lpad((row_number() OVER (ORDER BY deadline_at, tenant_id, item_id) - 1)::text, 2, '0')
                || ' ' || tenant_id || ' ' || item_id || ' ' || state
           FROM (SELECT * FROM p WHERE deadline_at >= now()
                  ORDER BY deadline_at, tenant_id, item_id LIMIT 10) n" | sed 's/ *$//'
}
