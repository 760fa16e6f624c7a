-- To-do counts (待办, issue 15): each to-do is counted from a small index
-- of its own cases within the caller's area, never from the area's whole
-- history (a district holds millions of closed cases).
CREATE INDEX service_case_open_state_scope ON service_case(state, scope_path)
    WHERE state IN ('registered','classified','opened','dispatched','handling','reported_back');
CREATE INDEX service_case_extension_scope ON service_case(scope_path)
    WHERE extension_pending IS NOT NULL;
CREATE INDEX service_case_unsatisfied_scope ON service_case(scope_path)
    WHERE state = 'rated' AND rating = 'unsatisfied' AND COALESCE(resolution, '') <> 'explained';
