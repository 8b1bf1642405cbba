"""ponder through the official `openai` SDK, on a real small model (SmolLM2-135M Q4_1).

The questions are ones this model answers correctly through llama.cpp on the same
file, at temperature 0.
"""

import concurrent.futures

import pytest

QUESTIONS = [
    ("What is the capital of Japan?", "tokyo"),
    ("What is 2 + 2?", "4"),
    ("How many days are in a week?", "7"),
    ("What is the opposite of hot?", "cold"),
]


def _ask(client, question, **kw):
    kw = {"temperature": 0, "max_tokens": 48, **kw}
    return client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": question}],
        **kw,
    )


def _ask_streaming(client, question):
    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": question}],
        temperature=0,
        max_tokens=48,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, roles = [], None, None, []
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                text.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    return "".join(text), finish, usage, roles


@pytest.mark.parametrize("question,keyword", QUESTIONS)
def test_non_streaming_answer_contains_the_keyword(client, question, keyword):
    resp = _ask(client, question)
    msg = resp.choices[0].message
    assert keyword in msg.content.lower(), msg.content
    assert resp.choices[0].finish_reason in ("stop", "length")
    # SmolLM2 is not a reasoning model: no reasoning section at all.
    assert getattr(msg, "reasoning_content", None) is None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


@pytest.mark.parametrize("question,keyword", QUESTIONS)
def test_streaming_answer_equals_the_non_streaming_one(client, question, keyword):
    text, finish, usage, roles = _ask_streaming(client, question)
    assert keyword in text.lower(), text
    assert roles == ["assistant"]
    assert finish in ("stop", "length")
    assert usage is not None and usage.completion_tokens > 0
    assert text == _ask(client, question).choices[0].message.content


def test_eight_concurrent_streams_all_complete_with_their_answers(client):
    questions = QUESTIONS * 2
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: _ask_streaming(client, q[0]), questions))
    for (question, keyword), (text, finish, _, _) in zip(questions, results):
        assert finish in ("stop", "length"), question
        assert keyword in text.lower(), (question, text)


def test_models_lists_the_served_name(client):
    assert [m.id for m in client.models.list().data] == ["smollm2"]


def test_models_retrieve_returns_the_card_or_a_404(client):
    import openai

    assert client.models.retrieve("smollm2").id == "smollm2"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("org/not-served")
    assert e.value.body["code"] == "model_not_found"


def test_unknown_model_is_a_404_model_not_found(client):
    import openai

    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"


def test_bad_temperature_is_a_400_naming_the_field(client):
    import openai

    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "hi"}], temperature=5
        )
    assert e.value.body["param"] == "temperature"


def test_max_tokens_past_the_context_window_is_a_400_naming_the_field(client):
    import openai

    max_model_len = next(m for m in client.models.list().data if m.id == "smollm2").max_model_len
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "hi"}], max_tokens=max_model_len
        )
    assert e.value.body["param"] == "max_tokens"
    assert str(max_model_len) in e.value.body["message"]


def test_min_tokens_past_the_context_window_is_a_400_naming_it(client):
    # Without max_tokens the budget is the rest of the window; vLLM then refuses a
    # min_tokens above it instead of generating until the window is full.
    import openai

    max_model_len = next(m for m in client.models.list().data if m.id == "smollm2").max_model_len
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"min_tokens": max_model_len},
        )
    assert e.value.body["param"] == "min_tokens"
    assert str(max_model_len) in e.value.body["message"]


def test_n_samples_are_returned_with_their_indices(client):
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Name a color."}],
        n=3,
        temperature=0.8,
        seed=7,
        max_tokens=8,
    )
    assert sorted(c.index for c in resp.choices) == [0, 1, 2]
    for c in resp.choices:
        assert c.message.content is not None
        assert c.finish_reason in ("stop", "length")
    # usage counts the tokens of all three samples, each at most max_tokens.
    assert 3 <= resp.usage.completion_tokens <= 3 * 8


def test_seed_makes_a_sampled_request_reproducible(client):
    kw = dict(temperature=1.0, seed=1234, max_tokens=24)
    a = _ask(client, "Tell me a fun fact.", **kw).choices[0].message.content
    b = _ask(client, "Tell me a fun fact.", **kw).choices[0].message.content
    assert a == b


def test_completions_endpoint_continues_a_prompt(client):
    resp = client.completions.create(model="smollm2", prompt="The capital of Japan is", max_tokens=8, temperature=0)
    assert resp.choices[0].text
    assert resp.usage.completion_tokens <= 8


def _completion_ids(client, prompt, **extra):
    resp = client.completions.create(
        model="smollm2",
        prompt=prompt,
        max_tokens=16,
        temperature=0,
        extra_body={"return_token_ids": True, "ignore_eos": True, **extra},
    )
    return resp.choices[0].text, resp.choices[0].token_ids, resp.usage


def test_a_thinking_budget_closes_the_think_block_after_exactly_that_many_tokens(client):
    # SmolLM2 has no think tokens: the tags are recognized by their encodings (text
    # mode). The prompt opens a think block, so the output starts in reasoning.
    prompt = "Question: what is 12 + 30?\n<think>\n"
    free_text, free_ids, _ = _completion_ids(client, prompt)
    text, ids, _ = _completion_ids(client, prompt, max_reasoning_tokens=5)
    assert "</think>" not in free_text
    assert ids[:5] == free_ids[:5], "the budget must not change the reasoning it allows"
    assert "</think>" in text and ids[5:] != free_ids[5:]
    head, _, _ = text.partition("</think>")
    assert len(head) > 0
    zero_text, _, _ = _completion_ids(client, prompt, thinking_token_budget=0)
    assert zero_text.startswith("</think>")


def test_a_chat_budget_with_reasoning_effort_is_accepted_and_validated(client):
    import openai

    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        temperature=0,
        max_tokens=24,
        extra_body={"reasoning_effort": "low"},
    )
    assert "4" in resp.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"reasoning_effort": "extreme"},
        )
    assert e.value.body["param"] == "reasoning_effort"


def test_json_object_response_format_returns_a_json_object(client):
    import json

    resp = client.chat.completions.create(
        model="smollm2",
        # An open-ended "Describe Japan's capital as JSON." made the 135M model's greedy
        # output loop ({"JAPANESE":{"capital":{...) under tiny numeric changes (an f16
        # KV cache, another matmul summation order); naming the keys keeps it stable.
        messages=[{"role": "user", "content": "Describe Japan's capital as JSON with the keys name and country."}],
        temperature=0,
        max_tokens=64,
        response_format={"type": "json_object"},
    )
    assert resp.choices[0].finish_reason == "stop"
    answer = json.loads(resp.choices[0].message.content)
    assert isinstance(answer, dict) and "name" in answer, answer


def test_json_schema_response_format_holds_while_streaming(client):
    import json

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is the capital of Japan and its population?"}],
        temperature=0,
        max_tokens=64,
        stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    doc = json.loads(text)
    assert set(doc) == {"city", "population"}
    assert isinstance(doc["city"], str) and isinstance(doc["population"], int)


def test_a_bad_response_format_is_a_400_naming_it(client):
    import openai

    for fmt in (
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}},
        {"type": "yaml"},
        {"type": "json_schema"},
    ):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(
                model="smollm2", messages=[{"role": "user", "content": "hi"}], response_format=fmt
            )
        assert e.value.body["param"] == "response_format"
    # A bad regex keeps the detail that follows the parser's "regex parse error:" line.
    schema = {"type": "string", "pattern": "[unclosed"}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    assert "unclosed character class" in e.value.body["message"]
