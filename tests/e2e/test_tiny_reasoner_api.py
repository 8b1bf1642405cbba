"""The reasoning API against the tiny reasoner through the official `openai` SDK:
answers are checked for correctness, not only shape.

The model (models/assets/tiny-reasoner) solves arithmetic with a digit-by-digit chain
of thought, then says "The answer is N."; its prompt opens the think block.
"""

import json
import re

import pytest
from openai import OpenAI

QUESTIONS = [
    ("What is 347 + 589?", 936),
    ("Compute 812 - 275.", 537),
    ("A shop had 46 boxes of 7 apples; how many apples?", 322),
]


def _final_number(reasoning):
    """The result line of the chain of thought (`=0936` -> 936)."""
    match = re.search(r"=(\d+)$", reasoning.strip())
    assert match, reasoning
    return int(match.group(1))


@pytest.fixture(scope="module")
def tr(tiny_reasoner):
    return OpenAI(base_url=tiny_reasoner + "/v1", api_key="unused", timeout=120)


def _ask(tr, question, **kw):
    kw = {"temperature": 0, "max_tokens": 256, **kw}
    return tr.chat.completions.create(model="tiny-reasoner", messages=[{"role": "user", "content": question}], **kw)


@pytest.mark.parametrize("question,answer", QUESTIONS)
def test_greedy_answers_are_correct_and_split_from_the_reasoning(tr, question, answer):
    resp = _ask(tr, question)
    msg = resp.choices[0].message
    assert msg.content == f"The answer is {answer}."
    assert msg.reasoning_content and "<think>" not in msg.reasoning_content
    assert _final_number(msg.reasoning_content) == answer
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0
    assert resp.choices[0].finish_reason == "stop"


def test_streaming_deltas_add_up_to_the_non_streaming_fields(tr):
    question, answer = QUESTIONS[0]
    full = _ask(tr, question).choices[0].message
    reasoning, content, roles = "", "", 0
    for chunk in _ask(tr, question, stream=True):
        for choice in chunk.choices:
            delta = choice.delta
            roles += delta.role is not None
            extra = delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            content += delta.content or ""
    assert roles == 1
    assert (reasoning, content) == (full.reasoning_content, full.content)
    assert str(answer) in content


def test_three_sampled_choices_have_their_indices_and_mostly_correct_answers(tr):
    question, answer = QUESTIONS[1]
    resp = _ask(tr, question, n=3, temperature=0.6, top_p=0.95, seed=7)
    assert sorted(c.index for c in resp.choices) == [0, 1, 2]
    assert all(c.finish_reason == "stop" for c in resp.choices)
    correct = sum(c.message.content == f"The answer is {answer}." for c in resp.choices)
    assert correct >= 2, [c.message.content for c in resp.choices]
    again = _ask(tr, question, n=3, temperature=0.6, top_p=0.95, seed=7)
    assert [c.message.content for c in again.choices] == [c.message.content for c in resp.choices]


def test_logprobs_cover_reasoning_and_answer_tokens(tr):
    resp = _ask(tr, QUESTIONS[2][0], logprobs=True, top_logprobs=2)
    entries = resp.choices[0].logprobs.content
    assert len(entries) == resp.usage.completion_tokens
    for e in entries:
        assert e.logprob <= 0 and len(e.top_logprobs) == 2
        assert e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob
        assert e.token == e.top_logprobs[0].token, "greedy picks the most likely token"
    text = "".join(e.token for e in entries)
    assert "</think>" in text and "The answer is 322." in text.split("</think>")[1]


def test_a_thinking_budget_closes_reasoning_after_exactly_that_many_tokens(tr):
    full = _ask(tr, QUESTIONS[0][0])
    assert full.usage.completion_tokens_details.reasoning_tokens > 5
    for budget in (0, 1, 5):
        resp = _ask(tr, QUESTIONS[0][0], extra_body={"max_reasoning_tokens": budget})
        assert resp.usage.completion_tokens_details.reasoning_tokens == budget
        assert resp.choices[0].message.content, "the model goes on to answer"
        assert resp.choices[0].finish_reason == "stop"
    low = _ask(tr, QUESTIONS[0][0], reasoning_effort="low")
    assert low.choices[0].message.content == "The answer is 936.", "low effort = 512 tokens: no cut"


def test_include_reasoning_false_hides_it_but_counts_it(tr):
    resp = _ask(tr, QUESTIONS[0][0], extra_body={"include_reasoning": False})
    msg = resp.choices[0].message
    assert msg.reasoning_content is None if hasattr(msg, "reasoning_content") else True
    assert msg.content == "The answer is 936."
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0
    streamed = ""
    for chunk in _ask(tr, QUESTIONS[0][0], stream=True, extra_body={"include_reasoning": False}):
        for choice in chunk.choices:
            assert not (choice.delta.model_extra or {}).get("reasoning_content")
            streamed += choice.delta.content or ""
    assert streamed == "The answer is 936."


def test_structured_output_constrains_only_the_answer(tr):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    resp = _ask(
        tr,
        QUESTIONS[0][0],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
    )
    msg = resp.choices[0].message
    # The reasoning is the model's own free chain of thought, still correct ...
    assert _final_number(msg.reasoning_content) == 936
    # ... and the answer after </think> is forced into the schema (this model never saw
    # JSON, so only the shape is its grammar's doing).
    doc = json.loads(msg.content)
    assert list(doc) == ["answer"] and isinstance(doc["answer"], int)


def test_completions_count_reasoning_and_can_leave_it_out(tr):
    # The raw R1-distill prompt, as the chat template renders it: it opens the think block.
    prompt = "<｜begin▁of▁sentence｜><｜User｜>What is 347 + 589?<｜Assistant｜><think>\n"
    full = tr.completions.create(model="tiny-reasoner", prompt=prompt, max_tokens=100, temperature=0)
    text = full.choices[0].text
    assert "</think>" in text and text.endswith("The answer is 936.")
    closed_at = full.usage.completion_tokens_details.reasoning_tokens
    assert 0 < closed_at < full.usage.completion_tokens
    hidden = tr.completions.create(
        model="tiny-reasoner", prompt=prompt, max_tokens=100, temperature=0, extra_body={"include_reasoning": False}
    )
    assert hidden.choices[0].text == "The answer is 936."
    assert hidden.usage.completion_tokens_details.reasoning_tokens == closed_at
    streamed = "".join(
        c.choices[0].text
        for c in tr.completions.create(
            model="tiny-reasoner", prompt=prompt, max_tokens=100, temperature=0, stream=True,
            extra_body={"include_reasoning": False},
        )
        if c.choices
    )  # fmt: skip
    assert streamed == "The answer is 936."


def test_legacy_completion_logprobs_and_echo_scoring_through_the_sdk(tr):
    """The SDK's `Logprobs` type on /v1/completions; echo + max_tokens 0 scores a
    sampled sequence with the same logprobs it was sampled with."""
    prompt = "<｜begin▁of▁sentence｜><｜User｜>What is 12 + 30?<｜Assistant｜><think>\n"
    out = tr.completions.create(model="tiny-reasoner", prompt=prompt, max_tokens=10, temperature=1.0, seed=3,
                                logprobs=2, extra_body={"return_token_ids": True})
    choice = out.choices[0]
    lp = choice.logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset) == 10
    assert all(t <= 0 for t in lp.token_logprobs)
    assert "".join(lp.tokens) == choice.text
    ids = out.model_extra["prompt_token_ids"] + choice.model_extra["token_ids"]
    scored = tr.completions.create(model="tiny-reasoner", prompt=ids, max_tokens=0, echo=True, logprobs=0).choices[0]
    assert scored.logprobs.token_logprobs[0] is None
    assert scored.logprobs.token_logprobs[-10:] == lp.token_logprobs
    assert scored.text.endswith(choice.text)
