-- The audit log by patient, for "who looked at my record" and privacy officers' searches by patient: kept by
-- a background task (`Store::index_audit`) from the events after `audit_indexed.seq`, never by the append
-- (see 0001). A search by patient reads this index up to the mark and scans only the events after it.
CREATE TABLE audit_patient (
    patient TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (patient, seq)
) WITHOUT ROWID;
CREATE TABLE audit_indexed (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL
);
INSERT INTO audit_indexed (one, seq) VALUES (1, 0);
