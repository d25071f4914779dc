#!/usr/bin/env bash
# The test suite: builds selfalign's tests, examples and benchmarks and runs ctest
#   1. with GCC (all tests, including compile-fail and install/consumer tests),
#   2. with Clang (all tests but the install tests, which are compiler-independent CMake logic),
#   3. with GCC + AddressSanitizer + UndefinedBehaviorSanitizer (unit and algorithm tests).
# The real-server tests (label real-server: a real llama.cpp server from Debian's packages, fetched by
# scripts/llama-server.sh into build/llama.cpp-debian) run in the GCC configuration only.
# SELFALIGN_TEST_CONFIGS="gcc clang asan" picks a subset. Build trees: build/test-<config>.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

mkdir -p build
jobs=$(nproc 2>/dev/null || echo 2)
configs=${SELFALIGN_TEST_CONFIGS:-"gcc clang asan"}
failed=()
for config in $configs; do
  dir="build/test-$config"
  # No -g for the plain builds (debug info is a tenth of the compile time); the sanitizer build
  # keeps it for symbolized reports. Assertions stay on everywhere (no NDEBUG).
  args=(-G Ninja -DCMAKE_BUILD_TYPE=)
  ctest_args=(--output-on-failure -j "$jobs")
  case "$config" in
    gcc)   args+=(-DCMAKE_CXX_COMPILER=g++) ;;
    clang) args+=(-DCMAKE_CXX_COMPILER=clang++); ctest_args+=(-LE "install|real-server") ;;
    asan)  args+=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug "-DSELFALIGN_SANITIZE=address;undefined" -DSELFALIGN_BUILD_BENCHMARKS=OFF)
           ctest_args+=(-LE "install|compile_fail|compile_docs|real-server") ;;
    *) echo "unknown config $config" >&2; exit 2 ;;
  esac
  echo "=== selfalign tests: $config ===" >&2
  start=$(date +%s)
  if cmake -S . -B "$dir" "${args[@]}" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; false; }; then
    if cmake --build "$dir" -j "$jobs" && ctest --test-dir "$dir" "${ctest_args[@]}"; then
      echo "=== $config passed in $(( $(date +%s) - start )) s ===" >&2
      continue
    fi
  fi
  failed+=("$config")
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "selfalign tests FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "selfalign tests passed: $configs" >&2
