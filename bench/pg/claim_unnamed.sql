-- One no-op job per transaction as the store sent it before migration 3: the fenced completion
-- of the client's previous job and the next claim in one statement (the CTEs of
-- src/store/postgres/jobs.rs at 8dddf69), for bench/pg/statements.sh. Start with -D cid=0 -D ccl=0.
WITH next AS (
    SELECT id FROM jobs
     WHERE state IN ('queued','retrying') AND run_at <= now()
       AND (NULL::text IS NULL OR platform = NULL::text)
     ORDER BY priority DESC, run_at, id
     LIMIT 1
     FOR UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE jobs j SET state = 'processing', attempts = j.attempts + 1, claims = j.claims + 1,
           lease_owner = 'h:' || :client_id,
           lease_expires_at = now() + 60000::float8 * interval '1 millisecond'
      FROM next WHERE j.id = next.id
    RETURNING j.id, j.platform, j.input::text AS input, j.attempts, j.max_attempts, j.claims),
  attempt AS (
    INSERT INTO attempts (job_id, attempt, run_id, worker, started_at)
    SELECT id, claims, 1, 'h:' || :client_id, now() FROM claimed),
  done AS (
    UPDATE jobs SET state = 'completed', finished_at = now(), lease_owner = NULL,
           lease_expires_at = NULL, result = '{"events":{}}'::text::jsonb, last_error = NULL
     WHERE id = :cid AND state = 'processing' AND lease_owner = 'h:' || :client_id AND claims = :ccl
    RETURNING id),
  closed AS (
    UPDATE attempts SET finished_at = now(), outcome = 'completed', error = NULL
     WHERE job_id = :cid AND attempt = :ccl AND finished_at IS NULL
       AND EXISTS (SELECT 1 FROM done))
SELECT (SELECT count(*) FROM done) AS completed, c.id AS cid, c.claims AS ccl
  FROM (SELECT 1) AS one LEFT JOIN claimed c ON true \gset
