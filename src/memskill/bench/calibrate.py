"""`memskill bench calibrate`: fit the memory relevance model of `memskill.retrieve` on tuning data.

What a search scores — the cosine of the query and a memory, and the rarity-weighted share of the
query's words the memory holds — is collected for every candidate memory of three tuning sources, each
candidate labelled by whether it answers the question:

- the `tune` topics of the paraphrase set (`memskill.bench.paraphrase`), planted into a user who
  already holds `--memories` synthetic memories (`memskill.bench.synthetic`, as `bench perf` builds
  them), with the set's `tune` unrelated questions;
- LoCoMo conversations 0–3 (the declared development part of `bench quality`'s retrieval stage): a
  memory answers when it came from an evidence turn;
- MADial-Bench's development dialogues (every fifth): a memory answers when it is a relevant one.

A logistic regression (Newton's method in numpy, both classes weighted equally, a small L2 penalty)
is fitted on `[cosine, coverage, cosine × coverage]` of every candidate. Its bias is then moved so that
the default floor (0.45) keeps out every memory found for 90% of the unrelated tuning questions: the
floor means "asks for this memory" in the same way for every query. The report gives the model to put
into `retrieve.MEMORY_MODEL` and, for that model, recall@10 at the floor and the empty rate of the
unrelated questions on both splits of the paraphrase set (the `test` split is never fitted on).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from memskill.bench import madial, paraphrase, retrieval
from memskill.bench.fetch import find_data
from memskill.bench.report import Progress
from memskill.config import Settings
from memskill.engine import Memory
from memskill.errors import InvalidRequest
from memskill.models import Scope
from memskill.providers.embedders import Embedder, OfflineEmbedder
from memskill.retrieve import DEFAULT_RELATIVITY, MEMORY_BLEND, Logistic, Query, candidates

CANDIDATES = 75
"""Candidates of each search (vector and keyword each), as a search for 9 memories asks for."""
EMPTY_SHARE = 0.9
"""Share of the unrelated tuning questions that must find nothing at the default floor."""
L2 = 0.01
MEMORIES = 10_000
"""Synthetic memories the paraphrase user holds besides the set's (as in `bench perf`)."""


@dataclass(frozen=True)
class Search:
    """One query's candidates: a row of features and a label each."""

    source: str
    """`paraphrase-tune`, `paraphrase-test`, `unrelated-tune`, `unrelated-test`, `locomo`, `madial`."""
    features: np.ndarray
    """(candidates, 3): cosine, coverage, cosine × coverage."""
    labels: np.ndarray
    """1 where the candidate answers the query."""


def features(cosines: Sequence[float], coverages: Sequence[float]) -> np.ndarray:
    cosine, coverage = np.asarray(cosines, dtype=float), np.asarray(coverages, dtype=float)
    return np.stack([cosine, coverage, cosine * coverage], axis=1).reshape(-1, 3)


def search(
    memory: Memory, user: str, query: str, answers: Callable[[Sequence[str]], bool], source: str
) -> Search:
    """The scored 'fact' candidates of `query` for `user`, labelled by `answers(sources of a memory)`."""
    prepared = Query.build(query[:4000], memory.embedder.embed, memory.embedder.id)
    hits = candidates(
        memory.store, Scope(user), "items", "fact", prepared, memory.item_words, CANDIDATES, MEMORY_BLEND
    )
    items = {item.id: item for item in memory.store.get_items([hit.id for hit in hits])}
    labels = [int(hit.id in items and answers(items[hit.id].sources)) for hit in hits]
    return Search(
        source,
        features([hit.cosine for hit in hits], [hit.coverage for hit in hits]),
        np.asarray(labels, dtype=float),
    )


def fit(searches: Sequence[Search], l2: float = L2, steps: int = 50) -> np.ndarray:
    """Logistic regression weights `[w_cosine, w_coverage, w_both, bias]`, classes weighted equally."""
    x = np.vstack([s.features for s in searches])
    y = np.concatenate([s.labels for s in searches])
    if y.sum() == 0 or y.sum() == len(y):
        raise InvalidRequest("calibration needs candidates that answer and candidates that do not")
    x = np.hstack([x, np.ones((len(x), 1))])
    weight = np.where(y == 1, len(y) / (2 * y.sum()), len(y) / (2 * (len(y) - y.sum())))
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (weight * (p - y)) + l2 * w
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return w


def with_floor(
    weights: np.ndarray, unrelated: Sequence[Search], floor: float = DEFAULT_RELATIVITY
) -> Logistic:
    """The model whose bias puts `floor` above the best candidate of `EMPTY_SHARE` of `unrelated`
    (weights rounded to three decimals, the bias rounded down, so the printed model is the one meant)."""
    w = np.round(np.asarray(weights[:3], dtype=float), 3)
    best = sorted(float(np.max(s.features @ w)) for s in unrelated if len(s.labels))
    cut = best[min(len(best) - 1, math.ceil(EMPTY_SHARE * len(best)) - 1)] if best else 0.0
    bias = math.floor((math.log(floor / (1 - floor)) - cut) * 1000) / 1000 - 0.001
    return Logistic(cosine=float(w[0]), coverage=float(w[1]), both=float(w[2]), bias=round(bias, 3))


def at_floor(model: Logistic, searches: Iterable[Search], floor: float = DEFAULT_RELATIVITY) -> float:
    """For questions with an answer: share with one among the first 10 at or above `floor`; for
    unrelated questions (no answer): share with nothing at or above it."""
    done = []
    for s in searches:
        scores = np.array([model(float(f[0]), float(f[1])) for f in s.features])
        if s.labels.any():
            top = np.argsort(-scores)[: paraphrase.RECALL_AT]
            done.append(any(s.labels[i] and scores[i] >= floor for i in top))
        else:
            done.append(not (scores >= floor).any())
    return round(sum(done) / max(1, len(done)), 3)


def answered_by(owner: dict[str, str], gold: set[str]) -> Callable[[Sequence[str]], bool]:
    """Whether a memory with these source message ids answers: `owner` maps a message id to the id
    the data set uses (a turn, an archived memory, a pair), `gold` holds the answering ones."""
    return lambda sources: any(owner.get(message) in gold for message in sources)


def collect_paraphrases(memory: Memory, user: str) -> list[Search]:
    """Plant the whole set into `user` and search every question of both splits."""
    pairs, unrelated = paraphrase.load()
    owner = paraphrase.plant(memory, user, pairs)
    out = []
    for pair in pairs:
        answers = answered_by(owner, {pair.id})
        out.append(search(memory, user, pair.question, answers, f"paraphrase-{pair.split}"))
    for question in unrelated:
        out.append(
            search(memory, user, question.question, answered_by({}, set()), f"unrelated-{question.split}")
        )
    return out


def collect_public(data: Path, embedder: Embedder, progress: Progress) -> list[Search]:
    """LoCoMo's conversations 0–3 and MADial-Bench's development dialogues."""
    locomo_file, archive = data / "locomo" / "locomo10.json", data / "madial-bench"
    if not locomo_file.is_file() or not (archive / "data").is_dir():
        raise InvalidRequest(f"calibration needs {locomo_file} and {archive}/data: pass --data.")
    out: list[Search] = []
    conversations = [c for n, c in enumerate(retrieval.load_locomo(locomo_file)) if n in retrieval.LOCOMO_DEV]
    for done, conversation in enumerate(conversations):
        progress("calibrate: LoCoMo development conversations", done, len(conversations))
        with (
            tempfile.TemporaryDirectory(prefix="memskill-calibrate-") as folder,
            Memory(settings=Settings(data_dir=Path(folder), workers=0), embedder=embedder) as memory,
        ):
            user, turn_of = retrieval.store_locomo(memory, conversation)
            for question in conversation.questions:
                answers = answered_by(turn_of, set(question.evidence))
                out.append(search(memory, user, question.text, answers, "locomo"))
    for language in ("en", "zh"):
        memories, dialogues = madial.load_madial(archive, language)
        with (
            tempfile.TemporaryDirectory(prefix="memskill-calibrate-") as folder,
            Memory(settings=Settings(data_dir=Path(folder), workers=0), embedder=embedder) as memory,
        ):
            archive_of = madial.store_madial(memory, memories, progress, f"calibrate: MADial {language}")
            for dialogue in dialogues:
                if dialogue.index % madial.MADIAL_DEV_EVERY == 0:
                    answers = answered_by(archive_of, set(dialogue.relevant))
                    out.append(search(memory, f"madial-{dialogue.user}", dialogue.query, answers, "madial"))
    return out


def calibrate(searches: Sequence[Search]) -> dict[str, Any]:
    """Fit on the tuning searches; the model and its numbers on both splits."""
    tuning = [s for s in searches if s.source in ("paraphrase-tune", "locomo", "madial")]
    weights = fit(tuning)
    model = with_floor(weights, [s for s in searches if s.source == "unrelated-tune"])
    report: dict[str, Any] = {"model": vars(model), "searches": len(searches)}
    for split in ("tune", "test"):
        report[split] = {
            "recall_at_floor": at_floor(model, (s for s in searches if s.source == f"paraphrase-{split}")),
            "unrelated_empty_rate": at_floor(
                model, (s for s in searches if s.source == f"unrelated-{split}")
            ),
        }
    return report


def run_calibration(
    data: Path | None,
    memories: int,
    progress: Progress,
    say: Callable[[str], None] = lambda text: None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Build the paraphrase user (`memories` synthetic memories), collect every source, fit."""
    from memskill.bench.perf_workload import QUICK, USER, UserBuilder

    embedder = embedder or OfflineEmbedder()
    searches: list[Search] = []
    with tempfile.TemporaryDirectory(prefix="memskill-calibrate-") as folder:
        settings = Settings(data_dir=Path(folder), workers=0)
        with Memory(settings=settings, embedder=embedder, start_workers=False) as memory:
            builder = UserBuilder(memory, replace(QUICK, skills=20), say)
            builder.add_skills()
            builder.grow(memories, embedder)
            say("calibrate: planting the paraphrase set and asking its questions…")
            searches += collect_paraphrases(memory, USER)
    if data is not None:
        searches += collect_public(data, embedder, progress)
    return calibrate(searches)


def format_calibration(report: dict[str, Any]) -> str:
    model = report["model"]
    lines = [
        "retrieve.MEMORY_MODEL = Logistic("
        + ", ".join(f"{name}={value}" for name, value in model.items())
        + ")",
        f"{'paraphrase set':<16}{'recall@10 at the floor':>24}{'unrelated with nothing':>24}",
    ]
    for split in ("tune", "test"):
        row = report[split]
        lines.append(f"{split:<16}{row['recall_at_floor']:>24.3f}{row['unrelated_empty_rate']:>24.3f}")
    return "\n".join(lines) + "\n"


def run_from_cli(args: Any, out: TextIO, err: TextIO, progress: Progress) -> int:
    """`memskill bench calibrate [--memories N] [--data DIR] [--json OUT]`."""

    def say(text: str) -> None:
        err.write(text + "\n")
        err.flush()

    memories = int((args.memories or str(MEMORIES)).split(",")[-1])
    report = run_calibration(find_data(args.data), memories, progress, say)
    out.write(format_calibration(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0
