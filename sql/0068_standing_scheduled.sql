-- A scheduled item's rule and deadline are those it will be due under.
--
-- SPEC §3: an item's due_at is the earliest due time of its active obligations, and its
-- governing rule the one with the earliest deadline. lethe.standing() (status, explain,
-- item_status) chose the governing obligation among those already triggered at as_of first,
-- so that a due item is never batched under an obligation whose trigger is still ahead; but
-- its due time was the earliest of all, future-dated ones included. A scheduled item (its due
-- time ahead) therefore mixed two obligations: a shared item with a request dated 16 days
-- ahead read "scheduled, shared_retention, due at the request's time, deadline 90 days on",
-- while at that due time it is due under the request, with the request's deadline, 60 days
-- sooner than status's "next deadlines" said (a dry run at that time said so).
--
-- The standing is now judged at the item's due time when that lies ahead: the due time is the
-- earliest due time of an obligation not withdrawn by then (a request cancelled before it
-- comes due, under a configured grace, makes nothing due: it was shown due at its time, and
-- the dry run then batched nothing), and the governing obligation the earliest deadline among
-- those triggered and not withdrawn by greatest(as_of, due time). For a due item (due time
-- <= as_of) every active obligation due by then stands then, and the choice is the one made
-- before: nothing changes for the emission (due_fresh reads standing() for due items only).
-- The window that computed the due time and the choice now take two steps: the choice needs
-- the due time.

DO $standing$
DECLARE
    v_def text;
    v_old constant text := $old$    ), g AS (  -- one sort serves the window and the choice
        SELECT DISTINCT ON (l.tenant_id, l.item_id) l.*, min(l.due_at) OVER w AS item_due
          FROM l
         WHERE l.rule IS NOT NULL
        WINDOW w AS (PARTITION BY l.tenant_id, l.item_id
                     ORDER BY l.triggered_at > p_as_of, l.deadline_at, l.priority, l.obligation_id, l.depth
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
         ORDER BY l.tenant_id, l.item_id, l.triggered_at > p_as_of, l.deadline_at, l.priority,
                  l.obligation_id, l.depth
    ), h AS ($old$;
    v_new constant text := $new$    ), d AS (  -- the item's due time: the earliest of an obligation still standing then
        SELECT l.*, min(l.due_at) FILTER (WHERE l.pinned OR l.withdrawn_at IS NULL
                                                 OR l.withdrawn_at > l.due_at)
                        OVER (PARTITION BY l.tenant_id, l.item_id) AS item_due
          FROM l
         WHERE l.rule IS NOT NULL
    ), g AS (  -- the choice, among the obligations in effect then (sql/0068)
        SELECT DISTINCT ON (d.tenant_id, d.item_id) d.*
          FROM d
         WHERE d.item_due IS NOT NULL
         ORDER BY d.tenant_id, d.item_id,
                  d.triggered_at > greatest(p_as_of, d.item_due)
                      OR (NOT d.pinned AND coalesce(d.withdrawn_at <= greatest(p_as_of, d.item_due), false)),
                  d.deadline_at, d.priority, d.obligation_id, d.depth
    ), h AS ($new$;
BEGIN
    v_def := pg_get_functiondef('lethe.standing(uuid[], uuid[], timestamptz)'::regprocedure);
    IF position(v_old IN v_def) = 0 THEN
        RAISE EXCEPTION 'migration 0068: lethe.standing() no longer chooses as sql/0019 wrote it';
    END IF;
    EXECUTE replace(v_def, v_old, v_new);
END $standing$;
