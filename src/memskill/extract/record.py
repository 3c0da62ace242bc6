"""The task record of a chunk, and `extract`, which runs every extractor on a chunk.

The record's steps are what the user asked for, in order: every clause the turn tagger labels a task
request, a step or a standing rule, each cleaned into a short imperative ("帮我查一下天气吗？"
→ "查询天气"), generalised (`memskill.generalise`) so a skill built from it fits
the next task of the kind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from memskill.extract.answers import (
    accepted_answer,
    clarifying_questions,
    confirmed_before_acting,
    example_text,
    reply_after,
)
from memskill.extract.facts import extract_facts
from memskill.extract.followups import follow_ups, follows_up
from memskill.extract.instructions import (
    POINTS_AT_ANSWER,
    after_short_reply,
    answers_to_questions,
    directive,
    fixes_by_turn,
    instructions,
    repeated_share,
    request_words,
    step_text,
    turns_to,
)
from memskill.extract.preferences import extract_preferences, turn_preferences
from memskill.extract.prose import (
    CJK,
    CODE_BLOCK,
    clean_en,
    detect_language,
    shorten,
    split_sentences,
)
from memskill.extract.shape import named_parts, structure
from memskill.extract.substance import says_what
from memskill.extract.tools import extract_tool_lessons, tool_steps
from memskill.extract.turns import Turn, reacts_to_answer, read_turns, substantive
from memskill.generalise import generalise
from memskill.models import Extraction, FactDraft, Message, PreferenceDraft, Segment, TaskChunk, TaskRecord
from memskill.text import content_tokens

CONFIRM_STEP = {
    "zh": "执行前向用户复述细节并确认",
    "en": "Read the details back and get the user's confirmation before acting",
}
"""The step of a task in which the assistant read the details back and the user approved them."""
ASKING = ("task_request", "step", "side_request")
"""Labels of a clause that asks for something to be done (a record's `asks` is their highest mass)."""
ASK_FLOOR = 0.7
"""A task without tool calls starts a skill only when the user surely asked for something (`TaskRecord.asks`
at least this): chat about one's weekend asks nothing, even when the tagger reads one clause as a
request. Chosen on 60 TIAGE train chats (PersonaChat, no tasks: 103 skills at 0, 40 / 27 / 20 / 11 at
.5 / .6 / .7 / .8) and the dev set (its skills unchanged at all four); of the 118 unseen task
conversations in `corpus/pending/`, none asks less than .75. TIAGE test, 100 chats: 172 → 23 skills."""


# Spoken verbs written down: exact rewrites of a few colloquial forms, not a detector.
def wishes(turns: Sequence[Turn]) -> list[tuple[str, bool]]:
    """What the user likes, dislikes and always wants, as directives ("优先文化景点", "避免商场"), each
    with whether it corrects an answer; the clauses `extract_preferences` stores as preferences."""
    found: dict[str, tuple[str, bool]] = {}
    confidence: dict[str, float] = {}
    for turn in turns:
        for tag, correction in turn_preferences(turn):
            if correction and POINTS_AT_ANSWER.search(tag.text):
                continue
            text = directive(tag, tag.label)
            if not says_what(text):
                continue  # "都按这个来": it points back and names nothing an agent could follow
            found[text] = (text, correction or found.get(text, ("", False))[1])
            confidence[text] = max(confidence.get(text, 0.0), tag.confidence)
    # The surest first: a full skill keeps the first ones (`skill_items.trim`).
    return sorted(found.values(), key=lambda wish: -confidence[wish[0]])


_ASKED = ("task_request", "side_request", "question", "step")
"""Labels of a clause that asks for something, however unsure ("好的，谢谢。我还想找一个…餐馆", .69)."""


def asks_for_a_task(chunk: TaskChunk) -> bool:
    """Whether a user turn of the chunk asks for something (a request, a question, a step, another task);
    a chunk of thanks, corrections, limits or preferences only goes on with the task before it. A step
    counts as asking: "回到行程，住宿你建议住哪？" is read as a step, and it returns to another task."""
    turns = read_turns(chunk.messages, opening=chunk.after_answer)
    # A question about the answer just given ("它的地址是哪") asks for more of it, not for a new task; nor
    # does a request whose object points back at the task ("Make it for the 14th", "Please try that").
    turns = [
        replace(
            turn,
            tags=tuple(
                t
                for t in turn.tags
                if not follows_up(turn, t) and not (turn.reacting and _BACK.match(t.text))
            ),
        )
        for turn in turns
    ]
    first = turns[0].tags if turns else ()
    if (
        chunk.after_answer
        and first
        and first[0].label == "approval"
        and not any(turns_to(t.text) for t in first)
    ):
        # "That is correct. How expensive is it?" keeps talking about the answer it approves: only a
        # clause that surely asks for something new ("Perfect. Now I need …") starts another task. A
        # turn that says it changes or returns to a topic ("另外…", "回到行程，…") is read by its labels.
        return any(tag.mass(ASKING) >= ASK_FLOOR for turn in turns for tag in turn.tags)
    return any(tag.label in _ASKED for turn in turns for tag in turn.tags)


def answers_before(chunk: TaskChunk) -> int:
    """How many leading messages of a chunk that goes on to ask for something still answer the task
    before it: approvals or thanks alone ("这版清楚了，就按这个报给领导。") and any reply to them, up to the
    first user message that asks (0 when the chunk opens asking, never asks, or says something else
    first). They belong to that task's record, not to the next one's."""
    for index, message in enumerate(chunk.messages):
        if message.role != "user" or not message.content.strip():
            continue
        alone = TaskChunk(chunk.conversation_id, "", (message,), chunk.after_answer or index > 0)
        if asks_for_a_task(alone):
            return index
        read = read_turns(alone.messages, opening=alone.after_answer)
        if any(substantive(turn) for turn in read) and not _signs_off(read):
            return 0  # a limit or a fact ahead of the ask may be the next task's own
    return 0


def _signs_off(turns: Sequence[Turn]) -> bool:
    """Whether a message opens by approving the answer before it and asks nothing ("好，这版发给小杨了，
    她明天上午去改。"): what it goes on to say is about that answer, not the next task."""
    tags = [tag for turn in turns for tag in turn.tags]
    return bool(tags) and tags[0].label == "approval" and not any(t.label in _ASKED for t in tags)


def task_chunks(
    conversation_id: str, messages: Sequence[Message], segments: Sequence[Segment]
) -> list[TaskChunk]:
    """The tasks of a conversation's messages, cut where the segmenter cut, except that thanks,
    corrections or limits answer the task before them, alone or ahead of a new ask (`answers_before`):
    one task, one record."""
    parts: list[TaskChunk] = []
    for part in segments:
        chunk = TaskChunk(
            conversation_id,
            part.title,
            tuple(messages[part.start : part.end + 1]),
            reacts_to_answer(messages, part.start),
        )
        head = len(chunk.messages) if parts and not asks_for_a_task(chunk) else 0
        head = head or (answers_before(chunk) if parts else 0)
        if head:
            parts[-1] = replace(parts[-1], messages=parts[-1].messages + chunk.messages[:head])
        if head < len(chunk.messages):
            after = reacts_to_answer(messages, part.start + head)
            parts.append(replace(chunk, messages=chunk.messages[head:], after_answer=after))
    return parts


_BACK = re.compile(
    r"^\s*(?:(?:yes|yeah|ok(?:ay)?|sure|so|then|please|can you|could you|let's|just)[,\s]+)*"
    r"(?:[a-z]+\s+){1,3}"
    r"(?:it|that|this|them)(?=\s*(?:$|[,.!?]|(?:for|to|at|on|in|again|instead|please|now|then)\b))"
    r"|^\s*(?:那就|就|再)?(?:帮我)?把?(?:它|这个|那个)(?![\u4e00-\u9fff]{0,2}(?:酒店|餐馆|景点|地方))",
    re.I,
)
"""A request whose object is a pronoun: it asks something of the task at hand."""

_ANOTHER_ASK = ("task_request", "side_request", "question")
"""A clause asking for another part of the task ("给我写一下具体做法", "这个酒店有停车位吗？"), not how to
redo the answer before it (a step such as "按片区排")."""


REVISION_SHARE = 0.4
"""An answer is a revision of the reply before it when at least this share of its content words are
in that reply (the same email with one sentence added): it still answers the task's first request."""


def _revises(answer: str, before: Sequence[Message]) -> bool:
    previous = next((m.content for m in reversed(before) if m.role == "assistant" and m.content.strip()), "")
    return repeated_share(set(content_tokens(answer)), set(content_tokens(previous))) >= REVISION_SHARE


def answered_request(messages: Sequence[Message], turns: Sequence[Turn], answer: str) -> str:
    """The request `answer` replied to, generalised, when that is a later request of the task than its
    first: the closest user message before the answer, if a clause of it asks for another part of the
    task (`_ANOTHER_ASK`, or a step after approving the answer before). "" when the answer replies to
    the first request, to a correction, a wish or an instruction on how to redo it, or when it revises
    the reply before it (`REVISION_SHARE`): the task's request stands."""
    replies = [i for i, m in enumerate(messages) if m.role == "assistant" and m.content.strip() == answer]
    before = messages[: replies[-1]] if replies else []
    asked = next((m for m in reversed(before) if m.role == "user"), None)
    first = next((turn.message.id for turn in turns if substantive(turn)), None)
    turn = next((t for t in turns if asked is not None and t.message.id == asked.id), None)
    if turn is None or turn.message.id == first or _revises(answer, before):
        return ""
    labels = {t.label for t in turn.tags}
    # "番茄龙利鱼那个好，给我写一下具体做法": a step after approving the answer asks for the next part.
    approved = "approval" in labels and not labels & {"complaint", "correction"}
    asking = (*_ANOTHER_ASK, "step") if approved else _ANOTHER_ASK
    tag = next((t for t in turn.tags if t.label in asking), None)
    return generalise(step_text(request_words(tag))) if tag is not None else ""


def _first_sentence(text: str) -> str:
    """The opening sentence of a request, pasted code and material left out."""
    sentences = split_sentences(CODE_BLOCK.sub(" ", text))
    return sentences[0] if sentences else text


def _title(goal: str, fallback: str) -> str:
    sentences = split_sentences(goal)
    if not sentences:
        return shorten(fallback or "task", 40)
    first = sentences[0]
    text = step_text(first) if CJK.search(first) else clean_en(first).rstrip("?")
    return shorten(text or first, 40)


def _outcome(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == "assistant" and message.content.strip():
            sentences = split_sentences(CODE_BLOCK.sub(" ", message.content))
            if sentences:
                return shorten(sentences[0], 120)
    lessons = extract_tool_lessons(messages)
    if not lessons:
        return ""
    failed = [lesson.tool for lesson in lessons if lesson.usage.success_rate < 1.0]
    return f"tool calls ended with failures: {', '.join(failed)}" if failed else "tool calls succeeded"


def build_task_record(
    chunk: TaskChunk,
    preferences: Sequence[PreferenceDraft],
    facts: Sequence[FactDraft],
    turns: Sequence[Turn] | None = None,
) -> TaskRecord:
    """What the chunk's task was, how the user wanted it done, and how it ended.

    `facts` stay out of the record on purpose: they are concrete, while a record feeds skills.
    """
    del facts
    turns = list(turns) if turns is not None else read_turns(chunk.messages, opening=chunk.after_answer)
    users = [turn.message for turn in turns]
    first_turn = next((turn for turn in turns if substantive(turn)), None)
    first = first_turn.message if first_turn is not None else None
    opening_turn = first_turn or (turns[0] if turns else None)
    opening = opening_turn.message if opening_turn is not None else None
    # What the user said, not what they pasted: a ticket's "SMS reminders" does not make the task a
    # reminder, nor a log line's "refactor" a coding task.
    said = opening_turn.said.replace("\n", " ") if opening_turn is not None else ""
    goal = shorten(said or opening.content, 500) if opening is not None else chunk.title
    language = detect_language(" ".join(turn.message.content for turn in turns) or chunk.title)
    questions = clarifying_questions(chunk.messages)
    requests, steps, requirements, standing = instructions(
        turns,
        tool_steps(chunk.messages, language == "zh"),
        answers_to_questions(chunk.messages, questions),
        after_short_reply(chunk.messages),
        reply_after(chunk.messages),
    )
    # A chunk that asks for nothing (thanks, corrections, limits, preferences) has no steps: it answers
    # the conversation's previous task, which the pipeline continues with it. A question stands for
    # its task ("“山城步道”用英文怎么说？" is a translation), as the first request would.
    asking = [tag for turn in turns for tag in turn.labelled("task_request", "side_request", "question")]
    asked_later = False
    if not requests and asking:
        # The clause that asks, not the turn's first sentence: "行。还有…车是不是都很早？" asks the question.
        requests = [generalise(step_text(asking[0].text))]
        asked_later = first_turn is not None and asking[0] not in first_turn.tags
    if confirmed_before_acting(chunk.messages, turns):
        steps.append(CONFIRM_STEP[language])
    # A limit the scope model reads as this request's only ("这次预算3000以内", "周五晚上7点") ranks after
    # the lasting ones, so a full skill leaves it out first. Dropping it outright lost more of the
    # users' own limits than it removed of the occasion's (docs/benchmarks.md). A correction of this
    # answer comes between: what it diagnoses ("去年那边空调没扣") must not crowd out a lasting rule.
    ranked = sorted(requirements, key=lambda r: (not r.lasting, not r.corrects, -r.confidence))
    del preferences  # the same clauses, read here as directives
    liked = wishes(turns)
    followed, only_follow = follow_ups(turns, requests, chunk.messages)
    answer = accepted_answer(chunk.messages, turns, only_follow)
    replied = answered_request(chunk.messages, turns, answer) if answer else ""
    if asked_later and answer and not replied and first is not None:
        # The answer replied to a first message that asked nothing outright ("打算…去西安玩3天。老规矩，先查
        # 天气…"): that message, not the later question the task's request was taken from, is what it answers.
        said = re.sub(r"\s+", " ", CODE_BLOCK.sub(" ", first.content)).strip()
        replied = generalise(shorten(said, 80))
    tools = dict.fromkeys(
        call.name for message in chunk.messages if message.role == "assistant" for call in message.tool_calls
    )
    language = detect_language(" ".join(message.content for message in users) or chunk.title)
    return TaskRecord(
        title=_title(goal, chunk.title),
        goal=goal,
        steps=tuple(steps),
        corrections=tuple(
            dict.fromkeys(text for text, fix in [*liked, *((r.text, r.corrects) for r in ranked)] if fix)
        ),
        preferences=tuple(dict.fromkeys(text for text, _ in liked)),
        tools=tuple(tools),
        outcome=_outcome(chunk.messages),
        language=language,
        sources=tuple(message.id for message in chunk.messages if message.id),
        requirements=tuple(dict.fromkeys(r.text for r in ranked)),
        occasional=tuple(dict.fromkeys(r.text for r in ranked if not r.lasting)),
        standing=tuple(standing),
        fixes=fixes_by_turn(requirements, language),
        requests=tuple(requests),
        shape=tuple(structure(answer)),
        asked=tuple(generalise(question) for question in questions),
        example=example_text(answer),
        example_request=replied,
        asks=max((tag.mass(ASKING) for turn in turns for tag in turn.tags), default=0.0),
        follow_ups=tuple(generalise(text) for text in followed),
        parts=tuple(f"{name}: {generalise(gist)}" for name, gist in named_parts(answer)),
        ask=_ask(opening_turn),
    )


def _ask(turn: Turn | None) -> str:
    """The user's own words up to the end of the first clause that asks for a task and names it (its
    set-up before it kept: "打算去西安玩3天，帮我规划下"); "" when none does."""
    if turn is None:
        return ""
    for tag in turn.labelled("task_request", "side_request", "question"):
        at = turn.said.find(tag.text)
        if at >= 0 and says_what(request_words(tag)):
            return shorten(turn.said[: at + len(tag.text)].replace("\n", " "), 500)
    return ""


def extract(chunk: TaskChunk) -> Extraction:
    """Everything one task chunk yields: its record, facts, preferences and tool lessons."""
    turns = read_turns(chunk.messages, opening=chunk.after_answer)
    preferences = extract_preferences(chunk.messages, turns)
    facts = extract_facts(chunk.messages, turns)
    return Extraction(
        record=build_task_record(chunk, preferences, facts, turns),
        facts=tuple(facts),
        preferences=tuple(preferences),
        tool_lessons=tuple(extract_tool_lessons(chunk.messages)),
    )
