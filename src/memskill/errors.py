"""One exception tree for memskill.

    MemskillError                  base; `code` is the 5-digit API error code
    ├── InvalidRequest             40000  a parameter is malformed or out of range
    │   ├── MissingField           40002  a required field is absent
    │   └── IdTooLong              40010  an id is longer than 100 characters
    ├── Unauthorized               40100  missing or unknown API key
    ├── RateLimited                40300  too many requests for this key
    ├── NotFound                   40400  no such item for this user
    ├── PayloadTooLarge            41300  body, message count or message size over the limit
    └── InternalError              50000  a bug or a broken store; the message says what to check

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations


class MemskillError(Exception):
    """Base class: carries the API error code and HTTP status."""

    code = 50000
    http_status = 500


class InvalidRequest(MemskillError):
    code = 40000
    http_status = 400


class MissingField(InvalidRequest):
    code = 40002


class IdTooLong(InvalidRequest):
    code = 40010


class Unauthorized(MemskillError):
    code = 40100
    http_status = 401


class RateLimited(MemskillError):
    code = 40300
    http_status = 429


class NotFound(MemskillError):
    code = 40400
    http_status = 404


class PayloadTooLarge(MemskillError):
    code = 41300
    http_status = 413


class InternalError(MemskillError):
    code = 50000
    http_status = 500
