"""The OpenAI-compatible chat adapter, JSON extraction and the prompts' schemas, against the fake server."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from memskill.cli import main
from memskill.config import Endpoint
from memskill.errors import UpstreamError
from memskill.llm import extract_json
from memskill.prompts import facts, feedback, schemas, segmentation, skill_update, task_record, tool_lessons
from memskill.providers import chat as chat_module
from memskill.providers.chat import OpenAIChat
from memskill.testing import FakeOpenAI

PROMPTS = [m.PROMPT for m in (segmentation, task_record, facts, tool_lessons, skill_update, feedback)]
HELLO = [{"role": "user", "content": "hello"}]
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-right") as server:
        yield server


def adapter(fake: FakeOpenAI, key: str = "sk-right", timeout_s: float = 5.0) -> OpenAIChat:
    return OpenAIChat(Endpoint(fake.base_url, "fake-model", key, timeout_s), backoff_s=(0.01, 0.02))


def test_a_reply_carries_content_usage_and_format(fake: FakeOpenAI) -> None:
    fake.script = {"*": [{"a": "x"}]}
    reply = adapter(fake).complete(HELLO, "t", SCHEMA)
    assert extract_json(reply.content) == {"a": "x"}
    assert reply.format == "json_schema"
    assert reply.usage.calls == 1 and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


def test_a_wrong_key_fails_at_once_with_a_hint(fake: FakeOpenAI) -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter(fake, key="sk-wrong").complete(HELLO, "t", SCHEMA)
    assert caught.value.status == 401 and not caught.value.retryable
    assert "MEMSKILL_LLM_API_KEY" in str(caught.value)
    assert len(fake.requests) == 1


def test_a_wrong_path_names_the_base_url_setting(fake: FakeOpenAI) -> None:
    wrong = OpenAIChat(Endpoint(fake.base_url + "/extra", "fake-model", "sk-right"), backoff_s=(0.01,))
    with pytest.raises(UpstreamError, match="MEMSKILL_LLM_BASE_URL"):
        wrong.complete(HELLO, "t", SCHEMA)


def test_rate_limits_are_retried(fake: FakeOpenAI) -> None:
    fake.script = {"*": [{"a": "x"}]}
    fake.fault = "http_429"
    fake.fail_first = 2
    reply = adapter(fake).complete(HELLO, "t", SCHEMA)
    assert extract_json(reply.content) == {"a": "x"}
    assert len(fake.requests) == 3


def test_a_timeout_is_an_upstream_error(fake: FakeOpenAI) -> None:
    fake.fault = "timeout"
    fake.delay_s = 1.0
    chat = adapter(fake, timeout_s=0.2)
    chat.attempts = 1
    with pytest.raises(UpstreamError, match="no answer within"):
        chat.complete(HELLO, "t", SCHEMA)


def test_the_breaker_stops_calling_a_failing_endpoint(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.fault = "http_500"
    chat = adapter(fake)
    for _ in range(chat_module.BREAKER_FAILURES):
        with pytest.raises(UpstreamError):
            chat.complete(HELLO, "t", SCHEMA)
    sent = len(fake.requests)
    assert sent == chat_module.BREAKER_FAILURES * chat.attempts
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="not calling it for"):
        chat.complete(HELLO, "t", SCHEMA)
    assert len(fake.requests) == sent  # no request went out
    assert time.monotonic() - started < 1.0
    # after the pause the endpoint is tried again
    monkeypatch.setattr(chat, "_open_until", 0.0)
    fake.fault = None
    fake.script = {"*": [{"a": "y"}]}
    assert extract_json(chat.complete(HELLO, "t", SCHEMA).content) == {"a": "y"}


def test_a_refused_response_format_is_remembered(fake: FakeOpenAI) -> None:
    fake.fault = "reject_response_format"
    fake.script = {"*": [{"a": "x"}]}
    chat = adapter(fake)
    assert chat.complete(HELLO, "t", SCHEMA).format == "text"
    assert chat.complete(HELLO, "t", SCHEMA).format == "text"
    kinds = [(r.body or {}).get("response_format", {}).get("type") for r in fake.requests]
    assert kinds == ["json_schema", "json_object", None, None]


def test_a_model_that_refuses_a_temperature_is_asked_without_one(fake: FakeOpenAI) -> None:
    fake.fault = "reject_temperature"
    fake.script = {"*": [{"a": "x"}]}
    chat = adapter(fake)
    assert extract_json(chat.complete(HELLO, "t", SCHEMA).content) == {"a": "x"}
    assert extract_json(chat.complete(HELLO, "t", SCHEMA).content) == {"a": "x"}
    sent = ["temperature" in (r.body or {}) for r in fake.requests]
    assert sent == [True, False, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('<think>the user wants {"a": 0}</think>\n{"a": 1}', {"a": 1}),
        ('Here you go:\n```json\n{"a": 1}\n```\nAnything else?', {"a": 1}),
        ('Sure. {"a": 1} is the answer.', {"a": 1}),
        ('Result: [1, 2] and then {"a": {"b": [1]}}', {"a": {"b": [1]}}),
    ],
)
def test_json_is_cut_out_of_chatty_answers(text: str, expected: object) -> None:
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "<think>{}</think>", "{broken"])
def test_answers_without_json_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        extract_json(text)


@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: p.name)
def test_every_prompt_is_bilingual_strict_and_its_example_is_valid(prompt: object) -> None:
    from memskill.prompts import Prompt

    assert isinstance(prompt, Prompt)
    assert set(prompt.instructions) == {"zh", "en"}
    for language in ("zh", "en"):
        assert prompt.name in prompt.system(language)
    response: type[BaseModel] = prompt.response
    response.model_validate(prompt.example)

    def check(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node["additionalProperties"] is False
                assert sorted(node["required"]) == sorted(node["properties"])
            for value in node.values():
                check(value)
        elif isinstance(node, list):
            for value in node:
                check(value)

    schema = prompt.schema()
    check(schema)
    assert sorted(schema["properties"]) == sorted(response.model_fields)  # no field lost, e.g. `title`
    for name, definition in schema.get("$defs", {}).items():
        assert "properties" in definition, name
    assert schemas()[prompt.name] == schema


def test_schemas_sent_keep_to_the_subset_strict_modes_accept() -> None:
    refused = {"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "format"}

    def keywords(node: object) -> set[str]:
        if isinstance(node, dict):
            own = {k for k in node if k in refused and not isinstance(node[k], dict)}
            return own.union(*(keywords(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(keywords(v) for v in node))
        return set()

    for prompt in PROMPTS:
        assert keywords(prompt.schema()) == set(), prompt.name
    # the bounds still hold when a reply is validated
    with pytest.raises(ValueError):
        segmentation.Segments.model_validate({"segments": []})


def test_demo_says_it_ran_with_the_model(tmp_path: Path) -> None:
    with FakeOpenAI(schemas=schemas()) as server:
        out, err = io.StringIO(), io.StringIO()
        environment = {
            "MEMSKILL_LLM_BASE_URL": server.base_url,
            "MEMSKILL_LLM_MODEL": "fake-model",
            "MEMSKILL_EMBEDDER": "hashing",
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in environment.items():
                patch.setenv(name, value)
            assert main(["demo", "--data-dir", str(tmp_path)], out, err) == 0
        served = len(server.chat_requests())
    text = out.getvalue()
    assert f"LLM mode: fake-model at {server.base_url}" in text
    assert "model use per stage:" in text and "segment:" in text
    assert served > 0
    assert "tokens: " in text and " calls" in text
    assert "search_memory(user_id='demo-traveller-fast'" in text
