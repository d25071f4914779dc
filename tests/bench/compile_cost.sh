#!/usr/bin/env bash
# Compile cost of selfalign's headers (issue 14): the -O0 time and peak compiler memory of a translation
# unit that only includes one header, side by side with one that includes only the dependencies
# (nlohmann/json + fmt + cpp-httplib), in both modes: header-only (the default) and separate
# compilation (-DSELFALIGN_SEPARATE_COMPILATION: the headers only declare the non-template functions,
# which <selfalign/src.hpp> defines once, in selfalign::compiled). A benchmark that prints figures,
# not a test.
#   bash tests/bench/compile_cost.sh [REPEATS]     (default 3; the median is printed)
# Environment: CXX (default g++), EXTRA_FLAGS (added to both columns), INCLUDE_DIR (default include:
# point it at another checkout's include/ to measure that one), HEADERS (space-separated headers to
# measure instead of the default list, e.g. HEADERS=selfalign/selfalign.hpp for a quick comparison;
# the src.hpp row is then left out).
# "seconds" is the compiler's CPU time (user + system), which other jobs on a shared machine inflate
# far less than the wall-clock time; the wall-clock median is printed beside the dependencies row.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
cxx=${CXX:-g++}
flags=(-std=c++20 -O0 -c -o /dev/null -I"${INCLUDE_DIR:-include}" $(pkg-config --cflags cpp-httplib 2>/dev/null) ${EXTRA_FLAGS:-})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

measure() {  # measure NAME FLAGS INCLUDE... -> "median_CPU_seconds peak_MiB median_wall_seconds"
  local name=$1 mode_flags=$2; shift 2
  local src="$tmp/$name.cpp"
  : >"$src"
  for h in "$@"; do echo "#include <$h>" >>"$src"; done
  echo "int main() { return 0; }" >>"$src"
  local times=() mems=() walls=()
  for _ in $(seq "$repeats"); do
    # shellcheck disable=SC2086  # mode_flags is empty or one flag
    /usr/bin/time -f "%U %S %e %M" -o "$tmp/t" "$cxx" "${flags[@]}" $mode_flags "$src"
    read -r u s e m <"$tmp/t"
    times+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')"); mems+=("$m"); walls+=("$e")
  done
  local mt mm mw
  mt=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (repeats + 1) / 2 ))p")
  mm=$(printf '%s\n' "${mems[@]}" | sort -g | sed -n "$(( (repeats + 1) / 2 ))p")
  mw=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "$(( (repeats + 1) / 2 ))p")
  echo "$mt $(( mm / 1024 )) $mw"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

sep=-DSELFALIGN_SEPARATE_COMPILATION
deps=(nlohmann/json.hpp fmt/format.h httplib.h)
read -r base_t base_m base_w < <(measure deps "" "${deps[@]}")
echo "dependencies only: ${base_w} s wall clock, ${base_t} s CPU (the x deps columns divide CPU seconds)"
printf '%-32s | %27s | %27s\n' "" "header-only (default)" "separate compilation"
printf '%-32s | %8s %9s %8s | %8s %9s %8s\n' "translation unit includes" "CPU s" "peak MiB" "x deps" "CPU s" "peak MiB" "x deps"
printf '%-32s | %8s %9s %8s | %8s %9s %8s\n' "dependencies only" "$base_t" "$base_m" "1.00" "$base_t" "$base_m" "1.00"
headers=(selfalign/selfalign.hpp selfalign/core.hpp selfalign/backends/openai.hpp
         selfalign/drpo/drpo.hpp selfalign/rain/rain.hpp selfalign/dlma/dlma.hpp selfalign/json.hpp)
[ -f "${INCLUDE_DIR:-include}/selfalign/eval/eval.hpp" ] && headers+=(selfalign/eval/eval.hpp)
if [ -n "${HEADERS:-}" ]; then read -r -a headers <<<"$HEADERS"; fi
json='{'
for h in "${headers[@]}"; do
  name=$(basename "$h" .hpp)
  read -r t m _ < <(measure "$name" "" "$h")
  read -r st sm _ < <(measure "$name" "$sep" "$h")
  r=$(ratio "$t" "$base_t"); sr=$(ratio "$st" "$base_t")
  printf '%-32s | %8s %9s %8s | %8s %9s %8s\n' "$h" "$t" "$m" "$r" "$st" "$sm" "$sr"
  json+="\"$h\": {\"header_only\": $r, \"separate\": $sr}, "
done
# What separate compilation moves out of every translation unit: the one TU that defines it all.
if [ -f "${INCLUDE_DIR:-include}/selfalign/src.hpp" ] && [ -z "${HEADERS:-}" ]; then
  read -r t m _ < <(measure src "$sep" selfalign/src.hpp)
  printf '%-32s | %8s %9s %8s | %8s %9s %8s\n' "selfalign/src.hpp (once)" "-" "-" "-" "$t" "$m" "$(ratio "$t" "$base_t")"
fi
echo "${json%, }}"
