-- One no-op job per transaction as the store sends it now: migration 3's function completes the
-- client's previous job and claims the next, sent unnamed. Start with -D cid=0 -D ccl=0.
SELECT completed, id AS cid, claims AS ccl
  FROM salesingest_complete_then_claim(:cid, 'h:' || :client_id, :ccl, '{"events":{}}',
                                       'h:' || :client_id, 60000, 1, NULL) \gset
