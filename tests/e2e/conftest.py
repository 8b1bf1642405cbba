"""Starts `ponder serve` once per session for each model the tests ask for:
SmolLM2-135M-Instruct Q4_1 (`server`, `client`) and the tiny reasoning model
trained by models/tiny-reasoner/train.py (`tiny_reasoner`, skipped while its
weights are not there).

The binary is taken from PONDER_BIN (default: target/debug/ponder, built by
`cargo test`), SmolLM2 from PONDER_CACHE (default ~/.cache/ponder, filled by
scripts/fetch-assets), the tiny reasoner from PONDER_TINY_REASONER (default
models/assets/tiny-reasoner).
"""

import contextlib
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


def _binary() -> Path:
    return Path(os.environ.get("PONDER_BIN", ROOT / "target" / "debug" / "ponder"))


@contextlib.contextmanager
def ponder_server(model: Path, name: str, log_name: str):
    """Runs `ponder serve MODEL --served-model-name NAME` on a free port until the
    block exits; yields its base URL (no `/v1`). The log goes to target/LOG_NAME."""
    binary = _binary()
    assert binary.exists(), f"{binary} missing: run cargo build"
    port = _free_port()
    log = open(ROOT / "target" / log_name, "w")
    proc = subprocess.Popen(
        [str(binary), "serve", str(model), "--port", str(port), "--served-model-name", name],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
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
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server():
    model = _cache() / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert model.exists(), f"{model} missing: run scripts/fetch-assets"
    with ponder_server(model, "smollm2", "e2e-server.log") as base:
        yield base


@pytest.fixture(scope="session")
def client(server):
    return OpenAI(base_url=server + "/v1", api_key="unused", timeout=120)


@pytest.fixture(scope="session")
def tiny_reasoner_model() -> Path:
    """The tiny reasoner's folder (committed; `PONDER_TINY_REASONER` overrides it)."""
    model = Path(os.environ.get("PONDER_TINY_REASONER", ROOT / "models" / "assets" / "tiny-reasoner"))
    assert (model / "model.safetensors").exists(), f"{model / 'model.safetensors'} is missing"
    return model


@pytest.fixture(scope="session")
def tiny_reasoner(tiny_reasoner_model):
    """Base URL (no `/v1`) of a server on the tiny reasoner, served as "tiny-reasoner"."""
    with ponder_server(tiny_reasoner_model, "tiny-reasoner", "e2e-tiny-reasoner.log") as base:
        yield base
