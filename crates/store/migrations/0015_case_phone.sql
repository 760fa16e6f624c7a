-- A counter or hotline worker finds a caller's cases by their phone
-- (issue 15): the blind index of the reporter's phone, indexed. Each
-- look-up is audited and held to the look-up allowance.
CREATE INDEX service_case_reporter_phone ON service_case(reporter_phone_idx)
    WHERE reporter_phone_idx IS NOT NULL;
