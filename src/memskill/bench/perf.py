"""`memskill bench perf`: latency and throughput of the embedded default, beside the floor (DESIGN §7).

One run, on this machine, with the chosen embedder (the offline one by default) and SQLite stores in a
work folder:

- add/message (async): the acknowledgement path in process (no workers), then over HTTP to a real
  `memskill serve` on loopback, without a worker and with one worker busy extracting. The server sends
  no timing header, so HTTP numbers are client wall time on loopback over a kept-alive connection;
  requests/s over HTTP comes from four clients at once.
- search/memory with skills, preferences and tool memories for one user holding N memories (and 100
  skills), in process at each N and over HTTP at the largest. Beside it, at each N: the floor — one
  query embedding, a numpy exact scan of the user's N×dim float32 matrix (`matrix @ q` + argpartition)
  and one FTS5 query, with no framework — and a BM25-only baseline (the store's keyword search alone);
  and a search right after a write (the user's vectors are reloaded).
- extraction: 20-message conversations per second through the whole pipeline on one thread
  (`async_mode=False` adds into a fresh store, BLAS and the embedder limited to one thread), with and
  without the time spent embedding.
- cold start of `memskill serve` (process start → /healthz 200 → first search answered), the server's
  resident memory after the large search run, and the install size of a fresh `pip install .`.

The user, its options and its requests are `memskill.bench.perf_workload`'s; with `--peer mem0` the same
memories and queries also go through a peer system at each size (`memskill.bench.peer`); the report and
its targets are `memskill.bench.perf_report`'s; the measurements that need a real server are
`memskill.bench.perf_http`'s.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from memskill.bench import paraphrase, peer
from memskill.bench.perf_http import (
    elapsed_ms,
    measure_add_http,
    measure_cold_start,
    measure_install_size,
    measure_search_http,
    summary,
)
from memskill.bench.perf_report import format_report, headline, targets, write_json
from memskill.bench.perf_workload import (
    EMBED_BATCH,
    QUICK,
    USER,
    WARM_UP,
    Log,
    Options,
    TimedEmbedder,
    UserBuilder,
    add_turns,
    embedder_for,
    search_request,
    settings_for,
)
from memskill.bench.synthetic import conversation, query_stream
from memskill.engine import Memory
from memskill.models import Scope
from memskill.providers import make_embedder
from memskill.providers.embedders import Embedder
from memskill.stores.rows import owner_token
from memskill.text import match_query
from memskill.version import __version__

__all__ = ["QUICK", "USER", "Options", "UserBuilder", "options_from_cli", "run_perf", "summary"]


# -- extraction and add/message in process ------------------------------------------------------------


def measure_extraction(options: Options, folder: Path) -> dict[str, Any]:
    """Whole conversations through the pipeline (`async_mode=False`), one thread, fresh store."""
    from threadpoolctl import threadpool_limits

    timed = TimedEmbedder(embedder_for(options.embedder, threads=1))
    with (
        threadpool_limits(limits=1),
        Memory(settings=settings_for(folder, options), embedder=timed, start_workers=False) as memory,
    ):
        for language in ("zh", "en"):
            warm = conversation(options.seed + 1, 0, language=language)
            memory.add_message(
                user_id="warm-up", conversation_id=warm.id, messages=warm.messages, async_mode=False
            )
        timed.seconds = 0.0
        samples, failed = [], 0
        started = time.perf_counter()
        for index in range(options.conversations):
            conv = conversation(options.seed, 50_000 + index)
            begun = time.perf_counter()
            reply = memory.add_message(
                user_id="extract-user", conversation_id=conv.id, messages=conv.messages, async_mode=False
            )
            samples.append(elapsed_ms(begun))
            failed += reply["status"] != "completed"
        seconds = time.perf_counter() - started
    rest = max(seconds - timed.seconds, 1e-9)
    return {
        "conversations": options.conversations,
        "messages_per_conversation": len(warm.messages),
        "failed": failed,
        "seconds": round(seconds, 3),
        "conversations_per_s": round(options.conversations / seconds, 3),
        "embedding_seconds": round(timed.seconds, 3),
        "embedding_share": round(timed.seconds / seconds, 3),
        "conversations_per_s_without_embedding": round(options.conversations / rest, 3),
        "per_conversation": summary(samples),
        "threads": 1,
    }


def measure_add_in_process(options: Options, folder: Path) -> dict[str, Any]:
    """`Memory.add_message` with no workers: what storing and acknowledging a turn costs."""
    with Memory(settings=settings_for(folder, options), start_workers=False) as memory:
        samples = []
        started = 0.0
        for number, (conversation_id, turn) in enumerate(add_turns(options.seed + 2, WARM_UP + options.adds)):
            if number == WARM_UP:
                started = time.perf_counter()
            begun = time.perf_counter()
            memory.add_message(user_id="add-user", conversation_id=conversation_id, messages=turn)
            if number >= WARM_UP:
                samples.append(elapsed_ms(begun))
        seconds = time.perf_counter() - started
    return {**summary(samples), "requests_per_s": round(options.adds / seconds, 1)}


# -- building the user ---------------------------------------------------------------------------------


# -- search in process, the floor, BM25 -------------------------------------------------------------------


def measure_search(memory: Memory, texts: Sequence[str]) -> dict[str, Any]:
    samples, found = [], 0
    for text in texts:
        started = time.perf_counter()
        data = memory.search_memory(**search_request(text))
        samples.append(elapsed_ms(started))
        found += len(data["memory_detail_list"]) + len(data["skill_detail_list"])
    return {**summary(samples), "hits_per_search": round(found / max(1, len(texts)), 2)}


def user_matrix(path: Path, dim: int) -> np.ndarray:
    """Every activated vector of the user, as one N×dim float32 matrix."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT vector FROM items WHERE user_id = ? AND status = 'activated' AND vector IS NOT NULL",
            (USER,),
        ).fetchall()
    blobs = [row[0] for row in rows if len(row[0]) == dim * 4]
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


def measure_floor(path: Path, embedder: Embedder, texts: Sequence[str], top: int = 50) -> dict[str, Any]:
    """One embedding + exact numpy scan + one FTS5 query per search, nothing else; with each part's p50."""
    matrix = user_matrix(path, embedder.dim)
    owner = owner_token(USER)
    samples: list[float] = []
    parts: dict[str, list[float]] = {"embed": [], "scan": [], "fts": []}
    with closing(sqlite3.connect(path)) as db:
        for text in texts:
            started = time.perf_counter()
            vector = embedder.embed([text])[0]
            parts["embed"].append(elapsed_ms(started))
            scanned = time.perf_counter()
            scores = matrix @ vector
            count = min(top, len(scores))
            best = np.argpartition(-scores, count - 1)[:count]
            best = best[np.argsort(-scores[best])]
            parts["scan"].append(elapsed_ms(scanned))
            keyword = time.perf_counter()
            match = match_query(text)
            if match:
                db.execute(
                    "SELECT rowid, bm25(items_fts) FROM items_fts WHERE items_fts MATCH ? "
                    "ORDER BY bm25(items_fts) LIMIT ?",
                    (f"{owner} AND ({match})", top),
                ).fetchall()
            parts["fts"].append(elapsed_ms(keyword))
            samples.append(elapsed_ms(started))
    medians = {f"{name}_p50_ms": summary(values).get("p50_ms", 0.0) for name, values in parts.items()}
    return {**summary(samples), **medians, "rows": int(matrix.shape[0])}


def measure_query_embedding(name: str, texts: Sequence[str]) -> dict[str, Any]:
    """One query's embedding with the offline embedder on one thread and on two (the engine's default)."""
    out: dict[str, Any] = {}
    half = len(texts) // 2
    for threads, share in ((1, texts[:half]), (2, texts[half:])):
        embedder = embedder_for(name, threads)
        embedder.embed(["warm up 预热"])
        samples = []
        for text in share:
            started = time.perf_counter()
            embedder.embed([text])
            samples.append(elapsed_ms(started))
        out[f"threads_{threads}"] = summary(samples)
    return out


def measure_bm25(memory: Memory, texts: Sequence[str], top: int = 50) -> dict[str, Any]:
    """The store's keyword search alone (query tokenised, one FTS5 query joined to the items)."""
    samples = []
    for text in texts:
        started = time.perf_counter()
        match = match_query(text)
        if match:
            memory.store.keyword_search(Scope(USER), "items", "fact", match, top)
        samples.append(elapsed_ms(started))
    return summary(samples)


def measure_after_write(
    memory: Memory, builder: UserBuilder, embedder: Embedder, texts: Sequence[str]
) -> dict[str, Any]:
    """A search right after one memory was written (the user's cached matrices are stale)."""
    samples = []
    for text in texts:
        builder.write_one(embedder)
        started = time.perf_counter()
        memory.search_memory(**search_request(text))
        samples.append(elapsed_ms(started))
    return summary(samples)


# -- the run ----------------------------------------------------------------------------------------------


def run_perf(
    options: Options | None = None, workdir: Path | None = None, log: TextIO | None = None
) -> dict[str, Any]:
    """Measure everything `options` asks for (default: `Options()`); returns the JSON report (its `table`
    is the printed text)."""
    options = options or Options()
    say = Log(log)
    sizes = tuple(sorted(set(options.sizes)))
    if not sizes or sizes[0] < 1:
        raise ValueError("sizes must be positive numbers of memories")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="memskill-perf-"))
    base.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "version": __version__,
        "embedder": options.embedder,
        "options": {k: v for k, v in vars(options).items()},
        "machine": _machine(),
    }
    stream = query_stream(options.seed)
    if options.peer:
        reason = peer.missing(options.peer)
        if reason is not None:
            say(f"peer skipped: {reason}")
            report["peer_skipped"] = reason
            options = replace(options, peer=None)

    def take(count: int) -> list[str]:
        """The next `count` queries: no text is searched twice in a run."""
        return list(islice(stream, count))

    try:
        say("extraction: whole conversations through the pipeline on one thread…")
        report["extraction"] = measure_extraction(options, base / "extract")
        say("add/message in process…")
        report["add"] = {"in_process": measure_add_in_process(options, base / "add-in-process")}
        if options.embedder == "offline":
            say("one query's embedding, one thread and two…")
            texts = take(2 * options.queries)
            report["query_embedding"] = measure_query_embedding(options.embedder, texts)
        report.update(_measure_user(options, sizes, base, say, take))
        if options.database_url:
            say("the same user on PostgreSQL…")
            report["postgres"] = _measure_user(options, sizes, base, say, take, options.database_url)
        if options.http:
            for workers in (0, 1):
                say(f"add/message over HTTP, {workers} worker(s)…")
                turns_sent = add_turns(options.seed + 3 + workers, 2 * (WARM_UP + options.adds))
                bodies = [
                    {"user_id": "add-user", "conversation_id": conversation_id, "messages": turn}
                    for conversation_id, turn in turns_sent
                ]
                report["add"][f"http_workers_{workers}"] = measure_add_http(
                    base / f"add-http-{workers}", options.embedder, workers, bodies, WARM_UP
                )
            say(f"search/memory over HTTP at {sizes[-1]} memories…")
            texts = take(WARM_UP + options.queries)
            bodies = [search_request(text) for text in texts]
            report["search_http"] = {
                "memories": sizes[-1],
                **measure_search_http(base / "user", options.embedder, bodies, WARM_UP),
            }
        if options.cold_start:
            say("cold start of memskill serve (empty store, then the large user)…")
            body = search_request(take(1)[0])
            report["cold_start"] = {
                "empty": measure_cold_start(base / "cold-empty", options.embedder, body),
                f"user_{sizes[-1]}": measure_cold_start(base / "user", options.embedder, body),
            }
        if options.install_size:
            report["install"] = measure_install_size(base / "install", say)
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report.update(headline(report, sizes))
    report["targets"] = targets(report, sizes)
    report["table"] = format_report(report)
    return report


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
    }


def _measure_user(
    options: Options,
    sizes: Sequence[int],
    base: Path,
    say: Log,
    take: Callable[[int], list[str]],
    database_url: str | None = None,
) -> dict[str, Any]:
    """Build the user step by step and measure search at each size.

    The pipeline and the bulk inserts use their own embedder (one thread); searches use a second engine
    on the same store with the embedder `memskill serve` would make, so they pay for what a server pays.
    With `database_url` the store is that PostgreSQL database, and the floor (defined over the SQLite
    file: numpy scan + FTS5) is not measured."""
    folder = base / ("user-postgres" if database_url else "user")
    bulk = embedder_for(options.embedder, threads=1)
    query_embedder = make_embedder(options.embedder)
    per_size: dict[str, Any] = {}
    settings = settings_for(folder, options, database_url)
    with (
        Memory(settings=settings, embedder=bulk, start_workers=False) as writer,
        Memory(settings=settings, embedder=query_embedder, start_workers=False) as searcher,
    ):
        builder = UserBuilder(writer, options, say)
        say(f"skills: adding conversations through the pipeline until the user has {options.skills}…")
        skills = builder.add_skills()
        owner: dict[str, str] | None = None
        peer_run = None
        if options.peer and database_url is None:
            peer_run = peer.PeerRun(
                options.peer, base / "peer", lambda: make_embedder(options.embedder), USER, say
            )
        for size in sizes:
            say(f"memories: growing the user to {size}…")
            builder.grow(size, bulk)
            held = builder.count
            count = options.queries
            texts = take(WARM_UP + 2 * count + options.after_write)
            measured = texts[WARM_UP : WARM_UP + count]
            floor_texts = texts[WARM_UP + count : WARM_UP + 2 * count]
            say(f"search at {size} memories: {count} queries in process, the floor, BM25, after a write…")
            for text in texts[:WARM_UP]:
                searcher.search_memory(**search_request(text))
            search = measure_search(searcher, measured)
            row: dict[str, Any] = {"memories": held, "search": search}
            if database_url is None:
                row["floor"] = measure_floor(folder / "memskill.db", query_embedder, floor_texts)
                row["search_over_floor"] = round(search["p50_ms"] / row["floor"]["p50_ms"], 2)
            row["bm25"] = measure_bm25(searcher, floor_texts)
            row["after_write"] = measure_after_write(searcher, builder, bulk, texts[WARM_UP + 2 * count :])
            if owner is None:
                say("paraphrase workload: planting its memories through the pipeline…")
                owner = paraphrase.plant(writer, USER, paraphrase.load()[0])
            say(f"paraphrase workload at {size} memories: questions at the default floor…")
            row["paraphrase"] = paraphrase.measure_splits(searcher, USER, owner)
            if peer_run is not None:
                row["peer"] = peer_run.measure_at(builder.written[:held], measured, texts[:WARM_UP])
            per_size[str(size)] = row
    stats = builder.stats
    return {
        "sizes": per_size,
        "build": {
            **skills,
            "memories": builder.count,
            "embedded_texts": int(stats["embedded_texts"]),
            "embedding_s": round(stats["embedding_s"], 1),
            "embedded_texts_per_s": round(stats["embedded_texts"] / max(stats["embedding_s"], 1e-9), 1),
            "inserting_s": round(stats["inserting_s"], 1),
            "messages": int(stats["messages"]),
            "messages_s": round(stats["messages_s"], 1),
            "how": (
                "skills from the pipeline; every memory inserted through Store.insert_item with its own "
                f"vector (embedded in batches of {EMBED_BATCH} by the same embedder on one thread); the "
                "memories' conversations stored as messages of completed jobs"
            ),
        },
    }


def options_from_cli(args: Any) -> Options:
    """`Options` from the `memskill bench perf` flags (`--quick` wins over `--memories`)."""
    peer_name = getattr(args, "peer", None)
    if args.quick:
        return replace(QUICK, peer=peer_name)
    chosen: dict[str, Any] = {
        "install_size": not args.skip_install_size,
        "database_url": getattr(args, "database_url", None),
        "peer": peer_name,
    }
    if args.memories is None:
        return Options(**chosen)
    try:
        sizes = tuple(int(part.replace("_", "")) for part in str(args.memories).split(",") if part.strip())
    except ValueError:
        raise SystemExit(
            f"error: --memories must be numbers separated by commas, not {args.memories!r}."
        ) from None
    if not sizes or min(sizes) < 1:
        raise SystemExit("error: --memories needs at least one positive number, e.g. 1000,10000,100000.")
    return Options(sizes=sizes, **chosen)


def run_from_cli(args: Any, out: TextIO, err: TextIO) -> int:
    options = options_from_cli(args)
    workdir = Path(args.workdir).expanduser() if getattr(args, "workdir", None) else None
    report = run_perf(options, workdir, err)
    out.write(report["table"] + "\n")
    if args.json:
        write_json(report, Path(args.json))
        err.write(f"raw results written to {args.json}\n")
    return 0
