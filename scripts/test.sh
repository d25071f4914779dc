#!/usr/bin/env bash
# The test suite: builds selfalign's tests, examples and benchmarks and runs ctest
#   1. gcc: GCC, no optimization (all tests, including compile-fail, install/consumer and the
#      real-server tests),
#   2. clang: Clang + AddressSanitizer + UndefinedBehaviorSanitizer, no optimization, line tables
#      (everything but the benchmarks built; all tests but install, compile-fail and real-server). One configuration
#      for both: Clang's warnings come from its front end and do not depend on the optimization
#      level, and CI's time limit does not hold three full builds.
#   3. release: GCC at -O3 -DNDEBUG, as users build: the library-level tests, the ODR test (every
#      header, header-only and separately compiled), the CLI (every algorithm over HTTP) and one example are built, warning-free
#      (optimizer-only warnings such as GCC 12's -Wrestrict appear only here), and run.
#   4. fuzz: the libFuzzer harnesses under tests/fuzz (Clang), each for SELFALIGN_FUZZ_SECONDS (default
#      15) from its committed seed corpus (scripts/fuzz.sh); a crash fails the run and prints the input.
#   Not in the default list: asan (GCC + ASan + UBSan, Debug), for a sanitizer run with GCC.
# Each configuration is a preset of CMakePresets.json (clang = clang-asan-ubsan, asan = asan-ubsan),
# configured with SELFALIGN_WARNINGS_AS_ERRORS=ON: a warning fails the suite. Each one prints
# "=== NAME passed in N s ===".
# The real-server tests (label real-server: a real llama.cpp server from Debian's packages, fetched by
# scripts/llama-server.sh into build/llama.cpp-debian) run in the GCC configuration only.
# SELFALIGN_TEST_CONFIGS="gcc clang release fuzz asan" picks a subset. Build trees: build/test-<config>.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

mkdir -p build
jobs=$(nproc 2>/dev/null || echo 2)
configs=${SELFALIGN_TEST_CONFIGS:-"gcc clang release fuzz"}
failed=()
for config in $configs; do
  if [ "$config" = fuzz ]; then
    echo "=== selfalign tests: fuzz ===" >&2
    start=$(date +%s)
    if bash scripts/fuzz.sh "${SELFALIGN_FUZZ_SECONDS:-15}"; then
      echo "=== fuzz passed in $(( $(date +%s) - start )) s ===" >&2
    else
      failed+=("fuzz")
    fi
    continue
  fi
  dir="build/test-$config"
  ctest_args=(--output-on-failure -j "$jobs")
  # The presets hold compiler, build type and sanitizers; the label filters are here.
  case "$config" in
    gcc)     preset=gcc
             # The real llama-server (Debian testing's packages, cached in build/llama.cpp-debian): fetched
             # here once so a failure shows up front; the real-server tests then fail (CI=true) or skip.
             bash scripts/llama-server.sh fetch >/dev/null ||
               echo "selfalign: WARNING: llama-server could not be fetched; see the real-server tests' output" >&2 ;;
    clang)   preset=clang-asan-ubsan; ctest_args+=(-LE "install|compile_fail|real-server") ;;
    asan)    preset=asan-ubsan; ctest_args+=(-LE "install|compile_fail|compile_docs|real-server") ;;
    release) preset=release; ctest_args+=(-LE "install|compile_fail|compile_docs|real-server|cli|examples") ;;
    *) echo "unknown config $config" >&2; exit 2 ;;
  esac
  # Unity test executables (one per tests/ directory): CI's 90 minutes do not hold one per file.
  args=(--preset "$preset" -B "$dir" -DSELFALIGN_WARNINGS_AS_ERRORS=ON -DSELFALIGN_TEST_UNITY=ON)
  echo "=== selfalign tests: $config ===" >&2
  start=$(date +%s)
  if cmake "${args[@]}" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; false; }; then
    targets=()
    if [ "$config" = release ]; then
      # CI time: the release configuration builds what it runs (the library-level tests, the ODR tests that
      # include every header in both modes, the CLI that instantiates every algorithm over HTTP, and the example the
      # eval tests run), not the CLI end-to-end tests, benchmarks and other examples the gcc build covers.
      mapfile -t targets < <(ninja -C "$dir" -t targets all |
        sed -n 's/^\(test_\(unit\|rain\|drpo\|dlma\|backends\|io\|eval\|sqlite\|static\)\(_[a-z0-9_]*\)\{0,1\}\): .*/\1/p' | sort -u)
      targets=(--target "${targets[@]}" test_odr test_odr_compiled selfalign_cli example_align_and_evaluate)
    fi
    if cmake --build "$dir" -j "$jobs" "${targets[@]}" && ctest --test-dir "$dir" "${ctest_args[@]}"; then
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
