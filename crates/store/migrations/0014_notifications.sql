-- Notifications (通知, issue 15): each person is told of the steps that
-- concern them, in the app (a bell with the unread count) and, if they
-- chose it, through the district's SMS/WeChat gateway (a signed webhook
-- in the outbox). Written in the same transaction as the step.
CREATE TABLE notification (
    id {ID},
    account_id BIGINT NOT NULL REFERENCES account(id),
    case_id BIGINT REFERENCES service_case(id),
    topic TEXT NOT NULL,
    message_zh TEXT NOT NULL,
    message_en TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notification_account ON notification(account_id, id);
CREATE INDEX notification_unread ON notification(account_id) WHERE read_at IS NULL;

-- Each person's choice: topics they do not want (comma-separated codes),
-- and whether the gateway should reach them too.
ALTER TABLE account ADD COLUMN notify_muted TEXT NOT NULL DEFAULT '';
ALTER TABLE account ADD COLUMN notify_gateway INTEGER NOT NULL DEFAULT 0;
