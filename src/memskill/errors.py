"""One exception tree for memskill.

    MemskillError                  base; `code` is the 5-digit API error code
    ├── InvalidRequest             40000  a parameter is malformed or out of range
    │   ├── MissingField           40002  a required field is absent
    │   ├── IdTooLong              40010  an id is longer than 100 characters
    │   ├── SkillFormatError       40000  a SKILL.md breaks the format (defined in `skillfile`)
    │   └── ArchiveError           40000  not a store archive this version reads (defined in `archive`)
    ├── Unauthorized               40100  missing or unknown API key
    ├── Forbidden                  40100  a valid key or link that does not reach this data (HTTP 403)
    ├── RateLimited                40300  too many requests for this key
    ├── NotFound                   40400  no such item for this user
    ├── PayloadTooLarge            41300  body, message count or message size over the limit
    ├── InternalError              50000  a bug or a broken store; the message says what to check
    └── UpstreamError              50300  a configured model endpoint (LLM, embeddings) failed or is down

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations


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
