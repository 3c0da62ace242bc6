"""Algorithmic segmentation: split a conversation into contiguous task chunks, without an LLM.

1. **Units.** Messages are grouped into exchanges: a user message with the assistant, tool and system
   messages that follow it. A chunk may only start at a user message, and never between an assistant
   message's `tool_calls` and the `tool` results that answer them. Messages before the first user
   message join the first exchange. A conversation without any user message falls back to one unit
   per non-tool message.
2. **Similarity.** All message texts are embedded in one `embedder.embed` call. An exchange's vector
   is its user message's vector plus the replies' vectors scaled down; its words are the content
   tokens (jieba for Chinese, lower-cased words otherwise) counted the same way. At every gap between
   exchanges, a window of exchanges on each side (nearer ones weigh more) is compared by embedding
   cosine mixed with word-count cosine.
3. **Depth.** As in TextTiling, a gap scores by how deep the similarity dips below the nearest peaks
   on its left and right, plus how far it falls below the conversation's mean similarity.
4. **Cues.** A topic-change phrase opening a user message ("另外", "顺便问下", "by the way",
   "different topic", …) or a greeting after the first exchange raises the score, and so does a
   closing just before the gap ("谢谢", "thanks, that's all", "anything else I can help with?").
   Short acknowledgements ("好的", "thanks", "ok") never start a chunk. A silence longer than
   `time_gap_minutes` between two exchanges always starts one.
5. **Selection.** Gaps that reach the threshold are taken best first, skipping a gap that would leave
   a chunk shorter than `min_exchanges`.

Defaults were tuned on the TIAGE train and dev splits (see `scripts/eval_segment.py`). `PEER_SETTINGS`
is for transcripts of two peers chatting, where either side may change the topic; `settings_for` picks
it when the assistant talks like a peer (its replies no longer than `PEER_RATIO` times the user's, and no
tool calls), as a companion chat does and an assistant that works on tasks does not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memskill.models import Message, Segment
from memskill.providers.embedders import Embedder
from memskill.text import content_tokens, has_cjk


@dataclass(frozen=True)
class SegmentSettings:
    """Weights and thresholds of the segmenter; the defaults are the tuned values."""

    window: int = 2
    """Exchanges compared on each side of a gap."""
    window_decay: float = 0.6
    """Weight of an exchange one step further from the gap, relative to the nearer one."""
    reply_weight: float = 0.5
    """Weight of assistant and tool messages relative to the user message of their exchange."""
    embedding_weight: float = 0.7
    """Share of embedding cosine in the similarity; the rest is word-overlap cosine."""
    relative_weight: float = 0.5
    """Weight of (mean similarity of the conversation − similarity at the gap) in the score."""
    threshold: float = 0.15
    """Score a gap needs to become a boundary."""
    cue_bonus: float = 0.3
    """Added when the user message after the gap opens with a topic-change phrase or greeting."""
    closing_bonus: float = 0.15
    """Added when the exchange before the gap ends a task (thanks, bye, "anything else?")."""
    question_bonus: float = 0.1
    """Added when the message after the gap asks something and the message before it did not."""
    answer_penalty: float = 0.2
    """Taken off when the message before the gap asked something and the one after answers it."""
    any_speaker: bool = False
    """Let a chunk start at any non-tool message, not only at user messages: for transcripts of two
    peers, where either side may change the topic. Tool results still stay with their call."""
    min_exchanges: int = 1
    """Fewest exchanges in a chunk, except where a time gap forces a boundary."""
    time_gap_minutes: float = 30.0
    """A silence longer than this between two exchanges always starts a new chunk."""
    max_text_chars: int = 600
    """Characters of each message used for embedding and words (the start carries the topic)."""


DEFAULT_SETTINGS = SegmentSettings()
PEER_SETTINGS = SegmentSettings(
    window=4,
    embedding_weight=0.8,
    relative_weight=1.5,
    threshold=0.35,
    cue_bonus=0.5,
    closing_bonus=0.3,
    answer_penalty=0.0,
    any_speaker=True,
    min_exchanges=4,
)
"""For a chat between two peers (open-domain, either side may change the topic): any message may open a
chunk. Tuned on TIAGE train and dev (PersonaChat) plus dialogues stitched from TIAGE train
(`scripts/eval_segment.py --tune 300 --any-speaker`, objective Pk with k at least 2)."""

PEER_RATIO = 1.4
"""A conversation reads as two peers when the assistant's median reply is shorter than this many times
the user's median message. TIAGE train+dev (PersonaChat, peers): median ratio 1.03, 95th percentile 1.88;
the dev set's task conversations: 1.54 at the least, 2.8 median. Pk on TIAGE train+dev: .456 with the
assistant settings everywhere, .428 with the peer settings everywhere, .436 / .432 / .432 / .429 with
the switch at 1.3 / 1.4 / 1.5 / 1.6 (no boundary: .444); 1.4 keeps a margin below the dev set."""
PEER_MIN_MESSAGES = 5
"""Messages each side must have said before the conversation can read as two peers: a short exchange
with terse replies ("不客气", "经理您好：……") tells too little, and the peer settings want 4 exchanges
per chunk. TIAGE dialogues have 7 or more per side, so this moves none of its numbers."""


def settings_for(messages: Sequence[Message]) -> SegmentSettings:
    """`PEER_SETTINGS` for a chat between peers, else `DEFAULT_SETTINGS` (see `PEER_RATIO`)."""
    if any(m.role == "tool" or m.tool_calls for m in messages):
        return DEFAULT_SETTINGS
    said = {
        role: [len(m.content) for m in messages if m.role == role and m.content.strip()]
        for role in ("user", "assistant")
    }
    if min(len(lengths) for lengths in said.values()) < PEER_MIN_MESSAGES:
        return DEFAULT_SETTINGS
    peer = float(np.median(said["assistant"])) < PEER_RATIO * float(np.median(said["user"]))
    return PEER_SETTINGS if peer else DEFAULT_SETTINGS


_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)
_ACK_ZH = re.compile(
    r"^(?:好的?|好滴|好嘞|好吧|行|可以|嗯+|哦+|噢|喔|收到|明白了?|知道了|了解|懂了|谢谢(?:你|您|啦)?|多谢|感谢"
    r"|没问题|对的?|是的?|不用了?|太好了|太棒了|棒|赞|完美|哈+|嘿+|ok|okay|啊|呀|吧|了|啦)+$"
)
_ACK_EN_WORDS = frozenset(
    """ok okay k thanks thank thx ty you great sure yes yeah yep yup no nope cool perfect got it nice
    awesome alright fine good sounds lol haha hmm hm right i see much very so that works will do
    understood noted wow oh ah fantastic excellent appreciate appreciated cheers""".split()
)
_CUE_ZH = re.compile(
    r"另外|顺便|换个话题|换一个话题|还有一?[件个]\S{0,2}事|还有一个问题|还有个问题|另一个问题|题外话"
    r"|别的问题|新问题|对了|话说|接下来|下一个|再问一下|再问个|我还想问|我还有|不说这个了?|先不说|说回"
)
_CUE_EN = re.compile(
    r"\b(?:by the way|btw|different topic|another question|different question|unrelated|new topic"
    r"|new question|one more thing|one other thing|something else|also,? (?:can|could|would) you"
    r"|next,|next thing|next one|different thing|switching gears|change of subject|changing the subject"
    r"|moving on|on another note"
    r"|on a different note|let's talk about|separately|quick question|i have another)\b"
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|good (?:morning|afternoon|evening)|greetings|你好|您好|嗨|哈喽|早上好|下午好|晚上好)\b"
)
_CLOSING_USER = re.compile(
    r"谢谢|感谢|多谢|就这样|没事了|没有了|不用了|再见|拜拜|完美|\bthanks\b|\bthank you\b|that's all"
    r"|that is all|\bbye\b|goodbye|that's it|that helps|all set"
)
_CLOSING_ASSISTANT = re.compile(
    r"anything else|something else i can|还有什么(?:需要|可以|要)|还需要(?:什么|其他)|其他需要|别的需要"
)
_QUESTION_ZH = re.compile(r"[吗呢么][。.!！\s]*$")
_SENTENCE_END = re.compile(r"[。！？!?\n；;]|\.(?:\s|$)")
_OPENER = re.compile(
    r"^(?:(?:hi|hello|hey|你好|您好|嗨|ok|okay|好的|thanks|谢谢|另外|顺便问下|顺便问一下|顺便|对了|话说"
    r"|换个话题|还有一件事|by the way|btw|also|next|anyway|so)[\s,，。.!！:：~～]*)+",
    re.IGNORECASE,
)


def segment(
    messages: Sequence[Message], embedder: Embedder, settings: SegmentSettings | None = None
) -> list[Segment]:
    """Split `messages` into contiguous task chunks covering every message in order (with the settings
    `settings_for` reads from the conversation unless given)."""
    if not messages:
        return []
    settings = settings or settings_for(messages)
    starts = _unit_starts(messages, settings.any_speaker)
    boundaries = _boundaries(messages, starts, embedder, settings) if len(starts) > 1 else []
    chunk_starts = [0, *(starts[unit] for unit in boundaries)]
    chunk_ends = [start - 1 for start in chunk_starts[1:]] + [len(messages) - 1]
    return [
        Segment(start, end, title_for(messages[start : end + 1]))
        for start, end in zip(chunk_starts, chunk_ends)
    ]


def segment_texts(
    texts: Sequence[str], embedder: Embedder, settings: SegmentSettings | None = None
) -> list[Segment]:
    """Segment plain utterances of two alternating speakers, the first being the user."""
    messages = [
        Message(role="user" if index % 2 == 0 else "assistant", content=text)
        for index, text in enumerate(texts)
    ]
    return segment(messages, embedder, settings)


def title_for(messages: Sequence[Message]) -> str:
    """A short title (at most 40 characters) from the chunk's first substantive user request."""
    candidates = [m.content for m in messages if m.role == "user"] or [m.content for m in messages]
    substantive = [text for text in candidates if text.strip() and not _is_acknowledgement(text)]
    for text in substantive or candidates:
        title = _first_sentence(_OPENER.sub("", text.strip()) or text.strip())
        if title:
            return _shorten(title, 40)
    return "Untitled"


# ---- units -------------------------------------------------------------------------------------


def _unit_starts(messages: Sequence[Message], any_speaker: bool) -> list[int]:
    """Message indexes where a unit (exchange) starts; the first is always 0."""
    blocked = _inside_tool_calls(messages)
    user_starts = [i for i, m in enumerate(messages) if m.role == "user" and i > 0 and i not in blocked]
    if not any_speaker and any(m.role == "user" for m in messages):
        return [0, *user_starts]
    return [0, *(i for i, m in enumerate(messages) if i > 0 and m.role != "tool" and i not in blocked)]


def _inside_tool_calls(messages: Sequence[Message]) -> set[int]:
    """Indexes lying between a `tool_calls` message and the last `tool` result answering it."""
    call_position: dict[str, int] = {}
    blocked: set[int] = set()
    for index, message in enumerate(messages):
        for call in message.tool_calls:
            call_position[call.id] = index
        if message.role == "tool":
            opened = call_position.get(message.tool_call_id or "")
            if opened is None and call_position:
                opened = max(call_position.values())
            if opened is not None:
                blocked.update(range(opened + 1, index + 1))
    return blocked


# ---- scoring -----------------------------------------------------------------------------------


def _boundaries(
    messages: Sequence[Message], starts: list[int], embedder: Embedder, settings: SegmentSettings
) -> list[int]:
    """Unit indexes (≥ 1) that start a new chunk."""
    ends = [*starts[1:], len(messages)]
    texts = [_message_text(m, settings.max_text_chars) for m in messages]
    weights = np.array(
        [1.0 if m.role == "user" else settings.reply_weight for m in messages], dtype=np.float32
    )
    if settings.any_speaker or not any(m.role == "user" for m in messages):
        weights[:] = 1.0
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32) * weights[:, None]
    unit_vectors = np.stack([vectors[start:end].sum(axis=0) for start, end in zip(starts, ends)])
    unit_words = [_weighted_words(texts[start:end], weights[start:end]) for start, end in zip(starts, ends)]
    similarity = _gap_similarity(unit_vectors, unit_words, settings)
    scores = _depth(similarity) + settings.relative_weight * (similarity.mean() - similarity)
    leaders = [messages[start] for start in starts]
    forced: set[int] = set()
    for unit in range(1, len(starts)):
        opening = leaders[unit]
        if _is_acknowledgement(opening.content):
            scores[unit - 1] = -math.inf
            continue
        if has_cue(opening.content) or _GREETING.search(opening.content.strip().lower()):
            scores[unit - 1] += settings.cue_bonus
        if _is_closing(messages[starts[unit - 1] : ends[unit - 1]]):
            scores[unit - 1] += settings.closing_bonus
        asked_before = _asks(_last_spoken(messages[: starts[unit]]))
        if _asks(opening.content) and not asked_before:
            scores[unit - 1] += settings.question_bonus
        elif asked_before and not _asks(opening.content):
            scores[unit - 1] -= settings.answer_penalty
        if _silence_minutes(messages, starts[unit]) > settings.time_gap_minutes:
            forced.add(unit)
    return _select(scores, forced, settings)


def _gap_similarity(
    unit_vectors: np.ndarray, unit_words: list[dict[str, float]], settings: SegmentSettings
) -> np.ndarray:
    """Similarity of the windows left and right of each gap; entry g is the gap before unit g + 1."""
    count = len(unit_vectors)
    similarity = np.zeros(count - 1, dtype=np.float64)
    decay = [settings.window_decay**distance for distance in range(settings.window)]
    for gap in range(1, count):
        left = [(gap - 1 - d, decay[d]) for d in range(settings.window) if gap - 1 - d >= 0]
        right = [(gap + d, decay[d]) for d in range(settings.window) if gap + d < count]
        left_vector = sum(unit_vectors[u] * w for u, w in left)
        right_vector = sum(unit_vectors[u] * w for u, w in right)
        embedding = _cosine(np.asarray(left_vector), np.asarray(right_vector))
        lexical = _counter_cosine(_mix(unit_words, left), _mix(unit_words, right))
        weight = settings.embedding_weight
        similarity[gap - 1] = weight * embedding + (1 - weight) * lexical
    return similarity


def _depth(similarity: np.ndarray) -> np.ndarray:
    """TextTiling depth: climb to the nearest peak on each side and add both rises."""
    depth = np.zeros_like(similarity)
    for gap, value in enumerate(similarity):
        left = value
        for other in similarity[gap - 1 :: -1] if gap > 0 else []:
            if other < left:
                break
            left = other
        right = value
        for other in similarity[gap + 1 :]:
            if other < right:
                break
            right = other
        depth[gap] = (left - value) + (right - value)
    return depth


def _select(scores: np.ndarray, forced: set[int], settings: SegmentSettings) -> list[int]:
    """Best-first boundaries above threshold that keep every chunk at least `min_exchanges` long."""
    units = len(scores) + 1
    chosen = set(forced)
    for gap in np.argsort(-scores, kind="stable"):
        unit = int(gap) + 1
        if scores[gap] < settings.threshold:
            break
        fences = [0, units, *chosen]
        if all(abs(unit - fence) >= settings.min_exchanges for fence in fences):
            chosen.add(unit)
    return sorted(chosen)


# ---- text features -----------------------------------------------------------------------------


def _message_text(message: Message, limit: int) -> str:
    calls = " ".join(f"{call.name} {call.arguments[:100]}" for call in message.tool_calls)
    return f"{message.content[:limit]} {calls}".strip() if calls else message.content[:limit]


def _weighted_words(texts: Sequence[str], weights: np.ndarray) -> dict[str, float]:
    words: dict[str, float] = {}
    for text, weight in zip(texts, weights):
        for token in content_tokens(text):
            words[token] = words.get(token, 0.0) + float(weight)
    return words


def _mix(unit_words: list[dict[str, float]], members: list[tuple[int, float]]) -> dict[str, float]:
    mixed: dict[str, float] = {}
    for unit, weight in members:
        for token, count in unit_words[unit].items():
            mixed[token] = mixed.get(token, 0.0) + count * weight
    return mixed


def _cosine(left: np.ndarray, right: np.ndarray) -> float:
    norms = float(np.linalg.norm(left) * np.linalg.norm(right))
    return float(left @ right) / norms if norms > 0 else 0.0


def _counter_cosine(left: dict[str, float], right: dict[str, float]) -> float:
    if not left or not right:
        return 0.0
    if len(left) > len(right):
        left, right = right, left
    dot = sum(value * right.get(token, 0.0) for token, value in left.items())
    norms = math.sqrt(sum(v * v for v in left.values()) * sum(v * v for v in right.values()))
    return dot / norms if norms > 0 else 0.0


def _is_acknowledgement(text: str) -> bool:
    """A short reply that carries no new request: "好的", "thanks!", "ok great", "嗯嗯，谢谢"."""
    lowered = text.strip().lower()
    if len(lowered) > 40:
        return False
    core = _PUNCTUATION.sub("", lowered)
    if not core:
        return True
    if has_cjk(core):
        return bool(_ACK_ZH.match(core))
    words = re.findall(r"[a-z']+", lowered)
    return 0 < len(words) <= 6 and all(word.strip("'") in _ACK_EN_WORDS for word in words)


def has_cue(text: str) -> bool:
    """Whether `text` opens with a topic-change phrase ("另外", "顺便", "by the way")."""
    lowered = text.strip().lower()
    return bool(_CUE_ZH.search(lowered[:12]) or _CUE_EN.search(lowered[:60]))


def _is_closing(messages: Sequence[Message]) -> bool:
    """The exchange ends a task: the user thanks or says goodbye, or the assistant asks what else."""
    for message in messages:
        lowered = message.content.lower()
        if message.role == "user" and len(lowered) <= 60 and _CLOSING_USER.search(lowered):
            return True
        if message.role == "assistant" and _CLOSING_ASSISTANT.search(lowered[-200:]):
            return True
    return False


def _asks(text: str) -> bool:
    return "?" in text or "？" in text or bool(_QUESTION_ZH.search(text[-6:]))


def _last_spoken(messages: Sequence[Message]) -> str:
    return next((m.content for m in reversed(messages) if m.role != "tool" and m.content.strip()), "")


def _silence_minutes(messages: Sequence[Message], start: int) -> float:
    """Minutes between the last timed message before `start` and the first timed one from it on."""
    before = next((m.chat_time for m in reversed(messages[:start]) if m.chat_time is not None), None)
    after = next((m.chat_time for m in messages[start:] if m.chat_time is not None), None)
    if before is None or after is None:
        return 0.0
    return (after - before) / 60_000


def _first_sentence(text: str) -> str:
    parts = [part.strip(" ,，:：-") for part in _SENTENCE_END.split(text)]
    return next((part for part in parts if part), "")


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not has_cjk(cut) and " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,，.:：") + "…"
