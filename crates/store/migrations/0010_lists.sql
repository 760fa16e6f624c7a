-- City scale (issue 13): an index for each way a list of cases is read
-- (see cases::read::Lead). A subdistrict's or community's cases by path,
-- with the state in the index so a state filter needs no row; a wide
-- area's cases of one state, a unit's, and the open ones, newest first.
CREATE INDEX service_case_scope_state ON service_case(scope_path, state, id);
CREATE INDEX service_case_state_id ON service_case(state, id);
CREATE INDEX service_case_unit_id ON service_case(unit_id, id) WHERE unit_id IS NOT NULL;
CREATE INDEX service_case_open ON service_case(id) WHERE state IN ('registered','classified','opened','dispatched','handling','reported_back');

-- People are listed by place and id (see Store::people): the path index
-- with the id in it gives every page in order without a sort.
DROP INDEX person_scope;
CREATE INDEX person_scope ON person(scope_path, id);

-- A unit's cases of one state (or the open ones): a department holds a
-- large share of a district, so its few cases being handled are found by
-- state within the unit, not by walking all of its cases.
CREATE INDEX service_case_unit_state ON service_case(unit_id, state, id) WHERE unit_id IS NOT NULL;
