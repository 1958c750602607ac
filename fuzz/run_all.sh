#!/usr/bin/env bash
# Run every fuzz target for SECS seconds each (default 150), seeded from fuzz/seeds/<target>.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets stable rustc accept
# the nightly-only flags cargo-fuzz passes (sanitizer, coverage instrumentation).
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-150}"
for t in d2d_csv kdp_xlsx kdp_csv smashwords kobo streetlib google_play apple_books barnes_noble ingramspark gumroad_csv gumroad_page gumroad_ping; do
  mkdir -p "corpus/$t"
  echo "== $t (${secs}s)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" "seeds/$t" ${CARGO_TARGET_DIR:+--target-dir "$CARGO_TARGET_DIR"} \
    -- -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -max_len=262144 2>&1 | tail -n 4
  echo "exit: ${PIPESTATUS[0]}"
done
