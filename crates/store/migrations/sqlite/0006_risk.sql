-- Risk scores: what the last full re-score (`joinery risk refresh`) found for each living person, kept
-- current by incremental re-scores when their record changes, for worklists and for reading without
-- working the models out again. Derived data: a refresh rebuilds it from the record.
CREATE TABLE risk_run (
    run            INTEGER PRIMARY KEY,        -- 1, 2, … in the order the refreshes ran
    at_ms          INTEGER NOT NULL,           -- when it ran
    on_day         TEXT NOT NULL,              -- the day it scored for (YYYY-MM-DD)
    model_version  TEXT NOT NULL,
    people         INTEGER NOT NULL,
    lowest_very_high REAL NOT NULL,            -- the lowest probability in each upper tier (the cuts)
    lowest_high    REAL NOT NULL,
    lowest_rising  REAL NOT NULL
);
CREATE TABLE risk_score (
    person_key     TEXT PRIMARY KEY NOT NULL,  -- the Patient's id
    run            INTEGER NOT NULL,           -- the run whose cuts set the tier
    at_ms          INTEGER NOT NULL,           -- when this person was last scored
    probability    REAL NOT NULL,              -- emergency admission within a year
    tier           TEXT NOT NULL,              -- very-high, high, rising, low
    previous_tier  TEXT,                       -- the tier before the last full run, if scored then
    segment        INTEGER,                    -- North West London group (1-15), if placed
    efi_band       TEXT NOT NULL,
    practice       TEXT,                       -- the registered practice (Organization id), if any
    last_emergency TEXT                        -- the day of their latest A&E attendance or emergency admission
) WITHOUT ROWID;
-- Worklists read people highest risk first and stop at a page: one index in that order.
CREATE INDEX risk_score_probability ON risk_score (probability DESC, person_key);
