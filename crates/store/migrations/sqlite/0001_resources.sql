-- Versioned resources, the current-version pointer, the search indexes, and the links between current
-- resources (for referential integrity on delete).
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
-- One person's record ($everything) is read on the person key.
CREATE INDEX resource_current_person ON resource_current (person_key, resource_type, id) WHERE person_key IS NOT NULL;

-- Search indexes: one table per search-parameter type, each row one value of one parameter of the current
-- version of a resource. The values are computed by the `fhir` crate from the specification's expressions.
-- Each table is clustered on its look-up key followed by the resource id and `n`, the value's position
-- among the resource's index entries (WITHOUT ROWID: the table is its own index, and a search reads ids
-- straight from the key). The `_owner` index serves sorting and replacing a resource's rows.

CREATE TABLE search_token (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,             -- also `param:text`, `param:of-type`, `param:identifier` rows
    code          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    system        TEXT,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, code, id, n)
) WITHOUT ROWID;
CREATE INDEX search_token_owner ON search_token (resource_type, id, param);

CREATE TABLE search_string (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    norm          TEXT    NOT NULL,             -- lower case, accents removed
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    exact         TEXT    NOT NULL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, norm, id, n)
) WITHOUT ROWID;
CREATE INDEX search_string_owner ON search_string (resource_type, id, param);

CREATE TABLE search_reference (
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    target_type   TEXT,                         -- local references
    target_id     TEXT,
    url           TEXT,                         -- absolute and canonical references
    person_key    TEXT,
    PRIMARY KEY (resource_type, id, param, n)
) WITHOUT ROWID;
CREATE INDEX search_reference_target ON search_reference (target_id, target_type, param, resource_type);
CREATE INDEX search_reference_url ON search_reference (url) WHERE url IS NOT NULL;

CREATE TABLE search_date (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    low           INTEGER NOT NULL,             -- inclusive, milliseconds since 1970 UTC
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    high          INTEGER NOT NULL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, low, id, n)
) WITHOUT ROWID;
CREATE INDEX search_date_owner ON search_date (resource_type, id, param);

CREATE TABLE search_number (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    value         REAL    NOT NULL,
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    low           REAL    NOT NULL,
    high          REAL    NOT NULL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, value, id, n)
) WITHOUT ROWID;
CREATE INDEX search_number_owner ON search_number (resource_type, id, param);

CREATE TABLE search_quantity (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    value         REAL    NOT NULL,
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    low           REAL    NOT NULL,
    high          REAL    NOT NULL,
    system        TEXT,
    code          TEXT,
    unit          TEXT,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, value, id, n)
) WITHOUT ROWID;
CREATE INDEX search_quantity_owner ON search_quantity (resource_type, id, param);

CREATE TABLE search_uri (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    uri           TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, uri, id, n)
) WITHOUT ROWID;
CREATE INDEX search_uri_owner ON search_uri (resource_type, id, param);

CREATE TABLE search_composite (
    resource_type TEXT    NOT NULL,
    param         TEXT    NOT NULL,
    code          TEXT    NOT NULL,             -- the first component: a token
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    system        TEXT,
    v_system      TEXT,                         -- the second: a token (v_system, v_code), a quantity
    v_code        TEXT,                         -- (v_low..v_high with v_system, v_code) or a date (v_low..v_high)
    v_low         REAL,
    v_high        REAL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, param, code, id, n)
) WITHOUT ROWID;
CREATE INDEX search_composite_owner ON search_composite (resource_type, id, param);

CREATE TABLE resource_link (
    resource_type TEXT    NOT NULL,             -- the resource holding the reference
    id            TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    target_type   TEXT    NOT NULL,             -- the resource it points at
    target_id     TEXT    NOT NULL,
    person_key    TEXT,
    PRIMARY KEY (resource_type, id, n)
) WITHOUT ROWID;
CREATE INDEX resource_link_target ON resource_link (target_type, target_id);
