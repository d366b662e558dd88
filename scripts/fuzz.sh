#!/usr/bin/env bash
# Fuzzing (issue 10): builds the libFuzzer drivers of tests/fuzz/ with clang in
# build-fuzz (-DENDPOINTD_FUZZ=ON: ASan + UBSan + libFuzzer) and runs each for
# SECONDS from its seed corpus tests/fuzz/corpus/<name>/.
#   scripts/fuzz.sh [SECONDS] [NAME...]    build, then run NAME (default all)
#   scripts/fuzz.sh --run BIN NAME SECONDS WORKDIR   one run (the fuzz ctests)
# A crash leaves WORKDIR/crash-* (or leak-*, timeout-*, oom-*); copy it to
# tests/regress/<name>/ so ctest regress_<name> replays it in every build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

run_one() {
  local bin="$1" name="$2" secs="$3" work="$4"
  mkdir -p "$work/corpus"
  local dict=()
  [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
  echo "fuzz: $name for ${secs}s (work dir $work)"
  set +e
  EP_SOURCE_DIR="$ROOT" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" \
    "$work/corpus" "$ROOT/tests/fuzz/corpus/$name" 2>"$work/log.txt"
  local rc=$?
  set -e
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$work/log.txt" || true
  if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log.txt"
    echo "fuzz: $name FAILED (rc $rc); reproducer(s):" $(ls "$work"/crash-* "$work"/leak-* \
      "$work"/timeout-* "$work"/oom-* 2>/dev/null) "-> copy into tests/regress/$name/"
  fi
  return $rc
}

if [ "${1:-}" = "--run" ]; then
  shift
  run_one "$@"
  exit $?
fi

SECS="${1:-60}"
[ $# -gt 0 ] && shift
NAMES=("$@")
if [ ${#NAMES[@]} -eq 0 ]; then
  for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
    n="$(basename "$f" .c)"
    NAMES+=("${n#fuzz_}")
  done
fi
B="${FUZZ_BUILD:-$ROOT/build-fuzz}"
CC=clang cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Debug -DENDPOINTD_FUZZ=ON \
  -DENDPOINTD_FUZZ_SECONDS="$SECS" >/dev/null
cmake --build "$B" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${NAMES[@]}")
fail=0
for n in "${NAMES[@]}"; do
  run_one "$B/fuzz_$n" "$n" "$SECS" "$B/fuzz-work/$n" || fail=1
done
exit $fail
