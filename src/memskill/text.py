"""Text tokenisation shared by keyword search and the lexical features of the stages.

Chinese is segmented with jieba (search mode, so both `博物馆` and `博物` index); other scripts are split
on word characters and lower-cased. jieba's dictionary loads once, lazily (~0.7 s).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache

CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""The Chinese characters (CJK extension A, the unified ideographs and the compatibility ideographs):
the one definition every module reads "is this Chinese" from."""
CJK = re.compile(f"[{CJK_RANGES}]")
"""One Chinese character."""
_WORD = re.compile(f"[\\w{CJK_RANGES}]+", re.UNICODE)
_jieba_lock = threading.Lock()
_jieba_ready = False

STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at for with by from as is are was were be been being it
    its this that these those i me my we our you your he she they them his her their what which who whom
    how when where why do does did done can could would should will shall may might must not no yes
    please just about into over than too very also there here have has had am s t
    的 了 吗 呢 吧 啊 是 在 我 你 他 她 它 们 我们 你们 这 那 就 都 也 和 与 及 或 一个 一下
    帮 帮我 请 把 给 让
    要 想 会 能 可以 吧 呀 哦 嗯 还 又 再 很 太 更 最 有 没有 不 没 什么 怎么 如何 哪 哪些 一 个""".split()
)


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


def _jieba() -> object:
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(60)
                jieba.initialize()
                _jieba_ready = True
    return jieba


@lru_cache(maxsize=8192)
def _tokens_cached(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for run in _WORD.findall(text.lower()):
        if has_cjk(run):
            jieba = _jieba()
            out.extend(t for t in jieba.lcut_for_search(run) if t.strip())  # type: ignore[attr-defined]
        else:
            out.append(run)
    return tuple(out)


_PIECE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[A-Za-z0-9'’_.%$#/+-]+|\S")


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) of each word of `text` as written: Chinese runs cut into jieba's words
    (precise mode), Latin words and numbers whole, any other character alone."""
    out: list[tuple[str, int, int]] = []
    for match in _PIECE.finditer(text):
        piece, start = match.group(0), match.start()
        if has_cjk(piece[0]):
            for word in _jieba().lcut(piece):  # type: ignore[attr-defined]
                out.append((word, start, start + len(word)))
                start += len(word)
        else:
            out.append((piece, start, match.end()))
    return out


def tokens(text: str) -> list[str]:
    """All word tokens of `text` (Chinese segmented, everything lower-cased)."""
    if len(text) > 4000:
        return list(_tokens_cached.__wrapped__(text))
    return list(_tokens_cached(text))


def content_tokens(text: str) -> list[str]:
    """Tokens without stop words and one-letter Latin noise: what a keyword query should match on."""
    return content_filter(tokens(text))


def content_filter(words: Sequence[str]) -> list[str]:
    """`words` (tokens) without stop words and one-letter Latin noise."""
    return [t for t in words if t not in STOPWORDS and (len(t) > 1 or has_cjk(t) or t.isdigit())]


def index_text(text: str) -> str:
    """The string stored in a full-text index: tokens joined by spaces."""
    return " ".join(tokens(text))


def match_query(
    text: str, max_terms: int = 32, counts: Callable[[Sequence[str]], dict[str, int]] | None = None
) -> str | None:
    """An FTS5 MATCH expression that ORs the quoted content tokens of `text`, or None if it has none.

    With `counts` (how many documents hold each term), only the `max_terms` rarest terms that some
    document holds are kept: a term that half the documents hold finds nothing a rare one does not, and
    makes the query slow; a term no document holds finds nothing at all. Terms `counts` cannot tell
    about (it returns nothing) keep their written order."""
    seen = list(dict.fromkeys(content_tokens(text)))
    if counts is not None and len(seen) > max_terms:
        held = counts(seen)
        if held:
            seen = sorted(seen, key=lambda token: (token not in held, held.get(token, 0)))
    seen = seen[:max_terms]
    if not seen:
        return None
    return " OR ".join('"' + token.replace('"', '""') + '"' for token in seen)
