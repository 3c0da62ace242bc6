"""The `memskill` command line.

    memskill demo                                   the product scenario, offline, in under a minute
    memskill add --user U --conversation C [FILE]   store a conversation (JSON list of messages)
    memskill search QUERY --user U [--skills]       what an agent would receive
    memskill skills list|show|export|sync           the user's skills as SKILL.md
    memskill skills pending|approve|reject|retire|edit|rollback|history   review skills (lifecycle)
    memskill segment --jsonl                        conversations (one JSON list per line) → task chunks
    memskill cluster --jsonl [--k N]                texts (one JSON list per line) → cluster labels
    memskill status [TASK_ID]                       a background job's state; vectors left to re-embed
    memskill reembed                                rebuild vectors after the embedder changed
    memskill export --to FILE [--user U] [--with-keys]   the whole store as one archive file
    memskill import FILE                            an archive into the store (or MEMSKILL_DATABASE_URL)
    memskill serve [--host H] [--port P]            the MemOS-compatible HTTP API (and MCP at /mcp)
    memskill mcp [--user U]                         MCP over stdio, for a local agent
    memskill worker [--concurrency N]               process jobs from the shared queue (no HTTP)
    memskill keys create [--app-id A] | list | revoke KEY_ID
    memskill bench quality [--data DIR] [--json OUT] [--quick]   stages on public data sets
    memskill bench fetch [--to DIR] [--only NAMES]  download those data sets from their publishers
    memskill bench llm [--json OUT]                 prompt sizes and added latency against the fake model
    memskill bench crash [--kills N] [--json OUT]   kill -9 the server and worker under load, then check
    memskill bench perf [--memories N,…] [--database-url URL] [--json OUT]   latency at scale, the floor

Every command takes `--data-dir` (default `$MEMSKILL_HOME`, else `~/.memskill`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from memskill.bench.command import add_arguments as add_bench_arguments
from memskill.cli_common import (
    ADD_NOTICE_MESSAGES,
    CommandError,
    _explain,
    _memory,
    _print_json,
    _progress,
    _settings,
)
from memskill.cli_review import REVIEW_ACTIONS, add_review_arguments, review_action
from memskill.cli_serve import cmd_keys, cmd_mcp, cmd_serve, cmd_worker
from memskill.cli_store import cmd_export, cmd_import, cmd_reembed, cmd_status
from memskill.errors import MemskillError


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.demo import run_demo

    base = Path(args.data_dir).expanduser() if args.data_dir else _settings(args).data_dir
    return run_demo(base / "demo", out, err, _settings(args))


def _read_messages(path: str | None) -> Any:
    text = Path(path).read_text(encoding="utf-8") if path and path != "-" else sys.stdin.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"the input is not JSON ({error}); pass a JSON list of messages.") from None
    if isinstance(data, dict) and "messages" in data:
        data = data["messages"]
    return data


def cmd_add(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    messages = _read_messages(args.file)
    with _memory(args) as memory:
        if isinstance(messages, list) and len(messages) >= ADD_NOTICE_MESSAGES:
            err.write(f"adding {len(messages)} messages: segmenting, then extracting each task\n")
        memory.pipeline.progress = lambda what, done, total: _progress(done, total, what, err)
        reply = memory.add_message(
            user_id=args.user,
            conversation_id=args.conversation,
            messages=messages,
            agent_id=args.agent,
            app_id=args.app,
            tags=args.tag or [],
            async_mode=False,
        )
        _print_json({**reply, **memory.get_status(task_id=reply["task_id"])}, out)
    return 0


def cmd_search(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _memory(args, workers=0) as memory:
        data = memory.search_memory(
            query=args.query,
            user_id=args.user,
            agent_id=args.agent,
            app_id=args.app,
            include_skill=args.skills,
            include_tool_memory=args.tools,
            memory_limit_number=args.limit,
            relativity=args.relativity,
        )
    if args.json:
        _print_json(data, out)
    else:
        from memskill.demo import format_search

        out.write(format_search(data, tools=args.tools, skills=args.skills))
    return 0


def cmd_skills(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _memory(args, workers=0) as memory:
        if args.action == "list":
            skills = memory.get_skill(user_id=args.user)["skill_detail_list"]
            if args.json:
                _print_json(skills, out)
            for skill in [] if args.json else skills:
                value = skill["skill_value"]
                out.write(f"{skill['id']}  {value['name']}  v{skill['version']}  {value['description']}\n")
            if not skills and not args.json:
                err.write(f"no skills for user {args.user!r} yet\n")
        elif args.action in REVIEW_ACTIONS:
            return review_action(memory, args, out)
        elif args.action == "show":
            if not args.skill_id:
                raise CommandError("`skills show` needs a SKILL_ID (see `memskill skills list --user U`).")
            document = memory.skill_document(args.skill_id, args.version)
            from memskill.skillfile import render

            out.write(render(document))
        else:
            if not args.to:
                raise CommandError(f"`skills {args.action}` needs --to DIR (e.g. ~/.claude/skills).")
            done = memory.export_skills(
                args.user, args.to, args.prefix or "", args.force, sync=args.action == "sync"
            )
            for entry in done:
                reason = f"  ({entry.reason})" if entry.reason else ""
                out.write(f"{entry.action:9s} {entry.folder}{reason}\n")
            if not any(entry.action != "removed" for entry in done):
                err.write(f"user {args.user!r} has no skills: nothing to export\n")
                return 1
    return 0


def _jsonl(stream: TextIO, what: str) -> list[Any]:
    rows = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise CommandError(f"line {number} is not JSON ({error}); each line must be {what}.") from None
    return rows


def _embedder(args: argparse.Namespace) -> Any:
    from memskill.providers import make_embedder

    settings = _settings(args)
    return make_embedder(settings.embedder, settings.embed_endpoint)


def cmd_segment(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.config import Limits
    from memskill.ingest import normalise_messages
    from memskill.segment import segment

    if not args.jsonl:
        raise CommandError("pass --jsonl and one JSON list of messages per stdin line.")
    embedder = _embedder(args)
    rows = _jsonl(sys.stdin, "a JSON list of {role, content} messages")
    limits = Limits(max_messages_per_call=1_000_000, max_message_chars=10_000_000)
    for index, row in enumerate(rows, start=1):
        try:
            messages = normalise_messages(row, "segment", "cli", limits)
        except MemskillError as error:
            raise CommandError(f"line {index}: {error}") from None
        segments = segment(messages, embedder)
        out.write(
            json.dumps(
                [{"start": s.start, "end": s.end, "title": s.title} for s in segments], ensure_ascii=False
            )
            + "\n"
        )
        _progress(index, len(rows), "segmented", err)
    return 0


def cmd_cluster(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.kmeans import cluster_texts

    if not args.jsonl:
        raise CommandError("pass --jsonl and one JSON list of texts per stdin line.")
    embedder = _embedder(args)
    rows = _jsonl(sys.stdin, "a JSON list of strings")
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, list) or not all(isinstance(t, str) for t in row):
            raise CommandError(f"line {index} must be a JSON list of strings.")
        if args.k is not None and not 1 <= args.k <= max(1, len(row)):
            raise CommandError(f"line {index}: --k {args.k} is more than its {len(row)} texts.")
        labels = cluster_texts(row, embedder, k=args.k) if row else []
        out.write(json.dumps([int(label) for label in labels]) + "\n")
        _progress(index, len(rows), "clustered", err)
    return 0


def cmd_bench(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.bench.command import run

    return run(args, out, err, lambda label, done, total: _progress(done, total, label, err))


def cmd_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from memskill.tagger.train import command

    return command(args, out, err)


# -- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memskill", description="Memory and skills for AI agents.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where the database lives (default $MEMSKILL_HOME or ~/.memskill)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("demo", parents=[common], help="run the travel-planning scenario offline")

    add = commands.add_parser("add", parents=[common], help="store a conversation and extract from it")
    add.add_argument("file", nargs="?", help="JSON file with a list of messages (default: stdin)")
    add.add_argument("--user", required=True)
    add.add_argument("--conversation", required=True)
    add.add_argument("--agent")
    add.add_argument("--app")
    add.add_argument("--tag", action="append")

    search = commands.add_parser("search", parents=[common], help="search a user's memories and skills")
    search.add_argument("query")
    search.add_argument("--user", required=True)
    search.add_argument("--agent")
    search.add_argument("--app")
    search.add_argument("--skills", action="store_true", help="include skills")
    search.add_argument("--tools", action="store_true", help="include tool memories")
    search.add_argument("--limit", type=int, default=9)
    search.add_argument("--relativity", type=float, default=0.45, help="relevance floor in [0, 1]")
    search.add_argument("--json", action="store_true", help="print the raw reply")

    skills = commands.add_parser("skills", parents=[common], help="list, show or export skills")
    skills.add_argument("action", choices=["list", "show", "export", "sync", *REVIEW_ACTIONS])
    skills.add_argument("skill_id", nargs="?")
    skills.add_argument("--user")
    skills.add_argument("--version", type=int)
    skills.add_argument("--to", help="export target, e.g. ~/.claude/skills or .agents/skills")
    skills.add_argument("--prefix", help="export/sync: name the folders <prefix>-<skill name> (one per user)")
    skills.add_argument(
        "--force", action="store_true", help="export/sync: replace folders memskill did not write"
    )
    skills.add_argument("--json", action="store_true")
    add_review_arguments(skills)

    status = commands.add_parser("status", parents=[common], help="a job's status; vectors to re-embed")
    status.add_argument("task_id", nargs="?", help="a task_id from add (omit for the store's state)")

    commands.add_parser("reembed", parents=[common], help="rebuild vectors after the embedder changed")

    export = commands.add_parser(
        "export",
        parents=[common],
        help="write the whole store to one archive file (to move it, e.g. from SQLite to PostgreSQL)",
        description="Write messages, jobs, memories, task clusters and records, and skills with every "
        "version to one archive file (docs/archive.md). API keys are secrets: they are left out unless "
        "--with-keys is given. Not `memskill skills export`, which writes SKILL.md folders for an agent.",
    )
    export.add_argument("--to", metavar="FILE", help="the archive file to write, e.g. memskill-store.zip")
    export.add_argument("--user", help="only this user's records")
    export.add_argument(
        "--with-keys",
        action="store_true",
        help="also write the API keys (their hashes: the server's keys then work on the target too); "
        "keep such an archive private",
    )

    importer = commands.add_parser(
        "import",
        parents=[common],
        help="import an archive into this store; MEMSKILL_DATABASE_URL selects PostgreSQL",
        description="Import an archive made by `memskill export` into the configured store (the SQLite "
        "file in the data directory, or PostgreSQL with MEMSKILL_DATABASE_URL). Records the store already "
        "holds are skipped, so importing twice changes nothing; vectors made by another embedder than "
        "the configured one are rebuilt.",
    )
    importer.add_argument("file", nargs="?", help="the archive, as written by `memskill export --to FILE`")

    seg = commands.add_parser("segment", parents=[common], help="split conversations into task chunks")
    seg.add_argument("--jsonl", action="store_true", help="read one JSON list of messages per line")

    clu = commands.add_parser("cluster", parents=[common], help="group texts into clusters")
    clu.add_argument("--jsonl", action="store_true", help="read one JSON list of texts per line")
    clu.add_argument("--k", type=int, help="number of clusters (default: chosen automatically)")

    serve = commands.add_parser("serve", parents=[common], help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help="pipeline worker threads (default 1; 0 = none)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )

    mcp = commands.add_parser("mcp", parents=[common], help="serve MCP over stdio for a local agent")
    mcp.add_argument("--user", help="the default user_id of calls that name none (or MEMSKILL_MCP_USER)")

    worker = commands.add_parser("worker", parents=[common], help="process jobs from the shared queue")
    worker.add_argument("--concurrency", type=int, default=2, help="worker threads (default 2)")
    worker.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )

    bench = commands.add_parser("bench", parents=[common], help="measure quality on public data sets")
    add_bench_arguments(bench)

    trainer = commands.add_parser(
        "train", parents=[common], help="rebuild a shipped model from its training data"
    )
    trainer.add_argument("model", choices=["tagger"])
    trainer.add_argument("--corpus", help="the turn corpus folder (default: the repository's corpus/)")
    trainer.add_argument("--data", default="../shared/data", help="folder holding the public data sets")
    trainer.add_argument("--out", help="where to write the weights (default: the package's weights.npz)")
    trainer.add_argument("--seed", type=int, default=20261206)
    trainer.add_argument(
        "--only", choices=["clause"], help="retrain this model alone; keep the others of the --out weights"
    )
    trainer.add_argument(
        "--hold-out-dev", action="store_true", help="train without the dev kinds and score them (for tuning)"
    )

    keys = commands.add_parser("keys", parents=[common], help="create, list or revoke API keys")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", nargs="?", help="for revoke: the key's id or prefix")
    keys.add_argument("--app-id", help="bind the new key to one app_id")
    keys.add_argument("--note", help="a note to recognise the key by")
    return parser


COMMANDS = {
    "demo": cmd_demo,
    "add": cmd_add,
    "search": cmd_search,
    "skills": cmd_skills,
    "status": cmd_status,
    "reembed": cmd_reembed,
    "export": cmd_export,
    "import": cmd_import,
    "segment": cmd_segment,
    "cluster": cmd_cluster,
    "serve": cmd_serve,
    "mcp": cmd_mcp,
    "worker": cmd_worker,
    "keys": cmd_keys,
    "bench": cmd_bench,
    "train": cmd_train,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    err = err or sys.stderr
    if args.command == "skills" and args.action in ("list", "export", "sync") and not args.user:
        parser.error(f"`skills {args.action}` needs --user")
    started = time.monotonic()
    try:
        return COMMANDS[args.command](args, out, err)
    except (MemskillError, CommandError) as error:
        err.write(f"error: {error}\n")
        return 2
    except (OSError, UnicodeDecodeError) as error:
        err.write(f"error: {_explain(error)}\n")
        return 2
    finally:
        if args.command == "demo":
            err.write(f"done in {time.monotonic() - started:.1f} s\n")


if __name__ == "__main__":
    raise SystemExit(main())
