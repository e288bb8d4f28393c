-- Shards along Citus's placement (SPEC §4: "--shard K/N selects work along Citus's own
-- placement"; issue 13).
--
-- A tenant's shard was the first 32 bits of its tenant_id modulo N, a hash Citus does not use:
-- on Citus every shard run touched every Citus shard. Citus places a row by the hash its type's
-- hash opclass gives the distribution column (uuid_hash for tenant_id), the int32 range cut into
-- shard_count equal ranges in order, and shard i on worker i modulo the number of workers (as
-- created, before any rebalancing). The tenant's bucket is now its Citus shard at 32 shards:
--
--     bucket(t)      = (uuid_hash(t) + 2^31) >> 27            (0 .. 31)
--     shard_of(t, N) = bucket(t) mod N
--
-- so that a shard K/N is a set of whole Citus shards for every N up to 32, and with N the
-- number of workers it is the shards worker K was given. lethe lays its tables out with 32
-- shards (citus_layout below). N is at most 32 (run refuses more: the shards above 31 would
-- hold no tenant). On one server the shards are as balanced as before; a tenant may change
-- shard with this migration, which strands nothing: a shard run re-drives the open batches
-- whose tenants all lie in its shard, and a run without --shard every open batch.
-- tests/model/shard_hash.py computes the same from the uuid's bytes (PostgreSQL's hash_bytes).
CREATE OR REPLACE FUNCTION lethe.shard_of(t uuid, n integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (((pg_catalog.uuid_hash(t)::bigint + 2147483648) >> 27) % n)::integer $$;

-- The layout of sql/0011_citus.sql, with 32 shards whatever citus.shard_count says, so that the
-- buckets above are Citus's shards. A database laid out before keeps its shard count.
ALTER FUNCTION lethe.citus_layout() RENAME TO citus_layout_0011;
CREATE FUNCTION lethe.citus_layout() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM set_config('citus.shard_count', '32', true);
    END IF;
    PERFORM lethe.citus_layout_0011();
END $$;
