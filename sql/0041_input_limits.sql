-- What producers and operators write, bounded where the catalog could not use it otherwise.
--
-- 1. Identifiers and references at most 1024 bytes.
--
-- A producer's event whose reference, or an item whose owner_id, was longer than a btree index
-- row may be (about 2.7 KB, more when the text compresses) was refused by PostgreSQL deep in
-- its index ("index row requires 9032 bytes, maximum size is 8191", naming no column), and
-- `lethe request --reference` with such a reference failed the same way with exit 1, as a
-- runtime failure. SPEC is silent on their length. A reference names a ticket or a request, an
-- owner or a subject names an account: 1024 bytes is far above any of them, and far below what
-- an index refuses. The database refuses longer ones by a constraint that says what it is, on
-- the columns producers and operators write:
--   events.reference, events.subject_id, items.owner_id, holds.reference, holds.subject_id.
-- The subject ids are capped with the owner ids they are compared with (a subject request covers
-- the items with owner_id = subject_id): a longer subject could match no item. Free text (a
-- hold's reason, an event's type by its foreign key, a locator) is not capped here.
--
-- NOT VALID: rows already in the catalog are left as they are (they were accepted, and events
-- are append-only); every new row, and every update of a row, is checked. An item's tombstone
-- clears owner_id, which the check lets through. The command line refuses the same values before
-- it connects (exit 2, engine/cli.c).
ALTER TABLE lethe.events ADD CONSTRAINT events_reference_at_most_1024_bytes
    CHECK (octet_length(reference) <= 1024) NOT VALID;
ALTER TABLE lethe.events ADD CONSTRAINT events_subject_id_at_most_1024_bytes
    CHECK (octet_length(subject_id) <= 1024) NOT VALID;
ALTER TABLE lethe.items ADD CONSTRAINT items_owner_id_at_most_1024_bytes
    CHECK (octet_length(owner_id) <= 1024) NOT VALID;
ALTER TABLE lethe.holds ADD CONSTRAINT holds_reference_at_most_1024_bytes
    CHECK (octet_length(reference) <= 1024) NOT VALID;
ALTER TABLE lethe.holds ADD CONSTRAINT holds_subject_id_at_most_1024_bytes
    CHECK (octet_length(subject_id) <= 1024) NOT VALID;

-- 2. A hold's times lie in [1970-01-01, 3000-01-01), as an item's and an event's do (0037) (a
-- release before the placing is refused already: holds_release_after_placing). lethe.hold_place() and lethe.hold_release()
-- take the time they run at; a row written otherwise (by the owner, by hand) with a placed_at of
-- 4713 BC or infinity was shown by `hold list` as released, or with no time, while explain and
-- status took it as in effect.
ALTER TABLE lethe.holds ADD CONSTRAINT holds_placed_at_from_1970_to_2999
    CHECK (placed_at >= '1970-01-01 00:00:00+00' AND placed_at < '3000-01-01 00:00:00+00') NOT VALID;
ALTER TABLE lethe.holds ADD CONSTRAINT holds_released_at_before_3000
    CHECK (released_at < '3000-01-01 00:00:00+00') NOT VALID;

-- 3. A live item's locator names something: an empty or blank one ('' or ' ') was accepted, and
-- its deleter failed it at every run ("not a file:// locator"), overdue for ever. The tombstone
-- (NULL) is not a locator.
ALTER TABLE lethe.items ADD CONSTRAINT items_locator_not_blank
    CHECK (locator ~ '[^[:space:]]') NOT VALID;
