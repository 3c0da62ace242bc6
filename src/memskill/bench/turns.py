"""The turn tagger on clauses it was not trained on, beside the phrase rules it replaced.

- **Corpus, unseen kinds.** The test split of the team's turn corpus (`corpus/`, `docs/data/turns.md`)
  holds kinds of task that appear nowhere in training. Per language: accuracy, macro-F1 over the
  thirteen labels, `core` (the mean F1 of like, dislike, standing rule, constraint and step, the labels
  preferences and skills are built from) and each label's F1; the old phrase rules
  (`memskill.bench.legacy`) are scored on the same clauses, with the same gold clause cuts.
- **Public dialogue acts.** SGD test (English, services absent from training) and CrossWOZ test
  (Chinese) under the mapping of `memskill.tagger.sources`: accuracy and macro-F1 of the mapped labels.
- **Clause cuts and spans.** Turns of the test kinds cut exactly as the corpus cuts them; word-level F1
  of the span found for each clause that has a gold span (given its gold label).
- **Preference items.** The test kinds' conversations go through the extraction stage itself (the
  tagger's own clause cuts, each turn answering a reply): the share of clauses the corpus labels like,
  dislike or standing rule that became a preference item (its `reasoning` quotes the clause), and the
  preference items beyond the stated ones per conversation.
- **Latency.** Milliseconds to cut and tag one user turn (median and p95 over the test turns, one turn
  at a time, after a warm-up).

Targets (the issue that introduced the tagger): macro-F1 ≥ .80 and core ≥ .85 per language on the
unseen kinds, at least .15 above the rules; ≥ 85% of stated preferences become preference items with
≤ .1 extra per conversation; ≤ 2 ms per turn.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

from memskill.bench.legacy import rules_label
from memskill.bench.report import Kind, Progress, Result
from memskill.extract import extract_preferences
from memskill.extract.preferences import PREFERENCE_LABELS
from memskill.models import Message
from memskill.tagger import Tagger, default_tagger
from memskill.tagger.corpus import LABELS, NEEDS_SPAN, Clause, corpus_dir, load, load_kinds
from memskill.tagger.evaluate import f1_table, predict_in_order, span_overlap
from memskill.tagger.sources import Example, crosswoz, from_corpus, sgd

STAGE = "turns"
_SHORT = {
    "task_request": "request",
    "constraint": "limit",
    "standing_rule": "rule",
    "correction": "correct",
    "complaint": "complain",
    "personal_fact": "fact",
    "question": "question",
    "side_request": "side",
    "small_talk": "chat",
}
QUICK_PUBLIC = 1500
"""Turns of each public test set in a quick run (a fixed-seed sample)."""


def _rules(examples: Sequence[Example]) -> list[str]:
    return [rules_label(e.text, e.context.first_turn, e.context.after_answer) for e in examples]


def _label_results(dataset: str, examples: Sequence[Example], tagger: Tagger) -> list[Result]:
    results = []
    predictions = {"memskill tagger": predict_in_order(tagger, examples), "phrase rules": _rules(examples)}
    for lang in sorted({e.lang for e in examples}):
        indexes = [i for i, e in enumerate(examples) if e.lang == lang]
        gold = [examples[i].label for i in indexes]
        for method, predicted in predictions.items():
            table = f1_table(gold, [predicted[i] for i in indexes])
            kind: Kind = "ours" if method == "memskill tagger" else "baseline"
            summary = {name: table[name] for name in ("accuracy", "macro", "core")}
            results.append(
                Result(STAGE, f"{dataset} ({lang})", method, kind, summary, extra={"n": len(gold)})
            )
            per_label = {_SHORT.get(label, label): table[label] for label in LABELS if label in table}
            results.append(Result(STAGE, f"{dataset} ({lang}), F1 per label", method, kind, per_label))
    return results


def _cuts_and_spans(tagger: Tagger, kinds: dict[str, dict[str, str]], folder: Path) -> tuple[Result, dict]:
    clauses = [c for c in load(folder / "turns") if kinds[c.kind]["split"] == "test"]
    turns: dict[tuple[str, int], list] = {}
    for clause in clauses:
        turns.setdefault((clause.dialogue, clause.turn), []).append(clause)
    exact = sum(
        tagger.split(parts[0].turn_text) == [p.text.strip() for p in parts] for parts in turns.values()
    )
    overlaps = [
        span_overlap(tagger.spans.find(c.text, c.label), c.span)
        for c in clauses
        if c.label in NEEDS_SPAN and c.span
    ]
    timings = []
    texts = [parts[0].turn_text for parts in turns.values()]
    tagger = Tagger.load()  # a fresh one: the shared tagger remembers turns it has already tagged
    for text in texts[:20]:
        tagger.tag(text)
    for text in texts:
        started = time.perf_counter()
        tagger.tag(text, first_turn=False, after_answer=True)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    metrics = {
        "cut_exact": exact / max(len(turns), 1),
        "span_f1": sum(overlaps) / max(len(overlaps), 1),
        "ms_p50": timings[len(timings) // 2],
        "ms_p95": timings[int(len(timings) * 0.95)],
    }
    return Result(
        STAGE,
        "turn corpus, test kinds: cuts, spans, latency",
        "memskill tagger",
        "ours",
        metrics,
        note="latency per user turn",
    ), {"turns": len(turns), "spans": len(overlaps)}


def _preference_items(kinds: dict[str, dict[str, str]], folder: Path) -> Result:
    """Stated preferences of the test kinds' conversations that become preference items, through the
    extraction stage itself (the tagger's own clause cuts, turn after turn, each answering a reply)."""
    clauses = [c for c in load(folder / "turns") if kinds[c.kind]["split"] == "test"]
    conversations: dict[str, dict[int, list[Clause]]] = {}
    for clause in clauses:
        conversations.setdefault(clause.dialogue, {}).setdefault(clause.turn, []).append(clause)
    stated = found = false = 0
    for dialogue, turns in conversations.items():
        messages: list[Message] = []
        for number in sorted(turns):
            if messages:
                messages.append(Message(role="assistant", content="…", id=f"{dialogue}-a{number}"))
            messages.append(
                Message(role="user", content=turns[number][0].turn_text, id=f"{dialogue}-u{number}")
            )
        drafts = extract_preferences(messages)
        for number, parts in turns.items():
            gold = [c for c in parts if c.label in PREFERENCE_LABELS]
            mine = [d for d in drafts if f"{dialogue}-u{number}" in d.sources]
            stated += len(gold)
            quoted = [_core(match.group(1)) for d in mine if (match := _QUOTED.search(d.reasoning))]
            hits = [g for g in gold if any(_same_clause(_core(g.text), q) for q in quoted)]
            found += len(hits)
            false += max(0, len(mine) - len(gold))
    metrics = {"recall": found / max(stated, 1), "false_per_conv": false / max(len(conversations), 1)}
    return Result(
        STAGE,
        "turn corpus, test kinds: stated preferences → preference items",
        "memskill extraction",
        "ours",
        metrics,
        extra={"stated": stated, "conversations": len(conversations)},
    )


def _core(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


_QUOTED = re.compile(r"[「\"](.*)[」\"]\s*$", re.DOTALL)


def _same_clause(gold: str, quoted: str) -> bool:
    """The gold clause is in the quoted one, or the quoted one is most of the gold clause (cut apart)."""
    return bool(gold) and (gold in quoted or (len(quoted) >= 0.5 * len(gold) and quoted in gold))


def run(data: Path, quick: bool, progress: Progress, corpus: Path | None = None) -> list[Result]:
    """Scores of the shipped tagger and of the old rules (see the module docstring)."""
    folder = corpus or corpus_dir()
    tagger = default_tagger()
    results: list[Result] = []
    if (folder / "turns").is_dir():
        kinds = load_kinds(folder / "kinds.json")
        examples = [e for e in from_corpus(load(folder / "turns")) if kinds[e.kind]["split"] == "test"]
        progress("turn corpus, test kinds", 0, 1)
        results += _label_results("turn corpus, unseen kinds", examples, tagger)
        for lang in ("zh", "en"):
            results.append(
                Result(
                    STAGE,
                    f"turn corpus, unseen kinds ({lang})",
                    "target",
                    "target",
                    {"macro": 0.80, "core": 0.85},
                )
            )
        results.append(_preference_items(kinds, folder))
        results.append(
            Result(
                STAGE,
                "turn corpus, test kinds: stated preferences → preference items",
                "target",
                "target",
                {"recall": 0.85, "false_per_conv": 0.1},
            )
        )
        cuts, extra = _cuts_and_spans(tagger, kinds, folder)
        results.append(
            Result(cuts.stage, cuts.dataset, cuts.method, cuts.kind, cuts.metrics, cuts.note, extra)
        )
        results.append(Result(STAGE, cuts.dataset, "target", "target", {"ms_p50": 2.0}))
        progress("turn corpus, test kinds", 1, 1)
    else:
        results.append(
            Result(
                STAGE,
                "turn corpus",
                "memskill tagger",
                "ours",
                {},
                note=f"no corpus at {folder}: run from the repository or pass its corpus/",
            )
        )
    acts = data / "dialogue-acts"
    for name, path, reader in (
        ("SGD test, mapped acts", acts / "sgd-user-turns-test.jsonl.gz", sgd),
        ("CrossWOZ test, mapped acts", acts / "crosswoz-user-turns-test.jsonl.gz", crosswoz),
    ):
        if not path.is_file():
            continue
        examples = list(reader(path))
        if quick:
            examples = random.Random(0).sample(examples, min(QUICK_PUBLIC, len(examples)))
        progress(name, 0, 1)
        results += [r for r in _label_results(name, examples, tagger) if "per label" not in r.dataset]
        progress(name, 1, 1)
    return results
