-- Versioned resources, the current-version pointer, the token index used for identifier look-ups, and the
-- links between current resources (for referential integrity on delete).
-- Every row that belongs to a person carries person_key (the Patient id), so the store can shard by person.

CREATE TABLE resource_version (
    seq           INTEGER PRIMARY KEY,          -- global write order: history order and paging key
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    person_key    TEXT,                         -- Patient id this version belongs to; NULL for shared reference data
    last_updated  TEXT    NOT NULL,             -- instant, UTC, milliseconds: YYYY-MM-DDThh:mm:ss.sssZ
    method        TEXT    NOT NULL,             -- POST | PUT | PATCH | DELETE
    deleted       INTEGER NOT NULL,
    body          TEXT,                         -- the resource exactly as stored; NULL for a deletion
    UNIQUE (resource_type, id, version)
);
CREATE INDEX resource_version_type_seq ON resource_version (resource_type, seq);
CREATE INDEX resource_version_updated ON resource_version (last_updated);

CREATE TABLE resource_current (
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    seq           INTEGER NOT NULL,             -- the current version's row in resource_version
    version       INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, id)
) WITHOUT ROWID;

CREATE TABLE search_token (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT,
    code          TEXT NOT NULL,
    person_key    TEXT
);
CREATE INDEX search_token_lookup ON search_token (resource_type, param, code, system);
CREATE INDEX search_token_owner ON search_token (resource_type, id);

CREATE TABLE resource_link (
    resource_type TEXT NOT NULL,                -- the resource holding the reference
    id            TEXT NOT NULL,
    target_type   TEXT NOT NULL,                -- the resource it points at
    target_id     TEXT NOT NULL,
    person_key    TEXT
);
CREATE INDEX resource_link_target ON resource_link (target_type, target_id);
CREATE INDEX resource_link_owner ON resource_link (resource_type, id);
