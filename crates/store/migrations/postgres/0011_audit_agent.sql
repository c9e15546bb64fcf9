-- The audit log by user: the table of migrations/sqlite-audit/0003_audit_agent.sql in PostgreSQL types,
-- filled for the events indexed so far.
CREATE TABLE audit_agent (
    username TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    PRIMARY KEY (username, seq)
);
INSERT INTO audit_agent (username, seq)
    SELECT username, seq FROM audit_event WHERE username IS NOT NULL AND seq <= (SELECT seq FROM audit_indexed WHERE one = 1);
