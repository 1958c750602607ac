#!/usr/bin/env bash
# CPU seconds the local PostgreSQL server (postmaster, every backend and background process)
# spends while COMMAND runs: `bench/pg/server_cpu.sh COMMAND [ARGS…]`. Needs to read
# /proc/<postmaster>/stat (run as root or as the postgres user). Used for "where the time goes"
# in the PostgreSQL section of BENCHMARKS.md: server CPU per queue job against per pgbench
# transaction. PGDATA defaults to Debian's /var/lib/postgresql/15/main.
set -euo pipefail
pm=$(head -1 "${PGDATA:-/var/lib/postgresql/15/main}/postmaster.pid")
ticks() {
  local live=0 t
  for p in $(pgrep -P "$pm"); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    live=$((live + t))
  done
  # utime stime of the postmaster, plus cutime cstime: the backends it has reaped.
  awk -v live="$live" '{print $14 + $15 + $16 + $17 + live}' "/proc/$pm/stat"
}
a=$(ticks)
start=$(date +%s.%N)
"$@"
end=$(date +%s.%N)
b=$(ticks)
hz=$(getconf CLK_TCK)
echo "server CPU: $(echo "($b - $a) / $hz" | bc -l | cut -c1-6) s over $(echo "$end - $start" | bc -l | cut -c1-6) s wall" >&2
