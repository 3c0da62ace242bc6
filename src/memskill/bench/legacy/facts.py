"""Facts about the user and the task's plans and constraints, in the third person."""

from __future__ import annotations

import re
from typing import Literal

from memskill.bench.legacy.preferences import _EN_HYPOTHETICAL, _EN_QUESTION, _ZH_HYPOTHETICAL, _ZH_QUESTION
from memskill.extract.prose import EN_LEADING_FILLER as _EN_LEADING_FILLER
from memskill.extract.prose import any_of as _any
from memskill.extract.prose import normalise_en as _normalise_en

# ================================================================ facts

FactType = Literal["LongTermMemory", "UserMemory"]
_ZH_USER_FACTS = (
    ("姓名", r"^我(?:叫|的名字是|名字叫)([\u4e00-\u9fffA-Za-z]{1,12})$"),
    ("年龄", r"^我(?:今年)?(?:已经)?(?:\d{1,3}|[一二三四五六七八九十]{1,3})岁"),
    ("工作", r"^我(?:现在|目前)?(?:在|于)(.{1,20}?)(?:工作|上班|任职|实习|做|当)"),
    ("学校", r"^我(?:现在|目前)?(?:在|于)(.{1,20}?)(?:读书|上学|读研|读博|念书|读大学)"),
    ("居住地", r"^我(?:现在|目前)?(?:住在|住|生活在|定居在?|常住)(.+)$"),
    ("家乡", r"^我(?:来自|老家是?|老家在|家乡是?|出生在|出生于)(.+)$"),
    ("过敏", r"^我对(.+?)过敏"),
    ("饮食", r"^我(?:是|吃)(?:素食者?|素|清真)"),
    ("婚姻与家庭", r"^我(?:已经)?(?:结婚|单身|离婚|怀孕|有(?:一个|两个|个|俩)?"
                   r"(?:孩子|儿子|女儿|宝宝))"),
    ("宠物", r"^我(?:家)?(?:有|养了?|养着)(?:一只|两只|只|条|一条)?.{0,4}?"
             r"(?:狗|猫|宠物|鹦鹉|兔子)"),
    ("技能", r"^我(?:擅长|精通|正在学|在学|会说|学过)(.+)$"),
    ("拥有", r"^我(?:有|买了)(?:一辆|辆|一台|台|一套|套|一个)(.+)$"),
    ("职业", r"^我(?:是|当)(?:一名|一个|一位|个|名)?"
             r"(?!那种|这种|不是|说|想|问|在|觉得|第一次|来|去)(.{1,12}?"
             + _any(r"""师|员|生|家|工|医生|老师|学生|工程师|经理|律师|护士|会计|博士|
             硕士|作家|记者|主播|老板|创业者|自由职业者|研究员|教授""") + ")$"),
    ("个人信息", r"^我的(.{1,8}?)(?:是|叫|在)(.+)$"),
)  # fmt: skip
_ZH_PLAN_FACTS = (
    ("出行人数", r"(?:我们|一共|总共|一行|一家)(?:一共|总共|一家)?"
                 r"(?:\d+|[一二两三四五六七八九十]{1,2})(?:个人|人|口)"),
    ("预算", r"预算(?:是|为|在|有|大概|大约|约|控制在|不超过|:|：)?\s*"
             r"(?:\d|[一二两三四五六七八九十]+[千万])"),
    ("计划", r"^(?:我们?|我和.{1,6}?)(?:打算|计划|准备|预计|将要?|想去|要去|会去|会在)(.+)$"),
    ("同行者", r"(?:带着?|和|跟)(?:老人|父母|爸妈|孩子|小孩|老婆|老公|女朋友|男朋友|朋友)一起"),
    ("已有安排", r"^(?:我们?)(?:已经)?(?:订了|定了|买了|住在)(.+)$"),
)  # fmt: skip
_EN_USER_FACTS = (
    ("Name", r"^(?:my name is|i am called|call me)\s+([a-z][\w' -]{0,30})$"),
    ("Age", r"^i am (\d{1,3})(?: years old| yo)?\b"),
    ("Work", r"^i (?:currently )?(?:work|am working) (?:as|at|for|in)\b(.+)$"),
    ("Home", r"^i (?:currently )?live (?:in|at|near|with|on)\b(.+)$"),
    ("Origin", r"^i am (?:originally )?(?:from|based in)\b(.+)$"),
    ("Allergy", r"^i am allergic to\b(.+)$"),
    ("Diet", r"^i am (?:a )?(?:vegetarian|vegan|pescatarian|lactose intolerant|"
             r"gluten intolerant)\b"),
    ("Family", r"^i (?:am married|am single|am divorced|am pregnant|"
               r"have (?:a|an|one|two|three|\d+) "
               + _any(r"""kids?|children|sons?|daughters?|wife|husband|partner|boyfriend|
               girlfriend|brothers?|sisters?|baby|toddler|family""") + r")\b"),
    ("Pets", r"^i have (?:a|an|one|two|three|\d+) (?:\w+ )?"
             r"(?:dogs?|cats?|pets?|puppy|kitten|parrot|rabbit)\b"),
    ("Health", r"^i have (?:a |an )?" + _any(r"""diabetes|asthma|allergies|allergy|back pain|
               bad knees|migraines|a heart condition|high blood pressure""") + r"\b"),
    ("Occupation", r"^i am (?:a|an) (?!bit\b|little\b|lot\b|fan\b|big fan\b|huge fan\b)"
                   r"([\w -]{2,40}?"
                   + _any(r"""er|or|ist|ian|ant|ent|eer|student|teacher|nurse|doctor|chef|designer|
                   manager|engineer|developer|scientist|analyst|lawyer|artist|writer|parent|
                   retiree|beginner|freelancer""") + r")\b"),
    ("Personal detail", r"^my (?!" + _any(r"""question|problem|issue|code|output|error|point|guess|
                        bad|understanding|goal|task|answer|request|apologies""")
                        + r")([a-z]+(?: [a-z]+)?) (?:is|are)\b(.+)$"),
)  # fmt: skip
_EN_PLAN_FACTS = (
    ("Plan", r"^(?:i|we) (?:am |are )?" + _any(r"""planning|plan|intend|intending|heading|
             am heading|are heading|am flying|are flying|am traveling|are traveling|
             am travelling|are travelling|am moving|are moving|
             (?:am|are) going to (?:visit|travel|go to|fly|stay|spend|move|attend|take)|
             will (?:visit|travel|go to|fly|stay|spend|move|attend|be traveling)""") + r"\b"),
    ("Group", r"^we are (?:\d+|two|three|four|five|six|seven|eight|a family of|a group of|a couple)"
              r"\b|\b(?:there are|there will be) (?:\d+|two|three|four|five|six) of us\b"),
    ("Budget", r"\b(?:the |my |our )?budget (?:is|of|will be|around|about|:)\s*(?:about |around )?"
               r"[$€£¥]?\d"),
    ("Time available", r"^(?:i|we) (?:only )?have (?:\d+|one|two|three|four|five|six|seven|a few) "
                       r"(?:days|nights|weeks|hours)\b"),
    ("Deadline", r"\b(?:the deadline is|it is due (?:on|by)|due date is)\b"),
)  # fmt: skip
_ACKNOWLEDGEMENT = re.compile(
    r"^(?:好的?|好吧|嗯+|谢谢|感谢|多谢|收到|明白了?|知道了|可以|行|ok|okay|thanks|thank you|"
    r"got it|great|cool|sure|nice|perfect|yes|no|yep|nope|alright)[\s!！。.,，~]*$",
    re.IGNORECASE,
)


def _zh_fact(unit: str) -> tuple[str, str, FactType] | None:
    if _ZH_QUESTION.search(unit) or _ZH_HYPOTHETICAL.search(unit) or _ACKNOWLEDGEMENT.match(unit):
        return None
    if re.match(r"^我(?:就)?是(?:那种|这种)", unit):
        return None  # a self-description: a preference, not a fact
    for key, pattern in _ZH_USER_FACTS:
        match = re.search(pattern, unit)
        if match:
            key = "用户的" + match.group(1) if key == "个人信息" else key
            return key, unit, "UserMemory"
    for key, pattern in _ZH_PLAN_FACTS:
        if re.search(pattern, unit):
            return key, unit, "LongTermMemory"
    return None


def _en_fact(unit: str) -> tuple[str, str, FactType] | None:
    normal = _normalise_en(_EN_LEADING_FILLER.sub("", unit.strip())).strip(" .!")
    if _EN_QUESTION.search(normal) or _EN_HYPOTHETICAL.search(normal):
        return None
    if _ACKNOWLEDGEMENT.match(normal) or len(normal.split()) > 40:
        return None
    for key, pattern in _EN_USER_FACTS:
        match = re.search(pattern, normal)
        if match:
            key = "The user's " + match.group(1) if key == "Personal detail" else key
            return key, unit, "UserMemory"
    for key, pattern in _EN_PLAN_FACTS:
        if re.search(pattern, normal):
            return key, unit, "LongTermMemory"
    return None
