"""Every code block of the README runs, in order, as a reader would paste it.

The blocks run in one temporary home (`HOME`, so `~/.memskill` and `~/.claude/skills` land there) and,
from the server block on, against a real `memskill serve` on that store. What a reader replaces is
replaced the same way: the port 8000 by a free one, `msk_…` by the server's key, `SKILL_ID` and `KEY_ID`
by an id the listing commands print. A block that needs what a test cannot have (a model, PostgreSQL,
the public data sets) is named in `NOT_RUN` with the reason; a new block fails this test until it is
given a way to run or a reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from paths import ROOT
from serve_helpers import Server, running_server

BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
KEY = "msk_readme-test-key"

NOT_RUN = {
    "pip install . && memskill demo": "the install and test commands: `.ci/run` runs exactly these",
    "pip install 'memskill[postgres]'": (
        "needs PostgreSQL; tests/stores/test_scale_out.py runs those processes"
    ),
    "export MEMSKILL_LLM_BASE_URL": (
        "needs a model; tests/engine/test_chat_adapter.py runs the demo on a fake one"
    ),
    "memskill bench fetch": (
        "downloads the public data sets (tests/bench/test_bench_fetch.py runs it against a "
        "local server); CI runs `memskill bench quality --quick`"
    ),
    "memskill train tagger": (
        "rewrites the shipped weights (a minute); tests/engine/test_tagger.py checks them"
    ),
    "claude mcp add": (
        "needs Claude Code; tests/server/test_mcp.py drives `memskill mcp` and `/mcp` with the MCP "
        "SDK's own client"
    ),
}
"""The opening of each block that is not run here → why."""
SERVE = "memskill serve --port 8000"
FIRST_ID = "python -c 'import json, sys; print(json.load(sys.stdin)[0][\"id\"])'"
SKILL_ID = f"$(memskill skills list --user alice --json | {FIRST_ID})"
KEY_ID = "$(memskill keys list | head -n 1 | cut -d ' ' -f 1)"


def blocks() -> list[tuple[str, str]]:
    """The README's bash and python blocks, in order: (language, code)."""
    return [
        (m.group(1), m.group(2)) for m in BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8"))
    ]


def reason_not_run(code: str) -> str | None:
    return next((why for opening, why in NOT_RUN.items() if code.lstrip().startswith(opening)), None)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "conversation.json").write_text(
        json.dumps(
            [
                {"role": "user", "content": "帮我规划成都5天的行程，我喜欢博物馆，不要购物中心"},
                {"role": "assistant", "content": "第一天：四川博物院、杜甫草堂；第二天：金沙遗址博物馆……"},
                {"role": "user", "content": "出发前先帮我查一下天气"},
                {"role": "assistant", "content": "成都这几天多云，15–22℃，带件外套。"},
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    yield tmp_path


def test_every_block_runs_or_says_why_not(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMSKILL_", "MEMOS_"))}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    found = blocks()
    assert len(found) >= 8, "the README's code blocks were not found"
    ran: list[str] = []
    with ExitStack() as stack:
        server: Server | None = None
        for language, code in found:
            if reason_not_run(code) is not None:
                continue
            if code.lstrip().startswith(SERVE):
                server_env = {**env, "MEMSKILL_API_KEY": KEY}
                server = stack.enter_context(running_server(home / ".memskill", server_env))
                ran.append(SERVE)
                continue
            if server is not None:
                code = code.replace("127.0.0.1:8000", server.root.removeprefix("http://"))
            code = code.replace("msk_…", KEY).replace("SKILL_ID", SKILL_ID).replace("KEY_ID", KEY_ID)
            command = (
                [sys.executable, "-c", code]
                if language == "python"
                else ["bash", "-euo", "pipefail", "-c", code]
            )
            result = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, (
                f"README block failed:\n{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
            assert "Traceback" not in result.stderr, result.stderr
            if "curl" in code:
                assert json.loads(result.stdout)["code"] == 0, result.stdout
            ran.append(code.splitlines()[0])
    assert len(ran) + sum(reason_not_run(code) is not None for _, code in found) == len(found)
    assert SERVE in ran and any("Client(" in first or "from memskill import Client" in first for first in ran)
