#!/usr/bin/env bash
# Regenerate the figures in BENCHMARKS.md: build the release binary and the bench example, run
# every benchmark, and write the markdown tables to bench/latest.md (and stdout).
#
#   bench/run.sh                  # everything, full sizes (about 5–10 minutes on 2 cores)
#   bench/run.sh queue            # one group: queue | import | kdp | gumroad | status
#   bench/run.sh import --rows 200000
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --examples
target="${CARGO_TARGET_DIR:-target}"
"$target/release/examples/bench" "${@:-all}" | tee bench/latest.md
