#!/usr/bin/env bash
# selfalign demo: builds the CLI, then runs DRPO, RAIN and DLMA end to end on small built-in
# inputs. It uses the OpenAI-compatible server at $SELFALIGN_BASE_URL or $OPENAI_BASE_URL when one
# answers there (set SELFALIGN_MODEL / SELFALIGN_SERVER to pick the model and dialect), and the
# built-in simulated model otherwise; it says which. Outputs go to build/demo/out/.
# It exits 1 when any step failed (each failed step's exit code is printed), 0 otherwise.
# SELFALIGN_DEMO_BIN=path/to/selfalign skips installing and building (tests use it);
# SELFALIGN_DEMO_OUT=DIR puts the outputs elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SELFALIGN_DEMO_BIN:-}
if [ -z "$bin" ]; then
  bash scripts/install-deps.sh
  echo "== building the selfalign CLI (build/demo) ==" >&2
  cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSELFALIGN_BUILD_TESTS=OFF \
        -DSELFALIGN_BUILD_BENCHMARKS=OFF -DSELFALIGN_BUILD_EXAMPLES=ON >/dev/null
  cmake --build build/demo --target selfalign_cli -j "$(nproc 2>/dev/null || echo 2)"
  bin=build/demo/bin/selfalign
fi
out=${SELFALIGN_DEMO_OUT:-build/demo/out}
rm -rf "$out" && mkdir -p "$out"

url=${SELFALIGN_BASE_URL:-${OPENAI_BASE_URL:-}}
backend=(--backend simulated)
if [ -n "$url" ] && "$bin" models --base-url "$url" --timeout 10 --retries 0 --out "$out/models.json" 2>"$out/models.err"; then
  backend=(--base-url "$url")
  echo "== using the server at $url ==" >&2
  cat "$out/models.json" >&2
else
  [ -n "$url" ] && { echo "(no usable server at $url: $(cat "$out/models.err"))" >&2; }
  echo "== no server answered: using the SIMULATED offline model (set OPENAI_BASE_URL to use a real one) ==" >&2
fi
common=("${backend[@]}" --seed 1 --cache "$out/calls.cache" --trace "$out/trace.jsonl")

# run STEP-NAME COMMAND...: runs one step and reports its real exit code when it fails. The demo goes
# on with the other steps (their outputs are still worth seeing) and fails at the end.
failed=()
run() {
  local name=$1 code=0; shift
  "$@" || code=$?
  if [ "$code" -ne 0 ]; then
    echo "   ($name stopped with exit code $code; see the message above)" >&2
    failed+=("$name (exit $code)")
  fi
  return 0
}

echo; echo "== DRPO: searching for an alignment system prompt (data/drpo_train.jsonl) ==" >&2
run drpo "$bin" drpo "${common[@]}" --depth 8 --max-depth-increase 2 --max-calls 400 \
    examples/data/drpo_train.jsonl --out "$out/drpo.json"
if [ -s "$out/drpo.json" ]; then
  echo; echo "== generate: new prompts under the initial system prompt, then under DRPO's ==" >&2
  printf '{"system_prompt": "You are a helpful assistant.", "examples": []}\n' > "$out/initial.json"
  run generate "$bin" generate "${common[@]}" --max-tokens 256 --drpo "$out/initial.json" examples/data/prompts.jsonl \
      --out "$out/plain.jsonl"
  run generate "$bin" generate "${common[@]}" --max-tokens 256 --drpo "$out/drpo.json" examples/data/prompts.jsonl \
      --out "$out/aligned.jsonl"
  echo "-- initial prompt:" && cat "$out/plain.jsonl" 2>/dev/null || true
  echo "-- DRPO prompt:" && cat "$out/aligned.jsonl" 2>/dev/null || true
fi

echo; echo "== RAIN: rewindable decoding beside vanilla greedy decoding (data/rain_prompts.jsonl) ==" >&2
run rain "$bin" rain "${common[@]}" --compare --max-tokens 48 examples/data/rain_prompts.jsonl --out "$out/rain.jsonl"
[ -s "$out/rain.jsonl" ] && cat "$out/rain.jsonl"

echo; echo "== DLMA: preference pairs with self-rewarding margins, TRL format (data/prompts.jsonl) ==" >&2
run dlma "$bin" dlma "${common[@]}" --max-tokens 96 examples/data/prompts.jsonl --out "$out/pairs.jsonl" \
    --stats "$out/dlma_stats.json"
[ -s "$out/pairs.jsonl" ] && cat "$out/pairs.jsonl"

if [ "${#failed[@]}" -gt 0 ]; then
  echo; echo "== the demo FAILED: ${failed[*]}; outputs so far in $out ==" >&2
  exit 1
fi
echo; echo "== done: outputs in $out (drpo.json, plain.jsonl, aligned.jsonl, rain.jsonl, pairs.jsonl, trace.jsonl) ==" >&2
