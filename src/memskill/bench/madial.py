"""MADial-Bench (EN and ZH) for the retrieval stage: recall of archived memories (see `retrieval.py`'s
docstring for how the archive is stored and searched, and for the split)."""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from memskill.bench.ranking import (
    BM25,
    STAGE,
    bm25_tokens,
    dense_rank,
    mean,
    ndcg_at_k,
    ranked_sources,
    recall_at_k,
    search_all,
)
from memskill.bench.report import Kind, Progress, Result
from memskill.config import Settings
from memskill.engine import Memory
from memskill.ingest import normalise_messages
from memskill.providers.embedders import Embedder

MADIAL_K = 5
MADIAL_DEV_EVERY = 5
"""MADial dialogues at positions divisible by this are the development set."""
MADIAL_EN_BART = 76
"""The first 76 lines of the English archive are Bart's memories (the authors' split)."""
MADIAL_ANCHORS = {
    "en": {
        "OpenAI embeddings": {"R@5": 0.695, "nDCG@5": 0.641},
        "BGE-M3": {"R@5": 0.553, "nDCG@5": 0.513},
    },
    "zh": {
        "OpenAI embeddings": {"R@5": 0.694, "nDCG@5": 0.643},
        "BGE-M3": {"R@5": 0.586, "nDCG@5": 0.539},
    },
}
TARGETS = {"zh": {"R@5": 0.59}}


@dataclass(frozen=True)
class ArchivedMemory:
    id: str
    user: str
    time_ms: int | None
    text: str


@dataclass(frozen=True)
class Dialogue:
    index: int
    user: str
    query: str
    relevant: tuple[str, ...]


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _date_ms(text: object) -> int | None:
    try:
        moment = datetime.strptime(str(text).strip(), "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def dialogue_query(lines: Sequence[str], test_turn: int) -> str:
    """The dialogue before the test turn, one `name: text` line per turn."""
    out = []
    for line in lines[:test_turn]:
        text = line.strip()
        if text in ("<BOD>", "<EOD>") or not text:
            continue
        match = re.match(r"^<([^<>]{1,40})>\s*[:：]\s*(.*)$", text, flags=re.DOTALL)
        if match:
            spoken = match.group(2).strip().strip('"“”')
            text = f"{match.group(1)}: {spoken}"
        else:
            text = text.strip("<>")
        out.append(text)
    return "\n".join(out)


def load_madial(folder: Path, language: str) -> tuple[list[ArchivedMemory], list[Dialogue]]:
    """The archive and the dialogues of one language (`en` or `zh`, stored under `ch/`)."""
    sub = "en" if language == "en" else "ch"
    memories = []
    for line_number, row in enumerate(
        _read_lines(folder / "data" / sub / f"MADial-Bench-{language}-memory.json")
    ):
        for key, value in row.items():
            if language == "en":
                user = "1" if line_number < MADIAL_EN_BART else "2"
            else:
                user = str(value.get("user-id"))
            memories.append(
                ArchivedMemory(str(key), user, _date_ms(value.get("time")), str(value["event"]).strip())
            )
    dialogues = []
    for index, row in enumerate(
        _read_lines(folder / "data" / sub / f"MADial-Bench-{language}-dialogue.json")
    ):
        turn = int(row["test-turn"][0])
        relevant = tuple(dict.fromkeys(str(i) for i in row["relevant-id"]))
        dialogues.append(
            Dialogue(index, str(row["user-id"]), dialogue_query(row["dialogue"], turn), relevant)
        )
    return memories, dialogues


def _memskill_madial(
    memories: Sequence[ArchivedMemory],
    dialogues: Sequence[Dialogue],
    embedder: Embedder,
    progress: Progress,
    label: str,
) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="memskill-madial-") as folder:
        memory = Memory(settings=Settings(data_dir=Path(folder), workers=0), embedder=embedder)
        try:
            source_ids = store_madial(memory, memories, progress, f"retrieval: {label}")
            ranked = []
            for done, dialogue in enumerate(dialogues):
                if done % 20 == 0:
                    progress(f"retrieval: {label} searching", done, len(dialogues))
                found = search_all(memory, dialogue.query, f"madial-{dialogue.user}")
                ranked.append(ranked_sources(found, source_ids))
            return ranked
        finally:
            memory.close()


def store_madial(
    memory: Memory, memories: Sequence[ArchivedMemory], progress: Progress, label: str
) -> dict[str, str]:
    """Add each archived memory to `memory` as its own conversation; returns message id → archive id."""
    source_ids: dict[str, str] = {}
    for done, item in enumerate(memories):
        if done % 20 == 0:
            progress(f"{label} storing", done, len(memories))
        user = f"madial-{item.user}"
        conversation = f"memory-{item.id}"
        message: dict[str, Any] = {"role": "user", "content": item.text}
        if item.time_ms is not None:
            message["chat_time"] = item.time_ms
        sent = normalise_messages([message], conversation, user, memory.limits)
        source_ids[sent[0].id] = item.id
        memory.add_message(user_id=user, conversation_id=conversation, messages=[message], async_mode=False)
    return source_ids


def _memory_baselines(
    memories: Sequence[ArchivedMemory], dialogues: Sequence[Dialogue], embedder: Embedder
) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {"BM25 over memories": [], "dense over memories": []}
    by_user: dict[str, list[ArchivedMemory]] = {}
    for item in memories:
        by_user.setdefault(item.user, []).append(item)
    indexes = {user: BM25([bm25_tokens(m.text) for m in items]) for user, items in by_user.items()}
    vectors = {user: embedder.embed([m.text for m in items]) for user, items in by_user.items()}
    query_vectors = embedder.embed([d.query for d in dialogues]) if dialogues else np.zeros((0, embedder.dim))
    for dialogue, query_vector in zip(dialogues, query_vectors):
        items = by_user.get(dialogue.user, [])
        if not items:
            out["BM25 over memories"].append([])
            out["dense over memories"].append([])
            continue
        out["BM25 over memories"].append(
            [items[i].id for i in indexes[dialogue.user].rank(bm25_tokens(dialogue.query))]
        )
        out["dense over memories"].append(
            [items[i].id for i in dense_rank(query_vector, vectors[dialogue.user])]
        )
    return out


def _madial_scores(dialogues: Sequence[Dialogue], rankings: Sequence[list[str]]) -> dict[str, float]:
    return {
        f"R@{MADIAL_K}": mean(recall_at_k(d.relevant, r, MADIAL_K) for d, r in zip(dialogues, rankings)),
        f"nDCG@{MADIAL_K}": mean(ndcg_at_k(d.relevant, r, MADIAL_K) for d, r in zip(dialogues, rankings)),
    }


def run_madial(
    memories: Sequence[ArchivedMemory],
    dialogues: Sequence[Dialogue],
    language: str,
    embedder: Embedder,
    progress: Progress,
) -> list[Result]:
    label = f"MADial {language.upper()}"
    started = time.monotonic()
    rankings = {"memskill": _memskill_madial(memories, dialogues, embedder, progress, label)}
    seconds = time.monotonic() - started
    rankings.update(_memory_baselines(memories, dialogues, embedder))
    dataset = f"MADial-Bench {language.upper()} ({len(dialogues)} dialogues, {len(memories)} memories)"
    results = []
    for name, ranked in rankings.items():
        extra: dict[str, Any] = {"dialogues": len(dialogues)}
        for split, dev in (("dev (every 5th dialogue)", True), ("held-out", False)):
            chosen = [n for n, d in enumerate(dialogues) if (d.index % MADIAL_DEV_EVERY == 0) == dev]
            if chosen:
                extra[split] = {
                    "dialogues": len(chosen),
                    **_madial_scores([dialogues[n] for n in chosen], [ranked[n] for n in chosen]),
                }
        if name == "memskill":
            extra["seconds"] = round(seconds, 1)
        kind: Kind = "ours" if name == "memskill" else "baseline"
        results.append(Result(STAGE, dataset, name, kind, _madial_scores(dialogues, ranked), extra=extra))
    for name, metrics in MADIAL_ANCHORS[language].items():
        results.append(Result(STAGE, dataset, name, "anchor", dict(metrics), note="published"))
    if language in TARGETS:
        results.append(Result(STAGE, dataset, "target", "target", dict(TARGETS[language])))
    return results
