-- The rates rollup: what each case adds to the rates, summed by the Beijing
-- month it was registered in (yyyymm), its area (the org path cut to three
-- levels, a subdistrict in a regular tree) and its unit (0: none yet).
-- Writers append signed deltas to case_rollup_delta in the same transaction
-- as the case change (appends do not contend for a hot row); a background
-- job folds them into case_rollup. A reader sums both.
CREATE TABLE case_rollup (
    month INTEGER NOT NULL,
    area {PATH} NOT NULL,
    unit_id BIGINT NOT NULL,
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
    PRIMARY KEY (month, area, unit_id)
);

CREATE TABLE case_rollup_delta (
    id {ID},
    month INTEGER NOT NULL,
    area {PATH} NOT NULL,
    unit_id BIGINT NOT NULL,
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

-- Cases still open against a deadline: the one time-dependent count of the
-- rates (deadline passed, not closed) is read from here.
CREATE INDEX service_case_open_due ON service_case(due_at) WHERE due_at IS NOT NULL AND closed_at IS NULL;
