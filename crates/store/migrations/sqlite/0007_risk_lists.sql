-- Worklists that hold few people are read from indexes of just those people: recent emergencies by day,
-- and people whose tier changed at the last full re-score highest risk first (a partial index; the
-- worklist statement repeats its condition so that it is used).
CREATE INDEX risk_score_emergency ON risk_score (last_emergency) WHERE last_emergency IS NOT NULL;
CREATE INDEX risk_score_changed ON risk_score (probability DESC, person_key) WHERE previous_tier IS NOT NULL AND previous_tier <> tier;
