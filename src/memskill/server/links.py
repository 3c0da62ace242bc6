"""Signed, expiring skill download links: `…/skills/<id>/download?v=<version>&exp=<epoch s>&sig=<hmac>`.

The HMAC-SHA256 secret comes from `MEMSKILL_SIGNING_KEY` when it is set (several API processes on
several machines must share it), else from `<data_dir>/signing.key` (created on first use, readable by
the owner only), so links survive restarts and every process on the same data directory accepts them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

DOWNLOAD_PATH = "/api/openmem/v1/skills/{skill_id}/download"


def load_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The configured signing secret, else the data directory's, created on first use."""
    if configured:
        return hashlib.sha256(b"memskill signing key\0" + configured.encode("utf-8")).digest()
    path = Path(data_dir).expanduser() / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".signing.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # atomic: the first process to get here wins, the others read its secret
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return bytes.fromhex(path.read_text().strip())


class Signer:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self.secret = secret
        self.ttl_s = ttl_s

    def signature(self, skill_id: str, version: int, expires: int) -> str:
        message = f"{skill_id}\x1f{version}\x1f{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def url(self, base: str, skill_id: str, version: int, now: float | None = None) -> str:
        """An absolute link to one version of a skill, valid for `ttl_s` seconds from `now`."""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        query = urlencode({"v": version, "exp": expires, "sig": self.signature(skill_id, version, expires)})
        return base.rstrip("/") + DOWNLOAD_PATH.format(skill_id=skill_id) + "?" + query

    def valid(
        self, skill_id: str, version: int, expires: int, signature: str, now: float | None = None
    ) -> bool:
        if expires < (time.time() if now is None else now):
            return False
        # Bytes, not str: `compare_digest` refuses non-ASCII strings, and a tampered link may hold any.
        expected = self.signature(skill_id, version, expires).encode()
        return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))
