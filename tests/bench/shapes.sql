-- The bench matrix's shapes of work (issue 14), loaded with generate.sql into the template
-- database only. Each function is what producers write between two runs for one shape, through
-- their own path (plain INSERTs, every trigger running), on a copy of the steady catalog (the
-- template after one full cycle at G). Every event is dated G - 30 min and every new item
-- G - 1 h or earlier, so that the timed runs at --as-of G find the work due at once.

-- A new tenant of the bench's own (its ids do not collide with generate.sql's) with workspaces
-- 'a' and 'b', both in EU.
CREATE FUNCTION bench.shape_tenant(name text) RETURNS uuid LANGUAGE sql AS $$
    INSERT INTO lethe.tenants (tenant_id, name, created_at)
    SELECT md5('shape/' || name)::uuid, 'shape ' || name, g - interval '800 days' FROM bench.params;
    INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo, created_at)
    SELECT md5('shape/' || name)::uuid, md5('shape/' || name || '/' || w)::uuid, 'EU', g - interval '800 days'
      FROM bench.params, (VALUES ('a'), ('b')) v(w);
    SELECT md5('shape/' || name)::uuid;
$$;

-- n fresh originals of tenant NAME in workspace W, created in the hour before G - 1 h.
CREATE FUNCTION bench.shape_items(name text, w text, n bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                             shared, parent_id, created_at, bytes)
    SELECT md5('shape/' || name)::uuid, md5('shape/' || name || '/item/' || i)::uuid,
           md5('shape/' || name || '/' || w)::uuid, 'user' || (i % 20) || '@' || name,
           CASE WHEN i % 2 = 0 THEN 'prompt' ELSE 'response' END, 'EU',
           'store://EU/' || name || '/' || i, false, NULL,
           g - interval '1 hour' - (i % 3600) * interval '1 second', 1000
      FROM bench.params, generate_series(0, n - 1) i;
$$;

-- 2. One tenant-wide request over n freshly ingested items of one tenant.
CREATE FUNCTION bench.shape_tenant_request(n bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bench.shape_tenant('tenantwide');
    PERFORM bench.shape_items('tenantwide', 'a', n);
    INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
    SELECT md5('shape/tenantwide')::uuid, 'deletion_requested', g - interval '30 minutes', 'BENCH-TENANT'
      FROM bench.params;
END $$;

-- 3. Capacity deleted in k tenants of the catalog (spread over it).
CREATE FUNCTION bench.shape_capacity(k bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.events (tenant_id, type, occurred_at)
    SELECT bench.tenant(t), 'capacity_deleted', pr.g - interval '30 minutes'
      FROM bench.params pr, generate_series(0, pr.tenants - 1) t
     WHERE t % greatest(1, pr.tenants / k) = 0 AND t / greatest(1, pr.tenants / k) < k;
$$;

-- 4. s subject requests, spread over the tenants (subject j % tenants of tenant j / tenants).
CREATE FUNCTION bench.shape_subjects(s bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO lethe.events (tenant_id, type, subject_id, occurred_at, reference)
    SELECT bench.tenant(j % pr.tenants), 'deletion_requested', bench.subject(j % pr.tenants, (j / pr.tenants) % 20),
           pr.g - interval '30 minutes', 'BENCH-SUBJ-' || j
      FROM bench.params pr, generate_series(0, s - 1) j;
$$;

-- 5. Lineage five levels deep: m originals in workspace a, then five levels of copies in
-- workspace b, each copying the level above; a request on workspace a covers the copies only
-- through parent_id.
CREATE FUNCTION bench.shape_lineage(m bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bench.shape_tenant('lineage');
    PERFORM bench.shape_items('lineage', 'a', m);
    FOR lvl IN 1 .. 5 LOOP
        INSERT INTO lethe.items (tenant_id, item_id, workspace_id, owner_id, kind, location, locator,
                                 shared, parent_id, created_at, bytes)
        SELECT md5('shape/lineage')::uuid, md5('shape/lineage/copy/' || lvl || '/' || i)::uuid,
               md5('shape/lineage/b')::uuid, NULL, 'response', 'EU', 'store://EU/lineage/' || lvl || '/' || i,
               false,
               CASE WHEN lvl = 1 THEN md5('shape/lineage/item/' || i)::uuid
                    ELSE md5('shape/lineage/copy/' || (lvl - 1) || '/' || i)::uuid END,
               g - interval '1 hour' + lvl * interval '1 second', 1000
          FROM bench.params, generate_series(0, m - 1) i;
    END LOOP;
    INSERT INTO lethe.events (tenant_id, type, workspace_id, occurred_at, reference)
    SELECT md5('shape/lineage')::uuid, 'deletion_requested', md5('shape/lineage/a')::uuid,
           g - interval '30 minutes', 'BENCH-LINEAGE'
      FROM bench.params;
END $$;

-- 6. h items due under a tenant-wide request but held by a tenant-wide hold.
CREATE FUNCTION bench.shape_held(h bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bench.shape_tenant('held');
    PERFORM bench.shape_items('held', 'a', h);
    INSERT INTO lethe.holds (tenant_id, reason, reference, placed_at)
    SELECT md5('shape/held')::uuid, 'litigation', 'BENCH-HOLD', g - interval '45 minutes' FROM bench.params;
    INSERT INTO lethe.events (tenant_id, type, occurred_at, reference)
    SELECT md5('shape/held')::uuid, 'deletion_requested', g - interval '30 minutes', 'BENCH-HELD'
      FROM bench.params;
END $$;
