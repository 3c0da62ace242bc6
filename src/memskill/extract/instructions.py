"""The user's instructions in a task: what they asked for, the steps of doing it, and what they asked of
the result (limits and corrections), each written as a short directive and generalised.

The turn tagger labels each clause; a clause is read as an instruction by its labels' probabilities
together (`MIN_INSTRUCTION`, `MIN_LIMIT`), not by the likeliest label alone. Clauses that say how this
one answer should be (answers to the assistant's questions, changes to one day of a plan, values picked
for a booking, material handed over for the answer) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

from memskill.extract.answers import reply_before
from memskill.extract.preferences import PREFERENCE_LABELS
from memskill.extract.prose import CJK, LIST_MARK, clean_en, clean_zh, shorten
from memskill.extract.scope_words import (
    AS_BEFORE,
    GENERAL_LEAD,
    ONE_DAY,
    ONE_TIME,
    STILL_LASTING,
    leads_rules,
    listed_rules,
)
from memskill.extract.substance import says_what
from memskill.extract.turns import Turn
from memskill.generalise import generalise, names_a_date, names_a_value, parts_of_speech
from memskill.models import Message
from memskill.segment import has_cue
from memskill.tagger import Tag, default_tagger
from memskill.tagger.directive import plain_zh, user_en
from memskill.text import content_tokens

INSTRUCTION_LABELS = ("step", "standing_rule", "constraint", "correction")
MIN_INSTRUCTION = 0.5
"""A clause is an instruction for the task when its likeliest label is one of `INSTRUCTION_LABELS` or the
tagger gives them together at least this probability; it is a step when that is its likeliest label or
its step and standing-rule share outweighs its limit and correction share, else a requirement of the
result. The corpus's writers drew the line between a step and a
limit differently ("先查天气" is either), so the record reads the two together instead of trusting the
likeliest label alone."""
MIN_LIMIT = 0.3
"""An instruction is also a requirement of the result when the tagger gives limit and correction
together at least this much: "周报要写成完整的段落" is both how to write and what the result must be."""
MAX_STEPS = 12

_ZH_STEP_VERBS = (("查一下", "查询"), ("查查", "查询"), ("看一下", "查看"), ("找一下", "查找"))
_EN_ASKING = re.compile(
    r"^(?:can you|could you|would you|will you|i need you to|i want you to|i would like you to|"
    r"i'd like you to)\s+",
    re.IGNORECASE,
)


def step_text(text: str) -> str:
    """A request as a short imperative ("帮我查一下天气吗？" → "查询天气", "Can you send me the list?" →
    "Send me the list": a request quoted as the user asked; as a step, `as_step` names the user)."""
    if not CJK.search(text):
        return shorten(clean_en(_EN_ASKING.sub("", clean_en(text)).rstrip("?")), 120)
    step = re.sub(r"^(?:你|我想请你|我想让你|能不能|可以|能否|能)", "", clean_zh(text))
    for spoken, written in _ZH_STEP_VERBS:
        step = step.replace(spoken, written)
    return shorten(plain_zh(re.sub(r"[?？]+$", "", step)), 120)


def as_step(request: str) -> str:
    """A later request as a step of the task: in English, the user speaking named ("Mention the dbt
    tests I set up" → "Mention the dbt tests the user set up"); Chinese requests read so already."""
    step = request if CJK.search(request) else user_en(request)
    return step[:1].upper() + step[1:]


POINTS_AT_ANSWER = re.compile(
    r"那道|那个|这个|这道|那天|这天|那段|这段|那条|这条|那部分|第[一二三四五六七八九十\d]+[天条段个道点页项]|"
    r"周[一二三四五六日天]那|\b(?:D|Day ?)\d|\b(?:that one|this one|the (?:first|second|third|last|other) "
    r"(?:one|paragraph|day|line|item|point|option|draft)|option \d|#\d)\b",
    re.I,
)
"""A correction that points at a part of one answer ("周三那道换掉", "make the second one shorter")
changes that answer, not how the task is done: it stays out of the skill. A rule on deixis, for want of
labels that tell a one-off correction from a lasting one."""


_ANNOUNCES = re.compile(r"[:：]|[，,]\s*(?:但是?|不过|可是|只是|but\b)")
"""Where a request's words end: a colon, or a "but" that goes on to the conditions ("批改下，但有几点：…")."""


def request_words(tag: Tag) -> str:
    """The words of a request (`_request_words`) up to what it announces (`_ANNOUNCES`)."""
    words = _request_words(tag)
    return _ANNOUNCES.split(words, maxsplit=1)[0].strip() or words


def _request_words(tag: Tag) -> str:
    """The words of a request: its span, unless the span stops before a verb of its phrase ("帮我把训练
    计划往上调一调" has the span "把训练计划往"), then the clause, so a request never loses its action; a
    span that starts inside "帮我" ("我列一个PPT大纲") without its "我"."""
    if not tag.span or not CJK.search(tag.text):
        return tag.span or tag.text
    before = tag.text[: tag.text.find(tag.span)] if tag.span in tag.text else ""
    if before.endswith(("帮", "给", "替", "请", "让")) and tag.span.startswith("我"):
        return _request_words(replace(tag, span=tag.span[1:]))  # "帮|我列一个PPT大纲": the span cut 帮我
    rest = tag.text[tag.text.find(tag.span) + len(tag.span) :] if tag.span in tag.text else ""
    rest = re.split(r"[，,。.;；:：!！?？\s]", rest, maxsplit=1)[0]  # the words the span's phrase runs on
    if any(flag.startswith("v") for _, flag in parts_of_speech(rest)):
        return tag.text
    return tag.span


def directive(tag: Tag, label: str | None = None) -> str:
    """The clause as a short instruction, generalised with its amounts kept ("控制在200字以内")."""
    label = label or tag.label
    text = tag.directive if label == tag.label and tag.directive else None
    text = text or default_tagger().directives.rewrite(tag.text, label, tag.span)
    return generalise(LIST_MARK.sub("", text), keep_amounts=True)


SAYS_NO = re.compile(
    r"^[^，,。；;\s]{0,6}?(?:千万|一定|都|也)?(?:不用|不要|不必|不需要|无需|别|没必要)"
    r"|^(?:never|don't|do not|no need to|skip|avoid)\b",
    re.I,
)
"""An instruction that opens by saying what not to do, its topic first or not ("早饭不用单独排时间", "Don't
add a summary")."""


_WH = re.compile(
    r"哪(?!怕)|什么|怎么|多少|几(?:点|天|个|家|种|号|晚)|谁|为什么|如何"
    r"|^(?:what|where|which|when|who|whose|why|how|are|is|was|were|do|does|did|has|have)\b",
    re.I,
)
_ASKED_TO_DO = re.compile(
    r"帮|替|能不能|可不可以|能否|可否|麻烦|\b(?:can|could|would|will) you\b|\bplease\b", re.I
)


def asks_the_assistant(text: str) -> bool:
    """Whether a clause asks the assistant something ("住宿你建议住哪？", "Which area should I stay in?",
    "Are there any vegetarian dishes?") rather than asking it to do something ("能帮我看看哪天有票吗？",
    "Can you check which day is free?"): a question with a question word (or an English one opening
    with its verb), and no asking to do."""
    text = text.strip()
    return bool(re.search(r"[?？]$", text) and _WH.search(text) and not _ASKED_TO_DO.search(text))


def answers_to_questions(messages: Sequence[Message], asked: Sequence[str]) -> dict[str, set[str]]:
    """For the user message that answers the assistant's clarifying questions (`asked`, from
    `clarifying_questions`), the content words of those questions (by message id)."""
    if not asked:
        return {}
    for index, message in enumerate(messages):
        if message.role == "assistant" and any(question in message.content for question in asked):
            reply = next((m for m in messages[index + 1 :] if m.role == "user"), None)
            words = {word for question in asked for word in content_tokens(question)}
            return {reply.id: words} if reply is not None and reply.id else {}
    return {}


def answers_question(text: str, asked: set[str]) -> bool:
    """Whether a clause answers a question with these content words ("交通就地铁加打车" to "市内主要坐地铁
    还是打车？"): it shares two of them, or all of its own."""
    own = set(content_tokens(text))
    shared = own & asked
    return len(shared) >= 2 or (bool(own) and shared == own)


PER_UNIT = re.compile(r"每|各|\b(?:per|each|every|a (?:day|page|slide|week|session))\b", re.I)
"""A limit per unit of the result ("每页最多5条要点", "at most 3 bullets per slide") shapes every answer of
the kind, so it is no value picked for one occasion even when it answers the assistant's question."""


SHORT_REPLY = 200
"""An assistant reply shorter than this many characters, in one paragraph, delivers nothing: it asks
("What time?"), offers ("推荐您去故宫餐厅用餐。") or confirms ("please confirm: a table for 2 at 12:45")."""


def after_short_reply(messages: Sequence[Message]) -> set[str]:
    """Ids of the user messages that answer a short assistant reply (`SHORT_REPLY`)."""
    return {
        message_id
        for message_id, reply in reply_before(messages).items()
        if reply and len(reply) < SHORT_REPLY and "\n" not in reply
    }


ECHOED = 0.7
"""A clause most of whose content words the reply to it repeats supplies material for the answer ("本周：
支付对接第一期上线；…" in a request for a weekly report, which the report then lists): not a step.
Chosen on the dev set's tune users: at .7 (and .6) their skills' precision .811 → .852 and verbatim
copies .143 → .071 with step recall unchanged; of their clauses above .7, all but one ("孩子爱吃番茄", a
like, never a step) were report or letter material."""


def repeated_share(own: set[str], words: set[str]) -> float:
    """The share of the content words `own` that are among `words` (0 when there are none)."""
    return len(own & words) / len(own) if own else 0.0


def echoed(text: str, reply_words: set[str]) -> bool:
    """Whether a reply with these content words repeats most of the clause's (at least three of them)."""
    own = set(content_tokens(text))
    return len(own) >= 3 and repeated_share(own, reply_words) >= ECHOED


def picks(text: str, reply: str) -> bool:
    """Whether a clause lists things the reply then includes ("武侯祠、杜甫草堂、金沙遗址都想去" before a plan
    that visits them): two of its listed items are in the reply word for word. These are this occasion's
    picks, not how the user wants such tasks done ("别安排跳绳、波比跳" is not: the plan names neither)."""
    items = [item.strip() for item in re.split(r"[、,，]|\band\b", text)]
    listed = [item for item in items[:-1] if len(item) >= 2]
    return len(items) >= 3 and sum(item in reply for item in listed) >= 2


STANDING = 0.9
"""A step the scope model reads as lasting at least this surely is also a preference of the skill
(`TaskRecord.standing`). On the tune splits: tune preferences .933 -> .967 at .9, precision unchanged;
at .8 and .7 tune steps fell .906 -> .864 and tune-2 precision .663 -> .641 / .638."""


class Requirement(NamedTuple):
    """A limit or correction asked of the result."""

    text: str
    """As a directive, generalised."""
    corrects: bool
    """It changes an answer already given."""
    message_id: str
    """The message that said it."""
    lasting: bool
    """It holds for the next task of the kind too (`Tag.lasts`), not only for this request."""
    confidence: float = 1.0
    """The tagger's probability of the clause's label: a reason or an aside cut off from its wish
    ("好几个同事不喝") reads low, and a full skill leaves it out first."""


UNSURE_REQUEST = 0.5
SURE_REQUEST = 0.9


def _outweighed(turn: Turn, tag: Tag) -> bool:
    """Whether a clause read as a request, but unsurely (under `UNSURE_REQUEST`), comes before a sure one
    of its turn (`SURE_REQUEST`): the sure one names the task, the other is what the user said first."""
    later = turn.tags[turn.tags.index(tag) + 1 :]
    return tag.confidence < UNSURE_REQUEST and any(
        t.label == "task_request" and t.confidence >= SURE_REQUEST for t in later
    )


def _rule_point(turn: Turn, tag: Tag) -> bool:
    """Whether a clause opens a point of a list the turn introduced as lasting rules (`leads_rules`)."""
    at = turn.said.find(tag.text[:12])
    return bool(LIST_MARK.match(tag.text)) and at > 0 and leads_rules(turn.said[:at])


_MISREAD_POINT = ("task_request", "personal_fact")
"""Labels a point of a listed rule is read with when its wording is a request or a statement."""
REVISED = 0.25
"""A reply revises the one before it when at least this share of its content words were in it (on the
dev set's tune users: revisions .29–.84, new answers .00–.15)."""
_NOT_CHANGING = ("task_request", "side_request", "question")
"""Labels of a turn that does more than change the answer before it: it asks for something else."""
ASKS_ELSE = 0.3
"""The least confidence of such a label for the turn to ask for something else: "they mean nothing to
the kids" read as a request at .20 is the reason of a correction, not another request."""


def instructions(
    turns: Sequence[Turn],
    tools_after: dict[str, list[str]] | None = None,
    answering: dict[str, set[str]] | None = None,
    picking: set[str] | None = None,
    replies: dict[str, str] | None = None,
) -> tuple[list[str], list[str], list[Requirement], list[str]]:
    """What the user asked for (the words of each request), the steps of the task in order (later
    requests and instructions on how to do it, as directives, and the tools called after each turn,
    from `tools_after`), and the limits and corrections asked of the result, as (directive, corrects an
    answer); generalised, without repeats.

    Two kinds of clause say how this one answer should be, not how such tasks are done, and are left
    out: answers to the assistant's clarifying questions (`answering`: the answering message's id → the
    questions' content words; the skill asks those questions first instead), and a later request or step
    about one day of the plan just shown ("第二天能不能把小雁塔也加上", `ONE_DAY`). A third kind picks a
    value for this occasion: a clause that names a number, a day, a place or a name (`names_a_value`)
    in a message answering a short reply (`picking`: the ids from `after_short_reply`), such as "Try
    for 12:45" to "What time?" or "Make it for 4 people" to a booking to confirm. A fourth hands over
    material (`replies`: the reply to each message; `echoed`): "本周：支付对接第一期上线；…", which the
    report then lists, is what this answer says, not a step of writing one."""
    requests: list[str] = []
    steps: list[str] = []
    requirements: dict[str, Requirement] = {}
    standing: list[str] = []
    declared: list[str] = []  # limits said to hold from now on, or listed under a lead-in that says so
    seen: set[str] = set()

    def add(to: list[str], text: str) -> None:
        key = _key(text)
        if len(key) >= 2 and key not in seen:
            seen.add(key)
            to.append(text)

    before_words: set[str] = set()  # the content words of the reply before the turn
    for turn in turns:
        complained = False
        general = False  # after "我给爸妈买东西一般是这几个要求：", "how I want these in general:"
        asked = (answering or {}).get(turn.message.id, set())
        reply = (replies or {}).get(turn.message.id, "")
        reply_words = set(content_tokens(reply))
        revised = repeated_share(reply_words, before_words) >= REVISED
        taken: set[str] = set()  # a clause read as the request a nameless one announced
        for tag in turn.tags:
            if tag.text in taken:
                continue
            complained = complained or tag.label == "complaint"
            general = general or bool(GENERAL_LEAD.search(tag.text))
            if asked and tag.label not in PREFERENCE_LABELS and answers_question(tag.text, asked):
                continue
            if turns_to(tag.text) and len(content_tokens(tag.text)) <= 2:
                continue  # "回到行程，" / "By the way," only announces where the talk goes
            if tag.label in INSTRUCTION_LABELS and asks_the_assistant(tag.text):
                # "住宿你建议住哪？", "Are there any vegetarian dishes there?": a question to answer, not a
                # step of the task nor a limit of its result.
                continue
            if (
                turn.message.id in (picking or set())
                and not complained  # "太长了，以后控制在200字以内" corrects the result
                and tag.label not in PREFERENCE_LABELS
                and (tag.label != "task_request" or bool(requests))  # a later request: "Can you try Sino?"
                and names_a_value(tag.text)
                and not PER_UNIT.search(tag.text)
            ):
                continue
            once = bool(ONE_TIME.search(tag.text)) and not STILL_LASTING.search(tag.text)
            one_off = (turn.reacting and bool(ONE_DAY.search(tag.text))) or once
            material = echoed(tag.text, reply_words)
            share = {label: tag.probabilities.get(label, 0.0) for label in INSTRUCTION_LABELS}
            instruction = tag.label in INSTRUCTION_LABELS or sum(share.values()) >= MIN_INSTRUCTION
            how = share["step"] + share["standing_rule"]
            limit = share["constraint"] + share["correction"]
            restated = listed_rules(tag.text) if AS_BEFORE.search(tag.text) and how >= limit else []
            if restated and not one_off:
                # "老规矩：取整到元、跟去年同月比、超10%的才标": rules of earlier tasks said again, each one
                # how the user always wants it done, whatever the clause reads as (here a step).
                for item in (generalise(rule, keep_amounts=True) for rule in restated):
                    if not names_a_date(item):
                        requirements.setdefault(
                            _key(item), Requirement(item, False, turn.message.id, True, tag.confidence)
                        )
                continue
            if (
                tag.label in _MISREAD_POINT
                and not one_off
                and _rule_point(turn, tag)
                and says_what(text := directive(tag, "constraint"))
                and not names_a_date(text)
            ):
                # "this is how I want glaze batches done from now on:\n…\n6. remind me to sieve": a point of
                # a list of rules is a rule by its place, whatever its clause reads as (a request, a fact).
                rule = Requirement(text, False, turn.message.id, True, tag.confidence)
                requirements.setdefault(_key(text), rule)
                declared.append(text)
                continue
            if tag.label == "task_request":
                # The first request names the task; a later one in the same task is a part of it.
                # (The request's words name it; a later one keeps its verb: "标注路途中值得品尝的美食".)
                if not requests and _outweighed(turn, tag):
                    continue  # "屏幕有两道细划痕…" at .39 before "帮我看看收多少合适" at 1.00
                if requests:
                    if not one_off and not material and says_what(later := step_text(tag.text)):
                        add(steps, as_step(generalise(later)))
                elif says_what(words := step_text(request_words(tag))):  # not "想让你帮忙"
                    add(requests, generalise(words))
                elif named := _named_later(turn.tags, tag):
                    clause, words = named
                    add(requests, generalise(words))
                    taken.add(clause.text)
            elif (
                (tag.label == "step" or (instruction and how >= limit))
                and not one_off
                and not material
                and says_what(text := directive(tag, "step" if tag.label not in INSTRUCTION_LABELS else None))
            ):  # (not "都按这个来", which only points back)
                add(steps, text)
                if tag.lasting >= STANDING or general:
                    standing.append(text)
                if complained and turn.reacting and not POINTS_AT_ANSWER.search(tag.text):
                    # "太长了，…概述都删掉": an instruction answering a complaint corrects the result.
                    requirements.setdefault(
                        _key(text), Requirement(text, True, turn.message.id, tag.lasts, tag.confidence)
                    )
                if SAYS_NO.match(text):
                    # "早饭不用单独排时间": a step that says what not to do limits every such result.
                    requirements.setdefault(
                        _key(text), Requirement(text, False, turn.message.id, tag.lasts, tag.confidence)
                    )
            if instruction and limit >= MIN_LIMIT and tag.mass(PREFERENCE_LABELS) < 0.5 and not once:
                label = "correction" if share["correction"] > share["constraint"] else "constraint"
                text = directive(tag, label if tag.label not in INSTRUCTION_LABELS else None)
                *others, last = listed_rules(tag.text) or [""]
                for item in (generalise(other, keep_amounts=True) for other in others):
                    if not names_a_date(item):
                        requirements.setdefault(
                            _key(item), Requirement(item, False, turn.message.id, tag.lasts, tag.confidence)
                        )
                text = generalise(last, keep_amounts=True) if last else text
                key = _key(text)
                # A limit set in reaction to an answer, in a turn that asks for nothing else, that the next
                # reply applies to that answer (`REVISED`: "周末我时间多，可以把长一点的放周末", "Good. Round
                # the percentages to one decimal place"), corrects it. Answers to the assistant's questions
                # do not; a new search with new limits is no revision.
                changes = (
                    turn.reacting
                    and revised
                    and not asked
                    and turn.message.id not in (picking or set())
                    and not any(t.label in _NOT_CHANGING and t.confidence >= ASKS_ELSE for t in turn.tags)
                )
                correction = (
                    share["correction"] > share["constraint"] or (turn.reacting and complained) or changes
                )
                # A limit tied to a day ("for next Wednesday at 6:45 pm") is a detail of this occasion,
                # not how the user wants such tasks done (the episode memory keeps it).
                if (
                    key
                    and not (correction and POINTS_AT_ANSWER.search(tag.text))
                    and not names_a_date(tag.text)
                    and not picks(tag.text, reply)
                ):
                    earlier = requirements.get(key)
                    corrects = correction or (earlier is not None and earlier.corrects)
                    requirements[key] = Requirement(
                        text, corrects, turn.message.id, tag.lasts or general, tag.confidence
                    )
                    if general or _rule_point(turn, tag) or STILL_LASTING.search(tag.text):
                        declared.append(text)
        for tool in (tools_after or {}).get(turn.message.id, []):
            add(steps, tool)
        before_words = reply_words
    # A limit or correction that names nothing the user wants ("换个别的", "Wait") is none.
    kept = steps[:MAX_STEPS]
    return (
        requests,
        kept,
        [r for r in requirements.values() if says_what(r.text)],
        [
            *(step for step in dict.fromkeys(standing) if step in kept),
            *(rule for rule in dict.fromkeys(declared) if says_what(rule)),
        ],
    )


NAMED_LATER = 0.3
"""The least probability of `task_request` for a later clause to name the task that a request naming
nothing announced ("还有个私事想让你帮忙。老家降温了，想给爸妈卧室买个取暖器"): the user has said a task
follows, so the likeliest request after it is that task even when read as a plan (.45 against .50)."""


def _named_later(tags: Sequence[Tag], nameless: Tag) -> tuple[Tag, str] | None:
    """The clause naming the task that a request naming nothing announced, with its request's words: the
    later clause of its turn likeliest to ask for one that names it, when none is read as a request
    (that one gives it), and its probability reaches `NAMED_LATER`."""
    later = tags[tags.index(nameless) + 1 :]
    if any(tag.label == "task_request" for tag in later):
        return None
    likely = [tag for tag in later if tag.probabilities.get("task_request", 0.0) >= NAMED_LATER]
    for tag in sorted(likely, key=lambda t: -t.probabilities.get("task_request", 0.0)):
        if says_what(words := step_text(request_words(tag))):
            return tag, words
    return None


def _key(text: str) -> str:
    """What two wordings of one instruction share: its letters, lower-cased."""
    return re.sub(r"\W+", "", text.lower())


def fixes_by_turn(requirements: Sequence[Requirement], language: str) -> tuple[str, ...]:
    """What each correcting turn asked to change, one text per turn ("一天最多两个地方；节奏慢一点就好；
    网红点也去掉"): the lesson a correction teaches is the turn's, not each clause's."""
    by_turn: dict[str, list[str]] = {}
    for requirement in requirements:
        if requirement.corrects:
            by_turn.setdefault(requirement.message_id, []).append(requirement.text)
    return tuple(LIST_JOIN[language].join(texts) for texts in by_turn.values())


LIST_JOIN = {"zh": "；", "en": "; "}


_RETURN = re.compile(r"^\s*(?:回到|说回|(?:going |let's go )?back to\b)", re.IGNORECASE)


def turns_to(clause: str) -> bool:
    """Whether a clause opens by changing the topic or returning to an earlier one."""
    return has_cue(clause) or bool(_RETURN.search(clause))
