-- Accounts of people who sign in, and their server-side sessions.
CREATE TABLE account (
    id {ID},
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    -- The org unit whose subtree the account reaches (staff roles), the
    -- handling unit whose cases it handles (unit handlers).
    org_id BIGINT REFERENCES org_unit(id),
    unit_id BIGINT REFERENCES handling_unit(id),
    scope_path {PATH} NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

-- Only a hash of the session token is kept; the CSRF token of a session
-- must come back with every form or API write made with its cookie.
CREATE TABLE account_session (
    id {ID},
    token_hash TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES account(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX account_session_account ON account_session(account_id);
