#!/usr/bin/env bash
# `make run`: start the daemon on 127.0.0.1:PORT with state in HOME_DIR.
set -euo pipefail
BIN=$1; HOME_DIR=$2; PORT=$3
mkdir -p "$HOME_DIR"
exec "$BIN" serve --host 127.0.0.1 --port "$PORT" --home "$HOME_DIR"
