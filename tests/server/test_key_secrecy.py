"""API keys are kept secret (DESIGN §6): stored only as hashes, never written to a log.

A real `memskill serve` at debug log level answers requests made with a stored key, with a wrong key,
and with a key sent where no key belongs (the query string, the body); afterwards neither its log
(stderr and the access log on stdout) nor any file in its data directory (database, WAL, signing key)
holds any of those keys in clear. Access log lines leave query strings out (signed download links are
credentials too).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from serve_helpers import post, running_server, server_env

from memskill.server.keys import create_key, hash_key
from memskill.stores.sqlite import SQLiteStore


def every_byte_under(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_keys_are_stored_hashed_and_never_logged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = SQLiteStore(data_dir / "memskill.db")
    try:
        stored_key, row = create_key(store, note="secrecy test")
    finally:
        store.close()
    wrong_key = "msk_" + "w" * 43
    body = {
        "user_id": "u1",
        "conversation_id": "c1",
        "messages": [{"role": "user", "content": "记住我喜欢早起"}],
    }
    env = server_env(MEMSKILL_EMBEDDER="hashing")
    with running_server(data_dir, env, ["--log-level", "debug"], with_stdout=True) as server:
        status, reply = post(server.api, "/add/message", {**body, "async_mode": False}, stored_key)
        assert status == 200, reply
        status, reply = post(server.api, "/search/memory", {"user_id": "u1", "query": "早起"}, wrong_key)
        assert status == 401 and reply["code"] == 40100, reply
        leaked_in_body = {"user_id": "u1", "query": "早起", "api_key": stored_key}
        status, _ = post(server.api, "/search/memory", leaked_in_body, None)
        assert status == 401
        request = urllib.request.Request(
            f"{server.api}/get/memory/x?key={stored_key}", headers={"Authorization": f"Bearer {wrong_key}"}
        )
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as refused:
            assert refused.code == 401
            refused.close()
        log = server.stderr()
    assert "POST /api/openmem/v1/search/memory" in log, "no access log: the check would be empty"
    assert "/get/memory/x?…" in log  # the request with a query string is logged without it
    for secret in (stored_key, wrong_key):
        assert secret not in log, "a key reached the log"
        assert secret.encode() not in every_byte_under(data_dir), "a key is stored in clear"
    assert row.key_hash == hash_key(stored_key) != stored_key
    assert row.key_hash.encode() in every_byte_under(data_dir)  # the hash is what is stored
    assert json.dumps(stored_key)[1:-1] not in log
