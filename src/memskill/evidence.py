"""The evidence check: a skill version says only what its source messages back.

A model asked to update a skill may name a tool, a command, a file or a parameter value that never
came up ("call `get_weather_v2`"), and an agent that loads the skill would then call something that
does not exist. Before a version is stored, every procedure step, lesson and preference is checked
against the messages of the tasks it was learned from:

- every technical token it mentions must occur in them: a `backticked` span, a call (`name(`), an
  identifier with an underscore or a dot between words (`query_db`, `os.path`), a file path
  (`/etc/hosts`, `report.sql`) and a `key=value` parameter (its value, since the key may be written
  differently in the call's JSON);
- a preference or a lesson must cite at least one source (a task record, which names its messages).

An item that fails is kept out of the version, and the version records why (`SkillVersion.held_out`).
Plain words are never checked: generalised wording ("目的地", "the destination") is the point of a skill.
Examples quote the accepted answer with personal data masked, so they are not checked either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from memskill.models import Message, SkillItem
from memskill.stores.base import Store, TaskRecordRow

CHECKED_SECTIONS = ("procedure", "experience", "preference")
"""Sections whose items are checked (an example is a quoted answer)."""
CITED_SECTIONS = ("experience", "preference")
"""Sections whose items must cite a source."""

_BACKTICKED = re.compile(r"`([^`\n]{1,80})`")
_CALL = re.compile(r"\b([A-Za-z_][\w.]*[A-Za-z0-9_])\s*\(")
_IDENTIFIER = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b|\b[a-z]+(?:\.[a-z_]+)+\(?")
_PATH = re.compile(
    r"(?:~|\.{1,2})?/[\w.\-]+(?:/[\w.\-]+)+|\b[\w\-]+\.(?:py|js|ts|tsx|json|md|sql|ya?ml|toml|sh|csv|txt|go|rs|"
    r"java|rb|php|html|css|ipynb|xlsx?|docx?|pdf)\b"
)
_PARAMETER = re.compile(r"\b\w+\s*=\s*('[^'\n]*'|\"[^\"\n]*\"|[^\s,;，；)）]+)")
_DOTTED_WORDS = re.compile(r"^[a-z]+\.[a-z]+$")
"""`e.g`, `i.e` and the like are not identifiers; real dotted names have a call or an underscore."""


def technical_tokens(text: str) -> list[str]:
    """The tokens of `text` that must occur in its sources: backticked spans, calls, identifiers, paths
    and parameter values ("`order` → order; query_db(...) → query_db; max_time=30 → 30")."""
    found: list[str] = []
    for match in _BACKTICKED.finditer(text):
        found.append(match.group(1).strip())
    unquoted = _BACKTICKED.sub(" ", text)
    found += [m.group(1) for m in _CALL.finditer(unquoted) if "_" in m.group(1) or "." in m.group(1)]
    found += [
        m.group(0).rstrip("(")
        for m in _IDENTIFIER.finditer(unquoted)
        if not _DOTTED_WORDS.match(m.group(0).rstrip("("))
    ]
    found += [m.group(0) for m in _PATH.finditer(unquoted)]
    found += [m.group(1).strip("'\"") for m in _PARAMETER.finditer(unquoted)]
    return [token for token in dict.fromkeys(found) if token.strip()]


def source_text(messages: Iterable[Message]) -> str:
    """Everything the source messages say, tool calls with their arguments included, lower-cased."""
    parts: list[str] = []
    for message in messages:
        parts.append(message.content)
        for call in message.tool_calls:
            parts += [call.name, call.arguments]
    return "\n".join(parts).lower()


def check(items: Sequence[SkillItem], sources: str) -> tuple[list[SkillItem], list[str]]:
    """The items their sources back, and for each other one why it was kept out. `sources` is
    `source_text` of the messages the skill was learned from."""
    kept: list[SkillItem] = []
    held_out: list[str] = []
    for item in items:
        reason = _unbacked(item, sources)
        if reason:
            held_out.append(f"{item.section}: {item.text} — {reason}")
        else:
            kept.append(item)
    return kept, held_out


def _unbacked(item: SkillItem, sources: str) -> str:
    if item.section not in CHECKED_SECTIONS:
        return ""
    if item.section in CITED_SECTIONS and not item.sources:
        return "cites no source message"
    missing = [token for token in technical_tokens(item.text) if not _backed(token.lower(), sources)]
    if missing:
        return "no source message names " + ", ".join(f"`{token}`" for token in missing[:3])
    return ""


def _backed(token: str, sources: str) -> bool:
    """Whether the sources hold the token, its quotes as written there: a lesson quotes a structured
    argument with single quotes (year_range={'from': 2021…}) that the call's JSON wrote with double."""
    return token in sources or token.replace("'", '"') in sources


def sources_of(
    store: Store,
    items: Sequence[SkillItem],
    records: Sequence[TaskRecordRow],
    record_id: str,
    record_sources: Sequence[str],
) -> str:
    """`source_text` of the messages behind the items that name technical tokens: the messages of the
    task records they cite (`records`, and the record being added, `record_id` with its message ids).
    Only those items are checked against them, so only their records' messages are read."""
    cited = {source for item in items if technical_tokens(item.text) for source in item.sources}
    if not cited:
        return ""
    rows = {row.id: row for row in records}
    ids = [str(m) for r in cited if r in rows for m in rows[r].record.get("sources", [])]
    if record_id in cited:
        ids += list(record_sources)
    return source_text(store.messages_by_ids(list(dict.fromkeys(ids))))
