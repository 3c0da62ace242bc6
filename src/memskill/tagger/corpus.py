"""The turn corpus: load, check and split the team's labelled user turns (`corpus/turns/*.jsonl`).

The format and the label guide are in `docs/data/turns.md`; the kinds of task and their split in
`corpus/kinds.json`. `python -m memskill.tagger.corpus [FILE…] [--markdown]` checks files and prints their
counts (as the datasheet's tables with `--markdown`).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LABELS = (
    "task_request",
    "step",
    "constraint",
    "like",
    "dislike",
    "standing_rule",
    "correction",
    "approval",
    "complaint",
    "personal_fact",
    "question",
    "side_request",
    "small_talk",
)
"""The thirteen clause labels, in the order of the label guide."""

NEEDS_SPAN = frozenset(
    {"task_request", "step", "constraint", "like", "dislike", "standing_rule", "correction"}
)
NEEDS_DIRECTIVE = NEEDS_SPAN - {"task_request"}
WISH_LABELS = frozenset({"constraint", "like", "dislike", "standing_rule", "correction"})
"""Labels whose clauses may carry a `scope`: what the user wants of the result."""
SCOPES = ("occasion", "lasting")
"""Whether a wish holds for this request only or for the next task of the kind too (`Clause.scope`)."""


@dataclass(frozen=True)
class Clause:
    """One labelled clause of a user turn."""

    text: str
    """The clause as the user wrote it, with its punctuation."""
    label: str
    """One of `LABELS`."""
    span: str
    """The part that states the wish, step or task ("" when the label needs none)."""
    directive: str
    """The wish as a short instruction to an assistant ("" when the label needs none)."""
    scope: str
    """For a wish (`WISH_LABELS`): `lasting` when the user would want it applied to the next task of the
    kind unasked, `occasion` when it fits this request only; "" when not annotated."""
    kind: str
    """The kind of task of the conversation."""
    lang: str
    """`zh` or `en`."""
    dialogue: str
    """The conversation's id."""
    turn: int
    """The turn's index in the conversation (0 = first user turn)."""
    position: int
    """The clause's index in its turn."""
    turn_text: str
    """The whole turn the clause belongs to."""


class CorpusError(ValueError):
    """A corpus line that breaks the format of `docs/data/turns.md`."""


def corpus_dir() -> Path:
    """`corpus/` of the source tree, else of the working directory (the corpus is not in the wheel)."""
    source = Path(__file__).resolve().parents[3] / "corpus"
    return source if source.is_dir() else Path.cwd() / "corpus"


def load_kinds(path: Path | None = None) -> dict[str, dict[str, str]]:
    """kind → {domain, split, about}."""
    data = json.loads((path or corpus_dir() / "kinds.json").read_text(encoding="utf-8"))
    return {entry["kind"]: entry for entry in data["kinds"]}


def turn_text(texts: Iterable[str], lang: str) -> str:
    """A turn's text from its clauses: joined with nothing in Chinese, one space in English."""
    return ("" if lang == "zh" else " ").join(texts)


def _check(record: dict, kinds: dict[str, dict[str, str]], where: str) -> None:
    def fail(problem: str) -> None:
        raise CorpusError(f"{where}: {problem}")

    for key in ("id", "kind", "lang", "turns"):
        if key not in record:
            fail(f"missing `{key}`")
    if record["kind"] not in kinds:
        fail(f"unknown kind {record['kind']!r}: use one of corpus/kinds.json")
    if record["lang"] not in ("zh", "en"):
        fail(f"`lang` must be zh or en, not {record['lang']!r}")
    if not record["turns"]:
        fail("no turns")
    for t, turn in enumerate(record["turns"]):
        if not turn.get("clauses"):
            fail(f"turn {t} has no clauses")
        for c, clause in enumerate(turn["clauses"]):
            at = f"turn {t} clause {c}"
            text, label = clause.get("text", ""), clause.get("label")
            if not isinstance(text, str) or not text.strip():
                fail(f"{at}: empty text")
            if label not in LABELS:
                fail(f"{at}: unknown label {label!r}")
            span = clause.get("span", "")
            if label in NEEDS_SPAN and not span:
                fail(f"{at}: label {label} needs a `span`")
            if span and span not in text:
                fail(f"{at}: span {span!r} is not a substring of {text!r}")
            if label in NEEDS_DIRECTIVE and not clause.get("directive", "").strip():
                fail(f"{at}: label {label} needs a `directive`")
            scope = clause.get("scope", "")
            if scope and (label not in WISH_LABELS or scope not in SCOPES):
                fail(f"{at}: `scope` is {' or '.join(SCOPES)}, on a wish ({', '.join(sorted(WISH_LABELS))})")


def read(paths: Iterable[Path], kinds: dict[str, dict[str, str]] | None = None) -> Iterator[Clause]:
    """Every clause of the given files, checked; raises `CorpusError` at the first bad line."""
    kinds = kinds if kinds is not None else load_kinds()
    seen: set[str] = set()
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise CorpusError(f"{where}: not JSON ({error})") from None
            _check(record, kinds, where)
            if record["id"] in seen:
                raise CorpusError(f"{where}: id {record['id']!r} used twice")
            seen.add(record["id"])
            for t, turn in enumerate(record["turns"]):
                texts = [clause["text"] for clause in turn["clauses"]]
                whole = turn_text(texts, record["lang"])
                for c, clause in enumerate(turn["clauses"]):
                    yield Clause(
                        text=clause["text"],
                        label=clause["label"],
                        span=clause.get("span", ""),
                        directive=clause.get("directive", ""),
                        scope=clause.get("scope", ""),
                        kind=record["kind"],
                        lang=record["lang"],
                        dialogue=record["id"],
                        turn=t,
                        position=c,
                        turn_text=whole,
                    )


def load(directory: Path | None = None) -> list[Clause]:
    """The whole corpus, checked."""
    folder = directory or corpus_dir() / "turns"
    return list(read(sorted(folder.glob("*.jsonl"))))


def split_of(clause: Clause, kinds: dict[str, dict[str, str]]) -> str:
    """train, dev or test, by the clause's kind of task."""
    return kinds[clause.kind]["split"]


def summary(clauses: list[Clause], kinds: dict[str, dict[str, str]]) -> str:
    """Counts per label × language, per split and per domain, as text."""
    lines = [
        f"{len(clauses)} clauses, {len({c.dialogue for c in clauses})} conversations, "
        f"{len({c.kind for c in clauses})} kinds"
    ]
    by_lang = Counter(c.lang for c in clauses)
    lines.append("languages: " + ", ".join(f"{k} {v} ({v / len(clauses):.0%})" for k, v in by_lang.items()))
    labels = Counter((c.label, c.lang) for c in clauses)
    for label in LABELS:
        lines.append(f"  {label:14s} zh {labels[label, 'zh']:5d}  en {labels[label, 'en']:5d}")
    splits = Counter(split_of(c, kinds) for c in clauses)
    lines.append("splits: " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items())))
    domains = Counter(kinds[c.kind]["domain"] for c in clauses)
    lines.append("domains: " + ", ".join(f"{k} {v}" for k, v in sorted(domains.items())))
    return "\n".join(lines)


def markdown(clauses: list[Clause], kinds: dict[str, dict[str, str]]) -> str:
    """The datasheet's count tables: label × language × split, and domain × split."""
    splits = ("train", "dev", "test")
    counts = Counter((c.label, c.lang, split_of(c, kinds)) for c in clauses)
    lines = [
        "| label | " + " | ".join(f"{s} zh | {s} en" for s in splits) + " | all |",
        "|---|" + "---:|" * (2 * len(splits) + 1),
    ]
    for label in LABELS:
        cells = [counts[label, lang, split] for split in splits for lang in ("zh", "en")]
        lines.append(f"| {label} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    totals = [
        sum(counts[label, lang, split] for label in LABELS) for split in splits for lang in ("zh", "en")
    ]
    lines.append("| **all** | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")
    domains = Counter((kinds[c.kind]["domain"], split_of(c, kinds)) for c in clauses)
    kinds_in = Counter((entry["domain"], entry["split"]) for entry in kinds.values())
    lines += [
        "",
        "| domain | kinds (train/dev/test) | clauses train | dev | test |",
        "|---|---|---:|---:|---:|",
    ]
    for domain in sorted({entry["domain"] for entry in kinds.values()}):
        shape = "/".join(str(kinds_in[domain, split]) for split in splits)
        lines.append(f"| {domain} | {shape} | " + " | ".join(str(domains[domain, s]) for s in splits) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    kinds = load_kinds()
    as_markdown = "--markdown" in argv
    argv = [a for a in argv if a != "--markdown"]
    paths = [Path(a) for a in argv] or sorted((corpus_dir() / "turns").glob("*.jsonl"))
    try:
        clauses = list(read(paths, kinds))
    except CorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(markdown(clauses, kinds) if as_markdown else summary(clauses, kinds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
