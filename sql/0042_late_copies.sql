-- A copy committed late is purged however the run that first sees it judges its obligation.
--
-- An obligation is expanded into item rows (item_obligations) once, by the first run at whose
-- as_of it is due; items committed after that get their rows from seed_from_lineage(), which
-- (sql/0007_lineage.sql) seeded only what lineage() made due at the as_of of the run that first
-- saw the item. A copy inside an expanded request's scope (created before the request, SPEC §3:
-- covered even when a producer inserts it after the engine processed the event) that was first
-- seen by a run at which the request was not due got no row, and no later run looked at it
-- again: the request was expanded already. Three ordinary things made a run see it so: the rule
-- disabled in the config for a while, its grace or deadline lengthened for a while, a run with an
-- --as-of before the due time. The copy was then kept for good, and status counted it nowhere
-- (not due, not overdue).
--
-- Now a new item (and an item whose rows a withdrawal took) is seeded with every obligation of
-- its lineage that is expanded and not withdrawn by the run's as_of, due or not, and with every
-- purged ancestor's obligation (pinned), whatever its rule's state: rows are what covers an
-- item, and whether it is due is judged at each emission (due_fresh() evaluates every row's item
-- at its own run's as_of and rules). The invariant of 0007 becomes: every live Customer Data item
-- that an expanded, unwithdrawn obligation covers through its lineage, or that lineage() makes
-- due at the run's as_of, has a row. Such a row of an item not due yet makes an idle run take the
-- full way (its emission evaluates the item), as any row does.
CREATE OR REPLACE FUNCTION lethe.seed_from_lineage(p_tenants uuid[], p_items uuid[], p_as_of timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Planning lineage() costs more than an idle run's whole derivation: only when needed.
    IF coalesce(cardinality(p_items), 0) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO seeds (tenant_id, item_id, rule, obligation_id, triggered_at, depth)
    SELECT DISTINCT ON (l.tenant_id, l.item_id, l.rule, l.obligation_id)
           l.tenant_id, l.item_id, l.rule, l.obligation_id, l.triggered_at, 0
      FROM lethe.lineage(p_tenants, p_items, p_as_of, true) l
     WHERE (l.active AND l.due_at <= p_as_of) OR l.in_flight OR l.pinned
        OR (l.obligation_id <> 0 AND (l.withdrawn_at IS NULL OR l.withdrawn_at > p_as_of)
            AND EXISTS (SELECT 1 FROM lethe.obligations o
                         WHERE o.tenant_id = l.tenant_id AND o.obligation_id = l.obligation_id
                           AND o.expanded_at IS NOT NULL))
     ORDER BY l.tenant_id, l.item_id, l.rule, l.obligation_id, l.triggered_at
    ON CONFLICT DO NOTHING;
END $$;
