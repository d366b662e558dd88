#!/bin/sh
# Installs the pinned node-llama-cpp (llama.cpp bindings + prebuilt linux-x64 CPU
# binaries, no CUDA/Vulkan variants) into bench/node_modules (exact versions, package-lock.json).
# npm install, not npm ci: the lock lacks optional platform packages that npm
# cannot resolve for 3.22.1, which makes npm ci refuse it. The benchmark drives it
# with getLlama({gpu: false, build: "never"}) and UV_THREADPOOL_SIZE=1.
# Called by bench/run.sh only; never by `make test`.
set -eu
cd "$(dirname "$0")"
if [ -f node_modules/@node-llama-cpp/linux-x64/package.json ] && [ -f node_modules/node-llama-cpp/package.json ]; then
  exit 0
fi
# the install command of issue 9, verbatim (exact pins saved in package.json):
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --save-exact --omit=optional node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1
