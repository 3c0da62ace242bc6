"""What every `memskill` command shares: its error, the engine and settings it opens, how it prints."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from memskill.config import Settings


class CommandError(Exception):
    """A mistake in how a command was called: printed as one line saying what to do, exit code 2."""


def _explain(error: OSError | UnicodeDecodeError) -> str:
    """One line for an input the command could not read."""
    if isinstance(error, UnicodeDecodeError):
        return "the input is not UTF-8 text; save it as UTF-8 JSON."
    name = error.filename if error.filename is not None else "the input"
    if isinstance(error, FileNotFoundError):
        return f"no such file: {name}; check the path (or pass - to read standard input)."
    if isinstance(error, IsADirectoryError):
        return f"{name} is a folder; pass a JSON file (e.g. {Path(str(name)) / 'conversation.json'})."
    if isinstance(error, PermissionError):
        return f"cannot read {name}: permission denied."
    return f"{name}: {error.strerror or error}."


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(args.data_dir)


def _memory(args: argparse.Namespace, workers: int | None = None) -> Any:
    settings = _settings(args)
    if workers is not None:
        settings = replace(settings, workers=workers)
    return _memory_from(settings)


def _memory_from(settings: Settings) -> Any:
    from memskill.engine import Memory

    return Memory(settings=settings)


ADD_NOTICE_MESSAGES = 20
"""`memskill add` says what it is doing from this many messages on (they take a second or more)."""


def _print_json(data: object, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _progress(done: int, total: int, label: str, err: TextIO) -> None:
    """`label done/total` on one updating line on a terminal, every 10% elsewhere."""
    if total < 2:
        return
    if err.isatty():
        err.write(f"\r{label} {done}/{total}" + ("\n" if done == total else ""))
        err.flush()
    elif done == total or done % max(1, total // 10) == 0:
        err.write(f"{label} {done}/{total}\n")


# -- commands ---------------------------------------------------------------------------------------


def _redacted(url: str) -> str:
    """A database URL without its password, for logs."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, credentials = head.partition("//")
    return f"{scheme}//{credentials.split(':', 1)[0]}:***@{tail}"
