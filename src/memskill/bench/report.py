"""What a benchmark stage returns, and the table the command prints.

A stage module exposes `run(data: Path, quick: bool, progress: Progress) -> list[Result]`: one result per
(data set, method), where the methods are memskill itself, trivial baselines computed in the same run,
and published anchors copied from the data sets' README (marked `anchor`, never computed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["ours", "baseline", "anchor", "target"]
Progress = Callable[[str, int, int], None]
"""progress(label, done, total): reports long work."""


@dataclass(frozen=True)
class Result:
    stage: str
    """segmentation, clustering, retrieval or preferences."""
    dataset: str
    method: str
    kind: Kind
    metrics: dict[str, float]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """Raw details kept in the JSON (per-category numbers, chosen k, counts)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def no_progress(label: str, done: int, total: int) -> None:
    """A `Progress` that reports nothing."""


def table(results: Sequence[Result]) -> str:
    """Results as aligned text tables, one per (stage, data set), ours first, then baselines, anchors."""
    order = {"ours": 0, "baseline": 1, "target": 2, "anchor": 3}
    groups: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        groups.setdefault((result.stage, result.dataset), []).append(result)
    blocks = []
    for (stage, dataset), rows in groups.items():
        rows = sorted(rows, key=lambda r: order[r.kind])
        names: list[str] = []
        for row in rows:
            names += [name for name in row.metrics if name not in names]
        width = max(len(r.method) + len(r.kind) + 3 for r in rows)
        header = f"{'method':<{width}}" + "".join(f"{name:>10}" for name in names)
        lines = [f"{stage} — {dataset}", header, "-" * len(header)]
        for row in rows:
            label = f"{row.method} ({row.kind})" if row.kind != "ours" else row.method
            cells = "".join(
                f"{row.metrics[name]:>10.3f}" if name in row.metrics else f"{'':>10}" for name in names
            )
            lines.append(f"{label:<{width}}{cells}" + (f"   {row.note}" if row.note else ""))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
