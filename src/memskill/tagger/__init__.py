"""Tagger: what each clause of a user turn does — a request, a step, a limit, a like, a correction, …

A user turn is cut into clauses (`clauses.py`: sentence ends, then a learned choice at each comma),
each clause gets one of thirteen labels (`LABELS`) from a logistic regression over hashed character
and word n-grams and the clause's place in the conversation (`features.py`, `model.py`), and the
clauses that carry a wish get the span that states it (`span.py`) and a directive, the wish written as
a short instruction (`directive.py`), and each wish the probability that it holds beyond this request
(`scope.py`). All five models are trained by
`memskill train tagger` (`train.py`) on the team's labelled corpus (`corpus/`, `docs/data/turns.md`) and
public dialogue-act sets (`sources.py`), and ship as one small `weights.npz` read with numpy alone.

    >>> tagger = default_tagger()
    >>> [(tag.label, tag.span) for tag in tagger.tag("我比较喜欢逛文化景点，商场什么的不太感兴趣。")]
    [('like', '逛文化景点'), ('dislike', '商场')]
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from memskill.tagger.clauses import Splitter
from memskill.tagger.corpus import LABELS, NEEDS_DIRECTIVE, NEEDS_SPAN, WISH_LABELS
from memskill.tagger.directive import Directives, rewrite
from memskill.tagger.features import Context, feature_ids, scope_features
from memskill.tagger.model import WEIGHTS, Model, load_models
from memskill.tagger.span import Spans

__all__ = ["LABELS", "LASTING", "PREFERENCE_LABELS", "Context", "Tag", "Tagger", "default_tagger"]

LASTING = 0.25
"""The least `Tag.lasting` of a wish that holds beyond its request (`Tag.lasts`)."""
PREFERENCE_LABELS = frozenset({"like", "dislike", "standing_rule", "constraint", "correction"})
"""Labels whose clauses state how the user wants things done."""


@dataclass(frozen=True)
class Tag:
    """One clause of a user turn and what it does."""

    text: str
    """The clause as written."""
    label: str
    """One of `LABELS`."""
    confidence: float
    """The model's probability of `label`."""
    span: str
    """The words stating the wish, limit, rule, step or task (the clause itself for other labels)."""
    probabilities: dict[str, float] = field(default_factory=dict, compare=False)
    """The model's probability of every label."""
    directive: str = ""
    """The wish as a short instruction ("多安排文化景点", "Avoid cheese"); "" for other labels."""
    lasting: float = 1.0
    """The probability that the clause, read as a wish (`WISH_LABELS`; a clause of another label as a
    `constraint`, since its label mass may still make it one), holds for the next task of the kind too,
    not only this request (`tagger.scope`); 1.0 without a scope model."""

    @property
    def lasts(self) -> bool:
        """Whether the wish holds for the next task of its kind too (`lasting` ≥ `LASTING`)."""
        return self.lasting >= LASTING

    def mass(self, labels: Iterable[str]) -> float:
        """The probability that the clause carries one of `labels`."""
        return sum(self.probabilities.get(label, 0.0) for label in labels)


class Tagger:
    """Splits turns into clauses and labels them, with the shipped models or given ones."""

    def __init__(self, models: dict[str, Model]) -> None:
        self.clause_model = models["clause"]
        self.splitter = Splitter(models.get("boundary"))
        self.spans = Spans(models.get("span_start"), models.get("span_end"))
        self.directives = Directives(self.spans)
        self.scope_model = models.get("scope")
        # The pipeline reads a chunk's turns more than once (is it a new task? then its extraction), and
        # each job re-reads recent history: a turn is tagged once per process.
        self._tagged = lru_cache(maxsize=4096)(self._tag_turn)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> Tagger:
        return cls(load_models(path))

    def split(self, turn: str) -> list[str]:
        """The clauses of one user turn."""
        return self.splitter.split(turn)

    def tag_clauses(self, clauses: Sequence[str], contexts: Sequence[Context]) -> list[Tag]:
        """Labels of given clauses, each with where it stands (its `previous_label` as given)."""
        if not clauses:
            return []
        rows = [feature_ids(text, context) for text, context in zip(clauses, contexts)]
        probabilities = self.clause_model.probabilities(rows)
        return [self._tag(*row) for row in zip(clauses, probabilities, rows, contexts)]

    def _tag(self, text: str, probabilities: np.ndarray, slots: np.ndarray, context: Context) -> Tag:
        best = int(probabilities.argmax())
        label = self.clause_model.labels[best]
        span, confidence = self.spans.scored(text, label) if label in NEEDS_SPAN else (text.strip(), 1.0)
        every = {name: float(p) for name, p in zip(self.clause_model.labels, probabilities)}
        directive = rewrite(text, label, span, confidence) if label in NEEDS_DIRECTIVE else ""
        return Tag(text, label, every[label], span, every, directive, self._lasting(slots, label, context))

    def _lasting(self, slots: np.ndarray, label: str, context: Context) -> float:
        """`Tag.lasting` of a clause with its label and context."""
        model = self.scope_model
        if model is None:
            return 1.0
        # A clause labelled otherwise may still be read as a wish (by its label mass): its scope as one.
        wish = label if label in WISH_LABELS else "constraint"
        row = model.probabilities([scope_features(slots, wish, context)])[0]
        return float(row[model.labels.index("lasting")])

    def tag(self, turn: str, first_turn: bool = True, after_answer: bool = False) -> list[Tag]:
        """Every clause of one user turn, labelled left to right (each clause sees the label given to
        the one before it). `first_turn`: the turn opens the task; `after_answer`: it follows an
        assistant reply."""
        return list(self._tagged(turn, first_turn, after_answer))

    def _tag_turn(self, turn: str, first_turn: bool, after_answer: bool) -> tuple[Tag, ...]:
        clauses = self.split(turn)
        tags: list[Tag] = []
        for i, text in enumerate(clauses):
            context = Context(
                first_turn=first_turn,
                position=i,
                count=len(clauses),
                after_answer=after_answer,
                previous=clauses[i - 1] if i else "",
                following=clauses[i + 1] if i + 1 < len(clauses) else "",
                previous_label=tags[-1].label if tags else "",
            )
            slots = feature_ids(text, context)
            row = self.clause_model.probabilities([slots])[0]
            tags.append(self._tag(text, row, slots, context))
        return tuple(tags)


_default: Tagger | None = None
_lock = threading.Lock()


def default_tagger() -> Tagger:
    """The shipped tagger, loaded once per process."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Tagger.load()
    return _default
