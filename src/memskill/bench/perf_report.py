"""`memskill bench perf`'s report: the headline numbers, the DESIGN §7 targets met or missed, and the
printed tables (`perf.py` measures, this module reads its JSON report)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

PARAPHRASE_AT = 10_000
"""The size whose paraphrase numbers (held-out split) are the headline and the targets."""


def headline(report: dict[str, Any], sizes: Sequence[int]) -> dict[str, Any]:
    """The top-level numbers `--json` promises (the largest size's search, the add path, extraction and
    the paraphrase workload's held-out split)."""
    largest = report["sizes"][str(sizes[-1])]
    at = PARAPHRASE_AT if str(PARAPHRASE_AT) in report["sizes"] else sizes[-1]
    held_out = report["sizes"][str(at)]["paraphrase"]["test"]
    add = report["add"].get("http_workers_0") or report["add"]["in_process"]
    return {
        "add_p50_ms": add["p50_ms"],
        "add_p99_ms": add["p99_ms"],
        "add_requests_per_s": add["requests_per_s"],
        "add_measured": "http_workers_0" if "http_workers_0" in report["add"] else "in_process",
        "search_memories": sizes[-1],
        "search_p50_ms": largest["search"]["p50_ms"],
        "search_p99_ms": largest["search"]["p99_ms"],
        "floor_search_p50_ms": largest["floor"]["p50_ms"],
        "bm25_search_p50_ms": largest["bm25"]["p50_ms"],
        "search_over_floor": largest["search_over_floor"],
        "extract_conversations_per_s": report["extraction"]["conversations_per_s"],
        "paraphrase_memories": at,
        "paraphrase_recall_at_floor": held_out["recall_at_floor"],
        "unrelated_empty_rate": held_out["unrelated_empty_rate"],
        "search_p99_interleaved_ms": report["sizes"][str(at)]["after_write"]["p99_ms"],
        "interleaved_memories": at,
    }


@dataclass(frozen=True)
class Target:
    name: str
    bound: float
    unit: str
    at_most: bool
    value: Callable[[dict[str, Any]], float | None]


def _path(report: dict[str, Any], *path: str) -> float | None:
    """The number at `path` in the report, None when it was not measured."""
    found: Any = report
    for key in path:
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return None if found is None else float(found)


def _size(report: dict[str, Any], size: int, *path: str) -> float | None:
    return _path(report, "sizes", str(size), *path)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else round(top / bottom, 2)


def _pg_over_sqlite(report: dict[str, Any], size: int) -> float | None:
    postgres = _path(report, "postgres", "sizes", str(size), "search", "p50_ms")
    return _ratio(postgres, _size(report, size, "search", "p50_ms"))


def _pg_spread(report: dict[str, Any], size: int) -> float | None:
    search = ("postgres", "sizes", str(size), "search")
    return _ratio(_path(report, *search, "p99_ms"), _path(report, *search, "p50_ms"))


def targets(report: dict[str, Any], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """DESIGN §7 targets with the measured values and whether each is met (None = not measured)."""
    largest = sizes[-1]
    rows = [
        Target(
            "add/message p50 (HTTP, no worker)",
            5,
            "ms",
            True,
            lambda r: _path(r, "add", "http_workers_0", "p50_ms"),
        ),
        Target(
            "add/message p99 (HTTP, no worker)",
            30,
            "ms",
            True,
            lambda r: _path(r, "add", "http_workers_0", "p99_ms"),
        ),
        Target(
            "add/message requests/s (HTTP, no worker)",
            300,
            "/s",
            False,
            lambda r: _path(r, "add", "http_workers_0", "requests_per_s"),
        ),
        Target(
            "search p50 at 10,000 memories", 20, "ms", True, lambda r: _size(r, 10_000, "search", "p50_ms")
        ),
        Target(
            "search p99 at 10,000 memories", 60, "ms", True, lambda r: _size(r, 10_000, "search", "p99_ms")
        ),
        Target(
            "search p99, a write before each, at 10,000",
            60,
            "ms",
            True,
            lambda r: _size(r, 10_000, "after_write", "p99_ms"),
        ),
        Target(
            "search p50 at 100,000 memories", 60, "ms", True, lambda r: _size(r, 100_000, "search", "p50_ms")
        ),
        *(
            Target(f"PostgreSQL p50 / SQLite p50 at {n:,}", 1.5, "×", True, partial(_pg_over_sqlite, size=n))
            for n in (10_000, 100_000)
        ),
        *(
            Target(f"PostgreSQL p99 / its p50 at {n:,}", 3, "×", True, partial(_pg_spread, size=n))
            for n in (10_000, 100_000)
        ),
        Target(
            f"search p50 / floor p50 at {largest:,}",
            3,
            "×",
            True,
            lambda r: _size(r, largest, "search_over_floor"),
        ),
        Target(
            "paraphrased questions: recall@10 at the floor",
            0.95,
            "",
            False,
            lambda r: _path(r, "paraphrase_recall_at_floor"),
        ),
        Target(
            "unrelated questions answered with nothing",
            0.9,
            "",
            False,
            lambda r: _path(r, "unrelated_empty_rate"),
        ),
        Target(
            "extraction, 20-message conversations",
            20,
            "/s/core",
            False,
            lambda r: _path(r, "extraction", "conversations_per_s"),
        ),
        Target(
            "cold start to /healthz (empty store)",
            2000,
            "ms",
            True,
            lambda r: _path(r, "cold_start", "empty", "healthz_ms"),
        ),
        Target("install size", 300, "MiB", True, lambda r: _path(r, "install", "install_size_mb")),
    ]
    out = []
    for row in rows:
        value = row.value(report)
        met = None if value is None else (value <= row.bound if row.at_most else value >= row.bound)
        out.append(
            {
                "name": row.name,
                "value": value,
                "target": row.bound,
                "unit": row.unit,
                "at_most": row.at_most,
                "met": met,
            }
        )
    return out


def format_report(report: dict[str, Any]) -> str:
    """The targets table, the per-size table and the other measurements, as aligned text."""
    machine = report["machine"]
    lines = [
        f"memskill {report['version']} · embedder {report['embedder']} · {machine['cpus']} CPUs · "
        f"load average {machine['loadavg_start'][0]:.2f} at start, {machine['loadavg_end'][0]:.2f} at end",
        "",
        f"{'target (DESIGN §7)':<44}{'measured':>12}{'target':>14}   result",
    ]
    for row in report["targets"]:
        sign = "≤" if row["at_most"] else "≥"
        shown = f"{row['value']:.3f}" if not row["unit"] and row["value"] is not None else None
        value = "—" if row["value"] is None else shown or f"{row['value']:.1f} {row['unit']}"
        result = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        bound = f"{sign} {row['target']:g} {row['unit']}"
        lines.append(f"{row['name']:<44}{value:>12}{bound:>14}   {result}")
    lines += [
        "",
        "search/memory with skills, preferences and tool memories, in process (ms)",
        f"{'memories':>10}{'p50':>9}{'p99':>9}{'floor p50':>11}{'(embed':>8}{'scan':>7}{'FTS)':>7}"
        f"{'×floor':>8}{'BM25 p50':>10}{'after write p50':>17}",
    ]
    for row in report["sizes"].values():
        lines.append(
            f"{row['memories']:>10,}{row['search']['p50_ms']:>9.1f}{row['search']['p99_ms']:>9.1f}"
            f"{row['floor']['p50_ms']:>11.1f}{row['floor']['embed_p50_ms']:>8.1f}"
            f"{row['floor']['scan_p50_ms']:>7.1f}{row['floor']['fts_p50_ms']:>7.1f}"
            f"{row['search_over_floor']:>8.1f}{row['bm25']['p50_ms']:>10.2f}{row['after_write']['p50_ms']:>17.1f}"
        )
    if "postgres" in report:
        lines += [
            "",
            "the same searches on PostgreSQL + pgvector (ms)",
            f"{'memories':>10}{'p50':>9}{'p99':>9}{'BM25 p50':>10}{'after write p50':>17}{'SQLite p50':>12}",
        ]
        for size, row in report["postgres"]["sizes"].items():
            sqlite_p50 = report["sizes"][size]["search"]["p50_ms"]
            lines.append(
                f"{row['memories']:>10,}{row['search']['p50_ms']:>9.1f}{row['search']['p99_ms']:>9.1f}"
                f"{row['bm25']['p50_ms']:>10.2f}{row['after_write']['p50_ms']:>17.1f}{sqlite_p50:>12.1f}"
            )
    if any("peer" in row for row in report["sizes"].values()):
        lines += ["", peer_table(report)]
    if "peer_skipped" in report:
        lines += ["", f"peer not measured: {report['peer_skipped']}"]
    lines += ["", paraphrase_table(report)]
    lines.append("")
    for name, row in report["add"].items():
        lines.append(
            f"add/message {name.replace('_', ' ')}: p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"{row['requests_per_s']:.0f} requests/s"
            + (f" ({row['clients']} clients)" if "clients" in row else "")
        )
    if "search_http" in report:
        row = report["search_http"]
        lines.append(
            f"search/memory over HTTP at {row['memories']:,}: p50 {row['p50_ms']:.1f} ms, "
            f"p99 {row['p99_ms']:.1f} ms; server RSS {row.get('rss_mb', '?')} MiB "
            f"(peak {row.get('peak_rss_mb', '?')} MiB)"
        )
    for threads, row in report.get("query_embedding", {}).items():
        lines.append(
            f"one query's embedding, {threads.replace('_', ' ')}: p50 {row['p50_ms']:.1f} ms, "
            f"p90 {row['p90_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
        )
    extraction = report["extraction"]
    lines.append(
        f"extraction: {extraction['conversations_per_s']:.2f} conversations/s on one thread "
        f"({extraction['per_conversation']['p50_ms']:.0f} ms p50 each; embedding "
        f"{100 * extraction['embedding_share']:.0f}% of the time; "
        f"{extraction['conversations_per_s_without_embedding']:.2f}/s without it)"
    )
    for name, row in report.get("cold_start", {}).items():
        lines.append(
            f"cold start ({name.replace('_', ' ')}): /healthz after {row['healthz_ms']:.0f} ms, "
            f"first search answered after {row['first_search_ms']:.0f} ms"
        )
    install = report.get("install", {})
    if "install_size_mb" in install:
        lines.append(
            f"install: {install['install_size_mb']:.0f} MiB over an empty virtualenv ({install['how']})"
        )
    build = report["build"]
    lines.append(
        f"build: {build['skills']} skills from {build['pipeline_conversations']} conversations through the "
        f"pipeline in {build['pipeline_s']:.0f} s; {build['embedded_texts']:,} memories embedded in "
        f"{build['embedding_s']:.0f} s ({build['embedded_texts_per_s']:.0f}/s, one thread), inserted in "
        f"{build['inserting_s']:.0f} s; {build['messages']:,} messages stored in {build['messages_s']:.0f} s"
    )
    return "\n".join(lines)


def paraphrase_table(report: dict[str, Any]) -> str:
    """Recall@10 at the default floor and the unrelated empty rate, per store, size and split."""
    lines = [
        "paraphrase workload at each system's default floor (memskill: relativity 0.45; mem0: its "
        "threshold 0.1) — recall@10 of paraphrased questions / share of unrelated questions with no "
        "memory; test = topics not used to calibrate",
        f"{'store':>13}{'memories':>10}{'test recall':>13}{'test empty':>12}"
        f"{'tune recall':>13}{'tune empty':>12}",
    ]
    stores = [("SQLite", report["sizes"])]
    if "postgres" in report:
        stores.append(("PostgreSQL", report["postgres"]["sizes"]))
    for name, sizes in stores:
        for row in sizes.values():
            lines.append(_paraphrase_line(name, row["memories"], row["paraphrase"]))
    for row in report["sizes"].values():
        for store, measured in row.get("peer", {}).items():
            lines.append(
                _paraphrase_line(
                    f"mem0+{PEER_STORES.get(store, store)}", row["memories"], measured["paraphrase"]
                )
            )
    return "\n".join(lines)


def _paraphrase_line(name: str, memories: int, splits: dict[str, Any]) -> str:
    test, tune = splits["test"], splits["tune"]
    return (
        f"{name:>13}{memories:>10,}{test['recall_at_floor']:>13.3f}{test['unrelated_empty_rate']:>12.3f}"
        f"{tune['recall_at_floor']:>13.3f}{tune['unrelated_empty_rate']:>12.3f}"
    )


PEER_STORES = {"qdrant": "Qdrant", "faiss": "FAISS"}


def peer_table(report: dict[str, Any]) -> str:
    """memskill's search beside the peer's on each of its vector stores, with the ratio and the floor."""
    stores = list(next(row["peer"] for row in report["sizes"].values() if "peer" in row))
    header = f"{'memories':>10}{'memskill p50':>14}{'p99':>8}"
    for store in stores:
        name = f"mem0+{PEER_STORES.get(store, store)}"
        header += f"{name + ' p50':>19}{'p99':>9}{'×memskill':>11}"
    lines = [
        "side by side: the same memories, offline embedder and queries through mem0 OSS (infer=False, "
        "top_k=10, its default threshold); ms per search, query embedding included; memskill's search "
        "also returns skills, preferences and tool memories",
        header + f"{'floor p50':>11}",
    ]
    for row in report["sizes"].values():
        if "peer" not in row:
            continue
        ours = row["search"]
        line = f"{row['memories']:>10,}{ours['p50_ms']:>14.1f}{ours['p99_ms']:>8.1f}"
        for store in stores:
            theirs = row["peer"][store]["search"]
            ratio = theirs["p50_ms"] / max(ours["p50_ms"], 1e-9)
            line += f"{theirs['p50_ms']:>19.1f}{theirs['p99_ms']:>9.1f}{ratio:>11.2f}"
        floor = row.get("floor", {}).get("p50_ms")
        lines.append(line + (f"{floor:>11.1f}" if floor is not None else f"{'—':>11}"))
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
