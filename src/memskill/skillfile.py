"""SKILL.md files: render, parse, validate and package skill folders (Agent Skills format).

A skill is a folder `<name>/` with `SKILL.md` (YAML front matter of the specification's keys only,
then a Markdown body with five fixed `##` sections) and optional `scripts/`, `references/` and
`assets/` files. `SkillDocument` is plain data; `render` writes it deterministically (front matter
through YAML's safe dumper, procedure steps as `1.` lines, other items as `-` lines, later lines of
a multi-line item indented under its marker) and `parse` reads it back. `parse` is lenient so that
uploads load (paragraphs become items; text outside the five sections goes to "Additional
Information"); `validate` is strict and returns each problem as a sentence saying how to fix it.
The zip and folder functions accept only relative paths inside one skill folder: no `..`, no
symbolic links, at most 5 MB unpacked.

Exceptions::

    memskill.errors.InvalidRequest (40000), ValueError
     └── SkillFormatError   text, document, folder or archive that is not a valid skill
"""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from memskill.errors import SkillFormatError

SKILL_FILE = "SKILL.md"
ALLOWED_KEYS = ("name", "description", "license", "compatibility", "allowed-tools", "metadata")
ALLOWED_FOLDERS = ("scripts", "references", "assets")
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024
MAX_COMPATIBILITY_LENGTH = 500
MAX_BODY_LINES = 500
MAX_ZIP_BYTES = 5 * 1024 * 1024
PLACEHOLDERS = {"en": "None yet.", "zh": "暂无。"}
SECTIONS = {
    "Procedure": "procedure",
    "Experience": "experience",
    "User Preferences": "preferences",
    "Examples": "examples",
    "Additional Information": "additional",
}
"""Body section headings in order, each with the `SkillDocument` field holding its items."""

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_EAST_ASIAN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_MARKER = re.compile(r"([-*+] |\d{1,9}[.)] )(.*)")
_HEADING = re.compile(r"## +(.*)")
_TITLE = re.compile(r"# (.*)")
_FENCE = re.compile(r"```|~~~")
_FOLDERS_RULE = f"only {SKILL_FILE} and files under scripts/, references/ or assets/ may be there"
_TOO_LARGE = f"the zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB: move large assets elsewhere"


@dataclass(frozen=True)
class SkillDocument:
    """One skill: the content of its SKILL.md plus its extra files."""

    name: str
    """Folder name and front-matter `name`: lowercase ASCII words joined by single hyphens."""
    description: str
    """What the skill does and when to use it, in the user's language (no `<` or `>`)."""
    title: str
    """The H1 heading, human readable; may be Chinese."""
    procedure: tuple[str, ...] = ()
    """Steps, rendered as a numbered list."""
    experience: tuple[str, ...] = ()
    """Lessons learnt: what worked and what to avoid."""
    preferences: tuple[str, ...] = ()
    """The user's preferences for this kind of task."""
    examples: tuple[str, ...] = ()
    """Concrete past requests or outputs."""
    additional: tuple[str, ...] = ()
    """Anything else worth knowing."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Front-matter `metadata`: skill_id, version, user_id, source_count, updated_at, ..."""
    license: str | None = None
    """Front-matter `license`."""
    compatibility: str | None = None
    """Front-matter `compatibility`: environment requirements, at most 500 characters."""
    allowed_tools: str | None = None
    """Front-matter `allowed-tools`."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra files by relative path under scripts/, references/ or assets/."""


class _FrontMatterDumper(yaml.SafeDumper):
    """Safe dumper that writes multi-line strings as literal blocks where YAML allows it."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    if any(character in value for character in "\r\x85\u2028\u2029\ufeff"):
        style = '"'  # PyYAML mangles these line breaks outside double quotes; there it escapes them
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FrontMatterDumper.add_representer(str, _represent_text)


def render(document: SkillDocument) -> str:
    """Return the SKILL.md text of `document`; equal documents give identical text."""
    front: dict[str, Any] = {"name": document.name, "description": document.description}
    optional = {
        "license": document.license,
        "compatibility": document.compatibility,
        "allowed-tools": document.allowed_tools,
    }
    front.update((key, value) for key, value in optional.items() if value is not None)
    if document.metadata:
        front["metadata"] = dict(sorted((str(k), str(v)) for k, v in document.metadata.items()))
    header = yaml.dump(front, Dumper=_FrontMatterDumper, sort_keys=False, allow_unicode=True, width=1_000_000)
    placeholder = PLACEHOLDERS["zh" if _EAST_ASIAN.search(document.title + document.description) else "en"]
    title = (document.title or document.name).replace("\n", " ")
    lines = ["---", header.rstrip("\n"), "---", "", f"# {title}"]
    for heading, attribute in SECTIONS.items():
        items: tuple[str, ...] = getattr(document, attribute)
        lines += ["", f"## {heading}", ""] + ([] if items else [placeholder])
        for number, item in enumerate(items, start=1):
            marker = f"{number}. " if attribute == "procedure" else "- "
            first, *rest = item.split("\n")
            lines.append(marker + first)
            lines += [" " * len(marker) + line if line else "" for line in rest]
    return "\n".join(lines) + "\n"


def parse(text: str) -> SkillDocument:
    """Read SKILL.md text into a document, or raise `SkillFormatError` when it cannot be read.

    Only the structure is checked here; `validate` applies the specification's rules.
    """
    front, body = _split_front_matter(text)
    values = _load_front_matter(front)
    for key in ("name", "description"):
        if values.get(key) is None:
            raise SkillFormatError(f"front matter has no '{key}': add a line '{key}: ...'")
    metadata = values.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SkillFormatError("'metadata' must be a mapping, e.g. 'metadata: {version: \"1\"}'")
    title, sections = _read_body(body)
    return SkillDocument(
        name=str(values["name"]),
        description=str(values["description"]),
        title=str(values["name"]) if title is None else title,
        procedure=tuple(sections["procedure"]),
        experience=tuple(sections["experience"]),
        preferences=tuple(sections["preferences"]),
        examples=tuple(sections["examples"]),
        additional=tuple(sections["additional"]),
        metadata={str(key): str(value) for key, value in metadata.items()},
        license=_optional_text(values.get("license")),
        compatibility=_optional_text(values.get("compatibility")),
        allowed_tools=_optional_text(values.get("allowed-tools")),
    )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _split_front_matter(text: str) -> tuple[str, str]:
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    if lines[0].rstrip() != "---":
        raise SkillFormatError(
            "SKILL.md must begin with YAML front matter: a line '---', then 'name: ...' and "
            "'description: ...' lines, then a closing line '---'"
        )
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "\n".join(lines[1:index]) + "\n", "\n".join(lines[index + 1 :])
    raise SkillFormatError("front matter is not closed: add a line '---' after its last key")


def _load_front_matter(front: str) -> dict[Any, Any]:
    try:
        values = yaml.safe_load(front)
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # ValueError: e.g. month 13
        raise SkillFormatError(
            f"front matter is not valid YAML ({' '.join(str(error).split())}): put values that "
            "contain ': ' or ' #' or start with a special character in double quotes"
        ) from error
    if not isinstance(values, dict):
        raise SkillFormatError("front matter must be a mapping: 'name: ...', 'description: ...'")
    return values


def _read_body(body: str) -> tuple[str | None, dict[str, list[str]]]:
    lines = body.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    title = _TITLE.fullmatch(lines[0]) if lines else None
    attributes = {heading.lower(): attribute for heading, attribute in SECTIONS.items()}
    sections: dict[str, list[str]] = {attribute: [] for attribute in SECTIONS.values()}
    for heading, block in _split_sections(lines[1:] if title else lines):
        attribute = attributes.get((heading or "").lower())
        content = "\n".join(block).strip("\n")
        if attribute:
            sections[attribute] += _read_items(block)
        elif heading is not None:  # an unknown section is kept whole, heading first
            sections["additional"].append(f"{heading}\n\n{content}" if content else heading)
        elif content.strip():  # text between the title and the first section
            sections["additional"] += _read_items(block)
    return (title.group(1) if title else None), sections


def _split_sections(lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """Cut lines at `## ` headings outside fenced code; the text before the first has `None`."""
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    fenced = False
    for line in lines:
        heading = None if fenced else _HEADING.fullmatch(line)
        if heading:
            blocks.append((heading.group(1).strip(), []))
        else:
            blocks[-1][1].append(line)
        fenced = fenced != bool(_FENCE.match(line))
    return blocks


def _read_items(lines: list[str]) -> list[str]:
    """Turn a section's lines into items: list entries, or paragraphs of free text."""
    items: list[tuple[bool, list[str]]] = []  # (opened by a list marker, its lines)
    indent, blanks, fenced = 0, 0, False
    for line in lines:
        if fenced:  # fenced code inside a paragraph item is kept verbatim
            items[-1][1].append(line)
            fenced = not _FENCE.match(line)
            continue
        if not line.strip():
            blanks += 1
            continue
        marker = _MARKER.fullmatch(line)
        if marker:
            items.append((True, [marker.group(2)]))
            indent = len(marker.group(1))
        elif items and (blanks == 0 or line.startswith(" ")):  # continuation of the last item
            width = len(line) - len(line.lstrip(" "))
            items[-1][1].extend([""] * blanks + [line[min(width, indent) :]])
        else:
            items.append((False, [line]))
            indent = 0
        blanks = 0
        fenced = not marker and _FENCE.match(line) is not None
    texts = ["\n".join(item_lines).rstrip("\n") for _, item_lines in items]
    if len(items) == 1 and not items[0][0] and texts[0].strip() in PLACEHOLDERS.values():
        return []
    return texts


def validate(text: str, folder_name: str | None = None) -> list[str]:
    """Return the problems that keep `text` from being a valid SKILL.md (empty when valid)."""
    try:
        front, body = _split_front_matter(text)
        values = _load_front_matter(front)
    except SkillFormatError as error:
        return [str(error)]
    problems = [
        f"unknown front-matter key {key!r}: use only {', '.join(ALLOWED_KEYS)}; "
        "put other data under 'metadata'"
        for key in values
        if key not in ALLOWED_KEYS
    ]
    problems += _name_problems(values.get("name"), folder_name)
    description = values.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("'description' is missing or empty: say what the skill does and when")
    elif len(description) > MAX_DESCRIPTION_LENGTH:
        problems.append(f"'description' has {len(description)} characters: keep it to 1024")
    if isinstance(description, str) and ("<" in description or ">" in description):
        problems.append("'description' contains '<' or '>': remove them")
    for key in ("license", "compatibility", "allowed-tools"):
        if values.get(key) is not None and not isinstance(values[key], str):
            problems.append(f"'{key}' must be a string: write its value in quotes")
    compatibility = values.get("compatibility")
    if isinstance(compatibility, str) and not 1 <= len(compatibility) <= MAX_COMPATIBILITY_LENGTH:
        problems.append("'compatibility' must have 1 to 500 characters: shorten or remove it")
    metadata = {} if values.get("metadata") is None else values["metadata"]
    if not isinstance(metadata, dict):
        problems.append("'metadata' must be a mapping of strings to strings")
    problems += [
        f'metadata {key!r}: {value!r} is not a string pair: quote both, e.g. \'"{key}": "{value}"\''
        for key, value in (metadata.items() if isinstance(metadata, dict) else ())
        if not isinstance(key, str) or not isinstance(value, str)
    ]
    return problems + _body_problems(body)


def _name_problems(name: object, folder_name: str | None = None) -> list[str]:
    if not isinstance(name, str):
        return ["'name' is missing or not a string: add one such as 'name: travel-planning'"]
    problems = []
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        problems.append(f"'name' has {len(name)} characters: use 1 to {MAX_NAME_LENGTH}")
    if name and not _NAME.fullmatch(name):
        problems.append(
            f"'name' {name!r} {_name_fault(name)}: use lowercase ASCII letters and digits in "
            "words joined by single hyphens, e.g. 'travel-planning'"
        )
    if folder_name is not None and name != folder_name:
        problems.append(f"'name' {name!r} differs from the folder name {folder_name!r}: rename one")
    return problems


def _name_fault(name: str) -> str:
    if not name.isascii():
        return "has non-ASCII characters (names stay ASCII even for Chinese skills)"
    if name != name.lower():
        return "has uppercase letters"
    if name.startswith("-") or name.endswith("-"):
        return "starts or ends with a hyphen"
    if "--" in name:
        return "has consecutive hyphens"
    return "has characters other than a-z, 0-9 and '-'"


def _body_problems(body: str) -> list[str]:
    headings = {(heading or "").lower() for heading, _ in _split_sections(body.split("\n"))}
    problems = [
        f"missing section '## {heading}': add it (write '{PLACEHOLDERS['en']}' under it if empty)"
        for heading in SECTIONS
        if heading.lower() not in headings
    ]
    if (count := len(body.splitlines())) >= MAX_BODY_LINES:
        problems.append(
            f"the body has {count} lines: keep it under {MAX_BODY_LINES} by moving details "
            "into files under references/"
        )
    return problems


def validate_folder(path: Path) -> list[str]:
    """Return the problems of the skill folder at `path` (empty when valid)."""
    folder = Path(path)
    if not folder.is_dir():
        return [f"{str(folder)!r} is not a folder: pass the skill folder that holds {SKILL_FILE}"]
    try:
        problems = validate((folder / SKILL_FILE).read_text(encoding="utf-8"), folder.name)
    except (OSError, UnicodeDecodeError):
        problems = [f"{SKILL_FILE} is missing or not UTF-8 text: add it, saved as UTF-8"]
    for entry in sorted(folder.rglob("*")):
        relative = entry.relative_to(folder).as_posix()
        if entry.is_symlink():
            problems.append(f"{relative!r} is a symbolic link: put the file itself there")
        elif entry.is_file() and relative != SKILL_FILE and _path_problem(relative):
            problems.append(f"unexpected file {relative!r}: {_FOLDERS_RULE}")
    return problems


def _path_problem(path: object) -> str | None:
    """Say why `path` cannot name an extra file of a skill, or return None when it can."""
    parts = path.split("/") if isinstance(path, str) else [""]
    if any(part in ("", ".", "..") or "\\" in part or "\x00" in part for part in parts):
        return f"unsafe file path {path!r}: use a relative path with '/' and no '..'"
    if len(parts) < 2 or parts[0] not in ALLOWED_FOLDERS:
        return f"misplaced file {path!r}: {_FOLDERS_RULE}"
    return None


def _checked_entries(document: SkillDocument) -> list[tuple[str, bytes]]:
    """Render and validate `document`; return its files (SKILL.md first) or raise."""
    text = render(document)
    problems = validate(text, folder_name=document.name)
    problems += [problem for path in document.files if (problem := _path_problem(path))]
    problems += [
        f"file {path!r} must hold bytes"
        for path, data in document.files.items()
        if not isinstance(data, bytes)
    ]
    if problems:
        raise SkillFormatError(f"invalid skill {document.name!r}: " + "; ".join(problems))
    return [(SKILL_FILE, text.encode("utf-8")), *sorted(document.files.items())]


def package_zip(document: SkillDocument) -> bytes:
    """Return a zip of `<name>/SKILL.md` and the extra files; equal documents give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for relative, data in _checked_entries(document):
            info = zipfile.ZipInfo(f"{document.name}/{relative}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the permission bits below are honoured
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def write_folder(document: SkillDocument, parent_dir: Path) -> Path:
    """Write `<parent_dir>/<name>/SKILL.md` and the extra files; return the skill folder.

    Existing files of the same names are overwritten, others are left alone; writing through a
    symbolic link is refused.
    """
    folder = Path(parent_dir) / document.name
    targets = [(folder / relative, data) for relative, data in _checked_entries(document)]
    for target, _ in targets:
        steps = [target, *target.parents[: len(target.relative_to(folder).parts)]]
        if linked := [str(step) for step in steps if step.is_symlink()]:
            raise SkillFormatError(f"{linked[0]!r} is a symbolic link: remove it and write again")
    for target, data in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def read_zip(data: bytes) -> SkillDocument:
    """Read and validate an uploaded zip holding one folder `<name>/` with SKILL.md.

    Raise `SkillFormatError` for unsafe entries (absolute, `..`, backslashes, symbolic links),
    more than one top folder, more than 5 MB unpacked, or an invalid skill.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            folder, contents = _unpack(archive)
    except (zipfile.BadZipFile, RuntimeError, zlib.error, EOFError) as error:
        raise SkillFormatError(
            f"cannot read the upload as a zip ({error}): zip the skill folder itself, so that "
            "entries start with '<name>/SKILL.md'"
        ) from error
    try:
        text = contents.pop(SKILL_FILE).decode("utf-8")
    except (KeyError, UnicodeDecodeError) as error:
        raise SkillFormatError(f"{folder}/{SKILL_FILE} is missing or not UTF-8 text") from error
    problems = validate(text, folder_name=folder)
    problems += [problem for path in contents if (problem := _path_problem(path))]
    if problems:
        raise SkillFormatError(f"invalid skill {folder!r}: " + "; ".join(problems))
    return replace(parse(text), files=contents)


def _unpack(archive: zipfile.ZipFile) -> tuple[str, dict[str, bytes]]:
    """Check every entry and read the files; return the one top folder and its files."""
    entries = []
    for info in archive.infolist():
        parts = info.filename.removesuffix("/").split("/")
        if ":" in parts[0] or any(part in ("", ".", "..") or "\\" in part for part in parts):
            raise SkillFormatError(
                f"unsafe zip entry {info.filename!r}: entries must be relative paths in one folder"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SkillFormatError(f"zip entry {info.filename!r} is a symbolic link")
        if parts[0] != "__MACOSX" and parts[-1] != ".DS_Store":  # macOS archive clutter
            entries.append((parts, info))
    if sum(info.file_size for _, info in entries) > MAX_ZIP_BYTES:
        raise SkillFormatError(_TOO_LARGE)
    folders = sorted({parts[0] for parts, _ in entries})
    if len(folders) != 1 or any(len(parts) < 2 and not info.is_dir() for parts, info in entries):
        raise SkillFormatError(
            f"the zip must hold exactly one top folder named like the skill (found {folders})"
        )
    contents: dict[str, bytes] = {}
    remaining = MAX_ZIP_BYTES
    for parts, info in entries:
        if not info.is_dir():
            with archive.open(info) as handle:
                content = handle.read(remaining + 1)
            remaining -= len(content)
            if remaining < 0:
                raise SkillFormatError(_TOO_LARGE)
            contents["/".join(parts[1:])] = content
    return folders[0], contents


def slugify(text: str, fallback: str = "skill") -> str:
    """Make a valid skill name from the ASCII words of `text`, or return `fallback`.

    Accents are dropped ("Café" gives "cafe"); other non-ASCII characters separate words, so
    "成都 trip plan" gives "trip-plan" and text without ASCII letters or digits gives `fallback`.
    """
    if _name_problems(fallback):
        raise ValueError(f"fallback {fallback!r} is not a valid skill name: use e.g. 'skill'")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(character for character in decomposed if not unicodedata.combining(character))
    words = re.findall(r"[a-z0-9]+", plain.lower())
    slug = words[0][:MAX_NAME_LENGTH] if words else ""
    for word in words[1:]:
        if len(slug) + 1 + len(word) > MAX_NAME_LENGTH:
            break
        slug = f"{slug}-{word}"
    return slug or fallback
