"""Trains the tiny reasoner from scratch: a ~3M-parameter Qwen2 decoder taught by
supervised "cold-start" fine-tuning (the first stage of the DeepSeek-R1
pipeline) on generated arithmetic chains of thought (data.py).

Every sample is the DeepSeek-R1-Distill chat template rendered for one user
message with the generation prompt (`...<｜Assistant｜><think>\\n`), followed by
the model output `chain\\n</think>\\n\\nThe answer is N.<｜end▁of▁sentence｜>`; the
loss is on the output tokens only.

Seeded (data, init, batches); CPU only; stops at --steps or --max-minutes,
whichever comes first, and saves to models/assets/tiny-reasoner/:
config.json, generation_config.json, model.safetensors (float32),
tokenizer.json, tokenizer_config.json.

Usage: python train.py [--max-minutes 40] [--steps 6000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

import data
import make_tokenizer as mt

DEFAULT_OUT = data.HERE.parent / "assets" / "tiny-reasoner"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--max-minutes", type=float, default=40.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=512)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--eval-n", type=int, default=60)
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads: 1 beats 2 on a 2-core machine shared with other work")
    return p.parse_args()


def render_prompt(tok: PreTrainedTokenizerFast, question: str) -> str:
    return tok.apply_chat_template([{"role": "user", "content": question}],
                                   tokenize=False, add_generation_prompt=True)


class Encoder:
    """Turns problems into (input ids, loss mask) through the chat template."""

    def __init__(self, tok: PreTrainedTokenizerFast):
        self.tok = tok
        self.eos = tok.convert_tokens_to_ids(mt.EOS)

    def prompt_ids(self, question: str) -> list[int]:
        return self.tok.encode(render_prompt(self.tok, question), add_special_tokens=False)

    def sample(self, p: data.Problem) -> tuple[list[int], int]:
        prompt = self.prompt_ids(p.prompt)
        out = self.tok.encode(p.output(), add_special_tokens=False) + [self.eos]
        return prompt + out, len(prompt)

    def batch(self, problems: list[data.Problem]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = [self.sample(p) for p in problems]
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.eos, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, n_prompt) in enumerate(rows):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, n_prompt: len(ids)] = torch.tensor(ids[n_prompt:])
            attention[i, : len(ids)] = 1
        return input_ids, labels, attention


def last_number(text: str) -> int | None:
    import re

    found = re.findall(r"-?\d+", text)
    return int(found[-1]) if found else None


@torch.no_grad()
def greedy_accuracy(model, enc: Encoder, problems: list[data.Problem], max_new: int = 90,
                    batch: int = 50, show: int = 0) -> float:
    """Greedy decoding, left-padded batches; correct when the text after `</think>`
    ends in the right number."""
    model.eval()
    tok = enc.tok
    correct = 0
    for start in range(0, len(problems), batch):
        chunk = problems[start: start + batch]
        prompts = [enc.prompt_ids(p.prompt) for p in chunk]
        width = max(map(len, prompts))
        ids = torch.full((len(chunk), width), enc.eos, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, pr in enumerate(prompts):
            ids[i, width - len(pr):] = torch.tensor(pr)
            mask[i, width - len(pr):] = 1
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new,
                             do_sample=False, eos_token_id=enc.eos, pad_token_id=enc.eos)
        for i, p in enumerate(chunk):
            text = tok.decode(out[i, width:], skip_special_tokens=True)
            answer = text.split(mt.THINK_CLOSE)[-1] if mt.THINK_CLOSE in text else ""
            ok = last_number(answer) == p.answer
            correct += ok
            if start == 0 and i < show:
                print(f"  [{'ok' if ok else 'WRONG'}] {p.prompt!r} -> {text!r}", flush=True)
    model.train()
    return correct / len(problems)


def main() -> None:
    args = parse_args()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.time()

    args.out.mkdir(parents=True, exist_ok=True)
    mt.save(args.out)
    tok = PreTrainedTokenizerFast.from_pretrained(str(args.out))
    enc = Encoder(tok)
    # The template renders exactly the R1-Distill prompt, and prompt + output
    # tokenize the same apart as together (what ponder generates matches training).
    q = "What is 347 + 589?"
    assert render_prompt(tok, q) == f"{mt.BOS}{mt.USER}{q}{mt.ASSISTANT}{mt.THINK_OPEN}\n"
    check_rng = random.Random(123)
    for _ in range(200):
        p = data.sample(check_rng)
        ids, _ = enc.sample(p)
        joint = tok.encode(render_prompt(tok, p.prompt) + p.output() + mt.EOS, add_special_tokens=False)
        assert joint == ids, (p, joint, ids)

    heldout = data.heldout()
    held_keys = {p.key for p in heldout}
    eval_set = heldout[: args.eval_n]
    stream = data.training_stream(held_keys)

    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=512,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=tok.convert_tokens_to_ids(mt.BOS),
        eos_token_id=enc.eos,
        pad_token_id=enc.eos,
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params:,} ({n_params / 1e6:.2f}M), vocab {len(tok)}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    deadline = started + args.max_minutes * 60
    seen = set()
    model.train()
    loss_avg, tokens, t0 = None, 0, time.time()
    done = 0
    for step in range(10**9):
        if step % 100 == 0 and step >= 200:
            # Shrink the schedule when the wall clock would stop us first, so the
            # cosine still ends at its low learning rate (keeps 3% for the final eval).
            per_step = (time.time() - t0) / step
            fits = step + int((deadline - time.time()) * 0.97 / per_step)
            if fits < args.steps:
                print(f"step {step}: {per_step:.2f}s/step, schedule shortened "
                      f"{args.steps} -> {fits} steps", flush=True)
                args.steps = fits
        if step >= args.steps:
            break
        problems = [next(stream) for _ in range(args.batch)]
        seen.update(p.key for p in problems)
        input_ids, labels, attention = enc.batch(problems)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done = step + 1
        tokens += int(attention.sum())
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        if step % 50 == 0:
            el = time.time() - started
            print(f"step {step} loss {loss_avg:.4f} lr {lr_at(step):.2e} "
                  f"tok/s {tokens / (time.time() - t0):.0f} elapsed {el / 60:.1f}m", flush=True)
        if step > 0 and step % args.eval_every == 0:
            acc = greedy_accuracy(model, enc, eval_set, show=2)
            print(f"step {step} greedy accuracy {acc:.3f} on {len(eval_set)} held-out", flush=True)
        if time.time() > deadline:
            print(f"wall-clock cap reached at step {step}", flush=True)
            break

    train_minutes = (time.time() - started) / 60
    assert not (seen & held_keys)
    print(f"trained {done} steps in {train_minutes:.1f} min; "
          f"{len(seen)} distinct training problems, overlap with held-out: {len(seen & held_keys)}",
          flush=True)
    save(model, tok, args.out)
    acc = greedy_accuracy(model, enc, heldout, show=5)
    print(f"final greedy accuracy (PyTorch) {acc:.3f} on {len(heldout)} held-out", flush=True)
    summary = {"params": n_params, "steps": done, "train_minutes": round(train_minutes, 1),
               "distinct_training_problems": len(seen), "overlap": len(seen & held_keys),
               "greedy_accuracy_pytorch": acc}
    (data.HERE / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def save(model, tok, out: Path) -> None:
    model.config.torch_dtype = torch.float32
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.6
    model.generation_config.top_p = 0.95
    model.generation_config.bos_token_id = model.config.bos_token_id
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = model.config.eos_token_id
    model.save_pretrained(str(out), safe_serialization=True)
    for extra in ["special_tokens_map.json", "training_args.bin"]:
        (out / extra).unlink(missing_ok=True)
    # Keep our tokenizer files (mt.save wrote them), not a transformers re-save.
    print(f"saved to {out}: {sorted(f.name for f in out.iterdir())}", flush=True)


if __name__ == "__main__":
    main()
