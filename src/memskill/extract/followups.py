"""Follow-up questions: what the user asked about an answer they were just given.

"这家酒店的电话是多少？", "它的地址是哪", "What's their phone number?" ask for more of the same answer,
not for a new task: the chunk they open goes on with the task before it (`asks_for_a_task`), the reply
to them is no example of the task's answer, and what they asked about ("电话", "地址", "phone number")
is what the next answer of the kind should give without being asked: the skill says so in one step.

A question is a follow-up when it reacts to an assistant reply and points back at it (a pronoun or a
demonstrative: 它、这家、that, their) or is short (`SHORT_ZH` characters, `SHORT_EN` words). What it
asks about is its nouns (jieba's `n` in Chinese, or what is around the place: "周边酒店"; content words
in English), without names, without the words of the task's request (the hotel asked for is not news)
and without question words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memskill.extract.answers import asks_or_reads_back, reply_before
from memskill.extract.prose import CJK
from memskill.extract.turns import Turn
from memskill.generalise import parts_of_speech
from memskill.models import Message
from memskill.tagger import Tag
from memskill.text import STOPWORDS, content_tokens

POINTS_BACK = re.compile(
    r"它|这家|那家|这个|那个|这里|那里|这儿|那儿|该|其中|周边|附近|"
    r"\b(?:it|its|they|their|them|that|this|there|these|those|the place|the restaurant|the hotel)\b",
    re.IGNORECASE,
)
SHORT_ZH = 12
SHORT_EN = 6
MAX_ASKED = 3
"""Things kept per question (a question that lists more names a new request)."""
_EN_NOT_ASKED = frozenset(
    """what whats where when which who whom whose how is are was were does do did can could will would
    should may might tell give let know get find need want like please also any some much many there
    serve serves offer offers located locate book reserve make
    have has had more their them they its it that this these those about one ones
    before let go again""".split()
)
_ZH_NOT_ASKED = frozenset(
    "什么 多少 哪里 哪儿 哪个 哪家 怎么样 怎么 时候 东西 情况 问题 一下 麻烦 帮忙".split()
)
"""Question words, and courtesy jieba reads as nouns ("麻烦你帮我查一下…": 麻烦)."""
_ZH_KEPT_FLAGS = ("n", "an")
_ZH_AROUND = frozenset({"周边", "附近", "周围"})


def follows_up(turn: Turn, tag: Tag) -> bool:
    """Whether a clause is a question about the answer just given."""
    if not turn.reacting or tag.label != "question":
        return False
    text = tag.text.strip()
    if CJK.search(text):
        short = len(re.findall(r"[\u4e00-\u9fff]", text)) <= SHORT_ZH
    else:
        short = len(text.split()) <= SHORT_EN
    return short or bool(POINTS_BACK.search(text))


def asked_about(question: str, requests: Sequence[str]) -> list[str]:
    """What a follow-up question asks about ("这家酒店的电话是多少？" → ["电话"] when the request named
    the hotel)."""
    requested = {word for request in requests for word in content_tokens(request)}
    if CJK.search(question):
        pairs = parts_of_speech(question)
        around = next((i for i, (word, _) in enumerate(pairs) if word in _ZH_AROUND), None)
        if around is not None:
            # "那餐馆周边有酒店吗": what is around the place just given, not the place itself.
            nouns = [w for w, flag in pairs[around + 1 :] if flag in _ZH_KEPT_FLAGS and len(w) >= 2]
            return [pairs[around][0] + (nouns[0] if nouns else "")]
        # Nouns only: jieba tags places and people otherwise, so no name is kept.
        found = [
            word
            for word, flag in pairs
            if flag in _ZH_KEPT_FLAGS
            and len(word) >= 2
            and word not in _ZH_NOT_ASKED
            and not re.search(r"\d", word)
            and not any(word in r or r in word for r in requested if len(r) >= 2)
        ]
    else:
        found = []
        # "What type of food do they serve and what's the address?" asks two things.
        for part in re.split(r"\band\b|[,;]", question):
            kept = []
            for index, match in enumerate(re.finditer(r"[A-Za-z][A-Za-z'-]*", part)):
                word = match.group(0)
                lowered = word.lower().removesuffix("'s")
                if index and word[0].isupper():
                    continue  # a name ("Villa Romano"), not what is asked about
                if lowered in STOPWORDS or lowered in _EN_NOT_ASKED or lowered in requested:
                    continue
                if len(lowered) >= 3:
                    kept.append(match)
            if kept:  # the words as written from the first kept to the last: "type of food"
                found.append(part[kept[0].start() : kept[-1].end()].lower())
    return list(dict.fromkeys(found))[:MAX_ASKED]


def follow_ups(
    turns: Sequence[Turn], requests: Sequence[str], messages: Sequence[Message]
) -> tuple[list[str], set[str]]:
    """What the user's follow-up questions asked about, in order, and the ids of the messages that
    only follow up (their replies answer a question, not the task)."""
    asked: list[str] = []
    only: set[str] = set()
    # Messages answering a reply that asks something ("Please confirm: …", "Which city?").
    confirming = {i for i, reply in reply_before(messages).items() if asks_or_reads_back(reply)}
    for turn in turns:
        questions = [tag for tag in turn.tags if follows_up(turn, tag)]
        for tag in questions:
            asked += asked_about(tag.text, requests)
        # "That is correct. How expensive is it?" to "Please confirm: …" confirms too, and the reply
        # answers the task; "好的，它的地址是哪？" to an offer only acknowledges it.
        said = ("small_talk",) if turn.message.id in confirming else ("small_talk", "approval")
        rest = [t for t in turn.tags if t not in questions and t.label not in said]
        if questions and not rest and turn.message.id:
            only.add(turn.message.id)
    return list(dict.fromkeys(asked)), only
