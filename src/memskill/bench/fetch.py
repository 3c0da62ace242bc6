"""`memskill bench fetch`: download the public evaluation sets from their publishers, checked file by file.

The manifest `bench/sources.json` names, per data set folder, its licence, a citation, the source
repository and commit, and each file's URL (raw.githubusercontent.com at the pinned commit), size and
sha256. The checksums were computed from copies taken from those commits, not from a download made here.
Files land in one folder per data set, the layout `bench quality --data` reads:

    <to>/                           default $MEMSKILL_HOME/data, else ~/.memskill/data
      locomo/locomo10.json          each file under the path the manifest gives it
      locomo/LICENSE.txt            the publisher's licence file, where the repository has one
      prefeval/mcq_options/….json
      <file>.part                   a download under way: the next run resumes it with an HTTP Range request

A file already there with the pinned checksum is left alone ("unchanged"); a finished download whose size
or checksum differs is deleted and raises `UpstreamError`. Sets whose files no publisher serves (the
team's own `dialogue-acts`) are reported as skipped, with the reason from the manifest.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TextIO

from memskill.bench.report import Progress, no_progress
from memskill.config import default_data_dir
from memskill.errors import InternalError, InvalidRequest, UpstreamError
from memskill.version import __version__

SOURCES = Path(__file__).with_name("sources.json")
"""The shipped manifest."""
SHARED = Path("../shared/data")
"""Where the team's copies live, relative to a checkout (the default before the fetched copy)."""
CHUNK = 64 * 1024
TIMEOUT_S = 60.0
Status = Literal["written", "unchanged", "skipped"]
Opener = Callable[..., Any]
"""`urllib.request.urlopen` or anything that takes (request, timeout=) and returns a response like it."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a data set."""

    path: str
    """Relative to the data set's folder (forward slashes)."""
    url: str
    sha256: str
    size: int
    """Bytes."""


@dataclass(frozen=True)
class DataSet:
    """One folder of the manifest."""

    name: str
    licence: str
    citation: str
    files: tuple[SourceFile, ...]
    fetchable: bool = True
    non_commercial: bool = False
    note: str = ""
    """Why the set is not fetchable, or what differs from the publisher's layout."""


@dataclass(frozen=True)
class FileResult:
    """What `fetch` did with one file (or, for a skipped set, with the whole set: `path` is "")."""

    dataset: str
    path: str
    status: Status
    reason: str = ""
    downloaded: int = 0
    """Bytes transferred in this run."""


def default_target() -> Path:
    """`$MEMSKILL_HOME/data`, else `~/.memskill/data`."""
    return default_data_dir() / "data"


def load_sources(sources: Path | None = None) -> dict[str, DataSet]:
    """The data sets of a manifest (default: the shipped `sources.json`), by folder name."""
    raw = json.loads((sources or SOURCES).read_text(encoding="utf-8"))
    sets = {}
    for name, entry in raw["sets"].items():
        files = tuple(SourceFile(f["path"], f["url"], f["sha256"], int(f["size"])) for f in entry["files"])
        for item in files:
            path = PurePosixPath(item.path)
            if not path.parts or path.is_absolute() or ".." in path.parts:
                raise InternalError(f"sources.json: {name} lists {item.path!r}, not a path in its folder.")
        licence, citation, note = entry["licence"], entry["citation"], entry.get("note", "")
        flags = bool(entry.get("fetchable", True)), bool(entry.get("non_commercial"))
        sets[name] = DataSet(name, licence, citation, files, *flags, note)
    return sets


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _network_error(url: str, kept: int, error: BaseException) -> UpstreamError:
    """One line: which URL failed, why, and that running the command again resumes."""
    if isinstance(error, urllib.error.HTTPError) and 400 <= error.code < 500 and error.code not in (408, 429):
        return UpstreamError(
            f"downloading {url} failed (HTTP {error.code} {error.reason}): the publisher does not serve it "
            "at the pinned commit; report it so bench/sources.json can be fixed (--only fetches others).",
            retryable=False,
            status=error.code,
        )
    if isinstance(error, urllib.error.HTTPError):
        reason = f"HTTP {error.code} {error.reason}"
    else:
        reason = str(error.reason if isinstance(error, urllib.error.URLError) else error)
    again = f"it resumes this file from the {kept:,} bytes kept" if kept else "it resumes where it stopped"
    return UpstreamError(
        f"downloading {url} failed ({reason or type(error).__name__}); run `memskill bench fetch` again: "
        f"{again}.",
        status=error.code if isinstance(error, urllib.error.HTTPError) else None,
    )


def _download(item: SourceFile, part: Path, label: str, progress: Progress, opener: Opener) -> int:
    """Bring `part` to the whole file, resuming it when it exists; return the bytes transferred."""
    start = part.stat().st_size if part.exists() else 0
    if start >= item.size:
        return 0  # complete (or too long): the checksum decides
    headers = {"User-Agent": f"memskill/{__version__} (bench fetch)"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = opener(urllib.request.Request(item.url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not start:
            raise _network_error(item.url, start, error) from None
        part.unlink()  # the publisher's file is shorter than what we kept: start again
        return _download(item, part, label, progress, opener)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise _network_error(item.url, start, error) from None
    with response:
        if start and getattr(response, "status", 200) != 206:
            start = 0  # the server ignored Range: the body is the whole file
        length = getattr(response, "headers", {}).get("Content-Length")
        done = start
        with part.open("ab" if start else "wb") as handle:
            while done <= item.size:
                try:
                    block = response.read(CHUNK)
                except (http.client.HTTPException, OSError) as error:
                    raise _network_error(item.url, done, error) from None
                if not block:
                    break
                handle.write(block)
                done += len(block)
                progress(label, done, item.size)
    if length is not None and done < start + int(length) and done <= item.size:
        # urllib ends a body the server cut off quietly, as if it were whole
        raise _network_error(item.url, done, ConnectionError("the connection closed early"))
    return done - start


def _fetch_file(item: SourceFile, target: Path, label: str, progress: Progress, opener: Opener) -> int:
    """Download one file into place and verify it; raise `UpstreamError` on a size or checksum mismatch."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    transferred = _download(item, part, label, progress, opener)
    size = part.stat().st_size
    actual = sha256_of(part) if size == item.size else f"a file of {size:,} bytes, not {item.size:,}"
    if actual != item.sha256:
        part.unlink()
        raise UpstreamError(
            f"{label} from {item.url} does not match its pinned checksum (expected sha256 {item.sha256}, "
            f"got {actual}) and was deleted; run `memskill bench fetch` again, and if it fails the same way "
            "the publisher changed the file: report it so bench/sources.json can be checked.",
            retryable=False,
        )
    os.replace(part, target)
    progress(label, item.size, item.size)
    return transferred


def fetch(
    to: Path,
    only: Sequence[str] = (),
    progress: Progress = no_progress,
    opener: Opener = urllib.request.urlopen,
    sources: Path | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> list[FileResult]:
    """Download the data sets (all, or those named in `only`) into `to/<set>/`; see the module docstring.

    `progress(label, done, total)` gets bytes per file (label `set/path`) and per set (label `set`);
    `say` gets one line per set fetched, with its licence and citation. Raises `InvalidRequest` for an
    unknown name in `only` and `UpstreamError` for a download that failed (re-running resumes it) or does
    not match its checksum.
    """
    sets = load_sources(sources)
    unknown = [name for name in only if name not in sets]
    if unknown:
        raise InvalidRequest(f"no data set {', '.join(unknown)}: choose from {', '.join(sets)}.")
    results: list[FileResult] = []
    for data_set in sets.values():
        if only and data_set.name not in only:
            continue
        if not data_set.fetchable:
            results.append(FileResult(data_set.name, "", "skipped", data_set.note))
            continue
        terms = ": NON-COMMERCIAL use only" if data_set.non_commercial else ""
        say(f"{data_set.name}: licence {data_set.licence}{terms}. Cite {data_set.citation}")
        total, done = sum(item.size for item in data_set.files), 0
        for item in data_set.files:
            target = to / data_set.name / item.path
            label = f"{data_set.name}/{item.path}"
            if target.is_file() and target.stat().st_size == item.size and sha256_of(target) == item.sha256:
                results.append(FileResult(data_set.name, item.path, "unchanged"))
            else:
                transferred = _fetch_file(item, target, label, progress, opener)
                results.append(FileResult(data_set.name, item.path, "written", downloaded=transferred))
            done += item.size
            progress(data_set.name, done, total)
    return results


def find_data(explicit: str | None) -> Path:
    """The data sets for `bench quality`/`calibrate`: `--data`, else ../shared/data, else the fetched copy."""
    target = default_target()
    how = f"run `memskill bench fetch` to download them to {target}, or pass --data DIR"
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise InvalidRequest(f"no data sets at {path}: {how}.")
        return path
    for path in (SHARED, target):
        if path.is_dir():
            return path
    raise InvalidRequest(f"no data sets at {SHARED} or {target}: {how}.")


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def _terminal_progress(err: TextIO) -> Progress:
    """Bytes per file on one updating line on a terminal; elsewhere a line per finished set."""
    shown: dict[str, int] = {}

    def report(label: str, done: int, total: int) -> None:
        per_set = "/" not in label
        if err.isatty() and not per_set:
            err.write(f"\r{label} {_size(done)} / {_size(total)}\033[K")
            err.flush()
        elif per_set and done == total and shown.get(label) != done:
            shown[label] = done
            err.write(("\r\033[K" if err.isatty() else "") + f"{label}: {_size(done)} / {_size(total)}\n")

    return report


def run_from_cli(args: Any, out: TextIO, err: TextIO) -> int:
    """`memskill bench fetch [--to DIR] [--only NAMES]`."""
    to = Path(args.to).expanduser() if args.to else default_target()
    only = [name.strip() for name in (args.only or "").split(",") if name.strip()]

    def say(text: str) -> None:
        err.write(text + "\n")
        err.flush()

    results = fetch(to, only, _terminal_progress(err), say=say)
    for name in dict.fromkeys(result.dataset for result in results):
        rows = [result for result in results if result.dataset == name]
        if rows[0].status == "skipped":
            out.write(f"{name}: skipped ({rows[0].reason})\n")
            continue
        written = sum(row.status == "written" for row in rows)
        downloaded = sum(row.downloaded for row in rows)
        files = f"{len(rows)} file{'s' * (len(rows) > 1)}"
        fetched = f" ({_size(downloaded)} downloaded)" if downloaded else ""
        out.write(f"{name}: {files}, {written} written, {len(rows) - written} unchanged{fetched}\n")
    out.write(f"data sets in {to}: run `memskill bench quality --data {to}`\n")
    return 0
