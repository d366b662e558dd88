#!/usr/bin/env bash
# Installs everything endpointd needs to build and test, idempotently:
# Debian packages with apt-get (sudo when not root) and the npm test clients
# under tests/e2e/node_modules from the committed package.json + lock file.
# Skips work that is already done, so `make run`/`make test` can call it always.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config git curl ca-certificates
  libuv1-dev libhttp-parser-dev libjansson-dev libsqlite3-dev sqlite3
  libcurl4-openssl-dev libsodium-dev libopenblas-dev libpcre2-dev libutf8proc-dev
  libsimde-dev
  python3 python3-pytest python3-requests python3-numpy
  nodejs npm chromium
  clang libclang-rt-14-dev wrk
  slurm-wlm munge
  prometheus podman runc catatonit busybox-static
)
# Optional extras some tests use when present (install on request).
if [ "${ENDPOINTD_FULL_DEPS:-0}" = 1 ]; then
  PKGS+=(python3-torch) # bench/bench_embed.sh peer and ONNX export
fi

missing=()
for p in "${PKGS[@]}"; do
  if [ "$p" = nodejs ] || [ "$p" = npm ]; then
    command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm test clients (pinned by tests/e2e/package-lock.json).
if [ -f tests/e2e/package.json ]; then
  stamp=tests/e2e/node_modules/.install-stamp
  if [ ! -f "$stamp" ] || [ tests/e2e/package-lock.json -nt "$stamp" ]; then
    echo "install-deps: npm ci in tests/e2e"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
fi
