"""Starts one `ponder serve` on SmolLM2-135M-Instruct Q4_1 for the whole session.

The binary is taken from PONDER_BIN (default: target/debug/ponder, built by
`cargo test`), the model from PONDER_CACHE (default ~/.cache/ponder, filled by
scripts/fetch-assets).
"""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from openai import OpenAI

ROOT = Path(__file__).resolve().parents[2]


def _cache() -> Path:
    return Path(os.environ.get("PONDER_CACHE", Path.home() / ".cache" / "ponder"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    model = _cache() / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert model.exists(), f"{model} missing: run scripts/fetch-assets"
    binary = Path(os.environ.get("PONDER_BIN", ROOT / "target" / "debug" / "ponder"))
    assert binary.exists(), f"{binary} missing: run cargo build"
    port = _free_port()
    log = open(ROOT / "target" / "e2e-server.log", "w")
    proc = subprocess.Popen(
        [str(binary), "serve", str(model), "--port", str(port), "--served-model-name", "smollm2"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        assert proc.poll() is None, f"server exited early, see {log.name}"
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.time() < deadline, "server did not become healthy in 120 s"
        time.sleep(0.25)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def client(server):
    return OpenAI(base_url=server + "/v1", api_key="unused", timeout=120)
