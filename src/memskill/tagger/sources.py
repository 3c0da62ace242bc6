"""Training and test examples for the turn tagger: the team's corpus and public sets under a mapping.

An `Example` is a clause with the labels it may carry: one label for the team's corpus and for the
dialogue-act sets, a set for public sets whose annotation only rules labels out (PrefEval's stated
preferences are a like or a dislike; a chit-chat turn is none of the task labels). Training maximises
the probability of the allowed set.

The dialogue-act mapping (`docs/data/turns.md`, "Public sets"):

| SGD act(s) of a user turn | CrossWOZ | label |
|---|---|---|
| INFORM_INTENT (the dialogue's first intent) | Inform+Request, a new domain, first turn | task_request |
| INFORM_INTENT (a new intent later) | Inform+Request, a new domain, later turn | side_request |
| NEGATE with INFORM, or REQUEST_ALTS | — | correction |
| REQUEST | Request, or Request of a thing named (Inform of its name or its route only) | question |
| INFORM (alone or with AFFIRM/SELECT) | Inform, Inform+Select (same domain) | constraint |
| NEGATE alone | — | complaint |
| AFFIRM, AFFIRM_INTENT, SELECT, NEGATE_INTENT, THANK_YOU (also NEGATE+THANK_YOU) | General/thank | approval |
| GOODBYE | General/greet, General/bye | small_talk |

The rows are tried top to bottom; the first that matches a turn's acts gives its label.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from memskill.tagger.corpus import Clause
from memskill.tagger.features import Context

NAMING_SLOTS = frozenset({"名称", "出发地", "目的地"})
"""CrossWOZ slots that name the thing a turn asks about (a place, a taxi's route), not a wish."""
CHAT_LABELS = frozenset(
    {"small_talk", "personal_fact", "question", "like", "dislike", "approval", "complaint"}
)
"""What a turn of open chit-chat may be: anything but a task's request, step, limit, rule or fix."""


@dataclass(frozen=True)
class Example:
    """One clause to learn from or to score."""

    text: str
    allowed: frozenset[str]
    """Labels it may carry (one for fully labelled data)."""
    context: Context
    source: str
    """corpus, sgd, crosswoz, prefeval, banking77, clinc150, tiage."""
    lang: str
    kind: str = ""
    """The kind of task (corpus only)."""

    @property
    def label(self) -> str:
        """The label when there is exactly one."""
        return next(iter(self.allowed)) if len(self.allowed) == 1 else ""


def from_corpus(clauses: list[Clause]) -> list[Example]:
    turns: dict[tuple[str, int], list[Clause]] = {}
    for clause in clauses:
        turns.setdefault((clause.dialogue, clause.turn), []).append(clause)
    examples = []
    for clause in clauses:
        parts = turns[clause.dialogue, clause.turn]
        i = clause.position
        examples.append(
            Example(
                text=clause.text,
                allowed=frozenset({clause.label}),
                context=Context(
                    first_turn=clause.turn == 0,
                    position=i,
                    count=len(parts),
                    after_answer=clause.turn > 0,
                    previous=parts[i - 1].text if i > 0 else "",
                    following=parts[i + 1].text if i + 1 < len(parts) else "",
                    previous_label=parts[i - 1].label if i > 0 else "",
                ),
                source="corpus",
                lang=clause.lang,
                kind=clause.kind,
            )
        )
    return examples


def _sgd_label(acts: set[str], intents: list[str], seen_intents: set[str], first: bool) -> str:
    if "INFORM_INTENT" in acts:
        return "task_request" if first or set(intents) <= seen_intents else "side_request"
    if "REQUEST_ALTS" in acts or {"NEGATE", "INFORM"} <= acts:
        return "correction"
    if "REQUEST" in acts:
        return "question"
    if "INFORM" in acts:
        return "constraint"
    if acts == {"NEGATE"}:
        return "complaint"
    if "GOODBYE" in acts:
        return "small_talk"
    if acts & {"AFFIRM", "AFFIRM_INTENT", "SELECT", "NEGATE_INTENT", "THANK_YOU", "NEGATE"}:
        return "approval"
    return ""


def sgd(path: Path) -> Iterator[Example]:
    """SGD user turns under the mapping (turns whose acts map to nothing are left out)."""
    seen: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            acts = {act["act"] for act in row["acts"]}
            intents = [v for act in row["acts"] if act["act"] == "INFORM_INTENT" for v in act["values"]]
            dialogue = seen.setdefault(row["dialogue_id"], set())
            label = _sgd_label(acts, intents, dialogue, first=not dialogue)
            dialogue.update(intents)
            if label:
                context = Context(first_turn=row["turn"] == 0, after_answer=bool(row["system_before"]))
                yield Example(row["utterance"], frozenset({label}), context, "sgd", "en")


def crosswoz(path: Path) -> Iterator[Example]:
    """CrossWOZ user turns under the mapping."""
    domains: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            acts = row["dialog_act"]
            intents = {act[0] for act in acts}
            general = {act[1] for act in acts if act[0] == "General"}
            informed = {act[1] for act in acts if act[0] == "Inform"}
            seen = domains.setdefault(row["dialogue_id"], set())
            new = informed - seen
            # "北京天伦王朝酒店电话是多少" informs the name of the thing it asks about: a question.
            names_only = {act[2] for act in acts if act[0] == "Inform"} <= NAMING_SLOTS
            if "Request" in intents and names_only:
                label = "question"
            elif new and "Request" in intents:
                label = "task_request" if not seen else "side_request"
            elif "Inform" in intents:
                label = "constraint"
            elif "Request" in intents:
                label = "question"
            elif "thank" in general:
                label = "approval"
            elif general & {"greet", "bye"}:
                label = "small_talk"
            else:
                label = ""
            seen.update(informed)
            if label:
                context = Context(first_turn=row["turn"] == 0, after_answer=bool(row["system_before"]))
                yield Example(row["utterance"], frozenset({label}), context, "crosswoz", "zh")


def prefeval(folder: Path, topics: frozenset[str]) -> Iterator[Example]:
    """PrefEval's stated preferences (a like or a dislike) and first questions, of the given topics only."""
    for path in sorted((folder / "explicit_preference").glob("*.json")):
        if path.stem not in topics:
            continue
        for item in json.loads(path.read_text(encoding="utf-8")):
            yield Example(item["preference"], frozenset({"like", "dislike"}), Context(), "prefeval", "en")
            yield Example(
                item["question"], frozenset({"task_request", "question"}), Context(), "prefeval", "en"
            )


def intent_requests(folder: Path, limit: int, seed: int) -> Iterator[Example]:
    """Banking77 and CLINC150 train utterances: a customer's opening request or question."""
    texts: list[tuple[str, str]] = []
    banking = folder / "banking77" / "train.csv"
    if banking.is_file():
        with banking.open(encoding="utf-8") as handle:
            texts += [(row["text"], "banking77") for row in csv.DictReader(handle)]
    clinc = folder / "clinc150" / "data_full.json"
    if clinc.is_file():
        texts += [(text, "clinc150") for text, _ in json.loads(clinc.read_text(encoding="utf-8"))["train"]]
    random.Random(seed).shuffle(texts)
    for text, source in texts[:limit]:
        yield Example(text, frozenset({"task_request", "question"}), Context(), source, "en")


def tiage_turns(folder: Path, limit: int, seed: int) -> Iterator[Example]:
    """TIAGE train turns: open chit-chat, which is none of a task's labels."""
    path = folder / "tiage" / "anno_train.json"
    if not path.is_file():
        return
    turns = [
        turn[0] for dialogue in json.loads(path.read_text(encoding="utf-8")).values() for turn in dialogue
    ]
    random.Random(seed).shuffle(turns)
    for text in turns[:limit]:
        yield Example(text, CHAT_LABELS, Context(first_turn=False, after_answer=True), "tiage", "en")
