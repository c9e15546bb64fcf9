-- The members of the registers and eligibility cohorts (`care::cohorts`), served as FHIR Groups: written by
-- each full re-score (`joinery risk refresh`) and kept current by incremental re-scores, each member with
-- the reason that admitted them, its evidence, and since when they have been a member. Derived data: a
-- refresh rebuilds it from the record.
CREATE TABLE group_member (
    group_id    TEXT NOT NULL,              -- the Group's id (register-dm, integrated-care-central-london)
    person_key  TEXT NOT NULL,              -- the Patient's id
    reason      TEXT NOT NULL,              -- the rule (or register) that admitted them
    because     TEXT NOT NULL,              -- the resources that show it, space-separated (Condition/x …)
    restricted  INTEGER NOT NULL,           -- 1: the evidence holds a sensitive code (members seen by fewer)
    since_ms    INTEGER NOT NULL,           -- first found a member (kept while they stay one)
    run         INTEGER NOT NULL,           -- the re-score that last found them a member
    PRIMARY KEY (group_id, person_key)
) WITHOUT ROWID;
CREATE INDEX group_member_person ON group_member (person_key);
-- A care coordinator's caseload (worklists by caseload): the people a party coordinates, found by party.
CREATE INDEX access_relation_coordinator ON access_relation (party, person_key) WHERE kind = 'coordinator';
