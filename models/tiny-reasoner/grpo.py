"""GRPO (DeepSeekMath / DeepSeek-R1) on the tiny reasoner, with a running `ponder serve`
as the rollout engine over HTTP.

One step:

1. rollouts: for each of `--questions` training questions one chat completion with
   `n = --group-size` (G) samples, `seed = step seed + question index * G` (choice j
   is seeded seed + j), `temperature` / `top_p 1.0`, `logprobs`, `return_token_ids`;
   the response's `weight_version` must be the one the last update set (asserted);
2. rewards: 1.0 when `content` is exactly `The answer is N.` with the right N, plus
   `--format-reward` (0.1) when the generated ids are a well-formed think section:
   no `<think>` id (the prompt opened it), exactly one `</think>` id after at least
   one reasoning token, and EOS last;
3. advantages: A = (r - mean(group)) / (std(group) + 1e-4) (population std), given
   to every token of it;
4. teacher forcing in PyTorch (float32) on exactly `prompt_token_ids + token_ids`:
   the train/inference mismatch max/mean |logprob_torch - logprob_ponder| over all
   sampled tokens is logged (ponder's `logprobs` are the raw log-softmax of its f32
   logits, which at temperature 1 / top_p 1 is exactly the distribution it sampled
   from); the frozen starting model gives the reference logprobs;
5. loss (GRPO, per-sample mean over its tokens, then mean over samples):
   -[min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) - beta * KL_k3], with
   ratio = exp(logp - logp_ponder) (ponder's rollout logprobs are the old policy)
   and KL_k3 = exp(ref - logp) - (ref - logp) - 1; the samples are split into
   `--minibatches` AdamW steps, so from the second one on the ratio moves off 1 and
   the clip matters;
6. the new weights are written as a full HF folder (same tensor names, float32) under
   `--ckpt-dir`, and `POST /update_weights_from_disk` swaps them in as `step{K}`.

Held-out greedy pass@1 (temperature 0, through the server) is measured before the
first step, every `--eval-every` steps and after the last.

    # against a running server
    ponder serve models/assets/tiny-reasoner --port 8123 --admin-api-key ADMINKEY --weight-version step0
    python grpo.py --ponder-url http://127.0.0.1:8123 --admin-key ADMINKEY
    # or let the script start (and stop) the server
    python grpo.py --ponder-bin /path/to/ponder --admin-key ADMINKEY
    # pass rates and group-variance fractions of candidate tasks, no training
    python grpo.py --ponder-url http://127.0.0.1:8123 --probe
    python grpo.py --ponder-url http://127.0.0.1:8123 --probe-phrasings
    # write the held-out file of a task
    python grpo.py --write-heldout --task phrasing

Dependencies: torch, transformers, safetensors (+ matplotlib for the curve); HTTP is
the standard library.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import shutil
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import data

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parent / "assets" / "tiny-reasoner"
EOS_ID, THINK_OPEN_ID, THINK_CLOSE_ID = 1, 4, 5
ANSWER_RE = re.compile(r"^The answer is (-?\d+)\.$")
MODEL_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]


# --------------------------------------------------------------------------- tasks

def mul_chain3(a: int, b: int) -> str:
    """The SFT multiplication chain, extended to a 3-digit first operand (not used for
    training: GRPO only sees rewards; documents what a correct output looks like)."""
    lines = [f"{a}*{b}"]
    carry = 0
    for x in data.digits_low_first(a, 3):
        p = x * b + carry
        lines.append(f"{x}*{b}+{carry}={p:02d}")
        carry = p // 10
    lines.append(f"={a * b:04d}")
    return "\n".join(lines) + "\n"


def task_problem(task: str, rng: random.Random) -> tuple[tuple, str, int]:
    """One problem of `task`: (key, prompt, answer)."""
    if task == "mul3":
        # 3-digit x 1-digit: the SFT data only had 2-digit x 1-digit.
        a, b = rng.randint(100, 999), rng.randint(2, 9)
        return ("*", a, b), data.fill(rng, rng.choice(data.MUL_TEMPLATES), a, b), a * b
    if task == "mulhard":
        # the SFT distribution's hardest corner: big tens digit times a big digit
        a, b = rng.randint(50, 99), rng.randint(6, 9)
        return ("*", a, b), data.fill(rng, rng.choice(data.MUL_TEMPLATES), a, b), a * b
    if task == "add4":
        a, b = rng.randint(1000, 9999), rng.randint(1000, 9999)
        return data.problem_key("+", a, b), data.fill(rng, rng.choice(data.ADD_TEMPLATES), a, b), a + b
    if task == "phrasing":
        # the SFT operand ranges of + and -, phrased in ways the SFT data never used
        op = rng.choice("+-")
        a, b = data.operand(rng), data.operand(rng)
        if op == "-":
            a, b = max(a, b), min(a, b)
        ans = a + b if op == "+" else a - b
        return data.problem_key(op, a, b), data.fill(rng, rng.choice(PHRASINGS[op]), a, b), ans
    if task == "sft":
        p = data.sample(rng)
        return p.key, p.prompt, p.answer
    raise ValueError(f"unknown task {task}")


# Unseen phrasings of + and -, chosen from 35 candidates (13 +, 11 -, 11 x) by their
# pass rate at temperature 1 (12 problems x 8 samples each; see the README): the ones
# the SFT model solves sometimes (8%..52%) but not reliably, so a group of 8 samples
# often holds both outcomes. Many others (e.g. "How much is {a} plus {b}?") were at
# 0/96: GRPO cannot reinforce what it never samples. Multiplication is left out:
# its best unseen phrasings were 0..7% (greedy 1/50 on a held-out draw).
PHRASINGS = {
    "+": ["what is {a} + {b}", "Q: What is {a} + {b}?", "Sum {a} and {b}.", "Calculate {a} + {b}.",
          "{name} has {a} {item} and buys {b} more. How many {item} now?"],
    "-": ["what is {a} - {b}", "Please compute {a} - {b}.", "Calculate {a} - {b}.",
          "{name} had {a} {item} and lost {b}. How many remain?"],
}
# Every phrasing tried (`--probe-phrasings` measures them); PHRASINGS is the subset kept.
CANDIDATE_PHRASINGS = {
    "+": ["How much is {a} plus {b}?", "Find the total of {a} and {b}.", "{a} plus {b} equals what?",
          "{name} scored {a} points and then {b} points. What is the total score?",
          "what is {a} + {b}", "Please compute {a} + {b}.", "What is {a}+{b}?", "Q: What is {a} + {b}?",
          "What is {a} plus {b}?", "Calculate {a} + {b}.", "Sum {a} and {b}.", "{a} + {b} = ?",
          "{name} has {a} {item} and buys {b} more. How many {item} now?"],
    "-": ["How much is {a} take away {b}?", "Find the difference between {a} and {b}.",
          "{a} minus {b} equals what?", "{name} had {a} {item} and lost {b}. How many remain?",
          "what is {a} - {b}", "Please compute {a} - {b}.", "What is {a}-{b}?", "Calculate {a} - {b}.",
          "{a} - {b} = ?", "Take {b} away from {a}.",
          "{name} had {a} {item} and gave {b} away. How many {item} are left?"],
    "*": ["How much is {a} multiplied by {b}?", "Find the product of {a} and {b}.",
          "{a} times {b} equals what?", "Each of {a} boxes holds {b} {item}. How many {item} in all?",
          "what is {a} * {b}", "Please compute {a} * {b}.", "What is {a}*{b}?", "Calculate {a} × {b}.",
          "{a} × {b} = ?", "What is {a} multiplied by {b}?",
          "There are {a} bags of {b} {item}. How many {item}?"],
}
TASKS = ["phrasing", "mul3", "mulhard", "add4", "sft"]


def heldout_problems(task: str, seed: int, size: int) -> list[dict]:
    """`size` problems with distinct keys from a seeded stream."""
    rng = random.Random(seed)
    out: dict[tuple, dict] = {}
    for _ in range(size * 1000):
        key, prompt, answer = task_problem(task, rng)
        out.setdefault(key, {"prompt": prompt, "answer": answer, "key": list(key)})
        if len(out) == size:
            break
    return list(out.values())


def training_stream(task: str, seed: int, excluded: set[tuple]):
    rng = random.Random(seed)
    while True:
        key, prompt, answer = task_problem(task, rng)
        if key not in excluded:
            yield key, prompt, answer


# --------------------------------------------------------------------------- HTTP

def post(url: str, body: dict, key: str | None = None, timeout: float = 600) -> dict:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{url}: HTTP {e.code}: {e.read().decode(errors='replace')}") from None


def chat(url: str, prompt: str, **params) -> dict:
    return post(f"{url}/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}], **params})


def update_weights(url: str, key: str, folder: Path, version: str) -> dict:
    t = time.time()
    r = post(f"{url}/update_weights_from_disk", {"model_path": str(folder), "weight_version": version}, key)
    r["client_seconds"] = time.time() - t
    assert r.get("success") is True and r.get("weight_version") == version, r
    return r


def wait_health(url: str, proc: subprocess.Popen | None, timeout: float = 300) -> None:
    start = time.time()
    while time.time() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ponder exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError("ponder did not become healthy")


# --------------------------------------------------------------------------- rewards

def answer_of(content: str | None) -> int | None:
    m = ANSWER_RE.match((content or "").strip())
    return int(m.group(1)) if m else None


def well_formed(ids: list[int]) -> bool:
    return (THINK_OPEN_ID not in ids and ids.count(THINK_CLOSE_ID) == 1
            and ids.index(THINK_CLOSE_ID) > 0 and len(ids) > 0 and ids[-1] == EOS_ID)


def reasoning_len(ids: list[int]) -> int:
    return ids.index(THINK_CLOSE_ID) if THINK_CLOSE_ID in ids else len(ids)


def score(choice: dict, answer: int, format_reward: float) -> tuple[float, bool]:
    ids = choice["token_ids"]
    correct = choice.get("finish_reason") == "stop" and answer_of(choice["message"].get("content")) == answer
    return float(correct) + (format_reward if well_formed(ids) else 0.0), correct


# --------------------------------------------------------------------------- evaluation

def evaluate(url: str, problems: list[dict], max_tokens: int, workers: int = 8,
             expect_version: str | None = None) -> dict:
    """Greedy pass@1 through the server (one request per problem, temperature 0)."""

    def one(p):
        r = chat(url, p["prompt"], temperature=0.0, max_tokens=max_tokens, return_token_ids=True)
        c = r["choices"][0]
        _, ok = score(c, p["answer"], 0.0)
        return ok, reasoning_len(c["token_ids"]), r.get("weight_version"), c
    with ThreadPoolExecutor(workers) as pool:
        res = list(pool.map(one, problems))
    versions = {v for _, _, v, _ in res}
    if expect_version is not None:
        assert versions == {expect_version}, versions
    return {"pass1": sum(ok for ok, _, _, _ in res) / len(res), "n": len(res),
            "reasoning_tokens": statistics.mean(n for _, n, _, _ in res), "versions": sorted(versions),
            "wrong": [(p["prompt"], c["message"]) for p, (ok, _, _, c) in zip(problems, res) if not ok][:3]}


def rollouts(url: str, questions: list[tuple], G: int, seed: int, args) -> tuple[list[dict], str]:
    def one(item):
        i, (key, prompt, answer) = item
        r = chat(url, prompt, n=G, seed=seed + i * G, temperature=args.temperature, top_p=1.0,
                 max_tokens=args.max_tokens, logprobs=True, return_token_ids=True)
        return r
    with ThreadPoolExecutor(args.workers) as pool:
        responses = list(pool.map(one, enumerate(questions)))
    versions = {r["weight_version"] for r in responses}
    assert len(versions) == 1, versions
    groups = []
    for (key, prompt, answer), r in zip(questions, responses):
        prompt_ids = r["prompt_token_ids"]
        samples = []
        assert len(r["choices"]) == G
        for c in sorted(r["choices"], key=lambda c: c["index"]):
            ids = c["token_ids"]
            lps = [t["logprob"] for t in c["logprobs"]["content"]]
            assert len(lps) == len(ids), (len(lps), len(ids))
            reward, correct = score(c, answer, args.format_reward)
            samples.append({"ids": ids, "old_lp": lps, "reward": reward, "correct": correct,
                            "reasoning_len": reasoning_len(ids), "finish": c.get("finish_reason")})
        groups.append({"prompt_ids": prompt_ids, "answer": answer, "samples": samples})
    return groups, versions.pop()


def probe(url: str, args) -> None:
    """Pass rate and fraction of groups with reward variance of each task's first
    `--probe-questions` held-out-seed problems, at the rollout temperature and greedy."""
    for task in TASKS:
        problems = heldout_problems(task, args.heldout_seed + 1000, args.probe_questions)
        qs = [(tuple(p["key"]), p["prompt"], p["answer"]) for p in problems]
        t = time.time()
        groups, _ = rollouts(url, qs, args.group_size, args.seed + 999_999, args)
        rewards = [[s["reward"] for s in g["samples"]] for g in groups]
        acc = statistics.mean(s["correct"] for g in groups for s in g["samples"])
        var = sum(max(r) > min(r) for r in rewards) / len(rewards)
        mixed = sum(0 < sum(s["correct"] for s in g["samples"]) < len(g["samples"]) for g in groups) / len(groups)
        greedy = evaluate(url, problems, args.max_tokens, args.workers)
        log(f"probe {task:10s} T={args.temperature} sample acc {acc:.3f}  groups with reward variance "
            f"{var:.2f} (mixed correct/wrong {mixed:.2f})  greedy pass@1 {greedy['pass1']:.3f}  "
            f"{time.time() - t:.1f}s")
        for prompt, msg in greedy["wrong"][:1]:
            log(f"   wrong: {prompt!r} -> {msg.get('reasoning_content')!r} {msg.get('content')!r}")


def probe_phrasings(url: str, args) -> None:
    """Sample accuracy (12 problems x G samples, seed 7, rollout settings) of every
    candidate phrasing: how PHRASINGS was chosen."""
    rng = random.Random(7)
    for op, ts in CANDIDATE_PHRASINGS.items():
        for t in ts:
            qs = []
            for _ in range(12):
                if op == "*":
                    a, b = rng.randint(10, 99), rng.randint(1, 9)
                else:
                    a, b = data.operand(rng), data.operand(rng)
                    if op == "-":
                        a, b = max(a, b), min(a, b)
                ans = a + b if op == "+" else a - b if op == "-" else a * b
                qs.append(((op, a, b), data.fill(rng, t, a, b), ans))
            groups, _ = rollouts(url, qs, args.group_size, 123, args)
            acc = statistics.mean(s["correct"] for g in groups for s in g["samples"])
            mixed = sum(0 < sum(s["correct"] for s in g["samples"]) < len(g["samples"]) for g in groups)
            kept = "kept" if t in PHRASINGS.get(op, []) else "    "
            log(f"phrasing {op} acc {acc:.2f} mixed groups {mixed:2d}/12 {kept} {t}")


# --------------------------------------------------------------------------- training

LOG_FILE = None


def log(msg: str) -> None:
    print(msg, flush=True)
    if LOG_FILE is not None:
        with open(LOG_FILE, "a") as f:
            f.write(msg + "\n")


def token_logprobs(model, seqs: list[tuple[list[int], list[int]]], torch):
    """Teacher-forced log-probs of the generated tokens: seqs are (prompt ids, output
    ids); returns a [B, Lmax] tensor of log p(output token) (0 past the end) and a mask."""
    full = [p + o for p, o in seqs]
    width = max(map(len, full))
    B = len(full)
    ids = torch.full((B, width), EOS_ID, dtype=torch.long)
    attn = torch.zeros((B, width), dtype=torch.long)
    for i, s in enumerate(full):
        ids[i, : len(s)] = torch.tensor(s)
        attn[i, : len(s)] = 1
    logits = model(input_ids=ids, attention_mask=attn).logits.float()
    logp_all = torch.log_softmax(logits[:, :-1], dim=-1)
    tok = torch.gather(logp_all, 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # predicts ids[:, t+1]
    out_len = max(len(o) for _, o in seqs)
    mask = torch.zeros((B, out_len))
    rows = []
    for i, (p, o) in enumerate(seqs):
        rows.append(tok[i, len(p) - 1: len(p) - 1 + len(o)])
        mask[i, : len(o)] = 1
    res = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    if res.shape[1] < out_len:
        res = torch.nn.functional.pad(res, (0, out_len - res.shape[1]))
    return res, mask


def save_checkpoint(model, names: list[str], src: Path, out: Path, save_file) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    missing = [n for n in names if n not in sd]
    assert not missing, missing
    tensors = {n: sd[n].detach().to("cpu", dtype=sd[n].dtype).contiguous().clone() for n in names}
    assert all(t.dtype == next(iter(tensors.values())).dtype for t in tensors.values())
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    for f in MODEL_FILES:
        if (src / f).exists():
            shutil.copy(src / f, out / f)


def plot_curve(history: list[dict], evals: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    steps = [h["step"] for h in history]
    ax[0].plot(steps, [h["reward"] for h in history], ".", alpha=0.4, label="mean reward (batch)")
    ax[0].plot(steps, [h["acc"] for h in history], ".", alpha=0.4, label="sample accuracy (batch)")
    if len(history) >= 5:
        k = 5
        sm = [statistics.mean(h["acc"] for h in history[max(0, i - k + 1): i + 1]) for i in range(len(history))]
        ax[0].plot(steps, sm, "-", label="sample accuracy, 5-step mean")
    ax[0].set_ylabel("reward / accuracy")
    ax[0].legend(fontsize=8)
    ax[1].plot([e["step"] for e in evals], [e["pass1"] for e in evals], "o-")
    ax[1].set_ylabel("held-out greedy pass@1")
    ax[2].plot(steps, [h["reasoning_len"] for h in history], "-")
    ax[2].set_ylabel("mean reasoning tokens")
    ax[2].set_xlabel("GRPO step (step k = after k updates; rollouts of step k use weights step k)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ponder-url", default="http://127.0.0.1:8123")
    p.add_argument("--admin-key", default="ADMINKEY", help="the server's --admin-api-key")
    p.add_argument("--ponder-bin", type=Path, default=None,
                   help="start `PONDER serve MODEL` on --ponder-url's port (and stop it at the end)")
    p.add_argument("--max-num-seqs", type=int, default=128,
                   help="--max-num-seqs of the server --ponder-bin starts (one step's samples at once)")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="starting weights (HF folder)")
    p.add_argument("--ckpt-dir", type=Path, default=Path("/tmp/grpo-ckpt"))
    p.add_argument("--keep-ckpts", type=int, default=2, help="checkpoint folders kept (last N and final)")
    p.add_argument("--task", choices=TASKS, default="phrasing")
    p.add_argument("--heldout", type=Path, default=None, help="default: heldout_<task>.jsonl here")
    p.add_argument("--heldout-size", type=int, default=150)
    p.add_argument("--heldout-seed", type=int, default=3)
    p.add_argument("--train-seed", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="torch seed, minibatch order and rollout seeds")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--max-minutes", type=float, default=25.0,
                   help="stop stepping when the next step and the final eval would pass this")
    p.add_argument("--questions", type=int, default=16, help="questions per step")
    p.add_argument("--group-size", type=int, default=8, help="G: samples per question")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--format-reward", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--beta", type=float, default=0.04, help="KL (k3) coefficient")
    p.add_argument("--clip-eps", type=float, default=0.2)
    p.add_argument("--minibatches", type=int, default=2, help="optimizer steps per rollout batch")
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--f64-check-every", type=int, default=10,
                   help="every N steps also compare both sides' logprobs with a float64 forward (0: never)")
    p.add_argument("--workers", type=int, default=32, help="concurrent HTTP requests")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--log", type=Path, default=None, help="also append the output to this file")
    p.add_argument("--curve", type=Path, default=None, help="PNG of reward, pass@1, reasoning length")
    p.add_argument("--summary", type=Path, default=None, help="JSON summary")
    p.add_argument("--probe", action="store_true", help="measure the candidate tasks and exit")
    p.add_argument("--probe-questions", type=int, default=32)
    p.add_argument("--probe-phrasings", action="store_true",
                   help="measure every candidate phrasing (how the phrasing task was chosen) and exit")
    p.add_argument("--write-heldout", action="store_true", help="write the task's held-out file and exit")
    return p.parse_args()


def main() -> None:
    global LOG_FILE
    args = parse_args()
    started = time.time()
    if args.log:
        LOG_FILE = args.log
        args.log.write_text("")
    if args.heldout is None:
        args.heldout = HERE / f"heldout_{args.task}.jsonl"
    url = args.ponder_url.rstrip("/")

    if args.write_heldout:
        rows = heldout_problems(args.task, args.heldout_seed, args.heldout_size)
        with args.heldout.open("w") as f:
            for r in rows:
                f.write(json.dumps({"prompt": r["prompt"], "answer": r["answer"]}, ensure_ascii=False) + "\n")
        print(f"wrote {args.heldout}: {len(rows)} {args.task} problems (seed {args.heldout_seed})")
        return

    proc = None
    if args.ponder_bin is not None:
        port = url.rsplit(":", 1)[1]
        cmd = [str(args.ponder_bin), "serve", str(args.model), "--port", port,
               "--admin-api-key", args.admin_key, "--weight-version", "step0",
               "--max-num-seqs", str(args.max_num_seqs)]
        log(f"starting: {' '.join(cmd)}")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open("/tmp/grpo-ponder.log", "w"))
    try:
        wait_health(url, proc)
        if args.probe:
            probe(url, args)
            return
        if args.probe_phrasings:
            probe_phrasings(url, args)
            return
        train(url, args, started)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
            log("ponder stopped")


def train(url: str, args, started: float) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import Qwen2ForCausalLM

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    log(f"args: {json.dumps({k: str(v) for k, v in vars(args).items()})}")

    # data: held-out file (written by --write-heldout) and a disjoint training stream
    held = heldout_problems(args.task, args.heldout_seed, args.heldout_size)
    if args.heldout.exists():
        on_disk = [json.loads(line) for line in args.heldout.open()]
        assert [(r["prompt"], r["answer"]) for r in on_disk] == [(r["prompt"], r["answer"]) for r in held], \
            "held-out file differs from the seeded generator"
    held_keys = {tuple(r["key"]) for r in held}
    stream = training_stream(args.task, args.train_seed, held_keys)
    log(f"task {args.task}: held-out {len(held)} problems (seed {args.heldout_seed}), "
        f"training stream seed {args.train_seed} without them")

    # models: policy (trained) and reference (frozen start), float32, eager attention
    with safe_open(str(args.model / "model.safetensors"), "pt") as f:
        names = sorted(f.keys())
        dtypes = {str(f.get_slice(n).get_dtype()) for n in names}
    log(f"checkpoint tensors: {len(names)}, dtypes {dtypes}, lm_head present: {'lm_head.weight' in names}")
    policy = Qwen2ForCausalLM.from_pretrained(str(args.model), dtype=torch.float32)
    ref = Qwen2ForCausalLM.from_pretrained(str(args.model), dtype=torch.float32)
    ref.eval()
    for prm in ref.parameters():
        prm.requires_grad_(False)
    policy.train()  # no dropout in this config (attention_dropout 0)
    opt = torch.optim.AdamW(policy.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)

    # the server starts from the same weights, as step0 (also measures a swap)
    args.ckpt_dir.mkdir(parents=True, exist_ok=True)
    r = update_weights(url, args.admin_key, args.model, "step0")
    log(f"reset server to {args.model} as step0: load {r['load_seconds']:.3f}s swap {r['swap_seconds']:.4f}s")
    version = "step0"

    history, evals, swaps = [], [], []
    e = evaluate(url, held, args.max_tokens, args.workers, version)
    evals.append({"step": 0, **e})
    log(f"eval step 0: held-out greedy pass@1 {e['pass1']:.3f} ({round(e['pass1'] * e['n'])}/{e['n']}), "
        f"reasoning {e['reasoning_tokens']:.1f} tokens")
    eval_seconds = time.time() - started

    step_times = []
    for step in range(args.steps):
        t0 = time.time()
        est = (statistics.mean(step_times[-5:]) if step_times else 0) + eval_seconds * 1.2
        if (time.time() - started) + est > args.max_minutes * 60:
            log(f"wall-clock cap: stopping before step {step + 1}")
            break
        questions = [next(stream) for _ in range(args.questions)]
        groups, got = rollouts(url, questions, args.group_size, args.seed * 10**7 + step * 10**4, args)
        assert got == version, (got, version)
        t_roll = time.time() - t0

        # rewards and group-normalized advantages
        samples = []
        n_var = n_mixed = 0
        for g in groups:
            rs = [s["reward"] for s in g["samples"]]
            n_mixed += 0 < sum(s["correct"] for s in g["samples"]) < len(rs)
            mean, std = statistics.mean(rs), statistics.pstdev(rs)
            n_var += max(rs) > min(rs)
            for s in g["samples"]:
                s["adv"] = (s["reward"] - mean) / (std + 1e-4)
                s["prompt_ids"] = g["prompt_ids"]
                samples.append(s)

        # teacher forcing at the rollout weights: train/inference mismatch over all tokens
        seqs = [(s["prompt_ids"], s["ids"]) for s in samples]
        with torch.no_grad():
            lp_now, mask = token_logprobs(policy, seqs, torch)
            lp_ref, _ = token_logprobs(ref, seqs, torch)
        old = torch.zeros_like(lp_now)
        for i, s in enumerate(samples):
            old[i, : len(s["old_lp"])] = torch.tensor(s["old_lp"], dtype=torch.float32)
        diff = (lp_now - old).abs() * mask
        mis_max, mis_mean = diff.max().item(), (diff.sum() / mask.sum()).item()
        if args.f64_check_every and step % args.f64_check_every == 0:
            # where does the mismatch come from? a float64 copy of the policy is the
            # exact reference for both sides' float32 rounding
            p64 = copy.deepcopy(policy).double().eval()
            with torch.no_grad():
                lp64, _ = token_logprobs(p64, seqs, torch)
            del p64
            mb = mask.bool()
            d_p = (old.double() - lp64).abs()[mb]
            d_t = (lp_now.double() - lp64).abs()[mb]
            log(f"  f64 check step {step + 1}: |ponder - f64| max {d_p.max():.2e} mean {d_p.mean():.2e}; "
                f"|torch f32 - f64| max {d_t.max():.2e} mean {d_t.mean():.2e}")
        kl_k3 = (torch.exp(lp_ref - lp_now) - (lp_ref - lp_now) - 1) * mask
        kl_mean = (kl_k3.sum() / mask.sum()).item()

        # clipped GRPO objective, --minibatches AdamW steps
        order = list(range(len(samples)))
        random.Random(args.seed * 1000 + step).shuffle(order)
        chunks = [order[i:: args.minibatches] for i in range(args.minibatches)]
        clip_frac, ratio_dev, losses, gnorms = [], [], [], []
        for chunk in chunks:
            mb = [samples[i] for i in chunk]
            lp, m = token_logprobs(policy, [(s["prompt_ids"], s["ids"]) for s in mb], torch)
            L = lp.shape[1]
            o = old[chunk][:, :L]
            rf = lp_ref[chunk][:, :L]
            A = torch.tensor([s["adv"] for s in mb], dtype=torch.float32).unsqueeze(1)
            ratio = torch.exp(lp - o)
            surr = torch.minimum(ratio * A, torch.clamp(ratio, 1 - args.clip_eps, 1 + args.clip_eps) * A)
            kl = torch.exp(rf - lp) - (rf - lp) - 1
            per_tok = -(surr - args.beta * kl)
            loss = ((per_tok * m).sum(1) / m.sum(1)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorms.append(torch.nn.utils.clip_grad_norm_(policy.parameters(), args.grad_clip).item())
            opt.step()
            with torch.no_grad():
                clipped = ((ratio - 1).abs() > args.clip_eps).float() * m
                clip_frac.append((clipped.sum() / m.sum()).item())
                ratio_dev.append((((ratio - 1).abs() * m).sum() / m.sum()).item())
                losses.append(loss.item())
        t_train = time.time() - t0 - t_roll

        # save, swap, and the next rollouts must carry the new version
        new_version = f"step{step + 1}"
        folder = args.ckpt_dir / new_version
        save_checkpoint(policy, names, args.model, folder, save_file)
        r = update_weights(url, args.admin_key, folder, new_version)
        version = new_version
        swaps.append(r)
        old_ckpts = sorted((d for d in args.ckpt_dir.iterdir() if d.name.startswith("step")),
                           key=lambda d: int(d.name[4:]))
        for d in old_ckpts[: -args.keep_ckpts]:
            shutil.rmtree(d)

        rewards = [s["reward"] for s in samples]
        h = {"step": step + 1, "reward": statistics.mean(rewards),
             "acc": statistics.mean(s["correct"] for s in samples),
             "groups_with_variance": n_var / len(groups), "groups_mixed": n_mixed / len(groups),
             "reasoning_len": statistics.mean(s["reasoning_len"] for s in samples),
             "truncated": sum(s["finish"] != "stop" for s in samples) / len(samples),
             "mismatch_max": mis_max, "mismatch_mean": mis_mean, "kl": kl_mean,
             "clip_frac": clip_frac, "ratio_dev": ratio_dev, "loss": statistics.mean(losses),
             "grad_norm": statistics.mean(gnorms), "rollout_s": t_roll, "train_s": t_train,
             "load_s": r["load_seconds"], "swap_s": r["swap_seconds"], "update_client_s": r["client_seconds"],
             "tokens": int(mask.sum().item())}
        history.append(h)
        step_times.append(time.time() - t0)
        log(f"step {step + 1:3d} [rollouts of {got}] reward {h['reward']:.3f} acc {h['acc']:.3f} "
            f"var-groups {n_var}/{len(groups)} (mixed {n_mixed}) reason {h['reasoning_len']:.1f}tok trunc {h['truncated']:.2f} | "
            f"|dlogp| max {mis_max:.2e} mean {mis_mean:.2e} | kl {kl_mean:.2e} "
            f"clip {'/'.join(f'{c:.3f}' for c in clip_frac)} |ratio-1| {'/'.join(f'{c:.1e}' for c in ratio_dev)} "
            f"gnorm {h['grad_norm']:.2f} | roll {t_roll:.1f}s train {t_train:.1f}s "
            f"update {r['client_seconds']:.2f}s (load {r['load_seconds']:.3f} swap {r['swap_seconds']:.4f}) "
            f"-> {version} | {(time.time() - started) / 60:.1f}m")

        if (step + 1) % args.eval_every == 0:
            te = time.time()
            e = evaluate(url, held, args.max_tokens, args.workers, version)
            eval_seconds = time.time() - te
            evals.append({"step": step + 1, **e})
            log(f"eval step {step + 1}: held-out greedy pass@1 {e['pass1']:.3f} "
                f"({round(e['pass1'] * e['n'])}/{e['n']}), reasoning {e['reasoning_tokens']:.1f} tokens "
                f"[{eval_seconds:.1f}s]")

    if not evals or evals[-1]["step"] != len(history):
        e = evaluate(url, held, args.max_tokens, args.workers, version)
        evals.append({"step": len(history), **e})
        log(f"eval step {len(history)}: held-out greedy pass@1 {e['pass1']:.3f} "
            f"({round(e['pass1'] * e['n'])}/{e['n']}), reasoning {e['reasoning_tokens']:.1f} tokens")
    for prompt, msg in evals[-1]["wrong"]:
        log(f"  still wrong: {prompt!r} -> {msg.get('reasoning_content')!r} {msg.get('content')!r}")

    wall = (time.time() - started) / 60
    summary = {
        "task": args.task, "steps": len(history), "wall_minutes": round(wall, 2),
        "heldout_pass1_start": evals[0]["pass1"], "heldout_pass1_end": evals[-1]["pass1"],
        "heldout_pass1_by_step": {e["step"]: e["pass1"] for e in evals},
        "groups_with_variance_first_step": history[0]["groups_with_variance"] if history else None,
        "groups_mixed_first_step": history[0]["groups_mixed"] if history else None,
        "groups_with_variance_mean": statistics.mean(h["groups_with_variance"] for h in history) if history else None,
        "mismatch_max_over_run": max(h["mismatch_max"] for h in history) if history else None,
        "mismatch_mean_over_run": statistics.mean(h["mismatch_mean"] for h in history) if history else None,
        "swap_seconds_mean": statistics.mean(s["swap_seconds"] for s in swaps) if swaps else None,
        "load_seconds_mean": statistics.mean(s["load_seconds"] for s in swaps) if swaps else None,
        "update_client_seconds_mean": statistics.mean(s["client_seconds"] for s in swaps) if swaps else None,
        "history": history,
    }
    log(f"done: {len(history)} steps in {wall:.1f} min; held-out greedy pass@1 "
        f"{evals[0]['pass1']:.3f} -> {evals[-1]['pass1']:.3f}; groups with variance at step 1 "
        f"{summary['groups_with_variance_first_step']}; |dlogp| max over run {summary['mismatch_max_over_run']:.2e}, "
        f"mean {summary['mismatch_mean_over_run']:.2e}; swap {summary['swap_seconds_mean']:.4f}s "
        f"(load {summary['load_seconds_mean']:.3f}s, whole call {summary['update_client_seconds_mean']:.3f}s); "
        f"final weights {args.ckpt_dir / version}")
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=1) + "\n")
    if args.curve and history:
        plot_curve(history, evals, args.curve,
                   f"GRPO through ponder on {args.task}: {len(history)} steps, {args.questions}x{args.group_size} "
                   f"samples/step, lr {args.lr}, beta {args.beta}")


if __name__ == "__main__":
    main()
