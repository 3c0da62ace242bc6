"""What an answer is built from: its layout (one part per day, week or weekday, numbered or bulleted
points, sections, a table, code, a letter's paragraphs), a summary line first or a takeaway last, and
its named parts with what each held ("注意：…", "## Risks"). A skill turns the shape into a step
("按天分段（D1、D2…）") and each named part into one of its own, so the next answer has the shape the user
accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memskill.extract.prose import BULLET_MARK, CJK, CODE_BLOCK
from memskill.generalise import mask_personal
from memskill.text import content_tokens

MIN_STRUCTURED_LINES = 3
LEAD_IN_WORDS = 2
"""A first line of at most this many content words hands the answer over ("改好了：", "调整为：", "Here
is the revised draft:"); a longer one sums it up ("本周周报（林）：", "8周跑步入门计划（每周3次）：")."""

_DAY = re.compile(r"^\s*(?:[-*•#]+\s*)?(?:\*\*)?(?:D\d+|Day\s*\d+|第[一二三四五六七八九十\d]+天)", re.I)
_WEEKDAY = re.compile(
    r"^\s*(?:[-*•#]+\s*)?(?:\*\*)?(?:周[一二三四五六日天]|星期[一二三四五六日天]|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\b)",
    re.I,
)
_WEEK = re.compile(
    r"^\s*(?:[-*•#]+\s*)?(?:\*\*)?(?:第[一二三四五六七八九十\d]+(?:[–~-][\d一二三四五六七八九十]+)?周|Week\s*\d+)",
    re.I,
)
_NUMBERED = re.compile(r"^\s*\d+[.、)）]\s*\S")
_BULLET = re.compile(rf"^\s*{BULLET_MARK}\S")
_SECTION = re.compile(r"^\s*[一二三四五六七八九十]+、")
_HEADING = re.compile(
    r"^\s*(?:#{1,4}\s*(?P<md>[^#\n]{1,24})$|(?:[-*•]\s+)?\*\*(?P<bold>[^*\n]{1,16})\*\*|【(?P<bracket>[^】\n]{1,12})】|"
    r"(?P<label>[^\s:：|，,。.0-9*#·●▪■◆-][^:：|，,。.*]{0,3})[:：](?!//))"
)
_TABLE = re.compile(r"^\s*\|.*\|\s*$")
_LAYOUTS = (
    (_DAY, "按天分段（D1、D2…）", "one part per day (Day 1, Day 2…)"),
    (_WEEK, "按周分阶段（第1周、第2周…）", "one stage per week (Week 1, Week 2…)"),
    (_WEEKDAY, "按星期分段（周一、周二…）", "one part per weekday (Monday, Tuesday…)"),
    (_SECTION, "分节（一、二、…）", "numbered sections"),
    (_NUMBERED, "编号列出要点", "numbered points"),
    (_BULLET, "分点列出", "bulleted points"),
)
"""How an answer's lines are laid out, as (line pattern, name in Chinese, name in English)."""

_PARTS = (_DAY, _WEEK, _WEEKDAY, _NUMBERED, _BULLET, _SECTION, _TABLE)


def part_count(lines: Sequence[str]) -> int:
    """How many parts (days, points, table rows) an answer's lines list: a revision with fewer repeats
    only the parts it changed."""
    return sum(1 for line in lines if any(p.match(line) for p in _PARTS))


def answer_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().split("\n") if line.strip()]


MAX_SECTIONS = 6
_POINT = re.compile(rf"^\s*(?:\d+[.、)）]|{BULLET_MARK}|[一二三四五六七八九十]+、)\s*")
_POINT_LABEL = re.compile(
    r"^(?:\*\*)?(?P<label>[^:：*\n]{1,24}?)(?:\*\*)?\s*[:：]|^(?P<whole>[^:：，,。.!?！？\n]{1,12})$"
)
_ASIDE = re.compile(r"\s*[(（][^)）]*[)）]\s*")


def _section_name(line: str, chinese: bool, nested: bool) -> str:
    """The name of the part of an answer a line opens, or "": a heading ("## Risks", "**Bug**", "主题："),
    a Chinese section numeral's title ("二、问题（附影响范围）"), and in an answer whose numbered points hold
    bulleted ones (`nested`), a point that opens with a label ("1. Theme: science lab", "2. Schedule:");
    the points of a flat list are its items ("1. 清蒸鲈鱼（25分钟）：…" names a dish, not a part). Asides in
    brackets are left out ("力量（每周2次）" is 力量); days and weeks are the answer's layout."""
    if any(p.match(line) for p in (_DAY, _WEEK, _WEEKDAY)):
        return ""
    if match := _HEADING.match(_ASIDE.sub("", line)):
        name = match.group("md") or match.group("bold") or match.group("bracket") or match.group("label")
        return name.strip(" *:：")
    point = _POINT.match(line)
    if point is None or not (nested or _SECTION.match(line)):
        return ""
    rest = _ASIDE.sub("", line[point.end() :]).strip()
    found = _POINT_LABEL.match(rest)
    if found is None:
        return ""
    whole = found.group("whole")
    if whole is not None and not _SECTION.match(line):
        return ""  # a short point ("- 上线两个新功能") is content; a numbered section's title names a part
    name = (found.group("label") or whole or "").strip(" *")
    words = len(name.split())
    return name if (len(name) <= 8 if chinese else 1 <= words <= 3) else ""


def _bare_heading(lines: Sequence[str], index: int, chinese: bool) -> str:
    """A line of a few words on its own, with no point mark or sentence mark, over a list of points
    ("Schedule" over "- 2:00 Arrival", "预算" over "1. 餐饮…"): the name of the part it heads, or ""."""
    line = lines[index].strip()
    following = lines[index + 1] if index + 1 < len(lines) else ""
    if not (_BULLET.match(following) or _NUMBERED.match(following)) or _POINT.match(line):
        return ""
    if re.search(r"[.。!！?？,，;；:：()（）\d]", line):
        return ""
    return line if (len(line) <= 6 if chinese else 1 <= len(line.split()) <= 3) else ""


def _headed(lines: Sequence[str], chinese: bool) -> list[tuple[int, str]]:
    """The lines that open a named part of the answer, as (index in `lines`, name): headings, labels,
    titled sections (`_section_name`, `_bare_heading`). A first line that is only a label ("改好了：",
    "Here you go:") introduces the answer and heads nothing; a name with a digit or of a person (the
    one addressed) is no part's."""
    start = 1 if lines and re.fullmatch(r"[^:：]{1,12}[:：]", lines[0].strip()) else 0
    nested = any(_NUMBERED.match(line) for line in lines) and any(_BULLET.match(line) for line in lines)
    found = []
    for index in range(start, len(lines)):
        if (
            _GREETING.match(lines[index].strip())
            or _HEADER.match(lines[index])
            or _SUBJECT.match(lines[index])
        ):
            continue  # "刘总：" greets, "收件人：" / "Cc:" address an e-mail, its subject is the shape's
        name = _section_name(lines[index], chinese, nested) or _bare_heading(lines, index, chinese)
        if name and not re.search(r"\d", name) and mask_personal(name) == name:
            found.append((index, name))
    return found


_HEADER = re.compile(r"^\s*(?:收件人|抄送|密送|发件人|to|cc|bcc|from)\s*[:：]", re.IGNORECASE)
"""An e-mail's header line."""


def named_parts(text: str) -> list[tuple[str, str]]:
    """The named parts of an answer with what the first of each held, as (name, gist) ("注意", "选缓震
    好的跑鞋，尽量在塑胶跑道上跑，膝盖有痛感就停。"): the rest of the heading's line, or the line under a
    heading that stands alone. A subject line is the shape's ("先写主题行"); a part with nothing after
    its name is left out; an answer of more than `MAX_PARTS` parts has none. Personal data masked."""
    lines = answer_lines(CODE_BLOCK.sub("", text))
    headed = _headed(lines, bool(CJK.search(text)))
    if len({name for _, name in headed}) > MAX_PARTS:
        return []  # many parallel parts ("蔬果区：…", "肉禽区：…") sort the content; the shape lists them
    found: dict[str, str] = {}
    for index, name in headed:
        if index == 0 and re.search(r"[:：]\s*$", lines[0]):
            continue  # a first line that ends in a colon sums up the answer ("下周晚餐（都不辣）：")
        if name in found or ":" in name or _SUBJECT.match(lines[index].strip()):
            continue
        line = _ASIDE.sub("", lines[index])
        colon = re.search(r"[:：]", line)
        rest = line[colon.end() :] if colon else ""
        if not rest.strip(" *") and index + 1 < len(lines):
            if any(p.match(lines[index + 1]) for p in (_DAY, _WEEK, _WEEKDAY, _TABLE)):
                continue  # a title over the plan's days ("初版行程：") names the whole answer
            rest = lines[index + 1]
        gist = _POINT.sub("", rest.strip(" *")).strip(" *")
        if len(content_tokens(gist)) >= 2:
            found[name] = mask_personal(gist)
    return list(found.items())


MAX_PARTS = 3
"""An answer of at most this many named parts has them as steps of their own."""
_CLOSING = {True: "最后用一句话点出要点或提醒", False: "a one-sentence takeaway at the end"}
MIN_CLOSING_WORDS = 4


def _closes_with_takeaway(lines: Sequence[str]) -> bool:
    """Whether an answer laid out in parts (a table, code, listed points) ends with a sentence of prose
    after them ("December stands out; …", "全程不放辣，孩子吃可以少放盐。"): not a part, a label or a
    sign-off, but a sentence that sums up or warns."""
    if len(lines) < MIN_STRUCTURED_LINES + 1:
        return False
    last, before = lines[-1].strip(), lines[:-1]
    laid_out = any(_TABLE.match(line) or line.lstrip().startswith("```") for line in before) or (
        part_count(before) >= MIN_STRUCTURED_LINES - 1
    )
    prose = not (
        any(p.match(last) for p in _PARTS)
        or last.startswith(("```", "|", "#", "**"))
        or re.match(r"^[^，,。.]{1,12}[:：]", last)
    )
    return (
        laid_out
        and prose
        and len(content_tokens(last)) >= MIN_CLOSING_WORDS
        and bool(re.search(r"[。.!！]$", last))
    )


def structure(text: str) -> list[str]:
    """The parts an answer is built from, as short names in its language ("按天分段（D1、D2…）")."""
    lines = answer_lines(text)
    chinese = bool(CJK.search(text))
    parts: list[str] = []
    # Code is material: "try:", "body: PartialRefundIn," and "# app/routes.py" inside it head nothing.
    prose = answer_lines(CODE_BLOCK.sub("", text))
    headings = list(dict.fromkeys(name for _, name in _headed(prose, chinese)))[:MAX_SECTIONS]
    if headings:
        parts.append(("包含：" if chinese else "sections: ") + ("、" if chinese else ", ").join(headings))
    if (
        lines
        and re.search(r"[:：]$", lines[0])
        and len(lines[0]) <= 30
        and len(lines) >= MIN_STRUCTURED_LINES
        # "改好了：", "Here you go:" hand the answer over; a summary says what it holds ("本周周报（林）：").
        and len(content_tokens(lines[0])) > LEAD_IN_WORDS
    ):
        parts.insert(0, "先用一行总述" if chinese else "a one-line summary first")
    # The first layout that two or more lines follow (days before weeks before plain bullets).
    for pattern, zh, en in _LAYOUTS:
        periods = [line for line in lines if pattern.match(line)]
        if len(periods) >= 2:
            parts.append(zh if chinese else en)
            if pattern in (_DAY, _WEEK, _WEEKDAY):
                parts.extend(_period_parts(periods, pattern, chinese))
            break
    else:
        parts.extend(_letter(text, chinese))
    if CODE_BLOCK.search(text):
        parts.append("代码放在代码块里" if chinese else "code in a code block")
    rows = [line for line in lines if _TABLE.match(line)]
    if len(rows) >= 2:
        columns = [c.strip(" *") for c in rows[0].strip().strip("|").split("|")]
        named = [c for c in columns if c and not re.search(r"\d", c) and len(c) <= 16][:MAX_SECTIONS]
        if chinese:
            parts.append("用表格" + (f"（列：{'、'.join(named)}）" if named else ""))
        else:
            parts.append("a table" + (f" (columns: {', '.join(named)})" if named else ""))
    if _closes_with_takeaway(lines):
        parts.append(_CLOSING[chinese])
    opening = [line.strip() for line in lines if not _HEADER.match(line)][:3]
    if any(_SUBJECT.match(line) for line in opening[:1]):
        parts.insert(0, "先写主题行" if chinese else "a subject line first")
    if any(_BOLD_LINE.fullmatch(line) for line in opening):
        parts.insert(
            1 if parts and parts[0] in ("先写主题行", "a subject line first") else 0,
            "开头一行加粗的总结" if chinese else "a bold one-line summary at the top",
        )
    return parts


def table_columns(shape: Sequence[str]) -> frozenset[str]:
    """The column names of the table an accepted answer held, read from its `structure` ("用表格（列：
    条款、问题）", "a table (columns: Exercise, Sets)"), lower-cased; empty when it held none."""
    for part in shape:
        if found := _COLUMNS.search(part):
            return frozenset(c.strip().lower() for c in re.split(r"、|, ", found.group(1)) if c.strip())
    return frozenset()


_COLUMNS = re.compile(r"^(?:用表格（列：|a table \(columns: )(.+)[）)]$")


def unnamed_table(shape: Sequence[str]) -> bool:
    """Whether an accepted answer held a table whose columns have no names (a plate map's 1–12)."""
    return any(part in ("用表格", "a table") for part in shape)


_AMOUNT = re.compile(
    r"[×x*]?\s*\d+(?:\.\d+)?(?:\s*[–~/-]\s*\d+(?:\.\d+)?)?\s*"
    r"(?:分钟|小时|秒|次|组|个|人份|克|公里|km|min(?:utes?)?|reps?|sets?)?",
    re.I,
)


def _period_parts(periods: Sequence[str], pattern: re.Pattern[str], chinese: bool) -> list[str]:
    """What each day or week of a plan is made of, when the plan says it the same way in two or more of
    them: stops joined by "→" (a route in visiting order), or items joined by "+" in two of them or three
    in one (a session of warm-up + intervals + stretching, a meal of two dishes and a soup), shown by the
    fullest such part with its amounts left out."""
    found = []
    if sum("→" in line for line in periods) >= 2:
        found.append("每段的地点按先后用「→」连起来" if chinese else "stops in visiting order, joined by →")
    joined = [line for line in periods if line.count("+") + line.count("＋") >= 1]
    fullest = max(joined, key=lambda line: line.count("+") + line.count("＋"), default="")
    if len(joined) >= 2 or fullest.count("+") + fullest.count("＋") >= 2:
        labelled = re.match(r"^[^:：+＋]{1,12}[:：]", fullest)  # "周二/周四：", "Week 1-2:"
        body = fullest[labelled.end() :] if labelled else pattern.sub("", fullest, count=1)
        items = [re.split(r"[，,；;。]", _ASIDE.sub("", item))[0] for item in re.split(r"[+＋]", body)]
        items = [_AMOUNT.sub("", item).strip(" 、：:") for item in items]
        items = [item for item in items if item]
        if len(items) >= 2:
            found.append(
                ("每段由几部分组成，如：" if chinese else "each part combines, e.g. ") + " + ".join(items)
            )
    return found


MIN_PARAGRAPH_WORDS = 8
"""A block of prose with at least this many content words is a paragraph of the answer's body."""
_GREETING = re.compile(
    r"^(?:dear|hi|hello|hey)\b[^\n]{0,40}[,:]?$|^(?:尊敬的|亲爱的|各位)[^\n]{0,16}[：:，,]?$"
    r"|^[^\n]{1,8}(?:总|经理|老师|先生|女士|同学|们|好)[：:，,！!]?$",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^(?:best|kind|warm)?\s*(?:regards|wishes|best|thanks|thank you|sincerely|cheers|yours)"
    r"[^\n]{0,20}[,，]?$"
    r"|^(?:此致|祝好|顺祝|谢谢|敬礼|祝[^\n]{0,8}[！!]?$)",
    re.I,
)


def _letter(text: str, chinese: bool) -> list[str]:
    """The shape of an answer written as prose paragraphs (a letter, an e-mail, a statement): a greeting
    line, how many paragraphs, a sign-off; nothing for a single block of prose or an answer with code, a
    table or a list."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    laid_out = (_TABLE, *_PARTS)
    if any(
        block.startswith("```") or any(p.match(line) for line in answer_lines(block) for p in laid_out)
        for block in blocks
    ):
        return []  # code, a table or a list: the answer is laid out, not written as a letter
    body = [block for block in blocks if len(content_tokens(block)) >= MIN_PARAGRAPH_WORDS]
    if len(body) < 2:
        return []
    shape = []
    if _GREETING.match(blocks[0]) and blocks[0] not in body:
        shape.append("开头称呼" if chinese else "a greeting line")
    shape.append(f"正文{len(body)}段" if chinese else f"{len(body)} paragraphs")
    if _SIGN_OFF.match(blocks[-1].split("\n")[0].strip()) and blocks[-1] not in body:
        shape.append("结尾落款" if chinese else "a sign-off")
    return shape


_SUBJECT = re.compile(r"(?:subject|主题|邮件主题|标题)\s*[:：]\s*\S", re.I)
"""An e-mail's subject line, as the first line of an answer."""
_BOLD_LINE = re.compile(r"\*\*[^*\n]{4,200}\*\*[。.!！]?")
"""A line that is all bold: the summary an answer leads with."""
