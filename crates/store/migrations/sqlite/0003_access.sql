-- What the access decision reads inside every query: which organisation recorded each version and whether it
-- is restricted, and the care relationships between people and the professionals and organisations caring
-- for them, derived from the resources that state them (kept current on every write, like index rows).
ALTER TABLE resource_version ADD COLUMN recorded_by TEXT;             -- Organization id, from meta.source
ALTER TABLE resource_version ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_current ADD COLUMN recorded_by TEXT;
ALTER TABLE resource_current ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;

-- One row per relationship a current resource states: the person, who it relates them to (`Organization/x`,
-- `Practitioner/x`, `PractitionerRole/x`; '' for an opt-out, which relates them to no one), its kind and
-- when it holds (milliseconds; NULL: open). The search joins it on (person_key, party).
CREATE TABLE access_relation (
    resource_type TEXT    NOT NULL,             -- the resource stating it
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    person_key    TEXT    NOT NULL,
    party         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,             -- registered | episode | coordinator | team | encounter | conference | opt-out
    start_ms      INTEGER,
    until_ms      INTEGER,
    PRIMARY KEY (resource_type, id, n)
) WITHOUT ROWID;
CREATE INDEX access_relation_person ON access_relation (person_key, party, kind);
