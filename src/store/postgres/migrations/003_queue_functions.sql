-- salesingest PostgreSQL schema, version 3: the worker's two hot statements as PL/pgSQL
-- functions (issue #13 §5). A function's statements keep their plans in the server session's
-- plan cache, which no client sees, so a claim is not planned again for every job (named
-- prepared statements would do the same but are session state that PgBouncer's transaction
-- pooling breaks). Measured by bench/pg/statements.sh: 1.6x the jobs per second of the same
-- statement sent unnamed, at 1, 4 and 8 clients. Append-only: never edit a released migration.

-- Claim the next due job for `p_owner` (optionally of one platform): lease it on the database's
-- clock and open its attempt row. No row: nothing is due.
CREATE FUNCTION salesingest_claim(p_owner text, p_lease_ms float8, p_run_id bigint,
                                  p_platform text)
RETURNS TABLE (id bigint, platform text, input text, attempts integer, max_attempts integer,
               claims integer)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  WITH next AS (
    SELECT j.id FROM jobs j
     WHERE j.state IN ('queued','retrying') AND j.run_at <= now()
       AND (p_platform IS NULL OR j.platform = p_platform)
     ORDER BY j.priority DESC, j.run_at, j.id
     LIMIT 1
     FOR UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE jobs j SET state = 'processing', attempts = j.attempts + 1, claims = j.claims + 1,
           lease_owner = p_owner,
           lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
      FROM next WHERE j.id = next.id
    RETURNING j.id, j.platform, j.input::text AS input, j.attempts, j.max_attempts, j.claims),
  attempt AS (
    INSERT INTO attempts (job_id, attempt, run_id, worker, started_at)
    SELECT c.id, c.claims, p_run_id, p_owner, now() FROM claimed c)
  SELECT c.id, c.platform::text, c.input, c.attempts, c.max_attempts, c.claims FROM claimed c;
END $$;

-- Complete job `p_job` if `p_owner` still holds claim `p_claim` (the fence), closing its
-- attempt row; then claim the next job as salesingest_claim does, in the same transaction.
-- `completed` is 1 when the fence held, 0 when the lease was lost (nothing written).
CREATE FUNCTION salesingest_complete_then_claim(p_job bigint, p_job_owner text, p_claim integer,
                                                p_result text, p_owner text, p_lease_ms float8,
                                                p_run_id bigint, p_platform text)
RETURNS TABLE (completed bigint, id bigint, platform text, input text, attempts integer,
               max_attempts integer, claims integer)
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  WITH done AS (
    UPDATE jobs j SET state = 'completed', finished_at = now(), lease_owner = NULL,
           lease_expires_at = NULL, result = p_result::jsonb, last_error = NULL
     WHERE j.id = p_job AND j.state = 'processing' AND j.lease_owner = p_job_owner
       AND j.claims = p_claim
    RETURNING j.id),
  closed AS (
    UPDATE attempts a SET finished_at = now(), outcome = 'completed', error = NULL
     WHERE a.job_id = p_job AND a.attempt = p_claim AND a.finished_at IS NULL
       AND EXISTS (SELECT 1 FROM done))
  SELECT count(*) INTO n FROM done;
  RETURN QUERY
  SELECT n, c.* FROM (SELECT 1) AS one
    LEFT JOIN salesingest_claim(p_owner, p_lease_ms, p_run_id, p_platform) c ON true;
END $$;
