-- The category mix joins the rates rollup: each case also counts once in a
-- row of its category (unit 0, requests only), so "what do people ask
-- about" over a year of a city is read from a few thousand rows instead of
-- every case. Rates rows have category ''. The tables are remade (the key
-- changes) and refilled from the cases when the store opens.
DROP TABLE case_rollup;
DROP TABLE case_rollup_delta;

CREATE TABLE case_rollup (
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
    PRIMARY KEY (month, area, unit_id, category)
);

CREATE TABLE case_rollup_delta (
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
