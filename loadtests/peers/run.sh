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
# THREADS (default nproc), OUT (default target/bench/peers), PONDER_FLAGS (extra
# `ponder serve` flags, e.g. "--kv-cache-dtype f32").
#
# ROWS replaces CONCURRENCY × OUTPUT_LEN with a list of concurrency×output rows, for
# the long chain-of-thought decode rows of docs/benchmarks.md. Each row restarts the
# servers with as many slots as streams (llama-server: -np c, each slot sized for the
# row) and sends exactly `concurrency` requests at once:
#
#   PEERS=llama ROWS=1x256,16x1024,32x2048 loadtests/peers/run.sh
#
# With ROWS, LONG_PROMPT_LEN=N adds one streaming request of about N prompt tokens to every row,
# sent LONG_PROMPT_AT s (default 5) into it (ponder-bench's --long-prompt-len), and
# a second table: its TTFT, and the running streams' ITL p99 while it prefills. Each
# server gets one more slot for it, each slot sized to hold it:
#
#   PEERS=llama ROWS=8x1024 LONG_PROMPT_LEN=4000 loadtests/peers/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PEERS_DIR=${PONDER_PEERS_DIR:-$HOME/.cache/ponder/peers}
CONCURRENCY=${CONCURRENCY:-1,8,32,64}
INPUT_LEN=${INPUT_LEN:-128}
OUTPUT_LEN=${OUTPUT_LEN:-64}
PEERS=${PEERS:-mistralrs llama}
ROWS=${ROWS:-}
LONG_PROMPT_LEN=${LONG_PROMPT_LEN:-}
LONG_PROMPT_AT=${LONG_PROMPT_AT:-5}
PONDER_FLAGS=${PONDER_FLAGS:-}
if [ -z "$ROWS" ]; then
  for c in ${CONCURRENCY//,/ }; do ROWS="$ROWS${ROWS:+,}${c}x$OUTPUT_LEN"; done
  n_at_least=4      # at least 4 requests; one full wave at higher concurrency
  per_row_servers=  # one start for every row: 64 slots of 512 tokens
else
  n_at_least=1
  per_row_servers=1 # each row restarts the servers with its own slot count and size
fi
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
      # shellcheck disable=SC2086 # PONDER_FLAGS is a list of flags
      exec target/release/ponder serve "$model" --port "${port[ponder]}" --served-model-name smollm2 \
        --max-num-seqs "$slots" $PONDER_FLAGS ;;
    mistralrs)
      # Serves the file under the model name "default"; no hub access needed.
      HF_HUB_OFFLINE=1 exec "$PEERS_DIR/bin/mistralrs" serve --format gguf --cpu \
        -m "$(dirname "$model")" -f "$(basename "$model")" \
        -p "${port[mistralrs]}" --host 127.0.0.1 --max-seqs "$slots" ;;
    llama)
      # $slots slots of $slot_ctx tokens each, continuous batching.
      exec "$PEERS_DIR/bin/llama-server" -m "$model" --port "${port[llama]}" --host 127.0.0.1 \
        -np "$slots" -cb -c $(( slots * slot_ctx )) -t "$THREADS" -tb "$THREADS" \
        -ngl 0 --alias smollm2 ;;
  esac >"$OUT/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:${port[$1]}/v1/models" >/dev/null; then return 0; fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.5
  done
  echo "$1 did not come up; see $OUT/$1.log" >&2
  exit 1
}

versions="$OUT/versions.txt"
{
  echo "ponder $(git rev-parse --short HEAD) (release build) $PONDER_FLAGS"
  [[ " $PEERS " == *" mistralrs "* ]] && "$PEERS_DIR/bin/mistralrs" --version 2>&1 | head -1 || true
  [[ " $PEERS " == *" llama "* ]] && "$PEERS_DIR/bin/llama-server" --version 2>&1 | grep -m1 version || true
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
} >"$versions"
cat "$versions"

servers="ponder $PEERS"
stop_all() {
  kill "${pids[@]}" 2>/dev/null || true
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  pids=()
}
if [ -z "$per_row_servers" ]; then
  slots=64 slot_ctx=512
  for s in $servers; do start "$s"; done
fi

for row in ${ROWS//,/ }; do
  c=${row%x*}; o=${row#*x}
  n=$(( c < n_at_least ? n_at_least : c ))
  # Each request may take as long as the whole row: 32 x 2,048 tokens at 40 tok/s is
  # 27 minutes (ponder-bench's default of 600 s failed every request of that row).
  timeout_s=$(( 600 + c * o / 20 ))
  if [ -n "$per_row_servers" ]; then
    # llama-server splits its context evenly over its slots: each must hold a prompt
    # (about 1.3 tokens per word with the chat template) and the row's output.
    slots=$c slot_ctx=$(( INPUT_LEN * 2 + o + 64 ))
    if [ -n "$LONG_PROMPT_LEN" ]; then
      slots=$(( c + 1 ))
      slot_ctx=$(( slot_ctx > LONG_PROMPT_LEN + 128 ? slot_ctx : LONG_PROMPT_LEN + 128 ))
    fi
    for s in $servers; do start "$s"; done
  fi
  for s in $servers; do
    echo "== $s, concurrency $c, $n requests of $o tokens" >&2
    # One warm-up request first (not measured), then the measured load.
    "$bench" load --base-url "http://127.0.0.1:${port[$s]}/v1" --model "${name[$s]}" \
      --num-prompts 1 --input-len "$INPUT_LEN" --output-len 8 --seed 999 >/dev/null
    "$bench" load --base-url "http://127.0.0.1:${port[$s]}/v1" --model "${name[$s]}" \
      --input-len "$INPUT_LEN" --output-len "$o" --ignore-eos \
      --max-concurrency "$c" --num-prompts "$n" --seed "$c" --timeout-s "$timeout_s" \
      ${LONG_PROMPT_LEN:+--long-prompt-len "$LONG_PROMPT_LEN" --long-prompt-at "$LONG_PROMPT_AT"} \
      --output-json "$OUT/$s-$row.json" >"$OUT/$s-$row.txt"
  done
  if [ -n "$per_row_servers" ]; then stop_all; fi
done

python3 - "$OUT" "$ROWS" $PEERS <<'PY'
import json, sys
out, rows, peers = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
def run(server, row):
    r = json.load(open(f"{out}/{server}-{row}.json"))["runs"][0]
    return r["output_throughput"], r["ttft_ms"]["median"], r["tpot_ms"]["median"], r["itl_ms"]["p99"], r["failed_requests"]
print("| streams × tokens | server | output tok/s | TTFT p50 (ms) | TPOT p50 (ms) | ITL p99 (ms) | failed | ponder/peer tok/s | ponder/peer TTFT p50 | ponder/peer ITL p99 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for row in rows:
    label = row.replace("x", " × ")
    p = run("ponder", row)
    print(f"| {label} | ponder | {p[0]:.1f} | {p[1]:.0f} | {p[2]:.1f} | {p[3]:.0f} | {p[4]} | | | |")
    for peer in peers:
        q = run(peer, row)
        print(f"| {label} | {peer} | {q[0]:.1f} | {q[1]:.0f} | {q[2]:.1f} | {q[3]:.0f} | {q[4]} | {p[0] / q[0]:.2f} | {p[1] / q[1]:.2f} | {p[3] / q[3]:.2f} |")

def long_prompt(server, row):
    return json.load(open(f"{out}/{server}-{row}.json"))["runs"][0].get("long_prompt")
if long_prompt("ponder", rows[0]):
    print()
    print("| streams × tokens | server | long prompt tokens | its TTFT (ms) | ITL p99 during its prefill (ms) | ITL max during (ms) | ITL p99 otherwise (ms) | ponder/peer TTFT |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        label = row.replace("x", " × ")
        p = long_prompt("ponder", row)
        for server in ["ponder"] + peers:
            q = long_prompt(server, row)
            during, other = q.get("itl_during_prefill_ms") or {}, q.get("itl_otherwise_ms") or {}
            ratio = f"{p['ttft_ms'] / q['ttft_ms']:.2f}" if server != "ponder" and p.get("ttft_ms") and q.get("ttft_ms") else ""
            ttft = f"{q['ttft_ms']:.0f}" if q.get("ttft_ms") else q.get("error", "not sent")
            print(f"| {label} | {server} | {q.get('prompt_tokens')} | {ttft} | {during.get('p99', 0):.0f} | {during.get('max', 0):.0f} | {other.get('p99', 0):.0f} | {ratio} |")
PY
