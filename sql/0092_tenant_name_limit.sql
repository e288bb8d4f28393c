-- A tenant's name at most 1024 bytes, as every other text a producer writes (sql/0041).
--
-- A producer could name a tenant with 540 MB: every listing that shows tenants' names (`lethe
-- batches`, status) then failed ("result of encoding conversion is too large", exit 1), for every
-- tenant, and each run's summary carried it. A name is for a person to read next to the tenant's
-- id. NOT VALID, as in sql/0041: names already there stay; every new row and every update is
-- checked.
ALTER TABLE lethe.tenants ADD CONSTRAINT tenants_name_at_most_1024_bytes
    CHECK (octet_length(name) <= 1024) NOT VALID;
