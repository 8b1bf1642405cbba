#!/usr/bin/env python3
"""Make the golden fixtures for ponder's model tests (run by hand, not in CI).

For each of Llama, Qwen2 and Qwen3 this builds a tiny random-weight model with HF
`transformers`, saves it (float32 safetensors + config.json) into
`models/tests/golden/<arch>/`, and writes `golden.json` there with reference
greedy continuations and last-position logits computed by `transformers` itself.

Made with (CPU only, Python 3.11.7):

    python3 -m venv /work/golden-venv
    /work/golden-venv/bin/pip install torch transformers safetensors
    HF_HUB_OFFLINE=1 /work/golden-venv/bin/python models/tests/golden/make_golden.py

Versions used: torch 2.15.0 (default PyPI wheel, 2.15.0+cu132, run on CPU),
transformers 5.24.0, safetensors 0.8.0 (also recorded in each golden.json). Rerunning
with these versions reproduces the files byte for byte.

golden.json format:

    {"versions": {...}, "cases": [
        {"input_ids": [int, ...],        # the prompt, 3..40 ids
         "greedy_ids": [int x 16],        # greedy continuation (argmax), no EOS stop
         "last_logits": [float x vocab]}  # logits at the prompt's last position, float32
    ]}

Every float in `last_logits` is a float32 value written as the exact decimal of that
value (Python's repr of the widened double), so parsing it as f32 or f64 gives the
float32 result bit for bit.

A prompt is kept only if, at each of its 16 greedy steps (the prompt's last position,
then the position of each generated token but the last), the gap between the top-1
and top-2 logits exceeds `MIN_GAP`, both with the KV cache (`generate`) and
recomputed without it (a full forward over prompt + generated prefix); greedy paths
are then robust to the rounding differences of another implementation. Prompts whose
greedy path contains the EOS id are also rejected, so EOS handling cannot matter.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import safetensors
import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

OUT_DIR = Path(__file__).resolve().parent
SEED = 20261129
NEW_TOKENS = 16
MIN_GAP = 1e-3
CASES_PER_ARCH = 6
# Prompt lengths to aim for: some multiples of 4 (block-aligned), some not.
PROMPT_LENGTHS = [3, 5, 8, 13, 32, 40]
BOS_ID, EOS_ID = 1, 2
# Prompt ids are drawn from [FIRST_PROMPT_ID, vocab) so no prompt holds bos/eos/pad.
FIRST_PROMPT_ID = 3

COMMON = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rope_theta=10000.0,
    rms_norm_eps=1e-6,
    initializer_range=0.2,
    hidden_act="silu",
    bos_token_id=BOS_ID,
    eos_token_id=EOS_ID,
    use_cache=True,
)

# name -> (config class, model class, extra config, seed offset)
ARCHS = {
    "llama": (LlamaConfig, LlamaForCausalLM, dict(head_dim=16, tie_word_embeddings=False), 0),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(tie_word_embeddings=False), 1),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, dict(head_dim=16, tie_word_embeddings=True), 2),
}


def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Overwrite every parameter from a seeded generator, independent of HF init code.

    Matrices and embeddings: N(0, 0.2^2). Biases (Qwen2 q/k/v): N(0, 0.2^2), so a
    missing bias is caught. RMSNorm weights (incl. Qwen3 q/k norms): 1 + N(0, 0.1^2),
    so a norm applied with the wrong weight (or `1 + w`) is caught.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.2 * noise)


def build_and_save(arch: str) -> Path:
    """Build the tiny model for `arch`, randomize it and save it into OUT_DIR/arch."""
    config_cls, model_cls, extra, offset = ARCHS[arch]
    config = config_cls(**COMMON, **extra)
    torch.manual_seed(SEED + offset)
    model = model_cls(config).to(torch.float32).eval()
    randomize_(model, SEED + offset)
    if arch == "qwen2":
        assert model.model.layers[0].self_attn.q_proj.bias is not None, "qwen2 needs q/k/v bias"
    if arch == "qwen3":
        assert hasattr(model.model.layers[0].self_attn, "q_norm"), "qwen3 needs q/k norms"
    out = OUT_DIR / arch
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out, safe_serialization=True)
    add_legacy_config_keys(out / "config.json")
    return out


def add_legacy_config_keys(path: Path) -> None:
    """Also write the top-level keys that transformers 4.x configs (and hub checkpoints) use.

    transformers 5 saves `rope_parameters.rope_theta` and `dtype`; published Llama/Qwen
    checkpoints carry top-level `rope_theta` and `torch_dtype`. Writing both lets a
    config parser of either kind read the fixture; transformers 5 loads it unchanged.
    """
    config = json.loads(path.read_text())
    config.setdefault("rope_theta", config["rope_parameters"]["rope_theta"])
    config.setdefault("torch_dtype", config["dtype"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def load(path: Path) -> torch.nn.Module:
    """Load a saved fixture the way a user would: float32, eager attention, from disk."""
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation="eager"
    )
    return model.eval()


def top2_gap(logits: torch.Tensor) -> float:
    """Top-1 minus top-2 value of a 1-D logits vector."""
    top = torch.topk(logits, 2).values
    return float(top[0] - top[1])


@torch.no_grad()
def last_logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    """Logits at the last position of a full (uncached) forward over `ids`: [vocab]."""
    return model(torch.tensor([ids])).logits[0, -1].to(torch.float32)


@torch.no_grad()
def greedy(model: torch.nn.Module, ids: list[int]) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy continuation of NEW_TOKENS ids via `generate` (KV cache), with step logits."""
    out = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        do_sample=False,
        max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS,
        eos_token_id=None,
        pad_token_id=0,
        output_logits=True,
        return_dict_in_generate=True,
    )
    new_ids = out.sequences[0, len(ids):].tolist()
    assert len(new_ids) == NEW_TOKENS, f"generate stopped early: {new_ids}"
    return new_ids, [step[0].to(torch.float32) for step in out.logits]


def check_case(model: torch.nn.Module, ids: list[int]) -> dict | None:
    """Return the case for prompt `ids`, or None if its greedy path is not robust."""
    new_ids, cached_steps = greedy(model, ids)
    if EOS_ID in new_ids:
        return None
    if min(top2_gap(step) for step in cached_steps) <= MIN_GAP:
        return None
    seq = list(ids)
    for token in new_ids:
        step = last_logits(model, seq)
        if int(torch.argmax(step)) != token or top2_gap(step) <= MIN_GAP:
            return None
        seq.append(token)
    # The final position (after the 16th token) is not needed: nothing is sampled there.
    logits = last_logits(model, ids)
    return {
        "input_ids": ids,
        "greedy_ids": new_ids,
        "last_logits": [float(x) for x in logits.tolist()],
    }


def make_cases(model: torch.nn.Module, vocab: int, rng: random.Random) -> list[dict]:
    """One robust case per PROMPT_LENGTHS entry, retrying random prompts as needed."""
    cases = []
    for length in PROMPT_LENGTHS:
        for attempt in range(1000):
            ids = [rng.randrange(FIRST_PROMPT_ID, vocab) for _ in range(length)]
            case = check_case(model, ids)
            if case is not None:
                cases.append(case)
                print(f"  len {length}: kept after {attempt + 1} tries", file=sys.stderr)
                break
        else:
            raise RuntimeError(f"no robust prompt of length {length}")
    assert len(cases) == CASES_PER_ARCH
    return cases


def versions() -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }


def verify(path: Path) -> None:
    """Reload `path` from disk and check every case reproduces bit for bit."""
    model = load(path)
    golden = json.loads((path / "golden.json").read_text())
    for case in golden["cases"]:
        want = torch.tensor(case["last_logits"], dtype=torch.float64)
        got = last_logits(model, case["input_ids"]).to(torch.float64)
        assert torch.equal(want, got), f"{path.name}: logits differ for {case['input_ids']}"
        new_ids, _ = greedy(model, case["input_ids"])
        assert new_ids == case["greedy_ids"], f"{path.name}: greedy differs"
    print(f"{path.name}: {len(golden['cases'])} cases verified from disk", file=sys.stderr)


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for arch in ARCHS:
        print(f"{arch}:", file=sys.stderr)
        path = build_and_save(arch)
        # Reference values come from the reloaded checkpoint, i.e. exactly what is on disk.
        model = load(path)
        rng = random.Random(SEED + 100 + list(ARCHS).index(arch))
        cases = make_cases(model, model.config.vocab_size, rng)
        golden = {"versions": versions(), "cases": cases}
        (path / "golden.json").write_text(json.dumps(golden) + "\n")
        verify(path)


if __name__ == "__main__":
    main()
