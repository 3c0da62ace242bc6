"""The failures the fake endpoints simulate (`FAULTS`), and the HTTP replies they and the fake's own
errors are made of."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FAULTS = frozenset(
    "http_500 http_429 not_json fenced timeout reject_json_schema reject_response_format reject_temperature "
    "empty drop".split()
)
"""Every fault kind the fake can simulate."""

EMBEDDING_FAULTS = frozenset({"http_500", "http_429", "timeout", "drop"})
FAULTS_BEFORE_MODEL = frozenset(
    {"http_500", "http_429", "reject_json_schema", "reject_response_format", "reject_temperature", "drop"}
)
FAULTS_WITHOUT_REPLY = frozenset({"not_json", "empty"})
DEFAULT_TIMEOUT_S = 2.0
"""How long the "timeout" fault sleeps when `delay_s` is 0."""
NOT_JSON_TEXT = "I am sorry, but I cannot produce that right now. Please try again with a shorter request."


def check_fault(kind: str) -> str:
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; use one of {sorted(FAULTS)}")
    return kind


@dataclass(frozen=True)
class Fault:
    """A scripted failure for one request; `kind` is one of `FAULTS`."""

    kind: str

    def __post_init__(self) -> None:
        check_fault(self.kind)


@dataclass
class Response:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    timeout: bool = False


def error_reply(status: int, message: str, kind: str, code: str | None) -> Response:
    return Response(status, {"error": {"message": message, "type": kind, "code": code, "param": None}})


def fault_response(kind: str) -> Response:
    if kind == "http_500":
        text = "The server had an error while processing your request."
        return error_reply(500, text, "server_error", None)
    if kind == "http_429":
        response = error_reply(429, "Rate limit reached; retry later.", "requests", "rate_limit_exceeded")
        response.headers["Retry-After"] = "0"
        return response
    if kind in ("reject_json_schema", "reject_response_format"):
        of_type = " of type 'json_schema'" if kind == "reject_json_schema" else ""
        message = f"Invalid parameter: 'response_format'{of_type} is not supported with this model."
        return error_reply(400, message, "invalid_request_error", "unsupported_parameter")
    if kind == "reject_temperature":
        message = "Unsupported value: 'temperature' does not support 0 with this model."
        return error_reply(400, message, "invalid_request_error", "unsupported_value")
    if kind == "drop":
        return Response(0, drop=True)
    raise AssertionError(f"fault {kind!r} has no response of its own")


def fault_applies(kind: str, body: Mapping[str, Any], *, chat: bool) -> bool:
    if not chat:
        return kind in EMBEDDING_FAULTS
    response_format = body.get("response_format")
    if kind == "reject_json_schema":
        return isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"
    if kind == "reject_response_format":
        return response_format is not None
    if kind == "reject_temperature":
        return "temperature" in body
    return True


def text_of(content: object) -> str:
    """The text of a message's `content`: a string, or a list of parts with `text` fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def tokens_of(chars: int) -> int:
    return max(1, math.ceil(chars / 4))


def request_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if isinstance(spec, Mapping):
            return spec
    return None


def embedding(text: str, dim: int) -> list[float]:
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
