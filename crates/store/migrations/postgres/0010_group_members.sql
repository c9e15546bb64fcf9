-- The members of the registers and eligibility cohorts: the table of migrations/sqlite/0008_group_members.sql
-- in PostgreSQL types (derived data: a refresh rebuilds it from the record).
CREATE TABLE group_member (
    group_id    TEXT COLLATE "C" NOT NULL,
    person_key  TEXT COLLATE "C" NOT NULL,
    reason      TEXT NOT NULL,
    because     TEXT NOT NULL,
    restricted  SMALLINT NOT NULL,
    since_ms    BIGINT NOT NULL,
    run         BIGINT NOT NULL,
    PRIMARY KEY (group_id, person_key)
);
CREATE INDEX group_member_person ON group_member (person_key);
-- A care coordinator's caseload (worklists by caseload): the people a party coordinates, found by party.
CREATE INDEX access_relation_coordinator ON access_relation (party, person_key) WHERE kind = 'coordinator';
