"""The user turns of a chunk, read once by the turn tagger for every extractor.

Each user message is reduced to what the user says in their own words (`prose.own_sentences`: code,
long quotations and pasted material left out), cut into clauses and labelled by `memskill.tagger`,
knowing whether it is the task's first user turn and whether it answers an assistant reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from memskill.extract.prose import own_sentences
from memskill.models import Message
from memskill.tagger import Tag, Tagger, default_tagger


@dataclass(frozen=True)
class Turn:
    """One user message and its labelled clauses."""

    message: Message
    tags: tuple[Tag, ...]
    first: bool
    """The chunk's first user message."""
    reacting: bool
    """It follows an assistant reply."""
    said: str = ""
    """What the user says in their own words (`prose.own_sentences`), the text the tags were read from."""

    def labelled(self, *labels: str) -> list[Tag]:
        return [tag for tag in self.tags if tag.label in labels]


def reacts_to_answer(messages: Sequence[Message], index: int, opening: bool = False) -> bool:
    """Whether the message at `index` follows an assistant reply (tool traffic skipped); `opening` when
    nothing comes before it in `messages`."""
    for earlier in reversed(messages[:index]):
        if earlier.role == "tool" or (earlier.role == "assistant" and not earlier.content.strip()):
            continue
        return earlier.role == "assistant"
    return opening


def read_turns(
    messages: Sequence[Message],
    tagger: Tagger | None = None,
    after_answer: bool | None = None,
    opening: bool = False,
) -> list[Turn]:
    """Every user message of `messages` with its clauses labelled. `after_answer` overrides whether each
    follows an assistant reply (feedback always answers one, though it arrives alone); `opening` says
    whether the first one does (a chunk cut from the middle of a conversation)."""
    tagger = tagger or default_tagger()
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        if message.role != "user" or not message.content.strip():
            continue
        text = "\n".join(own_sentences(message.content))
        reacting = reacts_to_answer(messages, index, opening) if after_answer is None else after_answer
        tags = tagger.tag(text, first_turn=not turns, after_answer=reacting) if text else []
        tags = [_without_lead_in(tag) for tag in _without_announcements(tags)]
        turns.append(Turn(message, tuple(tags), first=not turns, reacting=reacting, said=text))
    return turns


def announces(tag: Tag, asked_before: bool = False) -> bool:
    """Whether a clause only announces the ones after it ("再加一条：", "几个要求先说清楚：", "One new
    rule:"): it ends in a colon and asks for no task ("帮我看看这段代码：" does), or asks again after the
    turn's request ("rules for release notes, for this and every release:", "how I want these in general
    (…):": no second task)."""
    return tag.text.rstrip().endswith((":", "：")) and (tag.label != "task_request" or asked_before)


_LEAD_IN = re.compile(
    r"^\s*(?:in general|generally|overall|as a rule|basically|一般来说|总的来说|总体来说|原则上)\s*[:：]\s*",
    re.IGNORECASE,
)
"""A discourse marker that opens the rules after it ("in general: start with a one-line verdict")."""


def _without_announcements(tags: Sequence[Tag]) -> list[Tag]:
    """The clauses of a turn without those that only announce (`announces`), nor the first half of an
    announcement the next clause ends ("How I want reviews written, | in general: start with…", after
    the turn's request). The last clause always stays."""
    kept: list[Tag] = []
    asked = False
    for tag, following in zip(tags, [*tags[1:], None]):
        lead = following is not None and following.label != "task_request" and _LEAD_IN.match(following.text)
        if following is None or not (announces(tag, asked) or (asked and lead)):
            kept.append(tag)
        asked = asked or tag.label == "task_request"
    return kept


def _without_lead_in(tag: Tag) -> Tag:
    """The clause without its opening discourse marker ("in general: start with…" → "start with…")."""
    lead = _LEAD_IN.match(tag.text)
    if lead is None or lead.end() >= len(tag.text.rstrip()):
        return tag
    return replace(
        tag,
        text=tag.text[lead.end() :],
        span=_LEAD_IN.sub("", tag.span) or tag.span,
        directive=_LEAD_IN.sub("", tag.directive) or tag.directive,
    )


def substantive(turn: Turn) -> bool:
    """The turn asks or states something beyond acknowledgement, complaint and chat."""
    return any(tag.label not in {"approval", "small_talk", "complaint"} for tag in turn.tags)
