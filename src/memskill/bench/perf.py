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

How the user is built (`memskill.bench.synthetic` makes the conversations): skills come from the real
pipeline, conversations added with `async_mode=False` until the user has the wanted number of skills
(extra ones are deleted, newest first). The memories are then inserted through `Store.insert_item`, as
the pipeline would store them (episode facts, preferences linked to the user's clusters, tool lessons),
every vector embedded for real in batches; the conversations they come from are stored as messages of
completed jobs, so keyword search over messages also has the user's full history. Queries are new
requests of the same kinds, half Chinese, half English, each used once (no embedder cache hits).
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from memskill import __version__
from memskill.bench import paraphrase
from memskill.bench.perf_http import (
    elapsed_ms,
    measure_add_http,
    measure_cold_start,
    measure_install_size,
    measure_search_http,
    summary,
)
from memskill.bench.perf_report import format_report, headline, targets, write_json
from memskill.bench.synthetic import (
    FAMILY_NAMES,
    Conversation,
    conversation,
    item_vector_text,
    memory_items,
    query_stream,
)
from memskill.config import Limits, Settings
from memskill.demo import turns
from memskill.engine import Memory, make_embedder
from memskill.ingest import normalise_messages
from memskill.models import Job, MemoryItem, Scope, Skill
from memskill.providers.embedders import Embedder, OfflineEmbedder
from memskill.skillfile import parse, render
from memskill.stores.rows import owner_token
from memskill.text import match_query

USER = "perf-user"
WARM_UP = 10
EMBED_BATCH = 256
HTTP_CLIENTS = 4
API = "/api/openmem/v1"
FULL_SIZES = (1_000, 10_000, 100_000)


@dataclass(frozen=True)
class Options:
    """What one run measures and how much."""

    sizes: tuple[int, ...] = FULL_SIZES
    """Memories of the user at each measured step (ascending)."""
    queries: int = 100
    """Searches per measurement, after `WARM_UP` unmeasured ones."""
    skills: int = 100
    skill_conversations: int = 0
    """Most conversations sent through the pipeline to make skills (0 = three per wanted skill)."""
    adds: int = 300
    """add/message calls per measurement."""
    conversations: int = 40
    """Conversations for the extraction throughput."""
    after_write: int = 10
    """Searches measured right after a write, per size."""
    embedder: str = "offline"
    """`offline` or `hashing` (a test's choice); the HTTP servers are started with the same."""
    http: bool = True
    cold_start: bool = True
    install_size: bool = True
    seed: int = 7
    database_url: str | None = None
    """An empty PostgreSQL database: the same user is built there too and searched at each size."""


QUICK = Options(
    sizes=(1_000,),
    queries=20,
    skills=20,
    adds=30,
    conversations=5,
    after_write=3,
    cold_start=False,
    install_size=False,
)


class _Log:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(f"[perf {time.monotonic() - self.started:6.0f} s] {text}\n")
            self.stream.flush()


def _embedder(name: str, threads: int) -> Embedder:
    return OfflineEmbedder(threads=threads) if name == "offline" else make_embedder(name)


class TimedEmbedder:
    """Wraps an embedder and adds up the time its `embed` calls take."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started


def _settings(folder: Path, options: Options, database_url: str | None = None) -> Settings:
    return Settings(data_dir=folder, workers=0, embedder=options.embedder, database_url=database_url)


# -- extraction and add/message in process ------------------------------------------------------------


def measure_extraction(options: Options, folder: Path) -> dict[str, Any]:
    """Whole conversations through the pipeline (`async_mode=False`), one thread, fresh store."""
    from threadpoolctl import threadpool_limits

    timed = TimedEmbedder(_embedder(options.embedder, threads=1))
    with (
        threadpool_limits(limits=1),
        Memory(settings=_settings(folder, options), embedder=timed, start_workers=False) as memory,
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


def add_turns(seed: int, count: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """`count` (conversation id, turn) pairs: the turns of generated conversations, in order, the
    conversations alternately Chinese and English (the first Chinese, so that a warm-up of one
    conversation's turns has loaded the Chinese tokeniser)."""
    produced, index = 0, 0
    while True:
        conv = conversation(seed, index, language="zh" if index % 2 == 0 else "en")
        index += 1
        for turn in turns(conv.messages):
            if produced == count:
                return
            produced += 1
            yield conv.id, turn


def measure_add_in_process(options: Options, folder: Path) -> dict[str, Any]:
    """`Memory.add_message` with no workers: what storing and acknowledging a turn costs."""
    with Memory(settings=_settings(folder, options), start_workers=False) as memory:
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


class UserBuilder:
    """Grows one user's store: skills through the pipeline, then memories straight through the store."""

    def __init__(self, memory: Memory, options: Options, log: Callable[[str], None]) -> None:
        self.memory = memory
        self.store = memory.store
        self.options = options
        self.log = log
        self.scope = Scope(USER)
        self.limits = Limits(max_messages_per_call=1000)
        self.next_conversation = 1_000_000
        self.clusters: dict[str, list[str]] = {}
        self.count = 0
        self.stats: dict[str, float] = {
            "embedded_texts": 0,
            "embedding_s": 0.0,
            "inserting_s": 0.0,
            "messages": 0,
            "messages_s": 0.0,
        }

    def add_skills(self) -> dict[str, Any]:
        """Add generated conversations through the pipeline until the user has the wanted skills.

        New kinds of task grow rare after a few hundred conversations; past `skill_conversations` (three
        per wanted skill) the rest are copies of the pipeline's skills under new names, saved through the
        store with their cluster, vector and a re-rendered SKILL.md (counted as `copied_skills`)."""
        target = self.options.skills
        started = time.perf_counter()
        family_of: dict[str, str] = {}
        index = 0
        most = self.options.skill_conversations or 3 * target
        while len(self.store.list_skills(self.scope)) < target and index < most:
            conv = conversation(self.options.seed, index, family=FAMILY_NAMES[index % len(FAMILY_NAMES)])
            self.memory.add_message(
                user_id=USER, conversation_id=conv.id, messages=conv.messages, async_mode=False
            )
            family_of[conv.id] = conv.family
            index += 1
            if index % 25 == 0:
                self.log(
                    f"skills: {len(self.store.list_skills(self.scope))}/{target} after {index} conversations"
                )
        skills = sorted(self.store.list_skills(self.scope), key=lambda s: s.create_time)
        for extra in skills[target:]:
            self.memory.delete_skill(skill_id=extra.id)
        made = skills[:target]
        copied = 0
        while made and len(made) + copied < target:
            self._copy_skill(made[copied % len(made)], copied)
            copied += 1
        with_skill = {s.cluster_id for s in self.store.list_skills(self.scope)}
        for conversation_id, family in family_of.items():
            record = self.store.latest_task_record(USER, conversation_id)
            if record is not None and record.cluster_id in with_skill:
                linked = self.clusters.setdefault(family, [])
                if record.cluster_id not in linked:
                    linked.append(record.cluster_id)
        self.count = len(self.store.list_items(self.scope, ["fact", "preference", "tool"]))
        return {
            "skills": len(self.store.list_skills(self.scope)),
            "copied_skills": copied,
            "pipeline_conversations": index,
            "pipeline_items": self.count,
            "pipeline_s": round(time.perf_counter() - started, 1),
        }

    def _copy_skill(self, skill: Skill, number: int) -> None:
        taken = {s.current.name for s in self.store.list_skills(self.scope)}
        stem = skill.current.name[:56]
        name = next(f"{stem}-{n}" for n in range(2, 10_000) if f"{stem}-{n}" not in taken)
        skill_id, cluster_id = f"skill_perf_copy_{number}", f"clu_perf_copy_{number}"
        document = parse(skill.current.markdown)
        markdown = render(replace(document, name=name, metadata={**document.metadata, "skill_id": skill_id}))
        version = replace(skill.current, skill_id=skill_id, name=name, markdown=markdown)
        cluster = next(c for c in self.store.list_clusters(self.scope) if c.id == skill.cluster_id)
        self.store.save_cluster(replace(cluster, id=cluster_id, skill_id=skill_id))
        embedder = self.memory.embedder
        vector = self.store.vectors_of("skills", [skill.id], embedder.dim)[skill.id]
        search_text = " ".join(
            [
                name.replace("-", " "),
                version.description,
                *(item.text for item in version.items if item.section in ("procedure", "preference")),
            ]
        )
        copy = replace(skill, id=skill_id, cluster_id=cluster_id, current=version)
        self.store.save_skill(copy, search_text, vector, embedder.id)

    def grow(self, target: int, embedder: Embedder) -> None:
        """Insert memories (and their conversations' messages) until the user holds `target`."""
        while self.count < target:
            batch: list[MemoryItem] = []
            texts: list[str] = []
            conversations: list[Conversation] = []
            while len(batch) < EMBED_BATCH and self.count + len(batch) < target:
                index = self.next_conversation
                self.next_conversation += 1
                conv = conversation(self.options.seed, index)
                items = memory_items(
                    conv, USER, self.clusters, preferences=1 if index % 3 == 0 else 0, tool=index % 2 == 0
                )
                items = items[: target - self.count - len(batch)]
                batch += items
                texts += [item_vector_text(item, conv.title) for item in items]
                conversations.append(conv)
            started = time.perf_counter()
            vectors = embedder.embed(texts)
            self.stats["embedding_s"] += time.perf_counter() - started
            self.stats["embedded_texts"] += len(texts)
            started = time.perf_counter()
            with self.store.transaction():
                for item, vector in zip(batch, vectors):
                    self.store.insert_item(item, vector, embedder.id)
            self.stats["inserting_s"] += time.perf_counter() - started
            started = time.perf_counter()
            with self.store.transaction():
                for conv in conversations:
                    messages = normalise_messages(conv.messages, conv.id, USER, self.limits)
                    job = Job(
                        id=f"task_perf_{conv.id}",
                        user_id=USER,
                        conversation_id=conv.id,
                        kind="ingest",
                        status="completed",
                    )
                    self.store.ingest(self.scope, conv.id, messages, job, {})
                    self.stats["messages"] += len(messages)
            self.stats["messages_s"] += time.perf_counter() - started
            before = self.count
            self.count += len(batch)
            step = max(1, target // 10)
            if self.count // step != before // step or self.count == target:
                self.log(f"memories: {self.count}/{target}")

    def write_one(self, embedder: Embedder) -> None:
        """One more memory, as an extraction would write it between two searches."""
        conv = conversation(self.options.seed, self.next_conversation)
        self.next_conversation += 1
        item = memory_items(conv, USER, self.clusters, preferences=0, tool=False)[0]
        self.store.insert_item(item, embedder.embed([item_vector_text(item, conv.title)])[0], embedder.id)
        self.count += 1


# -- search in process, the floor, BM25 -------------------------------------------------------------------


def search_request(query: str) -> dict[str, Any]:
    return {"query": query, "user_id": USER, "include_skill": True, "include_tool_memory": True}


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
        embedder = _embedder(name, threads)
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
    options: Options = Options(), workdir: Path | None = None, log: TextIO | None = None
) -> dict[str, Any]:
    """Measure everything `options` asks for; returns the JSON report (its `table` is the printed text)."""
    say = _Log(log)
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
    say: _Log,
    take: Callable[[int], list[str]],
    database_url: str | None = None,
) -> dict[str, Any]:
    """Build the user step by step and measure search at each size.

    The pipeline and the bulk inserts use their own embedder (one thread); searches use a second engine
    on the same store with the embedder `memskill serve` would make, so they pay for what a server pays.
    With `database_url` the store is that PostgreSQL database, and the floor (defined over the SQLite
    file: numpy scan + FTS5) is not measured."""
    folder = base / ("user-postgres" if database_url else "user")
    bulk = _embedder(options.embedder, threads=1)
    query_embedder = make_embedder(options.embedder)
    per_size: dict[str, Any] = {}
    settings = _settings(folder, options, database_url)
    with (
        Memory(settings=settings, embedder=bulk, start_workers=False) as writer,
        Memory(settings=settings, embedder=query_embedder, start_workers=False) as searcher,
    ):
        builder = UserBuilder(writer, options, say)
        say(f"skills: adding conversations through the pipeline until the user has {options.skills}…")
        skills = builder.add_skills()
        owner: dict[str, str] | None = None
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
    if args.quick:
        return QUICK
    if args.memories is None:
        return Options(
            install_size=not args.skip_install_size, database_url=getattr(args, "database_url", None)
        )
    try:
        sizes = tuple(int(part.replace("_", "")) for part in str(args.memories).split(",") if part.strip())
    except ValueError:
        raise SystemExit(
            f"error: --memories must be numbers separated by commas, not {args.memories!r}."
        ) from None
    if not sizes or min(sizes) < 1:
        raise SystemExit("error: --memories needs at least one positive number, e.g. 1000,10000,100000.")
    return Options(
        sizes=sizes, install_size=not args.skip_install_size, database_url=getattr(args, "database_url", None)
    )


def run_from_cli(args: Any, out: TextIO, err: TextIO) -> int:
    options = options_from_cli(args)
    workdir = Path(args.workdir).expanduser() if getattr(args, "workdir", None) else None
    report = run_perf(options, workdir, err)
    out.write(report["table"] + "\n")
    if args.json:
        write_json(report, Path(args.json))
        err.write(f"raw results written to {args.json}\n")
    return 0
