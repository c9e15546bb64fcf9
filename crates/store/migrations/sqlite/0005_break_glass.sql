-- Break-glass grants: a member of staff's stated reason for emergency access to one person's record, the
-- window it holds for, and the privacy officer's review. While it holds it is also a relationship of kind
-- 'break-glass' in access_relation (resource_type 'BreakGlass', id the grant's), so that the access
-- condition of every query reads it like any other relationship.
CREATE TABLE break_glass (
    id             TEXT PRIMARY KEY NOT NULL,
    person_key     TEXT NOT NULL,              -- the Patient's id
    username       TEXT NOT NULL,
    party          TEXT NOT NULL,              -- PractitionerRole/x (or Practitioner/x): who the grant is to
    organisation   TEXT NOT NULL,
    role           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    reason_code    TEXT,                       -- system|code of a coded reason, if given
    reason_display TEXT,
    from_ms        INTEGER NOT NULL,
    until_ms       INTEGER NOT NULL,
    reviewed_ms    INTEGER,                    -- set once, by the review
    reviewer       TEXT,
    review_outcome TEXT,
    review_note    TEXT
) WITHOUT ROWID;
CREATE INDEX break_glass_person ON break_glass (person_key, from_ms);
CREATE INDEX break_glass_open ON break_glass (from_ms) WHERE reviewed_ms IS NULL;
