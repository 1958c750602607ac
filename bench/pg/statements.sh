#!/usr/bin/env bash
# Server-side cost of the worker's statement, without the worker: pgbench runs 24,000
# complete-then-claim transactions (one no-op job each) from a scratch database built from the real migrations, per client count, three ways in
# one run:
#   unnamed    the complete-then-claim CTE sent unnamed (-M extended): parsed and planned at
#              every call (the store before migration 3)
#   function   migration 3's PL/pgSQL functions sent unnamed (what the store sends now)
#   prepared   the first script as named prepared statements (-M prepared): the ceiling, but
#              session state that PgBouncer's transaction pooling (< 1.21) breaks
#   window     migration 4's function, 16 jobs recorded and 16 claimed per call (what the worker
#              sends once its jobs prove quick), sent unnamed
#   bench/pg/statements.sh            # PG_URL=postgres://postgres@127.0.0.1:5432 COUNTS="1 4 8"
set -euo pipefail
cd "$(dirname "$0")/../.."
url="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
db=salesingest_bench_statements
jobs=24000
setup() {
  psql -q "$url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
  for m in src/store/postgres/migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 "$url/$db" -f "$m" >/dev/null; done
  psql -q "$url/$db" -c "INSERT INTO jobs (platform, input, run_at, created_at)
    SELECT 'noop', '{}'::jsonb, now(), now() FROM generate_series(1, $((jobs + 6000)))" -c "VACUUM ANALYZE jobs" >/dev/null
}
echo "| clients | unnamed jobs/s | function jobs/s | prepared jobs/s | window (16) jobs/s | function / unnamed | prepared / unnamed | window / function |"
echo "|---|---|---|---|---|---|---|---|"
for c in ${COUNTS:-1 4 8}; do
  declare -A tps=()
  for way in unnamed:extended:claim_unnamed:1 function:extended:claim_fn:1 prepared:prepared:claim_unnamed:1 window:extended:claim_window:16; do
    IFS=: read -r name mode script k <<<"$way"
    setup
    out=$(pgbench -n --verbose-errors -D cid=0 -D ccl=0 -D 'ids={}' -D 'owners={}' -D 'wcl={}' -M "$mode" -c "$c" -j 2 -t $((jobs / c / k)) -f "bench/pg/$script.sql" "$url/$db" 2>&1) || true
    grep -iE "error|abort|failed transactions: [1-9]" <<<"$out" >&2 || true
    tps[$name]=$(echo "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out") * $k" | bc -l)
    done_jobs=$(psql -qtA "$url/$db" -c "SELECT count(*) FROM jobs WHERE state = 'completed'")
    # each client's last claimed job (window) stays processing: its completion would come with
    # the next call
    expected=$((c * (jobs / c / k - 1) * k))
    [ "$done_jobs" = "$expected" ] ||
      echo "note: $name at $c clients: $done_jobs jobs completed, expected $expected" >&2
  done
  printf '| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n' "$c" "${tps[unnamed]}" "${tps[function]}" "${tps[prepared]}" "${tps[window]}" \
    "$(echo "${tps[function]} / ${tps[unnamed]}" | bc -l)" "$(echo "${tps[prepared]} / ${tps[unnamed]}" | bc -l)" \
    "$(echo "${tps[window]} / ${tps[function]}" | bc -l)"
  unset tps
done
psql -q "$url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
