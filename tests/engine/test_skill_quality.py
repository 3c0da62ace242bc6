"""End-to-end properties of the skills memskill writes, in both languages, as an agent would read them.

The Chinese conversation is the product brief's (its three user turns as given, the assistant's replies
written out); the English one is a code review written for these tests. Each runs through a real
`Memory` (SQLite, offline embedder) turn by turn, as an agent sends it, and the SKILL.md is parsed back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from paths import DATA

from memskill.config import Settings
from memskill.demo import send
from memskill.engine import Memory
from memskill.extract.answers import (
    accepted_answer,
    clarifying_questions,
    example_text,
)
from memskill.extract.instructions import answers_question
from memskill.extract.scope_words import ONE_DAY
from memskill.extract.shape import named_parts, structure
from memskill.extract.turns import read_turns
from memskill.generalise import mask_personal, names_a_date
from memskill.ingest import normalise_messages
from memskill.providers.embedders import OfflineEmbedder
from memskill.skillfile import SkillDocument, parse
from memskill.tagger import default_tagger
from memskill.text import content_tokens

COUNTS: dict[str, int] = {}
"""How many skills each conversation gave."""


def skill_of(tmp_path: Path, embedder: OfflineEmbedder, name: str) -> tuple[SkillDocument, list[str]]:
    """The skill a conversation gives (the one built from most tasks), and the user's sentences."""
    conversation: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    memory = Memory(tmp_path, settings=Settings(workers=0), embedder=embedder)
    try:
        ids = (conversation["user_id"], conversation["conversation_id"])
        for reply in send(memory, *ids, conversation["messages"]):
            assert reply["status"] == "completed"
        skills = memory.store.list_skills(memory._scope(conversation["user_id"]))
        assert skills
        counts = {s.id: len(memory.store.task_records(s.cluster_id)) for s in skills}
        best = max(skills, key=lambda s: counts[s.id])
        document = parse(best.current.markdown)
        COUNTS[name] = len(skills)
    finally:
        memory.close()
    said = [m["content"] for m in conversation["messages"] if m["role"] == "user"]
    return document, said


def sentences(texts: list[str]) -> set[str]:
    return {
        re.sub(r"\W+", "", s.lower())
        for text in texts
        for s in re.split(r"[。！？!?\n]|(?<=[a-z])\.\s", text)
        if s.strip()
    }


@pytest.fixture(scope="module")
def brief(
    tmp_path_factory: pytest.TempPathFactory, offline_embedder: OfflineEmbedder
) -> tuple[SkillDocument, list[str]]:
    return skill_of(tmp_path_factory.mktemp("brief"), offline_embedder, "brief_conversation.json")


@pytest.fixture(scope="module")
def review(
    tmp_path_factory: pytest.TempPathFactory, offline_embedder: OfflineEmbedder
) -> tuple[SkillDocument, list[str]]:
    return skill_of(tmp_path_factory.mktemp("review"), offline_embedder, "review_conversation.json")


@pytest.mark.slow
def test_the_brief_gives_a_followable_travel_skill(brief: tuple[SkillDocument, list[str]]) -> None:
    document, said = brief
    assert COUNTS["brief_conversation.json"] == 1, "one task, one skill"
    assert document.name == "travel-itinerary-planning"
    procedure = document.procedure
    assert len(procedure) >= 4, procedure
    assert any("天气" in step and "温度" in step for step in procedure), procedure
    assert any("get_weather" in step for step in procedure), procedure
    assert any("回头路" in step for step in procedure), procedure
    assert any("美食" in step for step in procedure), procedure
    preferences = "\n".join(document.preferences)
    for wish in ("回头路", "文化景点", "商场", "天气"):
        assert wish in preferences, (wish, document.preferences)
    assert not any(p.startswith("优先") and "商场" in p for p in document.preferences), "商场 is avoided"
    # No step repeats a sentence the user said, and none is an acknowledgement.
    assert not {re.sub(r"\W+", "", step.lower()) for step in procedure} & sentences(said)
    # The example is the day-by-day plan, structured, cut at whole lines.
    [example, *_] = document.examples
    lines = [line for line in example.split("\n") if line.strip()]
    assert len(lines) >= 5 and sum(bool(re.search(r"D\d|Day \d", line)) for line in lines) >= 2, example
    assert any("天气适配" in e for e in document.examples), "the last plan, with the weather, is an example"


@pytest.mark.slow
def test_an_english_review_skill_distils_steps_lessons_and_a_masked_example(
    review: tuple[SkillDocument, list[str]],
) -> None:
    document, said = review
    assert document.name == "code-review"
    assert "pull request" in document.description.lower()
    procedure = document.procedure
    assert 3 <= len(procedure) <= 9, procedure
    assert any("severity" in step.lower() for step in procedure), procedure
    assert any("test suite" in step.lower() for step in procedure), procedure
    assert any("run_tests" in step and "path" in step for step in procedure), "the tool, with what to pass"
    assert not any(step.lower().startswith(("can you", "could you", "please")) for step in procedure)
    assert not {re.sub(r"\W+", "", step.lower()) for step in procedure} & sentences(said)
    # The fixed tool failure is a rule with both values; no success-only line.
    assert any("tests/billing" in lesson and "test/billing" in lesson for lesson in document.experience)
    assert not any("succeeded" in lesson for lesson in document.experience)
    assert any("praise" in p.lower() for p in document.preferences), document.preferences
    # The accepted answer (after the correction), not the one the user sent back; its e-mail masked.
    [example] = document.examples
    assert "Missing tests" in example and "nice work" not in example
    assert "@example.com" not in example and "[email]" in example


def test_directives_keep_the_polarity_of_a_wish() -> None:
    tagger = default_tagger()
    rewrite = tagger.directives.rewrite
    negative = re.compile(r"^(?:避免|不)|\b(?:avoid|don't|not|no)\b", re.I)
    for text in (
        "I really don't like spicy food.",
        "We both hate long drives.",
        "I'm trying to cut down on cheese.",
    ):
        directive = rewrite(text, "dislike")
        assert not directive.startswith("Prefer"), directive
        assert negative.search(directive) or "cut down" in directive, directive
    assert not rewrite("网红打卡点就算了", "dislike").startswith("优先")
    assert not rewrite("排队拍照那种我真的没兴趣", "like").startswith("优先")
    assert not rewrite("千万别走回头路", "constraint").startswith("不别")
    # A span that leaves out the "never" / "别" before it keeps it: the rule must not become its opposite.
    never = "Never write 'we apologize', it's canned"
    assert rewrite(never, "step", "write 'we apologize', it's canned").startswith("Never")
    assert rewrite("千万别用这种网络词", "constraint", "这种网络词").startswith("千万别用")
    # A Chinese dislike said topic first, its span unsure: the topic is what to avoid.
    assert rewrite("商场什么的不太感兴趣。", "dislike", "感兴趣") == "避免商场"
    assert rewrite("我个人不太喜欢送烟酒", "dislike", "个人") != "避免个人"
    for tag in tagger.tag("我比较喜欢逛文化景点，商场什么的不太感兴趣。"):
        assert not tag.directive.startswith(("我", "用户")), tag


def test_the_accepted_answer_is_the_one_the_user_did_not_send_back() -> None:
    conversation = json.loads((DATA / "review_conversation.json").read_text(encoding="utf-8"))
    messages = normalise_messages(conversation["messages"], "c", "u", Settings().limits)
    answer = accepted_answer(messages, read_turns(messages))
    assert "Missing tests" in answer and "nice work" not in answer


def test_the_accepted_answer_is_the_revision_the_user_asked_for() -> None:
    """A revision as whole as the first answer is what the user got, even one line shorter (the line
    they asked to drop); a revision that repeats one changed part is not (the whole plan is kept)."""
    first = "\n".join(
        [
            "上个月各门店退货率：",
            "| 门店 | 退货率 |",
            "|---|---|",
            "| S12 | 8.3% |",
            "| S03 | 6.1% |",
            "S12 偏高，建议看一下。",
        ]
    )
    revised = "\n".join(
        [
            "上个月各门店退货率：",
            "| 门店 | 名称 | 退货率 |",
            "|---|---|---|",
            "| S12 | 万达店 | 8.3% |",
            "| S03 | 西湖店 | 6.1% |",
        ]
    )
    plan = "三天行程：\nD1 武侯祠 → 锦里\nD2 金沙遗址 → 杜甫草堂\nD3 文殊院 → 人民公园\n注意：带伞"
    one_day = "熊猫基地要提前预约。\n青城山顺路，调整为：\nD2 金沙遗址 → 青城山\n当晚住都江堰。"
    for answer, revision, kept in ((first, revised, revised), (plan, one_day, plan)):
        raw = [
            {"role": "user", "content": "帮我查一下上个月各门店的退货率，按退货率从高到低排。"},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "门店编号后面把门店名称也带上。另外不用给建议，只要数据。"},
            {"role": "assistant", "content": revision},
            {"role": "user", "content": "好的，就这样。"},
        ]
        messages = normalise_messages(raw, "c", "u", Settings().limits)
        assert accepted_answer(messages, read_turns(messages)) == kept
    # The longest reply in prose, a shorter one with more parts: the longest is the whole answer.
    prose = "\n".join(f"第{n}段说明，讲清楚这一部分的安排和原因。" for n in range(1, 8))
    points = "1. 武侯祠\n2. 锦里\n3. 宽窄巷子"
    raw = [
        {"role": "user", "content": "帮我介绍一下成都的玩法。"},
        {"role": "assistant", "content": prose},
        {"role": "user", "content": "列几个地方就行。"},
        {"role": "assistant", "content": points},
    ]
    messages = normalise_messages(raw, "c", "u", Settings().limits)
    assert accepted_answer(messages, read_turns(messages)) in (prose, points)  # one of them, no error


def test_structure_names_the_parts_of_an_answer() -> None:
    plan = "天气：多云\nD1 武侯祠 → 锦里\nD2 金沙遗址 → 杜甫草堂\nD3 文殊院"
    assert structure(plan) == ["包含：天气", "按天分段（D1、D2…）", "每段的地点按先后用「→」连起来"]
    review = "- **Bug**: a\n- **Style**: b\n```python\nx = 1\n```"
    assert structure(review) == ["sections: Bug, Style", "bulleted points", "code in a code block"]
    # what code says heads no part of the answer
    code = "# app/routes.py\ndef post(\n    body: RefundIn,\n):\n    try:\n        pass"
    patched = review.replace("x = 1", code)
    assert structure(patched) == ["sections: Bug, Style", "bulleted points", "code in a code block"]
    assert structure("Sure, here you go.") == []
    weeks = "8周跑步计划：\n第1–2周：快走热身 + 慢跑\n第3–4周：慢跑3分钟\n注意：膝盖疼就停"
    assert structure(weeks) == ["先用一行总述", "包含：注意", "按周分阶段（第1周、第2周…）"]
    dinners = "Monday pasta\nTuesday curry\nWednesday soup"
    assert structure(dinners) == ["one part per weekday (Monday, Tuesday…)"]
    # Section titles are named in order, asides in brackets left out; a flat list's points are items.
    report = "一、本月进展\n- 完成接口迁移\n二、风险（附影响范围）\n- 延期一周\n三、下月计划\n- 压测"
    assert structure(report) == ["包含：本月进展、风险、下月计划", "分节（一、二、…）"]
    party = "1. Theme: pirates\n2. Games:\n- treasure hunt\n- tug of war\n3. Food: sandwiches"
    assert structure(party) == ["sections: Theme, Games, Food", "numbered points"]
    options = "1. 清蒸鲈鱼（25分钟）：刺少\n2. 番茄龙利鱼（20分钟）：无刺\n3. 鳕鱼豆腐羹：软嫩"
    assert structure(options) == ["编号列出要点"]
    assert "包含：力量、注意" in structure(weeks.replace("注意", "力量（每周2次）：静蹲\n注意"))
    # A first line that only hands the answer over is no summary of it.
    assert structure("改好了：\n" + report) == ["包含：本月进展、风险、下月计划", "分节（一、二、…）"]
    assert structure("Here you go:\n" + party)[0] == "sections: Theme, Games, Food"
    # A few words on a line of their own over a list head a part; a sentence over a list does not.
    plain = "Dinosaur Party (12 kids)\n\nSchedule\n- 2:00 Arrival\n- 2:30 Fossil dig\nBudget\n- Food, cake"
    assert structure(plain) == ["sections: Schedule, Budget", "bulleted points"]
    assert structure("Here is what I would do.\n- walk\n- swim") == ["bulleted points"]
    # An e-mail's subject line and a bold summary it leads with; a table's columns.
    email = "Subject: Q3 report: revenue +12%\n**Revenue grew 12% in Q3.**\nDear all,\n- EMEA up\n- APAC down"
    assert structure(email) == [
        "a subject line first",
        "a bold one-line summary at the top",
        "bulleted points",
    ]
    table = "| 类别 | 项目 | 金额 |\n|---|---|---|\n| 固定 | 房贷 | 6500 |\n| 日常 | 交通 | 800 |"
    assert structure(table) == ["用表格（列：类别、项目、金额）"]
    # Chinese layouts: parts headed 【…】, points marked "·" with or without a space; "-5℃" is no point.
    event = "【时间】周五下午\n13:30 集合\n【场地】\n茶园营地\n【费用】\n·套餐：98元\n· 大巴：50元"
    assert structure(event) == ["包含：时间、场地、费用", "分点列出"]
    assert structure("早晚温差大\n-5℃到3℃\n-2℃到6℃") == []
    # An e-mail's header lines, its subject and its greeting are no parts of its body.
    mail = "收件人：刘总\n抄送：小林\n主题：【需审批】调研预算\n刘总：\n方案A：买平台\n方案B：外包"
    assert structure(mail) == ["先写主题行", "包含：方案A、方案B"]


def test_an_answer_that_ends_in_a_sentence_after_its_parts_ends_with_a_takeaway() -> None:
    table = "| month | churn |\n|---|---|\n| 2025-01 | 4.1% |\n| 2025-02 | 3.9% |\n"
    said = table + "February is lower; the new onboarding started that month."
    assert structure(said)[-1] == "a one-sentence takeaway at the end"
    assert "a one-sentence takeaway at the end" not in structure(table)  # the table alone
    recipe = "番茄炖鱼：\n1. 鱼切块腌10分钟\n2. 番茄炒出汁\n3. 放鱼煮3分钟\n全程不放辣，孩子吃可以少放盐。"
    assert structure(recipe)[-1] == "最后用一句话点出要点或提醒"
    # A sign-off, a label or a line of the plan is no takeaway.
    assert "最后用一句话点出要点或提醒" not in structure(
        recipe.replace("全程不放辣，孩子吃可以少放盐。", "注意：少放盐。")
    )
    letter = "Dear team,\n- one\n- two\n- three\nBest regards,\nMaya"
    assert "a one-sentence takeaway at the end" not in structure(letter)


def test_what_each_day_or_week_of_a_plan_is_made_of() -> None:
    session = "周二/周四：快走3分钟热身 + 慢跑3分钟/快走2分钟 × 5组 + 拉伸，约35分钟\n周六：慢跑4分钟 × 6组"
    assert structure(session)[-1] == "每段由几部分组成，如：快走热身 + 慢跑/快走 + 拉伸"
    weeks = (
        "Week 1: 10 min walk + 3x1 min jog + stretch\nWeek 2: 5 min walk + 4x2 min jog\nWeek 3: 20 min jog"
    )
    assert structure(weeks)[-1] == "each part combines, e.g. walk + jog + stretch"
    # One "+" in one day only is no pattern of the plan.
    assert len(structure("Monday pasta + salad\nTuesday curry\nWednesday soup")) == 1


def test_a_letter_is_a_greeting_its_paragraphs_and_a_sign_off() -> None:
    body = "I built the churn dashboard leadership opens every week, and it changed how we plan."
    letter = f"Dear Hiring Manager,\n\n{body}\n\n{body}\n\n{body}\n\nBest regards,\nMaya"
    assert structure(letter) == ["a greeting line", "3 paragraphs", "a sign-off"]
    zh = (
        "王总：\n\n"
        + "本周完成了登录模块重构并已提测，修复了三个线上问题，下周开始会员需求设计。\n\n" * 2
        + "此致\n小林"
    )
    assert structure(zh) == ["开头称呼", "正文2段", "结尾落款"]
    # One block of prose is no layout; an answer with a table or code is laid out otherwise.
    assert structure(body) == []
    assert "2 paragraphs" not in structure(f"{body}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n{body}")


def test_the_named_parts_of_an_answer_keep_what_they_held() -> None:
    weeks = (
        "8周跑步计划：\n第1–2周：快走热身 + 慢跑\n第3–4周：慢跑3分钟\n"
        "力量（每周2次）：靠墙静蹲、臀桥\n注意：膝盖疼就停，选缓震跑鞋"
    )
    assert named_parts(weeks) == [("力量", "靠墙静蹲、臀桥"), ("注意", "膝盖疼就停，选缓震跑鞋")]
    review = "## Risks\nThe migration locks the orders table for minutes.\n## Tests\n- add a retry test"
    assert named_parts(review) == [
        ("Risks", "The migration locks the orders table for minutes."),
        ("Tests", "add a retry test"),
    ]
    # Many parallel parts sort the content (the shape lists them); a title over the days names the plan;
    # a subject line is the shape's; personal data is masked.
    shopping = "蔬果区：番茄、土豆\n肉禽区：鸡翅\n水产区：虾仁\n干货：紫菜\n蛋奶：鸡蛋"
    assert named_parts(shopping) == []
    assert named_parts("路线：\nD1 栈桥 → 信号山\nD2 崂山") == []
    assert named_parts("Subject: offer\nHi,\nNote: call me at 13912345678 before Friday") == [
        ("Note", mask_personal("call me at 13912345678 before Friday"))
    ]


def test_an_example_is_cut_at_whole_lines_and_masks_personal_data() -> None:
    long = "\n".join(f"D{i} 第{i}站 → 下一站，联系 13912345678" for i in range(1, 30))
    text = example_text(long)
    lines = text.split("\n")
    assert lines[-1] == "…" and all(line.startswith("D") for line in lines[:-1])
    assert "13912345678" not in text
    assert mask_personal("王经理：\n月薪8000元。") == "某经理：\n月薪[金额]。"
    assert mask_personal("3号有小雨") == "3号有小雨"
    assert mask_personal("Dear Mr. Smith, $85,000") == "Dear [name], [amount]"


def test_an_example_cut_inside_code_closes_the_block() -> None:
    answer = "Here:\n```sql\n" + "\n".join(f"SELECT {i}" for i in range(30)) + "\n```"
    lines = example_text(answer).split("\n")
    assert lines[-2:] == ["```", "…"]
    assert sum(line.startswith("```") for line in lines) == 2


def test_a_follow_up_is_named_by_the_clause_that_asks_not_by_its_acknowledgement() -> None:
    from memskill.extract import extract
    from memskill.models import TaskChunk

    raw = [
        {"role": "user", "content": "行。还有我是真的起不来，从大理到沙溪的车是不是都很早？"},
        {"role": "assistant", "content": "不用赶早：可以包车，时间自己定。"},
    ]
    messages = tuple(normalise_messages(raw, "c", "u", Settings().limits))
    record = extract(TaskChunk("c", "", messages, True)).record
    assert record.requests and "沙溪" in record.requests[0] and not record.requests[0].startswith("行")


def test_names_in_finds_the_places_a_follow_up_shares_with_its_task() -> None:
    from memskill.generalise import names_in

    assert names_in("从出发地到沙溪的车是不是都很早") & names_in("沙溪建议住寺登街外围，靠江一侧的院子")
    assert "Kyoto" in names_in("Can you add teamLab to day 2 in Kyoto?")
    assert not names_in("帮我写一下这周的周报")


def test_each_fixed_failure_of_a_tool_is_its_own_rule() -> None:
    from memskill.extract.tools import extract_tool_lessons

    def call(index: int, sql: str) -> dict[str, Any]:
        arguments = json.dumps({"sql": sql, "db": "warehouse" if index < 3 else "product"})
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": f"c{index}",
                    "type": "function",
                    "function": {"name": "run_sql", "arguments": arguments},
                }
            ],
        }

    raw = [
        {"role": "user", "content": "Weekly signups from the warehouse, then the same from the product db."},
        call(1, "SELECT signup_date FROM users"),
        {"role": "tool", "tool_call_id": "c1", "content": '{"error": "column signup_date does not exist"}'},
        call(2, "SELECT started_at FROM users"),
        {"role": "tool", "tool_call_id": "c2", "content": '{"rows": [[1]]}'},
        call(3, "SELECT date_trunc('week', started_at) FROM users"),
        {"role": "tool", "tool_call_id": "c3", "content": '{"error": "no such function: date_trunc"}'},
        call(4, "SELECT strftime('%W', started_at) FROM users"),
        {"role": "tool", "tool_call_id": "c4", "content": '{"rows": [[2]]}'},
    ]
    messages = normalise_messages(raw, "c", "u", Settings().limits)
    [lesson] = extract_tool_lessons(messages)
    assert len(lesson.rules) == 2
    assert "signup_date" in lesson.rules[0] and "date_trunc" in lesson.rules[1]


RESERVATION = [
    {
        "role": "user",
        "content": "I need to make a reservation for a restaurant in Oakland. "
        "The reservation should be for next Wednesday at 6:45 pm.",
    },
    {"role": "assistant", "content": "Which restaurant would you like me to make a reservation for?"},
    {"role": "user", "content": "Can you book me a table at Mcdonald's?"},
    {
        "role": "assistant",
        "content": "Please confirm: Reserve 1 table at Mcdonald's in Oakland for 2 people.",
    },
    {
        "role": "user",
        "content": "That is correct. How expensive is the restaurant and does it have outdoor seating?",
    },
    {
        "role": "assistant",
        "content": "Your reservation has been made. It is a cheap restaurant. "
        "It does not have outdoor seating.",
    },
    {"role": "user", "content": "Thank you."},
    {"role": "assistant", "content": "Can I assist you with anything else?"},
    {"role": "user", "content": "No thanks."},
]
"""A task-oriented dialogue in the style of SGD (not one the tagger or the dev set was built from)."""


def test_a_booking_dialogue_is_one_task_with_its_real_answer_and_no_date_as_a_preference(
    offline_embedder: OfflineEmbedder, tmp_path: Path
) -> None:
    """Questions the assistant asks are not the answer ("Which restaurant…?", "Anything else?"); what it
    asked before answering is confirmed first, what it asks after is not; a follow-up question after "That
    is correct." stays in the task; a limit tied to a day is this occasion's, not a preference."""
    messages = normalise_messages(RESERVATION, "c", "u", Settings().limits)
    assert accepted_answer(messages, read_turns(messages)).startswith("Your reservation has been made")
    assert clarifying_questions(messages) == ["Which restaurant would you like me to make a reservation for?"]
    with Memory(tmp_path, settings=Settings(workers=0), embedder=offline_embedder) as memory:
        for _ in send(memory, "u", "c", RESERVATION):
            pass
        [skill] = memory.get_skill(user_id="u")["skill_detail_list"]
    document = parse(skill["skill_markdown"])
    assert document.procedure[0] == "First confirm with the user: " + RESERVATION[1]["content"]
    assert not any("anything else" in step for step in document.procedure)
    assert not any("Wednesday" in p or "the date" in p for p in document.preferences), document.preferences
    assert document.examples and "Your reservation has been made" in document.examples[0]


def test_names_a_date_tells_an_occasion_from_a_habit() -> None:
    assert names_a_date("The reservation should be for next Wednesday at 6:45 pm")
    assert names_a_date("5月1号之前发给我")
    assert names_a_date("下周一交")
    assert not names_a_date("每天7点出门")
    assert not names_a_date("上午十点以前不要安排任何东西")
    assert not names_a_date("Keep it under 250 words")


def test_a_clause_answers_a_question_when_it_shares_its_words() -> None:
    asked = set(content_tokens("住宿订好了吗？还是按路线来定住哪一片？市内主要坐地铁还是打车？"))
    assert answers_question("交通就地铁加打车", asked)
    assert not answers_question("每次规划前先帮我查一下天气和温度", asked)
    assert ONE_DAY.search("第二天能不能把小雁塔也加上") and ONE_DAY.search("Can we move the museum to Day 2?")
    assert not ONE_DAY.search("结果那部分再具体一点")
