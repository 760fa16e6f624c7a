-- The fine rollup (issue 13): the same rows as case_rollup, keyed by the
-- case's whole org path instead of its subdistrict, for the dashboards of
-- communities and grids (which before counted their cases one by one). Only
-- cases below a subdistrict have fine rows; the area leads the key because
-- a fine read is always one community's or grid's range of paths. Filled
-- from the cases by the rebuild that follows any migration.
CREATE TABLE case_rollup_fine (
    month INTEGER NOT NULL,
    area {PATH} NOT NULL,
    unit_id BIGINT NOT NULL,
    category TEXT NOT NULL,
    requests BIGINT NOT NULL,
    responded_in_time BIGINT NOT NULL,
    refused BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    rated BIGINT NOT NULL,
    satisfied BIGINT NOT NULL,
    opened BIGINT NOT NULL,
    closed_on_time BIGINT NOT NULL,
    closed BIGINT NOT NULL,
    reworked BIGINT NOT NULL,
    extended BIGINT NOT NULL,
    PRIMARY KEY (area, month, unit_id, category)
);

CREATE TABLE case_rollup_fine_delta (
    id {ID},
    month INTEGER NOT NULL,
    area {PATH} NOT NULL,
    unit_id BIGINT NOT NULL,
    category TEXT NOT NULL,
    requests BIGINT NOT NULL,
    responded_in_time BIGINT NOT NULL,
    refused BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    rated BIGINT NOT NULL,
    satisfied BIGINT NOT NULL,
    opened BIGINT NOT NULL,
    closed_on_time BIGINT NOT NULL,
    closed BIGINT NOT NULL,
    reworked BIGINT NOT NULL,
    extended BIGINT NOT NULL
);

-- Open cases past their deadline, by area: the one clock-dependent count
-- of the rates, read for the caller's area only.
CREATE INDEX service_case_open_due_scope ON service_case(scope_path, due_at) WHERE due_at IS NOT NULL AND closed_at IS NULL;
