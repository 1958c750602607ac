#!/usr/bin/env bash
# The PostgreSQL benchmarks (issue 13 §5) in one command: build the release binary and the
# bench examples, install graphile-worker 0.18 (npm) into target/bench-pg/gw, then run
# `target/release/examples/bench_pg all` (queue vs pgbench floor vs graphile-worker; flatness
# as history grows; D2D import and `sales summary` on SQLite and PostgreSQL). Tables go to
# bench/latest-pg.md and stdout. Every database it makes (salesingest_bench_*) is dropped.
#
#   bench/pg.sh                 # everything, full sizes (about 20–30 minutes on 2 shared cores)
#   bench/pg.sh queue           # one group: queue | flat | import | all
#
# Sizes and settings (environment):
#   PG_URL=postgres://postgres@127.0.0.1:5432   server (trust auth; needs CREATE DATABASE)
#   PG_JOBS=5000           no-op jobs per round
#   PG_COUNTS=1,2,4,8      worker processes / pgbench clients / graphile job slots
#   PG_ROUNDS=3            rounds per point (medians reported)
#   PG_FLOOR_SECS=5        seconds of pgbench per round
#   PG_HISTORY=0,100000,1000000   finished jobs in history for the flatness points
#   PG_ROWS=1000000        rows of the timed D2D import
#   PG_EVENTS=10000000     events for `sales summary` (PG_EVENTS / PG_ROWS files imported)
#   PG_GW=on|off           run graphile-worker (needs node and npm)
# Needs: pgbench and psql (apt postgresql-client), node + npm, /usr/bin/time, /usr/bin/sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bins --examples
gw="$target/bench-pg/gw"
if [ "${PG_GW:-on}" != off ] && [ ! -f "$gw/node_modules/graphile-worker/package.json" ]; then
  mkdir -p "$gw"
  [ -f "$gw/package.json" ] || echo '{"name":"gw-bench","private":true}' > "$gw/package.json"
  (cd "$gw" && npm install --no-audit --no-fund graphile-worker@0.18)
fi
exec > >(tee bench/latest-pg.md)
timeout "${PG_TIMEOUT:-3600}" "$target/release/examples/bench_pg" "${1:-all}" \
  --pg "${PG_URL:-postgres://postgres@127.0.0.1:5432}" \
  --jobs "${PG_JOBS:-5000}" --counts "${PG_COUNTS:-1,2,4,8}" --rounds "${PG_ROUNDS:-3}" \
  --floor-secs "${PG_FLOOR_SECS:-5}" --history "${PG_HISTORY:-0,100000,1000000}" \
  --rows "${PG_ROWS:-1000000}" --events "${PG_EVENTS:-10000000}" --gw "${PG_GW:-on}" \
  --gw-dir "$gw"
