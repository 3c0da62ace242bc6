"""`FakeOpenAI`: a fake OpenAI-compatible HTTP server, for testing code that calls an LLM or embedding
endpoint.

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

Where a chat reply's content comes from: the script of its task, else a minimal instance of its
schema (`script.py` says in which order).

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

import base64
import json
import struct
import threading
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from memskill.testing.faults import (
    DEFAULT_TIMEOUT_S,
    FAULTS_BEFORE_MODEL,
    FAULTS_WITHOUT_REPLY,
    NOT_JSON_TEXT,
    Fault,
    Response,
    check_fault,
    embedding,
    error_reply,
    fault_applies,
    fault_response,
    request_schema,
    text_of,
    tokens_of,
)
from memskill.testing.http_server import _Server
from memskill.testing.script import RecordedRequest, Reply, Scripted, ScriptEntry

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"


class FakeOpenAI(Scripted):
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
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""
        self.errors: list[str] = []
        """Tracebacks of exceptions raised while answering (each answered with a 500)."""
        Scripted.__init__(self, script, schemas)
        self._lifecycle = threading.Lock()
        self._stopping = threading.Event()
        self._fault: str | None = None
        self._fail_first = 0
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self._models: dict[str, None] = {}
        self._served = 0
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
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
            self._fault = None if kind is None else check_fault(kind)

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

    def _answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
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
            return error_reply(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if route == ("GET", MODELS_PATH):
            return self._models_reply()
        if route not in (("POST", CHAT_PATH), ("POST", EMBEDDINGS_PATH)):
            return error_reply(
                404, f"Unknown request URL: {method} {path}.", "invalid_request_error", "unknown_url"
            )
        if parse_error or not isinstance(body, Mapping):
            message = f"The request body is not a JSON object ({parse_error or 'empty or not an object'})."
            return error_reply(400, message, "invalid_request_error", "invalid_json")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return error_reply(
                400, "You must provide a model parameter.", "invalid_request_error", "missing_model"
            )
        with self._lock:
            self._models[model] = None
        if route[1] == CHAT_PATH:
            return self._chat(request, body)
        return self._embeddings(body)

    def _task_of(self, body: Mapping[str, Any]) -> str | None:
        spec = request_schema(body)
        if spec is not None and isinstance(spec.get("name"), str):
            return str(spec["name"])
        messages = body.get("messages")
        if not isinstance(messages, list):
            return None
        system = next(
            (m for m in messages if isinstance(m, Mapping) and m.get("role") == "system"),
            None,
        )
        text = text_of(system.get("content")) if system is not None else ""
        return next((name for name in self.schemas if name in text), None)

    def _claim_fault(self, body: Mapping[str, Any], *, chat: bool) -> str | None:
        with self._lock:
            kind = self._fault
            if kind is None or not fault_applies(kind, body, chat=chat):
                return None
            if self._fail_first > 0:
                if not chat:
                    return None
                self._fail_first -= 1
                if self._fail_first == 0:
                    self._fault = None
            return kind

    def _chat(self, request: RecordedRequest, body: Mapping[str, Any]) -> Response:
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, Mapping) for m in messages)
        ):
            message = "'messages' must be a non-empty list of message objects."
            return error_reply(400, message, "invalid_request_error", "invalid_messages")
        if body.get("stream"):
            return error_reply(400, "Streaming is not supported by this fake.", "invalid_request_error", None)
        fault = self._claim_fault(body, chat=True)
        if fault in FAULTS_BEFORE_MODEL:
            return fault_response(str(fault))
        reply: Reply | None = None
        if fault not in FAULTS_WITHOUT_REPLY:
            reply = self._scripted(request)
            if isinstance(reply, Fault):
                if fault_applies(reply.kind, body, chat=True):
                    fault = reply.kind
                    if fault in FAULTS_BEFORE_MODEL:
                        return fault_response(fault)
                reply = None
        content = self._content(reply, request, body)
        if fault == "not_json":
            content = NOT_JSON_TEXT
        elif fault == "empty":
            content = ""
        elif fault == "fenced":
            content = f"Sure, here is the result:\n\n```json\n{content}\n```\n\nLet me know if you need more."
        prompt_tokens = tokens_of(sum(len(text_of(m.get("content"))) for m in messages))
        completion_tokens = tokens_of(len(content))
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
        return Response(200, completion, timeout=fault == "timeout")

    def _embeddings(self, body: Mapping[str, Any]) -> Response:
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
            message = "'input' must be a string or a non-empty list of strings."
            return error_reply(400, message, "invalid_request_error", "invalid_input")
        dim = body.get("dimensions", self.embedding_dim)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            return error_reply(400, "'dimensions' must be a positive integer.", "invalid_request_error", None)
        fault = self._claim_fault(body, chat=False)
        if fault in FAULTS_BEFORE_MODEL:
            return fault_response(str(fault))
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embedding(text, dim)
            encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = tokens_of(sum(len(text) for text in texts))
        reply = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return Response(200, reply, timeout=fault == "timeout")

    def _models_reply(self) -> Response:
        with self._lock:
            names = ["fake-model", *(name for name in self._models if name != "fake-model")]
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": "memskill-fake"} for name in names
        ]
        return Response(200, {"object": "list", "data": models})

    def _wait_before_reply(self, response: Response) -> None:
        delay = (self.delay_s or DEFAULT_TIMEOUT_S) if response.timeout else self.delay_s
        if delay > 0:
            self._stopping.wait(delay)

    def _note_error(self) -> None:
        with self._lock:
            self.errors.append(traceback.format_exc())
