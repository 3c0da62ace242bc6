"""A fake OpenAI-compatible HTTP server, for testing code that calls an LLM or embedding endpoint.

`FakeOpenAI` serves `POST /v1/chat/completions`, `POST /v1/embeddings` and `GET /v1/models` on
127.0.0.1 from a daemon thread, so the real HTTP client code runs against loopback with no network and
no model. Replies are deterministic: scripted per task, or else a minimal instance of the JSON schema
the request asks for. Failures of real endpoints (errors, rate limits, prose instead of JSON, timeouts,
dropped connections, endpoints that refuse `response_format`) are switched on with `fault`.

    from memskill.config import Endpoint, Settings
    from memskill.testing import FakeOpenAI, Fault

    with FakeOpenAI(script={"memskill_segments": [{"segments": []}, Fault("not_json")]}) as fake:
        settings = Settings(llm=Endpoint(base_url=fake.base_url, model="fake-model"))
        ...                                  # code under test calls the endpoint
        fake.fault = "http_500"              # every chat request now fails with a 500 ...
        fake.fail_first = 2                  # ... but only the next two, then normal again
        assert fake.chat_requests(task="memskill_segments")
        print(fake.usage)                    # {"prompt_tokens": ..., "completion_tokens": ...}

Which *task* a chat request is for: the `response_format.json_schema.name` of the request, else the
first name of the `schemas` registry that occurs in its system message, else None.

Where a chat reply's content comes from, in order:
1. `script[task]` (or `script["*"]`): a list of replies served in order (the last one repeats) or a
   callable `(RecordedRequest) -> reply`. A reply is a `str` (sent verbatim), a `dict` or `list`
   (sent as JSON), a `Fault` (that fault for this request only) or, from a callable, None (go on to 2).
2. `schema_instance(...)` of the request's own JSON schema, else of the registry schema of its task.
3. `"{}"`.

Faults (`FAULTS`): "http_500", "http_429" (with `Retry-After: 0`), "not_json" (prose, no JSON),
"fenced" (the normal reply inside prose and a ```json block), "timeout" (sleep `delay_s`, or 2 s when it
is 0, then answer), "reject_json_schema" (400 for requests with a json_schema response_format),
"reject_response_format" (400 for any request with a response_format), "reject_temperature" (400 for
requests that set a temperature, as reasoning models do), "empty" (content ""), "drop"
(close the connection without a reply). Embedding requests get only http_500, http_429, timeout and
drop, and only while `fail_first` is 0. A scripted reply is consumed only when the reply content is
needed: a request failed by the `fault` attribute before the model "runs" leaves the script untouched.

`python -m memskill.testing [--port N] [--api-key K]` serves the fake in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAULTS", "FakeOpenAI", "Fault", "RecordedRequest", "Reply", "ScriptEntry", "schema_instance"]

FAULTS = frozenset(
    "http_500 http_429 not_json fenced timeout reject_json_schema reject_response_format reject_temperature "
    "empty drop".split()
)
"""Every fault kind the fake can simulate."""

_EMBEDDING_FAULTS = frozenset({"http_500", "http_429", "timeout", "drop"})
_FAULTS_BEFORE_MODEL = frozenset(
    {"http_500", "http_429", "reject_json_schema", "reject_response_format", "reject_temperature", "drop"}
)
_FAULTS_WITHOUT_REPLY = frozenset({"not_json", "empty"})
DEFAULT_TIMEOUT_S = 2.0
"""How long the "timeout" fault sleeps when `delay_s` is 0."""
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
_NOT_JSON_TEXT = "I am sorry, but I cannot produce that right now. Please try again with a shorter request."
_MAX_SCHEMA_DEPTH = 64


def _check_fault(kind: str) -> str:
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; use one of {sorted(FAULTS)}")
    return kind


@dataclass(frozen=True)
class Fault:
    """A scripted failure for one request; `kind` is one of `FAULTS`."""

    kind: str

    def __post_init__(self) -> None:
        _check_fault(self.kind)


@dataclass
class RecordedRequest:
    """One request the fake received, recorded before it was answered (rejected ones included)."""

    path: str
    """The URL path, without the query string (`/v1/chat/completions`)."""
    headers: dict[str, str]
    """Request headers, names in lower case."""
    body: Any
    """The parsed JSON body, or None when there was none or it was not JSON."""
    task: str | None
    """For chat requests, the task the request is for (see the module docstring); else None."""
    method: str = "POST"


Reply = str | dict[str, Any] | list[Any] | Fault
"""What a script serves for one chat request."""
ScriptEntry = Sequence[Reply] | Callable[[RecordedRequest], Reply | None]
"""A list of replies served in order (the last repeats), or a function of the request."""


# ---------------------------------------------------------------------------------------------------------
# Schema instances


def schema_instance(schema: Mapping[str, Any]) -> object:
    """A minimal instance valid against `schema` (the JSON Schema subset LLM structured outputs use).

    Objects get every property (`additionalProperties: false` is respected), arrays `minItems` items,
    strings the first `enum` value or a placeholder of at least `minLength`, numbers `minimum` or 0,
    booleans false; `anyOf`/`oneOf` take the first branch, type lists the first non-null type, and
    `$ref`s into `#/$defs` or `#/definitions` are resolved.
    """
    return _instance(schema, schema, 0)


def _resolve(reference: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not reference.startswith("#"):
        raise ValueError(f"only local $refs are supported, not {reference!r}")
    node: Any = root
    for part in reference.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"$ref {reference!r} does not resolve")
        node = node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {reference!r} does not point to a schema")
    return node


def _instance(node: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> object:
    if depth > _MAX_SCHEMA_DEPTH:
        raise ValueError("schema nests too deeply (a recursive $ref that every instance must follow?)")
    if "$ref" in node:
        return _instance(_resolve(node["$ref"], root), root, depth + 1)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    for combinator in ("anyOf", "oneOf"):
        if node.get(combinator):
            return _instance(node[combinator][0], root, depth + 1)
    if node.get("allOf"):
        merged: dict[str, Any] = {key: value for key, value in node.items() if key != "allOf"}
        for branch in node["allOf"]:
            part = _resolve(branch["$ref"], root) if "$ref" in branch else branch
            merged.update(part)
        return _instance(merged, root, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((name for name in kind if name != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in node else "array" if "items" in node else "string"
    if kind == "object":
        return _object_instance(node, root, depth)
    if kind == "array":
        items = [_instance(item, root, depth + 1) for item in node.get("prefixItems", [])]
        while len(items) < node.get("minItems", 0):
            items.append(_instance(node.get("items") or {}, root, depth + 1))
        return items
    if kind == "string":
        return _string_instance(node)
    if kind in ("integer", "number"):
        return _number_instance(node, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    raise ValueError(f"unsupported schema type {kind!r}")


def _object_instance(node: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, object]:
    properties: Mapping[str, Any] = node.get("properties", {})
    instance = {name: _instance(sub, root, depth + 1) for name, sub in properties.items()}
    extra = node.get("additionalProperties", True)
    for name in node.get("required", []):
        if name not in instance and extra is not False:
            instance[name] = _instance(extra, root, depth + 1) if isinstance(extra, Mapping) else ""
    return instance


_STRING_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _string_instance(node: Mapping[str, Any]) -> str:
    text = _STRING_FORMATS.get(node.get("format", ""), "text")
    text = text.ljust(node.get("minLength", 0), "x")
    maximum = node.get("maxLength")
    return text[:maximum] if isinstance(maximum, int) else text


def _number_instance(node: Mapping[str, Any], *, integer: bool) -> int | float:
    value: float = 0
    if "minimum" in node:
        value = node["minimum"]
    elif "exclusiveMinimum" in node:
        value = node["exclusiveMinimum"] + 1
    if "maximum" in node and value > node["maximum"]:
        value = node["maximum"]
    return math.ceil(value) if integer else value


# ---------------------------------------------------------------------------------------------------------
# Replies


@dataclass
class _Response:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    timeout: bool = False


def _error(status: int, message: str, kind: str, code: str | None) -> _Response:
    return _Response(status, {"error": {"message": message, "type": kind, "code": code, "param": None}})


def _fault_response(kind: str) -> _Response:
    if kind == "http_500":
        return _error(500, "The server had an error while processing your request.", "server_error", None)
    if kind == "http_429":
        response = _error(429, "Rate limit reached; retry later.", "requests", "rate_limit_exceeded")
        response.headers["Retry-After"] = "0"
        return response
    if kind in ("reject_json_schema", "reject_response_format"):
        of_type = " of type 'json_schema'" if kind == "reject_json_schema" else ""
        message = f"Invalid parameter: 'response_format'{of_type} is not supported with this model."
        return _error(400, message, "invalid_request_error", "unsupported_parameter")
    if kind == "reject_temperature":
        message = "Unsupported value: 'temperature' does not support 0 with this model."
        return _error(400, message, "invalid_request_error", "unsupported_value")
    if kind == "drop":
        return _Response(0, drop=True)
    raise AssertionError(f"fault {kind!r} has no response of its own")


def _fault_applies(kind: str, body: Mapping[str, Any], *, chat: bool) -> bool:
    if not chat:
        return kind in _EMBEDDING_FAULTS
    response_format = body.get("response_format")
    if kind == "reject_json_schema":
        return isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"
    if kind == "reject_response_format":
        return response_format is not None
    if kind == "reject_temperature":
        return "temperature" in body
    return True


def _text_of(content: object) -> str:
    """The text of a message's `content`: a string, or a list of parts with `text` fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def _tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 4))


def _request_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if isinstance(spec, Mapping):
            return spec
    return None


def _embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: signed hash buckets of the words and character trigrams of `text`."""
    vector = [0.0] * dim
    words = re.findall(r"\w+", text.lower())
    features = [(word, 1.0) for word in words]
    for word in words:
        padded = f"#{word}#"
        features += [(padded[i : i + 3], 0.5) for i in range(max(1, len(padded) - 2))]
    for feature, weight in features or [("", 1.0)]:
        number = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        vector[number % dim] += weight if (number >> 40) & 1 else -weight
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


# ---------------------------------------------------------------------------------------------------------
# The server


class FakeOpenAI:
    """A deterministic OpenAI-compatible endpoint on 127.0.0.1; starts when constructed.

    Use it as a context manager (or call `stop()`); `stop()` makes the endpoint refuse connections and
    `start()` serves again on the same port. `fault`, `fail_first`, `delay_s`, `script` and `schemas`
    may be changed while it runs.
    """

    def __init__(
        self,
        script: Mapping[str, ScriptEntry] | None = None,
        api_key: str | None = None,
        embedding_dim: int = 64,
        delay_s: float = 0.0,
        *,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.delay_s = delay_s
        """Seconds to sleep before every reply."""
        self.schemas: dict[str, Mapping[str, Any]] = dict(schemas or {})
        """Task name → JSON schema: identifies tasks and shapes replies to requests without a schema."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.errors: list[str] = []
        """Tracebacks of exceptions raised while answering (each answered with a 500)."""
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._stopping = threading.Event()
        self._script: dict[str, ScriptEntry] = {}
        self._positions: dict[str, int] = {}
        self._fault: str | None = None
        self._fail_first = 0
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self._models: dict[str, None] = {}
        self._served = 0
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.script = script or {}
        self.start()

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve (again) on the same port; does nothing when already serving."""
        with self._lifecycle:
            if self._server is not None:
                return
            self._stopping.clear()
            server = _Server(("127.0.0.1", self._port), self)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-openai-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving: close the listening socket and open connections, wait for the thread to end."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            self._server = self._thread = None
            server.shutdown()
            server.close_connections()
            self._stopping.set()  # wakes delayed replies, which then find their connection closed
            server.server_close()
            thread.join()

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`, the value for an OpenAI-compatible client's base URL."""
        return f"http://127.0.0.1:{self._port}/v1"

    # -- behaviour ------------------------------------------------------------------------------------

    @property
    def fault(self) -> str | None:
        """The fault applied to requests (None = behave); see `FAULTS`."""
        return self._fault

    @fault.setter
    def fault(self, kind: str | None) -> None:
        with self._lock:
            self._fault = None if kind is None else _check_fault(kind)

    @property
    def fail_first(self) -> int:
        """How many more chat requests get `fault` before it clears itself; 0 = every request."""
        return self._fail_first

    @fail_first.setter
    def fail_first(self, count: int) -> None:
        if count < 0:
            raise ValueError("fail_first must be 0 or more")
        with self._lock:
            self._fail_first = count

    @property
    def script(self) -> dict[str, ScriptEntry]:
        """Task name (or "*") → replies; setting it starts every list from its first reply."""
        return self._script

    @script.setter
    def script(self, script: Mapping[str, ScriptEntry]) -> None:
        for key, entry in script.items():
            if not callable(entry) and (isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence)):
                raise TypeError(f"script[{key!r}] must be a list of replies or a function of the request")
        with self._lock:
            self._script = dict(script)
            self._positions = {}

    @property
    def usage(self) -> dict[str, int]:
        """Chat tokens served so far: `prompt_tokens` and `completion_tokens`."""
        with self._lock:
            return dict(self._usage)

    def chat_requests(self, task: str | None = None) -> list[RecordedRequest]:
        """The chat completion requests received, all of them or those for `task`."""
        with self._lock:
            chats = [request for request in self.requests if request.path.rstrip("/") == CHAT_PATH]
        return chats if task is None else [request for request in chats if request.task == task]

    def reset(self) -> None:
        """Forget recorded requests, errors, usage and script positions; clear the fault."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()
            self._usage = {"prompt_tokens": 0, "completion_tokens": 0}
            self._positions = {}
            self._fault, self._fail_first = None, 0

    # -- answering ------------------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Response:
        path = urlsplit(target).path
        body: Any = None
        parse_error = ""
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as error:
                parse_error = str(error)
        route = (method, path.rstrip("/"))
        task = self._task_of(body) if route == ("POST", CHAT_PATH) and isinstance(body, Mapping) else None
        request = RecordedRequest(path, headers, body, task, method)
        with self._lock:
            self.requests.append(request)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if route == ("GET", MODELS_PATH):
            return self._models_reply()
        if route not in (("POST", CHAT_PATH), ("POST", EMBEDDINGS_PATH)):
            return _error(
                404, f"Unknown request URL: {method} {path}.", "invalid_request_error", "unknown_url"
            )
        if parse_error or not isinstance(body, Mapping):
            message = f"The request body is not a JSON object ({parse_error or 'empty or not an object'})."
            return _error(400, message, "invalid_request_error", "invalid_json")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(
                400, "You must provide a model parameter.", "invalid_request_error", "missing_model"
            )
        with self._lock:
            self._models[model] = None
        if route[1] == CHAT_PATH:
            return self._chat(request, body)
        return self._embeddings(body)

    def _task_of(self, body: Mapping[str, Any]) -> str | None:
        spec = _request_schema(body)
        if spec is not None and isinstance(spec.get("name"), str):
            return str(spec["name"])
        messages = body.get("messages")
        if not isinstance(messages, list):
            return None
        system = next(
            (m for m in messages if isinstance(m, Mapping) and m.get("role") == "system"),
            None,
        )
        text = _text_of(system.get("content")) if system is not None else ""
        return next((name for name in self.schemas if name in text), None)

    def _claim_fault(self, body: Mapping[str, Any], *, chat: bool) -> str | None:
        with self._lock:
            kind = self._fault
            if kind is None or not _fault_applies(kind, body, chat=chat):
                return None
            if self._fail_first > 0:
                if not chat:
                    return None
                self._fail_first -= 1
                if self._fail_first == 0:
                    self._fault = None
            return kind

    def _scripted(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            key = request.task if request.task in self._script else "*"
            entry = self._script.get(key)
            if entry is None:
                return None
            if not callable(entry):
                if not entry:
                    return None
                position = self._positions.get(key, 0)
                self._positions[key] = position + 1
                return entry[min(position, len(entry) - 1)]
        return entry(request)

    def _chat(self, request: RecordedRequest, body: Mapping[str, Any]) -> _Response:
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, Mapping) for m in messages)
        ):
            message = "'messages' must be a non-empty list of message objects."
            return _error(400, message, "invalid_request_error", "invalid_messages")
        if body.get("stream"):
            return _error(400, "Streaming is not supported by this fake.", "invalid_request_error", None)
        fault = self._claim_fault(body, chat=True)
        if fault in _FAULTS_BEFORE_MODEL:
            return _fault_response(str(fault))
        reply: Reply | None = None
        if fault not in _FAULTS_WITHOUT_REPLY:
            reply = self._scripted(request)
            if isinstance(reply, Fault):
                if _fault_applies(reply.kind, body, chat=True):
                    fault = reply.kind
                    if fault in _FAULTS_BEFORE_MODEL:
                        return _fault_response(fault)
                reply = None
        content = self._content(reply, request, body)
        if fault == "not_json":
            content = _NOT_JSON_TEXT
        elif fault == "empty":
            content = ""
        elif fault == "fenced":
            content = f"Sure, here is the result:\n\n```json\n{content}\n```\n\nLet me know if you need more."
        prompt_tokens = _tokens(sum(len(_text_of(m.get("content"))) for m in messages))
        completion_tokens = _tokens(len(content))
        with self._lock:
            self._usage["prompt_tokens"] += prompt_tokens
            self._usage["completion_tokens"] += completion_tokens
            self._served += 1
            number = self._served
        completion = {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return _Response(200, completion, timeout=fault == "timeout")

    def _content(self, reply: Reply | None, request: RecordedRequest, body: Mapping[str, Any]) -> str:
        if isinstance(reply, str):
            return reply
        if isinstance(reply, (dict, list)):
            return json.dumps(reply, ensure_ascii=False)
        if reply is not None:
            raise TypeError(
                f"a scripted reply must be a str, dict, list or Fault, not {type(reply).__name__}"
            )
        spec = _request_schema(body)
        schema = spec.get("schema") if spec is not None else None
        if not isinstance(schema, Mapping) and request.task is not None:
            schema = self.schemas.get(request.task)
        if isinstance(schema, Mapping):
            return json.dumps(schema_instance(schema), ensure_ascii=False)
        return "{}"

    def _embeddings(self, body: Mapping[str, Any]) -> _Response:
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
            message = "'input' must be a string or a non-empty list of strings."
            return _error(400, message, "invalid_request_error", "invalid_input")
        dim = body.get("dimensions", self.embedding_dim)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            return _error(400, "'dimensions' must be a positive integer.", "invalid_request_error", None)
        fault = self._claim_fault(body, chat=False)
        if fault in _FAULTS_BEFORE_MODEL:
            return _fault_response(str(fault))
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = _embedding(text, dim)
            encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = _tokens(sum(len(text) for text in texts))
        reply = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return _Response(200, reply, timeout=fault == "timeout")

    def _models_reply(self) -> _Response:
        with self._lock:
            names = ["fake-model", *(name for name in self._models if name != "fake-model")]
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": "memskill-fake"} for name in names
        ]
        return _Response(200, {"object": "list", "data": models})

    def _wait_before_reply(self, response: _Response) -> None:
        delay = (self.delay_s or DEFAULT_TIMEOUT_S) if response.timeout else self.delay_s
        if delay > 0:
            self._stopping.wait(delay)

    def _note_error(self) -> None:
        with self._lock:
            self.errors.append(traceback.format_exc())


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its fake and can cut its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default of 5 drops connections when many clients call at once

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up, which can be slow; loopback needs no name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        """Errors while talking to a client (it went away) are not the fake's business."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeOpenAI.requests` instead."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _serve(self) -> None:
        self.close_connection = True
        fake = self.server.fake
        try:
            raw = self._read_body()
            headers = {name.lower(): value for name, value in self.headers.items()}
            response = fake._answer(self.command, self.path, headers, raw)
        except Exception as error:
            fake._note_error()
            response = _error(500, f"The fake server failed: {error!r}", "server_error", "fake_error")
        fake._wait_before_reply(response)
        if response.drop:
            return
        payload = json.dumps(response.body, ensure_ascii=False).encode()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fake OpenAI-compatible endpoint in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m memskill.testing",
        description="A fake OpenAI-compatible endpoint on 127.0.0.1 for tests (no network, no model).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--embedding-dim", type=int, default=64, help="length of embedding vectors")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every reply")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        api_key=args.api_key, embedding_dim=args.embedding_dim, delay_s=args.delay, port=args.port
    )
    # Stop on Ctrl-C and on SIGTERM whatever this process inherited: a shell that starts a command in
    # the background without job control (CI runners, `cmd &` in a script) sets SIGINT to "ignore",
    # and Python then never turns Ctrl-C into KeyboardInterrupt, so the server would never stop.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(fake.base_url, flush=True)
    print("Set MEMSKILL_LLM_BASE_URL to the URL above; Ctrl-C stops the server.", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
