#!/usr/bin/env python3
"""ponder replicas behind sglang-router, all on loopback. Standard library only; the
router comes from PyPI (`deploy/router/install` puts it in deploy/router/.venv).

    deploy/router/cluster.py up [--replicas 3] [--policy cache_aware]   # start, print URLs
    deploy/router/cluster.py admin POST /update_weights_from_disk '{"model_path": "..."}'
    deploy/router/cluster.py down
    deploy/router/cluster.py experiment        # the measurements in docs/deploy.md
    deploy/router/cluster.py experiment --replicas 8 --no-faults   # as many replicas as samples

Replica i listens on 127.0.0.1:(base+1+i) with `--seed` base+i; the router on base
(default 18000). sglang-router forwards the OpenAI and `/generate` routes but not the
RL admin routes, so `admin` sends those to every replica (with `--admin-api-key`).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STATE = os.path.join(HERE, ".cluster.json")
ADMIN_KEY = os.environ.get("PONDER_ADMIN_API_KEY", "cluster-admin")
ROUTER = os.path.join(HERE, ".venv", "bin", "sglang-router")
BENCH = os.path.join(ROOT, "target", "debug", "ponder-bench")


def http(method, url, body=None, key=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if http("GET", url + "/ready", timeout=2)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Cluster:
    def __init__(self, ponder, model, replicas, base, policy, log_dir):
        self.ponder, self.model, self.base, self.policy, self.log_dir = ponder, model, base, policy, log_dir
        self.replica_urls = [f"http://127.0.0.1:{base + 1 + i}" for i in range(replicas)]
        self.router_url = f"http://127.0.0.1:{base}"
        self.procs = {}
        os.makedirs(log_dir, exist_ok=True)

    def start_replica(self, i):
        port = self.base + 1 + i
        log = open(os.path.join(self.log_dir, f"replica-{i}.log"), "a")
        self.procs[i] = subprocess.Popen(
            [self.ponder, "serve", self.model, "--port", str(port), "--seed", str(self.base + i),
             "--kv-cache-memory", "64MiB", "--admin-api-key", ADMIN_KEY],
            stdout=log, stderr=log, start_new_session=True)
        return self.replica_urls[i]

    def start_router(self):
        log = open(os.path.join(self.log_dir, "router.log"), "a")
        self.procs["router"] = subprocess.Popen(
            [ROUTER, "launch", "--host", "127.0.0.1", "--port", str(self.base), "--policy", self.policy,
             "--health-check-interval-secs", "2", "--health-failure-threshold", "1",
             "--health-success-threshold", "1", "--prometheus-port", str(self.base + 900),
             "--worker-urls", *self.replica_urls],
            stdout=log, stderr=log, start_new_session=True)

    def up(self):
        for i in range(len(self.replica_urls)):
            self.start_replica(i)
        for url in self.replica_urls:
            if not wait_ready(url):
                raise SystemExit(f"replica {url} did not start; see {self.log_dir}")
        self.start_router()
        self.wait_router()

    def wait_router(self):
        """Until the router (the one started here, not a stale one) has every replica."""
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.procs["router"].poll() is not None:
                raise SystemExit(f"the router exited; see {self.log_dir}/router.log")
            try:
                status, body = http("GET", self.router_url + "/workers", timeout=2)
                if status == 200 and sum(w.get("is_healthy", False) for w in json.loads(body)["workers"]) == len(self.replica_urls):
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"the router did not register every replica; see {self.log_dir}/router.log")

    def kill(self, key, sig=signal.SIGTERM):
        p = self.procs.pop(key, None)
        if p and p.poll() is None:
            os.killpg(p.pid, sig)
            p.wait(timeout=60)

    def down(self):
        for key in list(self.procs):
            self.kill(key)

    def pids(self):
        return {str(k): p.pid for k, p in self.procs.items()}


def admin_all(urls, method, path, body):
    """Sends an admin call to every replica; returns {url: (status, body)}."""
    return {u: http(method, u + path, body, key=ADMIN_KEY) for u in urls}


def counters(url):
    _, text = http("GET", url + "/metrics")
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("ponder:") and " " in line:
            name, value = line.rsplit(" ", 1)
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def hit_rate(before, after):
    hits = sum(a.get("ponder:prefix_cache_hits_total", 0) - b.get("ponder:prefix_cache_hits_total", 0) for b, a in zip(before, after))
    queries = sum(a.get("ponder:prefix_cache_queries_total", 0) - b.get("ponder:prefix_cache_queries_total", 0) for b, a in zip(before, after))
    return hits / queries if queries else 0.0


SYSTEM = ("You are a careful arithmetic tutor. Think step by step inside the think block, check each "
          "column of the sum, carry where needed, and then state the answer in one sentence. ") * 3


def stream_chat(base, messages, max_tokens, temperature, timeout=120):
    """One streaming chat; returns (ttft_s, tokens, error or None, content)."""
    body = {"model": "tiny-reasoner", "messages": messages, "max_tokens": max_tokens, "temperature": temperature,
            "stream": True, "stream_options": {"include_usage": True}}
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.time()
    ttft, tokens, content, done = None, 0, "", False
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return ttft, tokens, chunk["error"].get("code") or "error", content
                for c in chunk.get("choices", []):
                    delta = c.get("delta", {})
                    text = (delta.get("content") or "") + (delta.get("reasoning_content") or "")
                    if text and ttft is None:
                        ttft = time.time() - t0
                    content += delta.get("content") or ""
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
    except urllib.error.HTTPError as e:
        return ttft, tokens, f"http {e.code}", content
    except Exception as e:  # noqa: BLE001 - every failure is reported, none hangs (timeout)
        return ttft, tokens, type(e).__name__, content
    return ttft, tokens, None if done else "no [DONE]", content


def problem(p, tag="Problem"):
    """Problem `p`: a context of its own (about 200 tokens), shared only by its samples."""
    context = " ".join(f"item {p}-{k} costs {(p * 31 + k * 17) % 97} coins;" for k in range(8))
    return f"{tag} {p}: {context} what is {100 + 7 * p} + {200 + 13 * p}?"


def bench_grpo(base, label, log_dir, urls, prompts=64, samples=8):
    """The GRPO part alone through `ponder-bench load` (`--dataset grpo --grpo-split`:
    64 new problems × 8 requests of n=1, 24 in flight, temperature 1, 24 tokens), with
    the prefix-cache hit rate of the replicas over that run."""
    path = os.path.join(log_dir, "grpo-problems.jsonl")
    with open(path, "w") as f:
        for p in range(prompts):
            f.write(json.dumps({"prompt": problem(p, tag="Exercise")}) + "\n")
    out = os.path.join(log_dir, f"bench-{label.replace(' ', '-')}.json")
    before = [counters(u) for u in urls]
    with open(os.path.join(log_dir, "bench.log"), "a") as log:
        subprocess.run([BENCH, "load", "--base-url", base + "/v1", "--model", "tiny-reasoner", "--dataset", "grpo",
                        "--dataset-path", path, "--grpo-prompts", str(prompts), "--grpo-samples", str(samples),
                        "--grpo-split", "--output-len", "24", "--temperature", "1", "--max-concurrency", "24",
                        "--output-json", out], check=True, stdout=log, stderr=log)
    after = [counters(u) for u in urls]
    run = json.load(open(out))["runs"][0]
    return {
        "requests": run["requests"],
        "failed": run["failed_requests"],
        "output_tok_per_s": round(run["output_throughput"], 1),
        "ttft_p50_ms": round(run["ttft_ms"]["median"], 1),
        "ttft_p99_ms": round(run["ttft_ms"]["p99"], 1),
        "prefix_cache_hit_rate": round(hit_rate(before, after), 3),
    }


def grpo_and_chat_load(base, concurrency=24, prompts=64, samples=8, chats=16, turns=4):
    """64 prompts × 8 samples (separate requests, as a GRPO sampler sends them) and 16
    multi-turn chats that resend their history. Returns a summary dict."""
    jobs = []
    for p in range(prompts):
        for _ in range(samples):
            jobs.append(("grpo", [{"role": "user", "content": problem(p)}]))
    results = []
    lock = threading.Lock()

    def one(job):
        _, messages = job
        r = stream_chat(base, messages, 24, 1.0)
        with lock:
            results.append(r)

    def chat(c):
        history = [{"role": "system", "content": SYSTEM}]
        for t in range(turns):
            history.append({"role": "user", "content": f"Chat {c}, turn {t}: what is {c} + {t}?"})
            r = stream_chat(base, history, 24, 0.7)
            with lock:
                results.append(r)
            history.append({"role": "assistant", "content": r[3] or "ok"})

    t0 = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one, j) for j in jobs] + [pool.submit(chat, c) for c in range(chats)]
        for f in futures:
            f.result()
    seconds = time.time() - t0
    ttfts = sorted(r[0] for r in results if r[0] is not None)
    errors = [r[2] for r in results if r[2]]
    return {
        "requests": len(results),
        "errors": len(errors),
        "seconds": round(seconds, 1),
        "output_tok_per_s": round(sum(r[1] for r in results) / seconds, 1),
        "ttft_p50_s": round(ttfts[len(ttfts) // 2], 3) if ttfts else None,
        "ttft_p99_s": round(ttfts[int(len(ttfts) * 0.99)], 3) if ttfts else None,
    }


def experiment(args):
    report = {}
    # One replica alone, then three behind the router with each policy.
    n = args.replicas
    for label, replicas, policy in [("one replica", 1, None), (f"{n} replicas, router cache_aware", n, "cache_aware"),
                                    (f"{n} replicas, router round_robin", n, "round_robin")]:
        c = Cluster(args.ponder, args.model, replicas, args.base, policy or "cache_aware", args.log_dir)
        try:
            for i in range(replicas):
                c.start_replica(i)
            for u in c.replica_urls:
                assert wait_ready(u), f"replica {u} did not start"
            target = c.replica_urls[0]
            if policy:
                c.start_router()
                c.wait_router()
                target = c.router_url
            before = [counters(u) for u in c.replica_urls]
            summary = grpo_and_chat_load(target)
            after = [counters(u) for u in c.replica_urls]
            summary["prefix_cache_hit_rate"] = round(hit_rate(before, after), 3)
            summary["requests_per_replica"] = [
                int(a.get("ponder:e2e_request_latency_seconds_count", 0) - b.get("ponder:e2e_request_latency_seconds_count", 0))
                for b, a in zip(before, after)]
            summary["ponder-bench grpo"] = bench_grpo(target, label, args.log_dir, c.replica_urls)
            report[label] = summary
            print(f"{label:<34} {json.dumps(summary)}", flush=True)
        finally:
            c.down()
    if not args.no_faults:
        report["replica killed"] = kill_test(args)
        report["admin fan-out"] = fanout_test(args)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"report written to {args.out}")


def kill_test(args):
    """SIGKILL one replica mid-load: every request ends (error or answer, none hangs),
    the router stops sending to it, and the restarted replica serves again."""
    c = Cluster(args.ponder, args.model, 3, args.base, "cache_aware", args.log_dir)
    try:
        c.up()
        results = []
        lock = threading.Lock()

        def one(i):
            r = stream_chat(c.router_url, [{"role": "user", "content": f"What is {i} + {i}?"}], 48, 1.0, timeout=60)
            with lock:
                results.append((time.time(), r[2]))

        t0 = time.time()
        with ThreadPoolExecutor(24) as pool:
            futures = [pool.submit(one, i) for i in range(600)]
            time.sleep(3)
            killed_at = time.time()
            c.kill(1, signal.SIGKILL)
            for f in futures:
                f.result()
        errors_after = [e for t, e in results if e and t > killed_at + 5]
        summary = {
            "requests": len(results),
            "failed": sum(1 for _, e in results if e),
            "failed_kinds": sorted({e for _, e in results if e}),
            "failed_later_than_5s_after_the_kill": len(errors_after),
            "longest_s": round(max(t for t, _ in results) - t0, 1),
        }
        # Restart it on the same port; the router's health check brings it back.
        c.start_replica(1)
        wait_ready(c.replica_urls[1])
        time.sleep(5)
        before = counters(c.replica_urls[1]).get("ponder:e2e_request_latency_seconds_count", 0)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: stream_chat(c.router_url, [{"role": "user", "content": f"Q{i}: what is {i} + 1?"}], 8, 1.0), range(60)))
        after = counters(c.replica_urls[1]).get("ponder:e2e_request_latency_seconds_count", 0)
        summary["requests_served_by_the_restarted_replica"] = int(after - before)
        print(f"{'replica killed':<20} {json.dumps(summary)}", flush=True)
        return summary
    finally:
        c.down()


def fanout_test(args):
    """pause → update weights → resume on every replica; all report the same version."""
    c = Cluster(args.ponder, args.model, 3, args.base, "cache_aware", args.log_dir)
    try:
        c.up()
        statuses = {}
        for method, path, body in [("POST", "/pause?mode=wait", None),
                                   ("POST", "/update_weights_from_disk", {"model_path": os.path.abspath(args.model), "weight_version": "fanout-v2"}),
                                   ("POST", "/resume", None)]:
            statuses[path] = sorted({s for s, _ in admin_all(c.replica_urls, method, path, body).values()})
        versions = sorted({json.loads(http("GET", u + "/v1/models")[1])["data"][0]["weight_version"] for u in c.replica_urls})
        summary = {"statuses": statuses, "weight_versions": versions}
        print(f"{'admin fan-out':<20} {json.dumps(summary)}", flush=True)
        return summary
    finally:
        c.down()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["up", "down", "admin", "experiment"])
    ap.add_argument("rest", nargs="*")
    ap.add_argument("--ponder", default=os.path.join(ROOT, "target", "debug", "ponder"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "assets", "tiny-reasoner"))
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--policy", default="cache_aware")
    ap.add_argument("--base", type=int, default=18000)
    ap.add_argument("--log-dir", default=os.path.join(ROOT, "results", "cluster"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "cluster.json"))
    ap.add_argument("--no-faults", action="store_true", help="experiment: the policy rows only (no kill, no fan-out)")
    args = ap.parse_args()
    if args.command != "admin" and args.command != "down" and not os.path.exists(ROUTER):
        sys.exit("sglang-router is not installed: run deploy/router/install")
    if args.command == "up":
        c = Cluster(args.ponder, args.model, args.replicas, args.base, args.policy, args.log_dir)
        c.up()
        with open(STATE, "w") as f:
            json.dump({"pids": c.pids(), "replicas": c.replica_urls, "router": c.router_url}, f)
        print(f"router {c.router_url} → replicas {' '.join(c.replica_urls)} (logs in {args.log_dir})")
    elif args.command == "down":
        with open(STATE) as f:
            state = json.load(f)
        for pid in state["pids"].values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os.remove(STATE)
    elif args.command == "admin":
        if len(args.rest) < 2:
            sys.exit("usage: cluster.py admin METHOD PATH [JSON]")
        with open(STATE) as f:
            urls = json.load(f)["replicas"]
        body = json.loads(args.rest[2]) if len(args.rest) > 2 else None
        for url, (status, text) in admin_all(urls, args.rest[0], args.rest[1], body).items():
            print(url, status, text.decode()[:200])
    else:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        experiment(args)


if __name__ == "__main__":
    main()
