#!/usr/bin/env bash
# Builds the peers that `loadtests/peers/run.sh` measures ponder against, into
# $PONDER_PEERS_DIR (default ~/.cache/ponder/peers). Idempotent: a peer already
# built is skipped. Not run by CI (a cold build takes tens of minutes on 2 cores).
#
# - llama.cpp's C++ `llama-server`, built with cmake (from PyPI) out of the
#   llama.cpp source vendored in the llama-cpp-python==0.3.36 source package, for the
#   native CPU (AVX-512 and VNNI where present) but without AMX: on a Sapphire Rapids
#   VM whose kernel does not grant AMX tile state, ggml's AMX kernels die at the first
#   `tilezero` with an illegal instruction.
# - mistral.rs's OpenAI server: `cargo install mistralrs-cli@0.8.1`.
#
# PEERS (default "mistralrs llama") picks which to build, as in run.sh.
set -euo pipefail

WANT=${PEERS:-mistralrs llama}
PEERS=${PONDER_PEERS_DIR:-$HOME/.cache/ponder/peers}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$PEERS/bin"

if [[ " $WANT " == *" llama "* && ! -x "$PEERS/bin/llama-server" ]]; then
  echo "== llama.cpp llama-server (llama-cpp-python==0.3.36 vendor/llama.cpp)"
  python3 -m venv "$PEERS/venv"
  "$PEERS/venv/bin/pip" install --quiet cmake
  "$PEERS/venv/bin/pip" download --quiet --no-deps --no-binary llama-cpp-python \
    llama-cpp-python==0.3.36 -d "$PEERS/src"
  rm -rf "$PEERS/llama-cpp-python"
  mkdir -p "$PEERS/llama-cpp-python"
  tar xzf "$PEERS"/src/llama_cpp_python-0.3.36.tar.gz -C "$PEERS/llama-cpp-python" --strip-components=1
  "$PEERS/venv/bin/cmake" -S "$PEERS/llama-cpp-python/vendor/llama.cpp" -B "$PEERS/build-llama" \
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DCMAKE_C_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
    -DCMAKE_CXX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DBUILD_SHARED_LIBS=OFF
  "$PEERS/venv/bin/cmake" --build "$PEERS/build-llama" --target llama-server -j "$JOBS"
  cp "$PEERS/build-llama/bin/llama-server" "$PEERS/bin/llama-server"
fi
[ -x "$PEERS/bin/llama-server" ] && "$PEERS/bin/llama-server" --version 2>&1 | head -2

if [[ " $WANT " == *" mistralrs "* && ! -x "$PEERS/bin/mistralrs" ]]; then
  echo "== mistral.rs (cargo install mistralrs-cli@0.8.1)"
  RUSTFLAGS="-C target-cpu=x86-64-v3" cargo install mistralrs-cli@0.8.1 --locked \
    --root "$PEERS" --jobs "$JOBS"
fi
ls "$PEERS/bin"
