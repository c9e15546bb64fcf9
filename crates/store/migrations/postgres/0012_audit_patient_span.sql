-- The index by patient keyed first by the span of 65,536 events an event falls in (`seq >> 16`), then by
-- patient and event, as on SQLite (see sqlite-audit/0004): the indexer's inserts fall in the newest span.
CREATE TABLE audit_patient_by_span (
    span    BIGINT NOT NULL,
    patient TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (span, patient, seq)
);
INSERT INTO audit_patient_by_span (span, patient, seq) SELECT seq >> 16, patient, seq FROM audit_patient;
DROP TABLE audit_patient;
ALTER TABLE audit_patient_by_span RENAME TO audit_patient;
ALTER TABLE audit_patient RENAME CONSTRAINT audit_patient_by_span_pkey TO audit_patient_pkey;
