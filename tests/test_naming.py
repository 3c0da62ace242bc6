"""Recognised kinds of task: whole-word English keywords, title before goal, names back to kinds."""

from __future__ import annotations

import pytest

from memskill.naming import kind_of_name, recognise, record_kind


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
