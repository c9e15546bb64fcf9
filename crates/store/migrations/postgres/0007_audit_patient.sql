-- The audit log by patient: the tables of migrations/sqlite-audit/0002_audit_patient.sql in PostgreSQL
-- types, kept by a background task from the events after `audit_indexed.seq` (its row is the indexers' lock).
CREATE TABLE audit_patient (
    patient TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (patient, seq)
);
CREATE TABLE audit_indexed (
    one SMALLINT PRIMARY KEY CHECK (one = 1),
    seq BIGINT NOT NULL
);
INSERT INTO audit_indexed (one, seq) VALUES (1, 0);
