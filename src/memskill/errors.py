"""One exception tree for memskill.

    MemskillError                  base; `code` is the 5-digit API error code
    ├── InvalidRequest             40000  a parameter is malformed or out of range
    │   ├── MissingField           40002  a required field is absent
    │   ├── IdTooLong              40010  an id is longer than 100 characters
    │   ├── SkillFormatError       40000  a SKILL.md breaks the format
    │   └── ArchiveError           40000  not a store archive this version reads (defined in `archive`)
    ├── Unauthorized               40100  missing or unknown API key
    ├── Forbidden                  40100  a valid key or link that does not reach this data (HTTP 403)
    ├── RateLimited                40300  too many requests for this key
    ├── NotFound                   40400  no such item for this user
    ├── PayloadTooLarge            41300  body, message count or message size over the limit
    ├── InternalError              50000  a bug or a broken store; the message says what to check
    └── UpstreamError              50300  a configured model endpoint (LLM, embeddings) failed or is down

Every message says what is wrong and what to do about it.

Three signals between memskill's own parts never reach a client as such:

    LeaseLost      a job's lease passed to another worker: this run's writes must not count
    LLMFailure     a model's answer could not be used for one item (the algorithmic stage takes over)
    HttpFailure    one failed attempt at an endpoint (`providers.http`); `upstream()` turns the last one
                   into the `UpstreamError` a caller sees
"""

from __future__ import annotations

from typing import Any


class MemskillError(Exception):
    """Base class: carries the API error code and HTTP status."""

    code = 50000
    http_status = 500


class InvalidRequest(MemskillError):
    """A parameter is malformed or out of range (40000)."""

    code = 40000
    http_status = 400


class MissingField(InvalidRequest):
    """A required field is absent (40002)."""

    code = 40002


class IdTooLong(InvalidRequest):
    """An id is longer than 100 characters (40010)."""

    code = 40010


class Unauthorized(MemskillError):
    """Missing or unknown API key (40100)."""

    code = 40100
    http_status = 401


class Forbidden(MemskillError):
    """A valid key used outside its app, or a tampered or expired download link (HTTP 403)."""

    code = 40100
    http_status = 403


class RateLimited(MemskillError):
    """Too many requests for this key (40300)."""

    code = 40300
    http_status = 429


class NotFound(MemskillError):
    """No such item for this user (40400)."""

    code = 40400
    http_status = 404


class PayloadTooLarge(MemskillError):
    """The body, message count or a message is over the limit (41300)."""

    code = 41300
    http_status = 413


class InternalError(MemskillError):
    """A bug or a broken store (50000)."""

    code = 50000
    http_status = 500


class UpstreamError(MemskillError):
    """A service memskill depends on failed, timed out or answered nonsense (50300): a configured model
    endpoint (chat or embeddings), or a data set's publisher during `memskill bench fetch`.

    `retryable` says whether trying again later may help (timeouts, 429, 5xx, connection refused) or not
    (401, 404 model not found, 400 request rejected).
    """

    code = 50300
    http_status = 503

    def __init__(
        self,
        message: str,
        retryable: bool = True,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        """Seconds the endpoint asked us to wait (`Retry-After`), when it said."""


class SkillFormatError(InvalidRequest, ValueError):
    """Not a valid skill; the message says what is wrong and how to fix it."""


class LeaseLost(RuntimeError):
    """A job's lease passed to another worker while this one ran it: this run's writes must not count."""


class LLMFailure(Exception):
    """The model's answer could not be used for this item; `reason` says why, `usage` what it cost (a
    `models.Usage`)."""

    def __init__(self, reason: str, usage: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage


class HttpFailure(Exception):
    """A failed attempt at an HTTP endpoint: what went wrong, whether trying again may help, the wait the
    server asked for."""

    def __init__(
        self,
        cause: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.timed_out = timed_out
        self.attempts = 1
        """How many attempts were made before giving up (set by `providers.http.post_json`)."""

    def upstream(self, endpoint: str, hint: str) -> UpstreamError:
        """The error a caller sees once the attempts are spent: `endpoint` names what failed ("https://…
        (model 'x')"), `hint` says what to check."""
        tried = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return UpstreamError(
            f"{endpoint} failed{tried}: {self.cause}; {hint}.", retryable=self.retryable, status=self.status
        )


def error_for(code: int, http_status: int, message: str) -> MemskillError:
    """The exception for an error reply (`code`, HTTP status), e.g. as raised by `memskill.Client`."""
    by_code: dict[int, type[MemskillError]] = {
        40000: InvalidRequest,
        40002: MissingField,
        40010: IdTooLong,
        40100: Forbidden if http_status == 403 else Unauthorized,
        40300: RateLimited,
        40400: NotFound,
        41300: PayloadTooLarge,
        50300: UpstreamError,
    }
    kind = by_code.get(code) or (InvalidRequest if 400 <= http_status < 500 else InternalError)
    return kind(message)


def unexpected(error: BaseException) -> InternalError:
    """What a client is told about an error nobody anticipated: its type only, since its text may quote
    the caller's data or the server's internals; the server logs the details."""
    return InternalError(f"internal error ({type(error).__name__}); the server log has the details.")
