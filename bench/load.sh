#!/bin/sh
# Load benchmark with wrk (Debian): starts `endpointd serve` on a temporary
# home, creates a public endpoint backed by the stand-in replica
# (tests/e2e/fixtures/replica.py, "cmd:" image) with a small queue bound, and
# runs wrk with CONNS connections for SECONDS each against GET /health,
# GET /v2/endpoint/admin and POST to the endpoint through the gateway. Prints
# wrk's latency distribution, every status count (load_status.lua) and the
# daemon's RSS before/after.
# usage: bench/load.sh [path/to/endpointd]   env: CONNS (1000) SECONDS (10)
#        THREADS (2) QUEUE_MAX (16)
set -eu
BIN=${1:-build/endpointd}
CONNS=${CONNS:-1000}
SECONDS_=${SECONDS:-10}
THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
REPLICA=$ROOT/tests/e2e/fixtures/replica.py
T=$(mktemp -d)
TOKEN=epd_load_bench_token_0123456789
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM

command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ENDPOINTD_ADMIN_TOKEN=$TOKEN ENDPOINTD_QUEUE_MAX=${QUEUE_MAX:-16} \
  "$BIN" serve --host 127.0.0.1 --port 0 --home "$T/home" --log-level warn >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 100); do grep -q "listening on" "$T/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^endpointd listening on \(http[^ ]*\).*/\1/p' "$T/out")
[ -n "$URL" ] || { echo "daemon did not start"; cat "$T/err"; exit 1; }
rss() { awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$PID/status"; }

curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$URL/v2/endpoint/admin" -d "{
  \"name\": \"load\", \"type\": \"public\", \"accountId\": null,
  \"provider\": {\"vendor\": \"local\", \"region\": \"local\"},
  \"compute\": {\"accelerator\": \"cpu\", \"instanceSize\": \"x1\", \"instanceType\": \"cpu\",
               \"scaling\": {\"minReplica\": 1, \"maxReplica\": 1}},
  \"model\": {\"repository\": \"$ROOT/tests/e2e\", \"task\": \"custom\", \"framework\": \"custom\",
             \"image\": {\"custom\": {\"url\": \"cmd:python3 $REPLICA --port {port}\",
                                     \"healthRoute\": \"/health\"}}}}" >/dev/null
for _ in $(seq 200); do
  curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v2/endpoint/admin/load" | grep -q '"state":"running"' && break
  sleep 0.1
done
echo "daemon $URL, RSS $(rss) before load; $CONNS connections, $SECONDS_ s per run"

run() { # name url [env...]
  name=$1 url=$2; shift 2
  echo "== $name"
  env "$@" wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_}s" --latency -s "$HERE/load_status.lua" "$url" |
    grep -E 'Requests/sec|Latency |50%|99%|statuses|Socket errors|Non-2xx'
  kill -0 "$PID" || { echo "daemon died"; exit 1; }
  echo "   RSS $(rss)"
}
run "GET /health" "$URL/health"
run "GET /v2/endpoint/admin" "$URL/v2/endpoint/admin" WRK_AUTH=$TOKEN
run "POST gateway (queue bound ${QUEUE_MAX:-16})" "$URL/endpoints/admin/load/" WRK_METHOD=POST \
  WRK_BODY='{"inputs":"hello"}'
sleep 1
echo "RSS $(rss) after load (idle)"
