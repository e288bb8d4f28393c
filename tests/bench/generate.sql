-- The bench catalog generator: set-based (INSERT ... SELECT over generate_series), deterministic
-- (every id and attribute is a hash of a row number), written through the producers' own path
-- (plain INSERTs, so the refusal and inbox triggers run). Loaded into the template database only;
-- it must never be loaded into a real catalog.
--
-- Time line, with G the bench's as_of (fixed when the template is built) and P = G - 1 day:
--   history   items created before P - 1h and the events of phase A (all before P);
--   priming   one `lethe run --as-of P` consumes them, as the previous periodic run would have;
--   phase B   what producers wrote since that run: events in (P, G - 1h) and 0.5% new items.
-- The timed runs then work at --as-of G.

CREATE SCHEMA bench;

CREATE TABLE bench.params (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    items bigint NOT NULL,      -- items in the catalog before phase B
    tenants integer NOT NULL,   -- tenants
    originals bigint NOT NULL,  -- originals; items originals .. items-1 are copies
    g timestamptz NOT NULL,     -- the bench's as_of
    p timestamptz NOT NULL      -- the priming run's as_of
);

-- A non-negative hash of a row number, salted per attribute.
CREATE FUNCTION bench.h(i bigint, salt integer) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT hashint8extended(i, salt::bigint) & 9223372036854775807 $$;

CREATE FUNCTION bench.tenant(t bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT md5('tenant/' || t)::uuid $$;
CREATE FUNCTION bench.workspace(t bigint, w bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT md5('workspace/' || t || '/' || w)::uuid $$;
CREATE FUNCTION bench.item(i bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT md5('item/' || i)::uuid $$;
-- 1 to 3 workspaces per tenant.
CREATE FUNCTION bench.nws(t bigint) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (1 + bench.h(t, 1) % 3)::integer $$;
-- Geos weighted as a customer base might be: US 40%, EU 35%, UK 15%, ANZ 10%.
CREATE FUNCTION bench.geo(x bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN x % 100 < 40 THEN 'US' WHEN x % 100 < 75 THEN 'EU'
               WHEN x % 100 < 90 THEN 'UK' ELSE 'ANZ' END $$;
-- A tenant's bucket (0-199) decides which events and holds it gets.
CREATE FUNCTION bench.bucket(t bigint) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (bench.h(t, 20) % 200)::integer $$;
CREATE FUNCTION bench.subject(t bigint, k bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 'user' || k || '@tenant' || t $$;

CREATE FUNCTION bench.setup(p_n bigint, p_g timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO bench.params (items, tenants, originals, g, p)
    SELECT p_n, greatest(20, p_n / 300), (p_n * 85 / 100 / greatest(20, p_n / 300)) * greatest(20, p_n / 300),
           p_g, p_g - interval '1 day';
    INSERT INTO lethe.tenants (tenant_id, name, created_at)
    SELECT bench.tenant(t), 'tenant ' || t, p_g - interval '800 days'
      FROM bench.params, generate_series(0, params.tenants - 1) t;
    INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo, created_at)
    SELECT bench.tenant(t), bench.workspace(t, w), bench.geo(bench.h(t * 4 + w, 2)),
           p_g - interval '800 days'
      FROM bench.params, generate_series(0, params.tenants - 1) t, generate_series(0, bench.nws(t) - 1) w;
$$;

-- Originals lo .. hi-1: every kind, spread over two years, stored in their workspace's geo.
CREATE FUNCTION bench.originals(lo bigint, hi bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                             shared, parent_id, created_at, bytes)
    SELECT bench.tenant(x.t), bench.item(x.i), bench.workspace(x.t, x.w),
           CASE WHEN x.kind <> 'system_log' THEN bench.subject(x.t, bench.h(x.i, 5) % 20) END,
           x.kind, x.geo, 'store://' || x.geo || '/' || bench.tenant(x.t) || '/' || bench.item(x.i),
           false, NULL, x.created_at, bench.h(x.i, 11) % 200000
      FROM (SELECT i, i % pr.tenants AS t, w, bench.geo(bench.h((i % pr.tenants) * 4 + w, 2)) AS geo,
                   CASE WHEN k < 30 THEN 'prompt' WHEN k < 58 THEN 'response' WHEN k < 63 THEN 'pinned'
                        WHEN k < 75 THEN 'upload' WHEN k < 85 THEN 'm365' WHEN k < 92 THEN 'system_log'
                        ELSE 'retrieved' END AS kind,
                   pr.p - interval '1 hour' - (bench.h(i, 6) % (720 * 86400)) * interval '1 second' AS created_at
              FROM bench.params pr, generate_series(lo, hi - 1) i,
                   LATERAL (SELECT bench.h(i, 3) % bench.nws(i % pr.tenants) AS w, bench.h(i, 4) % 100 AS k) a) x;
$$;

-- Copies lo .. hi-1 of items already inserted: shared copies (about half) and derived ones,
-- 60% of them stored in another geo. The first half of the copies copy originals; the second
-- half copy either an original or a copy from the first half, so lineage is two deep.
CREATE FUNCTION bench.copies(lo bigint, hi bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                             shared, parent_id, created_at, bytes)
    SELECT p.tenant_id, bench.item(x.i), p.workspace_id, p.owner_id, x.kind, x.geo,
           'store://' || x.geo || '/' || p.tenant_id || '/' || bench.item(x.i),
           x.kind <> 'system_log' AND bench.h(x.i, 8) % 100 < 55, p.item_id,
           least(p.created_at + (bench.h(x.i, 10) % (30 * 86400)) * interval '1 second',
                 x.cap),
           bench.h(x.i, 11) % 200000
      FROM (SELECT c.i, c.parent, c.cap,
                   CASE WHEN bench.h(c.i, 9) % 100 < 60 THEN bench.geo(bench.h(c.i, 12)) END AS other_geo
              FROM (SELECT i, pr.p - interval '1 hour' AS cap,
                           CASE WHEN i >= pr.originals + (pr.items - pr.originals) / 2 AND bench.h(i, 13) % 2 = 0
                                     AND pr.originals + ((i % pr.tenants) - pr.originals % pr.tenants + pr.tenants) % pr.tenants
                                         + (bench.h(i, 7) % greatest(1, (pr.items - pr.originals) / 2 / pr.tenants - 1)) * pr.tenants
                                         < pr.originals + (pr.items - pr.originals) / 2
                                THEN pr.originals + ((i % pr.tenants) - pr.originals % pr.tenants + pr.tenants) % pr.tenants
                                     + (bench.h(i, 7) % greatest(1, (pr.items - pr.originals) / 2 / pr.tenants - 1)) * pr.tenants
                                ELSE (bench.h(i, 7) % (pr.originals / pr.tenants)) * pr.tenants + i % pr.tenants END AS parent
                      FROM bench.params pr, generate_series(lo, hi - 1) i) c) x0
      JOIN lethe.items p ON p.tenant_id = bench.tenant(x0.parent % (SELECT tenants FROM bench.params))
                        AND p.item_id = bench.item(x0.parent)
      CROSS JOIN LATERAL (SELECT x0.i, x0.cap,
                                 CASE p.kind WHEN 'upload' THEN 'retrieved' WHEN 'm365' THEN 'retrieved'
                                      ELSE p.kind END AS kind,
                                 coalesce(x0.other_geo, p.location) AS geo) x;
$$;

-- Phase A: the history the priming run consumes. Buckets (bench.bucket) pick the tenants.
CREATE FUNCTION bench.history() RETURNS void LANGUAGE sql AS $$
    -- sharing: opted out and back in long ago; opted out for good 200 days ago; one workspace
    -- opted out and back in; Microsoft 365 access revoked, and for half of those granted again
    INSERT INTO lethe.events (tenant_id, type, workspace_id, occurred_at)
    SELECT bench.tenant(t), e.type, e.ws, pr.p - e.ago
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t,
           LATERAL (VALUES
               (bench.bucket(t) BETWEEN 100 AND 119, 'sharing_opted_out', NULL::uuid, interval '400 days'),
               (bench.bucket(t) BETWEEN 100 AND 119, 'sharing_opted_in', NULL, interval '300 days'),
               (bench.bucket(t) BETWEEN 120 AND 123, 'sharing_opted_out', NULL, interval '200 days'),
               (bench.bucket(t) BETWEEN 124 AND 129, 'sharing_opted_out', bench.workspace(t, 0), interval '100 days'),
               (bench.bucket(t) BETWEEN 124 AND 129, 'sharing_opted_in', bench.workspace(t, 0), interval '50 days'),
               (bench.bucket(t) BETWEEN 130 AND 149, 'm365_access_revoked', NULL, interval '100 days'),
               (bench.bucket(t) BETWEEN 130 AND 139, 'm365_access_granted', NULL, interval '90 days'),
               (bench.bucket(t) BETWEEN 150 AND 153, 'capacity_deleted', NULL, interval '60 days'),
               (bench.bucket(t) BETWEEN 150 AND 153, 'capacity_provisioned', NULL, interval '59 days'))
               AS e(want, type, ws, ago)
     WHERE e.want
     ORDER BY 3 IS NOT NULL, pr.p - e.ago;
    -- requests: tenant-wide ones cancelled the next day; subject requests honoured
    INSERT INTO lethe.events (tenant_id, type, subject_id, occurred_at, reference)
    SELECT bench.tenant(t), 'deletion_requested', NULL, pr.p - interval '10 days', 'REQ-A-' || t
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t WHERE bench.bucket(t) BETWEEN 154 AND 159
    UNION ALL
    SELECT bench.tenant(t), 'deletion_requested', bench.subject(t, bench.h(t, 30) % 20),
           pr.p - interval '5 days', 'DSR-A-' || t
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t WHERE bench.bucket(t) BETWEEN 160 AND 164;
    INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
    SELECT bench.tenant(t), 'deletion_cancelled', pr.p - interval '9 days', 'REQ-A-' || t
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t WHERE bench.bucket(t) BETWEEN 154 AND 159;
    -- single items deleted in the portal over the last three weeks (one per 1000 items), never
    -- before the item was created (the catalog refuses that: sql/0080)
    INSERT INTO lethe.events (tenant_id, type, item_id, occurred_at, reference)
    SELECT bench.tenant(i % pr.tenants), 'deletion_requested', bench.item(i),
           greatest(pr.p - (bench.h(k, 41) % (20 * 86400)) * interval '1 second' - interval '1 hour',
                    pr.p - interval '1 hour' - (bench.h(i, 6) % (720 * 86400)) * interval '1 second'),
           'ITEM-A-' || k
      FROM bench.params pr, generate_series(0, pr.items / 1000 - 1) k,
           LATERAL (SELECT bench.h(k, 40) % pr.originals AS i) x;
    -- holds placed a month ago: tenant-wide, one workspace, one subject, single items (in
    -- tenants that ask for deletions below); some released since
    INSERT INTO lethe.holds (tenant_id, workspace_id, subject_id, item_id, reason, reference, placed_at)
    SELECT bench.tenant(t), NULL::uuid, NULL::text, NULL::uuid, 'litigation', 'LIT-' || t, pr.p - interval '30 days'
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t
     WHERE (bench.bucket(t) = 0 AND bench.h(t, 21) % 4 = 0) OR bench.bucket(t) = 1
    UNION ALL
    SELECT bench.tenant(t), bench.workspace(t, 0), NULL, NULL, 'investigation', 'INV-' || t, pr.p - interval '30 days'
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t WHERE bench.bucket(t) = 5
    UNION ALL
    SELECT bench.tenant(t), NULL, bench.subject(t, bench.h(t, 31) % 20), NULL, 'dispute', 'DSP-' || t,
           pr.p - interval '30 days'
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t WHERE bench.bucket(t) = 13
    UNION ALL
    SELECT bench.tenant(x.i % pr.tenants), NULL, NULL, bench.item(x.i), 'preservation', 'PRS-' || k,
           pr.p - interval '30 days'
      FROM bench.params pr, generate_series(0, pr.items / 500 - 1) k,
           LATERAL (SELECT bench.h(k, 42) % pr.originals AS i) x
     WHERE bench.bucket(x.i % pr.tenants) BETWEEN 0 AND 11;
    UPDATE lethe.holds SET released_at = (SELECT p - interval '1 day' FROM bench.params)
     WHERE reason = 'litigation' AND tenant_id IN (
           SELECT bench.tenant(t) FROM bench.params pr, generate_series(0, pr.tenants - 1) t
            WHERE bench.bucket(t) = 1);
$$;

-- Phase B, events: what producers recorded since the priming run, at G - 23h .. G - 1h.
CREATE FUNCTION bench.recent_events() RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.events (tenant_id, type, workspace_id, subject_id, occurred_at, reference)
    SELECT bench.tenant(t), e.type, e.ws, e.subj, pr.p + e.after, e.ref
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t,
           LATERAL (SELECT bench.bucket(t) AS b) bk,
           LATERAL (VALUES
               (bk.b BETWEEN 0 AND 3, 'capacity_deleted', NULL::uuid, NULL::text, interval '2 hours', NULL::text),
               (bk.b BETWEEN 4 AND 6, 'deletion_requested', NULL, NULL, interval '3 hours', 'REQ-T-' || t),
               (bk.b BETWEEN 7 AND 11, 'deletion_requested', bench.workspace(t, 0), NULL, interval '4 hours', 'REQ-W-' || t),
               (bk.b BETWEEN 12 AND 21, 'deletion_requested', NULL, bench.subject(t, bench.h(t, 31) % 20),
                    interval '5 hours', 'DSR-' || t),
               (bk.b BETWEEN 22 AND 27, 'sharing_opted_out', CASE WHEN bk.b >= 25 THEN bench.workspace(t, 0) END,
                    NULL, interval '6 hours', NULL),
               (bk.b BETWEEN 28 AND 29, 'capacity_deleted', NULL, NULL, interval '7 hours', NULL),
               (bk.b BETWEEN 28 AND 29, 'capacity_provisioned', NULL, NULL, interval '8 hours', NULL),
               (bk.b BETWEEN 30 AND 33, 'deletion_requested', NULL, NULL, interval '9 hours', 'REQ-C-' || t),
               (bk.b BETWEEN 34 AND 36, 'm365_access_revoked', NULL, NULL, interval '10 hours', NULL),
               (bk.b BETWEEN 34 AND 35, 'm365_access_granted', NULL, NULL, interval '11 hours', NULL),
               (bk.b BETWEEN 37 AND 39, 'sharing_opted_in', NULL, NULL, interval '12 hours', NULL))
               AS e(want, type, ws, subj, after, ref)
     WHERE e.want
     ORDER BY pr.p + e.after;
    INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
    SELECT bench.tenant(t), 'deletion_cancelled', pr.p + interval '13 hours', 'REQ-C-' || t
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t WHERE bench.bucket(t) BETWEEN 30 AND 33;
    -- single items deleted in the portal since the last run (one per 2000 items)
    INSERT INTO lethe.events (tenant_id, type, item_id, occurred_at, reference)
    SELECT bench.tenant(i % pr.tenants), 'deletion_requested', bench.item(i),
           pr.p + (bench.h(k, 44) % (22 * 3600)) * interval '1 second', 'ITEM-B-' || k
      FROM bench.params pr, generate_series(0, pr.items / 2000 - 1) k,
           LATERAL (SELECT bench.h(k, 43) % pr.originals AS i) x
     WHERE bench.bucket(i % pr.tenants) >= 40;
$$;

-- Phase B, items: 0.5% new items created since the priming run, a third of them shared copies
-- of older items (in tenants opted out for good, such a copy is a violation).
CREATE FUNCTION bench.recent_items() RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                             shared, parent_id, created_at, bytes)
    SELECT x.tenant_id, bench.item(x.i), coalesce(p.workspace_id, x.ws),
           coalesce(p.owner_id, bench.subject(x.t, bench.h(x.i, 5) % 20)),
           CASE WHEN p.item_id IS NULL THEN 'prompt' WHEN p.kind IN ('upload', 'm365') THEN 'retrieved'
                ELSE p.kind END,
           coalesce(CASE WHEN p.item_id IS NULL THEN x.ws_geo ELSE bench.geo(bench.h(x.i, 12)) END),
           'store://new/' || x.tenant_id || '/' || bench.item(x.i),
           p.item_id IS NOT NULL AND p.kind <> 'system_log', p.item_id, x.created_at,
           bench.h(x.i, 11) % 200000
      FROM (SELECT i, i % pr.tenants AS t, bench.tenant(i % pr.tenants) AS tenant_id,
                   bench.workspace(i % pr.tenants, 0) AS ws, bench.geo(bench.h((i % pr.tenants) * 4, 2)) AS ws_geo,
                   pr.p + (bench.h(i, 6) % (22 * 3600)) * interval '1 second' AS created_at,
                   CASE WHEN bench.h(i, 14) % 3 = 0
                        THEN (bench.h(i, 7) % (pr.originals / pr.tenants)) * pr.tenants + i % pr.tenants END AS parent
              FROM bench.params pr, generate_series(pr.items, pr.items + pr.items / 200 - 1) i) x
      LEFT JOIN lethe.items p ON p.tenant_id = x.tenant_id AND p.item_id = bench.item(x.parent);
$$;
