# Shared by bench/load.sh and bench/soak.sh (sourced, POSIX sh): start
# `endpointd serve` on a temporary home, create the public endpoint "load"
# backed by the stand-in replica (tests/e2e/fixtures/replica.py as a "cmd:"
# image), read the daemon's RSS, run one wrk pass with status counting.
# Expects BIN, CONNS, THREADS, HERE (bench dir); sets T, PID, URL, TOKEN.
ROOT=$(dirname "$HERE")
REPLICA=$ROOT/tests/e2e/fixtures/replica.py
TOKEN=epd_load_bench_token_0123456789
T=$(mktemp -d)
lib_cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap lib_cleanup EXIT INT TERM
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_daemon() {
  ENDPOINTD_ADMIN_TOKEN=$TOKEN ENDPOINTD_QUEUE_MAX=${QUEUE_MAX:-16} \
    "$BIN" serve --host 127.0.0.1 --port 0 --home "$T/home" --log-level warn >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$T/out" 2>/dev/null && break; sleep 0.1; done
  URL=$(sed -n 's/^endpointd listening on \(http[^ ]*\).*/\1/p' "$T/out")
  [ -n "$URL" ] || { echo "daemon did not start"; cat "$T/err"; exit 1; }
}

create_endpoint() {
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    "$URL/v2/endpoint/admin" -d "{
  \"name\": \"load\", \"type\": \"public\", \"accountId\": null,
  \"provider\": {\"vendor\": \"local\", \"region\": \"local\"},
  \"compute\": {\"accelerator\": \"cpu\", \"instanceSize\": \"x1\", \"instanceType\": \"cpu\",
               \"scaling\": {\"minReplica\": 1, \"maxReplica\": 1}},
  \"model\": {\"repository\": \"$ROOT/tests/e2e\", \"task\": \"custom\", \"framework\": \"custom\",
             \"image\": {\"custom\": {\"url\": \"cmd:python3 $REPLICA --port {port}\",
                                     \"healthRoute\": \"/health\"}}}}" >/dev/null
  for _ in $(seq 200); do
    curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v2/endpoint/admin/load" |
      grep -q '"state":"running"' && return 0
    sleep 0.1
  done
  echo "endpoint did not reach running"; exit 1
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
rss() { awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$PID/status"; }

# run_wrk SECONDS URL [VAR=value ...]: one wrk pass; prints the summary lines.
run_wrk() {
  secs=$1 url=$2; shift 2
  env "$@" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency -s "$HERE/load_status.lua" "$url" |
    grep -E 'Requests/sec|Latency |50%|99%|statuses|Socket errors|Non-2xx'
  [ "$(awk '/^State/ {print $2}' "/proc/$PID/status" 2>/dev/null)" != Z ] &&
    kill -0 "$PID" 2>/dev/null || { echo "daemon died"; cat "$T/err"; exit 1; }
}
