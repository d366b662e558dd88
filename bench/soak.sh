#!/bin/sh
# Soak: the load of bench/load.sh repeated for DURATION seconds (rounds of
# WINDOW seconds rotating API list, health and gateway), RSS recorded after
# each round. Fails when the daemon dies or its idle RSS at the end exceeds the
# idle RSS after the first round by more than MAX_GROWTH_MIB (a leak).
# usage: bench/soak.sh [path/to/endpointd]
#   env: DURATION (300) WINDOW (10) CONNS (1000) THREADS (2) MAX_GROWTH_MIB (16)
set -eu
BIN=${1:-build/endpointd}
DURATION=${DURATION:-300}
WINDOW=${WINDOW:-10}
CONNS=${CONNS:-1000}
THREADS=${THREADS:-2}
MAX_GROWTH_MIB=${MAX_GROWTH_MIB:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/load_lib.sh"
start_daemon
create_endpoint
echo "soak: $URL, $CONNS connections, ${DURATION}s in ${WINDOW}s rounds, RSS $(rss) at start"
start=$(date +%s) round=0 first=""
while [ $(($(date +%s) - start)) -lt "$DURATION" ]; do
  case $((round % 3)) in
    0) run_wrk "$WINDOW" "$URL/v2/endpoint/admin" WRK_AUTH=$TOKEN | grep statuses ;;
    1) run_wrk "$WINDOW" "$URL/health" | grep statuses ;;
    2) run_wrk "$WINDOW" "$URL/endpoints/admin/load/" WRK_METHOD=POST \
         WRK_BODY='{"inputs":"hello"}' | grep statuses ;;
  esac
  sleep 1
  now=$(rss_kib)
  [ -n "$first" ] || first=$now
  round=$((round + 1))
  echo "round $round: idle RSS $((now / 1024)) MiB"
done
growth=$(((now - first) / 1024))
echo "soak: $round rounds, idle RSS $((first / 1024)) -> $((now / 1024)) MiB (growth $growth MiB, limit $MAX_GROWTH_MIB)"
[ "$growth" -le "$MAX_GROWTH_MIB" ] || { echo "soak: FAIL: RSS grew"; exit 1; }
echo "soak: ok"
