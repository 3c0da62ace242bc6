"""`memskill bench quality`: every algorithmic stage on its public sets, beside baselines and anchors."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from memskill.bench.report import Progress, Result, table
from memskill.errors import InvalidRequest
from memskill.version import __version__

Stage = Callable[[Path, bool, Progress], list[Result]]


def stages() -> dict[str, Stage]:
    from memskill.bench import clustering, preferences, retrieval, segmentation, skills, turns, unseen

    return {
        "turns": turns.run,
        "segmentation": segmentation.run,
        "clustering": clustering.run,
        "retrieval": retrieval.run,
        "preferences": preferences.run,
        "skills": skills.run,
        "unseen": unseen.run,
    }


def run_quality(
    data: Path,
    quick: bool,
    progress: Progress,
    only: Sequence[str] = (),
    log: TextIO | None = None,
) -> dict[str, Any]:
    """Run the stages (all, or `only`) and return the JSON report: results, timings, machine."""
    if not data.is_dir():
        raise InvalidRequest(
            f"no data sets at {data}: run `memskill bench fetch` to download them, "
            "or pass --data pointing at the folder with tiage/, dialseg711/, …"
        )
    results: list[Result] = []
    seconds: dict[str, float] = {}
    for name, stage in stages().items():
        if only and name not in only:
            continue
        if log is not None:
            log.write(f"[{name}] running{' (quick)' if quick else ''}…\n")
            log.flush()
        started = time.monotonic()
        results += stage(data, quick, progress)
        seconds[name] = round(time.monotonic() - started, 1)
        if log is not None:
            log.write(f"[{name}] done in {seconds[name]} s\n")
    return {
        "version": __version__,
        "quick": quick,
        "data": str(data),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "seconds": seconds,
        "results": [r.as_dict() for r in results],
        "table": table(results),
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
