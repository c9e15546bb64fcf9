-- The audit log: one row per audited request, hash-chained (care::audit::link over the previous hash, the
-- sequence number and the body), appended only. `audit_head` holds the chain's last link; appenders lock it,
-- so that every node of a database extends one chain. The columns beside the body repeat what it says, for
-- searching; verification checks them against it.
CREATE TABLE audit_event (
    seq          BIGINT PRIMARY KEY,
    at_ms        BIGINT NOT NULL,
    username     TEXT COLLATE "C",
    organisation TEXT COLLATE "C",
    outcome      INTEGER NOT NULL,
    patients     TEXT NOT NULL,                -- the Patient ids the event lists, space-separated
    body         TEXT NOT NULL,
    hash         BYTEA NOT NULL
);
CREATE TABLE audit_head (
    one  SMALLINT PRIMARY KEY CHECK (one = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO audit_head (one, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
