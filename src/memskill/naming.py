"""Names and descriptions for skills: a spec-valid ASCII `name`, a human title and a description.

Common kinds of task are recognised from keywords (Chinese and English) and get a fixed English name such
as `travel-itinerary-planning`; anything else is named from the English words of its titles (proper
names left out), or, when the titles are Chinese only, from what their verb asks for
(`recommendation-task`, `lookup-task`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from memskill.generalise import ROLES, names_a_name, parts_of_speech
from memskill.kinds import KINDS, TaskKind
from memskill.skillfile import slugify
from memskill.text import STOPWORDS, has_cjk


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Chinese keywords match anywhere; Latin ones only as whole words (plural allowed), so "script"
    does not fire inside "subscription" nor "trip" inside "strip"; `re:` marks a regular expression."""
    if keyword.startswith("re:"):
        return re.compile(keyword[3:])
    if has_cjk(keyword):
        return re.compile(re.escape(keyword))
    return re.compile(r"(?<![a-z0-9])" + re.escape(keyword) + r"(?:s|es)?(?![a-z0-9])")


_PATTERNS: dict[str, re.Pattern[str]] = {}
_QUOTED = re.compile(r"“[^”]{6,}”|「[^」]{6,}」|\"[^\"]{12,}\"")
_IDENTIFIER = re.compile(r"[^\s`'\"]*[a-z0-9][/_][a-z0-9][^\s`'\"]*")
_ROLES = re.compile("|".join(re.escape(role) for role in sorted(ROLES, key=len, reverse=True)), re.IGNORECASE)


def kind_of_name(skill_name: str) -> TaskKind | None:
    """The kind a skill was named after (`email-writing`, `email-writing-2`), if any."""
    return next((k for k in KINDS if skill_name == k.name or skill_name.startswith(k.name + "-")), None)


def record_kind(title: str, goal: str, ask: str = "") -> TaskKind | None:
    """A task's kind: what its title names, else what its title and the words that ask for it (`ask`,
    else the whole goal) together name."""
    return recognise([title]) or recognise([title, ask or goal])


def recognise(texts: Sequence[str]) -> TaskKind | None:
    """The task kind whose keywords occur most often in `texts`, if any occurs; identifiers and paths
    (`test_invoice_email_is_queued`, `omar/bill-377-invoice-email-flake`) name things, not the task,
    and neither are the words generalisation put in place of values ("出行日期") nor quoted material
    (the "视频会议" of a sentence to translate)."""
    joined = _IDENTIFIER.sub(" ", _QUOTED.sub(" ", _ROLES.sub(" ", "\n".join(texts))).lower())
    best: tuple[int, TaskKind] | None = None
    for kind in KINDS:
        hits = 0
        for keyword in kind.keywords:
            pattern = _PATTERNS.get(keyword) or _PATTERNS.setdefault(keyword, _keyword_pattern(keyword))
            hits += len(pattern.findall(joined))
        if hits and (best is None or hits > best[0]):
            best = (hits, kind)
    return None if best is None else best[1]


_PHRASE_ENDS = frozenset(
    "for of on in at to from with about by into over than that which who whose where when while before "
    "after and or but so because if i me my you your he him his she her they them their we us our it its "
    "is are was were be been goes go".split()
)
_QUANTIFIERS = frozenset("every each few some any all another next other several many more one".split())
_TIMES = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday weekend morning afternoon evening night "
    "tonight today tomorrow yesterday last".split()
)
"""When a task is done ("every sunday night I post the rota") is not what it is."""
_NOT_NAMING = STOPWORDS | _QUANTIFIERS | _TIMES
_POSSESSIVE = re.compile(r"[a-z0-9]+['’]s")
_CONTRACTED = frozenset("it what that there here he she who let where how why when".split())
"""Words whose "'s" is "is" or "us" ("what's", "let's"), not a possessive."""


def _english_words(texts: Sequence[str]) -> list[str]:
    """The most frequent content words of `texts`, proper names left out (a capitalised word after the
    first of its text: "Villa Romano" names a restaurant, not the kind of task)."""
    counts: Counter[str] = Counter()
    for text in texts:
        for index, match in enumerate(re.finditer(r"[A-Za-z][A-Za-z0-9]+", text)):
            if word := _content_word(match.group(0), index):
                counts[word] += 1
    return [word for word, _ in counts.most_common(4)]


def _content_word(word: str, index: int) -> str:
    """`word` lower-cased when it can name a kind of task: not a proper name (capitalised after the
    first word of its text), a stop word, a quantifier, a day or time of day or a word of two letters;
    else ""."""
    lower = word.lower()
    if (index and word[0].isupper()) or len(lower) <= 2 or lower in _NOT_NAMING:
        return ""
    return lower


def _head_words(texts: Sequence[str]) -> tuple[list[str], str]:
    """What the first English request naming a thing asks for, as its noun phrase's last two content
    words: English compounds end in their head ("a proper sowing & planting calendar for March" →
    planting calendar; "need a question set for my interviews" → question set). The phrase ends at the
    first preposition, pronoun or auxiliary after it begins; proper names, quantifiers ("every
    release") and contractions ("what's") are not part of it. A request whose phrase has fewer than two
    such words ("Give me a few…") names nothing. Returns the words and the request they came from."""
    for text in texts:
        words: list[str] = []
        for index, match in enumerate(re.finditer(r"[A-Za-z][A-Za-z0-9'’]*", text)):
            word, lower = match.group(0), match.group(0).lower()
            if _POSSESSIVE.fullmatch(lower) and lower[:-2] not in _CONTRACTED:
                continue  # "last night's field notes": a possessive goes on to its head
            if lower in _PHRASE_ENDS or "'" in lower or "’" in lower:
                if words:
                    break
                continue
            if content := _content_word(word, index):
                words.append(content)
        if len(words) >= 2:
            return words[-2:], text
    return [], ""


_ZH_ACTIONS = (
    ("翻译", "translation"),
    ("审", "review"),
    ("修改", "editing"),
    ("预订", "booking"),
    ("预约", "booking"),
    ("订", "booking"),
    ("推荐", "recommendation"),
    ("找", "search"),
    ("筛", "screening"),
    ("挑", "selection"),
    ("比较", "comparison"),
    ("查", "lookup"),
    ("规划", "planning"),
    ("计划", "planning"),
    ("安排", "planning"),
    ("写", "writing"),
    ("改", "editing"),
    ("算", "calculation"),
    ("解释", "explanation"),
)
"""What a Chinese request of no known kind asks for, by its verb, in the English of a skill name: the
name says what the skill does when no word of the request can be kept (a hash says nothing)."""


NEAREST_KIND = 0.35
"""A Chinese task of no recognised kind is named after the nearest kind of `task_kinds.json` when their
cosine is at least this. Chosen on the turn corpus's train and dev kinds (each Chinese conversation's
request against the 71 kinds' English words and descriptions, offline embedder): at .35 a name is
given to 46% / 45% of them and is their own kind 75% / 78% of the time (mostly a neighbour otherwise:
`workout-plan` for a running plan); on the test kinds 67% get one, 86% their own."""

Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]


@lru_cache(maxsize=1)
def task_kinds() -> tuple[tuple[str, str], ...]:
    """The kinds a skill may be named after, as (name, its words and description)."""
    data = json.loads(resources.files("memskill").joinpath("task_kinds.json").read_text(encoding="utf-8"))
    return tuple((k["kind"], k["kind"].replace("-", " ") + ": " + k["about"]) for k in data["kinds"])


def nearest_kind(titles: Sequence[str], similarity: Similarity) -> str | None:
    """The kind of `task_kinds` nearest to the titles (their first), if near enough (`NEAREST_KIND`)."""
    title = next((t for t in titles if t.strip()), "")
    if not title:
        return None
    kinds = task_kinds()
    cosines = np.asarray(similarity([title], [text for _, text in kinds]))[0]
    best = int(np.argmax(cosines))
    return kinds[best][0] if float(cosines[best]) >= NEAREST_KIND else None


def _chinese_action(texts: Sequence[str]) -> str:
    """The English of the first action the texts' words start with ("查一下" lookup; not the 查 inside
    审查, a review)."""
    for word, _ in parts_of_speech("".join(texts)):
        for verb, english in _ZH_ACTIONS:
            if word.startswith(verb):
                return english
    return "request"


@dataclass(frozen=True)
class SkillNaming:
    name: str
    title: str
    description: str


def name_skill(
    titles: Sequence[str],
    goals: Sequence[str],
    language: str,
    taken: Sequence[str] = (),
    similarity: Similarity | None = None,
    kind: TaskKind | None = None,
    named: bool = False,
    asks: Sequence[str] = (),
) -> SkillNaming:
    """Name, title and description for a skill learned from tasks with these (generalised) titles and goals.

    The kind of task is `kind` (a skill keeps the kind it was named after, so that its name, title and
    description say one thing), else recognised from titles and what asked for each task (`asks`: the
    words up to each request, the goals when not given); the description quotes a title.
    A skill already `named` after no kind keeps none: a later task's words ("周末懒得做饭" in a budget
    review) must not give a skill named `household-spending` the title and purpose of meal planning.
    """
    texts = [*titles, *goals]
    # What was asked names the kind, with the set-up before the request ("打算去西安玩3天，帮我规划下"),
    # not the conditions after it ("帮我筛下房子吧。…地铁公交都行" is no metro question).
    kind = kind or (None if named else recognise(titles) or recognise([*titles, *(asks or goals)]))
    goals = titles
    chinese = language == "zh" or any(has_cjk(t) for t in titles[:1])
    if kind is not None:
        name = kind.name
        title = kind.title_zh if chinese else kind.title_en
        # The request quoted as an example names no one occasion's values (a restaurant, a time):
        # the description must fit the next request of the kind.
        example = next((t for t in titles if t.strip() and not names_a_name(t)), "")
        if chinese:
            when = f"（如「{_short([example])}」）" if example else ""
            description = f"{kind.purpose_zh}。当用户提出类似任务{when}时使用。"
        else:
            when = f' (e.g. "{_short([example])}")' if example else ""
            description = f"Use when the user asks for a similar task{when}; {kind.purpose_en}."
    else:
        # The words `generalise` put in place of values ("the time", "the destination") name no kind.
        head, source = ([], "") if chinese else _head_words([_ROLES.sub(" ", text) for text in titles])
        # An English word inside a Chinese request ("不要用emoji") names no Chinese task.
        words = head or ([] if chinese else _english_words([_ROLES.sub(" ", text) for text in texts]))
        titles = [source, *titles] if source else titles
        near = nearest_kind(titles or goals, similarity) if similarity and not words else None
        fallback = near or f"{_chinese_action(titles or goals)}-task"
        name = slugify("-".join(words[:3]), fallback=fallback) if words else fallback
        title = " ".join(head).capitalize() or next(
            (t for t in titles if t.strip() and not names_a_name(t)), titles[0] if titles else name
        )
        if chinese:
            description = f"完成「{_short(titles)}」这类任务的个人化做法。当用户提出类似请求时使用。"
        else:
            description = f'How this user wants tasks like "{_short(titles)}" done. Use for similar requests.'
    name = _unique(name, taken)
    return SkillNaming(
        name=name, title=title, description=description.replace("<", "‹").replace(">", "›")[:1024]
    )


def _short(texts: Sequence[str], limit: int = 40) -> str:
    """The first non-empty text, cut to `limit` characters at a word (English) or clause (Chinese) end."""
    text = next((t for t in texts if t.strip()), "").strip().replace("\n", " ")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    ends = [m.end() for m in re.finditer(r"[，,；;、]" if has_cjk(cut) else r"\s", cut)]
    at = max((e for e in ends if e >= limit // 2), default=len(cut))
    return cut[:at].rstrip(" ，,；;、") + "…"


def _unique(name: str, taken: Sequence[str]) -> str:
    if name not in taken:
        return name
    for number in range(2, 1000):
        candidate = f"{name[:60]}-{number}"
        if candidate not in taken:
            return candidate
    return name
