"""Cut a user turn into clauses, the unit the tagger labels.

Sentence ends always cut (。！？!?; and line breaks: punctuation that ends a sentence is exact, so a
rule). Inside a sentence, every comma, semicolon, colon, enumeration comma, dash and emoji, and in
English the space before "and", "but", "so", "because", "then", is a *candidate*; a small learned
model (the `boundary` model, trained on the corpus's own cuts) decides whether the two sides do
separate things ("我比较喜欢逛文化景点，| 商场什么的不太感兴趣") or one modifies the other
("帮我在规划的时候，提前确认一下天气和温度，方便我准备行李" stays whole). Fenced code, quoted material and
brackets ("(an event, a future, a join)") are never cut inside.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import numpy as np

from memskill.tagger.features import BUCKETS
from memskill.tagger.model import Model
from memskill.text import CJK

EN_FULL_STOP = (
    r"(?<=[a-z0-9)\]\"'`*_]{2}[.])(?=\s+[A-Z\"“(\[0-9])"
    r"|(?<!etc\.)(?<!approx\.)(?<!incl\.)(?<!misc\.)(?<!dept\.)(?<=[a-z]{3}[.])(?=\s+[a-z])"
)
"""An English full stop that ends a sentence: after a word of two letters or more, before a capital
("P.f. Chang's", "J. Smith" and "U.S." are initials, not sentence ends), or after a word of three
letters or more before a lower-case word, as people who type in lower case end theirs ("…no test
covers. we've had…"; "e.g. the" and "etc. and" go on)."""
_HARD = re.compile(r"(?<=[。！？!?])[”’\"')）]*|\n+|" + EN_FULL_STOP)
_SOFT = re.compile(
    r"(?<=[，,；;：:—–\U0001f300-\U0001faff\u2600-\u27bf])(?=\s*\w)|(?=\s(?:and|but|so|because|then)\s)"
    r"|(?<=\s-)(?=\s)",
    re.IGNORECASE,
)
"""Where a clause may end inside a sentence. Not after "、", which joins the items of one list
("老规矩：直接对她说、先夸、问题最多两个"): none of the corpus's 14,565 clauses ends in one, yet the
boundary model, seeing a few words either side, cut after the first item."""
CUT_THRESHOLD = 0.25
"""Cut when the model's probability reaches this. Chosen on the corpus's dev kinds for F2 (recall
weighted: an extra cut between two pieces that do the same thing costs little, a missed cut merges two
labels): zh P .62 R .88, en P .47 R .81, against R .77 / .62 at 0.5."""
_PROTECTED = re.compile(
    r"```.*?(?:```|$)|`[^`\n]*`|[\"“「『][^\"”」』]*[\"”」』]|\([^()\n]*\)|（[^（）\n]*）", re.DOTALL
)
_SUBORDINATE = re.compile(
    r"^(?:(?:and|but|so|also|then|please)\s+)*(?:(?:from now on|in future|next time|always)[,\s]+)?"
    r"(?:before|after|when|whenever|if|once|until|unless|while|as soon as)\b[^.;:]*,$"
    r"|^[^，,。；;：:]{0,6}(?:如果|要是|假如|万一)[^，,。；;：:]{1,20}[，,]$",
    re.IGNORECASE,
)
"""A time or condition that opens a sentence ("before you show me a patch,", "如果下雨，"): it modifies
what follows and is never a clause of its own (closed word classes, not a model: the corpus never cuts
after one, but the boundary model, which sees a few words either side of a comma, does). Chinese time
clauses ("在规划的时候，") are left to the model: whole, a request made "while planning" after an answer
reads as a new request, and the chunker then cuts the task in two (the brief's own conversation)."""
_TOKEN = re.compile(r"[a-z0-9']+|[\u3400-\u4dbf\u4e00-\u9fff]")


def _protected(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _PROTECTED.finditer(text)]


def _inside(position: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < position < end for start, end in spans)


def cut_points(text: str) -> tuple[list[int], list[int]]:
    """(hard cuts, candidate cuts) as offsets into `text`, outside code and quotations."""
    spans = _protected(text)
    hard = sorted({m.end() for m in _HARD.finditer(text) if 0 < m.end() < len(text)})
    hard = [p for p in hard if not _inside(p, spans)]
    soft = sorted({m.start() for m in _SOFT.finditer(text)})
    soft = [p for p in soft if 0 < p < len(text) and p not in hard and not _inside(p, spans)]
    return hard, soft


def _side_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def boundary_features(text: str, position: int, start: int, end: int) -> np.ndarray:
    """Features of a candidate cut at `position` in the sentence `text[start:end]`."""
    left, right = text[start:position], text[position:end]
    mark = left.rstrip()[-1:] or " "
    names = [f"mark:{mark}"]
    left_tokens, right_tokens = _side_tokens(left), _side_tokens(right)
    for n, token in enumerate(reversed(left_tokens[-3:])):
        names.append(f"l{n}:{token}")
    for n, token in enumerate(right_tokens[:3]):
        names.append(f"r{n}:{token}")
    if len(left_tokens) >= 2:
        names.append(f"l01:{left_tokens[-2]}{left_tokens[-1]}")
    if len(right_tokens) >= 2:
        names.append(f"r01:{right_tokens[0]}{right_tokens[1]}")
    for side, tokens in (("l", left_tokens), ("r", right_tokens)):
        size = len(tokens)
        names.append(f"{side}len:{next(k for k in (1, 2, 3, 5, 8, 13, 10_000) if size <= k)}")
    names.append("zh" if CJK.search(text[start:end]) else "en")
    slots = {zlib.crc32(f"b|{name}".encode()) & (BUCKETS - 1) for name in names}
    return np.array(sorted(slots), dtype=np.int64)


class Splitter:
    """Turn → clauses, with a trained `Boundaries` model (or, without one, cutting only at sentence
    ends and semicolons)."""

    def __init__(self, model: Model | None) -> None:
        self.model = model

    def cuts(self, text: str) -> list[int]:
        hard, soft = cut_points(text)
        if not soft:
            return hard
        bounds = [0, *hard, len(text)]
        chosen = list(hard)
        rows, positions = [], []
        for position in soft:
            start = max(b for b in bounds if b < position)
            end = min(b for b in bounds if b > position)
            rows.append(boundary_features(text, position, start, end))
            positions.append(position)
        if self.model is None:
            chosen += [p for p in positions if text[p - 1 : p] in ";；"]
        else:
            cut = self.model.labels.index("cut")
            probabilities = self.model.probabilities(rows)[:, cut]
            chosen += [p for p, probability in zip(positions, probabilities) if probability >= CUT_THRESHOLD]
        chosen.sort()
        opens = [0, *chosen]
        return [
            p for start, p in zip(opens, chosen) if p in hard or not _SUBORDINATE.match(text[start:p].strip())
        ]

    def split(self, text: str) -> list[str]:
        """The clauses of `text`, stripped, each with its punctuation; empty pieces dropped."""
        points = [0, *self.cuts(text), len(text)]
        pieces = (text[a:b].strip() for a, b in zip(points, points[1:]))
        clauses: list[str] = []
        for piece in pieces:
            if not piece:
                continue
            if clauses and not re.search(r"[\w\u3400-\u9fff]", piece, re.UNICODE):
                clauses[-1] += piece  # punctuation or an emoji alone joins the clause before it
            else:
                clauses.append(piece)
        return clauses
