"""`python -m memskill.testing`: serve a fake OpenAI-compatible endpoint in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from memskill.testing.fake_openai import FakeOpenAI


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fake OpenAI-compatible endpoint in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m memskill.testing",
        description="A fake OpenAI-compatible endpoint on 127.0.0.1 for tests (no network, no model).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--embedding-dim", type=int, default=64, help="length of embedding vectors")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every reply")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        api_key=args.api_key, embedding_dim=args.embedding_dim, delay_s=args.delay, port=args.port
    )
    # Stop on Ctrl-C and on SIGTERM whatever this process inherited: a shell that starts a command in
    # the background without job control (CI runners, `cmd &` in a script) sets SIGINT to "ignore",
    # and Python then never turns Ctrl-C into KeyboardInterrupt, so the server would never stop.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(fake.base_url, flush=True)
    print("Set MEMSKILL_LLM_BASE_URL to the URL above; Ctrl-C stops the server.", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
