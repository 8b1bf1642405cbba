#!/usr/bin/env python3
"""Writes the tokenizer fixtures of ponder-models (run by hand, output committed).

    python3 -m venv /work/tok-venv
    /work/tok-venv/bin/pip install tokenizers jinja2 gguf numpy
    /work/tok-venv/bin/python scripts/make_tokenizer_fixtures.py

Inputs (fetched by scripts/fetch-assets into $PONDER_CACHE or ~/.cache/ponder):
- qwen3-tokenizer/tokenizer.json + tokenizer_config.json
- r1-distill-qwen-7b/header.gguf (metadata whole, tensor data cut off)

Outputs (models/tests/fixtures/):
- r1_tokenizer.json: the DeepSeek-R1-Distill-Qwen tokenizer rebuilt with the Python
  `tokenizers` library from Qwen3's vocabulary and merges (the same base BPE, checked
  below against the GGUF) plus the GGUF's added tokens; expected ids of several
  texts, and a two-turn conversation rendered with the GGUF's chat template (and
  with the updated R1 template that opens the think block) by jinja2, configured
  as Hugging Face transformers configures it.
- qwen3_chat.json: Qwen3's template rendered by jinja2 with and without
  enable_thinking=false, with tools, and with a reasoning_content key dropped.
"""

import copy
import json
import os
import sys
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from gguf import GGUFReader
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "tests" / "fixtures"
CACHE = Path(os.environ.get("PONDER_CACHE", Path.home() / ".cache" / "ponder"))

TEXTS = [
    "Hello, world! How are you doing today?",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "12345",
    "The year 2024 had 366 days; π ≈ 3.14159.",
    "你好，世界！今天天气很好。",
    "Emoji: 😀🎉👍🏽 and a flag 🇫🇷",
    "The model wrote </think> inside the text, and <think> too.",
    "I'VE been there, don't you know? She'll say it's fine.",
    "  leading spaces\n\n\ttabs\r\nand trailing   ",
    "Cafe\u0301 (not NFC) versus Café",
    "<｜User｜>special tokens in text<｜Assistant｜>",
]

CONVERSATION = [
    {"role": "user", "content": "What is 2+2?"},
    {
        "role": "assistant",
        "content": "<think>\nThe user asks a simple sum.\n</think>\n\n2+2 = 4.",
        "reasoning_content": "The user asks a simple sum.",
    },
    {"role": "user", "content": "And 3+3?"},
]

GGUF_GENERATION_PROMPT = "{{'<｜Assistant｜>'}}{% endif %}"
UPDATED_GENERATION_PROMPT = "{{'<｜Assistant｜><think>\\n'}}{% endif %}"


class HeaderReader(GGUFReader):
    """GGUFReader that skips tensor data (the header file has none)."""

    def _build_tensors(self, *args, **kwargs):
        self.tensors = []


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def hf_environment():
    """jinja2 as transformers' apply_chat_template sets it up."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def render(template, messages, add_generation_prompt, tools=None, **kwargs):
    """ponder drops reasoning_content / reasoning before rendering; so do we."""
    cleaned = [{k: v for k, v in m.items() if k not in ("reasoning_content", "reasoning")}
               for m in messages]
    return hf_environment().from_string(template).render(
        messages=cleaned, add_generation_prompt=add_generation_prompt, tools=tools, **kwargs)


def r1_tokenizer(qwen3_json, reader):
    """Qwen3's base BPE plus the R1 GGUF's control and user-defined tokens."""
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = field(reader, "tokenizer.ggml.merges")
    base = qwen3_json["model"]
    n_base = len(base["vocab"])
    assert all(tokens[i] == t for t, i in base["vocab"].items()), "base vocab differs"
    assert [" ".join(m) for m in base["merges"]] == merges, "merges differ"
    data = copy.deepcopy(qwen3_json)
    data["added_tokens"] = [
        {"id": i, "content": tokens[i], "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": types[i] == 3}
        for i in range(n_base, len(tokens)) if types[i] in (3, 4)
    ]
    return Tokenizer.from_str(json.dumps(data)), data["added_tokens"]


def write(name, payload):
    path = OUT / name
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def make_r1(qwen3_json):
    reader = HeaderReader(CACHE / "r1-distill-qwen-7b" / "header.gguf")
    tok, added = r1_tokenizer(qwen3_json, reader)
    tokens = field(reader, "tokenizer.ggml.tokens")
    bos = tokens[field(reader, "tokenizer.ggml.bos_token_id")]
    eos = tokens[field(reader, "tokenizer.ggml.eos_token_id")]
    template = field(reader, "tokenizer.chat_template")
    assert template.endswith(GGUF_GENERATION_PROMPT), "GGUF template changed"
    updated = template[: -len(GGUF_GENERATION_PROMPT)] + UPDATED_GENERATION_PROMPT
    rendered = render(template, CONVERSATION, True, bos_token=bos, eos_token=eos)
    rendered_think = render(updated, CONVERSATION, True, bos_token=bos, eos_token=eos)
    assert rendered_think.endswith("<｜Assistant｜><think>\n")
    assert "simple sum" not in rendered
    write("r1_tokenizer.json", {
        "source": "scripts/make_tokenizer_fixtures.py: Qwen3 tokenizer.json base BPE + "
                  "R1-Distill-Qwen-7B GGUF added tokens, python tokenizers + jinja2",
        "added_tokens": [[t["id"], t["content"], t["special"]] for t in added],
        "texts": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids}
                  for t in TEXTS],
        "conversation": CONVERSATION,
        "rendered": rendered,
        "rendered_ids": tok.encode(rendered, add_special_tokens=False).ids,
        "template_with_think": updated,
        "rendered_with_think": rendered_think,
        "rendered_with_think_ids": tok.encode(rendered_think, add_special_tokens=False).ids,
    })


def make_qwen3():
    config = json.loads((CACHE / "qwen3-tokenizer" / "tokenizer_config.json").read_text())
    template = config["chat_template"]
    tools = [{"function": {"description": "Get the weather",
                           "name": "get_weather",
                           "parameters": {"properties": {"city": {"type": "string"}},
                                          "required": ["city"], "type": "object"}},
              "type": "function"}]
    # An assistant turn whose reasoning comes back only as reasoning_content: ponder
    # drops the key, so the template renders an empty think block.
    last_turn = [CONVERSATION[0], {"role": "assistant", "content": "2+2 = 4.",
                                   "reasoning_content": "SECRET chain of thought"}]
    write("qwen3_chat.json", {
        "source": "scripts/make_tokenizer_fixtures.py: Qwen3 chat template, jinja2",
        "conversation": CONVERSATION,
        "rendered": render(template, CONVERSATION, True),
        "rendered_no_thinking": render(template, CONVERSATION, True, enable_thinking=False),
        "tools": tools,
        "rendered_tools": render(template, CONVERSATION[:1], True, tools=tools),
        "last_turn": last_turn,
        "rendered_last_turn": render(template, last_turn, False),
    })


def main():
    qwen3_json = json.loads(
        (CACHE / "qwen3-tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    OUT.mkdir(parents=True, exist_ok=True)
    make_r1(qwen3_json)
    make_qwen3()


if __name__ == "__main__":
    sys.exit(main())
