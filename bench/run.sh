#!/bin/bash
# Engine benchmark (issue 9): endpointd vs llama.cpp (node-llama-cpp) on the same
# weights, threads, prompt length, decode steps and precision, run interleaved
# (REPS repetitions, median), printing ratios ours / llama.cpp. Usage:
#   bench/run.sh [BUILD_DIR]      env: REPS=3 THREADS="1 2" DTYPES="f32 f16" QUICK=1 (stories only)
# Writes bench/results/latest.json. Models and GGUF files go to $BUILD_DIR/bench-models.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
DTYPES=${DTYPES:-"f32 f16"}
PY=/usr/bin/python3
W=$BUILD/bench-models
RAW=$BUILD/bench-raw.jsonl
mkdir -p "$W" "$ROOT/bench/results"
log() { echo "[bench] $*" >&2; }

# ---- build and install ----
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target bench_engine >/dev/null
"$ROOT/bench/install-llamacpp.sh" >&2
ENG=$BUILD/bench_engine
LL="node $ROOT/bench/bench_llamacpp.mjs"

# ---- models ----
gguf() { # repo name dtype
  [ -f "$W/$2-$3.gguf" ] || { log "converting $2 to GGUF $3"; $PY "$ROOT/tools/st_to_gguf.py" "$1" "$W/$2-$3.gguf" --dtype "$3"; }
}
MODELS="stories260K"
declare -A REPO=([stories260K]=$ROOT/models/stories260K)
declare -A SHAPE=([stories260K]="--prompt 128 --decode 128")
if [ "${QUICK:-0}" != 1 ]; then
  if [ ! -f "$W/gpt2-124m/model.safetensors" ]; then
    log "writing a 124M-class GPT-2 with random weights"
    $PY "$ROOT/tools/make_tiny_model.py" --arch gpt2 --size 124m --seed 1 \
      --tokenizer "$ROOT/tests/data/tokenizers/gpt2/tokenizer.json" --out "$W/gpt2-124m"
  fi
  MODELS="$MODELS gpt2-124m"
  REPO[gpt2-124m]=$W/gpt2-124m
  SHAPE[gpt2-124m]="--prompt 128 --decode 32"
fi
for m in $MODELS; do for d in $DTYPES q8_0; do gguf "${REPO[$m]}" "$m" "$d"; done; done

# ---- conversion check: llama.cpp's greedy stories260K continuation == our golden ----
CHECK=$($PY - "$ROOT/tests/data/stories260K-greedy.json" <<'EOF'
import json, sys
c = [c for c in json.load(open(sys.argv[1]))["cases"] if c["prompt"] == "Once upon a time"][0]
print(",".join(map(str, c["input_ids"])), ",".join(map(str, c["greedy_ids"])))
EOF
)
read -r IN_IDS GREEDY <<<"$CHECK"
$LL --model "$W/stories260K-f32.gguf" --check "Once upon a time" --expect-input "$IN_IDS" --expect "$GREEDY" >"$W/check.json" \
  || { log "FAIL: llama.cpp greedy on the converted stories260K differs from tests/data/stories260K-greedy.json"; cat "$W/check.json" >&2; exit 1; }
log "conversion check ok: llama.cpp greedy continuation of 'Once upon a time' matches the golden 64 ids"

# ---- measurements, interleaved ----
: >"$RAW"
"$ENG" --memcpy 256 >>"$RAW"
run_pair() { # rep, then the common args; alternate which engine goes first
  local rep=$1 label=$2 dtype=$3; shift 3
  local ours=("$ENG" --model "${REPO[$label]}" --dtype "$dtype" --label "$label" --reps 2 "$@")
  local ref=($LL --model "$W/$label-$dtype.gguf" --dtype "$dtype" --label "$label" --reps 2 "$@")
  local one=(ours ref); ((rep % 2)) || one=(ref ours)
  for e in "${one[@]}"; do
    local -n cmd=$e
    timeout 60 "${cmd[@]}" 2>/dev/null | tail -1 >>"$RAW" || log "$e run failed or timed out: $label $dtype $*"
  done
}
t0=$(date +%s)
for rep in $(seq 1 "$REPS"); do
  for m in $MODELS; do
    for d in $DTYPES; do for t in $THREADS; do
      log "rep $rep: $m $d threads=$t"
      run_pair "$rep" "$m" "$d" --threads "$t" ${SHAPE[$m]}
    done; done
    log "rep $rep: $m f32 batch=4 threads=1"
    run_pair "$rep" "$m" f32 --threads 1 --batch 4 --decode 32
  done
done
log "measured in $(($(date +%s) - t0)) s"

MACHINE="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY "$ROOT/bench/report.py" "$RAW" "$ROOT/bench/results/latest.json" --machine "$MACHINE"
