"""Measures the tiny reasoner's accuracy through a running ponder server.

Sends every held-out problem (heldout.jsonl) to /v1/chat/completions and counts
an answer correct when the last number of `content` (the text after `</think>`)
is the expected one. Standard library only.

    ponder serve models/assets/tiny-reasoner --port 8123
    python eval_http.py --url http://127.0.0.1:8123                   # greedy
    python eval_http.py --temperature 0.6 --top-p 0.95 --limit 200    # pass@1
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def last_number(text: str | None) -> int | None:
    found = re.findall(r"-?\d+", text or "")
    return int(found[-1]) if found else None


def ask(url: str, prompt: str, temperature: float, top_p: float, max_tokens: int, seed: int | None) -> dict:
    body = {"messages": [{"role": "user", "content": prompt}], "temperature": temperature,
            "top_p": top_p, "max_tokens": max_tokens}
    if seed is not None:
        body["seed"] = seed
    req = urllib.request.Request(f"{url}/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.load(resp)["choices"][0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8123")
    p.add_argument("--data", type=Path, default=HERE / "heldout.jsonl")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=300)
    p.add_argument("--limit", type=int, default=None, help="first N problems only")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--seed", type=int, default=None, help="per-request seed base (seed + index)")
    p.add_argument("--show-wrong", type=int, default=5)
    args = p.parse_args()

    rows = [json.loads(line) for line in args.data.open()][: args.limit]
    started = time.time()

    def run(item):
        i, row = item
        seed = None if args.seed is None else args.seed + i
        choice = ask(args.url, row["prompt"], args.temperature, args.top_p, args.max_tokens, seed)
        msg = choice["message"]
        ok = (choice.get("finish_reason") == "stop" and "reasoning_content" in msg
              and last_number(msg.get("content")) == row["answer"])
        return ok, row, msg

    with ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(run, enumerate(rows)))
    correct = sum(ok for ok, _, _ in results)
    wrong = [(row, msg) for ok, row, msg in results if not ok]
    for row, msg in wrong[: args.show_wrong]:
        print(f"WRONG {row['prompt']!r} expected {row['answer']}: "
              f"reasoning={msg.get('reasoning_content')!r} content={msg.get('content')!r}")
    mode = "greedy" if args.temperature == 0 else f"temperature {args.temperature} top_p {args.top_p}"
    print(json.dumps({"mode": mode, "n": len(rows), "correct": correct,
                      "accuracy": round(correct / len(rows), 4),
                      "seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()
