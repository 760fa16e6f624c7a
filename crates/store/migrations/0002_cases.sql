-- Requests and cases (诉求/工单), categories, handling units, dispatch rules,
-- in-app alerts and the outbox of webhook deliveries.

CREATE TABLE category (
    code TEXT PRIMARY KEY,
    parent_code TEXT,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL,
    response_hours INTEGER,
    limit_kind TEXT,
    limit_value INTEGER,
    default_unit_kind TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

-- A unit that handles dispatched cases: a department, a property company,
-- the community office … attached to the org node it serves.
CREATE TABLE handling_unit (
    id {ID},
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES org_unit(id),
    scope_path {PATH} NOT NULL,
    webhook_url TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX handling_unit_scope ON handling_unit(scope_path);

-- category × place → unit; the rule of the nearest org node wins.
CREATE TABLE dispatch_rule (
    id {ID},
    category_code TEXT NOT NULL REFERENCES category(code),
    org_id BIGINT NOT NULL REFERENCES org_unit(id),
    unit_id BIGINT NOT NULL REFERENCES handling_unit(id),
    scope_path {PATH} NOT NULL,
    UNIQUE (category_code, org_id)
);

CREATE TABLE service_case (
    id {ID},
    -- The case code shown to people (GD + date + id) is derived from
    -- created_at and id, so registering needs no second write.
    channel TEXT NOT NULL,
    external_id TEXT,
    category_code TEXT REFERENCES category(code),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    lon DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    grid_id BIGINT REFERENCES org_unit(id),
    scope_path {PATH} NOT NULL,
    reporter_name TEXT,
    reporter_phone_enc {BLOB},
    reporter_phone_idx {BLOB},
    reporter_phone_masked TEXT,
    state TEXT NOT NULL,
    level TEXT NOT NULL,
    unit_id BIGINT REFERENCES handling_unit(id),
    parent_id BIGINT REFERENCES service_case(id),
    resolution TEXT,
    rating TEXT,
    extension_pending INTEGER,
    rework_count INTEGER NOT NULL DEFAULT 0,
    reopen_count INTEGER NOT NULL DEFAULT 0,
    supervision_count INTEGER NOT NULL DEFAULT 0,
    extension_count INTEGER NOT NULL DEFAULT 0,
    escalation_count INTEGER NOT NULL DEFAULT 0,
    response_due BIGINT,
    due_at BIGINT,
    responded_at BIGINT,
    closed_at BIGINT,
    overdue_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX service_case_scope ON service_case(scope_path, created_at);
CREATE INDEX service_case_unit ON service_case(unit_id, created_at) WHERE unit_id IS NOT NULL;
CREATE INDEX service_case_state ON service_case(state, due_at);
CREATE INDEX service_case_created ON service_case(created_at);
-- Partial: most cases have neither, and a huge run of equal NULL keys
-- makes every insert pay for it.
CREATE INDEX service_case_external ON service_case(channel, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX service_case_parent ON service_case(parent_id) WHERE parent_id IS NOT NULL;

-- The timeline: every step with who, when and why.
CREATE TABLE case_event (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES service_case(id),
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    data TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX case_event_case ON case_event(case_id, id);

CREATE TABLE alert (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES service_case(id),
    kind TEXT NOT NULL,
    scope_path {PATH} NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX alert_scope ON alert(scope_path, created_at);

-- Webhook deliveries: written in the same transaction as the event they
-- announce, delivered and retried by a worker, so none is lost on restart.
CREATE TABLE outbox (
    id {ID},
    topic TEXT NOT NULL,
    target_url TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox(delivered_at, next_attempt_at);

-- Keys of integrations (12345 hotline, Open311 clients): only a hash is kept.
CREATE TABLE api_key (
    id {ID},
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scope_path {PATH} NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Small settings, e.g. calendar years added by an administrator.
CREATE TABLE setting (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
