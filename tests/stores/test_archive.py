"""Whole-store export and import (`memskill.archive`, `memskill export` / `memskill import`).

One source store is filled once per module the way agents fill it (the demo's two travellers, turn by
turn, with the offline embedder, plus a correction, a call still waiting for its worker and an API key)
and exported once. Every target is a fresh store; the PostgreSQL targets need a server
(`MEMSKILL_TEST_DATABASE_URL`, see store_backends.py) and are skipped without one. A target answers like
the source when every read the HTTP routes make through the engine (get/memory, search/memory,
get/message, get/skill, get/status) gives the same `data`; `skill_url` is empty on both sides here, as
the engines are made without a link signer (a signed link differs between servers by design).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from store_backends import fresh_postgres_url

from memskill.archive import ArchiveError, export_archive, import_archive
from memskill.cli import main
from memskill.config import Settings
from memskill.demo import demo_data, send
from memskill.engine import Memory
from memskill.models import MemoryItem, Message, Scope
from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder
from memskill.reembed import stale_counts
from memskill.server.keys import create_key, hash_key
from memskill.stores.base import JobRow, MessageRow, Store
from memskill.stores.sqlite import SQLiteStore
from memskill.text import match_query

FAST, SLOW = "demo-traveller-fast", "demo-traveller-slow"
QUERIES = [
    demo_data()["query"],
    "博物馆",
    "天气",
    "weather in Chengdu",
    "不要商场",
    "帮我写一封请假邮件",
    "重庆 火锅",
]


class Source:
    """The filled source engine, its archive (without keys), and the key stored in it."""

    def __init__(self, memory: Memory, archive: Path, key: str) -> None:
        self.memory = memory
        self.archive = archive
        self.key = key


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, offline_embedder: OfflineEmbedder) -> Iterator[Source]:
    folder = tmp_path_factory.mktemp("source")
    memory = Memory(settings=Settings(data_dir=folder, workers=0), embedder=offline_embedder)
    for user in demo_data()["users"]:
        for conversation in user["conversations"]:
            for reply in send(
                memory, user["user_id"], conversation["conversation_id"], conversation["messages"]
            ):
                assert reply["status"] == "completed"
    memory.add_feedback(
        user_id=SLOW,
        conversation_id="slow-leave-email",
        feedback_content="以后邮件控制在200字以内",
        async_mode=False,
    )
    # Stored and searchable by keyword, its job left running (no worker here): it must travel as it is.
    memory.add_message(
        user_id=FAST,
        conversation_id="fast-pending",
        messages=[{"role": "user", "content": "下周想去重庆吃火锅，帮我记一下"}],
        async_mode=True,
    )
    key, _ = create_key(memory.store, note="archive test")
    archive = folder / "store.zip"
    export_archive(memory.store, archive)
    yield Source(memory, archive, key)
    memory.close()


def answers(memory: Memory) -> dict[str, Any]:
    """What every read endpoint answers about the store, by request."""
    out: dict[str, Any] = {}
    for user in (FAST, SLOW):
        out[f"get/memory {user}"] = memory.get_memory(user_id=user, size=50)
        out[f"get/memory {user} page 2"] = memory.get_memory(user_id=user, page=2, size=3)
        out[f"get/skill {user}"] = memory.get_skill(user_id=user, include_versions=True)
        for query in QUERIES:
            for floor in (None, 0.0):
                out[f"search/memory {user} {query} {floor}"] = memory.search_memory(
                    query=query, user_id=user, include_tool_memory=True, include_skill=True, relativity=floor
                )
        for conversation in memory.store.conversation_ids(user):
            out[f"get/message {user} {conversation}"] = memory.get_message(
                user_id=user, conversation_id=conversation, message_limit_number=50
            )
    for job in memory.store.list_jobs(limit=1000):
        out[f"get/status {job.id}"] = memory.get_status(task_id=job.id)
    return out


def assert_same_answers(target: Memory, source: Memory) -> None:
    expected, found = answers(source), answers(target)
    assert found.keys() == expected.keys()
    differing = [request for request in expected if found[request] != expected[request]]
    assert not differing, differing
    assert any(entry["skill_detail_list"] for entry in expected.values() if "skill_detail_list" in entry)


def engine(store: Store, embedder: Embedder, folder: Path) -> Memory:
    return Memory(settings=Settings(data_dir=folder, workers=0), store=store, embedder=embedder)


def file_digests(archive: Path) -> dict[str, str]:
    """Each record file's checksum: equal when two stores hold the same records in the same order."""
    manifest = json.loads(zipfile.ZipFile(archive).read("manifest.json"))
    return {kind: entry["sha256"] for kind, entry in manifest["files"].items()}


def rewrite(archive: Path, to: Path, change: Callable[[str, bytes], bytes]) -> None:
    """A copy of `archive` whose members are passed through `change(name, data)`, the manifest's
    checksums and counts made to match, so that only what `change` did differs."""
    with zipfile.ZipFile(archive) as old:
        members = {name: change(name, old.read(name)) for name in old.namelist() if name != "manifest.json"}
        manifest = json.loads(change("manifest.json", old.read("manifest.json")))
    for entry in manifest["files"].values():
        data = members[entry["name"]]
        entry.update(records=data.count(b"\n"), sha256=hashlib.sha256(data).hexdigest())
    with zipfile.ZipFile(to, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in members.items():
            new.writestr(name, data)
        new.writestr("manifest.json", json.dumps(manifest))


def lines(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    out = []
    for line in data.decode("utf-8").splitlines():
        record = json.loads(line)
        edit(record)
        out.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(out).encode("utf-8")


# -- the round trips -----------------------------------------------------------------------------------


def test_an_archive_imported_into_sqlite_answers_as_the_source(
    source: Source, tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    store = SQLiteStore(tmp_path / "memskill.db")
    report = import_archive(store, source.archive, embedder=offline_embedder)
    counts = report.manifest["counts"]
    assert report.added == {kind: counts[kind] for kind in report.added}
    assert not any(report.skipped.values()) and not any(report.reembedded.values())
    assert counts["memories"] and counts["skills"] and counts["skill_versions"] > counts["skills"]
    assert report.manifest["embedder"] == {"id": offline_embedder.id, "dim": offline_embedder.dim}
    with engine(store, offline_embedder, tmp_path) as target:
        assert_same_answers(target, source.memory)


def test_importing_the_same_archive_again_changes_nothing(
    source: Source, tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    store = SQLiteStore(tmp_path / "memskill.db")
    try:
        import_archive(store, source.archive, embedder=offline_embedder)
        export_archive(store, tmp_path / "first.zip")
        again = import_archive(store, source.archive, embedder=offline_embedder)
        export_archive(store, tmp_path / "second.zip")
    finally:
        store.close()
    counts = again.manifest["counts"]
    assert not any(again.added.values())
    assert again.skipped == {kind: counts[kind] for kind in again.skipped}
    assert file_digests(tmp_path / "second.zip") == file_digests(tmp_path / "first.zip")
    assert file_digests(tmp_path / "first.zip") == file_digests(source.archive)


def test_an_archive_from_sqlite_imported_into_postgres_answers_as_the_source(
    source: Source, tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    from memskill.stores.postgres import PostgresStore

    with fresh_postgres_url() as url:
        store = PostgresStore(url)
        report = import_archive(store, source.archive, embedder=offline_embedder)
        assert not any(report.skipped.values()) and not any(report.reembedded.values())
        again = import_archive(store, source.archive, embedder=offline_embedder)
        assert not any(again.added.values()) and again.skipped == report.added
        # Read back from PostgreSQL, the very same records in the same order.
        export_archive(store, tmp_path / "from-postgres.zip")
        assert file_digests(tmp_path / "from-postgres.zip") == file_digests(source.archive)
        with engine(store, offline_embedder, tmp_path) as target:
            assert_same_answers(target, source.memory)


def test_one_users_export_holds_that_user_only(
    source: Source, tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    manifest = export_archive(source.memory.store, tmp_path / "fast.zip", user_id=FAST)
    assert manifest["user_id"] == FAST and manifest["counts"]["skills"] >= 1
    store = SQLiteStore(tmp_path / "memskill.db")
    import_archive(store, tmp_path / "fast.zip")
    with engine(store, offline_embedder, tmp_path) as target:
        assert target.users() == [FAST]
        assert target.get_memory(user_id=FAST, size=50) == source.memory.get_memory(user_id=FAST, size=50)
        assert target.get_memory(user_id=SLOW)["total"] == 0


# -- keys ------------------------------------------------------------------------------------------------


def test_keys_are_left_out_unless_asked_for(source: Source, tmp_path: Path) -> None:
    digest = hash_key(source.key)
    with zipfile.ZipFile(source.archive) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        everything = b"".join(archive.read(name) for name in archive.namelist())
    assert manifest["keys_included"] is False and manifest["counts"]["api_keys"] == 0
    assert digest.encode() not in everything
    store = SQLiteStore(tmp_path / "without.db")
    import_archive(store, source.archive)
    assert store.list_api_keys() == []
    store.close()

    export_archive(source.memory.store, tmp_path / "keys.zip", with_keys=True)
    store = SQLiteStore(tmp_path / "with.db")
    report = import_archive(store, tmp_path / "keys.zip")
    assert report.manifest["keys_included"] is True and report.added["api_keys"] == 1
    assert store.api_key_by_hash(digest) == source.memory.store.api_key_by_hash(digest)
    again = import_archive(store, tmp_path / "keys.zip")
    assert again.skipped["api_keys"] == 1 and len(store.list_api_keys()) == 1
    store.close()


# -- bad input ---------------------------------------------------------------------------------------


def _flip_a_byte_of(archive: Path, member: str, to: Path) -> None:
    data = bytearray(archive.read_bytes())
    info = zipfile.ZipFile(archive).getinfo(member)
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0xFF
    to.write_bytes(bytes(data))


BAD_ARCHIVES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "a JSON file": (
        lambda archive, to: to.write_text('{"messages": []}', encoding="utf-8"),
        "is not a memskill archive (not a zip file",
    ),
    "a copy cut short": (
        lambda archive, to: to.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3]),
        "cut short",
    ),
    "a zip of something else": (
        lambda archive, to: zipfile.ZipFile(to, "w").writestr("notes.txt", "hello"),
        "has no manifest.json",
    ),
    "a damaged member": (
        lambda archive, to: _flip_a_byte_of(archive, "memories.jsonl", to),
        "memories.jsonl is damaged",
    ),
    "an edited record": (
        lambda archive, to: _replace_member(
            archive,
            to,
            "memories.jsonl",
            lambda data: data.replace(b'"status": "activated"', b'"status": "archived"', 1),
        ),
        "memories.jsonl differs from the checksum in the manifest",
    ),
    "a line cut short": (
        lambda archive, to: rewrite(
            archive, to, lambda name, data: data[:-40] + b"\n" if name == "skills.jsonl" else data
        ),
        "is not JSON",
    ),
    "a newer format": (
        lambda archive, to: rewrite(
            archive,
            to,
            lambda name, data: data.replace(b'"format_version": "1.0"', b'"format_version": "2.0"'),
        ),
        "is archive format 2.0 (written by memskill",
    ),
    "a record of the wrong type": (
        lambda archive, to: rewrite(
            archive,
            to,
            lambda name, data: (
                lines(data, lambda r: r["item"].update(create_time="yesterday"))
                if name == "memories.jsonl"
                else data
            ),
        ),
        "memories.jsonl line 1, `item`, `create_time`: expected int, found str",
    ),
}


def _replace_member(archive: Path, to: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """A copy with one member changed and the manifest left as it was."""
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(to, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            data = old.read(name)
            new.writestr(name, change(data) if name == member else data)


@pytest.mark.parametrize("bad", list(BAD_ARCHIVES))
def test_a_bad_archive_is_refused_clearly_and_writes_nothing(
    source: Source, tmp_path: Path, bad: str
) -> None:
    make, says = BAD_ARCHIVES[bad]
    path = tmp_path / "bad.zip"
    make(source.archive, path)
    store = SQLiteStore(tmp_path / "memskill.db")
    import_archive(store, source.archive, embedder=None)  # a target that already holds data
    before = store.row_counts()
    with pytest.raises(ArchiveError) as raised:
        import_archive(store, path)
    assert says in str(raised.value) and str(path) in str(raised.value)
    assert store.row_counts() == before
    store.close()


def test_a_newer_format_says_what_to_do(source: Source, tmp_path: Path) -> None:
    path = tmp_path / "newer.zip"
    BAD_ARCHIVES["a newer format"][0](source.archive, path)
    store = SQLiteStore(tmp_path / "memskill.db")
    with pytest.raises(ArchiveError, match=r"reads format 1\.x only\. Upgrade memskill"):
        import_archive(store, path)
    assert not any(store.row_counts().values())
    store.close()


def test_an_older_archive_takes_defaults_and_a_newer_minor_one_its_known_fields(
    source: Source, tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    """Fields an archive lacks take the dataclass default; fields this version does not know are left
    out, as a newer minor format may add some."""

    def change(name: str, data: bytes) -> bytes:
        if name == "manifest.json":
            return data.replace(b'"format_version": "1.0"', b'"format_version": "1.7"')
        if name == "skills.jsonl":
            return lines(data, lambda r: [v.pop("note") for v in r["versions"]])
        if name == "memories.jsonl":
            return lines(data, lambda r: r["item"].update(colour="blue"))
        return data

    rewrite(source.archive, tmp_path / "older.zip", change)
    store = SQLiteStore(tmp_path / "memskill.db")
    report = import_archive(store, tmp_path / "older.zip")
    assert report.added["skills"] and report.added["memories"]
    with engine(store, offline_embedder, tmp_path) as target:
        skills = target.get_skill(user_id=FAST, include_versions=True)["skill_detail_list"]
        assert skills and all(v["note"] == "" for s in skills for v in s["versions"])
        assert target.get_memory(user_id=FAST, size=50) == source.memory.get_memory(user_id=FAST, size=50)


# -- another embedder ----------------------------------------------------------------------------------


def test_vectors_are_rebuilt_when_the_target_embeds_differently(source: Source, tmp_path: Path) -> None:
    hashing = HashingEmbedder()
    store = SQLiteStore(tmp_path / "memskill.db")
    report = import_archive(store, source.archive, embedder=hashing)
    counts = report.manifest["counts"]
    assert report.manifest["embedder"]["id"] != hashing.id
    assert report.reembedded == {
        "clusters": counts["clusters"],
        "skills": counts["skills"],
        "items": counts["memories"],
    }
    assert not any(stale_counts(store, hashing.id, hashing.dim).values())
    with engine(store, hashing, tmp_path) as target:
        found = target.search_memory(query=demo_data()["query"], user_id=FAST, include_skill=True)
        assert [s["skill_value"]["name"] for s in found["skill_detail_list"]][:1] == [
            "travel-itinerary-planning"
        ]


def test_without_an_embedder_the_vectors_wait_for_reembed(source: Source, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "memskill.db")
    report = import_archive(store, source.archive)
    assert report.reembedded == {}
    assert stale_counts(store, HashingEmbedder.id)["items"] == report.added["memories"]
    store.close()


# -- the store methods behind it, on both backends ----------------------------------------------------


def _item(item_id: str, user: str = "u1") -> MemoryItem:
    return MemoryItem(
        id=item_id, user_id=user, kind="fact", key="k", text="看熊猫", conversation_id="c1", create_time=1
    )


def test_a_snapshot_reads_one_moment_while_others_write(any_store: Store) -> None:
    vector = np.ones(4, dtype=np.float32) / 2
    any_store.insert_item(_item("i1"), vector, "e1")
    with any_store.snapshot():
        assert [stored.item.id for stored in any_store.dump_items()] == ["i1"]
        writer = threading.Thread(target=any_store.insert_item, args=(_item("i2", "u2"), vector, "e1"))
        writer.start()
        writer.join()
        assert [stored.item.id for stored in any_store.dump_items()] == ["i1"]
        assert any_store.row_counts()["items"] == 1
    dumped = list(any_store.dump_items())
    assert [stored.item.id for stored in dumped] == ["i1", "i2"]
    assert dumped[0].embedder == "e1" and np.array_equal(dumped[0].vector, vector)
    assert [stored.item.id for stored in any_store.dump_items("u2")] == ["i2"]
    assert any_store.row_counts("u2")["items"] == 1


def test_restored_messages_and_jobs_keep_ids_and_times_and_are_searchable(any_store: Store) -> None:
    job = JobRow(
        id="t1",
        user_id="u1",
        conversation_id="c1",
        agent_id=None,
        app_id="app",
        kind="ingest",
        status="running",
        payload={"message_ids": ["m1"]},
        attempts=2,
        error=None,
        result={},
        create_time=5,
        update_time=6,
        prompt_tokens=7,
    )
    message = MessageRow(
        Message("user", "我想去成都看熊猫", chat_time=3, id="m1"), "u1", "c1", None, "app", "t1", 4
    )
    assert any_store.restore_jobs([job]) == 1 and any_store.restore_messages([message]) == 1
    assert any_store.restore_jobs([job]) == 0 and any_store.restore_messages([message]) == 0
    assert list(any_store.dump_jobs()) == [job] and list(any_store.dump_messages()) == [message]
    assert any_store.existing_ids("messages", ["m1", "m2"]) == {"m1"}
    assert any_store.existing_ids("jobs", ["t1"]) == {"t1"}
    match = match_query("熊猫")
    assert match is not None
    assert [m.id for m, _, _ in any_store.pending_message_hits(Scope("u1"), match, 10)] == ["m1"]
    claimed = any_store.claim_job("w", 60_000)  # a job that was running is run again by the target
    assert claimed is not None and claimed.id == "t1" and claimed.attempts == 3


# -- the command line ------------------------------------------------------------------------------------


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MEMSKILL_DATABASE_URL", "MEMSKILL_EMBEDDER", "MEMSKILL_EMBED_BASE_URL", "MEMSKILL_HOME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_export_then_import_from_the_command_line(
    source: Source, tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    archive = str(tmp_path / "cli.zip")
    code, out, err = run(["export", "--to", archive, "--data-dir", str(source.memory.settings.data_dir)])
    assert code == 0, err
    exported = json.loads(out)
    assert exported["keys_included"] is False and exported["counts"]["skills"] >= 3
    assert "exporting memories" in err
    code, out, err = run(["import", archive, "--data-dir", str(tmp_path / "copy")])
    assert code == 0, err
    imported = json.loads(out)
    assert imported["added"]["memories"] == exported["counts"]["memories"]
    assert not any(imported["skipped"].values()) and "importing skills" in err
    code, out, err = run(["import", archive, "--data-dir", str(tmp_path / "copy")])
    again = json.loads(out)
    assert code == 0 and not any(again["added"].values())
    assert again["skipped"] == imported["added"]


def test_the_command_line_imports_into_postgres_with_the_database_url(
    source: Source, tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    with fresh_postgres_url() as url:
        environment.setenv("MEMSKILL_DATABASE_URL", url)
        code, out, err = run(["import", str(source.archive), "--data-dir", str(tmp_path)])
        assert code == 0, err
        reply = json.loads(out)
        assert reply["store"].endswith(url.rsplit("/", 1)[1]) and reply["added"]["skills"] >= 3
        code, out, err = run(["import", str(source.archive), "--data-dir", str(tmp_path)])
        assert code == 0 and not any(json.loads(out)["added"].values())


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["export"], "needs --to FILE"),
        (["import"], "needs the archive FILE"),
        (["import", "{tmp}/missing.zip"], "no such file"),
        (["import", "{tmp}/notes.txt"], "is not a memskill archive"),
    ],
)
def test_command_line_mistakes_are_one_line(
    argv: list[str], says: str, tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.txt").write_text("not an archive", encoding="utf-8")
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv] + ["--data-dir", str(tmp_path / "data")]
    code, out, err = run(argv)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert says in err, err
