-- As migrations/sqlite/0004_access_covering.sql: the relationship index carries the window, so the access
-- check can be answered from the index alone.
CREATE INDEX access_relation_grant ON access_relation (person_key, party, kind) INCLUDE (start_ms, until_ms);
DROP INDEX access_relation_person;
