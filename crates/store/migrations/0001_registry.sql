-- Org tree, staff and posts, registry (百姓档案), audit log.
-- One file for both databases: {ID}, {ID_NOREUSE}, {PATH} and {BLOB} are filled in per backend.
-- Times are BIGINT milliseconds since the Unix epoch (UTC); dates are TEXT YYYY-MM-DD.

CREATE TABLE org_unit (
    id {ID},
    parent_id BIGINT REFERENCES org_unit(id),
    kind TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path {PATH} NOT NULL UNIQUE,
    geometry TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX org_unit_parent ON org_unit(parent_id);
CREATE INDEX org_unit_kind ON org_unit(kind, path);

CREATE TABLE staff (
    id {ID},
    name TEXT NOT NULL,
    phone_enc {BLOB},
    phone_idx {BLOB},
    org_id BIGINT NOT NULL REFERENCES org_unit(id),
    scope_path {PATH} NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX staff_scope ON staff(scope_path);

-- 格内定岗、岗上定责: a post is a named duty in one grid held by one person.
-- A grid may have several posts (一格多员) and a person several grids (多格一员).
CREATE TABLE post (
    id {ID},
    grid_id BIGINT NOT NULL REFERENCES org_unit(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    title TEXT NOT NULL,
    scope_path {PATH} NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (grid_id, staff_id, title)
);
CREATE INDEX post_staff ON post(staff_id);
CREATE INDEX post_scope ON post(scope_path);

-- 一院一档: the compound ledger.
CREATE TABLE compound (
    id {ID},
    grid_id BIGINT NOT NULL REFERENCES org_unit(id),
    scope_path {PATH} NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    management_mode TEXT NOT NULL,
    property_company TEXT,
    -- unified social credit code (GB 32100) of the property company
    property_company_code TEXT,
    facilities TEXT NOT NULL DEFAULT '',
    known_problems TEXT NOT NULL DEFAULT '',
    lon DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    UNIQUE (grid_id, name)
);
CREATE INDEX compound_scope ON compound(scope_path);

CREATE TABLE building (
    id {ID},
    compound_id BIGINT NOT NULL REFERENCES compound(id),
    scope_path {PATH} NOT NULL,
    name TEXT NOT NULL,
    lon DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    UNIQUE (compound_id, name)
);

-- 一房一户: a dwelling is one unit_no + room_no in a building.
CREATE TABLE dwelling (
    id {ID},
    building_id BIGINT NOT NULL REFERENCES building(id),
    scope_path {PATH} NOT NULL,
    unit_no TEXT NOT NULL DEFAULT '',
    room_no TEXT NOT NULL,
    floor_area DOUBLE PRECISION,
    UNIQUE (building_id, unit_no, room_no)
);
CREATE INDEX dwelling_scope ON dwelling(scope_path);

CREATE TABLE household (
    id {ID},
    dwelling_id BIGINT NOT NULL REFERENCES dwelling(id),
    scope_path {PATH} NOT NULL,
    household_no TEXT NOT NULL,
    UNIQUE (dwelling_id, household_no)
);

-- ID numbers and phones are stored encrypted (id_enc, phone_enc) with a
-- keyed hash (id_idx, phone_idx) for exact look-up; never in clear.
CREATE TABLE person (
    id {ID},
    household_id BIGINT NOT NULL REFERENCES household(id),
    scope_path {PATH} NOT NULL,
    name TEXT NOT NULL,
    gender TEXT,
    birth_date TEXT,
    id_enc {BLOB},
    id_idx {BLOB},
    id_masked TEXT,
    phone_enc {BLOB},
    phone_idx {BLOB},
    phone_masked TEXT,
    relation TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX person_scope ON person(scope_path);
CREATE INDEX person_household ON person(household_id);
CREATE INDEX person_id_idx ON person(id_idx);
CREATE INDEX person_phone_idx ON person(phone_idx);

CREATE TABLE person_tag (
    person_id BIGINT NOT NULL REFERENCES person(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (person_id, tag)
);
CREATE INDEX person_tag_tag ON person_tag(tag, person_id);

-- Append-only, hash-chained audit log. Writers add entries to audit_pending
-- in their own transaction (no lock is shared between writers); the chainer
-- moves them, in batches, into audit_log with consecutive seq numbers and
-- hashes. audit_head (one row) serialises chainers.
CREATE TABLE audit_pending (
    -- never reused, even after the chainer empties the table
    id {ID_NOREUSE},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
