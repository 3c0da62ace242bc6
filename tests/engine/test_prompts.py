"""Every prompt's worked examples: one per language, an input in its module's format and a valid reply."""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

import pytest

from memskill.prompts import (
    Example,
    Prompt,
    facts,
    feedback,
    segmentation,
    skill_update,
    task_record,
    tool_lessons,
)

MODULES: tuple[ModuleType, ...] = (segmentation, task_record, facts, tool_lessons, skill_update, feedback)
LANGUAGES = ("zh", "en")
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
BULLET = re.compile(r"^\[(\d+)\] (procedure|experience|preference): ", re.M)
CASES = [(module, language) for module in MODULES for language in LANGUAGES]


def ids(case: object) -> str:
    if isinstance(case, ModuleType):
        return case.__name__.rsplit(".", 1)[-1]
    return str(case)


def prompt_of(module: ModuleType) -> Prompt[Any]:
    prompt = module.PROMPT
    assert isinstance(prompt, Prompt)
    return prompt


def example_part(prompt: Prompt[Any], language: str) -> str:
    """The system text after the instructions: the example input, its reply and the closing line."""
    system = prompt.system(language)
    instructions = prompt.instructions[language].strip()
    assert system.startswith(instructions)
    return system[len(instructions) :]


@pytest.mark.parametrize(("module", "language"), CASES, ids=ids)
def test_the_example_reply_is_valid_for_the_response_type(module: ModuleType, language: str) -> None:
    prompt = prompt_of(module)
    assert set(prompt.examples) == set(LANGUAGES)
    example = prompt.examples[language]
    assert isinstance(example, Example)
    prompt.response.model_validate(example.reply)


@pytest.mark.parametrize(("module", "language"), CASES, ids=ids)
def test_the_system_text_shows_the_example_input_then_its_reply(module: ModuleType, language: str) -> None:
    prompt = prompt_of(module)
    example = prompt.examples[language]
    system = prompt.system(language)
    reply = json.dumps(example.reply, ensure_ascii=False)
    assert example.content.strip()
    assert example.content in system
    assert reply in system
    assert system.index(prompt.instructions[language].strip()) < system.index(example.content)
    assert system.index(example.content) < system.index(reply)
    assert prompt.name in system.split(reply, 1)[1]  # the closing line names the schema


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_an_english_conversation_sees_no_chinese_example(module: ModuleType) -> None:
    prompt = prompt_of(module)
    english, chinese = prompt.examples["en"], prompt.examples["zh"]
    assert not CJK.search(example_part(prompt, "en")), CJK.findall(example_part(prompt, "en"))
    assert not CJK.search(english.content)
    assert not CJK.search(json.dumps(english.reply, ensure_ascii=False))
    assert CJK.search(json.dumps(chinese.reply, ensure_ascii=False))
    assert CJK.search(chinese.content)


@pytest.mark.parametrize("module", MODULES, ids=ids)
def test_each_language_has_its_own_example(module: ModuleType) -> None:
    prompt = prompt_of(module)
    assert prompt.examples["zh"].content != prompt.examples["en"].content
    assert prompt.examples["en"].content not in prompt.system("zh")
    assert prompt.examples["zh"].content not in prompt.system("en")


@pytest.mark.parametrize(("module", "language"), CASES, ids=ids)
def test_the_example_input_has_the_format_of_the_modules_content(module: ModuleType, language: str) -> None:
    text = prompt_of(module).examples[language].content
    if module in (segmentation, task_record, facts, tool_lessons):
        header, *lines = text.split("\n")
        expected = f"Messages 1–{len(lines)}:" if module is segmentation else "Task messages:"
        assert header == expected
        numbers = [re.match(r"\[(\d+)\] (user|assistant|tool)", line) for line in lines]
        assert [int(match[1]) if match else None for match in numbers] == list(range(1, len(lines) + 1))
    else:
        assert ("Feedback: " if module is feedback else "Skill: ") in text
        assert "Bullets:\n[1] " in text


@pytest.mark.parametrize(("module", "language"), CASES, ids=ids)
def test_cited_messages_exist_with_the_right_role(module: ModuleType, language: str) -> None:
    example = prompt_of(module).examples[language]
    roles = {
        int(n): role for n, role in re.findall(r"^\[(\d+)\] (user|assistant|tool)", example.content, re.M)
    }
    reply = example.reply
    if module is segmentation:
        spans = [(s["start"], s["end"]) for s in reply["segments"]]
        covered = [n for start, end in spans for n in range(start, end + 1)]
        assert covered == sorted(roles)
        segmentation.check(segmentation.Segments.model_validate(reply), len(roles))
    elif module is facts:
        for entry in reply["facts"] + reply["preferences"]:
            assert roles[entry["message"]] == "user"
    elif module is tool_lessons:
        called = set(re.findall(r"call (\w+)\(", example.content))
        assert {lesson["tool"] for lesson in reply["lessons"]} == called  # one lesson per tool
        for lesson in reply["lessons"]:
            assert roles[lesson["message"]] == "tool"
    elif module is task_record:
        assert reply["language"] == language
        assert set(reply["tools"]) == set(re.findall(r"call (\w+)\(", example.content))


@pytest.mark.parametrize("language", LANGUAGES)
def test_verdicts_refer_to_candidates_of_the_example_input(language: str) -> None:
    example = skill_update.PROMPT.examples[language]
    shown = [int(n) for n in re.findall(r"^\[(\d+)\] [a-z]+: .+ — nearest bullet", example.content, re.M)]
    assert shown == list(range(1, len(shown) + 1))
    judged = [v["candidate"] for v in example.reply["verdicts"]]
    assert len(judged) == len(set(judged)) and set(judged) <= set(shown)
    for verdict in example.reply["verdicts"]:
        assert bool(verdict["text"]) == (verdict["verdict"] == "refines"), verdict


@pytest.mark.parametrize("language", LANGUAGES)
def test_operations_refer_to_bullets_of_the_example_input(language: str) -> None:
    module = feedback
    example = prompt_of(module).examples[language]
    listed = {int(n): section for n, section in BULLET.findall(example.content)}
    assert sorted(listed) == list(range(1, len(listed) + 1))  # numbered as `bullets()` numbers them
    operations = example.reply["operations"]
    named = [op["item"] for op in operations if op["op"] != "add"]
    assert len(named) == len(set(named))  # no bullet named twice
    for operation in operations:
        if operation["op"] == "add":
            assert operation["item"] == 0
            assert operation["text"]
        else:
            assert operation["item"] in listed, operation
            assert operation["section"] == listed[operation["item"]], operation
            assert bool(operation["text"]) == (operation["op"] == "edit"), operation


def test_some_examples_answer_with_few_operations_or_no_preference() -> None:
    counts = [len(feedback.PROMPT.examples[language].reply["operations"]) for language in LANGUAGES]
    assert min(counts) <= 2, counts
    verdicts = {
        v["verdict"]
        for language in LANGUAGES
        for v in skill_update.PROMPT.examples[language].reply["verdicts"]
    }
    assert {"same", "refines", "new", "drop", "contradicts"} <= verdicts, "the examples show every verdict"
    assert any(not feedback.PROMPT.examples[language].reply["preferences"] for language in LANGUAGES)


def test_the_english_example_reply_stays_available_as_example() -> None:
    for module in MODULES:
        prompt = prompt_of(module)
        assert prompt.example == prompt.examples["en"].reply
        prompt.response.model_validate(prompt.example)
