-- A live item's locator is at most 65,536 bytes.
--
-- SPEC is silent on a locator's length. A locator is written into its batch's manifest as a JSON
-- string, escaped: a locator of a few hundred megabytes of control characters escapes past the
-- 1 GB a PostgreSQL text value may hold, and the statement that writes the manifest failed for
-- its whole batch, at every run, so that one row kept every item batched with it from its
-- deleter. Storage names are far shorter: an S3 key or an Azure blob name is at most 1,024
-- bytes, a path at most 4,096, a URL a browser takes about 8 KB. 64 KiB is far above any of
-- them and keeps a manifest line (at most six times that, escaped) small.
--
-- NOT VALID, as sql/0041's limits: rows already in the catalog are left as they are; every new
-- row, and every update of a row, is checked. The tombstone (NULL) passes.
ALTER TABLE lethe.items ADD CONSTRAINT items_locator_at_most_65536_bytes
    CHECK (octet_length(locator) <= 65536) NOT VALID;
