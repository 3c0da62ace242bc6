"""What every prompt module shares: the `Prompt` and its worked `Example`, the reply base type, and how
messages are numbered and cited (`numbered`, `message_at`, `one_line`, `language_of`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from memskill.extract import detect_language
from memskill.models import Message

Language = Literal["zh", "en"]
T = TypeVar("T", bound=BaseModel)
MAX_MESSAGE_CHARS = 1500
"""Longer messages are cut for the prompt (the stored message keeps everything)."""


class Reply(BaseModel):
    """Base of every response type: unknown keys are ignored, so chatty models still validate."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True)
class Example:
    """A worked example: a user message, as the prompt's module's `content(...)` builds it, and its reply."""

    content: str
    reply: dict[str, Any]
    """A reply valid for the prompt's response type, answering `content`."""


@dataclass(frozen=True)
class Prompt(Generic[T]):
    """One LLM task: instructions in both languages, the response type and an example per language."""

    name: str
    """Schema name; also written in the system message so any server can tell the tasks apart."""
    stage: str
    instructions: dict[str, str]
    response: type[T]
    examples: dict[str, Example]
    """By language: the example shown with that language's instructions (an English conversation gets
    an English example, so the model is not invited to answer in Chinese)."""

    @property
    def example(self) -> dict[str, Any]:
        """The English example reply (for callers that want one valid reply)."""
        return self.examples["en"].reply

    def schema(self) -> dict[str, Any]:
        return strict_schema(self.response.model_json_schema())

    def system(self, language: Language) -> str:
        example = self.examples[language]
        reply = json.dumps(example.reply, ensure_ascii=False)
        if language == "zh":
            shown = f"示例输入：\n{example.content}\n\n示例回复：\n{reply}"
            tail = f"只回复一个 JSON 对象（`{self.name}`），不要任何其他文字。"
        else:
            shown = f"Example input:\n{example.content}\n\nExample reply:\n{reply}"
            tail = f"Reply with one JSON object (`{self.name}`) and nothing else."
        return "\n\n".join([self.instructions[language].strip(), shown, tail])

    def messages(self, content: str, language: Language) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system(language)}, {"role": "user", "content": content}]


_NOT_SENT = {
    "default",
    "title",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "format",
}
"""Schema keywords left out of what is sent: annotations, and bounds that strict structured-output modes
refuse (the reply type still checks them when the answer is validated)."""


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Every object closed (`additionalProperties: false`) with all its properties required, and no
    keyword that strict structured-output modes refuse."""

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(value) for value in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                out[key] = {name: visit(child) for name, child in value.items()}  # names, not keywords
            elif key not in _NOT_SENT:
                out[key] = visit(value)
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
            out["required"] = list(out["properties"])
        return out

    result: dict[str, Any] = visit(schema)
    return result


def numbered(messages: Sequence[Message], limit: int = MAX_MESSAGE_CHARS) -> str:
    """Messages as `[n] role: text` lines (n from 1), tool calls and results included."""
    lines = []
    for number, message in enumerate(messages, 1):
        text = " ".join(message.content.split())
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        if message.role == "tool":
            lines.append(f"[{number}] tool result: {text}")
            continue
        calls = "; ".join(f"call {call.name}({call.arguments[:300]})" for call in message.tool_calls)
        body = " ".join(part for part in (text, calls) if part)
        lines.append(f"[{number}] {message.role}: {body}")
    return "\n".join(lines)


def language_of(messages: Sequence[Message]) -> Language:
    """The language of the user's messages (of all messages when the user said nothing)."""
    users = " ".join(m.content for m in messages if m.role == "user")
    return detect_language(users or " ".join(m.content for m in messages))


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, at most `limit` characters (models sometimes ramble)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_at(messages: Sequence[Message], number: int, roles: Sequence[str] = ("user",)) -> Message:
    """The message a reply cites by its 1-based number; ValueError (for the repair request) otherwise."""
    if not 1 <= number <= len(messages):
        raise ValueError(f"message {number} does not exist: cite a number from 1 to {len(messages)}")
    message = messages[number - 1]
    if message.role not in roles:
        raise ValueError(f"message {number} is from the {message.role}; cite a {'/'.join(roles)} message")
    return message
