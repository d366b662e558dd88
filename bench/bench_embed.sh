#!/bin/bash
# Embeddings benchmark: sentences/s of a BERT-base-shaped encoder (hidden 768, 12 layers, 12 heads,
# intermediate 3072, random weights from tools/make_tiny_encoders.py --bert-base), 128 tokens,
# batch 1 and 32, for endpointd (bench_embed.c) vs onnxruntime-node 1.22.0 (ONNX export by
# torch.onnx.export, Debian python3-torch) vs PyTorch eager (python3-torch), same threads, run
# interleaved in one go; checks the engines agree on the embedding. Not part of make test.
#   bench/bench_embed.sh [BUILD_DIR]    env: THREADS=2 BATCHES="1 32" SEQ=128 MIN_SECONDS=5 ROUNDS=2 OUT=FILE
# Writes bench/results/embed-latest.jsonl; the model goes to $BUILD_DIR/bench-models/bert-base.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench-embed}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
THREADS=${THREADS:-2}
BATCHES=${BATCHES:-"1 32"}
SEQ=${SEQ:-128}
MIN_SECONDS=${MIN_SECONDS:-5}
ROUNDS=${ROUNDS:-2}
PY=/usr/bin/python3
M=$BUILD/bench-models/bert-base
OUT=${OUT:-$ROOT/bench/results/embed-latest.jsonl}
log() { echo "[bench-embed] $*" >&2; }

# never two benchmarks at once on this machine; bench/run.sh calls this script while it holds the
# lock and says so with EP_BENCH_LOCK_HELD=1
if [ "${EP_BENCH_LOCK_HELD:-0}" != 1 ]; then
  exec 9>/tmp/endpointd-bench.lock
  flock -w 1800 9 || { log "another benchmark holds /tmp/endpointd-bench.lock"; exit 1; }
fi

[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" || log "WARNING: $BUILD is not a Release build"
cmake --build "$BUILD" -j"$(nproc)" --target bench_embed >/dev/null
$PY -c 'import torch' 2>/dev/null || { log "python3-torch is missing: apt-get install python3-torch"; exit 1; }
if [ ! -f "$M/model.safetensors" ]; then
  log "writing the BERT-base-shaped model to $M"
  $PY "$ROOT/tools/make_tiny_encoders.py" --bert-base "$M"
fi
if [ ! -f "$M.onnx" ] || [ "$M.onnx" -ot "$M/model.safetensors" ]; then
  log "exporting $M.onnx with torch.onnx.export"
  $PY "$ROOT/bench/bench_embed_peer.py" --model "$M" --export-onnx "$M.onnx" 2>/dev/null
fi
if [ ! -d "$ROOT/bench/embed/node_modules/onnxruntime-node" ]; then
  (cd "$ROOT/bench/embed" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >&2)
fi

BARGS=()
for b in $BATCHES; do BARGS+=(--batch "$b"); done
COMMON=(--threads "$THREADS" --seq "$SEQ" --min-seconds "$MIN_SECONDS" "${BARGS[@]}")
: >"$OUT"
for r in $(seq 1 "$ROUNDS"); do
  log "round $r/$ROUNDS: endpointd"
  OMP_NUM_THREADS=$THREADS "$BUILD/bench_embed" --model "$M" "${COMMON[@]}" | tee -a "$OUT"
  log "round $r/$ROUNDS: onnxruntime-node"
  UV_THREADPOOL_SIZE=1 node "$ROOT/bench/embed/bench_ort.mjs" --model "$M.onnx" "${COMMON[@]}" | tee -a "$OUT"
  log "round $r/$ROUNDS: torch"
  OMP_NUM_THREADS=$THREADS $PY "$ROOT/bench/bench_embed_peer.py" --model "$M" "${COMMON[@]}" | tee -a "$OUT"
done

# best round per engine and batch; the engines must agree on sentence 0's embedding
$PY - "$OUT" "$(nproc)" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best, ref = {}, {}
for r in rows:
    k = (r["engine"].split("-")[0], r["batch"])
    if k not in best or r["sentences_per_s"] > best[k]["sentences_per_s"]:
        best[k] = r
    ref.setdefault(r["batch"], r["first"])
    diff = max(abs(a - b) for a, b in zip(r["first"], ref[r["batch"]]))
    if diff > 1e-3:
        sys.exit("engines disagree on the embedding (max diff %g): %s" % (diff, r["engine"]))
print("| engine | threads | batch | ms/batch | sentences/s |")
print("|---|---|---|---|---|")
for (e, b), r in sorted(best.items(), key=lambda x: (x[0][1], x[0][0])):
    print("| %s | %d | %d | %.1f | %.2f |" % (r["engine"], r["threads"], b, r["ms_per_batch"], r["sentences_per_s"]))
print("(%d cores on this machine; best of the rounds; seq %d)" % (int(sys.argv[2]), rows[0]["seq"]))
EOF
