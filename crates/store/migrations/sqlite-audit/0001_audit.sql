-- The audit log of a SQLite record, in its own file beside it (`<database>.audit`), so that appending an
-- event for every read never waits for, or holds up, the record's single writer. One row per audited
-- request, hash-chained (care::audit::link over the previous hash, the sequence number and the body),
-- appended only; the columns beside the body repeat what it says, for searching, and verification checks
-- them against it.
CREATE TABLE audit_event (
    seq          INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    username     TEXT,
    organisation TEXT,
    outcome      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    hash         BLOB NOT NULL
);
CREATE TABLE audit_patient (
    patient TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (patient, seq)
) WITHOUT ROWID;
