"""The user's own words: language, sentences, what is pasted rather than said, clause clean-up.

Rules here are exact or structural, not about meaning: sentence-ending punctuation, code fences and
code-like lines, a long quotation or the material pasted after "Translate this:", and the fillers and
politeness trimmed off a clause once the tagger has said what it does ("请帮我…吧" → "…").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from memskill.tagger.clauses import EN_FULL_STOP
from memskill.text import CJK


def any_of(alternatives: str) -> str:
    """A non-capturing group of `|`-separated alternatives; line breaks between them are ignored."""
    return "(?:" + re.sub(r"\s*\n\s*", "", alternatives.strip()) + ")"


def shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ================================================================ language, sentences, cleaning


def detect_language(text: str) -> Literal["zh", "en"]:
    """ "zh" when Chinese characters make up a fair share of `text` (one ≈ one word), else "en"."""
    chinese = len(CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if chinese and chinese >= 0.5 * latin_words else "en"


_SENTENCE_END = re.compile(
    r"(?<=[。！？!?；;…])[”’\"')）]*\s*"  # Chinese and shared terminators
    r"|" + EN_FULL_STOP + r"\s+"  # an English full stop before a capital
    r"|\n+"
)


_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|vs|etc|e\.g|i\.e|No)\.$")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, each keeping its final punctuation (。！？.!?; …)."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if sentences and _ABBREVIATION.search(sentences[-1]) and piece:
            sentences[-1] += " " + piece
        elif piece and re.search(r"[\w\u3400-\u9fff]", piece):
            sentences.append(piece)
        elif piece and sentences:
            sentences[-1] += piece
    return sentences


CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LONG_QUOTE = re.compile(r"[\"“「『][^\"”」』\n]{25,}[\"”」』]")
# What comes after "Translate this:" is material, not the user speaking; "Different question: …" is, and
# so is "PR to review: …": a verb that works on a text ("translate", "润色") or a word pointing at what
# follows ("this", "the following", "下面这段") ends the words before the colon.
_MATERIAL_HEAD = re.compile(
    r"\b(?:rewrite|translate|correct|fix|summari[sz]e|simplify|paraphrase|proofread|convert|improve|"
    r"edit|classify|continue|this|these|following|below)\b"
    r"|改写|翻译|润色|总结|修改|纠正|下面|以下|这段|这句|这篇",
    re.IGNORECASE,
)
_CODE_MARKS = re.compile(
    r"[{};]\s*$|==|!=|::|</|/>|^\s*(def|class|import|from|#include|return|for|if|while|SELECT|select)\b"
)
_ARROW = re.compile(r"=>|->")
"""An arrow is code in a short line ("x -> y + 1") and prose in a sentence ("four beds on a rotation,
potatoes -> peas & beans -> brassicas -> roots & onions, then round again")."""
_ASSIGNMENT = re.compile(r"^\s*[\w.\[\]'\"]+\s*[+\-*/]?=\s*\S")


def _is_code_line(line: str) -> bool:
    """A line of code rather than prose: code punctuation, a keyword start, or a short assignment
    ("x = 5", but not "Churn = customers who cancelled in the month, as a share of …")."""
    if _CODE_MARKS.search(line):
        return True
    short = len(re.findall(r"[A-Za-z\u4e00-\u9fff]+", line)) < 8
    return short and bool(_ARROW.search(line) or _ASSIGNMENT.match(line))


def own_sentences(content: str) -> list[str]:
    """Sentences where the user speaks for themselves (code and pasted material dropped). Material is
    what a paragraph ending in a colon brings ("pasting it:", "我的笔记："), unless the user's own points
    (`_own_points`), a block of lines pasted after the user's first paragraph (an essay, an e-mail, a
    log, a changelog), a last block the user said is below, and within a paragraph what follows
    "Translate this:" or a colon before a block of lines; the user's paragraphs after it are theirs.
    Only a very long message (over 3,000 characters of the user's own words) keeps just its first and
    last two sentences: at 1,000 the rules a user listed in a long first message were lost."""
    # Code and long quotations leave a mark, so a paragraph of nothing else is still the material a
    # colon announced ("the current draft:\n\n"<quoted aim>"\n\ncan you…": the question is the user's).
    text = _LONG_QUOTE.sub(_CUT, CODE_BLOCK.sub(_CUT, content))
    own: list[str] = []
    introduced = False
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    for index, paragraph in enumerate(paragraphs):
        # The user's own points after their own lead-in ("how I want these in general:") are theirs;
        # after "pasting it:", or as the last block of a message that says it is "below", material.
        points = all(_POINT_LINE.match(line) for line in _lines(paragraph))
        if (
            not paragraph.replace(_CUT, "").strip()
            or (introduced and not _own_points(own[-1], _lines(paragraph)))
            or (index and (_pasted(paragraph) or (points and _below(own, paragraphs, index))))
        ):
            introduced = False
            continue
        words, introduced = _own_part(paragraph.replace(_CUT, " ").strip())
        own.append(words)
    lines = [line for line in "\n".join(own).split("\n") if line.strip() and not _is_code_line(line)]
    sentences = split_sentences("\n".join(lines))
    if sum(map(len, lines)) > 3000 and len(sentences) > 4:
        sentences = sentences[:2] + sentences[-2:]
    return sentences


_CUT = "\x00"
"""Where code or a long quotation was cut out of a message."""
PASTED_LINES = 3
"""A paragraph of at least this many lines, after the first, is pasted (unless its lines are points)."""
BULLET_MARK = r"(?:[-*•]\s+|[·●▪■◆]\s*)"
"""A bullet opening a line: a dash or star needs a space after it ("- 上线", not "-5℃"); the bullets of
Chinese layouts ("·木质灯芯", "● 场地") do not."""
_POINT_LINE = re.compile(rf"^\s*(?:\d+[.、)）]\s*|{BULLET_MARK})\S")


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().split("\n") if line.strip()]


_RECORD_LINE = re.compile(
    rf"^\s*(?:{BULLET_MARK})?(?:[A-Z][A-Z0-9]+-\d+|#\d+|v?\d+\.\d+\.\d+|[0-9a-f]{{7,40}}\b|\d{{1,2}}:\d{{2}})"
)
"""A line a system wrote: it opens with a ticket id, a version, a commit or a time ("- PAY-1182 bulk CSV
export", "08:02 alerts fire")."""


def _pasted(paragraph: str) -> bool:
    """A block of at least `PASTED_LINES` lines besides the user's own points and their lead-ins ("two
    new ones, for every digest from now on:\n- a sampling depth column\n- …"; "pasting it:\n- …" leads
    in to material), or that a system wrote (most of its lines are `_RECORD_LINE`s: a changelog, a log)."""
    lines = _lines(paragraph)
    if len(lines) < PASTED_LINES:
        return False
    if 3 * sum(bool(_RECORD_LINE.match(line)) for line in lines) >= 2 * len(lines):
        return True
    if all(_POINT_LINE.match(line) for line in lines) or _own_lines(lines[0], lines[1:]):
        return False
    others, index = 0, 0
    while index < len(lines):
        end = index + 1
        while end < len(lines) and _POINT_LINE.match(lines[end]):
            end += 1
        lead = lines[index].rstrip()
        if end > index + 1 and lead.endswith((":", "：")) and _own_points(lead, lines[index + 1 : end]):
            index = end
            continue
        others, index = others + 1, index + 1
    return others >= PASTED_LINES


def _own_points(lead: str, lines: Sequence[str]) -> bool:
    """Whether the lines after a lead-in ending in a colon are the user's own points: points, after no
    text verb or pointer ("pasting it:"), and not data, as notes for a report or a changelog are (two
    lines in three carry a number: "- 本周日均DAU 18.6万，上周17.2万"; rules rarely do: "- max 6
    questions")."""
    data = sum(_data_line(_POINT_LINE.sub("", line, count=1)) for line in lines)
    return (
        bool(lines)
        and all(_POINT_LINE.match(line) for line in lines)
        and not _MATERIAL_HEAD.search(_tail(lead.rstrip().rstrip(":：")))
        and 3 * data < 2 * len(lines)
    )


def _own_lines(lead: str, lines: Sequence[str]) -> bool:
    """Whether the lines after a lead-in of the same paragraph ending in a colon are the user's own
    rules, written one to a line without marks ("我上架的习惯：\n标题就写 品牌+型号+成色…\n瑕疵放
    正文最前面…"): after no text verb or pointer, every line a sentence of at least `SENTENCE_WORDS`
    words, fewer than half of them with a number. A running order, an export or a recipe is lines of
    items ("OPEN", "Frit 3134 12"); this week's fixtures, one to a line, are data ("Y8 girls netball v
    St Aidan's at home, Weds 21st, starts 3.30 in the sports hall")."""
    bare = [line for line in lines if not _POINT_LINE.match(line)]
    return (
        len(bare) == len(lines) >= 2
        and lead.rstrip().endswith((":", "："))
        and not _MATERIAL_HEAD.search(_tail(lead.rstrip().rstrip(":：")))
        and all(_words(line) >= SENTENCE_WORDS for line in lines)
        and 2 * sum(bool(re.search(r"\d", line)) for line in lines) < len(lines)
    )


SENTENCE_WORDS = 5
"""The least words (Chinese: 2.5 characters a word) of a line that is a sentence, not an item."""


def _words(text: str) -> float:
    return len(CJK.findall(text)) / 2.5 + len(re.findall(r"[A-Za-z]+", text))


DATA_WORDS = 12
"""A point of at most this many words (Chinese: 2.5 characters a word) that holds a number is data
("本周日均DAU 18.6万", "headaches 3-4x/week since Aug"); a longer one is a sentence, whose numbers a
rule may hold ("dose written the way people talk: 'do this 10 times, 3 times a day', not '3x10 TDS'")."""


def _data_line(point: str) -> bool:
    return bool(re.search(r"\d", point)) and _words(point) <= DATA_WORDS


def _own_part(paragraph: str) -> tuple[str, bool]:
    """The user's words in a paragraph, and whether it ends by introducing material."""
    if re.search(r"[:：]$", paragraph):
        return paragraph, True  # the colon stays: the clause it ends announces (`turns.announces`)
    colon = re.search(r"[:：]", paragraph)
    if colon is not None:
        head, rest = paragraph[: colon.start()], paragraph[colon.end() :]
        # After "Translate this:" comes material; so does a long block of lines after any colon. One
        # long paragraph after "Another flaky one:" is the user still speaking.
        # (A block starts on a line of its own: "same rules as last time: peer-reviewed only, …" goes on.)
        block = rest.lstrip(" \t").startswith("\n") and len(_lines(rest)) >= PASTED_LINES
        if (len(head) <= 80 and _MATERIAL_HEAD.search(_tail(head))) or (
            len(rest) > 200
            and block
            and not _own_points(head, _lines(rest))
            and not _own_lines(head + "：", _lines(rest))
        ):
            return head, False
    return paragraph, False


_BELOW = re.compile(r"\b(?:is|are) (?:pasted |attached )?below\b|见下|如下|附在下面|贴在下面", re.IGNORECASE)


def _below(own: Sequence[str], paragraphs: Sequence[str], index: int) -> bool:
    """Whether the paragraph at `index` is a message's last block of lines, which the user's words
    before it said is below ("changelog from eng is below.")."""
    last = index == len(paragraphs) - 1 and len(_lines(paragraphs[index])) >= PASTED_LINES
    return last and any(_BELOW.search(words) for words in own)


_NO_POINTER = re.compile(
    r"\b(?:for|in|on|at|of|about|during|by) (?:this|these)\b"
    r"|\b(?:this|these) (?:times?|weeks?|months?|quarters?|years?|one|role|case|round)\b",
    re.IGNORECASE,
)
""""this" that points at no text: a time or occasion ("for this role", "a lot this quarter")."""


def _tail(head: str) -> str:
    """The last words before a colon, where "Translate this", "review the following code", "翻译下面这段"
    name what comes next ("this is for every review from now on:", "just for this role:" do not)."""
    return head[-8:] if CJK.search(head[-8:]) else _NO_POINTER.sub(" ", " ".join(head.split()[-3:]))


ZH_LEADING_FILLER = re.compile(
    "^"
    + any_of(r"""那个|这个吧|嗯+|哦+|噢+|啊+|呃+|额+|好的?|对了|另外|还有|然后|其实|
    就是|而且|并且|但是|可是|不过|所以|因为|总之|顺便说一下|顺便|请你|请|
    麻烦你|麻烦|哈哈+|诶|欸""")
    + r"+[，,\s]*"
)
_ZH_HELP = re.compile(r"(?:请|麻烦)?你?(?:帮我|帮忙|给我|替我)(?!们)(?=[\u4e00-\u9fff])")
ZH_TRAILING = re.compile(r"[吧啊呀哈哦嘛啦~～!！。.…\s]+$")
EN_LEADING_FILLER = re.compile(
    "^(?:"
    + any_of(r"""oh|ok|okay|also|and|but|so|well|hey|hi|actually|honestly|btw|by the way|anyway|
    just|please|pls|plz|again|yeah|yes|no|hmm+|um+|alright|sure|thanks|thank you|
    one more thing|oh and""")
    + r"\b[,!.]?\s*)+",
    re.IGNORECASE,
)
_EN_PLEASE = re.compile(r",?\s*\bplease\b,?", re.IGNORECASE)
EN_CONTRACTIONS = (
    ("i'm", "i am"), ("i've", "i have"), ("i'd", "i would"), ("i'll", "i will"),
    ("we're", "we are"), ("we've", "we have"), ("we'd", "we would"), ("don't", "do not"),
    ("doesn't", "does not"), ("didn't", "did not"), ("can't", "cannot"), ("won't", "will not"),
    ("isn't", "is not"), ("wouldn't", "would not"), ("it's", "it is"), ("that's", "that is"),
)  # fmt: skip


LIST_MARK = re.compile(r"^\s*(?:[(（]?(?:\d{1,2}|[一二三四五六七八九十])[.)、）](?!\d)|[-*•·])\s*")
"""The number or bullet of a list item ("4. 表头写上案号", "- 3 people per shift"), not "1.5 hours"."""


def clean_zh(clause: str) -> str:
    clause = ZH_LEADING_FILLER.sub("", LIST_MARK.sub("", clause.strip()))
    clause = re.sub(r"^你(?=别|不要|不用|不必|以后|下次|每次|尽量|最好|一定|记得|先)", "", clause)
    clause = _ZH_HELP.sub("", clause)
    return ZH_TRAILING.sub("", clause).strip("，, ")


def clean_en(clause: str) -> str:
    clause = EN_LEADING_FILLER.sub("", LIST_MARK.sub("", clause.strip()))
    clause = _EN_PLEASE.sub("", clause).strip()
    clause = re.sub(r"[\s,.!;:—–-]+$", "", clause)
    return clause[:1].upper() + clause[1:]


def normalise_en(text: str) -> str:
    """Lower case with contractions expanded: the form English rules match on."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    for short, full in EN_CONTRACTIONS:
        text = re.sub(rf"\b{re.escape(short)}\b", full, text)
    return text
