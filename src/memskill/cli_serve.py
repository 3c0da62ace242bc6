"""`memskill serve | worker | mcp | keys`: the long-running processes and their API keys."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import replace
from typing import TextIO

from memskill.cli_common import CommandError, _memory_from, _redacted, _settings


def cmd_worker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Process jobs from the shared queue until SIGTERM or Ctrl-C (a job cut short is retried elsewhere)."""
    import signal

    from memskill.demo import mode_line

    if args.concurrency < 1:
        err.write("error: --concurrency must be at least 1.\n")
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = replace(_settings(args), workers=args.concurrency)
    memory = _memory_from(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    where = _redacted(settings.database_url) if settings.database_url else str(settings.data_dir)
    err.write(f"memskill worker: {args.concurrency} thread(s) on {where}\nstages: {mode_line(settings)}\n")
    err.flush()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        err.write("memskill worker: stopping\n")
        memory.close()
    return 0


def _without_query(record: logging.LogRecord) -> bool:
    """Access log lines without query strings: a download link's signature, or a key a client put in
    the URL, are credentials that do not belong in a log."""
    if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
        path, question, _ = record.args[2].partition("?")
        if question:
            record.args = (*record.args[:2], path + "?…", *record.args[3:])
    return True


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import uvicorn

    from memskill.server import create_app
    from memskill.server.keys import KeyRing, create_key

    settings = _settings(args)
    if args.workers is not None:
        settings = replace(settings, workers=args.workers)
    memory = _memory_from(settings)
    # Load the embedder while the server starts, so the first request does not pay for it.
    threading.Thread(target=memory.embedder.embed, args=(["warm up 预热"],), daemon=True).start()
    keys = KeyRing(memory.store, settings.api_key)
    if not keys.has_keys():
        key, row = create_key(memory.store, note="created by the first serve")
        err.write(
            f"No API key was configured, so one was created ({row.id}). It is shown only now:\n\n"
            f"    {key}\n\nSend it as `Authorization: Token <key>`; manage keys with `memskill keys`.\n"
        )
    err.write(
        f"memskill serving {settings.data_dir} at http://{args.host}:{args.port}/api/openmem/v1 "
        f"({settings.workers} worker thread(s)); MCP at http://{args.host}:{args.port}/mcp\n"
    )
    from memskill.demo import mode_line

    err.write(f"stages: {mode_line(settings)}\n")
    err.flush()
    try:
        config = uvicorn.Config(
            create_app(memory, settings, keys), host=args.host, port=args.port, log_level=args.log_level
        )
        logging.getLogger("uvicorn.access").addFilter(_without_query)  # after Config set up logging
        uvicorn.Server(config).run()
    finally:
        memory.close()
    return 0


def cmd_mcp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve MCP over stdin and stdout until the client closes them; stdout carries only the protocol."""
    from memskill.server.mcp.adapter import serve_stdio

    settings = _settings(args)
    if args.user:
        settings = replace(settings, mcp_user=args.user)
    memory = _memory_from(settings)
    threading.Thread(target=memory.embedder.embed, args=(["warm up 预热"],), daemon=True).start()
    where = _redacted(settings.database_url) if settings.database_url else str(settings.data_dir)
    user = repr(settings.mcp_user) if settings.mcp_user else "none (every call names its user_id)"
    err.write(f"memskill mcp: {where} over stdio; default user {user}\n")
    err.flush()
    try:
        serve_stdio(memory, settings.mcp_user)
    except KeyboardInterrupt:
        pass
    finally:
        memory.close()
    return 0


def cmd_keys(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.server.keys import create_key
    from memskill.stores import open_store

    settings = _settings(args)
    store = open_store(settings)
    try:
        if args.action == "create":
            key, row = create_key(store, app_id=args.app_id, note=args.note or "")
            scope = f" for app {row.app_id!r}" if row.app_id else ""
            err.write(f"Created {row.id}{scope}. The key is shown only now; keep it safe:\n")
            out.write(key + "\n")
        elif args.action == "list":
            rows = store.list_api_keys()
            if not rows:
                err.write("no stored keys (`memskill keys create` makes one).\n")
            for row in rows:
                state = "revoked" if row.revoke_time else "active"
                out.write(f"{row.id}  {row.prefix}…  app={row.app_id or '*'}  {state}  {row.note}\n")
        else:
            if not args.key_id:
                raise CommandError("`keys revoke` needs the key's id or prefix (see `memskill keys list`).")
            if not store.revoke_api_key(args.key_id, int(time.time() * 1000)):
                raise CommandError(f"no active key {args.key_id!r} (see `memskill keys list`).")
            err.write(f"revoked {args.key_id}\n")
    finally:
        store.close()
    return 0
