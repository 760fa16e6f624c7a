-- Photos of a case (the report back of a handler, a resident's picture of
-- the problem): kept in the database so that they are backed up, scoped
-- and never half-written with the case they belong to.
CREATE TABLE case_photo (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES service_case(id),
    scope_path {PATH} NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes {BLOB} NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX case_photo_case ON case_photo(case_id, id);
