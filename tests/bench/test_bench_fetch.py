"""`memskill bench fetch`: downloads over real HTTP on loopback, resumes, verifies; the shipped manifest."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from paths import SHARED

from memskill.bench import fetch as fetch_module
from memskill.bench.fetch import fetch, find_data, load_sources
from memskill.cli import main
from memskill.errors import InvalidRequest, UpstreamError

SHARED_DATA = SHARED / "data"

FILES = {
    "/alpha/one.json": b'{"dialogues": [1, 2, 3]}\n' * 40,
    "/alpha/sub/two.txt": bytes(range(256)) * 20,
    "/beta/three.csv": b"text,label\nhello,greet\n",
}


@dataclass
class Publisher:
    """What the fixture server serves and what it saw."""

    files: dict[str, bytes]
    ranges: list[str | None] = field(default_factory=list)
    """The Range header of each request (None when absent)."""
    cut_once: set[str] = field(default_factory=set)
    """Paths whose next response stops after half the body (then the connection closes)."""
    ignore_range: bool = False
    corrupt: set[str] = field(default_factory=set)
    """Paths served with their last byte changed."""


def _handler(publisher: Publisher) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = publisher.files.get(self.path)
            header = self.headers.get("Range")
            publisher.ranges.append(header)
            if body is None:
                self.send_error(404)
                return
            if self.path in publisher.corrupt:
                body = body[:-1] + bytes([body[-1] ^ 1])
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", header or "")
            if match and not publisher.ignore_range:
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.path in publisher.cut_once:
                publisher.cut_once.discard(self.path)
                payload = payload[: len(payload) // 2]
                self.close_connection = True
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def publisher() -> Iterator[tuple[Publisher, str]]:
    state = Publisher(dict(FILES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def write_manifest(path: Path, base: str) -> Path:
    def entry(local: str, url_path: str) -> dict[str, object]:
        body = FILES[url_path]
        return {
            "path": local,
            "url": base + url_path,
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }

    sets = {
        "alpha": {
            "licence": "MIT",
            "citation": "Alpha et al., 2024.",
            "source": [{"repo": "example/alpha", "commit": "0" * 40}],
            "fetchable": True,
            "non_commercial": False,
            "note": "",
            "files": [entry("one.json", "/alpha/one.json"), entry("sub/two.txt", "/alpha/sub/two.txt")],
        },
        "beta": {
            "licence": "CC BY-NC 4.0",
            "citation": "Beta et al., 2025.",
            "source": [{"repo": "example/beta", "commit": "1" * 40}],
            "fetchable": True,
            "non_commercial": True,
            "note": "",
            "files": [entry("three.csv", "/beta/three.csv")],
        },
        "derived": {
            "licence": "CC BY-SA 4.0",
            "citation": "Ours.",
            "source": [],
            "fetchable": False,
            "note": "made by the team from another corpus, so no publisher serves it",
            "files": [],
        },
    }
    path.write_text(json.dumps({"about": "test", "sets": sets}), encoding="utf-8")
    return path


def test_a_fresh_fetch_writes_the_files_and_reports_progress(
    publisher: tuple[Publisher, str], tmp_path: Path
) -> None:
    _, base = publisher
    sources = write_manifest(tmp_path / "sources.json", base)
    seen: list[tuple[str, int, int]] = []
    said: list[str] = []
    results = fetch(tmp_path / "data", (), lambda *a: seen.append(a), sources=sources, say=said.append)
    assert (tmp_path / "data/alpha/one.json").read_bytes() == FILES["/alpha/one.json"]
    assert (tmp_path / "data/alpha/sub/two.txt").read_bytes() == FILES["/alpha/sub/two.txt"]
    assert (tmp_path / "data/beta/three.csv").read_bytes() == FILES["/beta/three.csv"]
    assert not list((tmp_path / "data").rglob("*.part"))
    assert [(r.dataset, r.path, r.status) for r in results[:3]] == [
        ("alpha", "one.json", "written"),
        ("alpha", "sub/two.txt", "written"),
        ("beta", "three.csv", "written"),
    ]
    assert results[0].downloaded == len(FILES["/alpha/one.json"])
    two = len(FILES["/alpha/sub/two.txt"])
    assert ("alpha/sub/two.txt", two, two) in seen
    alpha_total = len(FILES["/alpha/one.json"]) + two
    assert ("alpha", alpha_total, alpha_total) in seen  # per data set
    assert any("beta" in line and "NON-COMMERCIAL" in line and "CC BY-NC 4.0" in line for line in said)


def test_a_second_run_downloads_nothing(publisher: tuple[Publisher, str], tmp_path: Path) -> None:
    state, base = publisher
    sources = write_manifest(tmp_path / "sources.json", base)
    fetch(tmp_path / "data", sources=sources)
    requests = len(state.ranges)
    results = fetch(tmp_path / "data", sources=sources)
    assert len(state.ranges) == requests
    assert {r.status for r in results if r.dataset != "derived"} == {"unchanged"}


def test_an_interrupted_download_resumes_with_a_range_request(
    publisher: tuple[Publisher, str], tmp_path: Path
) -> None:
    state, base = publisher
    sources = write_manifest(tmp_path / "sources.json", base)
    state.cut_once.add("/alpha/sub/two.txt")
    with pytest.raises(UpstreamError) as failed:
        fetch(tmp_path / "data", ["alpha"], sources=sources)
    message = str(failed.value)
    assert f"{base}/alpha/sub/two.txt" in message and "again" in message and "resumes" in message
    assert "\n" not in message
    part = tmp_path / "data/alpha/sub/two.txt.part"
    kept = part.stat().st_size
    assert 0 < kept < len(FILES["/alpha/sub/two.txt"])
    results = fetch(tmp_path / "data", ["alpha"], sources=sources)
    assert state.ranges[-1] == f"bytes={kept}-"
    assert (tmp_path / "data/alpha/sub/two.txt").read_bytes() == FILES["/alpha/sub/two.txt"]
    assert not part.exists()
    assert [r.status for r in results] == ["unchanged", "written"]
    assert results[1].downloaded == len(FILES["/alpha/sub/two.txt"]) - kept


def test_a_server_that_ignores_range_gets_the_file_restarted(
    publisher: tuple[Publisher, str], tmp_path: Path
) -> None:
    state, base = publisher
    sources = write_manifest(tmp_path / "sources.json", base)
    state.ignore_range = True
    part = tmp_path / "data/beta/three.csv.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(FILES["/beta/three.csv"][:5])
    fetch(tmp_path / "data", ["beta"], sources=sources)
    assert state.ranges == ["bytes=5-"]
    assert (tmp_path / "data/beta/three.csv").read_bytes() == FILES["/beta/three.csv"]


def test_a_checksum_mismatch_is_a_clear_error_and_leaves_no_file(
    publisher: tuple[Publisher, str], tmp_path: Path
) -> None:
    state, base = publisher
    sources = write_manifest(tmp_path / "sources.json", base)
    state.corrupt.add("/beta/three.csv")
    with pytest.raises(UpstreamError) as failed:
        fetch(tmp_path / "data", ["beta"], sources=sources)
    message = str(failed.value)
    expected = hashlib.sha256(FILES["/beta/three.csv"]).hexdigest()
    body = FILES["/beta/three.csv"]
    actual = hashlib.sha256(body[:-1] + bytes([body[-1] ^ 1])).hexdigest()
    assert "beta/three.csv" in message and expected in message and actual in message
    assert "memskill bench fetch" in message
    assert not list((tmp_path / "data").rglob("three.csv*"))


def test_a_set_no_publisher_serves_is_skipped_with_its_reason(
    publisher: tuple[Publisher, str], tmp_path: Path
) -> None:
    state, base = publisher
    sources = write_manifest(tmp_path / "sources.json", base)
    results = fetch(tmp_path / "data", ["derived"], sources=sources)
    assert len(results) == 1 and results[0].status == "skipped"
    assert "no publisher serves it" in results[0].reason
    assert state.ranges == []
    with pytest.raises(InvalidRequest, match="no data set gamma"):
        fetch(tmp_path / "data", ["gamma"], sources=sources)


def test_find_data_prefers_the_flag_then_shared_then_the_fetched_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MEMSKILL_HOME", str(tmp_path / "home"))
    with pytest.raises(InvalidRequest) as missing:
        find_data(None)
    assert "memskill bench fetch" in str(missing.value) and str(tmp_path / "home" / "data") in str(
        missing.value
    )
    (tmp_path / "home" / "data").mkdir(parents=True)
    assert find_data(None) == tmp_path / "home" / "data"
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert find_data(None) == Path("../shared/data")
    assert find_data(str(tmp_path / "home")) == tmp_path / "home"
    with pytest.raises(InvalidRequest, match="memskill bench fetch"):
        find_data(str(tmp_path / "nowhere"))


def test_bench_quality_without_data_says_to_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # no ../shared/data
    monkeypatch.setenv("MEMSKILL_HOME", str(tmp_path / "home"))
    out, err = io.StringIO(), io.StringIO()
    assert main(["bench", "quality", "--only", "segmentation"], out, err) == 2
    assert "memskill bench fetch" in err.getvalue() and len(err.getvalue().splitlines()) == 1


def test_the_command_fetches_and_fails_in_one_line_when_the_server_is_down(
    publisher: tuple[Publisher, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, base = publisher
    monkeypatch.setattr(fetch_module, "SOURCES", write_manifest(tmp_path / "sources.json", base))
    out, err = io.StringIO(), io.StringIO()
    code = main(["bench", "fetch", "--to", str(tmp_path / "data"), "--only", "alpha,derived"], out, err)
    assert code == 0, err.getvalue()
    assert (tmp_path / "data/alpha/one.json").read_bytes() == FILES["/alpha/one.json"]
    assert not (tmp_path / "data/beta").exists()
    assert "alpha: 2 files, 2 written" in out.getvalue()
    assert "derived: skipped (made by the team" in out.getvalue()

    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setattr(fetch_module, "SOURCES", write_manifest(tmp_path / "down.json", down))
    out, err = io.StringIO(), io.StringIO()
    code = main(["bench", "fetch", "--to", str(tmp_path / "other"), "--only", "beta"], out, err)
    assert code == 2
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{down}/beta/three.csv" in errors[0] and "again" in errors[0]
    assert "beta: licence CC BY-NC 4.0: NON-COMMERCIAL use only" in err.getvalue()


def test_the_shipped_manifest_is_complete() -> None:
    sets = load_sources()
    raw = json.loads(fetch_module.SOURCES.read_text(encoding="utf-8"))["sets"]
    for name, data_set in sets.items():
        assert data_set.licence and data_set.citation, name
        assert all(source["repo"] and len(source["commit"]) == 40 for source in raw[name]["source"]), name
        if not data_set.fetchable:
            assert data_set.note and not data_set.files, name
            continue
        assert data_set.files and raw[name]["source"], name
        for item in data_set.files:
            assert item.url.startswith("https://raw.githubusercontent.com/"), item
            assert any(f"/{s['repo']}/{s['commit']}/" in item.url for s in raw[name]["source"]), item
            assert re.fullmatch(r"[0-9a-f]{64}", item.sha256) and item.size > 0, item
    assert sets["locomo"].non_commercial and sets["prefeval"].non_commercial
    assert not sets["dialogue-acts"].fetchable
    readme = SHARED_DATA / "README.md"
    if not readme.is_file():
        pytest.skip(
            "the data sets' own copies live in ../shared/data beside the checkout, never in the repository; "
            "this clone has none to compare the manifest with"
        )
    folders = re.findall(r"^\| ([a-z0-9-]+) \|", readme.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert "tiage" in folders and "webarena-tasks" in folders
    assert set(folders) - {"folder", "method"} <= set(sets)


def test_the_pinned_checksums_match_the_team_copies() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            "the data sets' own copies live in ../shared/data beside the checkout, never in the repository; "
            "this clone has none to compare the manifest with"
        )
    for data_set in load_sources().values():
        for item in data_set.files:
            local = SHARED_DATA / data_set.name / item.path
            assert local.stat().st_size == item.size, local
            assert hashlib.sha256(local.read_bytes()).hexdigest() == item.sha256, local
