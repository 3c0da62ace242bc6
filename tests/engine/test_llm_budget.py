"""The job's model-time budget keeps its last part for the skill update."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from memskill.llm import SKILL_RESERVE_S, Ledger, run_stage
from memskill.models import Usage


def test_late_in_the_budget_only_the_skill_update_still_asks_the_model() -> None:
    ledger = Ledger(budget_s=SKILL_RESERVE_S + 10.0)
    ledger.started = time.monotonic() - 11.0  # 11 s of model time spent: inside the reserve
    model: Any = SimpleNamespace(id="fake")

    def ask(_: Any) -> tuple[str, Usage]:
        return "model", Usage()

    assert run_stage(ledger, "facts", model, ask, lambda: "algorithm") == "algorithm"
    assert run_stage(ledger, "skill_update", model, ask, lambda: "algorithm") == "model"
    assert [(run.stage, run.mode) for run in ledger.runs] == [("facts", "fallback"), ("skill_update", "llm")]
    ledger.started = time.monotonic() - SKILL_RESERVE_S - 11.0  # the whole budget is spent
    assert run_stage(ledger, "skill_update", model, ask, lambda: "algorithm") == "algorithm"
