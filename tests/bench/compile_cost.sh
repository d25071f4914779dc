#!/usr/bin/env bash
# Compile cost of selfalign's headers (issue 14): the -O0 time and peak compiler memory of a translation
# unit that only includes one header, side by side with one that includes only the dependencies
# (nlohmann/json + fmt + cpp-httplib). A benchmark that prints figures, not a test.
#   bash tests/bench/compile_cost.sh [REPEATS]     (default 3; the median is printed)
# Environment: CXX (default g++), EXTRA_FLAGS (e.g. -DSELFALIGN_SEPARATE_COMPILATION).
# Run it on an idle machine: other compilations running at the same time inflate every figure alike,
# so the ratios stay comparable but the seconds do not.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
cxx=${CXX:-g++}
flags=(-std=c++20 -O0 -c -o /dev/null -Iinclude $(pkg-config --cflags cpp-httplib 2>/dev/null) ${EXTRA_FLAGS:-})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

measure() {  # measure NAME INCLUDE... -> "median_seconds peak_MiB"
  local name=$1; shift
  local src="$tmp/$name.cpp"
  : >"$src"
  for h in "$@"; do echo "#include <$h>" >>"$src"; done
  echo "int main() { return 0; }" >>"$src"
  local times=() mems=()
  for _ in $(seq "$repeats"); do
    /usr/bin/time -f "%e %M" -o "$tmp/t" "$cxx" "${flags[@]}" "$src"
    read -r t m <"$tmp/t"
    times+=("$t"); mems+=("$m")
  done
  local mt mm
  mt=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (repeats + 1) / 2 ))p")
  mm=$(printf '%s\n' "${mems[@]}" | sort -g | sed -n "$(( (repeats + 1) / 2 ))p")
  echo "$mt $(( mm / 1024 ))"
}

deps=(nlohmann/json.hpp fmt/format.h httplib.h)
read -r base_t base_m < <(measure deps "${deps[@]}")
printf '%-32s %8s %9s %8s\n' "translation unit includes" "seconds" "peak MiB" "x deps"
printf '%-32s %8s %9s %8s\n' "dependencies only" "$base_t" "$base_m" "1.00"
headers=(selfalign/selfalign.hpp selfalign/core.hpp selfalign/backends/openai.hpp
         selfalign/drpo/drpo.hpp selfalign/rain/rain.hpp selfalign/dlma/dlma.hpp selfalign/json.hpp)
[ -f include/selfalign/eval/eval.hpp ] && headers+=(selfalign/eval/eval.hpp)
json='{'
for h in "${headers[@]}"; do
  read -r t m < <(measure "$(basename "$h" .hpp)" "$h")
  ratio=$(awk -v a="$t" -v b="$base_t" 'BEGIN { printf "%.2f", a / b }')
  printf '%-32s %8s %9s %8s\n' "$h" "$t" "$m" "$ratio"
  json+="\"$h\": $ratio, "
done
echo "${json%, }}"
