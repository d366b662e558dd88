#!/bin/sh
# Load benchmark with wrk (Debian): a daemon on a temporary home with the
# public endpoint "load" (stand-in replica, queue bound QUEUE_MAX), then wrk
# with CONNS connections for SECONDS each against GET /health,
# GET /v2/endpoint/admin and POST through the gateway. Prints wrk's latency
# percentiles, every status count (load_status.lua) and the daemon's RSS.
# usage: bench/load.sh [path/to/endpointd]
#   env: CONNS (1000) SECONDS (10) THREADS (2) QUEUE_MAX (16)
set -eu
BIN=${1:-build/endpointd}
CONNS=${CONNS:-1000}
SECS=${SECONDS:-10}
THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/load_lib.sh"
start_daemon
create_endpoint
echo "daemon $URL, RSS $(rss) before load; $CONNS connections, $SECS s per run"
echo "== GET /health"
run_wrk "$SECS" "$URL/health"
echo "   RSS $(rss)"
echo "== GET /v2/endpoint/admin"
run_wrk "$SECS" "$URL/v2/endpoint/admin" WRK_AUTH=$TOKEN
echo "   RSS $(rss)"
echo "== POST gateway (queue bound ${QUEUE_MAX:-16})"
run_wrk "$SECS" "$URL/endpoints/admin/load/" WRK_METHOD=POST WRK_BODY='{"inputs":"hello"}'
sleep 1
echo "RSS $(rss) after load (idle)"
