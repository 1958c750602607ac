-- salesingest schema, version 5: fewer pages written per queue job.
-- Append-only: never edit a released migration; add a new file.
--
-- Every job commits once (the fenced completion of one job and the claim of the next are one
-- transaction), and the WAL receives each page that transaction dirtied: 8.5 pages per job with
-- schema 4, one for each of the five job indexes and the three attempt B-trees it touches, each
-- written whole and each part of the fsync (issue #6). Schema 5 writes about 4.5:
--
-- * One index on `(state, finished_at, platform)` replaces three, each of which a job's two
--   state changes touched: `jobs_lease` (rescue: `state = 'processing'`, a handful of rows),
--   `jobs_retain` (prune: `state = ? AND finished_at < ?`) and `jobs_platform_state` (`status`:
--   per-platform counts of the pending states, the latest completed job of a platform). A job
--   leaving `processing` for `completed` and the next leaving `queued` for `processing` move
--   entries at the meeting point of three neighbouring states, usually on one leaf page.
--   The claim keeps its own partial index, named with `INDEXED BY` in the claim statement so the
--   planner can never trade it for this one and sort the queue.
-- * `attempts` becomes a WITHOUT ROWID table keyed by `(job_id, attempt)`: the rows live in
--   their primary key's B-tree instead of a rowid table plus a separate key index.
-- * `attempts.run_id` loses its foreign key and with it the `attempts_run` index, which existed
--   only so that pruning a cron run could set its attempts' `run_id` to NULL; nothing looks
--   attempts up by run. Like `imports.job_id`, it is now a plain record: an attempt may outlive
--   its run (runs are kept 30 days, failed jobs' attempts 90), so join it with LEFT JOIN.
-- * The CHECK constraints name their states with `=`/`OR` instead of `IN (…)`: SQLite builds a
--   throwaway B-tree for an `IN` list of more than two constants each time a statement runs, and
--   the four writes of every job (claim, attempt row, completion, attempt closed) checked six
--   of them, about 2 µs each.
--   The constraints allow exactly the same values as before.
--
-- Both tables are rebuilt, so the jobs and attempts are copied once (retention keeps them to
-- recent history); the sales tables are not touched. The new `jobs` is built under a temporary
-- name and renamed last, after the old tables are gone: dropping the old `jobs` while the new
-- `attempts` referred to a table named `jobs` would cascade-delete the attempts.
CREATE TABLE jobs_v5 (
  id               INTEGER PRIMARY KEY,
  platform         TEXT    NOT NULL,
  input            TEXT    NOT NULL,                 -- JSON job input; never a secret
  state            TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (state = 'queued' OR state = 'processing' OR state = 'retrying'
                          OR state = 'completed' OR state = 'failed' OR state = 'cancelled'),
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
  CHECK ((state = 'completed' OR state = 'failed' OR state = 'cancelled') = (finished_at IS NOT NULL))
);
INSERT INTO jobs_v5 (id, platform, input, state, priority, run_at, attempts, claims, max_attempts,
                     lease_owner, lease_expires_at, cancel_requested, unique_key, created_at,
                     finished_at, last_error, result)
  SELECT id, platform, input, state, priority, run_at, attempts, claims, max_attempts,
         lease_owner, lease_expires_at, cancel_requested, unique_key, created_at,
         finished_at, last_error, result
    FROM jobs;

CREATE TABLE attempts_v5 (
  job_id      INTEGER NOT NULL REFERENCES jobs_v5(id) ON DELETE CASCADE,  -- `jobs` after the rename
  attempt     INTEGER NOT NULL,
  run_id      INTEGER,                       -- the cron run that made it; no FK (see above)
  worker      TEXT    NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  outcome     TEXT CHECK (outcome = 'completed' OR outcome = 'retrying' OR outcome = 'failed'
                          OR outcome = 'rate_limited' OR outcome = 'worker_died'
                          OR outcome = 'lease_expired' OR outcome = 'lease_lost'
                          OR outcome = 'cancelled'),
  error       TEXT,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
INSERT INTO attempts_v5 (job_id, attempt, run_id, worker, started_at, finished_at, outcome, error)
  SELECT job_id, attempt, run_id, worker, started_at, finished_at, outcome, error FROM attempts;

DROP TABLE attempts;
DROP TABLE jobs;
-- Renaming also rewrites `attempts_v5`'s foreign key to name `jobs`.
ALTER TABLE jobs_v5 RENAME TO jobs;
ALTER TABLE attempts_v5 RENAME TO attempts;

-- The claim walks this partial index in order and stops at LIMIT (unchanged).
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state IN ('queued','retrying');
-- Uniqueness of pending work (unchanged; the enqueue's ON CONFLICT names this predicate).
CREATE UNIQUE INDEX jobs_unique ON jobs (platform, unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('queued','retrying','processing');
-- Rescue, prune and `status` (see above).
CREATE INDEX jobs_state ON jobs (state, finished_at, platform);

-- An import staged from this version on writes its report-rollup rows with its last chunk (under
-- its own import id, so they stay invisible until it turns live), from sums kept as its chunks
-- were staged, instead of reading all its rows back when it is published. 0: staged by an older
-- salesingest, or the sums could not be kept; publishing then sums the stored rows.
ALTER TABLE imports ADD COLUMN rollup_staged INTEGER NOT NULL DEFAULT 0;
