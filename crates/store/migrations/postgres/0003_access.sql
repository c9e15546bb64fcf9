-- What the access decision reads inside every query: the tables of migrations/sqlite/0003_access.sql in
-- PostgreSQL types (which organisation recorded each version, whether it is restricted, and the care
-- relationships the resources state, kept current on every write).
ALTER TABLE resource_version ADD COLUMN recorded_by TEXT COLLATE "C";
ALTER TABLE resource_version ADD COLUMN restricted SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE resource_current ADD COLUMN recorded_by TEXT COLLATE "C";
ALTER TABLE resource_current ADD COLUMN restricted SMALLINT NOT NULL DEFAULT 0;

CREATE TABLE access_relation (
    resource_type TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    n             INTEGER NOT NULL,
    person_key    TEXT COLLATE "C" NOT NULL,
    party         TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    start_ms      BIGINT,
    until_ms      BIGINT
);
-- No primary key: a new version's rows are inserted by the statement that deletes the old ones (as for the
-- index tables), and a unique key would see both.
CREATE INDEX access_relation_owner ON access_relation (resource_type, id);
CREATE INDEX access_relation_person ON access_relation (person_key, party, kind);
