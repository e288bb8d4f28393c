-- A request or a hold lost with a restore is recorded again only by one of its own scope.
--
-- After a restore, replay and `status --check` name each request_recorded and hold_placed
-- record whose request or hold the restored catalog lacks (sql/0105). A request counted as
-- recorded again as soon as the tenant had any deletion request under its reference (another
-- item's, another subject's), and a subject hold as placed again by a hold of any subject under
-- its reference: the lost one stayed lost, and every check said ok. The engine now matches the
-- scope exactly (item, workspace or tenant, and a subject by the HMAC in the record that placed
-- or recorded it: engine/dbrestore.c). `lethe request` refuses a reference that already names
-- a request of another scope, so such a request is a producer's: the conflict is left to a
-- person, and status keeps the lost request named.
--
-- The two lookups by hold and by reference read a tenant's whole chain; partial indexes of the
-- few records they look for (holds placed and released, requests recorded) make each a probe.
-- Writing the audit pays for them only on those records.

CREATE INDEX audit_holds ON lethe.audit (tenant_id, hold_id)
    WHERE kind IN ('hold_placed', 'hold_released');
CREATE INDEX audit_requests ON lethe.audit (tenant_id, reference)
    WHERE kind = 'request_recorded';
