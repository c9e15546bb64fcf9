-- The audit log of a SQLite record, in its own file beside it (`<database>.audit`), so that appending an
-- event for every read never waits for, or holds up, the record's single writer. One row per audited
-- request, hash-chained (care::audit::link over the previous hash, the sequence number and the body),
-- appended only; the columns beside the body repeat what it says, for searching, and verification checks
-- them against it. Each commit writes the pages at the end of the table only: an index by patient (for
-- "who looked at my record") is to be kept by a background task, never by the append (measured: an index
-- row per event in the append took reads with auditing from 23,867/s to 19,804/s, and a GP's from
-- 20,639/s to 12,902/s, on 199,000 people).
CREATE TABLE audit_event (
    seq          INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    username     TEXT,
    organisation TEXT,
    outcome      INTEGER NOT NULL,
    patients     TEXT NOT NULL,                -- the Patient ids the event lists, space-separated
    body         TEXT NOT NULL,
    hash         BLOB NOT NULL
);
