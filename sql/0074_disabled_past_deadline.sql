-- What a disabled rule leaves past its deadline.
--
-- A rule disabled in the config (enabled = false) still records its obligations, and they are
-- never due while it is off (README). Nothing said so once their deadline had passed: status
-- listed no such item as overdue (it has no governing obligation), --check passed, and the
-- published commitment (deleted within 30 days of a request, within 180 days of a capacity
-- deletion) was broken in silence until someone enabled the rule again.
--
-- lethe.disabled_past_deadline(as_of) gives, for each rule that is disabled, what is past the
-- deadline that rule would have set and is not purged, in an open batch or held:
--   - an obligation of a disabled rule (a request, a capacity deletion, an opt-out) that is not
--     withdrawn by as_of and whose deadline (triggered_at + the rule's deadline, as lineage()
--     computes it) has passed: one row per obligation, with the number of its items in scope;
--   - shared_retention disabled: one row for the shared items whose retention deadline has
--     passed (created_at + deadline), with their number and the earliest such deadline.
-- "In scope" is the obligation's own scope (tenant, workspace, subject, item, shared only),
-- Customer Data kinds only, as the derivation expands it; copies reached only through their
-- lineage are not looked for (their sources are what the obligation names). An item an active
-- hold covers directly (tenant, workspace, subject or the item itself) is held, and not counted.
--
-- It reads the tables only for a rule that is disabled: with every rule enabled it reads the six
-- rows of lethe.rules and stops (and status does not call it). Run by status, whose roles read
-- these tables already; no SECURITY DEFINER. PL/pgSQL, so that Citus plans its statement with
-- the instant given (it cannot plan an SQL function's statement that reads distributed tables).

CREATE FUNCTION lethe.disabled_past_deadline(p_as_of timestamptz)
RETURNS TABLE (rule text, tenant_id uuid, obligation_id bigint, reference text,
               deadline_at timestamptz, items bigint)
LANGUAGE plpgsql STABLE
SET search_path = lethe, pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH off AS MATERIALIZED (
        SELECT r.rule, r.deadline FROM lethe.rules r WHERE NOT r.enabled
    ), cd AS MATERIALIZED (
        SELECT array_agg(k.kind) AS kinds FROM lethe.kinds k WHERE k.customer_data
    ), cand AS (  -- the items past a disabled rule's deadline, with what they count under
        SELECT o.rule, o.tenant_id AS shown_tenant, o.obligation_id, o.reference,
               o.triggered_at + off.deadline AS deadline_at, i.tenant_id, i.item_id, i.kind,
               i.workspace_id, i.owner_id, i.owner_digest
          FROM off
          JOIN lethe.obligations o ON o.rule = off.rule
          JOIN lethe.items i ON i.tenant_id = o.tenant_id AND i.created_at <= o.covers_until
         WHERE o.triggered_at + off.deadline < p_as_of
           AND (o.withdrawn_at IS NULL OR o.withdrawn_at > p_as_of)
           AND i.locator IS NOT NULL
           AND (o.workspace_id IS NULL OR i.workspace_id = o.workspace_id)
           AND lethe.subject_covers(o.subject_id, o.tenant_id, i.owner_id, i.owner_digest)
           AND (o.item_id IS NULL OR i.item_id = o.item_id)
           AND (NOT o.shared_only OR i.shared)
        UNION ALL
        SELECT off.rule, NULL, NULL, NULL, i.created_at + off.deadline, i.tenant_id, i.item_id,
               i.kind, i.workspace_id, i.owner_id, i.owner_digest
          FROM off
          JOIN lethe.items i
            -- items_shared_due; a month is at most 3 days longer than the same month back
            ON (CASE WHEN i.shared THEN i.created_at END) < p_as_of - off.deadline + interval '4 days'
           AND i.shared AND i.locator IS NOT NULL
         WHERE off.rule = 'shared_retention' AND i.created_at + off.deadline < p_as_of
    )
    SELECT c.rule, c.shown_tenant, c.obligation_id, c.reference, min(c.deadline_at), count(*)
      FROM cand c
     WHERE c.kind = ANY ((SELECT cd.kinds FROM cd)::text[])
       AND NOT EXISTS (SELECT 1 FROM lethe.batch_items b
                        WHERE b.tenant_id = c.tenant_id AND b.item_id = c.item_id
                          AND b.outcome IS NULL)
       AND NOT EXISTS (SELECT 1 FROM lethe.holds h
                        WHERE h.tenant_id = c.tenant_id
                          AND h.placed_at <= p_as_of
                          AND (h.released_at IS NULL OR h.released_at > p_as_of)
                          AND (h.workspace_id IS NULL OR h.workspace_id = c.workspace_id)
                          AND lethe.subject_covers(h.subject_id, h.tenant_id, c.owner_id,
                                                   c.owner_digest)
                          AND (h.item_id IS NULL OR h.item_id = c.item_id))
     GROUP BY c.rule, c.shown_tenant, c.obligation_id, c.reference;
END
$$;
REVOKE ALL ON FUNCTION lethe.disabled_past_deadline(timestamptz) FROM PUBLIC;
