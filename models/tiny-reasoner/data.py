"""Seeded arithmetic word problems with a digit-by-digit chain of thought.

A problem is one of
  - addition        a + b, 0 <= a, b <= 999
  - subtraction     a - b, 0 <= b <= a <= 999 (the result is never negative)
  - multiplication  a * b, 10 <= a <= 99, 1 <= b <= 9
phrased through a few plain-English templates. Its identity (`key`) is the
operation and the operands, with the operands of + sorted (3 + 5 and 5 + 3 are
the same problem), so the held-out set and the training set are disjoint by
problem, whatever the phrasing.

The model output (what follows the prompt's `<think>\n`) is

    347+589          operands restated, zero-padded to 3 digits
    7+9+0=16         one line per column, ones first: digit + digit + carry in,
    4+8+1=13         the column sum always written with 2 digits (its first
    3+5+1=09         digit is the carry out)
    =0936            the result, zero-padded (carry + 3 columns)
    </think>

    The answer is 936.

Subtraction columns write the top digit with 2 digits, `1x` when the column
borrows and `0x` when it does not (`12-5-0=7`, then `08-2-1=5`); multiplication
columns are `digit*b+carry=value` (value with 2 digits). Fixed-width lines put
every digit at a fixed distance from where it is needed, which a tiny model
learned much faster than variable-width lines here: 53% vs 7% greedy accuracy
on 60 held-out problems after 600 steps (the variable-width run also had lr
3e-3 instead of 2e-3).

`python data.py` writes heldout.jsonl (500 problems, seed 2) and prints the
overlap check against the training stream (seed 1).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

TRAIN_SEED = 1
HELDOUT_SEED = 2
HELDOUT_SIZE = 500
HERE = Path(__file__).resolve().parent

NAMES = [("Tom", "he"), ("Anna", "she"), ("Ravi", "he"), ("Mia", "she"), ("Leo", "he"), ("Sara", "she")]
ITEMS = ["apples", "marbles", "stickers", "coins", "pencils", "cards", "stamps", "shells"]
PLACES = [("A library", "books", "it"), ("A farm", "eggs", "it"), ("A school", "chairs", "it"),
          ("A bakery", "cookies", "it"), ("A zoo", "tickets", "it")]

ADD_TEMPLATES = [
    "What is {a} + {b}?",
    "Compute {a} + {b}.",
    "What is the sum of {a} and {b}?",
    "Add {a} and {b}.",
    "{name} has {a} {item} and gets {b} more. How many {item} does {pron} have now?",
    "{place} had {a} {things} and received {b} more; how many {things} does {it} have?",
]
SUB_TEMPLATES = [
    "What is {a} - {b}?",
    "Compute {a} - {b}.",
    "What is {a} minus {b}?",
    "Subtract {b} from {a}.",
    "{name} had {a} {item} and gave away {b}. How many {item} are left?",
    "{place} had {a} {things} and used {b}; how many {things} remain?",
]
MUL_TEMPLATES = [
    "What is {a} × {b}?",
    "Compute {a} * {b}.",
    "What is {a} times {b}?",
    "Multiply {a} by {b}.",
    "What is {b} × {a}?",
    "A shop had {a} boxes of {b} {item}; how many {item}?",
    "There are {a} rows of {b} chairs. How many chairs are there?",
    "{name} buys {a} bags with {b} {item} in each. How many {item} does {pron} buy?",
]


@dataclass(frozen=True)
class Problem:
    """One problem: its text, the model output (chain of thought, `</think>`,
    answer sentence) and the numeric answer."""

    op: str
    a: int
    b: int
    prompt: str
    reasoning: str
    answer: int

    @property
    def key(self) -> tuple[str, int, int]:
        return problem_key(self.op, self.a, self.b)

    def output(self, think_close: str = "</think>") -> str:
        """The assistant text after the prompt's `<think>\\n`, without EOS."""
        return f"{self.reasoning}{think_close}\n\nThe answer is {self.answer}."


def problem_key(op: str, a: int, b: int) -> tuple[str, int, int]:
    if op == "+":
        a, b = min(a, b), max(a, b)
    return (op, a, b)


def operand(rng: random.Random, max_digits: int = 3) -> int:
    """A number whose digit count is uniform in 1..max_digits."""
    digits = rng.randint(1, max_digits)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def digits_low_first(n: int, width: int) -> list[int]:
    return [(n // 10**i) % 10 for i in range(width)]


def add_chain(a: int, b: int) -> str:
    lines = [f"{a:03d}+{b:03d}"]
    carry = 0
    for x, y in zip(digits_low_first(a, 3), digits_low_first(b, 3)):
        s = x + y + carry
        lines.append(f"{x}+{y}+{carry}={s:02d}")
        carry = s // 10
    lines.append(f"={a + b:04d}")
    return "\n".join(lines) + "\n"


def sub_chain(a: int, b: int) -> str:
    assert a >= b
    lines = [f"{a:03d}-{b:03d}"]
    borrow = 0
    for x, y in zip(digits_low_first(a, 3), digits_low_first(b, 3)):
        if x - y - borrow < 0:
            lines.append(f"{x + 10}-{y}-{borrow}={x + 10 - y - borrow}")
            borrow = 1
        else:
            lines.append(f"0{x}-{y}-{borrow}={x - y - borrow}")
            borrow = 0
    lines.append(f"={a - b:03d}")
    return "\n".join(lines) + "\n"


def mul_chain(a: int, b: int) -> str:
    lines = [f"{a}*{b}"]
    carry = 0
    for x in digits_low_first(a, 2):
        p = x * b + carry
        lines.append(f"{x}*{b}+{carry}={p:02d}")
        carry = p // 10
    lines.append(f"={a * b:03d}")
    return "\n".join(lines) + "\n"


def fill(rng: random.Random, template: str, a: int, b: int) -> str:
    name, pron = rng.choice(NAMES)
    place, things, it = rng.choice(PLACES)
    return template.format(a=a, b=b, name=name, pron=pron, item=rng.choice(ITEMS),
                           place=place, things=things, it=it)


def sample(rng: random.Random) -> Problem:
    op = rng.choice("+-*")
    if op == "+":
        a, b = operand(rng), operand(rng)
        return Problem(op, a, b, fill(rng, rng.choice(ADD_TEMPLATES), a, b), add_chain(a, b), a + b)
    if op == "-":
        a, b = operand(rng), operand(rng)
        a, b = max(a, b), min(a, b)
        return Problem(op, a, b, fill(rng, rng.choice(SUB_TEMPLATES), a, b), sub_chain(a, b), a - b)
    a, b = rng.randint(10, 99), rng.randint(1, 9)
    return Problem(op, a, b, fill(rng, rng.choice(MUL_TEMPLATES), a, b), mul_chain(a, b), a * b)


def heldout(seed: int = HELDOUT_SEED, size: int = HELDOUT_SIZE) -> list[Problem]:
    """`size` problems with distinct keys."""
    rng = random.Random(seed)
    out: dict[tuple[str, int, int], Problem] = {}
    while len(out) < size:
        p = sample(rng)
        out.setdefault(p.key, p)
    return list(out.values())


def training_stream(excluded: set[tuple[str, int, int]], seed: int = TRAIN_SEED):
    """An endless seeded stream of problems whose keys are not in `excluded`."""
    rng = random.Random(seed)
    while True:
        p = sample(rng)
        if p.key not in excluded:
            yield p


def overlap_check(n_train: int) -> dict:
    """Draws the first `n_train` training problems and counts how many share a key
    with the held-out set (must be 0), and how many the filter removed."""
    held = {p.key for p in heldout()}
    rng = random.Random(TRAIN_SEED)
    removed = 0
    kept = []
    while len(kept) < n_train:
        p = sample(rng)
        if p.key in held:
            removed += 1
        else:
            kept.append(p.key)
    overlap = len(set(kept) & held)
    return {"heldout": len(held), "train_drawn": n_train, "train_unique": len(set(kept)),
            "filtered_out": removed, "overlap": overlap}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check-train", type=int, default=200_000,
                        help="training problems to draw for the overlap check")
    args = parser.parse_args()
    problems = heldout()
    path = HERE / "heldout.jsonl"
    with path.open("w") as f:
        for p in problems:
            f.write(json.dumps({"prompt": p.prompt, "answer": p.answer}, ensure_ascii=False) + "\n")
    ops = {op: sum(p.op == op for p in problems) for op in "+-*"}
    print(f"wrote {path} ({len(problems)} problems, by op {ops})")
    check = overlap_check(args.check_train)
    print(f"overlap check: {json.dumps(check)}")
    assert check["overlap"] == 0
    ex = sample(random.Random(0))
    print("example:", ex.prompt, "->", repr(ex.output()))


if __name__ == "__main__":
    main()
