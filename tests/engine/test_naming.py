"""Recognised kinds of task: whole-word English keywords, title before goal, names back to kinds."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest
from paths import ROOT

from memskill.naming import (
    NEAREST_KIND,
    Similarity,
    kind_of_name,
    name_skill,
    recognise,
    record_kind,
    task_kinds,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("五一打算去桂林阳朔待4天，安排一下", "travel-itinerary-planning"),
        ("Plan a 3-day trip to Lisbon", "travel-itinerary-planning"),
        ("Can you review this function before I open the PR?", "code-review"),
        ("Write a SQL query for weekly active users", "data-analysis"),
        ("I need another cover letter, this time for a data role", "job-application-writing"),
        ("写这周的周报", "report-writing"),
        ("给同事写封邮件请假", "email-writing"),
    ],
)
def test_common_requests_are_recognised(text: str, kind: str) -> None:
    found = recognise([text])
    assert found is not None and found.name == kind


@pytest.mark.parametrize("text", ["Cancel my subscription page redesign", "Strip the whitespace", "这样好"])
def test_keywords_inside_other_words_do_not_count(text: str) -> None:
    assert recognise([text]) is None


def test_the_title_decides_before_the_goal() -> None:
    goal = "Could you help me with a cover letter? It is for the team that runs our SQL dashboards."
    found = record_kind("Could you help me with a cover letter", goal)
    assert found is not None and found.name == "job-application-writing"


def test_skill_names_map_back_to_kinds() -> None:
    assert kind_of_name("email-writing-2") is not None
    assert kind_of_name("task-1a2b3c") is None


def test_the_shipped_kinds_are_the_corpus_kinds() -> None:
    path = ROOT / "corpus/kinds.json"
    corpus = json.loads(path.read_text(encoding="utf-8"))
    expected = {k["kind"]: k["about"] for k in corpus["kinds"] if k["kind"] != "casual-chat"}
    assert {name: text.split(": ", 1)[1] for name, text in task_kinds()} == expected


def test_a_chinese_task_of_no_known_kind_is_named_after_the_nearest_kind_when_near_enough() -> None:
    names = [name for name, _ in task_kinds()]

    def near(to: str, cosine: float) -> Similarity:
        def similarity(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
            scores = np.zeros((len(left), len(right)), dtype=np.float32)
            scores[:, names.index(to)] = cosine
            return scores

        return similarity

    titles = ["准备部门季度复盘会的材料"]
    assert recognise(titles) is None
    assert name_skill(titles, titles, "zh", (), near("quarterly-review-slides", 0.5)).name == (
        "quarterly-review-slides"
    )
    below = name_skill(titles, titles, "zh", (), near("quarterly-review-slides", NEAREST_KIND - 0.01))
    assert below.name == "request-task"  # by its verb, as without an embedder
    assert name_skill(titles, titles, "zh").name == "request-task"
    # an English word inside a Chinese request names no task
    assert name_skill(["写一下，发给来的客人"], ["帮我写一下。不要用emoji"], "zh").name == "writing-task"
    # the verb a word starts with: 审查 is a review, not the 查 of a lookup
    assert name_skill(["出一份审查意见"], ["帮我出一份审查意见"], "zh").name == "review-task"
    assert name_skill(["查一下天气"], ["帮我查一下天气"], "zh").name == "lookup-task"
    # English titles keep their own words.
    english = ["Plan a birthday party"]
    assert name_skill(english, english, "en", (), near("pet-care", 0.9)).name != "pet-care"


def test_a_skill_keeps_the_kind_it_was_named_after() -> None:
    """A trip skill whose later tasks look for restaurants keeps its trip title and description: the name
    (kept for the skill's files and links) and what the skill says it does must agree."""
    titles = ["找一家门票是免费的景点", "找一个有芒果慕斯的餐馆", "找个餐馆订座"]
    kept = kind_of_name("travel-itinerary-planning")
    assert kept is not None
    naming = name_skill(titles, titles, "zh", (), None, kept)
    assert (naming.name, naming.title) == ("travel-itinerary-planning", kept.title_zh)
    assert kept.purpose_zh in naming.description
    assert name_skill(titles, titles, "zh").name != "travel-itinerary-planning"  # left alone: restaurants


def test_a_quoted_request_is_cut_at_a_word_not_inside_one() -> None:
    naming = name_skill(["Make a restaurant reservation for two people near the station please"], [], "en")
    assert '"Make a restaurant reservation for two…"' in naming.description


def test_booking_a_table_is_a_restaurant_booking_however_it_is_said() -> None:
    from memskill.naming import recognise

    for said in ("Try to book me a table at Tanchito's", "Can you book another table?", "reserve a table"):
        kind = recognise([said])
        assert kind is not None and kind.name == "restaurant-booking", said
    assert recognise(["Put the results in a table"]) is None


def test_identifiers_and_paths_name_things_not_the_task() -> None:
    said = "test_invoice_email_is_queued in tests/test_invoices.py is flaky, branch omar/bill-377-email-flake"
    found = recognise([said])
    assert found is not None and found.name == "code-debugging"  # "flaky", not the test's "email"
    found = recognise([said.replace("is flaky", "needs a note") + ". Draft an email to the team about it?"])
    assert found is not None and found.name == "email-writing"


def test_a_name_holds_no_word_generalisation_put_in_place_of_a_value() -> None:
    title = "Our account team in the destination booked a call for the time the destination time on the date"
    name = name_skill([title], [], "en").name
    assert not {"destination", "time", "date"} & set(name.split("-")), name


def test_placeholders_and_quoted_material_name_no_kind() -> None:
    # "出行日期" is generalisation's word, not the user's: the outing is no trip.
    found = recognise(["出行日期部门要搞一次团建，这次一共23个人，想在目的地那边找个地方"])
    assert found is not None and found.name == "event-planning"
    quoted = recognise(["把这句翻成英文，要回给供应商：“下周三的视频会议能不能改到周四下午三点？”"])
    assert quoted is not None and quoted.name == "translation"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "I need an outline for a 10-minute deck; the audience is our CTO. Cloud SQL or RDS?",
            "presentation-slides",
        ),
        ("test_coupon_applies_once is flaky on CI since we turned on random ordering", "code-debugging"),
    ],
)
def test_decks_and_flaky_tests_have_kinds(text: str, kind: str) -> None:
    found = recognise([text])
    assert found is not None and found.name == kind


def test_a_postmortem_is_a_report_and_a_reply_to_a_ticket_is_an_email() -> None:
    from memskill.naming import recognise, record_kind

    assert recognise(["Postmortem for yesterday's double-booking incident"]).name == "report-writing"
    assert recognise(["帮我写个支付故障复盘"]).name == "report-writing"
    assert recognise(["Can you draft a reply to ticket #48213?"]).name == "email-writing"
    assert recognise(["New ticket to answer, #48790"]).name == "email-writing"
    assert recognise(["hiya, May newsletter time"]).name == "email-writing"  # not its "running tips"
    assert recognise(["准备部门季度复盘会的材料"]) is None  # a review meeting is no incident
    assert recognise(["小杨今天请假了，入住指引我自己弄，帮我写一下"]) is None  # someone's leave is no e-mail
    # the conditions after the request ("地铁公交都行") name no kind when the words that ask are known
    goal = "最近要搬家，帮我筛下房子吧。通勤单程别超过40分钟，地铁公交都行。"
    assert record_kind("最近要搬家，筛下房子", goal).name == "public-transport-directions"
    assert record_kind("最近要搬家，筛下房子", goal, ask="最近要搬家，帮我筛下房子吧。") is None


@pytest.mark.parametrize(
    ("requests", "name", "title"),
    [
        (["A proper sowing & planting calendar for March to May"], "planting-calendar", "Planting calendar"),
        (["Need a question set for my hiring manager interviews"], "question-set", "Question set"),
        (["Every release", "Release notes for 4.3, goes out Thursday"], "release-notes", "Release notes"),
        # when it is done is not what it is
        (["Every sunday night I post the rota for the coming week"], "post-rota", "Post rota"),
        (["Turn last night's field notes into a results section"], "field-notes", "Field notes"),
    ],
)
def test_a_request_of_no_known_kind_is_named_after_what_it_asks_for(
    requests: list[str], name: str, title: str
) -> None:
    # The head of the request's noun phrase, not its most frequent words ("plot-week-proper").
    naming = name_skill(requests, [f"ok completely different thing. {requests[-1]}"], "en")
    assert (naming.name, naming.title) == (name, title)
    assert requests[-1][:12] in naming.description or requests[0][:12] in naming.description
