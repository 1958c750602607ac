-- salesingest schema, version 1. Append-only: never edit a released migration; add a new file.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); dates of sales are ISO text.

CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  platform         TEXT    NOT NULL,
  input            TEXT    NOT NULL,                 -- JSON job input; never a secret
  state            TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued','processing','retrying','completed','failed','cancelled')),
  priority         INTEGER NOT NULL DEFAULT 0,
  run_at           INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,       -- attempts used (a rate-limit snooze gives one back)
  claims           INTEGER NOT NULL DEFAULT 0,       -- attempt-history number of the latest claim
  max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  lease_owner      TEXT,                             -- 'host:pid:process-start-time'
  lease_expires_at INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  unique_key       TEXT,
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  last_error       TEXT,
  result           TEXT,                             -- JSON event counts of the completed attempt
  CHECK ((state = 'processing') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
  CHECK ((state IN ('completed','failed','cancelled')) = (finished_at IS NOT NULL))
);
-- The claim walks this partial index in order and stops at LIMIT.
CREATE INDEX jobs_claim  ON jobs (priority DESC, run_at, id) WHERE state IN ('queued','retrying');
-- Lease rescue.
CREATE INDEX jobs_lease  ON jobs (lease_expires_at) WHERE state = 'processing';
-- Retention by finish time.
CREATE INDEX jobs_retain ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Uniqueness of pending work (same file hash, or a second incremental sync).
CREATE UNIQUE INDEX jobs_unique ON jobs (platform, unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('queued','retrying','processing');
CREATE INDEX jobs_platform_state ON jobs (platform, state);

CREATE TABLE cron_runs (
  id          INTEGER PRIMARY KEY,
  host        TEXT    NOT NULL,
  pid         INTEGER NOT NULL,
  owner       TEXT    NOT NULL,
  args        TEXT    NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  claimed     INTEGER NOT NULL DEFAULT 0,
  completed   INTEGER NOT NULL DEFAULT 0,
  retrying    INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  rescued     INTEGER NOT NULL DEFAULT 0,
  exit_code   INTEGER
);
CREATE INDEX cron_runs_retain ON cron_runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE attempts (
  job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  attempt     INTEGER NOT NULL,
  run_id      INTEGER REFERENCES cron_runs(id) ON DELETE SET NULL,
  worker      TEXT    NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  outcome     TEXT CHECK (outcome IN ('completed','retrying','failed','rate_limited',
                                      'worker_died','lease_expired','lease_lost','cancelled')),
  error       TEXT,
  PRIMARY KEY (job_id, attempt)
);
CREATE INDEX attempts_run ON attempts (run_id);

-- One row per file import attempt. Events are staged under a 'staging' import in short
-- transactions and become visible when the import turns 'live', in the same transaction as the
-- fenced job completion.
CREATE TABLE imports (
  id          INTEGER PRIMARY KEY,
  job_id      INTEGER,                               -- no FK: jobs are pruned, imports stay
  platform    TEXT    NOT NULL,
  file        TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  layout      TEXT,
  state       TEXT    NOT NULL CHECK (state IN ('staging','live')),
  rows        INTEGER NOT NULL DEFAULT 0,
  events      INTEGER NOT NULL DEFAULT 0,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX imports_sha256 ON imports (sha256, state);
CREATE INDEX imports_job ON imports (job_id);

-- The period range each import covers, per replace-by-coverage family.
CREATE TABLE import_coverage (
  import_id    INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
  family       TEXT    NOT NULL,
  period_start TEXT    NOT NULL,
  period_end   TEXT    NOT NULL,
  PRIMARY KEY (import_id, family)
);

CREATE TABLE sales_events (
  id                INTEGER PRIMARY KEY,
  platform          TEXT    NOT NULL,
  family            TEXT    NOT NULL,
  source            TEXT    NOT NULL,
  import_id         INTEGER REFERENCES imports(id),  -- NULL for API events
  job_id            INTEGER,                         -- the job that last wrote it (no FK: jobs are pruned)
  natural_key       TEXT UNIQUE,                     -- Gumroad sale id; NULL for report rows
  period_start      TEXT    NOT NULL,
  period_end        TEXT    NOT NULL,
  month             TEXT    NOT NULL,                -- month of period_end, YYYY-MM
  title             TEXT    NOT NULL,
  product_id        TEXT    NOT NULL,
  format            TEXT    NOT NULL,
  marketplace       TEXT    NOT NULL,
  retailer          TEXT    NOT NULL,
  country           TEXT    NOT NULL,
  units             INTEGER NOT NULL,
  kenp_pages        INTEGER NOT NULL,
  list_price_micros INTEGER,
  royalty_micros    INTEGER NOT NULL,
  currency          TEXT    NOT NULL,
  is_final          INTEGER NOT NULL,
  status            TEXT    NOT NULL DEFAULT '',
  raw               TEXT    NOT NULL,
  line              INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX sales_coverage ON sales_events (platform, family, period_start);
CREATE INDEX sales_import ON sales_events (import_id);
CREATE INDEX sales_family_month ON sales_events (family, month);

CREATE TABLE sync_cursors (
  platform   TEXT PRIMARY KEY,
  cursor     TEXT    NOT NULL,                       -- ISO date: everything before it is synced
  updated_at INTEGER NOT NULL,
  job_id     INTEGER
);

-- Events that count: staged rows of unfinished imports are invisible.
CREATE VIEW live_sales AS
  SELECT * FROM sales_events
   WHERE import_id IS NULL OR import_id IN (SELECT id FROM imports WHERE state = 'live');

-- What reports use: for a month with a final KDP report, KDP estimates of that month are
-- shadowed (kept, never added to the final figures).
CREATE VIEW effective_sales AS
  SELECT * FROM live_sales
   WHERE NOT (family = 'kdp_estimate'
              AND month IN (SELECT month FROM live_sales WHERE family = 'kdp_final'));
