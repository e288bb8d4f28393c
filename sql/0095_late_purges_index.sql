-- The purges recorded late, found without reading the audit: `lethe status` says how many items
-- were purged after their deadline in the last seven days.
--
-- After an outage past a deadline the deleters recover, the items are purged late, and every
-- operator's view turned green: status --check found nothing overdue any more, and the run and
-- ack lines said "purged". Only the summary and explain said late. A partial index of the
-- purge records not on time (late, held past the deadline, or a copy made while opted out): a
-- few rows, none in a steady state, so writing the audit pays nothing measurable for it.
CREATE INDEX audit_purged_not_on_time ON lethe.audit (at)
    WHERE kind = 'item_purged' AND on_time IS FALSE;
