#!/usr/bin/env bash
# Load benchmark of `salesingest serve`: 1,000 distinct Gumroad Pings by 16 concurrent clients,
# without and with --worker. Builds the release binary first. See bench/serve-load.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
python3 bench/serve-load.py --bin target/release/salesingest "$@"
python3 bench/serve-load.py --bin target/release/salesingest --worker "$@"
