"""Scores of a tagger on labelled clauses: F1 per label and macro-F1 per language, span overlap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from memskill.tagger import Tagger
from memskill.tagger.corpus import LABELS
from memskill.tagger.sources import Example
from memskill.text import word_spans

PREFERENCE_AND_STEP = ("like", "dislike", "standing_rule", "constraint", "step")
"""The labels the preference and skill stages live on (a target of their own)."""


def f1_table(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = LABELS
) -> dict[str, float]:
    """F1 per label present in `gold`, `macro` (their mean), `core` (the mean over
    `PREFERENCE_AND_STEP`) and `accuracy`."""
    table: dict[str, float] = {}
    present = [label for label in labels if label in set(gold)]
    for label in present:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        table[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    table["macro"] = sum(table[label] for label in present) / max(len(present), 1)
    core = [table[label] for label in PREFERENCE_AND_STEP if label in table]
    table["core"] = sum(core) / max(len(core), 1)
    table["accuracy"] = sum(g == p for g, p in zip(gold, predicted)) / max(len(gold), 1)
    table["n"] = float(len(gold))
    return table


def by_language(
    examples: Sequence[Example], predict: Callable[[Sequence[Example]], list[str]]
) -> dict[str, dict[str, float]]:
    """`f1_table` of each language of `examples` (fully labelled examples only)."""
    labelled = [e for e in examples if e.label]
    predicted = predict(labelled)
    out = {}
    for lang in sorted({e.lang for e in labelled}):
        pairs = [(e.label, p) for e, p in zip(labelled, predicted) if e.lang == lang]
        out[lang] = f1_table([g for g, _ in pairs], [p for _, p in pairs])
    return out


def predict_in_order(tagger: Tagger, examples: Sequence[Example]) -> list[str]:
    """Labels of `examples` taken in order, as the tagger works on a turn: each clause sees the label
    predicted for the one before it in its turn (never the gold one)."""
    labels: list[str] = []
    for example in examples:
        previous = labels[-1] if labels and example.context.position > 0 else ""
        context = replace(example.context, previous_label=previous)
        labels.append(tagger.tag_clauses([example.text], [context])[0].label)
    return labels


def span_overlap(predicted: str, gold: str) -> float:
    """Word-level F1 between a predicted and a gold span."""
    a = [w for w, _, _ in word_spans(predicted) if w.strip()]
    b = [w for w, _, _ in word_spans(gold) if w.strip()]
    if not a or not b:
        return float(a == b)
    common = sum(min(a.count(w), b.count(w)) for w in set(a))
    return 2 * common / (len(a) + len(b))


def format_rows(title: str, tables: dict[str, dict[str, float]], labels: Sequence[str] = LABELS) -> str:
    """One line per language: n, accuracy, macro, core and each label's F1."""
    head = f"{title:<22s} {'n':>5s} {'acc':>5s} {'macro':>5s} {'core':>5s} " + " ".join(
        f"{label[:6]:>6s}" for label in labels
    )
    lines = [head]
    for lang, table in tables.items():
        cells = " ".join(f"{table[label]:6.2f}" if label in table else f"{'—':>6s}" for label in labels)
        lines.append(
            f"  {lang:<20s} {int(table['n']):5d} {table['accuracy']:5.2f} {table['macro']:5.2f} "
            f"{table['core']:5.2f} {cells}"
        )
    return "\n".join(lines)
