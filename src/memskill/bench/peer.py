"""A peer beside memskill in `memskill bench perf --peer mem0`: the same memories, the same embedder, the
same queries, through the embedded memory library a user would pick instead.

mem0 OSS (`pip install 'memskill[peer]'`: `mem0ai` and `faiss-cpu`) runs with `infer=False` (no model:
what is added is stored as said) twice, once on its default local vector store (Qdrant's local mode, on
disk) and once on FAISS. Its embedding model is memskill's offline embedder behind mem0's embedder
interface, so both systems pay the same for a query's embedding and hold the same vectors:

- the user's memories are the ones `bench perf` wrote into memskill's store (text and stored vector, in
  the order written), inserted through mem0's vector store in batches with the payload mem0's own `add`
  writes (it adds one message at a time, which would make the 100,000-memory step take hours);
- each measured query is the one memskill was asked at that size, through `Memory.search` with
  `top_k=10` and mem0's own default threshold (memskill's search also finds skills, preferences and tool
  memories, and runs a keyword search; mem0's with FAISS is a vector search alone);
- the paraphrase workload's memories are planted through mem0's public `add(infer=False)`, and its
  questions asked as memskill's are: recall@10 of the paraphrased questions, and the share of unrelated
  questions answered with nothing.

mem0 sends telemetry unless `MEM0_TELEMETRY` is false; the peer sets it false before importing mem0, and
mem0 may still write its own `~/.mem0/config.json`.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from memskill.bench import paraphrase
from memskill.bench.perf_http import elapsed_ms, summary
from memskill.providers.embedders import Embedder

PEERS = ("mem0",)
VECTOR_STORES = ("qdrant", "faiss")
"""mem0's default local vector store first, then FAISS."""
INSERT_BATCH = 1_000
TOP_K = paraphrase.RECALL_AT


def missing(name: str) -> str | None:
    """Why the peer `name` cannot run here (what to install), or None when it can."""
    if name not in PEERS:
        return f"unknown peer {name!r}: the peers are {', '.join(PEERS)}."
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    try:
        import faiss  # noqa: F401
        import mem0  # noqa: F401
    except ImportError as error:
        return (
            f"the mem0 peer needs mem0ai and faiss-cpu ({error.name} is not installed): "
            "pip install 'memskill[peer]', then run again."
        )
    return None


class _SameEmbedder:
    """memskill's embedder behind mem0's embedder interface (`embed(text, memory_action)`)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.config = None

    def embed(self, text: Any, memory_action: str | None = None) -> list[float]:
        return [float(x) for x in self.inner.embed([str(text)])[0]]


class Mem0Peer:
    """One mem0 `Memory` on one vector store in `folder`, holding one user's memories."""

    def __init__(self, vector_store: str, folder: Path, embedder: Embedder, user_id: str) -> None:
        os.environ.setdefault("MEM0_TELEMETRY", "False")
        from mem0 import Memory as Mem0Memory

        folder.mkdir(parents=True, exist_ok=True)
        unused = {"api_key": "unused (infer=False calls no model)"}
        config = {
            "vector_store": {
                "provider": vector_store,
                "config": {
                    "collection_name": "perf",
                    "embedding_model_dims": embedder.dim,
                    "path": str(folder / vector_store),
                },
            },
            "history_db_path": str(folder / "history.db"),
            "embedder": {"provider": "openai", "config": {**unused, "embedding_dims": embedder.dim}},
            "llm": {"provider": "openai", "config": unused},
        }
        self.memory = Mem0Memory.from_config(config)
        self.memory.embedding_model = _SameEmbedder(embedder)
        self.user_id = user_id
        self.inserted = 0
        self.planted = 0

    def insert(self, memories: Sequence[tuple[str, np.ndarray]]) -> None:
        """Store `memories` (text, vector) with the payload mem0's `add(infer=False)` writes."""
        from mem0.utils.lemmatization import lemmatize_for_bm25

        for start in range(0, len(memories), INSERT_BATCH):
            batch = memories[start : start + INSERT_BATCH]
            now = datetime.now(timezone.utc).isoformat()
            payloads = [
                {
                    "data": text,
                    "hash": hashlib.md5(text.encode()).hexdigest(),
                    "created_at": now,
                    "updated_at": now,
                    "text_lemmatized": lemmatize_for_bm25(text),
                    "user_id": self.user_id,
                    "role": "user",
                }
                for text, _ in batch
            ]
            self.memory.vector_store.insert(
                vectors=[[float(x) for x in vector] for _, vector in batch],
                ids=[str(uuid.uuid4()) for _ in batch],
                payloads=payloads,
            )
            self.inserted += len(batch)

    def search(self, query: str) -> list[dict[str, Any]]:
        found = self.memory.search(query, filters={"user_id": self.user_id}, top_k=TOP_K)
        return list(found["results"])

    def plant(self, pairs: Sequence[paraphrase.Pair]) -> dict[str, str]:
        """Each pair's memory through mem0's own `add`; returns memory id → pair id."""
        owner: dict[str, str] = {}
        for pair in pairs:
            added = self.memory.add(
                [{"role": "user", "content": pair.memory}], user_id=self.user_id, infer=False
            )
            for row in added["results"]:
                owner[str(row["id"])] = pair.id
            self.planted += 1
        return owner

    def paraphrase(self, owner: dict[str, str]) -> dict[str, Any]:
        """The paraphrase workload's numbers per split, scored as memskill's are."""

        def ask(question: str) -> list[set[str]]:
            return [
                {owner[str(hit["id"])]} if str(hit["id"]) in owner else set() for hit in self.search(question)
            ]

        return paraphrase.score_splits(ask)


def measure(peer: Mem0Peer, texts: Sequence[str], warm_up: Sequence[str]) -> dict[str, Any]:
    """Latency of `peer.search` over `texts` after `warm_up` unmeasured searches."""
    for text in warm_up:
        peer.search(text)
    samples, found = [], 0
    for text in texts:
        started = time.perf_counter()
        found += len(peer.search(text))
        samples.append(elapsed_ms(started))
    return {**summary(samples), "hits_per_search": round(found / max(1, len(texts)), 2)}


class PeerRun:
    """The peer's side of one `bench perf` run: one mem0 per vector store, grown with memskill's user."""

    def __init__(
        self,
        name: str,
        folder: Path,
        embedder: Callable[[], Embedder],
        user_id: str,
        log: Callable[[str], None],
    ) -> None:
        """`embedder` makes one embedder per vector store, so that no store's searches hit the cache
        another store's searches filled."""
        reason = missing(name)
        if reason is not None:
            raise RuntimeError(reason)
        self.name = name
        self.log = log
        self.peers = {
            store: Mem0Peer(store, folder / f"mem0-{store}", embedder(), user_id) for store in VECTOR_STORES
        }
        self.owner: dict[str, dict[str, str]] = {}

    def measure_at(
        self, memories: Sequence[tuple[str, np.ndarray]], queries: Sequence[str], warm_up: Sequence[str]
    ) -> dict[str, Any]:
        """Grow every peer to hold `memories`, search as memskill did, then (the paraphrase set planted
        after the first size's searches, as in memskill's user) run the paraphrase workload."""
        row: dict[str, Any] = {}
        for store, peer in self.peers.items():
            new = memories[peer.inserted :]
            self.log(f"peer {self.name} ({store}): inserting {len(new):,} memories…")
            started = time.perf_counter()
            peer.insert(new)
            inserting_s = round(time.perf_counter() - started, 1)
            self.log(f"peer {self.name} ({store}): {len(queries)} searches, then the paraphrase workload…")
            held = peer.inserted + peer.planted
            search = measure(peer, queries, warm_up)
            if store not in self.owner:
                self.owner[store] = peer.plant(paraphrase.load()[0])
            row[store] = {
                "memories": held,
                "inserting_s": inserting_s,
                "search": search,
                "paraphrase": peer.paraphrase(self.owner[store]),
            }
        return row
