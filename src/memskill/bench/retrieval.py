"""Memory retrieval on LoCoMo (recall of evidence turns) and MADial-Bench (recall of stored memories).

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
import math
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from memskill.bench.report import Kind, Progress, Result
from memskill.config import Settings
from memskill.engine import Memory
from memskill.errors import InvalidRequest
from memskill.ingest import normalise_messages
from memskill.providers.embedders import Embedder, OfflineEmbedder
from memskill.text import content_tokens

STAGE = "retrieval"
K1 = 1.2
B = 0.75
LOCOMO_KS = (5, 10, 25)
LOCOMO_DEV = frozenset(range(4))
"""LoCoMo conversations of the development set; 4–9 are held out."""
MADIAL_K = 5
MADIAL_DEV_EVERY = 5
"""MADial dialogues at positions divisible by this are the development set."""
MEMORY_LIMIT = 25
LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
MADIAL_EN_BART = 76
"""The first 76 lines of the English archive are Bart's memories (the authors' split)."""
QUICK_MADIAL = 100

LOCOMO_ANCHORS = {
    "DRAGON over turns": {"recall@5": 0.567, "recall@10": 0.662, "recall@25": 0.767},
    "BM25 over turns": {"recall@5": 0.525, "recall@10": 0.593, "recall@25": 0.671},
}
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
TARGETS = {"locomo": {"recall@10": 0.66}, "zh": {"R@5": 0.59}}


# -- metrics --------------------------------------------------------------------------------------


def recall_at_k(gold: Iterable[str], ranked: Sequence[str], k: int) -> float:
    """Share of `gold` among the first `k` of `ranked` (0 when there is no gold)."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def ndcg_at_k(gold: Iterable[str], ranked: Sequence[str], k: int) -> float:
    """Binary nDCG@k: the ideal ranking puts min(k, |gold|) relevant items first."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    seen: set[str] = set()
    gain = 0.0
    for rank, item in enumerate(ranked[:k]):
        if item in wanted and item not in seen:
            gain += 1.0 / math.log2(rank + 2)
        seen.add(item)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return gain / ideal


# -- baselines ------------------------------------------------------------------------------------


class BM25:
    """Okapi BM25 over token lists (idf = ln(1 + (N - df + 0.5) / (df + 0.5)))."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = K1, b: float = B) -> None:
        self.k1 = k1
        self.b = b
        self.counts = [Counter(doc) for doc in documents]
        self.lengths = np.array([len(doc) for doc in documents], dtype=np.float64)
        self.average = float(self.lengths.mean()) if len(documents) and self.lengths.sum() else 1.0
        frequency: Counter[str] = Counter()
        for counts in self.counts:
            frequency.update(counts.keys())
        total = len(documents)
        self.idf = {term: math.log(1.0 + (total - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(self.counts), dtype=np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths / self.average)
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([counts.get(term, 0) for counts in self.counts], dtype=np.float64)
            out += idf * tf * (self.k1 + 1.0) / (tf + norm)
        return out

    def rank(self, query: Sequence[str]) -> list[int]:
        """Document indexes, best first (ties keep document order)."""
        scores = self.scores(query)
        return [int(i) for i in np.argsort(-scores, kind="stable")]


def bm25_tokens(text: str) -> list[str]:
    return content_tokens(text)


def dense_rank(query_vector: np.ndarray, document_vectors: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-(document_vectors @ query_vector), kind="stable")]


# -- memskill results → ranked source ids ---------------------------------------------------------


def search_all(memory: Memory, query: str, user: str) -> dict[str, Any]:
    """Everything memskill returns for `query`, no floor, memories and preferences at the API's limit."""
    return memory.search_memory(
        query=query,
        user_id=user,
        memory_limit_number=MEMORY_LIMIT,
        relativity=0,
        include_preference=True,
        preference_limit_number=MEMORY_LIMIT,
    )


def ranked_sources(found: dict[str, Any], source_ids: dict[str, str]) -> list[str]:
    """The ids (`source_ids` maps message ids to them) of the memories and preferences `found`, in order.

    Memories and preferences are merged by relativity (memories first on ties); each stands for its
    sources in the order it lists them; an id already listed is skipped.
    """
    entries = [
        (float(m.get("relativity") or 0.0), 0, n, m) for n, m in enumerate(found["memory_detail_list"])
    ]
    entries += [
        (float(p.get("relativity") or 0.0), 1, n, p) for n, p in enumerate(found["preference_detail_list"])
    ]
    entries.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
    out: list[str] = []
    seen: set[str] = set()
    for _, _, _, entry in entries:
        for message_id in entry.get("sources", []):
            mapped = source_ids.get(message_id)
            if mapped is not None and mapped not in seen:
                seen.add(mapped)
                out.append(mapped)
    return out


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
        out[f"recall@{k}"] = _mean(recall_at_k(q.evidence, r, k) for q, r in zip(questions, rankings))
    out["nDCG@10"] = _mean(ndcg_at_k(q.evidence, r, 10) for q, r in zip(questions, rankings))
    return out


def _mean(values: Iterable[float]) -> float:
    listed = list(values)
    return round(float(np.mean(listed)), 4) if listed else 0.0


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
    results.append(Result(STAGE, dataset, "target", "target", dict(TARGETS["locomo"])))
    return results


# -- MADial-Bench ---------------------------------------------------------------------------------


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
        f"R@{MADIAL_K}": _mean(recall_at_k(d.relevant, r, MADIAL_K) for d, r in zip(dialogues, rankings)),
        f"nDCG@{MADIAL_K}": _mean(ndcg_at_k(d.relevant, r, MADIAL_K) for d, r in zip(dialogues, rankings)),
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
