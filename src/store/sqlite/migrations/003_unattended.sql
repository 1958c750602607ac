-- salesingest schema: unattended operation (file 003; issue #7). Self-contained: new tables only.

-- When each configured schedule last enqueued its job. The due-check and the enqueue happen in
-- one BEGIN IMMEDIATE transaction, so overlapping workers fire a schedule exactly once.
CREATE TABLE schedules (
  name             TEXT    PRIMARY KEY,                -- [[schedule]] name (default: the platform)
  platform         TEXT    NOT NULL,
  every_ms         INTEGER NOT NULL,
  first_enqueued_at INTEGER NOT NULL,
  last_enqueued_at INTEGER NOT NULL,
  last_job_id      INTEGER                             -- no FK: jobs are pruned
);

-- What the inbox scan saw, per content hash: each content is checked once, so an unknown file
-- is reported once and not parsed again until it changes.
CREATE TABLE inbox_files (
  sha256   TEXT    PRIMARY KEY,
  path     TEXT    NOT NULL,                           -- where it was seen (the original file)
  platform TEXT,                                       -- detected platform, NULL when unknown
  status   TEXT    NOT NULL
           CHECK (status IN ('checking','enqueued','already_imported','rejected','unknown')),
  message  TEXT,                                       -- layout, or why it was not enqueued
  job_id   INTEGER,
  size     INTEGER,                                    -- size and mtime when checked, so an
  mtime_ms INTEGER,                                    -- unchanged file is not even hashed again
  seen_at  INTEGER NOT NULL
);
CREATE INDEX inbox_files_path ON inbox_files (path);
