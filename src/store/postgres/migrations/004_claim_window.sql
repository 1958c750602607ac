-- salesingest PostgreSQL schema, version 4: a worker's window of quick jobs recorded and the next
-- window claimed in one call (issue #13 §5). A worker whose jobs each end in a few milliseconds
-- (webhook pings, no-op syncs) claims up to 16 at a time and records the finished ones together,
-- so a commit, a round trip and a plan's call overhead are shared by the window instead of paid
-- per job. Every completion is fenced on its own lease and claim number, as in
-- salesingest_complete_then_claim. Measured by bench/pg/statements.sh. Append-only: never edit a
-- released migration.

-- Complete each job `p_jobs[i]` with result `p_results[i]` if `p_job_owners[i]` still holds its
-- claim `p_claims[i]` (the fence), closing its attempt row; then claim up to `p_limit` due jobs for
-- `p_owner` (optionally of one platform), in claim order, opening their attempt rows.
-- `completed` lists the positions (from 1) in `p_jobs` whose fence held, on every row; no claimed
-- job: one row of NULLs after it.
CREATE FUNCTION salesingest_complete_all_then_claim(p_jobs bigint[], p_job_owners text[],
                                                    p_claims integer[], p_results text[],
                                                    p_owner text, p_lease_ms float8,
                                                    p_run_id bigint, p_platform text,
                                                    p_limit integer)
RETURNS TABLE (completed bigint[], id bigint, platform text, input text, attempts integer,
               max_attempts integer, claims integer)
LANGUAGE plpgsql AS $$
DECLARE
  done bigint[];
BEGIN
  WITH mine AS (
    SELECT * FROM unnest(p_jobs, p_job_owners, p_claims, p_results)
                  WITH ORDINALITY AS m(job, owner, claim, result, i)),
  fin AS (
    UPDATE jobs j SET state = 'completed', finished_at = now(), lease_owner = NULL,
           lease_expires_at = NULL, result = mine.result::jsonb, last_error = NULL
      FROM mine
     WHERE j.id = mine.job AND j.state = 'processing' AND j.lease_owner = mine.owner
       AND j.claims = mine.claim
    RETURNING j.id, mine.claim, mine.i),
  closed AS (
    UPDATE attempts a SET finished_at = now(), outcome = 'completed', error = NULL
      FROM fin
     WHERE a.job_id = fin.id AND a.attempt = fin.claim AND a.finished_at IS NULL)
  SELECT coalesce(array_agg(fin.i), '{}') INTO done FROM fin;
  RETURN QUERY
  WITH next AS (
    SELECT j.id FROM jobs j
     WHERE p_limit > 0 AND j.state IN ('queued','retrying') AND j.run_at <= now()
       AND (p_platform IS NULL OR j.platform = p_platform)
     ORDER BY j.priority DESC, j.run_at, j.id
     LIMIT greatest(p_limit, 0)
     FOR UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE jobs j SET state = 'processing', attempts = j.attempts + 1, claims = j.claims + 1,
           lease_owner = p_owner,
           lease_expires_at = now() + p_lease_ms * interval '1 millisecond'
      FROM next WHERE j.id = next.id
    RETURNING j.id, j.platform, j.input::text AS input, j.attempts, j.max_attempts, j.claims,
              j.priority, j.run_at),
  attempt AS (
    INSERT INTO attempts (job_id, attempt, run_id, worker, started_at)
    SELECT c.id, c.claims, p_run_id, p_owner, now() FROM claimed c)
  SELECT done, c.id, c.platform::text, c.input, c.attempts, c.max_attempts, c.claims
    FROM (SELECT 1) AS one LEFT JOIN claimed c ON true
   ORDER BY c.priority DESC, c.run_at, c.id;
END $$;
