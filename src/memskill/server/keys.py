"""API keys: created once and shown once, stored as SHA-256 hashes, optionally bound to one app.

A key looks like `msk_<43 url-safe characters>`; its first 12 characters are kept in clear as a prefix
so an operator can tell keys apart in `memskill keys list` and revoke one by id or prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from memskill.models import now_ms
from memskill.stores.base import ApiKeyRow, Store

KEY_PREFIX = "msk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (for rate limits and logs) and the app it is bound to, if any."""

    key_id: str
    app_id: str | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store: Store, app_id: str | None = None, note: str = "") -> tuple[str, ApiKeyRow]:
    """A new key (returned once, never stored in clear) and its stored row."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id="key_" + secrets.token_hex(6),
        key_hash=hash_key(key),
        prefix=key[:12],
        app_id=app_id,
        note=note,
        create_time=now_ms(),
    )
    store.save_api_key(row)
    return key, row


class KeyRing:
    """Checks presented keys against the configured key (`MEMSKILL_API_KEY`) and the stored ones."""

    def __init__(self, store: Store, configured: str | None = None) -> None:
        self.store = store
        self.configured = configured

    def has_keys(self) -> bool:
        return bool(self.configured) or any(k.revoke_time is None for k in self.store.list_api_keys())

    def verify(self, key: str) -> Principal | None:
        if not key:
            return None
        if self.configured and hmac.compare_digest(key.encode(), self.configured.encode()):
            return Principal("env")
        row = self.store.api_key_by_hash(hash_key(key))
        if row is None or row.revoke_time is not None:
            return None
        return Principal(row.id, row.app_id)

    def active(self, key_id: str) -> Principal | None:
        """The principal of a key known by id, while it is still valid (for sessions that outlive a call)."""
        if key_id == "env":
            return Principal("env") if self.configured else None
        row = self.store.api_key_by_id(key_id)
        if row is None or row.revoke_time is not None:
            return None
        return Principal(row.id, row.app_id)
