-- Risk scores: the tables of migrations/sqlite/0006_risk.sql in PostgreSQL types (derived data: a refresh
-- rebuilds them from the record).
CREATE TABLE risk_run (
    run            BIGINT PRIMARY KEY,
    at_ms          BIGINT NOT NULL,
    on_day         TEXT NOT NULL,
    model_version  TEXT NOT NULL,
    people         BIGINT NOT NULL,
    lowest_very_high DOUBLE PRECISION NOT NULL,
    lowest_high    DOUBLE PRECISION NOT NULL,
    lowest_rising  DOUBLE PRECISION NOT NULL
);
CREATE TABLE risk_score (
    person_key     TEXT COLLATE "C" PRIMARY KEY,
    run            BIGINT NOT NULL,
    at_ms          BIGINT NOT NULL,
    probability    DOUBLE PRECISION NOT NULL,
    tier           TEXT NOT NULL,
    previous_tier  TEXT,
    segment        INTEGER,
    efi_band       TEXT NOT NULL,
    practice       TEXT COLLATE "C",
    last_emergency TEXT
);
-- Worklists read people highest risk first and stop at a page: one index in that order.
CREATE INDEX risk_score_probability ON risk_score (probability DESC, person_key);
