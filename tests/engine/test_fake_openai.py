"""The fake OpenAI-compatible server, exercised over real HTTP on loopback."""

from __future__ import annotations

import base64
import json
import math
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from memskill.testing import FAULTS, FakeOpenAI, Fault, RecordedRequest, ScriptEntry, schema_instance

SEGMENTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "segments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"start": {"type": "integer", "minimum": 1}, "topic": {"type": "string"}},
                "required": ["start", "topic"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["segments"],
    "additionalProperties": False,
}
NAMES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "enum": ["git-workflow", "other"]}},
    "required": ["name"],
}
SCHEMAS = {"memskill_segments": SEGMENTS_SCHEMA, "memskill_names": NAMES_SCHEMA}
HTTP = httpx.Client(timeout=5)
"""One client for the module: building a client per request costs more than the request."""


@pytest.fixture(scope="module", autouse=True)
def close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(schemas=SCHEMAS) as server:
        yield server


def chat_body(
    system: str = "You are terse.",
    user: str = "hello",
    *,
    schema_name: str | None = None,
    schema: dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    model: str = "some-model",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    if schema_name is not None:
        json_schema = {"name": schema_name, "schema": schema or {"type": "object"}, "strict": True}
        body["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    if response_format is not None:
        body["response_format"] = response_format
    return body


def chat(
    fake: FakeOpenAI, body: dict[str, Any], *, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> httpx.Response:
    return HTTP.post(f"{fake.base_url}/chat/completions", json=body, timeout=timeout, headers=headers)


def content_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    text = response.json()["choices"][0]["message"]["content"]
    assert isinstance(text, str)
    return text


def embed(fake: FakeOpenAI, texts: str | list[str], **extra: Any) -> httpx.Response:
    return HTTP.post(f"{fake.base_url}/embeddings", json={"model": "emb", "input": texts, **extra}, timeout=5)


def vectors(response: httpx.Response) -> list[list[float]]:
    assert response.status_code == 200, response.text
    return [item["embedding"] for item in response.json()["data"]]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def assert_error_body(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error)
    assert error["message"]
    return dict(error)


# ---------------------------------------------------------------------------------------------------------
# Reply shape, usage, auth, routing


def test_chat_reply_has_the_openai_shape_and_counts_tokens(fake: FakeOpenAI) -> None:
    body = chat_body(system="abcd" * 10, user="xyz", model="gpt-test")
    reply = chat(fake, body).json()

    assert reply["object"] == "chat.completion"
    assert reply["model"] == "gpt-test"
    assert isinstance(reply["id"], str) and isinstance(reply["created"], int)
    (choice,) = reply["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": "{}"}
    assert reply["usage"] == {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12}
    assert fake.usage == {"prompt_tokens": 11, "completion_tokens": 1}

    chat(fake, chat_body(user="")).json()
    assert fake.usage == {"prompt_tokens": 15, "completion_tokens": 2}
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"


def test_requests_are_recorded_with_lower_case_headers(fake: FakeOpenAI) -> None:
    chat(fake, chat_body(), headers={"X-Trace": "abc"})
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions" and request.method == "POST"
    assert request.headers["x-trace"] == "abc"
    assert request.body["model"] == "some-model"
    assert fake.chat_requests() == [request]


def test_api_key_is_required_when_configured() -> None:
    with FakeOpenAI(api_key="sk-test") as fake:
        assert_error_body(chat(fake, chat_body()), 401)
        wrong = {"Authorization": "Bearer sk-other"}
        assert_error_body(chat(fake, chat_body(), headers=wrong), 401)
        assert_error_body(HTTP.get(f"{fake.base_url}/models", headers=wrong), 401)
        right = {"Authorization": "Bearer sk-test"}
        assert content_of(chat(fake, chat_body(), headers=right)) == "{}"
        assert len(fake.requests) == 4


def test_unknown_paths_bad_bodies_and_missing_models_are_rejected(fake: FakeOpenAI) -> None:
    error = assert_error_body(HTTP.post(f"{fake.base_url}/completions", json={"model": "m"}), 404)
    assert "/v1/completions" in error["message"]
    assert_error_body(HTTP.get(f"{fake.base_url}/chat/completions"), 404)
    assert_error_body(HTTP.get(f"http://127.0.0.1:{fake.port}/"), 404)

    url = f"{fake.base_url}/chat/completions"
    assert_error_body(HTTP.post(url, content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_error_body(HTTP.post(url, json=[1, 2]), 400)
    assert_error_body(HTTP.post(url, json={"messages": [{"role": "user", "content": "hi"}]}), 400)
    assert_error_body(HTTP.post(url, json={"model": "m", "messages": []}), 400)
    assert_error_body(HTTP.post(f"{fake.base_url}/embeddings", json={"input": "hi"}), 400)
    assert_error_body(embed(fake, []), 400)
    assert_error_body(embed(fake, [1, 2]), 400)  # type: ignore[list-item]

    assert content_of(chat(fake, chat_body())) == "{}"  # still serving


def test_chunked_bodies_and_content_parts_are_read(fake: FakeOpenAI) -> None:
    parts = [{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {"url": "x"}}]
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": parts}]}).encode()
    chunks = iter([body[:10], body[10:]])  # an iterator body is sent with chunked transfer encoding
    response = HTTP.post(f"{fake.base_url}/chat/completions", content=chunks)
    assert content_of(response) == "{}"
    assert fake.requests[-1].headers["transfer-encoding"] == "chunked"
    assert response.json()["usage"]["prompt_tokens"] == 1


def test_models_lists_the_models_seen(fake: FakeOpenAI) -> None:
    chat(fake, chat_body(model="alpha"))
    embed(fake, "text")
    reply = HTTP.get(f"{fake.base_url}/models").json()
    assert reply["object"] == "list"
    assert [model["id"] for model in reply["data"]] == ["fake-model", "alpha", "emb"]


# ---------------------------------------------------------------------------------------------------------
# Tasks and replies


def test_task_comes_from_the_json_schema_name(fake: FakeOpenAI) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    reply = content_of(chat(fake, chat_body("Mentions memskill_names.", schema_name="count", schema=schema)))
    assert json.loads(reply) == {"n": 0}
    assert fake.requests[-1].task == "count"
    assert [r.task for r in fake.chat_requests(task="count")] == ["count"]


def test_task_comes_from_a_registry_name_in_the_system_message(fake: FakeOpenAI) -> None:
    json_mode = {"type": "json_object"}
    system = "Answer with JSON matching `memskill_segments`."
    reply = json.loads(content_of(chat(fake, chat_body(system, response_format=json_mode))))
    assert reply == {"segments": [{"start": 1, "topic": "text"}]}

    names = json.loads(content_of(chat(fake, chat_body("Use the memskill_names schema."))))
    assert names == {"name": "git-workflow"}

    # Only the system message counts, not the user's.
    assert content_of(chat(fake, chat_body("Plain.", user="memskill_names"))) == "{}"
    assert [r.task for r in fake.chat_requests()] == ["memskill_segments", "memskill_names", None]
    assert len(fake.chat_requests(task="memskill_names")) == 1


def test_scripted_lists_are_served_in_order_and_the_last_repeats() -> None:
    script: dict[str, ScriptEntry] = {"memskill_names": ["first", {"name": "其他"}, ["x"]]}
    with FakeOpenAI(script=script, schemas=SCHEMAS) as fake:
        body = chat_body("memskill_names")
        replies = [content_of(chat(fake, body)) for _ in range(4)]
        assert replies == ["first", '{"name": "其他"}', '["x"]', '["x"]']
        # Another task still gets its schema-shaped reply, and so does an empty list.
        assert json.loads(content_of(chat(fake, chat_body("memskill_segments"))))["segments"]
        fake.script = {"memskill_names": []}
        assert json.loads(content_of(chat(fake, body))) == {"name": "git-workflow"}
        with pytest.raises(TypeError, match="memskill_names"):
            fake.script = {"memskill_names": 42}  # type: ignore[dict-item]
        with pytest.raises(TypeError, match="memskill_names"):
            fake.script = {"memskill_names": "one string is not a list of replies"}


def test_scripted_callables_and_the_wildcard() -> None:
    seen: list[RecordedRequest] = []

    def echo(request: RecordedRequest) -> dict[str, Any]:
        seen.append(request)
        return {"echo": request.body["messages"][-1]["content"]}

    with FakeOpenAI(script={"memskill_names": echo, "*": ["anything"]}, schemas=SCHEMAS) as fake:
        assert json.loads(content_of(chat(fake, chat_body("memskill_names", user="hi there")))) == {
            "echo": "hi there"
        }
        assert seen[0].task == "memskill_names"
        assert content_of(chat(fake, chat_body("no task here"))) == "anything"
        assert content_of(chat(fake, chat_body("memskill_segments"))) == "anything"

        fake.script = {"*": lambda request: None}  # None: fall back to the schema-shaped reply
        assert json.loads(content_of(chat(fake, chat_body("memskill_names")))) == {"name": "git-workflow"}


def test_a_scripted_fault_applies_to_one_request_only() -> None:
    script: dict[str, ScriptEntry] = {"*": [Fault("http_500"), Fault("not_json"), "ok"]}
    with FakeOpenAI(script=script) as fake:
        assert_error_body(chat(fake, chat_body()), 500)
        assert "{" not in content_of(chat(fake, chat_body()))
        assert content_of(chat(fake, chat_body())) == "ok"
        assert content_of(chat(fake, chat_body())) == "ok"


def test_a_failing_script_answers_500_and_the_server_keeps_serving() -> None:
    def broken(request: RecordedRequest) -> str:
        raise RuntimeError("script bug")

    with FakeOpenAI(script={"*": broken}) as fake:
        error = assert_error_body(chat(fake, chat_body()), 500)
        assert "script bug" in error["message"]
        assert "RuntimeError" in fake.errors[0]
        fake.script = {}
        assert content_of(chat(fake, chat_body())) == "{}"


# ---------------------------------------------------------------------------------------------------------
# schema_instance


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["tool", "note"]
    text: str = Field(min_length=12, max_length=40)
    weight: float = Field(ge=0.5)
    count: int = Field(gt=2)
    done: bool


class Segment(BaseModel):
    title: str
    steps: list[Step] = Field(min_length=2)
    parent: Step | None
    tag: Literal["a", "b"] | int
    tags: list[str] = []
    note: str | None = None


class Plan(BaseModel):
    segments: list[Segment] = Field(min_length=1)
    extra: dict[str, int] = {}


def test_schema_instance_of_a_pydantic_schema_validates() -> None:
    schema = Plan.model_json_schema()
    assert "$defs" in schema
    instance = schema_instance(schema)
    plan = Plan.model_validate(instance)
    assert len(plan.segments) == 1 and len(plan.segments[0].steps) == 2
    assert plan.segments[0].steps[0].kind == "tool"
    assert len(plan.segments[0].steps[0].text) >= 12
    # It is plain JSON.
    assert json.loads(json.dumps(instance)) == instance


def test_schema_instance_of_hand_written_schemas() -> None:
    schema = {
        "definitions": {"Item": {"type": ["string", "null"], "minLength": 3}},
        "type": "object",
        "properties": {
            "item": {"$ref": "#/definitions/Item"},
            "choice": {"oneOf": [{"type": "integer", "enum": [7, 8]}, {"type": "string"}]},
            "level": {"type": "integer", "minimum": 2, "maximum": 5},
            "ratio": {"type": "number"},
            "when": {"type": "string", "format": "date-time"},
            "pair": {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
            "empty": {"type": "array", "items": {"type": "string"}},
            "fixed": {"const": "v1"},
        },
        "required": ["item", "free"],
        "additionalProperties": {"type": "integer"},
    }
    assert schema_instance(schema) == {
        "item": "text",
        "choice": 7,
        "level": 2,
        "ratio": 0,
        "when": "2024-01-01T00:00:00Z",
        "pair": [False, False],
        "empty": [],
        "fixed": "v1",
        "free": 0,
    }
    closed = {"type": "object", "properties": {"a": {"type": "null"}}, "additionalProperties": False}
    assert schema_instance(closed) == {"a": None}
    with pytest.raises(ValueError, match="does not resolve"):
        schema_instance({"$ref": "#/$defs/Missing"})


# ---------------------------------------------------------------------------------------------------------
# Faults


def test_http_faults(fake: FakeOpenAI) -> None:
    fake.fault = "http_500"
    error = assert_error_body(chat(fake, chat_body()), 500)
    assert error["type"] == "server_error"

    fake.fault = "http_429"
    response = chat(fake, chat_body())
    assert_error_body(response, 429)
    assert response.headers["retry-after"] == "0"

    fake.fault = None
    assert content_of(chat(fake, chat_body())) == "{}"
    assert fake.usage["completion_tokens"] == 1  # failed requests use no tokens


def test_content_faults(fake: FakeOpenAI) -> None:
    body = chat_body("memskill_segments")
    normal = json.loads(content_of(chat(fake, body)))

    fake.fault = "not_json"
    prose = content_of(chat(fake, body))
    assert prose and "{" not in prose and "[" not in prose
    with pytest.raises(json.JSONDecodeError):
        json.loads(prose)

    fake.fault = "fenced"
    fenced = content_of(chat(fake, body))
    assert not fenced.startswith("```")
    inner = fenced.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(inner) == normal

    fake.fault = "empty"
    assert content_of(chat(fake, body)) == ""


def test_response_format_rejections(fake: FakeOpenAI) -> None:
    with_schema = chat_body(schema_name="memskill_names", schema=NAMES_SCHEMA)
    json_mode = chat_body("memskill_names", response_format={"type": "json_object"})
    plain = chat_body("memskill_names")

    fake.fault = "reject_json_schema"
    error = assert_error_body(chat(fake, with_schema), 400)
    assert "json_schema" in error["message"] and "response_format" in error["message"]
    assert json.loads(content_of(chat(fake, json_mode))) == {"name": "git-workflow"}

    fake.fault = "reject_response_format"
    assert "response_format" in assert_error_body(chat(fake, with_schema), 400)["message"]
    assert_error_body(chat(fake, json_mode), 400)
    assert json.loads(content_of(chat(fake, plain))) == {"name": "git-workflow"}


def test_timeout_fault_outlasts_a_short_client_timeout() -> None:
    with FakeOpenAI(delay_s=0.3) as fake:
        fake.fault = "timeout"
        with pytest.raises(httpx.ReadTimeout):
            chat(fake, chat_body(), timeout=0.05)
        # A patient client gets the normal answer.
        assert content_of(chat(fake, chat_body())) == "{}"
        with pytest.raises(httpx.ReadTimeout):
            HTTP.post(f"{fake.base_url}/embeddings", json={"model": "e", "input": "x"}, timeout=0.05)


def test_drop_closes_the_connection_without_a_reply(fake: FakeOpenAI) -> None:
    fake.fault = "drop"
    with pytest.raises(httpx.RemoteProtocolError):
        chat(fake, chat_body())
    with pytest.raises(httpx.RemoteProtocolError):
        embed(fake, "text")
    fake.fault = None
    assert content_of(chat(fake, chat_body())) == "{}"


def test_fail_first_limits_the_fault_to_the_next_chat_requests(fake: FakeOpenAI) -> None:
    fake.fault = "http_500"
    fake.fail_first = 2
    vectors(embed(fake, "embeddings are not counted"))
    statuses = [chat(fake, chat_body()).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    assert fake.fault is None and fake.fail_first == 0


def test_fail_first_skips_requests_the_fault_does_not_apply_to(fake: FakeOpenAI) -> None:
    fake.fault = "reject_json_schema"
    fake.fail_first = 1
    assert chat(fake, chat_body()).status_code == 200
    with_schema = chat_body(schema_name="memskill_names", schema=NAMES_SCHEMA)
    assert chat(fake, with_schema).status_code == 400
    assert chat(fake, with_schema).status_code == 200


def test_a_fault_does_not_consume_the_script() -> None:
    with FakeOpenAI(script={"*": ["one", "two"]}) as fake:
        fake.fault = "http_429"
        fake.fail_first = 1
        assert chat(fake, chat_body()).status_code == 429
        assert content_of(chat(fake, chat_body())) == "one"
        fake.fault = "fenced"
        assert "```json\ntwo\n```" in content_of(chat(fake, chat_body()))


def test_embedding_requests_get_server_faults_only(fake: FakeOpenAI) -> None:
    fake.fault = "http_500"
    assert_error_body(embed(fake, "text"), 500)
    fake.fault = "http_429"
    assert_error_body(embed(fake, "text"), 429)
    for kind in ("not_json", "empty", "fenced", "reject_response_format"):
        fake.fault = kind
        assert len(vectors(embed(fake, "text"))) == 1


def test_unknown_faults_are_refused(fake: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake.fault = "http_503"
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("slow")
    assert fake.fault is None
    assert {"http_500", "drop", "timeout"} <= FAULTS


# ---------------------------------------------------------------------------------------------------------
# Lifecycle, embeddings, concurrency


def test_stop_refuses_connections_and_start_serves_on_the_same_port() -> None:
    fake = FakeOpenAI()
    try:
        url = fake.base_url
        assert content_of(chat(fake, chat_body())) == "{}"
        fake.stop()
        assert not fake.running
        with pytest.raises(httpx.ConnectError):
            chat(fake, chat_body())
        fake.stop()  # twice is fine
        fake.start()
        assert fake.base_url == url
        assert content_of(chat(fake, chat_body())) == "{}"
    finally:
        fake.stop()


def test_stop_cuts_a_request_that_is_still_waiting() -> None:
    with FakeOpenAI(delay_s=5.0) as fake:
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(chat(fake, chat_body(), timeout=10).status_code)
            except httpx.HTTPError as error:
                outcome.append(error)

        caller = threading.Thread(target=call)
        caller.start()
        while not fake.requests:
            threading.Event().wait(0.01)
        fake.stop()
        caller.join(timeout=10)
        assert not caller.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)


def test_embeddings_are_deterministic_normalised_and_similar_for_shared_words(fake: FakeOpenAI) -> None:
    texts = [
        "the user prefers dark mode in the editor",
        "dark mode in the editor please",
        "quarterly tax filing deadline",
    ]
    reply = embed(fake, texts).json()
    assert reply["object"] == "list" and reply["model"] == "emb"
    assert [item["index"] for item in reply["data"]] == [0, 1, 2]
    assert reply["usage"]["prompt_tokens"] == reply["usage"]["total_tokens"] > 0
    first, second, third = vectors(embed(fake, texts))
    assert all(len(vector) == 64 for vector in (first, second, third))
    assert all(math.isclose(dot(vector, vector), 1.0) for vector in (first, second, third))
    assert dot(first, second) > dot(first, third)
    assert dot(first, second) > dot(second, third)
    assert vectors(embed(fake, texts[0])) == [first]
    with FakeOpenAI(embedding_dim=16) as other:
        (small,) = vectors(embed(other, texts[0]))
        assert len(small) == 16 and math.isclose(dot(small, small), 1.0)
        assert vectors(embed(other, texts[0])) == [small]


def test_embeddings_honour_dimensions_and_base64(fake: FakeOpenAI) -> None:
    (plain,) = vectors(embed(fake, "中文 text", dimensions=8))
    (encoded,) = vectors(embed(fake, "中文 text", dimensions=8, encoding_format="base64"))
    decoded = struct.unpack("<8f", base64.b64decode(encoded))  # type: ignore[arg-type]
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(plain, decoded, strict=True))


def test_concurrent_requests_from_several_threads() -> None:
    with FakeOpenAI(script={"*": lambda request: request.body["messages"][-1]["content"]}) as fake:
        results: dict[str, str] = {}
        failures: list[BaseException] = []

        def worker(number: int) -> None:
            try:
                with httpx.Client(timeout=10) as client:
                    for round_ in range(5):
                        text = f"worker {number} round {round_}"
                        response = client.post(f"{fake.base_url}/chat/completions", json=chat_body(user=text))
                        results[text] = content_of(response)
                        vectors(
                            client.post(f"{fake.base_url}/embeddings", json={"model": "e", "input": text})
                        )
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert len(results) == 40 and all(key == value for key, value in results.items())
        assert len(fake.requests) == 80 and len(fake.chat_requests()) == 40


def test_reset_forgets_requests_and_usage(fake: FakeOpenAI) -> None:
    chat(fake, chat_body())
    fake.fault = "http_500"
    fake.reset()
    assert fake.requests == [] and fake.usage == {"prompt_tokens": 0, "completion_tokens": 0}
    assert fake.fault is None


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "inherited",
    [None, _ignore_sigint],
    ids=["foreground", "started-in-background"],  # a shell without job control ignores SIGINT in `cmd &`
)
def test_module_runs_as_a_foreground_server(inherited: Callable[[], None] | None) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "memskill.testing", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=inherited,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        response = HTTP.post(
            f"{base_url}/chat/completions", json=chat_body(), headers={"Authorization": "Bearer k"}, timeout=5
        )
        assert content_of(response) == "{}"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
