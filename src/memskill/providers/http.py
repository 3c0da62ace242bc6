"""One JSON POST with bounded retries: the HTTP part shared by the chat and embedding adapters.

A connection error, 408, 429 or 5xx is tried again (up to `attempts` in all) after the backoff pause, or
after the server's `Retry-After` when it asks for longer (up to `MAX_RETRY_AFTER_S`); timeouts get at most
`timeout_attempts` tries (each costs the whole timeout); anything else fails at once. The caller turns
the final `HttpFailure` into an `UpstreamError` that names its own settings.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from memskill.errors import HttpFailure

log = logging.getLogger("memskill.http")

MAX_RETRY_AFTER_S = 10.0
"""A longer `Retry-After` is not waited for (the usual backoff applies and the call fails sooner)."""


def post_json(
    url: str,
    body: object,
    api_key: str | None,
    timeout_s: float,
    attempts: int,
    backoff_s: Sequence[float],
    timeout_attempts: int | None = None,
) -> object:
    """The parsed JSON reply of `POST url`; `HttpFailure` (the last attempt's) when every attempt failed."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    failure: HttpFailure | None = None
    timeouts = 0
    for attempt in range(max(1, attempts)):
        if attempt and failure is not None:
            time.sleep(_pause(backoff_s, attempt, failure.retry_after))
        try:
            return _post_once(url, data, headers, timeout_s)
        except HttpFailure as error:
            error.attempts = attempt + 1
            failure = error
            timeouts += error.timed_out
            if not error.retryable or (timeout_attempts is not None and timeouts >= timeout_attempts):
                break
            log.warning("%s attempt %d/%d failed: %s", url, attempt + 1, attempts, error.cause)
    assert failure is not None
    raise failure


def _pause(backoff_s: Sequence[float], attempt: int, retry_after: float | None) -> float:
    pause = backoff_s[min(attempt, len(backoff_s)) - 1] if backoff_s else 0.0
    if retry_after is not None and retry_after <= MAX_RETRY_AFTER_S:
        pause = max(pause, retry_after)
    return pause


def _post_once(url: str, data: bytes, headers: dict[str, str], timeout_s: float) -> object:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    timeout = HttpFailure(f"no answer within {timeout_s:g} s", True, timed_out=True)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise http_failure(error) from None
    except TimeoutError:
        raise timeout from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise timeout from None
        raise HttpFailure(f"cannot connect ({error.reason}); is the server running?", True) from None
    except (OSError, http.client.HTTPException) as error:
        raise HttpFailure(f"the connection broke ({type(error).__name__}: {error})", True) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise HttpFailure("the reply is not JSON", True, 200) from None


def http_failure(error: urllib.error.HTTPError) -> HttpFailure:
    """An HTTP error reply as a `HttpFailure`, with the server's own message when it gave one."""
    status = error.code
    try:
        detail = json.loads(error.read() or b"{}")
        inner = detail.get("error") if isinstance(detail, dict) else None
        message = str(inner.get("message", "")) if isinstance(inner, dict) else str(inner or "")
    except (ValueError, OSError, http.client.HTTPException):
        message = ""
    cause = f"HTTP {status}" + (f" ({message[:300]})" if message else "")
    try:
        retry_after = float(error.headers.get("Retry-After", "")) if error.headers else None
    except ValueError:
        retry_after = None
    return HttpFailure(cause, status in (408, 409, 429) or status >= 500, status, retry_after)


def hint(status: int | None, prefix: str) -> str:
    """What to check for a failure, naming the settings under `prefix` (`MEMSKILL_LLM`, `MEMSKILL_EMBED`)."""
    return {
        401: f"the API key was refused: check {prefix}_API_KEY",
        403: f"the API key may not use this model: check {prefix}_API_KEY",
        404: f"wrong URL or unknown model: check {prefix}_BASE_URL (usually ends in /v1) and {prefix}_MODEL",
    }.get(status or 0, f"check {prefix}_BASE_URL / {prefix}_MODEL / {prefix}_API_KEY")
