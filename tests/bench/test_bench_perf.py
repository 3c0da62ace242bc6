"""`memskill bench perf`: the quick run end to end (hashing embedder, real servers on loopback), the
report's shape and consistency, the synthetic users it is built from, and its command-line options.

No timing thresholds: only that every number was measured, is positive and agrees with the others.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from memskill.bench import peer
from memskill.bench.perf import QUICK, USER, Options, options_from_cli, run_perf, summary
from memskill.bench.perf_report import targets
from memskill.bench.synthetic import FAMILY_NAMES, conversation, memory_items, queries
from memskill.cli import build_parser
from memskill.config import Settings
from memskill.engine import Memory
from memskill.providers.embedders import HashingEmbedder

LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")


def check_latency(row: dict[str, Any], count: int) -> None:
    assert row["n"] == count
    for key in LATENCY_KEYS:
        assert row[key] > 0, (key, row)
    assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    options = replace(QUICK, embedder="hashing", peer="mem0")
    return run_perf(options, tmp_path_factory.mktemp("perf"))


def needs_mem0() -> None:
    """mem0 comes with the dev extra; CI fails without it, a hand-made environment skips."""
    reason = peer.missing("mem0")
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def test_quick_run_reports_the_headline_numbers(report: dict[str, Any]) -> None:
    for key in (
        "add_p50_ms",
        "add_p99_ms",
        "add_requests_per_s",
        "search_p50_ms",
        "search_p99_ms",
        "floor_search_p50_ms",
        "bm25_search_p50_ms",
        "extract_conversations_per_s",
        "search_over_floor",
        "search_p99_interleaved_ms",
    ):
        assert report[key] > 0, key
    assert report["add_p99_ms"] >= report["add_p50_ms"]
    assert report["search_p99_ms"] >= report["search_p50_ms"]
    assert report["search_memories"] == 1_000
    json.loads(json.dumps(report))  # the report is plain JSON


def test_quick_run_measures_one_size_against_its_floor(report: dict[str, Any]) -> None:
    assert list(report["sizes"]) == ["1000"]
    row = report["sizes"]["1000"]
    assert row["memories"] == 1_000
    check_latency(row["search"], QUICK.queries)
    check_latency(row["floor"], QUICK.queries)
    check_latency(row["bm25"], QUICK.queries)
    check_latency(row["after_write"], QUICK.after_write)
    assert row["floor"]["rows"] == 1_000
    assert 0 < row["floor"]["scan_p50_ms"] <= row["floor"]["p50_ms"]
    assert row["search_over_floor"] == round(row["search"]["p50_ms"] / row["floor"]["p50_ms"], 2)
    assert report["search_p50_ms"] == row["search"]["p50_ms"]
    assert report["floor_search_p50_ms"] == row["floor"]["p50_ms"]
    assert row["search"]["hits_per_search"] > 0


def test_quick_run_puts_mem0_beside_memskill(report: dict[str, Any]) -> None:
    needs_mem0()
    row = report["sizes"]["1000"]
    assert set(row["peer"]) == set(peer.VECTOR_STORES)
    for measured in row["peer"].values():
        assert measured["memories"] == row["memories"]
        check_latency(measured["search"], QUICK.queries)
        assert measured["search"]["hits_per_search"] == peer.TOP_K  # its default threshold keeps ten
        for split in ("tune", "test"):
            ours, theirs = row["paraphrase"][split], measured["paraphrase"][split]
            assert theirs["paraphrased"] == ours["paraphrased"] > 0
            assert theirs["unrelated"] == ours["unrelated"] > 0
            assert 0 < theirs["recall_at_floor"] <= 1
            assert theirs["unrelated_empty_rate"] == 0
    table = report["table"]
    assert "mem0+Qdrant" in table and "mem0+FAISS" in table and "×memskill" in table
    assert "floor p50" in table.split("side by side")[1].split("\n")[1]


def test_the_peer_holds_the_memories_and_vectors_it_is_given(tmp_path: Path) -> None:
    needs_mem0()
    texts = [f"memory number {n}: the user keeps {n} plants on the balcony" for n in range(40)]
    embedder = HashingEmbedder()
    memories = list(zip(texts, embedder.embed(texts)))
    run = peer.PeerRun("mem0", tmp_path, HashingEmbedder, "someone", lambda line: None)
    row = run.measure_at(memories[:30], [texts[3]], warm_up=[])
    for store, mem0 in run.peers.items():
        assert row[store]["memories"] == 30
        assert mem0.search(texts[7])[0]["memory"] == texts[7]
    run.measure_at(memories, [texts[35]], warm_up=[])
    for mem0 in run.peers.values():
        assert mem0.inserted == 40
        assert mem0.search(texts[35])[0]["memory"] == texts[35]


def test_quick_run_builds_the_user_it_says(report: dict[str, Any]) -> None:
    build = report["build"]
    assert build["skills"] == QUICK.skills
    assert build["pipeline_conversations"] >= 1
    assert build["memories"] == 1_000 + QUICK.after_write
    assert build["embedded_texts"] == build["memories"] - build["pipeline_items"] - QUICK.after_write
    assert build["messages"] > 0


def test_quick_run_measures_add_in_process_and_over_http(report: dict[str, Any]) -> None:
    add = report["add"]
    assert set(add) == {"in_process", "http_workers_0", "http_workers_1"}
    for name, row in add.items():
        check_latency(row, QUICK.adds)
        assert row["requests_per_s"] > 0, name
    assert add["http_workers_1"]["workers"] == 1
    assert report["add_measured"] == "http_workers_0"
    assert report["add_p50_ms"] == add["http_workers_0"]["p50_ms"]
    search = report["search_http"]
    check_latency(search, QUICK.queries)
    assert search["memories"] == 1_000
    assert search["rss_mb"] > 0 and search["peak_rss_mb"] >= search["rss_mb"]


def test_quick_run_measures_extraction(report: dict[str, Any]) -> None:
    extraction = report["extraction"]
    assert extraction["conversations"] == QUICK.conversations
    assert extraction["messages_per_conversation"] == 20
    assert extraction["failed"] == 0
    assert 0 < extraction["embedding_share"] < 1
    assert extraction["conversations_per_s_without_embedding"] > extraction["conversations_per_s"] > 0
    check_latency(extraction["per_conversation"], QUICK.conversations)


def test_quick_run_leaves_out_cold_start_and_install_size(report: dict[str, Any]) -> None:
    assert "cold_start" not in report and "install" not in report
    results = {row["name"]: row for row in report["targets"]}
    assert results["cold start to /healthz (empty store)"]["met"] is None
    assert results["install size"]["met"] is None
    assert results["search p50 at 10,000 memories"]["value"] is None
    measured = results["add/message p50 (HTTP, no worker)"]
    assert measured["value"] == report["add_p50_ms"]
    assert measured["met"] == (measured["value"] <= 5)
    for row in report["targets"]:
        assert row["name"] in report["table"]


def test_postgres_targets_compare_with_sqlite_at_the_same_size() -> None:
    def row(p50: float, p99: float) -> dict[str, Any]:
        return {"search": {"p50_ms": p50, "p99_ms": p99}}

    report = {
        "sizes": {"10000": row(20, 40), "100000": row(50, 90)},
        "postgres": {"sizes": {"10000": row(25, 100), "100000": row(90, 120)}},
    }
    found = {t["name"]: (t["value"], t["met"]) for t in targets(report, (10_000, 100_000))}
    assert found["PostgreSQL p50 / SQLite p50 at 10,000"] == (1.25, True)
    assert found["PostgreSQL p50 / SQLite p50 at 100,000"] == (1.8, False)
    assert found["PostgreSQL p99 / its p50 at 10,000"] == (4.0, False)
    assert found["PostgreSQL p99 / its p50 at 100,000"] == (1.33, True)
    without = {t["name"]: t["met"] for t in targets({"sizes": report["sizes"]}, (10_000, 100_000))}
    assert without["PostgreSQL p50 / SQLite p50 at 10,000"] is None  # not measured, not met


def test_summary_of_no_samples_says_so() -> None:
    assert summary([]) == {"n": 0}
    assert summary([2.0, 1.0, 3.0])["p50_ms"] == 2.0


def test_conversations_are_deterministic_and_twenty_messages_long() -> None:
    first, again = conversation(3, 5), conversation(3, 5)
    assert first == again
    assert conversation(3, 6) != first
    for language in ("zh", "en"):
        for family in FAMILY_NAMES:
            conv = conversation(1, 0, language=language, family=family)
            assert len(conv.messages) == 20
            assert conv.messages[0]["role"] == "user"
            roles = [m["role"] for m in conv.messages]
            assert roles.count("tool") == 2
            failed, fixed = [m for m in conv.messages if m["role"] == "tool"]
            assert "error" in json.loads(failed["content"]) and "error" not in json.loads(fixed["content"])
            assert all("{" not in m["content"] or m["role"] == "tool" for m in conv.messages), conv.messages
            times = [m["chat_time"] for m in conv.messages]
            assert times == sorted(times)


def test_memory_items_have_distinct_ids_and_link_preferences() -> None:
    conv = conversation(2, 9, family="trip")
    items = memory_items(conv, "u1", {"trip": ["clu_a"]})
    assert len({item.id for item in items}) == len(items)
    kinds = [item.kind for item in items]
    assert kinds.count("preference") == 2 and kinds.count("tool") == 1 and "fact" in kinds
    assert all(i.payload["cluster_id"] == "clu_a" for i in items if i.kind == "preference")
    bare = memory_items(conv, "u1", preferences=0, tool=False)
    assert {item.kind for item in bare} == {"fact"}


def test_queries_are_distinct_and_in_both_languages() -> None:
    texts = queries(11, 60)
    assert len(texts) == len(set(texts)) == 60
    assert texts[:10] == queries(11, 10)
    many = queries(11, 3000)  # more than a full run asks for
    assert len(set(many)) == 3000
    chinese = [t for t in texts if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    assert len(chinese) == 30


def test_command_line_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["bench", "perf", "--memories", "500,2_000", "--skip-install-size"])
    options = options_from_cli(args)
    assert options == Options(sizes=(500, 2_000), install_size=False)
    assert options_from_cli(parser.parse_args(["bench", "perf", "--quick"])) == QUICK
    peered = options_from_cli(parser.parse_args(["bench", "perf", "--quick", "--peer", "mem0"]))
    assert peered == replace(QUICK, peer="mem0")
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "perf", "--peer", "nobody"])
    for bad in ("many", "0", ""):
        with pytest.raises(SystemExit):
            options_from_cli(parser.parse_args(["bench", "perf", "--memories", bad]))


def test_small_run_without_http_copies_skills_the_pipeline_did_not_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mem0", None)  # as if mem0 were not installed
    options = replace(
        QUICK, embedder="hashing", http=False, queries=3, adds=3, conversations=1, after_write=1, peer="mem0"
    )
    report = run_perf(replace(options, sizes=(150,), skills=6, skill_conversations=1), tmp_path)
    assert "pip install 'memskill[peer]'" in report["peer_skipped"]
    assert "peer not measured: " in report["table"] and "peer" not in report["sizes"]["150"]
    assert report["add_measured"] == "in_process"
    assert report["add_p50_ms"] == report["add"]["in_process"]["p50_ms"]
    assert "search_http" not in report
    assert report["sizes"]["150"]["memories"] >= 150
    build = report["build"]
    assert build["pipeline_conversations"] == 1
    assert build["skills"] == 6 and 0 < build["copied_skills"] < 6
    with Memory(settings=Settings(data_dir=tmp_path / "user", workers=0, embedder="hashing")) as memory:
        skills = memory.get_skill(user_id=USER)["skill_detail_list"]
        names = [skill["skill_value"]["name"] for skill in skills]
        assert len(names) == len(set(names)) == 6
        for skill in skills:
            assert skill["skill_markdown"].startswith(f"---\nname: {skill['skill_value']['name']}\n")
