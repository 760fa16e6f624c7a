-- Ledgers as communities keep them (issue 14): a landline beside the
-- mobile (encrypted, masked like the mobile) and the relation to the head
-- of the household (户主/配偶/子女…), kept apart from ownership or
-- tenancy of the dwelling (person.relation).
ALTER TABLE person ADD COLUMN landline_enc {BLOB};
ALTER TABLE person ADD COLUMN landline_masked TEXT;
ALTER TABLE person ADD COLUMN head_relation TEXT;

-- An uploaded ledger between its preview and the worker's confirmation:
-- sealed (it holds ID numbers and phones), for its uploader only, and
-- removed once imported or an hour old.
CREATE TABLE import_upload (
    token TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    options TEXT NOT NULL,
    body_enc {BLOB} NOT NULL,
    created_at BIGINT NOT NULL
);
