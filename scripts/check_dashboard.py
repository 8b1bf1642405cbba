"""Every metric a Grafana dashboard queries must be one ponder exports: starts the
server, sends an ordinary and a refused request (so labelled series exist), reads
/metrics and compares. Usage: check_dashboard.py PONDER_BIN DASHBOARD_JSON"""
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def main(ponder, dashboard):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([ponder, "serve", "--port", str(port), "--kv-cache-memory", "16MiB"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/ready", timeout=1)
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        chat = {"messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 64}
        post = lambda body: urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),  # noqa: E731
                                                   headers={"Content-Type": "application/json"})
        urllib.request.urlopen(post(chat), timeout=60).read()
        try:
            urllib.request.urlopen(post({"messages": []}), timeout=60)
        except urllib.error.HTTPError:
            pass
        exported = set(re.findall(r"^(ponder:[a-z_]+)", urllib.request.urlopen(base + "/metrics").read().decode(), re.M))
    finally:
        proc.terminate()
        proc.wait(timeout=40)
    with open(dashboard) as f:
        dash = json.load(f)
    queried = set()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            queried.update(re.findall(r"ponder:[a-z_]+", target["expr"]))
    missing = sorted(q for q in queried if q not in exported and re.sub(r"_(bucket|sum|count)$", "", q) + "_bucket" not in exported)
    if missing:
        sys.exit(f"check-deploy: the dashboard queries metrics ponder does not export: {missing}")
    print(f"check-deploy: all {len(queried)} metrics of {dashboard} are exported ({len(dash['panels'])} panels)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
