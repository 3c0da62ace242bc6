"""The command line: each documented command runs, and segment/cluster keep their line formats."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from memskill.cli import COMMANDS, build_parser, main


def run(
    argv: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert re.search(rf"memskill {command}\b", readme), f"`memskill {command}` is not in README.md"


def test_segment_writes_one_covering_list_per_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conversations = [
        [
            {"role": "user", "content": "帮我规划一下成都三天的行程"},
            {"role": "assistant", "content": "第一天去武侯祠和锦里，第二天……"},
            {"role": "user", "content": "好的，谢谢"},
            {"role": "assistant", "content": "不客气"},
            {"role": "user", "content": "另外，帮我写一封请假邮件给经理"},
            {"role": "assistant", "content": "经理您好：……"},
        ],
        [{"role": "user", "content": "hello"}],
    ]
    stdin = "\n".join(json.dumps(c, ensure_ascii=False) for c in conversations) + "\n"
    code, out, _ = run(["segment", "--jsonl", "--data-dir", str(tmp_path)], stdin, monkeypatch)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    for line, conversation in zip(lines, conversations):
        segments = json.loads(line)
        assert segments[0]["start"] == 0 and segments[-1]["end"] == len(conversation) - 1
        for before, after in zip(segments, segments[1:]):
            assert after["start"] == before["end"] + 1
        assert all(isinstance(s["title"], str) and s["title"] for s in segments)
    assert len(json.loads(lines[0])) == 2  # the email request is a new task


def test_cluster_writes_one_label_per_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    texts = [
        "帮我规划成都5天的旅行行程",
        "清明节去云南玩7天，帮我排一下行程",
        "帮我写一封请假邮件",
        "给老板写封邮件说明项目延期",
    ]
    stdin = json.dumps(texts, ensure_ascii=False) + "\n" + json.dumps(texts, ensure_ascii=False) + "\n"
    code, out, _ = run(["cluster", "--jsonl", "--data-dir", str(tmp_path)], stdin, monkeypatch)
    assert code == 0
    labels = json.loads(out.splitlines()[0])
    assert len(labels) == 4 and all(isinstance(label, int) for label in labels)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    code, out, _ = run(
        ["cluster", "--jsonl", "--k", "1", "--data-dir", str(tmp_path)],
        json.dumps(texts, ensure_ascii=False),
        monkeypatch,
    )
    assert json.loads(out) == [0, 0, 0, 0]


def test_bad_jsonl_input_says_which_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, _, err = run(["cluster", "--jsonl", "--data-dir", str(tmp_path)], '["a"]\nnot json\n', monkeypatch)
    assert code == 2 and err.startswith("error: line 2")
    code, _, err = run(
        ["segment", "--jsonl", "--data-dir", str(tmp_path)],
        '[{"role": "robot", "content": "x"}]\n',
        monkeypatch,
    )
    assert code == 2 and err.startswith("error: line 1")


ADD = ["add", "--user", "u", "--conversation", "c"]
MISTAKES = {
    "a file that is not there": (
        [*ADD, "{tmp}/nope.json"],
        "",
        "no such file: ",
    ),
    "a folder for a file": ([*ADD, "{tmp}"], "", "is a folder"),
    "a file that is not JSON": (
        [*ADD, "{tmp}/notes.txt"],
        "",
        "not JSON",
    ),
    "a file that is not UTF-8": (
        [*ADD, "{tmp}/latin1.json"],
        "",
        "not UTF-8",
    ),
    "standard input that is not JSON": (
        [*ADD, "-"],
        "hello",
        "not JSON",
    ),
    "a JSON object without messages": (
        [*ADD, "-"],
        '{"role": "user"}',
        "error: ",
    ),
    "segment without --jsonl": (["segment"], "", "--jsonl"),
    "cluster with too large a k": (["cluster", "--jsonl", "--k", "5"], '["a", "b"]\n', "more than its 2"),
    "skills show without an id": (["skills", "show"], "", "needs a SKILL_ID"),
    "skills export without --to": (["skills", "export", "--user", "u"], "", "needs --to"),
    "a job id that does not exist": (["status", "nope"], "", "error: "),
    "revoking a key that does not exist": (["keys", "revoke", "nope"], "", "no active key"),
}
"""The usual mistakes with each command that reads input: (arguments, standard input, what the error says)."""


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_every_usual_mistake_is_one_line_and_exit_code_2(
    mistake: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not json at all", encoding="utf-8")
    (tmp_path / "latin1.json").write_bytes('[{"role": "user", "content": "café"}]'.encode("latin-1"))
    argv, stdin, says = MISTAKES[mistake]
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv] + ["--data-dir", str(tmp_path / "data")]
    code, out, err = run(argv, stdin, monkeypatch)
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert says in err, err


def test_add_search_skills_and_export(tmp_path: Path) -> None:
    conversation = tmp_path / "conversation.json"
    conversation.write_text(
        json.dumps(
            [
                {"role": "user", "content": "帮我规划杭州3天的行程，我喜欢博物馆，不要购物中心"},
                {"role": "assistant", "content": "第一天浙江省博物馆……"},
                {"role": "user", "content": "出发前先帮我查一下天气"},
                {"role": "assistant", "content": "杭州这三天多云，18–25℃"},
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    data = ["--data-dir", str(tmp_path / "data")]
    code, out, _ = run(["add", str(conversation), "--user", "u1", "--conversation", "c1", *data])
    assert code == 0 and json.loads(out)["status"] == "completed"
    code, out, _ = run(["search", "帮我规划苏州的行程", "--user", "u1", "--skills", *data])
    assert code == 0 and "travel-itinerary-planning" in out and "博物馆" in out
    assert "Tool memories" not in out  # printed only when asked for (--tools)
    code, out, _ = run(["search", "帮我规划苏州的行程", "--user", "u1", "--tools", *data])
    assert code == 0 and "Tool memories (0):" in out and "Skills" not in out
    code, out, _ = run(["skills", "list", "--user", "u1", *data])
    skill_id = out.split()[0]
    code, out, _ = run(["skills", "show", skill_id, *data])
    assert out.startswith("---\nname: travel-itinerary-planning")
    code, out, _ = run(["skills", "export", "--user", "u1", "--to", str(tmp_path / "skills"), *data])
    assert (tmp_path / "skills" / "travel-itinerary-planning" / "SKILL.md").exists()
    assert code == 0 and out.startswith("written ") and "travel-itinerary-planning" in out
    code, out, _ = run(["skills", "sync", "--user", "u1", "--to", str(tmp_path / "skills"), *data])
    assert code == 0 and out.startswith("unchanged ")
    code, out, err = run(["skills", "export", "--user", "nobody", "--to", str(tmp_path / "skills"), *data])
    assert code == 1 and out == "" and "has no skills" in err


def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    code, _, err = run(["status", "task_missing", "--data-dir", str(tmp_path)])
    assert code == 2 and "no task" in err


def test_parser_has_data_dir_everywhere() -> None:
    parser = build_parser()
    for command in COMMANDS:
        extra = {
            "search": ["q", "--user", "u"],
            "skills": ["list"],
            "status": ["t"],
            "add": ["--user", "u", "--conversation", "c"],
            "keys": ["list"],
            "bench": ["quality"],
            "train": ["tagger"],
        }.get(command, [])
        args = parser.parse_args([command, *extra, "--data-dir", "/tmp/x"])
        assert args.data_dir == "/tmp/x"


def test_demo_prints_both_users_skills(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "memskill.cli", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = result.stdout
    assert out.count("name: travel-itinerary-planning") >= 2
    first, second = out.split("User demo-traveller-slow", 1)[0], out.split("User demo-traveller-slow", 1)[1]
    for wish in ("回头路", "文化", "天气"):
        assert wish in first
    assert "起得晚" in second.split("search_memory(")[0]
    assert "search_memory(user_id='demo-traveller-fast'" in out


def test_a_long_add_says_what_it_is_doing(tmp_path: Path) -> None:
    """A conversation of many tasks shows each stage's progress on stderr (17 s of silence before)."""
    turn = [
        {"role": "user", "content": "帮我规划成都5天的行程，我喜欢博物馆"},
        {"role": "assistant", "content": "第一天：四川博物院、杜甫草堂……"},
        {"role": "user", "content": "另外，帮我写一封请假邮件给经理，下周一请一天假"},
        {"role": "assistant", "content": "经理您好：我下周一需要请假一天……"},
        {"role": "user", "content": "换个话题，推荐一个适合新手的跑步计划"},
        {"role": "assistant", "content": "第一周：每次慢跑1分钟、走2分钟，重复8次……"},
    ]
    conversation = tmp_path / "long.json"
    conversation.write_text(json.dumps(turn * 4, ensure_ascii=False), encoding="utf-8")
    code, out, err = run([*ADD, str(conversation), "--data-dir", str(tmp_path)])
    assert code == 0 and json.loads(out)["status"] == "completed"
    assert "adding 24 messages" in err
    assert re.search(r"extracting tasks (\d+)/\1\n", err) and "storing memories and skills" in err, err
