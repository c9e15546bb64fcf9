-- Accounts of the people and systems that sign in, and the server's own secrets (the token signing key).
CREATE TABLE user_account (
    username TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    practitioner_role TEXT,
    practitioner TEXT,
    organisation TEXT,
    patient TEXT,
    related_person TEXT,
    password_hash TEXT,
    disabled SMALLINT NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);

CREATE TABLE server_secret (
    name TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);
