"""The workload `memskill bench perf` runs: its options, the user it builds and the requests it sends.

`UserBuilder` grows one user: skills through the real pipeline, then memories inserted through
`Store.insert_item` as the pipeline would store them (episode facts, preferences linked to the user's
clusters, tool lessons), every vector embedded for real in batches, and the conversations they come from
stored as messages of completed jobs. It keeps every memory it wrote (text and vector, in order) so that
a peer system can be given exactly the same memories (`memskill.bench.peer`). Queries are new requests of
the same kinds, half Chinese, half English, each used once (no embedder cache hits).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from memskill.bench.synthetic import FAMILY_NAMES, Conversation, conversation, item_vector_text, memory_items
from memskill.config import Limits, Settings
from memskill.demo import turns
from memskill.engine import Memory
from memskill.ingest import normalise_messages
from memskill.models import Job, MemoryItem, Scope, Skill
from memskill.providers import make_embedder
from memskill.providers.embedders import Embedder, OfflineEmbedder
from memskill.skillfile import parse, render

USER = "perf-user"
WARM_UP = 10
EMBED_BATCH = 256
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
    after_write: int = 30
    """Searches measured right after a write, per size."""
    embedder: str = "offline"
    """`offline` or `hashing` (a test's choice); the HTTP servers are started with the same."""
    http: bool = True
    cold_start: bool = True
    install_size: bool = True
    seed: int = 7
    database_url: str | None = None
    """An empty PostgreSQL database: the same user is built there too and searched at each size."""
    peer: str | None = None
    """A peer system given the same memories and queries at each size (`memskill.bench.peer.PEERS`)."""


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


class Log:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(f"[perf {time.monotonic() - self.started:6.0f} s] {text}\n")
            self.stream.flush()


def embedder_for(name: str, threads: int) -> Embedder:
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


def settings_for(folder: Path, options: Options, database_url: str | None = None) -> Settings:
    return Settings(data_dir=folder, workers=0, embedder=options.embedder, database_url=database_url)


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
        self.written: list[tuple[str, np.ndarray]] = []
        """Every memory of the user so far (text and stored vector), in the order written."""
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
        items = self.store.list_items(self.scope, ["fact", "preference", "tool"])
        vectors = self.store.vectors_of("items", [item.id for item in items], self.memory.embedder.dim)
        self.written += [(item.text, vectors[item.id]) for item in items if item.id in vectors]
        self.count = len(items)
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
            self.written += [(item.text, vector) for item, vector in zip(batch, vectors)]
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
        vector = embedder.embed([item_vector_text(item, conv.title)])[0]
        self.store.insert_item(item, vector, embedder.id)
        self.written.append((item.text, vector))
        self.count += 1


def search_request(query: str) -> dict[str, Any]:
    return {"query": query, "user_id": USER, "include_skill": True, "include_tool_memory": True}
