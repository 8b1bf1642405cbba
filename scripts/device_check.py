"""The device half of scripts/device-check: runs on the GPU machine (PyTorch and
transformers there, no Rust), drives the staged `ponder` binary over HTTP, and writes
device-check.json. Standard library plus torch/transformers; every step is bounded by
the time budget and every server it starts is killed before the next one starts.

Checks:
1. golden: the tiny Llama/Qwen2/Qwen3 checkpoints of models/tests/golden served on the
   GPU (bf16 policy) give transformers' greedy ids (counted per case and per token);
2. tiny reasoner: greedy pass@1 on models/tiny-reasoner/heldout.jsonl, against the CPU
   figure of the README (97.0%);
3. speed on a DeepSeek-R1-Distill-Qwen-1.5B-shaped checkpoint with random bf16 weights
   made here with transformers: decode tokens/s at several batch sizes, TTFT of a
   4,000-token prompt, the batch-1 rate as a fraction of the HBM limit (weight bytes
   / measured device-to-device bandwidth), and transformers' own `generate` at batch 1
   as a floor.
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "models/assets/tiny-reasoner")
GOLDEN = os.path.join(ROOT, "models/tests/golden")
CPU_PASS_AT_1 = 97.0  # models/tiny-reasoner/README.md, greedy through ponder on the CPU

# DeepSeek-R1-Distill-Qwen-1.5B's published config.json (the values that shape speed).
R1_1_5B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536,
    "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
    "num_key_value_heads": 2, "max_position_embeddings": 131072, "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6, "vocab_size": 151936, "tie_word_embeddings": False,
    "hidden_act": "silu", "torch_dtype": "bfloat16", "use_sliding_window": False,
    "bos_token_id": 151646, "eos_token_id": 151643,
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def post(url, body, timeout=120):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


class Server:
    """`ponder serve` on a loopback port; killed on exit from the `with` block."""

    def __init__(self, binary, model, port, *flags):
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([binary, "serve", model, "--port", str(port), *flags],
                                     stdout=subprocess.DEVNULL, stderr=open(f"/tmp/ponder-{port}.log", "w"))

    def __enter__(self):
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ponder exited with {self.proc.returncode}: {open(self.proc.stderr.name).read()[-2000:]}")
            try:
                urllib.request.urlopen(self.base + "/health", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("ponder did not come up in 180 s")

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def check_golden(binary):
    result = {}
    for arch in ["llama", "qwen2", "qwen3"]:
        folder = tempfile.mkdtemp()
        for name in os.listdir(os.path.join(GOLDEN, arch)):
            shutil.copy(os.path.join(GOLDEN, arch, name), folder)
        for name in ["tokenizer.json", "tokenizer_config.json"]:  # ids < 256 decode with any tokenizer
            shutil.copy(os.path.join(TINY, name), folder)
        cases = json.load(open(os.path.join(GOLDEN, arch, "golden.json")))["cases"]
        same_cases = same_tokens = total_tokens = 0
        with Server(binary, folder, 8301) as s:
            for c in cases:
                r = post(s.base + "/v1/completions", {"prompt": c["input_ids"], "max_tokens": len(c["greedy_ids"]),
                                                      "temperature": 0, "ignore_eos": True, "return_token_ids": True})
                got = r["choices"][0]["token_ids"]
                same_cases += got == c["greedy_ids"]
                # Tokens agree up to the first divergence (bf16 may flip a near-tie later).
                prefix = next((i for i, (a, b) in enumerate(zip(got, c["greedy_ids"])) if a != b), len(got))
                same_tokens += prefix
                total_tokens += len(c["greedy_ids"])
        result[arch] = {"cases_equal": same_cases, "cases": len(cases), "tokens_before_divergence": same_tokens, "tokens": total_tokens}
        log("golden", arch, result[arch])
    return result


def check_tiny_reasoner(binary):
    problems = [json.loads(l) for l in open(os.path.join(ROOT, "models/tiny-reasoner/heldout.jsonl"))]
    correct = [0]
    lock = threading.Lock()
    with Server(binary, TINY, 8302) as s:
        def solve(chunk):
            for p in chunk:
                r = post(s.base + "/v1/chat/completions", {"messages": [{"role": "user", "content": p["prompt"]}],
                                                           "temperature": 0, "max_tokens": 256})
                m = re.findall(r"-?\d+", r["choices"][0]["message"]["content"] or "")
                with lock:
                    correct[0] += bool(m) and int(m[-1]) == p["answer"]
        t0 = time.time()
        threads = [threading.Thread(target=solve, args=(problems[i::32],)) for i in range(32)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    pass_at_1 = 100.0 * correct[0] / len(problems)
    out = {"pass_at_1": pass_at_1, "cpu_pass_at_1": CPU_PASS_AT_1, "within_1_point": abs(pass_at_1 - CPU_PASS_AT_1) <= 1.0,
           "problems": len(problems), "seconds": time.time() - t0}
    log("tiny reasoner", out)
    return out


def make_checkpoint(folder):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    config = Qwen2Config(**{k: v for k, v in R1_1_5B.items() if k not in ("architectures", "model_type")})
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(TINY, name), folder)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return model, weight_bytes


def bandwidth_gbs():
    import torch
    a = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize()
    t0 = time.time()
    n = 20
    for _ in range(n):
        b.copy_(a)
    torch.cuda.synchronize()
    return 2 * a.numel() * n / (time.time() - t0) / 1e9  # read + write


def hf_generate_tok_s(model, new_tokens):
    import torch
    ids = torch.randint(0, 478, (1, 32), device="cuda")
    model.generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    torch.cuda.synchronize()
    t0 = time.time()
    model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    torch.cuda.synchronize()
    return new_tokens / (time.time() - t0)


def decode_rate(base, batch, new_tokens, timeout):
    """`batch` concurrent requests of `new_tokens` each: aggregate tokens/s."""
    rng = random.Random(batch)
    done = []

    def one():
        r = post(base + "/v1/completions", {"prompt": [rng.randrange(3, 478) for _ in range(32)], "max_tokens": new_tokens,
                                            "temperature": 0, "ignore_eos": True}, timeout=timeout)
        done.append(r["usage"]["completion_tokens"])
    t0 = time.time()
    threads = [threading.Thread(target=one) for _ in range(batch)]
    [t.start() for t in threads]
    [t.join(timeout) for t in threads]
    return sum(done) / (time.time() - t0), len(done)


def ttft(base, prompt_len):
    ids = [random.Random(7).randrange(3, 478) for _ in range(prompt_len)]
    body = json.dumps({"prompt": ids, "max_tokens": 1, "stream": True}).encode()
    req = urllib.request.Request(base + "/v1/completions", body, {"content-type": "application/json"})
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=120) as r:
        for line in r:
            if line.startswith(b"data: {"):
                return time.time() - t0
    return None


def check_speed(binary, budget_end, new_tokens):
    import torch
    folder = tempfile.mkdtemp()
    model, weight_bytes = make_checkpoint(folder)
    out = {"shape": "DeepSeek-R1-Distill-Qwen-1.5B", "weight_bytes": weight_bytes, "new_tokens": new_tokens}
    out["bandwidth_gbs"] = bandwidth_gbs()
    out["hbm_limit_forward_per_s"] = out["bandwidth_gbs"] * 1e9 / weight_bytes
    out["hf_generate_batch1_tok_s"] = hf_generate_tok_s(model, new_tokens)
    log("speed", out)
    del model
    torch.cuda.empty_cache()
    with Server(binary, folder, 8303, "--max-model-len", "8192", "--kv-cache-memory", "16GiB", "--max-num-seqs", "256") as s:
        decode_rate(s.base, 1, 8, 120)  # warm-up
        out["decode_tok_s"] = {}
        for batch in [1, 16, 64, 256]:
            left = budget_end - time.time()
            if left < 60:
                out["decode_tok_s"][str(batch)] = f"skipped: {left:.0f} s of budget left"
                continue
            rate, finished = decode_rate(s.base, batch, new_tokens, timeout=left - 30)
            out["decode_tok_s"][str(batch)] = rate
            log("decode batch", batch, f"{rate:.1f} tok/s", f"{finished}/{batch} finished")
        if budget_end - time.time() > 40:
            out["ttft_4000_s"] = ttft(s.base, 4000)
    b1 = out["decode_tok_s"].get("1")
    if isinstance(b1, float):
        out["batch1_fraction_of_hbm_limit"] = b1 / out["hbm_limit_forward_per_s"]
    log("speed", out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=480)
    ap.add_argument("--new-tokens", type=int, default=256, help="decode length of the speed runs (the issue's 1,024 when time allows)")
    args = ap.parse_args()
    end = time.time() + args.budget_s
    report = {"gpu": True}
    for name, fn in [("golden", lambda: check_golden(args.bin)), ("tiny_reasoner", lambda: check_tiny_reasoner(args.bin)),
                     ("speed", lambda: check_speed(args.bin, end - 20, args.new_tokens))]:
        if end - time.time() < 30:
            report[name] = "skipped: out of time"
            continue
        try:
            report[name] = fn()
        except Exception as e:  # report and go on: one failed check must not hide the others
            report[name] = {"error": f"{type(e).__name__}: {e}"}
            log(name, "failed:", e)
        json.dump(report, open(os.path.join(args.out, "device-check.json"), "w"), indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
