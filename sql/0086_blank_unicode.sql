-- Blank is blank in any script. A producer's tryout found that:
--   - a locator of nothing but U+200B (zero width space), or U+3000 and U+00A0 (ideographic
--     and no-break spaces), passed items_locator_not_blank (sql/0041), whose [[:space:]] knows
--     ASCII's white space only, and went to the deleter, which failed it at every run: the
--     case 0041 closed for ' ';
--   - a request for the subject ' ' was taken (only '' was refused, sql/0001), and named no
--     one; an item whose owner_id is '' or blank was taken, and no subject's request could
--     ever reach it.
-- Now a locator, an item's owner_id and an event's subject_id (when given) hold a character
-- that is neither white space nor a zero-width or formatting one. NOT VALID: rows already
-- there are not checked (a tombstone clears the locator and the owner; events are never
-- updated). The checks are the table's own, so Citus makes them on every shard.
-- The expression is written out in each check, not called: a function in a check needs
-- EXECUTE of whoever inserts, and producers may call none of lethe's.
ALTER TABLE lethe.items ADD CONSTRAINT items_locator_not_blank_in_any_script
    CHECK (locator ~ '[^[:space:]\u0085\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]')
    NOT VALID;
ALTER TABLE lethe.items ADD CONSTRAINT items_owner_id_not_blank
    CHECK (owner_id ~ '[^[:space:]\u0085\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]')
    NOT VALID;
ALTER TABLE lethe.events ADD CONSTRAINT events_subject_id_not_blank
    CHECK (subject_id ~ '[^[:space:]\u0085\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]')
    NOT VALID;
