"""Tests for SKILL.md rendering, parsing, validation and packaging."""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from memskill.errors import InvalidRequest
from memskill.skillfile import (
    MAX_ZIP_BYTES,
    SkillDocument,
    SkillFormatError,
    package_zip,
    parse,
    read_zip,
    render,
    slugify,
    validate,
    validate_folder,
    write_folder,
)

TRAVEL = SkillDocument(
    name="travel-itinerary-planning",
    description="规划多日旅行行程：当用户要求安排旅行、制定每日计划时使用。",
    title="旅行行程规划",
    procedure=("确认目的地和天数", "按天列出景点与交通", "控制在200字以内"),
    experience=("先问预算再推荐酒店",),
    preferences=("喜欢慢节奏，每天不超过三个景点",),
    examples=("成都三日游：宽窄巷子、熊猫基地",),
    metadata={"skill_id": "sk_1", "version": "2", "user_id": "u1"},
)


def front_matter(text: str) -> dict[str, object]:
    return yaml.safe_load(text.split("---\n")[1])


def skill_text(front: str, sections: tuple[str, ...] | None = None) -> str:
    names = sections or (
        "Procedure",
        "Experience",
        "User Preferences",
        "Examples",
        "Additional Information",
    )
    body = "".join(f"\n## {name}\n\nNone yet.\n" for name in names)
    return f"---\n{front}\n---\n\n# Title\n{body}"


VALID_FRONT = "name: my-skill\ndescription: Does things. Use when asked."


def make_zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if name == symlink:
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


# --- validation -------------------------------------------------------------------------------


def test_valid_skill_has_no_problems() -> None:
    assert validate(skill_text(VALID_FRONT)) == []
    assert validate(render(TRAVEL), folder_name="travel-itinerary-planning") == []


@pytest.mark.parametrize("name", ["a", "travel", "travel-planning-2", "a1-b2-c3", "x" * 64])
def test_valid_names(name: str) -> None:
    text = skill_text(f"name: {name}\ndescription: ok")
    assert validate(text, folder_name=name) == []


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("Travel", "uppercase"),
        ("-a", "hyphen"),
        ("a-", "hyphen"),
        ("a--b", "consecutive hyphens"),
        ("旅行规划", "non-ASCII"),
        ("a_b", "characters other than"),
        ("a b", "characters other than"),
        ("x" * 65, "65 characters"),
        ("''", "0 characters"),
        ("123", "not a string"),
    ],
)
def test_invalid_names(name: str, fault: str) -> None:
    problems = validate(skill_text(f"name: {name}\ndescription: ok"))
    assert len(problems) == 1
    assert fault in problems[0]


def test_missing_name_and_description() -> None:
    problems = validate(skill_text("license: MIT"))
    assert any("'name' is missing" in problem for problem in problems)
    assert any("'description' is missing" in problem for problem in problems)


def test_name_must_equal_folder_name() -> None:
    problems = validate(skill_text(VALID_FRONT), folder_name="other-skill")
    assert len(problems) == 1
    assert "differs from the folder name 'other-skill'" in problems[0]


@pytest.mark.parametrize(
    ("description", "fault"),
    [
        ("'   '", "empty"),
        ("x" * 1025, "1025 characters"),
        ("Use <b>bold</b>", "'<' or '>'"),
        ("a -> b", "'<' or '>'"),
    ],
)
def test_invalid_descriptions(description: str, fault: str) -> None:
    problems = validate(skill_text(f"name: my-skill\ndescription: {description}"))
    assert len(problems) == 1
    assert fault in problems[0]


def test_description_limits() -> None:
    assert validate(skill_text("name: my-skill\ndescription: " + "x" * 1024)) == []
    assert validate(skill_text("name: my-skill\ndescription: 中文描述，用户要求时使用")) == []


def test_unknown_front_matter_keys_are_reported() -> None:
    problems = validate(skill_text(VALID_FRONT + "\nversion: '1'\ntags: [a]"))
    assert len(problems) == 2
    assert "unknown front-matter key 'version'" in problems[0]
    assert "'metadata'" in problems[0]


def test_optional_keys() -> None:
    text = skill_text(VALID_FRONT + "\nlicense: MIT\ncompatibility: Python 3.10+\nallowed-tools: Bash Read")
    assert validate(text) == []
    problems = validate(skill_text(VALID_FRONT + "\ncompatibility: " + "x" * 501))
    assert problems == ["'compatibility' must have 1 to 500 characters: shorten or remove it"]
    assert "'license' must be a string" in validate(skill_text(VALID_FRONT + "\nlicense: 3"))[0]


@pytest.mark.parametrize(
    "metadata",
    ["metadata: {version: 1}", "metadata: {tags: [a, b]}", "metadata: [a]", "metadata: {1: a}"],
)
def test_metadata_must_map_strings_to_strings(metadata: str) -> None:
    problems = validate(skill_text(VALID_FRONT + "\n" + metadata))
    assert len(problems) == 1
    assert "metadata" in problems[0]
    assert validate(skill_text(VALID_FRONT + "\nmetadata: {version: '1'}")) == []


def test_missing_sections_are_reported() -> None:
    text = skill_text(VALID_FRONT, sections=("Procedure", "Experience", "Examples"))
    problems = validate(text)
    assert len(problems) == 2
    assert "'## User Preferences'" in problems[0]
    assert "'## Additional Information'" in problems[1]


def test_heading_inside_fenced_code_does_not_count() -> None:
    text = skill_text(VALID_FRONT, sections=("Procedure", "Experience", "User Preferences"))
    text += "\n```\n## Examples\n## Additional Information\n```\n"
    assert len(validate(text)) == 2


def test_body_must_stay_under_500_lines() -> None:
    text = render(TRAVEL)
    body_lines = len(text.split("---\n", 2)[2].splitlines())
    filler = "\n".join(f"- note {index}" for index in range(499 - body_lines))
    assert validate(text + filler + "\n") == []
    problems = validate(text + filler + "\n- one more\n")
    assert len(problems) == 1
    assert "500 lines" in problems[0]


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("# No front matter\n", "must begin with YAML front matter"),
        ("---\nname: a\n", "not closed"),
        ("---\nname: a: b\n---\n", "not valid YAML"),
        ("---\n- a\n- b\n---\n", "must be a mapping"),
    ],
)
def test_unreadable_text(text: str, fault: str) -> None:
    problems = validate(text)
    assert len(problems) == 1
    assert fault in problems[0]
    with pytest.raises(SkillFormatError, match=fault):
        parse(text)


@pytest.mark.parametrize(
    "front", ["name: a\ndescription: [", "metadata: {updated_at: 2020-13-45}", "[" * 3000]
)
def test_broken_yaml_is_a_format_error(front: str) -> None:
    assert "not valid YAML" in validate(f"---\n{front}\n---\n")[0]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["", "---\n", "---\nname: a\ndescription: d\n---\n"]))
def test_any_text_gives_problems_or_a_document(text: str, prefix: str) -> None:
    problems = validate(prefix + text)
    assert all(isinstance(problem, str) and problem for problem in problems)
    try:
        document = parse(prefix + text)
    except SkillFormatError:
        return
    assert isinstance(document.title, str)


def test_skill_format_error_is_a_value_error_and_an_api_error() -> None:
    assert issubclass(SkillFormatError, ValueError)
    assert issubclass(SkillFormatError, InvalidRequest)
    assert SkillFormatError.code == 40000


# --- rendering and parsing --------------------------------------------------------------------


def test_render_layout() -> None:
    text = render(TRAVEL)
    assert text.startswith("---\nname: travel-itinerary-planning\n")
    assert "\n---\n\n# 旅行行程规划\n\n## Procedure\n\n1. 确认目的地和天数\n2. 按天列出景点与交通\n" in text
    assert "\n## Experience\n\n- 先问预算再推荐酒店\n" in text
    assert "\n## Additional Information\n\n暂无。\n" in text
    assert text.index("## Procedure") < text.index("## Experience") < text.index("## Examples")
    assert front_matter(text)["metadata"] == {"skill_id": "sk_1", "user_id": "u1", "version": "2"}


def test_empty_sections_get_a_placeholder_in_the_document_language() -> None:
    english = SkillDocument(name="a", description="Plans trips.", title="Trip planning")
    assert render(english).count("\nNone yet.\n") == 5
    assert render(replace(english, title="旅行")).count("\n暂无。\n") == 5
    assert parse(render(english)) == english


def test_front_matter_strings_round_trip() -> None:
    tricky = [
        "Plans trips: use when asked # really",
        "- starts with a dash",
        "'quoted' and \"double\"",
        "yes",
        "1.0",
        "null",
        "旅行规划：用户说“安排行程”时使用",
        "first line\nsecond line",
        "  leading spaces\ntrailing spaces  ",
        "@at *star &amp !bang %percent `tick`",
    ]
    for description in tricky:
        document = SkillDocument(
            name="a",
            description=description,
            title="T",
            metadata={"version": "3", "note": description},
            license=description,
        )
        values = front_matter(render(document))
        assert values["description"] == description
        assert values["metadata"] == {"note": description, "version": "3"}
        assert parse(render(document)) == document


def test_metadata_values_are_always_strings_and_sorted() -> None:
    first = SkillDocument(name="a", description="d", title="t", metadata={"b": "2", "a": "1"})
    second = replace(first, metadata={"a": "1", "b": "2"})
    assert render(first) == render(second)
    loose = replace(first, metadata={"version": 3, "ok": True})  # type: ignore[dict-item]
    assert front_matter(render(loose))["metadata"] == {"ok": "True", "version": "3"}


def test_multi_line_items_keep_the_list_intact() -> None:
    document = SkillDocument(
        name="a",
        description="d",
        title="t",
        procedure=("step one\ncontinued", "two", *[f"s{index}" for index in range(7)], "ten\nmore"),
        experience=("lesson\n\nafter a blank line\n- not a new bullet", "## not a heading"),
    )
    text = render(document)
    assert "1. step one\n   continued\n2. two\n" in text
    assert "10. ten\n    more\n" in text
    assert "- lesson\n\n  after a blank line\n  - not a new bullet\n- ## not a heading\n" in text
    assert parse(text) == document


def test_parse_accepts_an_uploaded_skill() -> None:
    text = (
        "\ufeff---\r\nname: pdf-tools\r\ndescription: Work with PDF files.\r\n---\r\n\r\n"
        "# PDF tools\n\nIntro paragraph\nspanning two lines.\n\n"
        "## Procedure\n\n- Open the file\n* Extract text\n\n## Experience\n\n"
        "Free text lesson.\n\nSecond lesson.\n\n## Notes\n\nKeep backups.\n\n"
        "## Examples\n\n```bash\npython scripts/extract.py\n- not an item\n\n```\n"
    )
    document = parse(text)
    assert document.title == "PDF tools"
    assert document.procedure == ("Open the file", "Extract text")
    assert document.experience == ("Free text lesson.", "Second lesson.")
    assert document.preferences == ()
    assert document.examples == ("```bash\npython scripts/extract.py\n- not an item\n\n```",)
    assert document.additional == ("Intro paragraph\nspanning two lines.", "Notes\n\nKeep backups.")
    assert "missing section '## User Preferences'" in " ".join(validate(text))


def test_parse_without_title_uses_the_name() -> None:
    document = parse("---\nname: a\ndescription: d\n---\n## Procedure\n1. go\n")
    assert document.title == "a"
    assert document.procedure == ("go",)


def test_parse_requires_name_and_description() -> None:
    with pytest.raises(SkillFormatError, match="no 'description'"):
        parse("---\nname: a\n---\n")


names = st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}", fullmatch=True)
line_characters = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff")
chinese = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1)
single_line = st.one_of(st.text(line_characters, min_size=1), chinese).filter(lambda text: bool(text.strip()))
item_texts = st.lists(single_line, min_size=1, max_size=3).map("\n".join)
items = st.lists(item_texts, max_size=4).map(tuple)


@st.composite
def documents(draw: st.DrawFn) -> SkillDocument:
    return SkillDocument(
        name=draw(names),
        description=draw(single_line.filter(lambda text: "<" not in text and ">" not in text)),
        title=draw(single_line),
        procedure=draw(items),
        experience=draw(items),
        preferences=draw(items),
        examples=draw(items),
        additional=draw(items),
        metadata=draw(st.dictionaries(single_line, single_line, max_size=3)),
        license=draw(st.none() | single_line),
        compatibility=draw(st.none() | single_line),
        allowed_tools=draw(st.none() | single_line),
    )


@settings(max_examples=300, deadline=None)
@given(documents())
def test_round_trip(document: SkillDocument) -> None:
    text = render(document)
    assert parse(text) == document
    assert render(parse(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_front_matter_string_round_trips(text: str) -> None:
    document = SkillDocument(
        name="a",
        description=text,
        title="t",
        metadata={text: text},
        license=text,
        compatibility=text,
        allowed_tools=text,
    )
    assert parse(render(document)) == document


@settings(max_examples=100, deadline=None)
@given(documents())
def test_rendered_documents_are_valid(document: SkillDocument) -> None:
    assume(len(document.description) <= 1024)
    assert validate(render(document), folder_name=document.name) == []


# --- packaging ----------------------------------------------------------------------------------

WITH_FILES = replace(
    TRAVEL,
    files={"scripts/check.py": b"print('ok')\n", "references/cities.md": "# 城市\n".encode()},
)


def test_zip_layout() -> None:
    archive = zipfile.ZipFile(io.BytesIO(package_zip(TRAVEL)))
    assert archive.namelist() == ["travel-itinerary-planning/SKILL.md"]
    assert archive.read("travel-itinerary-planning/SKILL.md").decode() == render(TRAVEL)
    archive = zipfile.ZipFile(io.BytesIO(package_zip(WITH_FILES)))
    assert archive.namelist() == [
        "travel-itinerary-planning/SKILL.md",
        "travel-itinerary-planning/references/cities.md",
        "travel-itinerary-planning/scripts/check.py",
    ]


def test_zip_bytes_are_deterministic() -> None:
    reordered = replace(WITH_FILES, files=dict(reversed(list(WITH_FILES.files.items()))))
    assert package_zip(WITH_FILES) == package_zip(reordered)
    assert package_zip(TRAVEL) != package_zip(replace(TRAVEL, title="另一个标题"))


def test_zip_round_trip() -> None:
    assert read_zip(package_zip(WITH_FILES)) == WITH_FILES


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../evil.py",
        "scripts/../../evil.py",
        "scripts\\evil.py",
        "notes.txt",
        "scripts",
        "scripts//a.py",
        "SKILL.md",
        "other/a.py",
        "",
    ],
)
def test_unsafe_extra_files_are_rejected(path: str, tmp_path: Path) -> None:
    document = replace(TRAVEL, files={path: b"x"})
    with pytest.raises(SkillFormatError):
        package_zip(document)
    with pytest.raises(SkillFormatError):
        write_folder(document, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_invalid_documents_are_not_packaged(tmp_path: Path) -> None:
    with pytest.raises(SkillFormatError, match="uppercase"):
        package_zip(replace(TRAVEL, name="Travel"))
    with pytest.raises(SkillFormatError, match="'<' or '>'"):
        write_folder(replace(TRAVEL, description="<b>"), tmp_path)


SKILL_MD = render(TRAVEL).encode()
FOLDER = "travel-itinerary-planning"


@pytest.mark.parametrize(
    ("entries", "fault"),
    [
        ({f"{FOLDER}/SKILL.md": SKILL_MD, "../evil.sh": b"x"}, "unsafe zip entry"),
        ({f"{FOLDER}/SKILL.md": SKILL_MD, f"{FOLDER}/../../evil": b"x"}, "unsafe zip entry"),
        ({f"{FOLDER}/SKILL.md": SKILL_MD, "/etc/cron.d/evil": b"x"}, "unsafe zip entry"),
        ({f"{FOLDER}/SKILL.md": SKILL_MD, f"{FOLDER}\\..\\evil": b"x"}, "unsafe zip entry"),
        ({f"{FOLDER}/SKILL.md": SKILL_MD, "C:/evil": b"x"}, "unsafe zip entry"),
        ({f"{FOLDER}/SKILL.md": SKILL_MD, "other/SKILL.md": SKILL_MD}, "one top folder"),
        ({"SKILL.md": SKILL_MD}, "one top folder"),
        ({f"{FOLDER}/README.md": b"x"}, "SKILL.md is missing"),
        ({f"{FOLDER}/SKILL.md": b"\xff\xfe"}, "not UTF-8"),
        ({f"{FOLDER}/SKILL.md": SKILL_MD, f"{FOLDER}/notes.txt": b"x"}, "misplaced file"),
        ({"renamed/SKILL.md": SKILL_MD}, "differs from the folder name 'renamed'"),
    ],
)
def test_read_zip_rejects_bad_archives(entries: dict[str, bytes], fault: str) -> None:
    with pytest.raises(SkillFormatError, match=fault.replace("\\", "\\\\")):
        read_zip(make_zip(entries))


def test_read_zip_rejects_symlinks() -> None:
    entries = {f"{FOLDER}/SKILL.md": SKILL_MD, f"{FOLDER}/scripts/link": b"/etc/passwd"}
    with pytest.raises(SkillFormatError, match="symbolic link"):
        read_zip(make_zip(entries, symlink=f"{FOLDER}/scripts/link"))


def test_read_zip_rejects_large_archives() -> None:
    entries = {f"{FOLDER}/SKILL.md": SKILL_MD, f"{FOLDER}/assets/big.bin": b"0" * MAX_ZIP_BYTES}
    with pytest.raises(SkillFormatError, match="more than 5 MB"):
        read_zip(make_zip(entries))


def test_read_zip_rejects_garbage() -> None:
    with pytest.raises(SkillFormatError, match="cannot read the upload as a zip"):
        read_zip(b"not a zip at all")


def test_read_zip_skips_macos_clutter_and_directory_entries() -> None:
    entries = {
        f"{FOLDER}/": b"",
        f"{FOLDER}/SKILL.md": SKILL_MD,
        f"{FOLDER}/.DS_Store": b"x",
        "__MACOSX/._SKILL.md": b"x",
    }
    assert read_zip(make_zip(entries)) == TRAVEL


# --- folders ----------------------------------------------------------------------------------


def test_write_folder_and_validate_it(tmp_path: Path) -> None:
    folder = write_folder(WITH_FILES, tmp_path)
    assert folder == tmp_path / FOLDER
    assert (folder / "SKILL.md").read_text(encoding="utf-8") == render(WITH_FILES)
    assert (folder / "scripts" / "check.py").read_bytes() == b"print('ok')\n"
    assert validate_folder(folder) == []


def test_write_folder_overwrites_skill_md(tmp_path: Path) -> None:
    write_folder(TRAVEL, tmp_path)
    updated = replace(TRAVEL, experience=("新的经验",))
    folder = write_folder(updated, tmp_path)
    assert parse((folder / "SKILL.md").read_text(encoding="utf-8")) == updated


def test_write_folder_refuses_symbolic_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "skills" / FOLDER).mkdir(parents=True)
    (tmp_path / "skills" / FOLDER / "scripts").symlink_to(outside)
    with pytest.raises(SkillFormatError, match="symbolic link"):
        write_folder(WITH_FILES, tmp_path / "skills")
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "skills" / FOLDER / "SKILL.md").exists()


def test_validate_folder_reports_problems(tmp_path: Path) -> None:
    folder = write_folder(TRAVEL, tmp_path)
    (folder / "notes.txt").write_text("x")
    (folder / "assets").mkdir()
    (folder / "assets" / "logo.png").write_bytes(b"png")
    assert validate_folder(folder) == [
        "unexpected file 'notes.txt': only SKILL.md and files under scripts/, references/ "
        "or assets/ may be there"
    ]
    renamed = folder.rename(tmp_path / "renamed")
    assert any("differs from the folder name 'renamed'" in p for p in validate_folder(renamed))
    (renamed / "SKILL.md").unlink()
    assert any("SKILL.md is missing" in problem for problem in validate_folder(renamed))
    assert "is not a folder" in validate_folder(tmp_path / "nothing")[0]


# --- slugify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Travel Itinerary Planning", "travel-itinerary-planning"),
        ("  Weekly report -- draft #2!  ", "weekly-report-draft-2"),
        ("Café Crème", "cafe-creme"),
        ("成都 trip plan 2024", "trip-plan-2024"),
        ("ＰＤＦ ｔｏｏｌｓ", "pdf-tools"),
        ("旅行行程规划", "skill"),
        ("", "skill"),
        ("---", "skill"),
    ],
)
def test_slugify(text: str, expected: str) -> None:
    assert slugify(text) == expected


def test_slugify_trims_at_a_word_boundary() -> None:
    slug = slugify("planning " * 20)
    assert len(slug) <= 64
    assert slug == "-".join(["planning"] * 7)
    assert slugify("x" * 100) == "x" * 64


def test_slugify_fallback() -> None:
    assert slugify("旅行", fallback="travel") == "travel"
    with pytest.raises(ValueError, match="not a valid skill name"):
        slugify("旅行", fallback="旅行")


@given(st.text())
def test_slugify_always_gives_a_valid_name(text: str) -> None:
    name = slugify(text)
    document = SkillDocument(name=name, description="ok", title="t")
    assert validate(render(document), folder_name=name) == []
