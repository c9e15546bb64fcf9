-- The audit log by user, for privacy officers' searches by agent: kept with the index by patient by the same
-- background task (`Store::index_audit`), never by the append. Filled here for the events indexed so far.
CREATE TABLE audit_agent (
    username TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (username, seq)
) WITHOUT ROWID;
INSERT INTO audit_agent (username, seq)
    SELECT username, seq FROM audit_event WHERE username IS NOT NULL AND seq <= (SELECT seq FROM audit_indexed WHERE one = 1);
