"""Chat models: one adapter for every OpenAI-compatible `/chat/completions` endpoint.

OpenAI, DeepSeek, Qwen (DashScope), vLLM, Ollama and LM Studio all speak the same request; they differ in
which `response_format` they accept. `OpenAIChat` climbs down a ladder and remembers the first rung the
endpoint takes:

    json_schema  →  json_object (JSON mode)  →  text (the JSON is cut out of the answer later)

A transient failure (connection refused, 429, 5xx) is retried a bounded number of times with backoff
(`providers/http.py`); a timeout only once (each try costs the whole timeout). After `BREAKER_FAILURES`
calls in a row have failed, the adapter stops calling for `BREAKER_COOLDOWN_S` and fails at once, so a
dead endpoint costs each job milliseconds, not minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from memskill.config import Endpoint
from memskill.errors import HttpFailure, UpstreamError
from memskill.models import Usage
from memskill.providers.http import hint, post_json

MAX_TOKENS = 1500
"""Every call caps its answer: the largest reply memskill asks for (a skill update with a dozen
operations) fits, and a model that rambles cannot eat the job's time budget."""

log = logging.getLogger("memskill.llm")

Format = Literal["json_schema", "json_object", "text"]
FORMATS: tuple[Format, ...] = ("json_schema", "json_object", "text")
ATTEMPTS = 3
BACKOFF_S = (0.5, 2.0)
TIMEOUT_ATTEMPTS = 2
"""A model that did not answer within the timeout is asked once more, not three times."""
BREAKER_FAILURES = 3
BREAKER_COOLDOWN_S = 30.0


@dataclass(frozen=True)
class ChatReply:
    content: str
    usage: Usage
    format: Format
    """The response format the endpoint answered under."""


class ChatModel(Protocol):
    """Anything that answers a list of chat messages, ideally as JSON of a given schema."""

    id: str

    def complete(
        self, messages: Sequence[Mapping[str, str]], schema_name: str, schema: Mapping[str, Any]
    ) -> ChatReply: ...


class OpenAIChat:
    """`POST {base_url}/chat/completions` with retries, the response-format ladder and a circuit breaker."""

    def __init__(self, endpoint: Endpoint, attempts: int = ATTEMPTS, backoff_s: Sequence[float] = BACKOFF_S):
        self.endpoint = endpoint
        self.id = f"{endpoint.model}@{endpoint.base_url}"
        self.attempts = max(1, attempts)
        self.backoff_s = tuple(backoff_s)
        self._format_floor = 0
        """Index into FORMATS of the best format the endpoint has not refused."""
        self._temperature = True
        """Whether to send `temperature: 0` (some reasoning models refuse any temperature)."""
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0

    def complete(
        self, messages: Sequence[Mapping[str, str]], schema_name: str, schema: Mapping[str, Any]
    ) -> ChatReply:
        self._check_breaker()
        try:
            reply = self._complete(messages, schema_name, schema)
        except UpstreamError as error:
            if error.retryable:
                self._record_failure()
            raise
        with self._lock:
            self._failures = 0
        return reply

    def _complete(
        self, messages: Sequence[Mapping[str, str]], schema_name: str, schema: Mapping[str, Any]
    ) -> ChatReply:
        while True:
            rung = FORMATS[self._format_floor]
            body: dict[str, Any] = {
                "model": self.endpoint.model,
                "messages": list(messages),
                "max_tokens": MAX_TOKENS,
            }
            if self._temperature:
                body["temperature"] = 0
            if rung == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": schema, "strict": True},
                }
            elif rung == "json_object":
                body["response_format"] = {"type": "json_object"}
            try:
                answer = self._post_with_retries(body)
            except UpstreamError as error:
                if error.status == 400 and self._temperature and "temperature" in str(error).lower():
                    self._temperature = False
                    log.info("%s refused a temperature; sending none", self.id)
                    continue
                if error.status == 400 and rung != "text" and _refuses_format(str(error)):
                    with self._lock:
                        self._format_floor = max(self._format_floor, FORMATS.index(rung) + 1)
                    log.info(
                        "%s refused response_format %s; using %s", self.id, rung, FORMATS[self._format_floor]
                    )
                    continue
                raise
            return _reply_of(answer, rung, self.id)

    def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.endpoint.base_url + "/chat/completions"
        try:
            answer = post_json(
                url,
                body,
                self.endpoint.api_key,
                self.endpoint.timeout_s,
                self.attempts,
                self.backoff_s,
                timeout_attempts=TIMEOUT_ATTEMPTS,
            )
        except HttpFailure as failure:
            endpoint = f"{url} (model {self.endpoint.model!r})"
            raise failure.upstream(endpoint, hint(failure.status, "MEMSKILL_LLM")) from None
        if not isinstance(answer, dict):
            raise UpstreamError(f"{url} answered with a JSON {type(answer).__name__}, not an object.")
        return answer

    def _check_breaker(self) -> None:
        with self._lock:
            waiting = self._open_until - time.monotonic()
        if waiting > 0:
            raise UpstreamError(
                f"{self.endpoint.base_url} failed {BREAKER_FAILURES} calls in a row; not calling it for "
                f"another {waiting:.0f} s (the algorithmic stages run meanwhile).",
                retryable=True,
            )

    def _record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= BREAKER_FAILURES:
                self._open_until = time.monotonic() + BREAKER_COOLDOWN_S
                self._failures = 0
                log.warning(
                    "%s: pausing calls for %.0f s after repeated failures", self.id, BREAKER_COOLDOWN_S
                )


def _refuses_format(message: str) -> bool:
    text = message.lower()
    return "response_format" in text or "json_schema" in text or "json mode" in text or "json_object" in text


def _reply_of(answer: dict[str, Any], rung: Format, model_id: str) -> ChatReply:
    try:
        message = answer["choices"][0]["message"]
        content = message.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise UpstreamError(f"{model_id} answered without choices[0].message.", retryable=True) from None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    counted = answer.get("usage")
    usage: dict[str, Any] = counted if isinstance(counted, dict) else {}
    return ChatReply(
        str(content),
        Usage(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")), 1),
        rung,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
