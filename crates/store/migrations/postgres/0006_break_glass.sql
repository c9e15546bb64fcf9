-- Break-glass grants: the table of migrations/sqlite/0005_break_glass.sql in PostgreSQL types. While a grant
-- holds it is also a relationship of kind 'break-glass' in access_relation.
CREATE TABLE break_glass (
    id             TEXT COLLATE "C" PRIMARY KEY,
    person_key     TEXT COLLATE "C" NOT NULL,
    username       TEXT COLLATE "C" NOT NULL,
    party          TEXT COLLATE "C" NOT NULL,
    organisation   TEXT COLLATE "C" NOT NULL,
    role           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    reason_code    TEXT,
    reason_display TEXT,
    from_ms        BIGINT NOT NULL,
    until_ms       BIGINT NOT NULL,
    reviewed_ms    BIGINT,
    reviewer       TEXT,
    review_outcome TEXT,
    review_note    TEXT
);
CREATE INDEX break_glass_person ON break_glass (person_key, from_ms);
CREATE INDEX break_glass_open ON break_glass (from_ms) WHERE reviewed_ms IS NULL;
