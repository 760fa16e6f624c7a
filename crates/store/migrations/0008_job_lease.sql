-- Background jobs on several servers sharing one database: one lease row
-- per job names the instance that runs it now and until when. An instance
-- that stops renewing loses the lease when it runs out, and another one
-- takes over.
CREATE TABLE job_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);

-- What each server caches (the point-in-grid index, the categories, the
-- calendar) has a generation here, raised by every change; each server
-- compares it every few seconds and drops what another server changed.
CREATE TABLE cache_generation (
    name TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
