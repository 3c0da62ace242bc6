"""Whole-store archives: `memskill export --to FILE` and `memskill import FILE` (docs/archive.md).

An archive is a zip file holding `manifest.json` and one JSON-lines file per kind of record: messages,
jobs, memories (with their vectors), task clusters, task records, skills (each with every version and
its history) and, only when asked for, API keys. Records are written from the fields of the dataclasses
the stores exchange (`encode`) and read back into them (`decode`), so a field added to one of them
travels without a change here; a field an older archive lacks takes the dataclass default.

Export reads through the store's `snapshot`, so a copy taken while a server runs is one moment's state.
Import first reads the whole archive and checks it (manifest, format version, each file's checksum and
line count, every record), then writes everything in one store transaction through the store's usual
methods, which build the keyword and vector indexes: bad input writes nothing. Records whose id the
target already holds are left as they are and counted as skipped, so importing an archive twice
changes nothing. Vectors another embedder made are then rebuilt by `reembed`, as after any switch of
embedder. The archive is also the way from SQLite to PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from memskill.errors import InvalidRequest, MemskillError
from memskill.models import Skill, SkillEvent, SkillVersion, now_ms
from memskill.providers.embedders import Embedder
from memskill.reembed import Progress as ReembedProgress
from memskill.reembed import reembed
from memskill.serialise import decode, encode
from memskill.stores.base import ApiKeyRow, ClusterRow, JobRow, MessageRow, Store, StoredItem, TaskRecordRow
from memskill.version import __version__

FORMAT = "memskill-archive"
FORMAT_VERSION = (1, 0)
"""major.minor: a reader takes every archive of its major version (fields it does not know are left
out, fields it misses take their defaults) and refuses a newer major one."""
MANIFEST = "manifest.json"
BATCH = 500
"""Records written per store call (and per progress report)."""
T = TypeVar("T")


class ArchiveError(InvalidRequest):
    """The file is not a readable archive of a format this memskill reads; nothing was written."""


@dataclass(frozen=True)
class SkillRecord:
    """One line of `skills.jsonl`: a skill, every version oldest first, its history, and what its
    search reads (the indexed text, its vector and the embedder that made it)."""

    skill: Skill
    versions: tuple[SkillVersion, ...]
    search_text: str
    vector: np.ndarray | None
    embedder: str | None
    events: tuple[SkillEvent, ...] = ()


RECORDS: dict[str, type] = {
    "messages": MessageRow,
    "jobs": JobRow,
    "memories": StoredItem,
    "clusters": ClusterRow,
    "task_records": TaskRecordRow,
    "skills": SkillRecord,
    "api_keys": ApiKeyRow,
}
"""Each kind of record, in the order it is written and imported, and the type of its lines."""
TABLES = {
    "messages": "messages",
    "jobs": "jobs",
    "memories": "items",
    "clusters": "clusters",
    "task_records": "task_records",
    "skills": "skills",
    "api_keys": "api_keys",
}
"""The store table each kind comes from."""

Progress = Callable[[str, int, int], None]
"""Called with (what, done, total) as records are written or read."""


@dataclass(frozen=True)
class ImportReport:
    """What an import did: per kind, the records added and those skipped (already in the target), and
    per table the vectors rebuilt with the target's embedder."""

    manifest: dict[str, Any]
    added: dict[str, int]
    skipped: dict[str, int]
    reembedded: dict[str, int]
    reembed_error: str | None = None
    """Why rebuilding the vectors failed (the embedder's endpoint is down, …); the records are imported
    all the same, and `memskill reembed` or a running server rebuilds the vectors later."""


# -- a skill's line --------------------------------------------------------------------------------------


def _skill_line(record: SkillRecord) -> dict[str, Any]:
    """A skill's line, its current version named by number (the full version is in `versions`)."""
    line = encode(record)
    line["skill"]["current"] = record.skill.current.version
    return dict(line)


def _skill_record(data: Any, where: str) -> SkillRecord:
    if not isinstance(data, dict) or not isinstance(data.get("skill"), dict):
        raise ArchiveError(f"{where}: expected a JSON object with a `skill`.")
    versions = {v.get("version"): v for v in data.get("versions") or [] if isinstance(v, dict)}
    current = versions.get(data["skill"].get("current"))
    if current is None:
        raise ArchiveError(f"{where}: the skill's current version is not among its versions.")
    return decode(SkillRecord, {**data, "skill": {**data["skill"], "current": current}}, where)


# -- export ------------------------------------------------------------------------------------------


def _records(store: Store, kind: str, user_id: str | None, with_keys: bool) -> Iterator[Any]:
    if kind == "messages":
        yield from store.dump_messages(user_id)
    elif kind == "jobs":
        yield from store.dump_jobs(user_id)
    elif kind == "memories":
        yield from store.dump_items(user_id)
    elif kind == "clusters":
        yield from store.dump_clusters(user_id)
    elif kind == "task_records":
        yield from store.dump_task_records(user_id)
    elif kind == "skills":
        for stored in store.dump_skills(user_id):
            skill = stored.skill
            versions = tuple(store.skill_versions(skill.id))
            events = tuple(store.skill_events(skill.id))
            yield SkillRecord(skill, versions, stored.search_text, stored.vector, stored.embedder, events)
    elif kind == "api_keys" and with_keys:
        yield from store.list_api_keys()


def export_archive(
    store: Store,
    path: str | Path,
    *,
    user_id: str | None = None,
    with_keys: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the store (or one user's part of it) to an archive at `path`; returns its manifest.

    API keys (hashes that let a client in) are written only `with_keys`. The file appears whole or
    not at all: it is written beside `path` and renamed when complete.
    """
    target = Path(path).expanduser()
    partial = target.with_name(f".{target.name}.partial")
    counts = dict.fromkeys([*RECORDS, "skill_versions", "skill_events"], 0)
    files: dict[str, dict[str, Any]] = {}
    vectors: Counter[tuple[str, int]] = Counter()
    try:
        with store.snapshot(), zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            totals = store.row_counts(user_id)
            for kind in RECORDS:
                name, digest = f"{kind}.jsonl", hashlib.sha256()
                total = totals[TABLES[kind]] if kind != "api_keys" or with_keys else 0
                with archive.open(name, "w") as member:
                    for record in _records(store, kind, user_id, with_keys):
                        line = _skill_line(record) if kind == "skills" else encode(record)
                        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
                        member.write(data)
                        digest.update(data)
                        done = _tally(kind, record, counts, vectors)
                        if progress is not None and (done % BATCH == 0 or done == total):
                            progress(f"exporting {kind.replace('_', ' ')}", done, max(total, done))
                files[kind] = {"name": name, "records": counts[kind], "sha256": digest.hexdigest()}
            manifest = {
                "format": FORMAT,
                "format_version": f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}",
                "memskill_version": __version__,
                "created_time": now_ms(),
                "user_id": user_id,
                "keys_included": with_keys,
                "embedder": _main_embedder(vectors),
                "vectors": [
                    {"embedder": embedder, "dim": dim, "count": count}
                    for (embedder, dim), count in vectors.most_common()
                ],
                "counts": counts,
                "files": files,
            }
            archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return manifest


def _tally(kind: str, record: Any, counts: dict[str, int], vectors: Counter[tuple[str, int]]) -> int:
    """Count a written record (a skill's versions and history too) and its vector; returns the count of
    its kind so far."""
    counts[kind] += 1
    if isinstance(record, SkillRecord):
        counts["skill_versions"] += len(record.versions)
        counts["skill_events"] += len(record.events)
    if isinstance(record, (StoredItem, SkillRecord)) and record.vector is not None:
        vectors[(record.embedder or "", len(record.vector))] += 1
    return counts[kind]


def _main_embedder(vectors: Counter[tuple[str, int]]) -> dict[str, Any] | None:
    """The embedder that made most of the archive's vectors, and their length (None: no vectors)."""
    if not vectors:
        return None
    (embedder, dim), _ = vectors.most_common(1)[0]
    return {"id": embedder, "dim": dim}


# -- import ------------------------------------------------------------------------------------------


class Archive:
    """An open archive file: its manifest, checked, and its records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, EOFError):
            raise ArchiveError(
                f"{self.path} is not a memskill archive (not a zip file, or cut short: a copy that "
                "stopped early?); make it with `memskill export --to FILE`."
            ) from None
        try:
            self.manifest = self._read_manifest()
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self._zip.read(MANIFEST))
        except KeyError:
            raise ArchiveError(f"{self.path} has no {MANIFEST}: it is not a memskill archive.") from None
        except (ValueError, zipfile.BadZipFile, zlib.error):
            raise ArchiveError(f"{self.path}: {MANIFEST} is damaged; export the store again.") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(f"{self.path} is not a memskill archive (its manifest names no {FORMAT}).")
        version = str(manifest.get("format_version", ""))
        major, _, minor = version.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ArchiveError(f"{self.path}: the manifest's format_version {version!r} is not major.minor.")
        if int(major) > FORMAT_VERSION[0]:
            raise ArchiveError(
                f"{self.path} is archive format {version} (written by memskill "
                f"{manifest.get('memskill_version', '?')}); this memskill {__version__} reads format "
                f"{FORMAT_VERSION[0]}.x only. Upgrade memskill (pip install -U memskill) and import again."
            )
        if not isinstance(manifest.get("files"), dict):
            raise ArchiveError(f"{self.path}: the manifest lists no files; export the store again.")
        return manifest

    def _lines(self, kind: str, digest: Any = None) -> Iterator[tuple[str, Any]]:
        """(where, JSON value) of each line of a kind's file (a kind the manifest does not list has
        none); `digest` (a hashlib object) is fed the file's bytes as they are read."""
        entry = self.manifest["files"].get(kind)
        if entry is None:
            return
        name = str(entry.get("name", f"{kind}.jsonl"))
        try:
            with self._zip.open(name) as member:
                for number, raw in enumerate(member, start=1):
                    if digest is not None:
                        digest.update(raw)
                    where = f"{self.path}: {name} line {number}"
                    try:
                        data = json.loads(raw.decode("utf-8"))
                    except ValueError:
                        raise ArchiveError(f"{where} is not JSON; export the store again.") from None
                    yield where, data
        except KeyError:
            raise ArchiveError(
                f"{self.path} lacks {name}, which its manifest lists: the archive is incomplete."
            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ArchiveError(f"{self.path}: {name} is damaged ({error}); export the store again.") from None

    def records(self, kind: str, digest: Any = None) -> Iterator[Any]:
        """A kind's records, decoded (`digest` as for `_lines`)."""
        for where, data in self._lines(kind, digest):
            try:
                record = (
                    _skill_record(data, where) if kind == "skills" else decode(RECORDS[kind], data, where)
                )
            except InvalidRequest as error:
                raise ArchiveError(
                    f"{error} The archive was changed after it was written; export the store again."
                ) from None
            yield record

    def check(self, progress: Progress | None = None) -> None:
        """Read every record once: the count and checksum of each file must match the manifest and each
        record must decode. Raises `ArchiveError` on the first problem."""
        try:
            damaged = self._zip.testzip()  # every member's CRC first: damage reads as damage, not bad JSON
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            damaged = f"a member ({error})"
        if damaged is not None:
            raise ArchiveError(f"{self.path}: {damaged} is damaged; export the store again.")
        for kind in RECORDS:
            entry = self.manifest["files"].get(kind)
            if entry is None:
                continue
            total, count, digest = int(entry.get("records", 0)), 0, hashlib.sha256()
            for _ in self.records(kind, digest):
                count += 1
                if progress is not None and count % BATCH == 0:
                    progress(f"checking {kind.replace('_', ' ')}", count, max(total, count))
            if count != total:
                problem = f"holds {count} records where the manifest says {total}"
            elif digest.hexdigest() != entry.get("sha256"):
                problem = "differs from the checksum in the manifest"
            else:
                continue
            raise ArchiveError(
                f"{self.path}: {entry.get('name')} {problem}: the archive was changed or damaged; "
                "export the store again."
            )


def _batches(records: Iterator[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(store: Store, kind: str, records: Sequence[Any]) -> int:
    """Write the records of one batch that the target does not hold yet; returns how many."""
    if not records:
        return 0
    held = store.existing_ids(TABLES[kind], [_record_id(kind, r) for r in records])
    new = [r for r in records if _record_id(kind, r) not in held]
    if kind == "messages":
        return store.restore_messages(new)
    if kind == "jobs":
        return store.restore_jobs(new)
    written = 0
    for record in new:
        if kind == "memories":
            store.insert_item(record.item, record.vector, record.embedder)
        elif kind == "clusters":
            store.save_cluster(record)
        elif kind == "task_records":
            store.add_task_record(record)
        elif kind == "skills":
            _write_skill(store, record)
        elif kind == "api_keys":
            if store.api_key_by_hash(record.key_hash) is not None:
                continue  # the same key under another id
            store.save_api_key(record)
        written += 1
    return written


def _record_id(kind: str, record: Any) -> str:
    if kind == "messages":
        return str(record.message.id)
    if kind == "memories":
        return str(record.item.id)
    if kind == "skills":
        return str(record.skill.id)
    return str(record.id)


def _write_skill(store: Store, record: SkillRecord) -> None:
    """Store every version through `save_skill` (which appends the version it is given), the current one
    last, so the skill row ends as it was; then its history."""
    current = record.skill.current.version
    for version in sorted(record.versions, key=lambda v: v.version):
        if version.version != current:
            store.save_skill(replace(record.skill, current=version), record.search_text, None, None)
    store.save_skill(record.skill, record.search_text, record.vector, record.embedder)
    for event in record.events:
        store.add_skill_event(event)


def import_archive(
    store: Store,
    path: str | Path,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an archive into `store`: check it whole, write what the store lacks in one transaction,
    then (with `embedder`) rebuild the vectors another embedder made. Raises `ArchiveError`, having
    written nothing, when the file is not a readable archive of a format this memskill reads."""
    added = dict.fromkeys(RECORDS, 0)
    skipped = dict.fromkeys(RECORDS, 0)
    with Archive(path) as archive:
        archive.check(progress)
        counts = archive.manifest.get("counts") or {}
        with store.transaction():
            for kind in RECORDS:
                total, done = int(counts.get(kind, 0)), 0
                for batch in _batches(archive.records(kind)):
                    written = _write(store, kind, batch)
                    added[kind] += written
                    skipped[kind] += len(batch) - written
                    done += len(batch)
                    if progress is not None:
                        progress(f"importing {kind.replace('_', ' ')}", done, max(total, done))
    reembedded: dict[str, int] = {}
    failed = None
    if embedder is not None:
        try:
            reembedded = reembed(store, embedder, progress=_reembed_progress(progress))
        except MemskillError as error:  # the import stands; the vectors wait for another run
            failed = str(error)
    return ImportReport(archive.manifest, added, skipped, reembedded, failed)


def _reembed_progress(progress: Progress | None) -> ReembedProgress | None:
    if progress is None:
        return None
    report = progress
    return lambda done, total: report("re-embedding", done, total)
