"""Full-text values for `PostgresStore`: the same words SQLite's FTS5 index sees, as tsvector / tsquery.

The SQLite store indexes `index_text(text)` (jieba-segmented, lower-cased tokens) with FTS5's default
`unicode61` tokenizer, which splits a token further at underscores and folds Latin diacritics (é → e).
`lexemes` reproduces that in Python, and the documents and queries are written as tsvector / tsquery
literals from those lexemes, so PostgreSQL's own parser (which would, e.g., keep `café` and read
`3.5` as one number) never re-tokenises them: a word matches in PostgreSQL exactly when it matches in
SQLite. Positions are kept (`ts_rank_cd` needs them, and `<->` phrases).

Queries arrive as FTS5 MATCH expressions (`memskill.text.match_query`: quoted tokens joined by OR);
`tsquery` translates that language (quoted phrases, bare words, OR / AND / NOT, implicit AND,
parentheses) into a tsquery.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from memskill.text import tokens

_ALNUM = re.compile(r"[^\W_]+")
MAX_LEXEME_BYTES = 2046
"""PostgreSQL refuses longer words (to_tsvector skips them too)."""
MAX_POSITION = 16383
MAX_TSVECTOR_CHARS = 900_000
"""Stop indexing a document's later words before the tsvector reaches PostgreSQL's 1 MB limit."""


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFD", char)
    if len(decomposed) > 1 and decomposed[0].isascii() and all(map(unicodedata.combining, decomposed[1:])):
        return decomposed[0]
    return char


def _fold(word: str) -> str:
    return word if word.isascii() else "".join(map(_fold_char, word))


def lexemes(text: str) -> list[str]:
    """The words of `text` in order, as FTS5's unicode61 tokenizer reads `index_text(text)`."""
    return [_fold(part) for token in tokens(text) for part in _ALNUM.findall(token)]


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(text: str, owner: str | None = None) -> str | None:
    """A tsvector literal of the words of `text` (and `owner` at position 1), or None when it has none."""
    positions: dict[str, list[int]] = {}
    start = 1
    if owner is not None:
        positions[owner] = [1]
        start = 2
    size = 0
    for offset, word in enumerate(lexemes(text)):
        if len(word.encode()) > MAX_LEXEME_BYTES:
            continue
        places = positions.get(word)
        if places is None:
            size += len(word) + 8
            if size > MAX_TSVECTOR_CHARS:
                break
            positions[word] = places = []
        if len(places) < 256:  # PostgreSQL keeps at most 256 positions of a word
            places.append(min(start + offset, MAX_POSITION))
    if not positions or (owner is not None and len(positions) == 1):
        return None
    return " ".join(
        _quote(word) + ":" + ",".join(map(str, dict.fromkeys(places))) for word, places in positions.items()
    )


_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\()|(\))|([^\s()"]+)')


def tsquery(match: str) -> str | None:
    """The tsquery for an FTS5 MATCH expression, or None when it names no word."""
    items: list[str] = []
    for quoted, opening, closing, bare in _TOKEN.findall(match):
        if opening or closing:
            items.append(opening or closing)
        elif bare in ("OR", "AND", "NOT"):
            items.append(bare)
        else:
            words = lexemes(quoted.replace('""', '"') if quoted else bare)
            items.append("(" + " <-> ".join(map(_quote, words)) + ")" if words else "")
    return _Parser(items).expression()


class _Parser:
    """Recursive descent over FTS5's precedence (NOT binds tighter than AND, AND tighter than OR).

    A term without words (e.g. `"_"`) drops out of the expression; a stray operator is skipped and an
    unmatched closing parenthesis ends the expression, where FTS5 would report a syntax error.
    """

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.at = 0

    def _peek(self) -> str | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def expression(self) -> str | None:
        parts = [self._conjunction()]
        while self._peek() == "OR":
            self.at += 1
            parts.append(self._conjunction())
        kept = [p for p in parts if p]
        return None if not kept else kept[0] if len(kept) == 1 else "(" + " | ".join(kept) + ")"

    def _conjunction(self) -> str | None:
        parts = [self._negation()]
        while self._peek() not in (None, "OR", ")"):
            if self._peek() == "AND":
                self.at += 1
            parts.append(self._negation())
        kept = [p for p in parts if p]
        return None if not kept else kept[0] if len(kept) == 1 else "(" + " & ".join(kept) + ")"

    def _negation(self) -> str | None:
        left = self._primary()
        while self._peek() == "NOT":
            self.at += 1
            right = self._primary()
            if left and right:
                left = f"({left} & !{right})"
        return left

    def _primary(self) -> str | None:
        item = self._peek()
        if item is None:
            return None
        self.at += 1
        if item == "(":
            inner = self.expression()
            if self._peek() == ")":
                self.at += 1
            return inner
        if item in ("OR", "AND", "NOT", ")"):
            return None
        return item or None
