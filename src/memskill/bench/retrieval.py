"""Memory retrieval on LoCoMo (recall of evidence turns) and MADial-Bench (recall of stored memories).

This module runs the stage and holds LoCoMo; MADial-Bench is in `madial.py`, and what both share
(metrics, baselines, a search reply as a ranked list) in `ranking.py`.

- **LoCoMo** (categories 1–4). Each conversation goes into a fresh `Memory` (its own temporary folder,
  the offline embedder, `async_mode=False`) as one user: the two people talk to each other, the
  questions ask about either of them, and an agent that listens to a two-person chat keeps one memory
  space for it. Both people's turns are `user` messages (memskill learns from what users say, and
  here both are users) written `"<speaker>: <text>"`, since a message has no speaker field and the
  questions name the speakers; a shared photo adds its caption. Each session is its own conversation
  (`session_<n>`), sent in one `add_message` call after it ends, every turn stamped with the session's
  date (a second apart, to keep their order). Each question is one `search_memory(query=question,
  memory_limit_number=25, relativity=0, include_preference=True, preference_limit_number=25)`; the
  memories and preferences, merged by relativity, become a ranked list of turns: a memory stands for
  the turns it came from (its `sources`, message ids, mapped back to the `dia_id`s we sent), in the
  order it lists them, and turns already listed are skipped. recall@k is the share of a question's
  evidence turns among the first k **turns** (not memories), as for the published DRAGON anchor;
  nDCG@10 is binary, with the ideal ranking putting every evidence turn first. Malformed evidence
  ids in the data (`D:11:26`, `D30:05`, several ids in one string) are repaired; ids naming no turn
  are dropped, and a question left without evidence is skipped.
- **MADial-Bench** (EN and ZH). Each language goes into a fresh `Memory`; every archived memory of a
  person is one `user` message (its `event` text) of its own conversation, stamped with the memory's
  date, under that person's user id (EN: the first 76 archive lines are Bart's, the rest Lisa's, as in
  the authors' scripts; ZH lines name their user): what importing an archive through the API looks
  like. The query is the dialogue before the (first) test turn, as the authors embed it
  (`''.join(dialogue[:test_turn])`, with the `<BOD>` marker and the `<name>:` brackets removed), searched
  with the same call as above under the dialogue's user; the memories found map back to archive ids
  through their sources. R@5 = share of the
  relevant ids among the first five; nDCG@5 is binary with the ideal ranking of min(5, relevant)
  hits (this reproduces the README anchors from the authors' released rankings).
- **Baselines**, same run, same texts: BM25 (k1 = 1.2, b = 0.75, jieba / word tokens without stop
  words) over turns or memories, and the offline embedder's cosine over turns or memories.
- **Split.** Neither set has a tuning split. Declared before any tuning: LoCoMo conversations 0–3 are
  the development set, 4–9 held out; MADial dialogues at positions divisible by five are the
  development set, the rest held out. Error analysis and every choice made while measuring (the blend
  of `memskill.retrieve`, the size of episode memories) used the development sets only; held-out
  numbers are reported in `extra` beside the full ones.
- **Quick** (`quick=True`): the first LoCoMo conversation and the first 100 dialogues per language.
"""

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

from memskill.bench.madial import load_madial, run_madial
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
from memskill.errors import InvalidRequest
from memskill.ingest import normalise_messages
from memskill.providers.embedders import Embedder, OfflineEmbedder

LOCOMO_KS = (5, 10, 25)
LOCOMO_DEV = frozenset(range(4))
"""LoCoMo conversations of the development set; 4–9 are held out."""
LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
QUICK_MADIAL = 100

LOCOMO_ANCHORS = {
    "DRAGON over turns": {"recall@5": 0.567, "recall@10": 0.662, "recall@25": 0.767},
    "BM25 over turns": {"recall@5": 0.525, "recall@10": 0.593, "recall@25": 0.671},
}
TARGETS = {"recall@10": 0.66}
"""LoCoMo's target (MADial's is in `madial.py`)."""


# -- LoCoMo ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str


@dataclass(frozen=True)
class Session:
    conversation_id: str
    time_ms: int
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Question:
    text: str
    evidence: tuple[str, ...]
    category: int


@dataclass(frozen=True)
class Conversation:
    index: int
    sample_id: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]

    @property
    def turns(self) -> list[Turn]:
        return [turn for session in self.sessions for turn in session.turns]


def turn_text(turn: Turn) -> str:
    """What is sent and indexed for a turn: the speaker's name, the text, a shared photo's caption."""
    return f"{turn.speaker}: {turn.text}"


def _session_time(text: str) -> int:
    moment = datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _evidence(raw: Sequence[str], known: set[str]) -> tuple[str, ...]:
    """Evidence ids repaired (`D:11:26` → `D11:26`, `D30:05` → `D30:5`, several in one string split)."""
    out: list[str] = []
    for entry in raw:
        for piece in re.split(r"[;,\s]+", str(entry)):
            match = re.fullmatch(r"D:?(\d+):(\d+)", piece.strip())
            if match is None:
                continue
            dia_id = f"D{int(match.group(1))}:{int(match.group(2))}"
            if dia_id in known and dia_id not in out:
                out.append(dia_id)
    return tuple(out)


def load_locomo(path: Path) -> list[Conversation]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    conversations = []
    for index, row in enumerate(rows):
        raw = row["conversation"]
        sessions = []
        number = 1
        while f"session_{number}" in raw:
            turns = []
            for turn in raw[f"session_{number}"]:
                text = str(turn.get("text", "")).strip()
                caption = str(turn.get("blip_caption") or "").strip()
                if caption:
                    text = f"{text} [shares a photo: {caption}]".strip()
                if text:
                    turns.append(Turn(str(turn["dia_id"]), str(turn["speaker"]), text))
            when = _session_time(raw[f"session_{number}_date_time"])
            sessions.append(Session(f"session_{number}", when, tuple(turns)))
            number += 1
        known = {turn.dia_id for session in sessions for turn in session.turns}
        questions = []
        for qa in row["qa"]:
            category = int(qa.get("category", 0))
            if category not in LOCOMO_CATEGORIES:
                continue
            evidence = _evidence(qa.get("evidence", []), known)
            if evidence:
                questions.append(Question(str(qa["question"]), evidence, category))
        conversations.append(
            Conversation(index, str(row.get("sample_id", index)), tuple(sessions), tuple(questions))
        )
    return conversations


def store_locomo(memory: Memory, conversation: Conversation) -> tuple[str, dict[str, str]]:
    """Add `conversation` to `memory` as the bench does; returns its user and message id → dia_id."""
    user = f"locomo-{conversation.sample_id}"
    source_ids: dict[str, str] = {}
    for session in conversation.sessions:
        if not session.turns:
            continue
        messages = [
            {"role": "user", "content": turn_text(turn), "chat_time": session.time_ms + 1000 * n}
            for n, turn in enumerate(session.turns)
        ]
        step = memory.limits.max_messages_per_call
        for start in range(0, len(messages), step):
            batch = messages[start : start + step]
            sent = normalise_messages(batch, session.conversation_id, user, memory.limits)
            turns = session.turns[start : start + step]
            source_ids.update({m.id: turn.dia_id for m, turn in zip(sent, turns)})
            memory.add_message(
                user_id=user, conversation_id=session.conversation_id, messages=batch, async_mode=False
            )
    return user, source_ids


def _memskill_locomo(conversation: Conversation, embedder: Embedder) -> list[list[str]]:
    """Ranked evidence-turn lists of memskill for each question of `conversation`."""
    with tempfile.TemporaryDirectory(prefix="memskill-locomo-") as folder:
        memory = Memory(settings=Settings(data_dir=Path(folder), workers=0), embedder=embedder)
        try:
            user, source_ids = store_locomo(memory, conversation)
            ranked = []
            for question in conversation.questions:
                ranked.append(ranked_sources(search_all(memory, question.text, user), source_ids))
            return ranked
        finally:
            memory.close()


def _turn_baselines(conversation: Conversation, embedder: Embedder) -> dict[str, list[list[str]]]:
    turns = conversation.turns
    ids = [turn.dia_id for turn in turns]
    texts = [turn_text(turn) for turn in turns]
    bm25 = BM25([bm25_tokens(text) for text in texts])
    vectors = embedder.embed(texts)
    questions = [q.text for q in conversation.questions]
    query_vectors = embedder.embed(questions) if questions else np.zeros((0, embedder.dim))
    return {
        "BM25 over turns": [[ids[i] for i in bm25.rank(bm25_tokens(q))] for q in questions],
        "dense over turns": [[ids[i] for i in dense_rank(v, vectors)] for v in query_vectors],
    }


def _locomo_scores(questions: Sequence[Question], rankings: Sequence[list[str]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in LOCOMO_KS:
        out[f"recall@{k}"] = mean(recall_at_k(q.evidence, r, k) for q, r in zip(questions, rankings))
    out["nDCG@10"] = mean(ndcg_at_k(q.evidence, r, 10) for q, r in zip(questions, rankings))
    return out


def run_locomo(conversations: Sequence[Conversation], embedder: Embedder, progress: Progress) -> list[Result]:
    """memskill and the baselines on `conversations`, with per-category and held-out numbers."""
    asked: list[tuple[Conversation, Question]] = []
    rankings: dict[str, list[list[str]]] = {"memskill": [], "BM25 over turns": [], "dense over turns": []}
    seconds = {"memskill": 0.0, "baselines": 0.0}
    for done, conversation in enumerate(conversations):
        progress("retrieval: LoCoMo conversations", done, len(conversations))
        started = time.monotonic()
        rankings["memskill"] += _memskill_locomo(conversation, embedder)
        seconds["memskill"] += time.monotonic() - started
        started = time.monotonic()
        for name, ranked in _turn_baselines(conversation, embedder).items():
            rankings[name] += ranked
        seconds["baselines"] += time.monotonic() - started
        asked += [(conversation, question) for question in conversation.questions]
    progress("retrieval: LoCoMo conversations", len(conversations), len(conversations))
    dataset = f"LoCoMo cat 1-4 ({len(asked)} questions, {len(conversations)} conversations)"
    results = []
    for name, ranked in rankings.items():
        questions = [q for _, q in asked]
        extra: dict[str, Any] = {"k counts": "turns", "questions": len(asked)}
        for category, label in LOCOMO_CATEGORIES.items():
            chosen = [n for n, q in enumerate(questions) if q.category == category]
            extra[f"category {category} {label}"] = {
                "questions": len(chosen),
                **_locomo_scores([questions[n] for n in chosen], [ranked[n] for n in chosen]),
            }
        for split, dev in (("dev (conversations 0-3)", True), ("held-out (conversations 4-9)", False)):
            chosen = [n for n, (c, _) in enumerate(asked) if (c.index in LOCOMO_DEV) == dev]
            if chosen:
                extra[split] = {
                    "questions": len(chosen),
                    **_locomo_scores([questions[n] for n in chosen], [ranked[n] for n in chosen]),
                }
        if name == "memskill":
            extra["seconds"] = round(seconds["memskill"], 1)
        kind: Kind = "ours" if name == "memskill" else "baseline"
        results.append(Result(STAGE, dataset, name, kind, _locomo_scores(questions, ranked), extra=extra))
    for name, metrics in LOCOMO_ANCHORS.items():
        results.append(Result(STAGE, dataset, name, "anchor", dict(metrics), note="published"))
    results.append(Result(STAGE, dataset, "target", "target", dict(TARGETS)))
    return results


# -- entry point ----------------------------------------------------------------------------------


def run(data: Path, quick: bool, progress: Progress, embedder: Embedder | None = None) -> list[Result]:
    """LoCoMo and MADial-Bench EN/ZH; `quick`: one LoCoMo conversation and ~100 dialogues per language."""
    locomo_file = data / "locomo" / "locomo10.json"
    madial = data / "madial-bench"
    if not locomo_file.is_file() or not (madial / "data").is_dir():
        raise InvalidRequest(
            f"retrieval needs {locomo_file} and {madial}/data: "
            "pass --data pointing at the folder with locomo/ and madial-bench/."
        )
    embedder = embedder or OfflineEmbedder()
    conversations = load_locomo(locomo_file)
    if quick:
        conversations = conversations[:1]
    results = run_locomo(conversations, embedder, progress)
    for language in ("en", "zh"):
        memories, dialogues = load_madial(madial, language)
        if quick:
            dialogues = dialogues[:QUICK_MADIAL]
        results += run_madial(memories, dialogues, language, embedder, progress)
    return results
