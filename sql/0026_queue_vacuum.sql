-- The queues are vacuumed whole (issue 14, shape 6: the idle run).
--
-- lethe.inbox_events, lethe.inbox_items and lethe.status_dirty are queues: producers' triggers
-- add a row per change, and a run (or status's refresh) deletes them all. After a large ingest
-- the queue is empty but its files are not: at 1M items, right after the run that consumed
-- them and a VACUUM, inbox_items kept 6,876 empty heap pages and its primary key 4,131 linked
-- leaf pages, and every idle run read them all (an empty inbox cost 9 ms to find empty, the
-- run's DELETE from it a scan of the whole heap). VACUUM had skipped the index: when the
-- pages that still hold dead item identifiers are fewer than 2% of the table, PostgreSQL
-- bypasses index vacuuming, so the index kept its empty leaf pages and the heap its tail. With
-- index cleanup always on, a VACUUM (autovacuum's included) deletes the empty leaf pages and
-- truncates the heap: the same empty inbox took 0.05 ms to read.
ALTER TABLE lethe.inbox_events SET (vacuum_index_cleanup = on);
ALTER TABLE lethe.inbox_items SET (vacuum_index_cleanup = on);
ALTER TABLE lethe.status_dirty SET (vacuum_index_cleanup = on);
