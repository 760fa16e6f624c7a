-- PostgreSQL's identity ids skip on rolled-back writes, so a gap among the
-- ids of chained audit entries proves nothing there. From this migration
-- on, writers on PostgreSQL number their entries from one of 16 counters
-- (the row of their connection: pg_backend_pid() % 16, so a transaction
-- takes one counter row at most). A counter is transactional, hence
-- gapless: an entry deleted before it was chained leaves a gap in its
-- counter's numbers that `linli audit verify` sees. The rows are written
-- by the migration runner on PostgreSQL only; SQLite keeps AUTOINCREMENT
-- (already gapless) and leaves this table empty.
CREATE TABLE audit_counter (
    shard INTEGER PRIMARY KEY,
    next_no BIGINT NOT NULL
);
