from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from memskill.models import TaskRecord
from memskill.skill_items import best_match, overlap, same
from memskill.skillfile import validate
from memskill.synthesize import Evidence, document, merge, render_checked, synthesize


def no_embedding(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Similarity that never matches, so only character overlap decides."""
    return np.zeros((len(left), len(right)))


def record(
    steps: tuple[str, ...] = (), preferences: tuple[str, ...] = (), corrections: tuple[str, ...] = ()
) -> TaskRecord:
    return TaskRecord(
        title="规划行程",
        goal="帮我规划成都5天的行程",
        steps=steps,
        corrections=corrections,
        preferences=preferences,
        tools=(),
        outcome="好的",
        language="zh",
        sources=(),
        requests=("规划目的地N天的行程",),
        example="D1 武侯祠 → 锦里\nD2 金沙遗址 → 杜甫草堂",
    )


def test_add_then_agree_counts_support_and_sources() -> None:
    first = Evidence("rec_a", record(steps=("出发前先查询天气和温度",), preferences=("我不喜欢走回头路",)))
    items, log = merge((), first, no_embedding)
    assert any(line.startswith("add procedure") for line in log)
    second = Evidence("rec_b", record(preferences=("我不喜欢走回头路",)))
    items, log = merge(items, second, no_embedding)
    [preference] = [i for i in items if i.section == "preference"]
    assert preference.support == 2 and preference.sources == ("rec_a", "rec_b")
    assert "agree preference: 我不喜欢走回头路" in log
    again, log = merge(items, second, no_embedding)  # the same record seen again adds no support
    assert [i.support for i in again if i.section == "preference"] == [2]


def test_retracted_preferences_are_removed_and_corrections_edit() -> None:
    items, _ = merge((), Evidence("rec_a", record(preferences=("回答控制在500字以内",))), no_embedding)
    items, log = merge(items, Evidence("rec_b", record(), retracted=("回答控制在500字以内",)), no_embedding)
    assert not [i for i in items if i.section == "preference"] and log == [
        "remove preference: 回答控制在500字以内",
        "example: 请求：规划目的地N天的行程",
    ]
    items, _ = merge((), Evidence("rec_a", record(preferences=("回答控制在500字以内",))), no_embedding)
    items, log = merge(items, Evidence("rec_c", record(corrections=("回答控制在200字以内",))), no_embedding)
    assert [i.text for i in items if i.section == "preference"] == ["回答控制在200字以内"]
    assert log[0].startswith("edit preference")


def test_one_example_per_record_and_steps_in_order() -> None:
    items, _ = merge(
        (), Evidence("rec_a", record(steps=("先确认出行日期和天数", "再按区域安排每天的景点"))), no_embedding
    )
    items, _ = merge(items, Evidence("rec_a", record(steps=("先确认出行日期和天数",))), no_embedding)
    assert len([i for i in items if i.section == "example"]) == 1
    assert [i.text for i in items if i.section == "procedure"] == [
        "先确认出行日期和天数",
        "再按区域安排每天的景点",
    ]


def test_overlap_sees_a_restatement() -> None:
    assert overlap("别走回头路", "我是那种不走回头路的特种兵") >= 0.6
    assert overlap("语气正式一点", "控制在200字以内") == 0


def test_drafts_render_to_valid_skill_files() -> None:
    evidence = Evidence(
        "rec_a", record(steps=("出发前先查询天气和温度",), preferences=("比起商场我更喜欢文化景点",))
    )
    draft = synthesize(None, evidence, ["规划行程"], ["帮我规划目的地N天的行程"], no_embedding)
    assert draft.name == "travel-itinerary-planning"
    markdown = render_checked(document(draft, {"skill_id": "s1", "version": "1", "updated_at_ms": "0"}, 1, 1))
    assert validate(markdown, draft.name) == []
    assert "交付前对照用户偏好逐条检查" in markdown and "文化景点" in markdown


def test_the_note_about_generalised_values_appears_only_when_something_was_replaced() -> None:
    from memskill.models import SkillItem
    from memskill.synthesize import SkillDraft

    def additional(text: str, language: str) -> tuple[str, ...]:
        draft = SkillDraft("x", "X", "Does x.", (SkillItem("procedure", text, 1, ("r",)),), (), language)
        return document(draft, {"updated_at_ms": "0"}, 1, 1).additional

    assert len(additional("规划目的地N天的行程", "zh")) == 2
    assert len(additional("先列问题再给修改建议", "zh")) == 1
    assert len(additional("List the bugs before the style issues", "en")) == 1
    assert len(additional("Book a hotel in the destination", "en")) == 2
    assert additional("List the bugs", "en")[0].startswith("Learned from 1 task in 1 conversation;")
    draft = SkillDraft("x", "X", "Does x.", (SkillItem("procedure", "List the bugs", 1, ("r",)),), (), "en")
    assert (
        document(draft, {"updated_at_ms": "0"}, 3, 2)
        .additional[0]
        .startswith("Learned from 3 tasks in 2 conversations;")
    )


def test_a_models_verdicts_refine_drop_and_replace_candidates_within_guards() -> None:
    from memskill.models import SkillItem
    from memskill.prompts.skill_update import Verdict
    from memskill.synthesize import judged

    items = [
        SkillItem("preference", "周报控制在300字以内", 1, ("rec_a",)),
        SkillItem("preference", "分点列出要点", 3, ("rec_a", "rec_b", "rec_c")),
    ]
    wishes = ("周报控制在200字以内", "不要分点列出要点", "这周三要交")
    evidence = Evidence("rec_d", record(preferences=wishes))
    numbers = {item.text: n for n, item in enumerate(judged(evidence), 1)}

    def verdict(kind: str, text: str = "") -> Verdict:
        return Verdict(candidate=0, verdict=kind, text=text)  # type: ignore[arg-type]

    verdicts = {
        numbers["周报控制在200字以内"]: verdict("contradicts"),
        numbers["不要分点列出要点"]: verdict("contradicts"),
        numbers["这周三要交"]: verdict("drop"),
    }
    merged, log = merge(items, evidence, no_embedding, verdicts)
    texts = [item.text for item in merged if item.section == "preference"]
    assert "周报控制在300字以内" not in texts and "周报控制在200字以内" in texts, "one task supported it"
    assert "分点列出要点" in texts, "three tasks support it and nothing corrected it"
    assert "这周三要交" not in texts and any(line.startswith("drop ") for line in log)
    refined, _ = merge(
        items,
        evidence,
        no_embedding,
        {numbers["不要分点列出要点"]: verdict("refines", "分点列出，每条一句话")},
    )
    texts = [item.text for item in refined]
    assert "分点列出，每条一句话" in texts and "分点列出要点" not in texts


def test_the_check_step_shortens_a_preference_between_words() -> None:
    from memskill.skill_items import first_clause as _first_clause

    assert _first_clause("Round the percentages to one decimal place") == (
        "Round the percentages to one decimal place"
    )  # short enough for text with spaces
    assert _first_clause("Use the `users` and `events` tables in the product SQLite database") == (
        "Use the `users` and `events` tables…"  # not "…tables in the" nor "…in the prod…"
    )
    assert _first_clause("Order the issues by severity, bugs first, style last, and nits never") == (
        "Order the issues by severity"
    )
    # A leading condition is not the instruction: the skill's trigger already says when.
    assert _first_clause(
        "Whenever you plan a party for me, end with a shopping list grouped by store, it saves me time"
    ) == ("End with a shopping list grouped by store")
    long_rule = (
        "行程里千万别走回头路，每天按一个方向推进就好，别来回折腾，"
        "住宿也尽量别换来换去，酒店最好都订在地铁站旁边"
    )
    assert _first_clause(long_rule) == "行程里千万别走回头路"


def test_a_chinese_step_that_only_names_things_is_no_step() -> None:
    """ "博物馆、古迹这些" (an answer's fragment read as a step) says nothing to do; "最后一天在目的地
    那边收尾" does, though jieba tags no verb in it."""
    draft = synthesize(
        None,
        Evidence(
            "r1", record(steps=("博物馆、古迹这些", "最后一天在目的地那边收尾", "每次规划前先查天气和温度"))
        ),
        ["规划行程"],
        ["规划行程"],
        no_embedding,
    )
    steps = [item.text for item in draft.items if item.section == "procedure"]
    assert "博物馆、古迹这些" not in steps
    assert {"最后一天在目的地那边收尾", "每次规划前先查天气和温度"} <= set(steps)


def test_a_named_part_of_the_answer_is_one_step_however_many_tasks_had_it() -> None:
    from dataclasses import replace

    first = replace(record(), parts=("注意: 膝盖疼就停，选缓震跑鞋",))
    items, _ = merge((), Evidence("rec_a", first), no_embedding)
    assert "写明「注意」一项，如：膝盖疼就停，选缓震跑鞋" in [
        i.text for i in items if i.section == "procedure"
    ]
    second = replace(record(), parts=("注意: 雨天改在室内跑", "力量: 靠墙静蹲、臀桥"))
    items, log = merge(items, Evidence("rec_b", second), no_embedding)
    parts = [i for i in items if i.section == "procedure" and i.text.startswith("写明「")]
    # The first example stays; the part seen again gains support; a new part is a step of its own.
    assert [(i.text, i.support) for i in parts] == [
        ("写明「注意」一项，如：膝盖疼就停，选缓震跑鞋", 2),
        ("写明「力量」一项，如：靠墙静蹲、臀桥", 1),
    ]
    assert "agree procedure: 写明「注意」一项，如：膝盖疼就停，选缓震跑鞋" in log


def test_a_step_that_only_points_at_what_was_said_is_no_step() -> None:
    from memskill.procedure import record_steps

    steps = [text for text, _ in record_steps(record(steps=("Write it that way", "就按那样写", "写成段落")))]
    assert steps == ["写成段落"]


def test_a_short_step_said_whole_inside_a_longer_one_restates_it() -> None:
    assert overlap("先查天气", "每次规划前先查天气和温度") >= 0.6
    assert overlap("查天气", "每次规划前先查天气和温度") < 0.6  # two bigrams: too short to tell
    assert overlap("先查路线", "每次规划前先查天气和温度") < 0.6


def test_a_one_line_example_gives_way_to_an_answer_laid_out_in_lines() -> None:
    from memskill.models import SkillItem
    from memskill.skill_items import trim

    plan = SkillItem("example", "请求：规划行程\n回答：\nD1 古城\nD2 洱海\nD3 苍山", 1, ("a",))
    chat = SkillItem("example", "请求：住哪好\n回答：\n更推荐龙井村。", 1, ("b",))
    assert [i.text for i in trim([plan, chat])] == [plan.text]
    assert [i.text for i in trim([chat])] == [chat.text]  # while there is nothing else, it is shown


def test_an_english_step_that_states_something_is_no_step() -> None:
    from memskill.procedure import record_steps

    english = replace_language(
        record(steps=("The user is looking to make a reservation", "Use the recipe finder"))
    )
    assert [text for text, _ in record_steps(english)] == ["Use the recipe finder"]


def replace_language(rec: TaskRecord) -> TaskRecord:
    from dataclasses import replace

    return replace(rec, language="en")


def test_the_same_answer_is_shown_once_whatever_request_it_came_under() -> None:
    from dataclasses import replace

    first = replace(record(), example_request="规划行程")
    second = replace(record(), example_request="再排一次")
    items, _ = merge((), Evidence("rec_a", first), no_embedding)
    items, _ = merge(items, Evidence("rec_b", second), no_embedding)
    assert len([i for i in items if i.section == "example"]) == 1


def test_steps_calling_different_tools_never_merge() -> None:
    weather = "调用 get_weather（参数：city、date）"
    venues = "调用 search_venues（参数：city、district、date、people、budget_per_person）"
    assert overlap(weather, venues) >= 0.6, "they share most of their words"
    assert not same(weather, venues, no_embedding) and best_match(weather, [venues], no_embedding) is None
    assert same(weather, "调用 get_weather（参数：city、date、days）", no_embedding)


def test_one_records_steps_never_merge_into_each_other() -> None:
    """A record's candidates are already distinct: two of its steps that share words both arrive; the
    same record read again (its conversation went on) still adds nothing twice."""
    steps = ("Add a short 'What went well' section", "Answer with sections: Summary, What went well, Actions")

    def alike(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        return np.full((len(left), len(right)), 0.95)

    items, _ = merge((), Evidence("rec_a", record(steps=steps)), alike)
    assert [i.text for i in items if i.section == "procedure"] == list(steps)
    again, _ = merge(items, Evidence("rec_a", record(steps=steps)), alike)
    assert [(i.text, i.support) for i in again if i.section == "procedure"] == [(s, 1) for s in steps]


def test_a_skill_named_after_no_kind_keeps_its_own_title_and_purpose() -> None:
    """A later task's words ("做饭" in a budget review) give a kindless skill no kind's title."""
    from memskill.naming import name_skill

    first = name_skill(["看下我们家开销"], ["看下我们家开销"], "zh")
    later = name_skill(["看下我们家开销", "外卖"], ["周末懒得做饭，晚餐都点外卖"], "zh", named=True)
    assert later.title == first.title and "餐" not in later.description


def test_a_full_skill_keeps_each_tasks_surest_preferences_and_the_newest_tasks_first() -> None:
    from memskill.models import SkillItem
    from memskill.skill_items import SECTION_LIMITS, trim

    limit = SECTION_LIMITS["preference"]
    old = [SkillItem("preference", f"old {n}", 1, ("rec_a",), 0.5 + 0.02 * n) for n in range(limit)]
    new = [SkillItem("preference", f"new {n}", 1, ("rec_b",), 0.5 + 0.02 * n) for n in range(limit - 2)]
    kept = [item.text for item in trim([*old, *new])]
    assert kept == ["old 0", "old 1", *(item.text for item in new)]


def test_a_tool_call_is_a_step_whatever_words_its_arguments_share_with_a_preference() -> None:
    from memskill.procedure import record_steps

    call = "调用 search_papers（参数：query、year_range、max_results）"
    said = record(steps=(call,), preferences=("最多8篇papers，max_results",))
    steps = [text for text, _ in record_steps(said)]
    assert call in steps, steps


def test_the_same_tool_called_with_more_arguments_keeps_the_fuller_call() -> None:
    narrow = "调用 query_transactions（参数：month）"
    wide = "调用 query_transactions（参数：month、category）"
    items, _ = merge((), Evidence("rec_a", record(steps=(narrow,))), no_embedding)
    items, _ = merge(items, Evidence("rec_b", record(steps=(wide,))), no_embedding)
    calls = [i for i in items if i.section == "procedure" and "query_transactions" in i.text]
    assert [(c.text, c.support) for c in calls] == [(wide, 2)], calls


def test_a_first_version_folds_in_the_clusters_earlier_tasks() -> None:
    # The cluster's first task read as too unsure a request to start a skill; when the second starts
    # it, the first one's wishes are the user's too.
    from memskill.models import Scope
    from memskill.stores.base import TaskRecordRow
    from memskill.synthesize import next_version
    from memskill.vectors import record_dict

    unsure = record(preferences=("我不喜欢走回头路",))
    second = record(steps=("出发前先查询天气和温度",))
    rows = [TaskRecordRow("rec_a", "u", "c", "conv1", record_dict(unsure), 1)]
    rows.append(TaskRecordRow("rec_b", "u", "c", "conv2", record_dict(second), 2))
    built = next_version(None, Scope("u"), "c", Evidence("rec_b", second), rows, (), no_embedding, None, 3)
    assert built is not None
    skill, _ = built
    assert skill.current.version == 1
    [preference] = [i for i in skill.current.items if i.section == "preference"]
    assert preference.text == "我不喜欢走回头路" and preference.sources == ("rec_a",)
    assert any(i.text == "出发前先查询天气和温度" for i in skill.current.items)


def test_a_rule_said_for_every_task_outranks_one_tasks_limits_under_the_cap() -> None:
    limits = tuple(f"第{n}天控制在{n}个景点以内" for n in range(1, 15))
    rule = "每次规划前先查天气"
    ruled = replace(record(steps=(rule,)), requirements=limits, standing=(rule,))
    draft = synthesize(None, Evidence("rec_a", ruled), ["规划行程"], ["规划目的地N天的行程"], no_embedding)
    preferences = [i.text for i in draft.items if i.section == "preference"]
    assert len(preferences) == 12 and rule in preferences


def test_a_limit_of_one_request_gives_way_to_every_tasks_lasting_ones_under_the_cap() -> None:
    lasting = tuple(f"每天最多{n}个景点" for n in range(1, 8))
    first = replace(record(), requirements=lasting)
    items, _ = merge((), Evidence("rec_a", first), no_embedding)
    once = tuple(f"这次第{n}天住{n}号酒店" for n in range(1, 9))
    newer = replace(record(), requirements=("节奏放慢", *once), occasional=once)
    items, _ = merge(items, Evidence("rec_b", newer), no_embedding)
    preferences = [i.text for i in items if i.section == "preference"]
    assert len(preferences) == 12 and set(lasting) | {"节奏放慢"} <= set(preferences), preferences
