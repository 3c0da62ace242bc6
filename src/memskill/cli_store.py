"""`memskill status | reembed | export | import`: the store as a whole (jobs, vectors, archive)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from memskill.cli_common import CommandError, _memory, _print_json, _progress, _redacted, _settings
from memskill.config import Settings
from memskill.errors import MemskillError


def _stale_vectors(memory: Any) -> dict[str, int]:
    """Stored vectors another embedder made, per table (by embedder id alone if the endpoint is down)."""
    from memskill.reembed import stale_counts

    try:
        dim: int | None = memory.embedder.dim
    except MemskillError:
        dim = None
    return stale_counts(memory.store, memory.embedder.id, dim)


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _memory(args, workers=0) as memory:
        if args.task_id is not None:
            _print_json(memory.get_status(task_id=args.task_id), out)
        stale = _stale_vectors(memory)
        if args.task_id is None:
            llm = memory.settings.llm
            by_user = {user: memory.token_usage(user) for user in memory.users()}
            _print_json(
                {
                    "embedder": memory.embedder.id,
                    "stale_vectors": stale,
                    "llm": f"{llm.model} at {llm.base_url}" if llm else None,
                    "tokens": memory.token_usage(),
                    "tokens_by_user": {user: usage for user, usage in by_user.items() if usage["calls"]},
                },
                out,
            )
        if sum(stale.values()):
            counts = ", ".join(f"{count} {table}" for table, count in stale.items() if count)
            err.write(
                f"{counts} have vectors of another embedder than {memory.embedder.id}: vector search skips "
                "them until `memskill reembed` (or a running `memskill serve`) rebuilds them.\n"
            )
    return 0


def cmd_reembed(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.reembed import reembed

    with _memory(args, workers=0) as memory:
        counts = reembed(
            memory.store,
            memory.embedder,
            progress=lambda done, total: _progress(done, total, "re-embedded", err),
        )
        _print_json({"embedder": memory.embedder.id, "reembedded": counts}, out)
    return 0


def _store_name(settings: Settings) -> str:
    """The configured store, for a summary: the database URL without its password, or the SQLite file."""
    if settings.database_url:
        return _redacted(settings.database_url)
    return str(Path(settings.data_dir).expanduser() / "memskill.db")


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the configured store to one archive file (docs/archive.md); API keys only with --with-keys."""
    from memskill.archive import export_archive
    from memskill.stores import open_store

    if not args.to:
        raise CommandError("`export` needs --to FILE, the archive to write (e.g. --to memskill-store.zip).")
    settings = _settings(args)
    store = open_store(settings)
    try:
        manifest = export_archive(
            store,
            args.to,
            user_id=args.user,
            with_keys=args.with_keys,
            progress=lambda what, done, total: _progress(done, total, what, err),
        )
    finally:
        store.close()
    summary = {key: manifest[key] for key in ("format_version", "user_id", "keys_included", "embedder")}
    _print_json(
        {
            "archive": str(Path(args.to).expanduser()),
            "store": _store_name(settings),
            **summary,
            "counts": manifest["counts"],
        },
        out,
    )
    return 0


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Import an archive into the configured store, then rebuild vectors another embedder made."""
    from memskill.archive import import_archive
    from memskill.providers import make_embedder
    from memskill.stores import open_store

    if not args.file:
        raise CommandError("`import` needs the archive FILE, as written by `memskill export --to FILE`.")
    if not Path(args.file).expanduser().is_file():
        raise CommandError(f"no such file: {args.file}; give the archive `memskill export --to FILE` wrote.")
    settings = _settings(args)
    embedder = make_embedder(settings.embedder, settings.embed_endpoint)
    store = open_store(settings)
    try:
        report = import_archive(
            store,
            args.file,
            embedder=embedder,
            progress=lambda what, done, total: _progress(done, total, what, err),
        )
    finally:
        store.close()
    _print_json(
        {
            "archive": str(Path(args.file).expanduser()),
            "store": _store_name(settings),
            "format_version": report.manifest["format_version"],
            "archive_embedder": report.manifest.get("embedder"),
            "embedder": embedder.id,
            "added": report.added,
            "skipped": report.skipped,
            "reembedded": report.reembedded,
        },
        out,
    )
    if report.reembed_error:
        err.write(
            f"imported, but rebuilding the vectors with {embedder.id} failed ({report.reembed_error}); "
            "vector search skips them until `memskill reembed` (or a running `memskill serve`) does it.\n"
        )
        return 1
    return 0
