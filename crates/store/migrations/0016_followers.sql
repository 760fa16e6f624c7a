-- "Me too" (我也遇到, issue 15): a resident who meets a problem already
-- reported nearby joins that open case instead of reporting a duplicate;
-- they see it and are told of its steps like its reporter.
CREATE TABLE case_follower (
    case_id BIGINT NOT NULL REFERENCES service_case(id),
    account_id BIGINT NOT NULL REFERENCES account(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, account_id)
);
CREATE INDEX case_follower_account ON case_follower(account_id, case_id);
