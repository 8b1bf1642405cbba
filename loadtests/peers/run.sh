#!/usr/bin/env bash
# ponder side by side with its peers on the same GGUF file (SmolLM2-135M-Instruct
# Q4_1 from scripts/fetch-assets), on loopback, with the identical `ponder-bench load`
# for each: at every concurrency the servers are loaded in turn (ponder, then each
# peer), so slow drift of the machine hits all of them alike. Prints a table of ratios
# ponder / peer for output tokens/s and TTFT p50 (a TTFT ratio below 1 is ponder
# faster). Peers come from loadtests/peers/install.sh; this is run by hand, not in CI.
#
#   loadtests/peers/install.sh && loadtests/peers/run.sh
#
# Environment: CONCURRENCY (default 1,8,32,64), INPUT_LEN (synthetic prompt words,
# default 128), OUTPUT_LEN (default 64, ignore_eos), PEERS (default "mistralrs llama"),
# THREADS (default nproc), OUT (default target/bench/peers).
set -euo pipefail
cd "$(dirname "$0")/../.."
PEERS_DIR=${PONDER_PEERS_DIR:-$HOME/.cache/ponder/peers}
CONCURRENCY=${CONCURRENCY:-1,8,32,64}
INPUT_LEN=${INPUT_LEN:-128}
OUTPUT_LEN=${OUTPUT_LEN:-64}
PEERS=${PEERS:-mistralrs llama}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-target/bench/peers}
mkdir -p "$OUT"

scripts/fetch-assets >/dev/null
model="${PONDER_CACHE:-$HOME/.cache/ponder}/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
cargo build --release -q -p ponder -p ponder-bench
bench=target/release/ponder-bench

declare -A port=([ponder]=8101 [mistralrs]=8102 [llama]=8103)
declare -A name=([ponder]=smollm2 [mistralrs]=default [llama]=smollm2)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

start() { # name; `exec` makes $! the server itself, which the EXIT trap stops
  case $1 in
    ponder)
      exec target/release/ponder serve "$model" --port "${port[ponder]}" --served-model-name smollm2 \
        --max-num-seqs 64 ;;
    mistralrs)
      # Serves the file under the model name "default"; no hub access needed.
      HF_HUB_OFFLINE=1 exec "$PEERS_DIR/bin/mistralrs" serve --format gguf --cpu \
        -m "$(dirname "$model")" -f "$(basename "$model")" \
        -p "${port[mistralrs]}" --host 127.0.0.1 --max-seqs 64 ;;
    llama)
      # 64 slots of 512 tokens each, continuous batching.
      exec "$PEERS_DIR/bin/llama-server" -m "$model" --port "${port[llama]}" --host 127.0.0.1 \
        -np 64 -cb -c $((64 * 512)) -t "$THREADS" -tb "$THREADS" -ngl 0 --alias smollm2 ;;
  esac >"$OUT/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:${port[$1]}/v1/models" >/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "$1 did not come up; see $OUT/$1.log" >&2
  exit 1
}

versions="$OUT/versions.txt"
{
  echo "ponder $(git rev-parse --short HEAD) (release build)"
  "$PEERS_DIR/bin/mistralrs" --version 2>&1 | head -1 || true
  "$PEERS_DIR/bin/llama-server" --version 2>&1 | grep -m1 version || true
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
} >"$versions"
cat "$versions"

servers="ponder $PEERS"
for s in $servers; do start "$s"; done

for c in ${CONCURRENCY//,/ }; do
  n=$(( c < 4 ? 4 : c ))   # at least 4 requests; one full wave at higher concurrency
  for s in $servers; do
    echo "== $s, concurrency $c, $n requests" >&2
    # One warm-up request first (not measured), then the measured load.
    "$bench" load --base-url "http://127.0.0.1:${port[$s]}/v1" --model "${name[$s]}" \
      --num-prompts 1 --input-len "$INPUT_LEN" --output-len 8 --seed 999 >/dev/null
    "$bench" load --base-url "http://127.0.0.1:${port[$s]}/v1" --model "${name[$s]}" \
      --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --ignore-eos \
      --max-concurrency "$c" --num-prompts "$n" --seed "$c" \
      --output-json "$OUT/$s-c$c.json" >"$OUT/$s-c$c.txt"
  done
done

python3 - "$OUT" "$CONCURRENCY" $PEERS <<'PY'
import json, sys
out, conc, peers = sys.argv[1], [int(c) for c in sys.argv[2].split(",")], sys.argv[3:]
def run(server, c):
    r = json.load(open(f"{out}/{server}-c{c}.json"))["runs"][0]
    return r["output_throughput"], r["ttft_ms"]["median"], r["failed_requests"]
print("| concurrency | server | output tok/s | TTFT p50 (ms) | failed | ponder/peer tok/s | ponder/peer TTFT p50 |")
print("|---|---|---|---|---|---|---|")
for c in conc:
    p_tps, p_ttft, p_fail = run("ponder", c)
    print(f"| {c} | ponder | {p_tps:.1f} | {p_ttft:.0f} | {p_fail} | | |")
    for peer in peers:
        tps, ttft, fail = run(peer, c)
        print(f"| {c} | {peer} | {tps:.1f} | {ttft:.0f} | {fail} | {p_tps / tps:.2f} | {p_ttft / ttft:.2f} |")
PY
