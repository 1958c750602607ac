#!/usr/bin/env bash
# The issue-15 benchmark: a ROWS-row file (default 100,000) of every report layout added for
# wide authors, imported by the real release binary, next to `sqlite3 .import` of the same rows
# as CSV, measured in the same run.
#
#   bench/wide.sh                 # 100,000 rows per file (about 5 minutes on 2 shared cores)
#   bench/wide.sh 20000           # smaller files
#   ONLY=XLSX bench/wide.sh       # only the rows whose label contains ONLY
#   BIN=path/to/salesingest KEEP=1 ONLY=XLSX bench/wide.sh
#                                 # another binary (not built), and the files already generated
#                                 # (KEEP=1 skips the generators: compare two builds on one set)
#
# Files (into target/bench-wide/, by tests/fixtures/gen/make_wide_bench.py, make_wide2_bench.py
# and make_wide3_bench.py; each generator also writes a plain CSV twin of the same rows):
#   Kobo sales XLSX (Details + Summary) and its CSV copy, Kobo Plus XLSX, StreetLib XLSX and CSV,
#   Google Play earnings (UTF-16, decimal comma), Apple Books financial (gzip), B&N Press export,
#   IngramSpark compensation report (tab text and HTML table, both `.xls`), IngramSpark Sales
#   Report, Gumroad Sales CSV export.
# Per file, on a fresh SQLite database each:
#   import      `salesingest --db X import FILE`: detection by content + the full check at enqueue
#   run-worker  `salesingest --db X run-worker --json`: parse + stage + publish (must complete 1
#               job with ROWS events, or the script fails)
#   sqlite3     `sqlite3 Y '.import --csv TWIN t'` of the CSV twin (one table, no indexes)
# each under `/usr/bin/time -v` (wall time, peak RSS). rows/s = ROWS / (import + run-worker);
# ratio = (import + run-worker) / sqlite3. Prints a markdown table (also to
# target/bench-wide/results.md). Needs python3, sqlite3 and GNU time (`apt-get install sqlite3
# time`). The machine is shared: figures drift; each ratio compares two runs a second apart.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-100000}"
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench-wide"
only="${ONLY:-}"
for tool in python3 sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install sqlite3 time)" >&2; exit 2; }
done
if [ -n "${BIN:-}" ]; then
  bin="$BIN"
else
  bin="$target/release/salesingest"
  cargo build --release --locked --bin salesingest >&2
fi
if [ "${KEEP:-0}" = 1 ] && [ -d "$out" ]; then
  echo "reusing the files in $out" >&2
  rm -rf "$out/db"
  mkdir -p "$out/db"
else
  rm -rf "$out"
  mkdir -p "$out/db"
  echo "generating $rows-row files into $out" >&2
  python3 tests/fixtures/gen/make_wide_bench.py "$out" "$rows" >&2
  python3 tests/fixtures/gen/make_wide2_bench.py "$out" "$rows" >&2
  python3 tests/fixtures/gen/make_wide3_bench.py "$out" "$rows" >&2
fi

# `/usr/bin/time -v` report → "seconds kbytes".
measure() {
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
              /Maximum resident set size/ { k = $2 }
              END { printf "%.2f %d\n", s, k }' "$1"
}

# label|file|CSV twin
cases=(
  "Kobo sales XLSX (Details + Summary)|kobo_sales.xlsx|kobo_sales.import.csv"
  "Kobo sales CSV copy|kobo_sales.csv|kobo_sales.import.csv"
  "Kobo Plus XLSX|kobo_plus.xlsx|kobo_plus.import.csv"
  "StreetLib billing XLSX|streetlib.xlsx|streetlib.import.csv"
  "StreetLib billing CSV|streetlib.csv|streetlib.import.csv"
  "Google Play earnings (UTF-16 TSV, decimal comma)|google_play.csv|google_play.import.csv"
  "Apple Books financial (gzip TSV)|apple_books_big.txt.gz|apple_books_big.rows.csv"
  "B&N Press export (preamble, =\"…\" cells)|bn_press_big.csv|bn_press_big.rows.csv"
  "IngramSpark compensation (tab text .xls)|ingramspark_big.xls|ingramspark_big.rows.csv"
  "IngramSpark compensation (HTML table .xls)|ingramspark_big_html.xls|ingramspark_big.rows.csv"
  "IngramSpark Sales Report|ingramspark_sales_big.csv|ingramspark_sales_big.rows.csv"
  "Gumroad Sales CSV export|gumroad_sales_big.csv|gumroad_sales_big.rows.csv"
)

{
  echo "| file | size (MB) | import (s) | run-worker (s) | total (s) | rows/s | peak RSS (MB) | sqlite3 .import (s) | ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$out/results.md"
n=0
for c in "${cases[@]}"; do
  IFS='|' read -r label file twin <<<"$c"
  [[ -z "$only" || "$label" == *"$only"* ]] || continue
  n=$((n + 1))
  db="$out/db/$n.db"
  base="$out/db/$n.base.db"
  echo "== $label ($file)" >&2
  /usr/bin/time -v "$bin" --db "$db" -q import "$out/$file" 2>"$out/db/$n.import.time" >/dev/null \
    || { cat "$out/db/$n.import.time" >&2; exit 1; }
  /usr/bin/time -v "$bin" --db "$db" run-worker --json 2>"$out/db/$n.worker.time" >"$out/db/$n.worker.json" \
    || { cat "$out/db/$n.worker.time" >&2; exit 1; }
  completed=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v["completed"], v["jobs"][0]["events"]["inserted"])' "$out/db/$n.worker.json")
  [ "$completed" = "1 $rows" ] || { echo "$file: expected 1 job with $rows events, got: $completed" >&2; exit 1; }
  /usr/bin/time -v sqlite3 "$base" ".import --csv $out/$twin t" 2>"$out/db/$n.sqlite.time" >/dev/null
  read -r ti ki < <(measure "$out/db/$n.import.time")
  read -r tw kw < <(measure "$out/db/$n.worker.time")
  read -r ts _ < <(measure "$out/db/$n.sqlite.time")
  size=$(stat -c %s "$out/$file")
  python3 - "$label" "$size" "$ti" "$tw" "$ki" "$kw" "$ts" "$rows" >>"$out/results.md" <<'PY'
import sys
label, size, ti, tw, ki, kw, ts, rows = sys.argv[1:]
ti, tw, ts = float(ti), float(tw), float(ts)
total = ti + tw
rss = max(int(ki), int(kw)) / 1024
ratio = f"{total / ts:.1f}×" if ts > 0 else "–"
print(f"| {label} | {int(size) / 1e6:.1f} | {ti:.2f} | {tw:.2f} | {total:.2f} | {int(rows) / total:,.0f} | {rss:.1f} | {ts:.2f} | {ratio} |")
PY
  tail -n 1 "$out/results.md" >&2
  rm -f "$db" "$db-wal" "$db-shm" "$base"
done
cat "$out/results.md"
