-- Worklists that hold few people: the indexes of migrations/sqlite/0007_risk_lists.sql.
CREATE INDEX risk_score_emergency ON risk_score (last_emergency) WHERE last_emergency IS NOT NULL;
CREATE INDEX risk_score_changed ON risk_score (probability DESC, person_key) WHERE previous_tier IS NOT NULL AND previous_tier <> tier;
