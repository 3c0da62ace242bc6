"""The assistant's side of a task: the answer the user accepted, what it asked first, the example.

- **Accepted answer.** The last assistant reply of the task that the user did not correct or complain
  about (the user approved it, asked something else, or the task ended), preferring replies with
  structure (several lines) over one-line chat. What it is built from is read by `extract/shape.py`.
- **Clarifying questions.** Questions the assistant asked before its first real answer, which the user
  answered: what to confirm before starting.
- **Example.** The accepted answer shortened by its structure (whole lines, never cut inside one), with
  personal data masked: e-mail addresses, phone numbers, amounts of money, and names of people.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from memskill.extract.prose import CJK, CODE_BLOCK
from memskill.extract.shape import answer_lines, part_count
from memskill.extract.turns import Turn
from memskill.generalise import mask_personal, names_a_name
from memskill.models import Message

REJECTING = ("correction", "complaint")
"""User clauses that send an answer back."""
EXAMPLE_LINES = 12
"""An example keeps at most this many lines of the answer (then "…")."""
EXAMPLE_CHARS = 700
WHOLE = 0.75
"""A kept reply with at least this share of the fullest one's lines is a whole answer, not a fragment."""

_QUESTION = re.compile(r"[^。！？?!\n]*[？?]")


def reply_before(messages: Sequence[Message]) -> dict[str, str]:
    """The assistant reply each user message answers, by message id ("" when the user spoke again or
    first; tool traffic and empty replies are skipped)."""
    found: dict[str, str] = {}
    previous = ""
    for message in messages:
        if message.role == "assistant" and message.content.strip():
            previous = message.content.strip()
        elif message.role == "user":
            if message.id:
                found[message.id] = previous
            previous = ""
    return found


def reply_after(messages: Sequence[Message]) -> dict[str, str]:
    """The assistant reply that answers each user message, by message id (tool traffic skipped; absent
    when the user spoke again first or the chunk ends)."""
    found: dict[str, str] = {}
    waiting = ""
    for message in messages:
        if message.role == "user":
            waiting = message.id
        elif message.role == "assistant" and message.content.strip() and waiting:
            found[waiting] = message.content
            waiting = ""
    return found


def answers(messages: Sequence[Message]) -> list[tuple[int, Message]]:
    """The assistant replies with text, with their index in `messages`."""
    return [(i, m) for i, m in enumerate(messages) if m.role == "assistant" and m.content.strip()]


def accepted_answer(
    messages: Sequence[Message], turns: Sequence[Turn], follow_ups: Collection[str] = ()
) -> str:
    """The reply the user kept: the last one not followed by a correction or complaint, the most
    structured of those that qualify ("" when the task has no reply). A reply to a message in
    `follow_ups` (ids of messages that only ask about the answer before) answers that question, not
    the task, and is kept only when there is no other."""
    replies = answers(messages)
    if not replies:
        return ""
    reaction = {turn.message.id: turn for turn in turns}
    answering = [reply for reply in replies if not _answers_follow_up(messages, reply[0], follow_ups)]
    replies = answering or replies
    kept = []
    for index, reply in replies:
        following = next((m for m in messages[index + 1 :] if m.role == "user"), None)
        turn = reaction.get(following.id) if following is not None else None
        # "Looks great. …swap the egg hunt for something on the grass": an answer approved with one part
        # to change is kept (a revision that repeats only that part is less whole than it).
        rejected = (
            turn is not None
            and any(tag.label in REJECTING for tag in turn.tags)
            and not any(tag.label == "approval" for tag in turn.tags)
        )
        if not rejected:
            kept.append(reply.content.strip())
    kept = kept or [replies[-1][1].content.strip()]
    # A reply that only asks ("Which restaurant?", "Anything else?") is not an answer to show.
    kept = [text for text in kept if not _only_asks(text)]
    # Nor is a read-back of the details to confirm ("Please confirm: a table for 4 at 12:45."): a task
    # that ended there (the booking failed) has no answer to show.
    kept = [text for text in kept if not reads_back(text)]
    if not kept:
        return ""
    # The last of them that is whole: a revision that repeats one changed day is less of an example than
    # the plan, but a revision as full as the first answer (as many days, points or rows, and most of
    # its lines) is what the user finally got (the first may hold what they asked to drop).
    lines = [answer_lines(text)[:EXAMPLE_LINES] for text in kept]
    size, parts = [len(shown) for shown in lines], [part_count(shown) for shown in lines]
    fullest = max(reversed(range(len(kept))), key=lambda i: size[i])
    return next(
        kept[i]
        for i in reversed(range(len(kept)))
        if size[i] >= WHOLE * size[fullest] and parts[i] >= parts[fullest]  # the fullest itself qualifies
    )


def _answers_follow_up(messages: Sequence[Message], index: int, follow_ups: Collection[str]) -> bool:
    """Whether the user message the reply at `index` answers is one of `follow_ups`."""
    asking = next((m for m in reversed(messages[:index]) if m.role == "user"), None)
    return asking is not None and asking.id in follow_ups


def _only_asks(text: str) -> bool:
    """A short reply whose every sentence is a question, or whose one line ends in one."""
    lines = answer_lines(text)
    return len(lines) <= 2 and bool(re.search(r"[？?]\s*$", text.strip()))


_CONFIRM = re.compile(
    r"\bconfirm(?:ing)?\b|\b(?:for|give|need) confirmation\b|\bjust to be clear\b|\bto make sure\b"
    r"|请确认|确认一下|帮您确认|跟您确认|对吗|是吗|没问题吧",
    re.IGNORECASE,
)
"""A reply that reads the details back for the user to confirm ("Please confirm: a table for 2 …")."""
_LEAD_IN = re.compile(
    r"^(?:(?:yes|sure thing|sure|okay|ok|alright|of course|certainly|no problem|great|got it"
    r"|好的|好|可以|没问题|当然|嗯)[,.!，。！、\s]+)+",
    re.IGNORECASE,
)
"""An acknowledgement before a question ("Sure, which city?"): not part of what is asked."""
_ANNOUNCED = re.compile(r"^(?:[^:：?？\s]{1,12}|(?:[^:：?？\s]+\s){1,5}[^:：?？\s]+)[:：]\s*(?=\S)")
"""A short announcement before the questions ("A few questions first:", "想先确认一下："): not asked."""


_OFFER = re.compile(
    r"[，,][^，,]*(?:吗|不|怎么样|如何|好不好|行不行|可不可以|要不要)\s*[？?]$"
    r"|^(?:would you like|do you want|shall i|should i|does (?:that|this) (?:work|sound)"
    r"|how does (?:that|this) sound|is (?:that|this|it) (?:ok|okay|fine|alright|correct|right))\b"
    r"|\b(?:anything else|what else can i do|do you approve(?: of (?:that|this|it))?)\s*\?$",
    re.IGNORECASE,
)
"""A yes/no check after a proposal ("…建议你去海碗居尝尝吧，你感兴趣不？", "Would you like to book it?"):
the reply offers an answer; what it asks is not a question to ask before the next such task."""
READ_BACK_CHARS = 300
"""A read-back is short: a longer reply that mentions confirming delivers something."""


def reads_back(reply: str) -> bool:
    """Whether a reply reads the details back to be confirmed ("Please confirm: a table for 2 at
    12:45.", "帮您确认一下：…，对吗？"): it asks to confirm, and at most one question ("我先确认几件事：
    住宿订好了吗？…坐地铁还是打车？" asks questions)."""
    short = len(answer_lines(reply)) <= 2 and len(reply) <= READ_BACK_CHARS  # not a report that "确认" a need
    return short and bool(_CONFIRM.search(reply)) and len(re.findall(r"[?？]", reply)) <= 1


def asks_or_reads_back(reply: str) -> bool:
    """Whether a reply asks the user something: a question, or details read back to confirm."""
    return bool(_QUESTION.search(reply)) or reads_back(reply)


LAID_OUT = 8
"""A reply of at least this many non-empty lines is an answer laid out (a plan, an outline), not a
round of questions before one."""


def clarifying_questions(messages: Sequence[Message]) -> list[str]:
    """Questions the assistant asked before its first answer (that the user then answered), from every
    reply that asks until the first that does not: a reply that asks nothing is an answer, and what is
    asked after it ("Anything else?") is not asked first. A read-back to confirm is no question to ask
    first (`confirmed_before_acting`); an acknowledgement before a question is left out."""
    asked: list[str] = []
    for index, reply in answers(messages):
        if not _QUESTION.search(reply.content) or len(answer_lines(reply.content)) >= LAID_OUT:
            break  # an answer, even one with a "Questions?" slide or a closing "Anything else?"
        answered = any(m.role == "user" for m in messages[index + 1 :])
        if not answered:
            break
        if reads_back(reply.content):
            continue
        for found in _QUESTION.findall(reply.content):
            question = re.sub(r"^\s*(?:\d+[.、)）]|[-*•])\s*", "", found).strip()
            question = _LEAD_IN.sub("", re.sub(r"^.*(?<=[a-z])[.!]\s+(?=[A-Z])", "", question))
            question = _ANNOUNCED.sub("", question)
            if _OFFER.search(question):
                continue
            question = _without_named_clauses(question)
            if 2 <= len(question) <= (60 if CJK.search(question) else 100):
                asked.append(question[:1].upper() + question[1:])
    return list(dict.fromkeys(asked))[:4]


_CALENDAR = (
    r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|January|February|March|April|May|June|July|August"
    r"|September|October|November|December"
)
_EN_NAMED = re.compile(
    rf"\s+(?:of|at|in|for|from|to|near)\s+(?:the\s+)?(?!(?:{_CALENDAR})\b)[A-Z][\w'&.-]*"
    rf"(?:\s+(?!(?:{_CALENDAR})\b)[A-Z][\w'&.-]*)*"
)
"""A phrase naming a place or a venue in an English question ("Which location of Bourbon Steak …?")."""


def _without_named_clauses(question: str) -> str:
    """A question without what names this occasion's places or people: a Chinese one without the clauses
    before its last that name one ("我知道两家，金茂北京威斯汀大饭店和北京昆仑饭店都还可以，你看选择哪个呢？"
    asks "我知道两家，你看选择哪个呢？": the options were this occasion's; "" when what is left only offers
    another of them: "…，还是喜洲这类村子？"), an English one without a phrase naming one ("Which location of
    Bourbon Steak do you want?" asks "Which location do you want?")."""
    if not CJK.search(question):
        return _EN_NAMED.sub("", question)
    clauses = re.split(r"(?<=[，,；;])", question)
    kept = [c for c in clauses[:-1] if not names_a_name(c)] + clauses[-1:]
    if len(kept) < len(clauses) and re.match(r"\s*(?:还是|或者|或是)", kept[0]):
        return ""  # "住古城里、洱海边，还是喜洲这类村子？" chooses among this occasion's places
    return "".join(kept)


def confirmed_before_acting(messages: Sequence[Message], turns: Sequence[Turn]) -> bool:
    """Whether the assistant read the details back for confirmation ("Please confirm: …", "帮您确认一下…")
    and the user approved them before the answer."""
    approving = {turn.message.id for turn in turns if any(tag.label == "approval" for tag in turn.tags)}
    for index, reply in answers(messages):
        if not reads_back(reply.content):
            continue
        following = next((m for m in messages[index + 1 :] if m.role == "user"), None)
        if following is not None and following.id in approving:
            return True
    return False


def example_text(answer: str) -> str:
    """The answer shortened by its structure (whole lines, "…" where cut), personal data masked."""
    lines = answer_lines(CODE_BLOCK.sub(lambda m: m.group(0), answer))
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(kept) >= EXAMPLE_LINES or (kept and size + len(line) > EXAMPLE_CHARS):
            if sum(k.lstrip().startswith("```") for k in kept) % 2:
                kept.append("```")  # a cut inside a code block closes it
            kept.append("…")
            break
        kept.append(line)
        size += len(line)
    return mask_personal("\n".join(kept))
