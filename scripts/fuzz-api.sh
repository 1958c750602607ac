#!/usr/bin/env bash
# Fuzz the JSON API of `salesingest serve` from its committed OpenAPI document with
# schemathesis (from PyPI, in a venv under target/), against a fresh server on a free port,
# with a time bound. Fails on any 5xx or any response that breaks the document.
#
#   scripts/fuzz-api.sh [SECONDS]      # default 120; FUZZ_BIN=... to pick the binary
#
# The Gumroad hook is fuzzed with its real secret; /api/run is left out of the stateful
# phase's load only by its own 409 (one run at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_BUDGET=${1:-120}
VENV=target/fuzz-api-venv
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
BIN=${FUZZ_BIN:-target/debug/salesingest}
if [ -z "${FUZZ_BIN:-}" ]; then cargo build --locked -q; fi

TMP=$(mktemp -d)
export HOME=$TMP XDG_DATA_HOME=$TMP/xdg XDG_CONFIG_HOME=$TMP/cfg SALESINGEST_DB=$TMP/data/s.db NO_COLOR=1
unset SALESINGEST_CONFIG
"$BIN" serve --json --listen 127.0.0.1:0 > "$TMP/start.json" 2> "$TMP/serve.log" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$TMP/start.json" ] && break; sleep 0.1; done
ADDR=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["address"])' "$TMP/start.json")
TOKEN=$(cat "$TMP/data/serve-token")
# Some data for the reads: a report file and a Ping, then one pass.
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" --data-binary @tests/fixtures/d2d/d2d_sales.csv "http://$ADDR/api/files?name=d2d.csv"
curl -fsS -o /dev/null --data-binary @tests/fixtures/gumroad/gumroad_ping.txt "http://$ADDR$("$BIN" serve --show-hook-url --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["hook_path"])')"
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST -d '{"batch":5}' "http://$ADDR/api/run"

mkdir -p target/fuzz-api
set +e
"$VENV/bin/st" run docs/openapi.json --url "http://$ADDR" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-time "$SECONDS_BUDGET" --request-timeout 30 --workers 2 --seed 14 \
  --suppress-health-check all \
  --report junit --report-dir target/fuzz-api
rc=$?
set -e
echo "server: $(grep -c ' 5[0-9][0-9] ' "$TMP/serve.log" || true) answers 5xx of $(grep -cE ' [0-9]{3} [0-9]+ms$' "$TMP/serve.log" || true) requests logged"
cp "$TMP/serve.log" target/fuzz-api/serve.log
exit $rc
