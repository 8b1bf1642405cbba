"""Builds the tiny reasoner's tokenizer files: tokenizer.json (a byte-level BPE
trained with the `tokenizers` library, Qwen2's pre-tokenizer so every digit is
its own token) and tokenizer_config.json (the DeepSeek-R1-Distill chat template).

The six DeepSeek-R1 special tokens are single added tokens. As in
DeepSeek-R1-Distill-Qwen's tokenizer.json, `<think>` and `</think>` are added
tokens that are not "special" (they stay in decoded text); the other four are.

Usage: python make_tokenizer.py OUT_DIR
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import data

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPECIALS = [BOS, EOS, USER, ASSISTANT, THINK_OPEN, THINK_CLOSE]
NOT_SPECIAL = {THINK_OPEN, THINK_CLOSE}

# Qwen2 / DeepSeek-R1-Distill-Qwen's split regex (its tokenizer.json).
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

VOCAB_SIZE = 512  # 6 specials + 256 bytes + 250 merges

# The DeepSeek-R1-Distill-Qwen chat template, as in the GGUF header
# (`tokenizer.chat_template`), with DeepSeek's later update: the generation prompt
# opens the think block (`<｜Assistant｜><think>\n`).
CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}"
    "{{bos_token}}{{ns.system_prompt}}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' "
    "+ tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' "
    "+ '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}"
    "{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' "
    "+ tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' "
    "+ '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}"
    "{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}"
    "{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] "
    "+ '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}"
    "{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- endif %}{%- endif %}{%- endfor -%}"
    "{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)


def corpus(n: int = 20_000, seed: int = 7):
    rng = random.Random(seed)
    for _ in range(n):
        p = data.sample(rng)
        # The added tokens split the text before pre-tokenization, so train on the
        # pieces between them.
        yield p.prompt
        yield from p.output().split(THINK_CLOSE)


def build_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    # `<think>` / `</think>`: added tokens but not special, as in R1-Distill-Qwen.
    spec = json.loads(tok.to_str())
    for added in spec["added_tokens"]:
        if added["content"] in NOT_SPECIAL:
            added["special"] = False
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def tokenizer_config() -> dict:
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 512,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }


def save(out_dir: Path) -> Tokenizer:
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(out_dir / "tokenizer.json"))
    with (out_dir / "tokenizer_config.json").open("w") as f:
        json.dump(tokenizer_config(), f, ensure_ascii=False, indent=2)
        f.write("\n")
    for s in SPECIALS:
        assert tok.token_to_id(s) is not None and tok.encode(s).ids == [tok.token_to_id(s)], s
    digit_tokens = [t for t in tok.get_vocab() if any(c.isdigit() for c in t)]
    assert all(len(t) == 1 for t in digit_tokens), "a merge involves a digit"
    return tok


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else data.HERE.parent / "assets" / "tiny-reasoner")
    t = save(out)
    print(f"vocab {t.get_vocab_size()} -> {out}")
    enc = t.encode(f"{BOS}{USER}What is 347 + 589?{ASSISTANT}{THINK_OPEN}\n347+589\n7+9+0=16\n{THINK_CLOSE}\n\nThe answer is 936.{EOS}")
    print(len(enc.ids), enc.tokens)
