-- The queue by the least time left (issue 15): the open cases with a
-- deadline in deadline order, city- or district-wide and for a unit, read
-- in order from the index instead of sorting a district's open cases.
CREATE INDEX service_case_queue_due ON service_case(due_at, id)
    WHERE state IN ('registered','classified','opened','dispatched','handling','reported_back') AND due_at IS NOT NULL;
CREATE INDEX service_case_unit_queue_due ON service_case(unit_id, due_at, id)
    WHERE state IN ('registered','classified','opened','dispatched','handling','reported_back') AND due_at IS NOT NULL;
