"""The span of a clause: the words that state its wish, limit, rule, step or task.

"我比较喜欢逛文化景点，" → "逛文化景点"; "I'm trying to cut down on cheese." → "cheese". A clause is read
as words (jieba's words for Chinese, so a span never cuts a word; English words, numbers, marks); two
small learned models score each word as the span's first and as its last (`Spans`, trained on the corpus's own
spans), and the best pair with first ≤ last wins. The clause's label is one of the features, since a
like's span is its object while a step's span is the whole action.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from memskill.tagger.features import BUCKETS
from memskill.tagger.model import Model
from memskill.text import word_spans

MAX_TOKENS = 80
"""Longer clauses (pasted material) keep their first tokens' span."""


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) of each word of `text` (jieba's words for Chinese), the first `MAX_TOKENS`."""
    return word_spans(text)[:MAX_TOKENS]


def _name(token: str) -> str:
    return re.sub(r"\d+", "0", token.lower())


def token_features(words: list[str], i: int, label: str, side: str) -> np.ndarray:
    """Features of token i as the span's first (`side` = "s") or last ("e") token."""
    n = len(words)
    at = [words[j] if 0 <= j < n else ("<s>" if j < 0 else "</s>") for j in range(i - 3, i + 4)]
    names = [
        f"w0:{at[3]}",
        f"w-1:{at[2]}",
        f"w+1:{at[4]}",
        f"w-2:{at[1]}",
        f"w+2:{at[5]}",
        f"b-:{at[2]}|{at[3]}",
        f"b+:{at[3]}|{at[4]}",
        f"t-:{at[1]}|{at[2]}|{at[3]}",
        f"t+:{at[3]}|{at[4]}|{at[5]}",
        f"pos:{min(i, 6)}",
        f"rpos:{min(n - 1 - i, 6)}",
    ]
    names += [f"{label}|{name}" for name in names[:5]] + [f"label:{label}"]
    slots = {zlib.crc32(f"{side}|{name}".encode()) & (BUCKETS - 1) for name in names}
    return np.array(sorted(slots), dtype=np.int64)


def token_rows(text: str, label: str, side: str) -> list[np.ndarray]:
    words = [_name(token) for token, _, _ in tokens(text)]
    return [token_features(words, i, label, side) for i in range(len(words))]


def gold_token_span(text: str, span: str) -> tuple[int, int] | None:
    """Indexes of the first and last token of `span` in `text` (None when they do not line up)."""
    start = text.find(span)
    if start < 0 or not span.strip():
        return None
    end = start + len(span.rstrip())
    start += len(span) - len(span.lstrip())
    spans = tokens(text)
    first = next((i for i, (_, a, b) in enumerate(spans) if a <= start < b), None)
    last = next((i for i, (_, a, b) in enumerate(spans) if a < end <= b), None)
    if first is None or last is None or last < first:
        return None
    return first, last


class Spans:
    """Span finder with its two trained models (start, end); without them the whole clause."""

    def __init__(self, start: Model | None, end: Model | None) -> None:
        self.start, self.end = start, end

    def find(self, text: str, label: str) -> str:
        """The span of `text` for a clause labelled `label` (the clause itself without models)."""
        return self.scored(text, label)[0]

    def scored(self, text: str, label: str) -> tuple[str, float]:
        """The span and the models' confidence in it (the product of its edges' probabilities)."""
        found = tokens(text)
        if not found or self.start is None or self.end is None:
            return text.strip(), 1.0
        first = self.start.probabilities(token_rows(text, label, "s"))[:, 1]
        last = self.end.probabilities(token_rows(text, label, "e"))[:, 1]
        scores = np.triu(np.outer(first, last))
        i, j = np.unravel_index(int(scores.argmax()), scores.shape)
        return text[found[i][1] : found[j][2]].strip(), float(scores[i, j])
