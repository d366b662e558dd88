#!/usr/bin/env bash
# `make run`: start the daemon on 127.0.0.1:PORT with state in HOME_DIR, create
# the `demo` endpoint from the bundled stories260K model (once), print the admin
# token and curl examples, and stay in the foreground (Ctrl-C stops the daemon
# gracefully; the state in HOME_DIR is kept for the next run).
set -euo pipefail
BIN=$1; HOME_DIR=$2; PORT=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$HOME_DIR"
URL="http://127.0.0.1:$PORT"

"$BIN" serve --host 127.0.0.1 --port "$PORT" --home "$HOME_DIR" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID' INT TERM

for _ in $(seq 1 100); do
  curl -sf "$URL/health" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { echo "endpointd exited; see the log above" >&2; exit 1; }
  sleep 0.1
done

TOKEN=${ENDPOINTD_ADMIN_TOKEN:-$(cat "$HOME_DIR/admin.token" 2>/dev/null || true)}
if [ -z "$TOKEN" ]; then
  echo "no admin token found in $HOME_DIR/admin.token" >&2
else
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v2/endpoint/admin/demo")
  if [ "$code" = 404 ]; then
    curl -sf -X POST "$URL/v2/endpoint/admin" -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' -d @- >/dev/null <<JSON || echo "could not create the demo endpoint" >&2
{"name": "demo", "type": "protected",
 "provider": {"vendor": "local", "region": "local"},
 "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
             "scaling": {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15}},
 "model": {"repository": "$ROOT/models/stories260K", "framework": "pytorch",
           "task": "text-generation", "image": {"huggingface": {}}}}
JSON
  fi
  cat <<MSG

endpointd is running at $URL (state in $HOME_DIR)
admin token: in $HOME_DIR/admin.token (printed by the daemon on its first start; keep it secret)

  curl -s $URL/v2/endpoint/admin -H "Authorization: Bearer \$(cat $HOME_DIR/admin.token)"
  curl -s $URL/endpoints/admin/demo/generate -H "Authorization: Bearer \$(cat $HOME_DIR/admin.token)" \\
       -H 'Content-Type: application/json' -d '{"inputs": "Once upon a time", "parameters": {"max_new_tokens": 40}}'

Dashboard: $URL/    Stop: Ctrl-C
MSG
fi
wait $PID
