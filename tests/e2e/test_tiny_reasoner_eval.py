"""The tiny reasoning model (models/tiny-reasoner) through ponder, end to end.

1. `ponder-bench eval` on 50 held-out problems, k = 4, DeepSeek-R1's sampling
   (temperature 0.6, top_p 0.95): pass@1 must be at least 0.9.
2. Through the official `openai` SDK, every sample's reasoning is split from its
   answer at the `</think>` token: `content` holds no think tag, `reasoning_content`
   is non-empty, and `usage.completion_tokens_details.reasoning_tokens` equals the
   number of generated tokens before `</think>` (found in the generated ids that
   vLLM's `return_token_ids` returns).

Skipped while models/assets/tiny-reasoner/model.safetensors does not exist (see the
`tiny_reasoner_model` fixture). The model's context window is 512 tokens, so
requests ask for at most 256 new tokens (prompt + reasoning + answer stay far below).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from openai import OpenAI

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "models" / "tiny-reasoner" / "heldout.jsonl"
MAX_TOKENS = 256


def _bench() -> Path:
    binary = Path(os.environ.get("PONDER_BENCH_BIN", ROOT / "target" / "debug" / "ponder-bench"))
    assert binary.exists(), f"{binary} missing: run cargo build"
    return binary


def _heldout(n: int) -> list[dict]:
    with open(HELDOUT) as f:
        return [json.loads(line) for line in f if line.strip()][:n]


def _think_close_id(model: Path) -> int:
    """The id of `</think>` among the tokenizer's added tokens."""
    added = json.loads((model / "tokenizer.json").read_text())["added_tokens"]
    ids = [t["id"] for t in added if t["content"] == "</think>"]
    assert len(ids) == 1, f"expected one </think> added token, got {ids}"
    return ids[0]


def test_heldout_pass_at_1_is_at_least_0_9(tiny_reasoner, tmp_path):
    out = tmp_path / "eval.json"
    cmd = [
        str(_bench()), "eval",
        "--base-url", tiny_reasoner + "/v1",
        "--dataset", str(HELDOUT),
        "--limit", "50", "-k", "4",
        "--temperature", "0.6", "--top-p", "0.95", "--seed", "1",
        "--max-tokens", str(MAX_TOKENS),
        "--output-json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert (report["num_prompts"], report["k"], report["requests"], report["failed"]) == (50, 4, 200, 0), proc.stdout
    assert report["pass_at_1"] >= 0.9, proc.stdout


def test_reasoning_tokens_end_at_the_think_close_token(tiny_reasoner, tiny_reasoner_model):
    close_id = _think_close_id(tiny_reasoner_model)
    client = OpenAI(base_url=tiny_reasoner + "/v1", api_key="unused", timeout=120)
    for i, problem in enumerate(_heldout(4)):
        for seed in (1, 2):
            resp = client.chat.completions.create(
                model="tiny-reasoner",
                messages=[{"role": "user", "content": problem["prompt"]}],
                temperature=0.6,
                top_p=0.95,
                seed=seed,
                max_tokens=MAX_TOKENS,
                extra_body={"return_token_ids": True},
            )
            where = f"problem {i}, seed {seed}"
            choice = resp.choices[0]
            msg = choice.message
            assert choice.finish_reason == "stop", where
            assert msg.content is not None, where
            assert "<think>" not in msg.content and "</think>" not in msg.content, (where, msg.content)
            reasoning = getattr(msg, "reasoning_content", None)
            assert reasoning, (where, reasoning)
            assert "</think>" not in reasoning, (where, reasoning)
            token_ids = getattr(choice, "token_ids", None)
            assert token_ids is not None, f"{where}: no token_ids although return_token_ids was set"
            assert close_id in token_ids, (where, token_ids)
            assert resp.usage.completion_tokens == len(token_ids), where
            assert resp.usage.completion_tokens_details.reasoning_tokens == token_ids.index(close_id), where
