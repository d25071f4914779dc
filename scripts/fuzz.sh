#!/usr/bin/env bash
# Builds the libFuzzer harnesses under tests/fuzz (Clang, -fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time from the committed seed corpus with the committed dictionary.
#   bash scripts/fuzz.sh [seconds-per-harness (default 20)] [harness-name ...]
# A crash, a sanitizer report or a broken invariant fails the run and prints the input that did it
# (hex dump and base64; the file itself is kept under build/fuzz/artifacts/). New inputs that the
# fuzzer finds go to build/fuzz/work/, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
dir=build/fuzz
mkdir -p "$dir"
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE= -DSELFALIGN_BUILD_FUZZERS=ON \
  -DSELFALIGN_BUILD_TESTS=OFF -DSELFALIGN_BUILD_EXAMPLES=OFF -DSELFALIGN_BUILD_BENCHMARKS=OFF -DSELFALIGN_INSTALL=OFF \
  >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.cpp; do harnesses+=("$(basename "$f" .cpp)"); done
fi
cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)" --target "${harnesses[@]}"
failed=()
for h in "${harnesses[@]}"; do
  name=${h#fuzz_}
  work="$dir/work/$name"
  artifacts="$dir/artifacts/$name"
  mkdir -p "$work" "$artifacts"
  echo "=== fuzz $name: ${seconds} s ===" >&2
  # -max_len: 256 KiB reaches the depth cap (257 levels) and the size paths with room to spare.
  if ! "$dir/tests/fuzz/$h" -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
      -dict=tests/fuzz/selfalign.dict -artifact_prefix="$artifacts/" -print_final_stats=1 \
      "$work" "tests/fuzz/corpus/$name" >"$dir/$name.log" 2>&1; then
    tail -n 60 "$dir/$name.log" >&2
    for crash in "$artifacts"/*; do
      [ -f "$crash" ] || continue
      echo "--- input that failed ($crash, $(stat -c %s "$crash") bytes): first 512 bytes in hex, then base64 ---" >&2
      head -c 512 "$crash" | od -A d -t x1z -v >&2
      base64 -w 0 "$crash" | head -c 4096 >&2
      echo >&2
    done
    failed+=("$name")
  else
    grep -E "^stat::number_of_executed_runs|^Done [0-9]+ runs" "$dir/$name.log" | tail -1 >&2 || true
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "selfalign fuzzing FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "selfalign fuzzing passed: ${harnesses[*]}" >&2
