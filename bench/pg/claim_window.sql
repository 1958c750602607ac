-- A window of 16 quick no-op jobs per transaction, as the worker sends it once its jobs prove
-- quick: migration 4's function records the client's previous window (each job fenced on its
-- own lease) and claims the next 16, sent unnamed. Start with -D ids={} -D owners={} -D wcl={}.
SELECT completed, array_agg(id) AS ids, array_agg('h:' || :client_id) AS owners,
       array_agg(claims) AS wcl
  FROM salesingest_complete_all_then_claim(:ids::bigint[], :owners::text[], :wcl::int[],
         array_fill('{"events":{}}'::text, ARRAY[cardinality(:ids::bigint[])]),
         'h:' || :client_id, 60000, 1, NULL, 16)
 GROUP BY completed \gset
