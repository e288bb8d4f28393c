-- The shared items of a tenant, purged ones too, through an index of their own.
--
-- A sharing event (an opt-out or an opt-in, however late) makes the run seed the tenant's
-- shared Customer Data items again, purged ones included (their copies inherit the violation):
-- derive_apply() selects `i.tenant_id IN (tenants with a sharing event) AND i.shared`. The only
-- index that led there was items_workspace (tenant_id, ...), so the run read every item of each
-- such tenant from the heap to keep its shared ones: in the bench's steady hourly cycle at 1M
-- items (147 tenants with a sharing event, 44,329 items of which 3,466 shared), that one
-- statement took 772-789 ms of a 10.7-11.2 s run on a fresh copy, and it grows with the size of
-- the tenant, not with its shared items. The same walk answered "has this tenant a shared
-- item?" for every tenant with new items (derive_apply, the tenants left to the expansion).
--
-- items_shared_live_tenant (sql/0017) holds the live shared items only (locator IS NOT NULL);
-- this one holds every shared item, with the columns the seeding reads after the tenant
-- (workspace_id and created_at, which opted_out_at() is given). Measured on the same copies:
-- 147-154 ms for that statement. A producer's insert of a shared item (a copy) maintains one
-- more small index (4.5 MB at 1M items, against 74 MB for items_workspace).

CREATE INDEX items_shared_tenant ON lethe.items (tenant_id, workspace_id, created_at) WHERE shared;
