"""The `skills` stage of `memskill bench quality`: gold skills for the dev set and their scorer."""

from __future__ import annotations

from pathlib import Path

import pytest

from memskill.bench import skills
from memskill.bench.report import no_progress


def test_every_expected_skill_of_the_dev_set_has_gold_with_matching_keys() -> None:
    users = skills.load("devset.json")["users"] + skills.load("devset_extra.json")["users"]
    gold = skills.load("devset_skills.json")["skills"]
    expected = {(u["user_id"], e["task"]) for u in users for e in u["expected_skills"]}
    assert {(g["user_id"], g["task"]) for g in gold} == expected
    assert {g["split"] for g in gold} == set(skills.SPLITS)
    for entry in gold:
        for key in skills.SECTIONS:
            for item in entry[key]:
                # Each gold item is recognised by its own keys (a scorer that cannot match is no scorer).
                assert skills.matches(item["text"], item, 0.0), (entry["task"], item)


def test_matching_and_copying_are_what_the_documentation_says() -> None:
    item = {"text": "不走回头路", "keys": [["回头路"], ["折返", "路线"]]}
    assert skills.matches("每天按一个方向推进，不走回头路", item, 0.0)
    assert skills.matches("路线不要折返", item, 0.0)
    assert not skills.matches("路线要紧凑", item, 0.0)
    assert skills.matches("anything", item, skills.MATCH_COSINE)
    said = ["下周去成都玩5天。帮我规划一下行程吧！"]
    assert skills.copied("帮我规划一下行程吧", said)
    assert not skills.copied("规划行程", said), "a few words of a sentence are not a copy of it"


def test_an_item_is_traced_to_the_task_whose_messages_say_it() -> None:
    said = [
        ("trip", "user", "老寨山要爬挺久的吧？我不想爬山，太累了，换个轻松点的。"),
        ("email", "user", "别用这么正式的语气，轻松一点，像平时聊天那样。"),
        ("email", "assistant", "小刘，下周一的需求评审我请假去不了啦。"),
    ]
    words = skills.task_words(said)
    # Said about the trip: not the e-mails' even though it shares their key word 轻松.
    assert skills.traced("换个轻松点的", words, "trip") > skills.traced("换个轻松点的", words, "email")
    assert skills.traced("语气像平时聊天", words, "email") > skills.traced("语气像平时聊天", words, "trip")
    assert skills.traced("", words, "trip") == 0.0


@pytest.mark.slow
def test_the_stage_reports_each_split(tmp_path: Path) -> None:
    results = skills.run(tmp_path, True, no_progress)
    assert [r.dataset for r in results] == [f"dev set gold skills ({split})" for split in skills.SPLITS]
    for result in results:
        assert result.metrics["missing"] == 0
        assert result.metrics["examples"] == 1.0, "every example is structured"
        assert result.metrics["copied"] <= 1 / 3
        rows = result.extra["rows"]
        assert rows and all(0.0 <= row["precision"] <= 1.0 for row in rows)
