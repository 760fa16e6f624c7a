-- The account of the resident who reported a case (self-reports through
-- the portal): a resident's scope is the cases it reported.
ALTER TABLE service_case ADD COLUMN reporter_account BIGINT REFERENCES account(id);
CREATE INDEX service_case_reporter ON service_case(reporter_account, id) WHERE reporter_account IS NOT NULL;
