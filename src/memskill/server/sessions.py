"""Dashboard sessions: a signed cookie naming the API key that signed in, and CSRF tokens.

    cookie  msk_session = <key_id>.<expires>.<nonce>.<hmac>     HttpOnly, SameSite=Strict, Path=/
    form    csrf        = hmac("csrf", nonce)                   required on every POST but sign-in

The cookie holds no secret: the key itself is never stored; the signature (with the data directory's
signing secret) makes it unforgeable, and each request checks that the key is still valid, so revoking
a key ends its sessions. The CSRF token is bound to the session's nonce, so a page of another site can
neither read nor guess it; SameSite=Strict already keeps the cookie off cross-site requests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "msk_session"
SESSION_TTL_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    key_id: str
    expires: int
    nonce: str


class Sessions:
    def __init__(self, secret: bytes, ttl_s: int = SESSION_TTL_S) -> None:
        self._secret = hashlib.sha256(b"memskill dashboard sessions\0" + secret).digest()
        self.ttl_s = ttl_s

    def _sign(self, *parts: str) -> str:
        message = "\0".join(parts).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def issue(self, key_id: str, now: float | None = None) -> str:
        """A new cookie value for `key_id`."""
        expires = int((now if now is not None else time.time()) + self.ttl_s)
        nonce = secrets.token_urlsafe(12)
        body = f"{key_id}.{expires}.{nonce}"
        return f"{body}.{self._sign('session', body)}"

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie value, if it is authentic and unexpired."""
        if not value or value.count(".") < 3:
            return None
        body, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign("session", body)):
            return None
        key_id, expires, nonce = body.rsplit(".", 2)
        if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
            return None
        return Session(key_id, int(expires), nonce)

    def csrf(self, session: Session) -> str:
        return self._sign("csrf", session.nonce)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.csrf(session))
