"""Extract: one task chunk → a task record, facts, preferences and tool lessons, without an LLM.

The approach is rule-based and deterministic:

- **Text units.** User messages are cleaned (code blocks, long quotations and material pasted
  after an instruction such as "Translate this:" are dropped), split into sentences
  (`split_sentences`) and, for Chinese, into clauses at commas; a clause opening with 比起 or 先
  joins the one after it.
- **Preferences** come only from user messages. Each clause meets blockers first (questions,
  hypotheticals, other people as the subject), then an ordered table of rules: comparisons
  (比起A更喜欢B), dislikes (不喜欢, I can't stand), likes (喜欢, I prefer), prohibitions (别, don't,
  skip the), standing instructions (以后, from now on), wishes (尽量, make sure to), procedures
  (出发前先…, 先…再…), requirements on a known subject (行程要紧凑, 节奏慢一点) and
  self-descriptions (我是那种…的人, I'm a night owl: implicit). A complaint ("太长了", "too long")
  makes the instruction after it a correction, or is one by itself when it is the whole message.
  The same format asked for twice gives an implicit preference. The topic comes from a keyword
  table, else from the clause's main noun.
- **Facts**: first-person statements about the user (我住在, I work at, my X is) become
  `UserMemory`; plans and constraints of the task (我打算…, we are 3 people, the budget is …)
  become `LongTermMemory`, rewritten in the third person ("用户…", "The user …").
- **Tool lessons**: calls are joined to results by `tool_call_id`; a result that reads like an
  error marks the call failed; a failure followed by a success of the same tool with other
  arguments gives "what failed and what fixed it".
- **Task record**: title and goal from the first substantive request; steps from the user's
  requests and instructions in order; steps, preferences and corrections pass through
  `memskill.generalise`, so a skill built from them fits the next similar task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from memskill.generalise import generalise
from memskill.models import (
    Extraction,
    FactDraft,
    Message,
    PreferenceDraft,
    TaskChunk,
    TaskRecord,
    ToolLessonDraft,
    ToolUsage,
)

__all__ = [
    "build_task_record",
    "detect_language",
    "extract",
    "extract_facts",
    "extract_preferences",
    "extract_tool_lessons",
    "split_sentences",
]

PreferenceType = Literal["explicit_preference", "implicit_preference"]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _any(alternatives: str) -> str:
    """A non-capturing group of `|`-separated alternatives; line breaks between them are ignored."""
    return "(?:" + re.sub(r"\s*\n\s*", "", alternatives.strip()) + ")"


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ================================================================ language, sentences, cleaning


def detect_language(text: str) -> Literal["zh", "en"]:
    """ "zh" when Chinese characters make up a fair share of `text` (one ≈ one word), else "en"."""
    chinese = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if chinese and chinese >= 0.5 * latin_words else "en"


_SENTENCE_END = re.compile(
    r"(?<=[。！？!?；;…])[”’\"')）]*\s*"  # Chinese and shared terminators
    r"|(?<=[a-z0-9\)\]\"'][.])\s+(?=[A-Z\"“(\[0-9])"  # an English full stop before a capital
    r"|\n+"
)


_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|vs|etc|e\.g|i\.e|No)\.$")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, each keeping its final punctuation (。！？.!?; …)."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if sentences and _ABBREVIATION.search(sentences[-1]) and piece:
            sentences[-1] += " " + piece
        elif piece and re.search(r"[\w\u3400-\u9fff]", piece):
            sentences.append(piece)
        elif piece and sentences:
            sentences[-1] += piece
    return sentences


_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LONG_QUOTE = re.compile(r"[\"“「『][^\"”」』]{25,}[\"”」』]")
_MATERIAL_HEAD = re.compile(
    r"\b(make|rewrite|translate|correct|fix|summari[sz]e|simplify|explain|revise|paraphrase|"
    r"proofread|check|complete|convert|improve|comment|analy[sz]e|edit|answer|classify|continue|"
    r"read|review|following|below|text|sentence|paragraph|code|passage|question)\b"
    r"|改写|翻译|润色|总结|修改|解释|纠正|检查|分析|回答|下面|以下|这段|这句",
    re.IGNORECASE,
)
_CODE_LINE = re.compile(r"[{};=<>]|^\s*(def|class|import|from|#include|return|for|if|while)\b")


def _text_units(content: str) -> list[str]:
    """Sentences where the user speaks for themselves (code and pasted material dropped)."""
    text = _LONG_QUOTE.sub(" ", _CODE_BLOCK.sub(" ", content))
    colon = re.search(r"[:：]", text)
    if colon is not None:
        head, rest = text[: colon.start()], text[colon.end() :]
        if (len(head) <= 80 and _MATERIAL_HEAD.search(head)) or len(rest) > 200:
            text = head
    lines = [line for line in text.split("\n") if line.strip() and not _CODE_LINE.search(line)]
    sentences = split_sentences("\n".join(lines))
    if len(text) > 1000 and len(sentences) > 4:
        sentences = sentences[:2] + sentences[-2:]
    return sentences


_ZH_LEADING_FILLER = re.compile(
    "^"
    + _any(r"""那个|这个吧|嗯+|哦+|噢+|啊+|呃+|额+|好的?|对了|另外|还有|然后|其实|
    就是|而且|并且|但是|可是|不过|所以|因为|总之|顺便说一下|顺便|请你|请|
    麻烦你|麻烦|哈哈+|诶|欸""")
    + r"+[，,\s]*"
)
_ZH_HELP = re.compile(r"(?:请|麻烦)?你?(?:帮我|帮忙|给我|替我)(?!们)(?=[\u4e00-\u9fff])")
_ZH_TRAILING = re.compile(r"[吧啊呀哈哦嘛啦~～!！。.…\s]+$")
_EN_LEADING_FILLER = re.compile(
    "^(?:"
    + _any(r"""oh|ok|okay|also|and|but|so|well|hey|hi|actually|honestly|btw|by the way|anyway|
    just|please|pls|plz|again|yeah|yes|no|hmm+|um+|alright|sure|thanks|thank you|
    one more thing|oh and""")
    + r"\b[,!.]?\s*)+",
    re.IGNORECASE,
)
_EN_PLEASE = re.compile(r",?\s*\bplease\b,?", re.IGNORECASE)
_EN_CONTRACTIONS = (
    ("i'm", "i am"), ("i've", "i have"), ("i'd", "i would"), ("i'll", "i will"),
    ("we're", "we are"), ("we've", "we have"), ("we'd", "we would"), ("don't", "do not"),
    ("doesn't", "does not"), ("didn't", "did not"), ("can't", "cannot"), ("won't", "will not"),
    ("isn't", "is not"), ("wouldn't", "would not"), ("it's", "it is"), ("that's", "that is"),
)  # fmt: skip


def _clean_zh(clause: str) -> str:
    clause = _ZH_LEADING_FILLER.sub("", clause.strip())
    clause = re.sub(r"^你(?=别|不要|不用|不必|以后|下次|每次|尽量|最好|一定|记得|先)", "", clause)
    clause = _ZH_HELP.sub("", clause)
    return _ZH_TRAILING.sub("", clause).strip("，, ")


def _clean_en(clause: str) -> str:
    clause = _EN_LEADING_FILLER.sub("", clause.strip())
    clause = _EN_PLEASE.sub("", clause).strip()
    clause = re.sub(r"[\s,.!;:—–-]+$", "", clause)
    return clause[:1].upper() + clause[1:]


def _normalise_en(text: str) -> str:
    """Lower case with contractions expanded: the form English rules match on."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    for short, full in _EN_CONTRACTIONS:
        text = re.sub(rf"\b{re.escape(short)}\b", full, text)
    return text


# ================================================================ topics

_TOPICS = (
    ("length", "字以内 字数 篇幅 长度 太长 简短 简洁 啰嗦 短一点 字左右 "
               "words too_long verbose wordy concise brief shorter length sentence"),
    ("format", "格式 列表 表格 分点 要点 表情 markdown bullet table json heading emoji numbered"),
    ("tone", "语气 口吻 正式 随意 客气 夸 奉承 废话 praise flatter flattery compliment tone formal "
             "casual polite humor joke sarcasm sarcastic to_the_point apologize apologise apology"),
    ("language", "中文 英文 英语 日语 汉语 chinese english spanish french language translate"),
    ("schedule", "早上 上午 晚上 起床 起得 睡 早起 morning early wake sleep night_owl late_riser "
                 "schedule"),
    ("pace", "节奏 紧凑 悠闲 轻松 特种兵 回头路 行程 太累 太满 赶 pace relax relaxed packed rush "
             "rushed backtrack leisurely"),
    ("budget", "预算 价格 便宜 贵 省钱 花费 性价比 budget cheap expensive price cost afford"),
    ("food", "吃 喝 辣 菜 餐 美食 火锅 素食 海鲜 过敏 food eat meal spicy vegetarian vegan cuisine "
             "restaurant dish coffee diet allergic allergy allergies"),
    ("accommodation", "住 酒店 民宿 宾馆 房间 hotel hostel airbnb room accommodation stay"),
    ("transport", "飞机 航班 机票 高铁 火车 地铁 打车 开车 自驾 座位 靠窗 过道 交通 flight seat "
                  "train drive driving taxi bus transport transportation airline"),
    ("sightseeing", "景点 博物馆 古迹 商场 购物 小众 人少 网红 打卡 文化 自然 爬山 公园 museum "
                    "sightseeing sights attraction mall shopping hiking tourist crowd crowded "
                    "landmark off_the_beaten"),
    ("weather", "天气 温度 气温 下雨 weather temperature rain forecast"),
    ("code_style", "代码 注释 变量 函数 缩进 python code comment variable function type_hint "
                   "indent naming test"),
    ("entertainment", "电影 音乐 小说 游戏 综艺 movie film music book novel game show series "
                      "podcast"),
    ("fitness", "健身 运动 锻炼 跑步 workout exercise gym fitness running"),
)  # fmt: skip


def _keyword_pattern(keywords: str) -> re.Pattern[str]:
    parts = []
    for keyword in keywords.split():
        word = re.escape(keyword.replace("_", " "))
        parts.append(word if _CJK.search(keyword) else rf"\b{word}(?:s|es|ed|ing)?\b")
    return re.compile("|".join(parts))


_TOPIC_PATTERNS = tuple((topic, _keyword_pattern(keywords)) for topic, keywords in _TOPICS)
_EN_STOP = frozenset(
    """that this with from they them their have would could should prefer like love hate dislike
    avoid really always never please dont does make sure keep when where which about very much
    more less rather than just also into over only""".split()
)


def _topic(text: str) -> str:
    """A coarse subject for `text`: the first matching keyword row, else its main noun."""
    lowered = text.lower()
    for topic, pattern in _TOPIC_PATTERNS:
        if pattern.search(lowered):
            return topic
    if _CJK.search(text):
        import jieba
        import jieba.posseg

        jieba.setLogLevel(60)
        pairs = jieba.posseg.cut(text)
        nouns = [pair.word for pair in pairs if pair.flag.startswith("n") and len(pair.word) > 1]
        return nouns[-1] if nouns else "general"
    words = [w for w in re.findall(r"[a-z]+", lowered) if len(w) > 3 and w not in _EN_STOP]
    return words[-1] if words else "general"


# ================================================================ preference rules


@dataclass(frozen=True)
class _Rule:
    """One preference trigger: its family, pattern and what a match means."""

    kind: str
    """like, dislike, compare, prohibit, standing, wish, procedure, require, self or feedback."""
    pattern: re.Pattern[str]
    polarity: int
    preference_type: PreferenceType = "explicit_preference"


def _rule(kind: str, pattern: str, polarity: int, implicit: bool = False) -> _Rule:
    preference_type: PreferenceType = "implicit_preference" if implicit else "explicit_preference"
    return _Rule(kind, re.compile(pattern), polarity, preference_type)


@dataclass(frozen=True)
class _Hit:
    """A clause that states a preference, before it becomes a draft."""

    text: str
    polarity: int
    preference_type: PreferenceType
    kind: str


_ZH_ADVERBS = (
    _any(r"""很|非常|特别|比较|更|最|超|挺|蛮|还是|真的|实在|都|也|还|一直|向来|
    确实|尤其|其实|本来|一般|通常""")
    + "*"
)
_ZH_LEAD = r"(?:[^，,我你他她]{0,12}?(?=我))?(?:我们?)?"
_ZH_SUBJECT_NOUNS = _any(r"""住的地方|住处|行程|节奏|安排|回答|回复|答案|语气|格式|内容|篇幅|
    字数|长度|预算|住宿|酒店|餐厅|交通|路线|时间|风格|代码|注释|变量名|解释|说明|
    文案|标题|语言|输出|价格|座位|房间|景点|饮食|口味|步调""")
_ZH_RULES = (
    _rule("compare", r"^(?:比起|相比于?|相对于|与其)(.+?)[，,]?(?:我们?)?(?:还是|更|反而|会)+"
          + _any("喜欢|偏好|偏爱|爱|想|倾向于?|愿意|想要|选") + "(.+)$", 1),
    _rule("compare", r"^与其(.+?)[，,]?不如(.+)$", 1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + _any("不太|不怎么|不大|一点都不|一点也不|完全不|很不|并不|不")
          + _any("喜欢|爱|习惯|感冒") + "(.+)$", -1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + _any(r"""讨厌|厌恶|反感|受不了|接受不了|忍受不了|忍不了|不想|不愿意?|不希望|
          害怕|怕|不能接受|吃不了|喝不了|吃不惯|不吃|不喝|不碰|排斥|对.{1,10}?过敏""")
          + "(.*)$", -1),
    _rule("like", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + _any(r"""喜欢|偏好|偏爱|热爱|钟爱|喜爱|爱吃|爱喝|爱看|爱玩|爱去|倾向于?|中意|
          青睐|钟情于?|享受|最爱|只住|只吃|只喝|只坐""")
          + "(.+)$", 1),
    _rule("prohibit", r"^(?:我们?)?(?P<lead>[^，,你他她我]{0,8}?)"
          + _any("千万|一定|尽量|也|就|可以|最好|可") + "?"
          + _any("别再?|不要再?|不用再?|不必|无需|没必要|避免|避开|不许|禁止|不需要")
          + "(.+)$", -1),
    _rule("standing", "^" + _any(r"""以后都?|今后都?|往后|之后都|下次|下回|每次都?|每回|每一次|
          从现在开始|从现在起|从今以后|从今往后|一律|始终""") + "(.+)$", 0),
    _rule("wish", f"^(?:我们?)?{_ZH_ADVERBS}"
          + _any("希望|宁可|宁愿|更想|特别想|很想|一定要|千万要") + "(.+)$", 1),
    _rule("wish", "^" + _any("尽量|尽可能|务必|最好(?![的吃喝玩看])|必须|记得|一定得")
          + "(.+)$", 0),
    _rule("procedure", r"^(.{0,10}?)先(.+?)[，,]?" + _any("再|然后|之后|接着|最后") + "(.+)$", 0),
    _rule("procedure", r"^(.{0,8}?" + _any("前|之前|开始时|动身前|出门前") + ")先(.+)$", 0),
    _rule("require", f"^{_ZH_SUBJECT_NOUNS}(?:的?(?:话|方面))?"
          + _any("要|得|需要|必须|应该|尽量|最好|不能|控制在|保持|以") + "(.+)$", 0),
    _rule("require", f"^{_ZH_SUBJECT_NOUNS}?"
          + _any(r"""慢|快|短|长|简短|简洁|简单|详细|具体|轻松|紧凑|悠闲|便宜|实惠|正式|随意|
          口语化|通俗|专业|安静|热闹|少|多|早|晚|松|宽松""")
          + r"(?:一点|一些|点儿?|些)(?:就行|就好)?$", 0),
    _rule("self", r"^我(?:就)?是(?:那种|这种|属于|一个|个)?.{0,20}?"
          + _any(r"""的人|的类型|那种人|特种兵|吃货|夜猫子|宅男|宅女|社恐|路痴|懒人|急性子|
          慢性子|控|党"""), 0, implicit=True),
    _rule("self", r"^我(?:就)?是(?:那种|这种)(.+)$", 0, implicit=True),
    _rule("self", r"^我这(?:个)?人(.+)$", 0, implicit=True),
    _rule("self", "^我" + _any(r"""平时|平常|一般|通常|习惯|向来|从来|从不|很少|经常|总是|
          起得|起床|睡得|不太能|不能|天生|比较""") + "(.+)$", 0, implicit=True),
)  # fmt: skip

_ZH_QUESTION = re.compile(
    r"[?？]\s*$|[吗么呢]\s*$|(?:什么|哪)(?!\S{0,3}[都也])|几[个天点种位家次]|"
    + _any(r"""为什么|为啥|怎么|怎样|如何|多少|是否|有没有|能不能|可不可以|要不要|是不是|
    好不好|行不行|对不对|会不会""")
)
_ZH_HYPOTHETICAL = re.compile(r"如果|假如|假设|要是|万一|倘若|假使|的话|比如说")
_ZH_OTHERS = re.compile(
    _any(r"""朋友|老婆|老公|妻子|丈夫|太太|女朋友|男朋友|对象|妈妈|爸爸|母亲|父亲|父母|
    爷爷|奶奶|孩子|儿子|女儿|同事|老板|领导|室友|同学|客户|他们|她们|他|她|别人|有人|
    大家|很多人|一般人|你""")
)
_ZH_BAD_OBJECT = re.compile(
    "^"
    + _any(r"""了|这|那|它|你|忘|说|知道|管|理|谢|客气|担心|着急|急|紧|介意|麻烦|确定|
    理解|明白|保证|肯定|算了|好意思|清楚|记得""")
)
_ZH_FEEDBACK = re.compile(
    "^"
    + _any("这个?|那个?|回答|答案|内容|你的回答|你写的|写得|它|这样|感觉|还是|行程|安排|语气|价格")
    + "*"
    + _any("太|有点|有些|过于|略|实在太|真的太")
    + "("
    + _any(r"""长|短|啰嗦|啰唆|复杂|简单|正式|随意|多|少|慢|快|贵|累|满|赶|紧|难|专业|
    官方|生硬|笼统|空泛|绕|乱|水|敷衍|肤浅""")
    + ")(?:了|啦|吧)?$|^"
    + _any("不对|错了|不是这样|不是这个意思|这?不是我要的|没用|看不懂|不够(?:详细|具体|简洁|清楚)")
)
_ZH_FEEDBACK_SUBJECT = {"贵": "价格", "满": "行程", "赶": "行程", "累": "行程", "紧": "行程",
                        "正式": "语气", "随意": "语气", "生硬": "语气", "官方": "语气"}  # fmt: skip
_ZH_STANDING_PREFIX = re.compile(
    "^" + _any("以后都?|今后都?|往后|之后都|下次|下回|从现在开始|从现在起|从今以后|从今往后")
)
_ZH_CORRECTIVE = re.compile(r"别再|不要再|不用再|换成|改成|改为|重新|太")


def _zh_hit(clause: str) -> _Hit | None:
    """The preference stated by one cleaned Chinese clause, if any."""
    if len(clause) < 2 or _ZH_QUESTION.search(clause) or _ZH_HYPOTHETICAL.search(clause):
        return None
    for rule in _ZH_RULES:
        match = rule.pattern.search(clause)
        if match is None:
            continue
        last = match.lastindex or 0
        prefix = clause[: match.start(last)] if last else clause
        about_others = _ZH_OTHERS.search(prefix.replace("我们", ""))
        if rule.kind in {"like", "dislike", "wish", "self"} and about_others:
            return None
        if rule.kind not in {"self", "compare", "procedure"} and last:
            object_text = match.group(last).strip()
            if _ZH_BAD_OBJECT.match(object_text) or (not object_text and rule.kind != "dislike"):
                return None
        if rule.kind == "prohibit" and _ZH_OTHERS.search(match.group("lead") or ""):
            return None
        polarity = rule.polarity
        if rule.kind in {"standing", "self"} and re.search(r"不要|别|不用|避免|不|没|很少", clause):
            polarity = -1
        return _Hit(_zh_statement(clause, rule.kind), polarity, rule.preference_type, rule.kind)
    return None


def _zh_statement(clause: str, kind: str) -> str:
    """A standalone statement: standing markers dropped, a subject added to bare length rules."""
    text = clause
    if kind == "standing":
        text = re.sub(r"^都(?=\S{2})", "", _ZH_STANDING_PREFIX.sub("", clause))
    if re.match(r"^(?:控制|保持|限制|不超过|不要超过|精简|压缩)", text):
        text = "回答" + text
    return text


_EN_SUBJECT = r"^(?:my (?:wife|husband|partner|family) and )?(?:i|we)\s+"
_EN_ADVERBS = (
    "(?:"
    + _any(r"""really|generally|usually|normally|typically|much|definitely|strongly|also|always|
    still|do|honestly|actually|personally|absolutely|kind of|sort of|tend to|totally|truly|
    mostly|mainly|particularly|especially|just|would|very much|much rather|greatly""")
    + r"\s+)*"
)
_EN_STANDING = _any("""from now on|going forward|moving forward|in the future|in future|next time""")
_EN_RULES = (
    _rule("like", r"^my (?:absolute |all-time )?favou?rite \w+(?: \w+)? (?:is|are)\b(.+)$", 1),
    _rule("dislike", _EN_SUBJECT + _EN_ADVERBS + _any(r"""hate|dislike|detest|loathe|cannot stand|
        can not stand|avoid|do not (?:really )?(?:like|enjoy|want|care for|eat|drink)|
        am not (?:a (?:big |huge )?fan of|into|keen on|comfortable with)|
        have an? (?:strong |real )?aversion to|prefer not to|would rather not|never|
        steer clear of|cannot (?:eat|drink|have|tolerate|handle)|am sensitive to|
        am allergic to|(?:try|tend|am trying) to (?:avoid|stay away from)|stay away from|
        no longer|refuse to|am not interested in|do not (?:eat|drink|use|wear|watch|read|own)|
        find it (?:hard|difficult) to""") + r"\b(.*)$", -1),
    _rule("like", _EN_SUBJECT + _EN_ADVERBS + _any(r"""prefer|like|love|enjoy|adore|favou?r|
        am fond of|am into|am a (?:big |huge )?fan of|am partial to|would rather|
        gravitate towards?|lean towards?|have (?:always )?(?:loved|liked|enjoyed|preferred)|
        am (?:passionate about|interested in|really into|obsessed with)|
        am an? (?:\w+ )?(?:enthusiast|lover)|am drawn to|
        only (?:eat|drink|buy|use|wear|read|watch|stay|fly|travel|listen|shop)|
        can only (?:eat|use|wear|have)|follow an? [\w\s-]{1,30}diet|
        am (?:a )?(?:vegetarian|vegan|pescatarian)""") + r"\b(.*)$", 1),
    _rule("prohibit", r"^(?:do not|never|avoid|stop|quit|no need to|no more|skip|refrain from)"
          r"\b(.*)$", -1),
    _rule("standing", "^" + _any(rf"""{_EN_STANDING[3:-1]}|for future \w+|for all future \w+|
        always|whenever you \w+|every time you \w+|each time you \w+""") + r"\b,?(.+)$", 0),
    _rule("standing", r"^(.+?),?\s+" + _any(rf"""{_EN_STANDING[3:-1]}|
        for the rest of (?:our|this) conversation""") + "$", 0),
    _rule("wish", "^" + _any(r"""make sure (?:to|that|you)|be sure to|remember to|
        always remember to|keep in mind that|do not forget to""") + r"\b(.+)$", 0),
    _rule("require", "^" + _any(r"""keep (?:it|them|this|answers|responses|replies|things|
        your (?:answers|responses|replies))\s+(?:under|below|within|to|short|brief|concise|
        simple|shorter|tight|to the point)|(?:be|keep it) (?:more )?(?:brief|concise|short)""")
          + r"\b(.*)$", 0),
    _rule("self", _EN_SUBJECT + r"am (?:a |an )?(?:kind of |sort of |more of |really )?"
          + _any(r"""(?:the )?(?:kind|type|sort) of (?:person|traveler|traveller|guy|girl|eater|
          reader|customer)|(?:person|someone) who|night owl|early (?:bird|riser)|late riser|
          morning person|night person|light sleeper|heavy sleeper|picky eater|foodie|
          minimalist|introvert|extrovert|homebody|budget traveler|creature of habit""")
          + r"\b(.*)$", 0, implicit=True),
    _rule("self", _EN_SUBJECT + _any(r"""usually|generally|normally|typically|tend to|rarely|
          seldom|hardly ever|mostly""") + r"\b(.+)$", 0, implicit=True),
)  # fmt: skip

_EN_QUESTION = re.compile(
    r"\?\s*$|^"
    + _any(r"""do(?! not)|does(?! not)|did(?! not)|are|is|was|were|can|could|would|will|should|
    shall|may|might|what|which|who|whom|whose|how|why|where|when|have|has|am""")
    + r"\b"
)
_EN_HYPOTHETICAL = re.compile(
    r"\b"
    + _any(r"""if|suppose|supposing|imagine|assuming|in case|what if|let us say|let's say|unless|
    wish|pretend|for example|e\.g\.""")
    + r"\b"
)
_EN_POLITE_IF = re.compile(r"\bif (?:possible|you can|you could|you do not mind|that is ok)\b,?\s*")
_EN_BAD_OBJECT = re.compile(
    r"^\s*"
    + _any(r"""worry|know|understand|get it|mind|forget|bother|hesitate|be sorry|
    apologi[sz]e for that|be afraid|judge|laugh|tell me|give up|panic|here|now|there|
    it\b|that\b|this\b|these\b|those\b|your\b|
    the (?:idea|answer|first|second|last|response|one)|how you|what you|to know|to see|
    to ask|to hear|said|asked|mentioned|told|to\s*$|$""")
)
_EN_FEEDBACK = re.compile(
    r"^(?:(?:that|this|it|your (?:answer|response|reply)|the (?:answer|response|reply))"
    r"(?: is| was)? )?(?:way |much |far |a bit |a little |slightly |kind of |still )?too ("
    + _any(r"""long|short|verbose|wordy|formal|casual|informal|technical|vague|complicated|
    complex|detailed|much|brief|generic|robotic|stiff|dense|expensive|slow|fast|packed|rushed""")
    + r")\b|^(?:that is |this is )?not what i (?:asked|wanted|meant)|^(?:that is |this is )?wrong\b"
)
_EN_CORRECTIVE = re.compile(r"\b(?:skip|stop|no more|instead|again|less|more|shorter|longer|too)\b")
_EN_STANDING_WORDS = re.compile(
    rf"^{_EN_STANDING}\b,?\s*|,?\s*\b(?:{_EN_STANDING[3:-1]}|"
    r"for the rest of (?:our|this) conversation)\s*[.!]?$",
    re.IGNORECASE,
)


def _en_hit(clause: str) -> _Hit | None:
    """The preference stated by one English clause, if any."""
    normal = _EN_POLITE_IF.sub("", _normalise_en(_EN_LEADING_FILLER.sub("", clause.strip())))
    normal = _EN_LEADING_FILLER.sub("", normal).strip(" ,.!")
    if len(normal) < 4 or len(normal.split()) > 30:
        return None
    if _EN_QUESTION.search(normal) or _EN_HYPOTHETICAL.search(normal):
        return None
    for rule in _EN_RULES:
        match = rule.pattern.search(normal)
        if match is None:
            continue
        last = match.lastindex or 0
        object_text = match.group(last) if last else ""
        diet = re.search(r"vegetarian|vegan|pescatarian|diet|allergic", match.group(0))
        needs_object = rule.kind in {"like", "dislike", "prohibit", "wish"} and not diet
        if needs_object and _EN_BAD_OBJECT.match(object_text):
            return None
        if rule.kind == "like" and re.search(r"\bwould (?:like|love|enjoy)\b", normal[: match.end(last)]):
            return None
        polarity = rule.polarity
        if rule.kind == "like" and re.match(r"\s*(?:not\b|to not\b)", object_text):
            polarity = -1
        if rule.kind == "standing" and re.match(r"\s*(?:do not|never|avoid|stop|no)\b", object_text):
            polarity = -1
        return _Hit(_en_statement(clause, rule.kind), polarity, rule.preference_type, rule.kind)
    return None


def _en_statement(clause: str, kind: str) -> str:
    text = _EN_POLITE_IF.sub("", _clean_en(clause))
    if kind == "standing":
        text = _EN_STANDING_WORDS.sub("", _clean_en(text))
    return _clean_en(re.sub(r"^keep it\b", "Keep answers", _clean_en(text), flags=re.IGNORECASE))


def _zh_clauses(sentence: str) -> list[str]:
    """Clauses of a Chinese sentence; a 比起… or 先… clause joins the clause after it."""
    merged: list[str] = []
    for part in (part.strip() for part in re.split(r"[，,；;：:]", sentence) if part.strip()):
        stripped = _ZH_LEADING_FILLER.sub("", part)
        previous = _ZH_LEADING_FILLER.sub("", merged[-1]) if merged else ""
        comparison_open = re.match(r"^(?:比起|相比|相对于|与其)", previous) and not re.search(
            r"喜欢|偏好|更|不如", previous
        )
        sequence_open = "先" in previous and re.match(r"^(?:再|然后|之后|接着|最后)", stripped)
        if merged and (comparison_open or sequence_open):
            merged[-1] += "，" + part
        else:
            merged.append(part)
    return merged


def _clauses(sentence: str) -> list[str]:
    if _CJK.search(sentence):
        return _zh_clauses(sentence)
    return [part for part in re.split(r"\s+[—–-]+\s+|[—–]|;", sentence) if part.strip()]


def _clause_hit(clause: str) -> _Hit | None:
    return _zh_hit(_clean_zh(clause)) if _CJK.search(clause) else _en_hit(clause)


def _feedback(clause: str) -> str | None:
    """What a bare complaint asks for ("太长了" → "回答不要太长"); "" if vague, None if none."""
    if _CJK.search(clause):
        cleaned = _clean_zh(clause)
        match = _ZH_FEEDBACK.search(cleaned)
        if match is None:
            return None
        adjective = match.group(1)
        if adjective is None:
            return ""
        nouns = ("行程", "语气", "价格", "回答", "内容")
        subject = next((noun for noun in nouns if noun in cleaned), None)
        return f"{subject or _ZH_FEEDBACK_SUBJECT.get(adjective, '回答')}不要太{adjective}"
    english = _EN_FEEDBACK.search(_EN_LEADING_FILLER.sub("", _normalise_en(clause.strip())))
    if english is None:
        return None
    return f"Answers should not be too {english.group(1)}" if english.group(1) else ""


def _reacts_to_answer(messages: Sequence[Message], index: int) -> bool:
    """Whether the message at `index` follows an assistant reply (tool traffic skipped)."""
    for earlier in reversed(messages[:index]):
        if earlier.role == "tool" or (earlier.role == "assistant" and not earlier.content.strip()):
            continue
        return earlier.role == "assistant"
    return False


@dataclass(frozen=True)
class _Found:
    hit: _Hit
    is_correction: bool
    clause: str


def _message_preferences(message: Message, reacting: bool) -> list[_Found]:
    """Each preference of one user message, with whether it corrects an answer."""
    found: list[_Found] = []
    clauses = [clause for sentence in _text_units(message.content) for clause in _clauses(sentence)]
    complained = False
    for clause in clauses:
        hit = _clause_hit(clause)
        if hit is not None:
            corrective = _ZH_CORRECTIVE if _CJK.search(clause) else _EN_CORRECTIVE
            reacts = reacting and hit.kind not in {"like", "self"}
            correction = complained or (reacts and bool(corrective.search(clause.lower())))
            if complained and found and found[-1].hit.kind == "feedback":
                found.pop()  # the explicit instruction replaces the bare complaint
            found.append(_Found(hit, correction, clause))
            complained = False
            continue
        feedback = _feedback(clause)
        if feedback is not None:
            complained = True
            if feedback and (reacting or len(clauses) == 1):
                hit = _Hit(feedback, -1, "explicit_preference", "feedback")
                found.append(_Found(hit, True, clause))
        elif found and _CJK.search(clause) and _is_continuation(clause):
            extended = replace(found[-1].hit, text=found[-1].hit.text + "，" + _clean_zh(clause))
            found[-1] = replace(found[-1], hit=extended)
    return found


def _is_continuation(clause: str) -> bool:
    """A short clause without its own subject that extends the one before ("古迹都行", "人少的")."""
    cleaned = _clean_zh(clause)
    if not cleaned or len(cleaned) > 14 or _ZH_QUESTION.search(cleaned):
        return False
    if re.match(r"^(?:我|你|他|她|请|帮|给我|能|可以帮)", cleaned):
        return False
    return bool(re.search(r"都行|都可以|都好|也行|也可以|就行|为主|优先|的$|、", cleaned))


_FORMAT_REQUESTS = (
    (r"(?i)bullet(?:ed)? points?|bulleted list", "Prefers answers as bullet points", "format"),
    (r"(?i)\bin a table\b|\bas a table\b", "Prefers answers in a table", "format"),
    (r"分点|列表|列出要点|要点", "喜欢分点列出的回答", "format"),
    (r"表格", "喜欢用表格呈现的回答", "format"),
    (r"(?i)\bbriefly\b|\bin short\b|\bshort answer\b|\bone sentence\b", "Prefers brief answers",
     "length"),
    (r"简短|一句话|简单说", "喜欢简短的回答", "length"),
)  # fmt: skip


def _repeated_format_requests(
    users: Sequence[Message], explicit: Iterable[PreferenceDraft]
) -> list[PreferenceDraft]:
    """Implicit preferences from the same format asked for in two or more user messages."""
    stated = " ".join(draft.text for draft in explicit)
    drafts: list[PreferenceDraft] = []
    for pattern, text, topic in _FORMAT_REQUESTS:
        asking = [message for message in users if re.search(pattern, message.content)]
        if len(asking) >= 2 and not re.search(pattern, stated):
            drafts.append(PreferenceDraft(
                text=text, preference_type="implicit_preference",
                reasoning=f"asked for it in {len(asking)} messages", topic=topic, polarity=1,
                sources=tuple(message.id for message in asking),
            ))  # fmt: skip
    return drafts


_REASONS = {
    "compare": "compared two options and chose one",
    "dislike": "said they dislike or avoid it",
    "like": "said they like or prefer it",
    "prohibit": "asked not to do it",
    "standing": "gave a standing instruction",
    "wish": "asked for it to be done",
    "procedure": "asked for this order of steps",
    "require": "stated a requirement",
    "self": "described themselves",
    "feedback": "complained about an answer",
}


def extract_preferences(messages: Sequence[Message]) -> list[PreferenceDraft]:
    """Preferences stated in the user messages of `messages`; other roles only give context."""
    drafts: dict[str, PreferenceDraft] = {}
    for index, message in enumerate(messages):
        if message.role != "user" or not message.content.strip():
            continue
        for found in _message_preferences(message, _reacts_to_answer(messages, index)):
            key = re.sub(r"\W+", "", found.hit.text.lower())
            if not key:
                continue
            previous = drafts.get(key)
            if previous is not None:
                drafts[key] = replace(
                    previous,
                    sources=tuple(dict.fromkeys((*previous.sources, message.id))),
                    is_correction=previous.is_correction or found.is_correction,
                )
                continue
            drafts[key] = PreferenceDraft(
                text=found.hit.text,
                preference_type=found.hit.preference_type,
                reasoning=f'The user {_REASONS[found.hit.kind]}: "{_short(found.clause, 160)}"',
                topic=_topic(found.hit.text + " " + found.clause),
                polarity=found.hit.polarity,
                sources=(message.id,),
                is_correction=found.is_correction,
            )
    explicit = list(drafts.values())
    users = [message for message in messages if message.role == "user"]
    return explicit + _repeated_format_requests(users, explicit)


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
_EN_IRREGULAR = {"am": "is", "are": "is", "have": "has", "do": "does", "go": "goes"}
_EN_MODALS = frozenset("was will can would should could might must had did".split())


def _zh_fact_value(text: str) -> str:
    text = text.replace("我们", "用户一行").replace("我的", "用户的")
    text = re.sub(r"(?<![自忘本唯])我", "用户", text)
    return "用户的" + text if text.startswith("预算") else text


def _third_person(verb: str) -> str:
    if verb in _EN_IRREGULAR or verb in _EN_MODALS:
        return _EN_IRREGULAR.get(verb, verb)
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    return verb[:-1] + "ies" if re.search(r"[^aeiou]y$", verb) else verb + "s"


def _en_fact_value(sentence: str) -> str:
    """The statement about the user in the third person ("I live in Berlin" → "The user lives…")."""
    text = _clean_en(sentence)
    for short, full in _EN_CONTRACTIONS:
        text = re.sub(rf"\b{re.escape(short)}\b", full, text, flags=re.IGNORECASE)
    match = re.match(r"^(I|We)\s+((?:\w+ly\s+)*)(\w+)\b", text, flags=re.IGNORECASE)
    if match:
        subject = "The user" if match.group(1).lower() == "i" else "The user's group"
        verb = _third_person(match.group(3).lower())
        text = f"{subject} {match.group(2)}{verb}{text[match.end() :]}"
    text = re.sub(r"^(?:My|Our)\b", "The user's", text)
    text = re.sub(r"\b(?:my|our)\b", "their", text)
    text = re.sub(r"\b(?:I am|I)\b", "they", text)
    return text + ("" if text.endswith((".", "!")) else ".")


def _fact_units(content: str) -> list[str]:
    """Fact-bearing units of a user message; Chinese clauses carry the subject 我 forward."""
    units: list[str] = []
    for sentence in _text_units(content):
        if not _CJK.search(sentence):
            joiner = r",?\s+and\s+(?=(?:I|we|We|my|My|our|Our|the budget|The budget)\b)"
            units.extend(re.split(joiner, sentence))
            continue
        subject_is_user = False
        for clause in re.split(r"[，,；;]", sentence):
            cleaned = _clean_zh(clause)
            if cleaned.startswith("我"):
                subject_is_user = True
            elif subject_is_user and re.match(r"^(?:今年|在|住|来自|老家|有|是|叫|对.+过敏|养)", cleaned):
                cleaned = "我" + cleaned
            if cleaned:
                units.append(cleaned)
    return units


def _zh_fact(unit: str) -> tuple[str, str, FactType] | None:
    if _ZH_QUESTION.search(unit) or _ZH_HYPOTHETICAL.search(unit) or _ACKNOWLEDGEMENT.match(unit):
        return None
    if re.match(r"^我(?:就)?是(?:那种|这种)", unit):
        return None  # a self-description: a preference, not a fact
    statement = _ZH_TRAILING.sub("", unit)
    for key, pattern in _ZH_USER_FACTS:
        match = re.search(pattern, unit)
        if match:
            key = "用户的" + match.group(1) if key == "个人信息" else key
            return _short(key, 30), _zh_fact_value(statement), "UserMemory"
    for key, pattern in _ZH_PLAN_FACTS:
        if re.search(pattern, unit):
            return _short(f"{key}：{statement}", 30), _zh_fact_value(statement), "LongTermMemory"
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
            return _short(key, 30), _en_fact_value(unit), "UserMemory"
    for key, pattern in _EN_PLAN_FACTS:
        if re.search(pattern, normal):
            return _short(f"{key}: {_clean_en(unit)}", 30), _en_fact_value(unit), "LongTermMemory"
    return None


def extract_facts(messages: Sequence[Message]) -> list[FactDraft]:
    """Facts about the user (`UserMemory`) and the task (`LongTermMemory`) from user messages."""
    facts: dict[str, FactDraft] = {}
    for message in messages:
        if message.role != "user" or not message.content.strip():
            continue
        for unit in _fact_units(message.content):
            found = _zh_fact(unit) if _CJK.search(unit) else _en_fact(unit)
            if found is None:
                continue
            key, value, memory_type = found
            identity = re.sub(r"\W+", "", value.lower())
            previous = facts.get(identity)
            if previous is not None:
                sources = tuple(dict.fromkeys((*previous.sources, message.id)))
                facts[identity] = replace(previous, sources=sources)
                continue
            confidence = 0.9 if memory_type == "UserMemory" else 0.8
            facts[identity] = FactDraft(key, value, memory_type, (message.id,), confidence)
    return list(facts.values())


# ================================================================ tool lessons

_ERROR_WORDS = re.compile(
    r"\b"
    + _any(r"""error|errors|failed|failure|fail|exception|invalid|not found|timeout|timed out|
    unauthori[sz]ed|forbidden|denied|traceback|refused|unavailable|rate limit(?:ed)?|
    too many requests|bad request""")
    + r"\b|错误|失败|超时|异常|无效|未找到|找不到|不存在|拒绝访问|无权限",
    re.IGNORECASE,
)
_STATUS_CODE = re.compile(r"(?:^|\b(?:http|status|code|error)\D{0,12})\b(4\d\d|5\d\d)\b", re.I)
_ERROR_TYPES = (
    ("timeout", r"timeout|timed out|超时|\b504\b"),
    ("rate_limited", r"rate limit|too many requests|\b429\b"),
    ("unauthorized", r"unauthori[sz]ed|forbidden|denied|api key|\b40[13]\b|无权限|拒绝访问"),
    ("not_found", r"not found|no such|unknown|does not exist|\b404\b|未找到|找不到|不存在"),
    ("invalid_argument", r"invalid|bad request|missing|required|\b400\b|\b422\b|参数|无效"),
    ("server_error", r"\b50[0-3]\b|internal|unavailable"),
)


@dataclass(frozen=True)
class _Call:
    """One tool call joined with its result."""

    tool: str
    arguments: str
    result: str | None
    error: str | None
    """A short quotation of the error; None when the call succeeded or has no result."""
    message_ids: tuple[str, ...]


def _error_of(result: str) -> str | None:
    """A short description of the error when `result` reads like a failure, else None."""
    stripped = result.strip()
    try:
        parsed = json.loads(stripped) if stripped[:1] in "{[" else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "errors", "error_message", "exception"):
            value = parsed.get(key)
            if value:
                detail = value.get("message", value) if isinstance(value, dict) else value
                return _short(str(detail), 80)
        status = str(parsed.get("status", "")).lower()
        if parsed.get("success") is False or status in {"error", "failed", "fail"}:
            return _short(str(parsed.get("message") or parsed.get("msg") or "failed"), 80)
        return None
    if parsed is not None:
        return None
    head = stripped[:300]
    if _ERROR_WORDS.search(head) or _STATUS_CODE.search(head):
        return _short(head.splitlines()[0], 80)
    return None


def _error_type(error: str) -> str:
    return next((name for name, pattern in _ERROR_TYPES if re.search(pattern, error, re.I)), "error")


def _arguments(raw: str) -> dict[str, object] | None:
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _render_arguments(raw: str, only: Iterable[str] | None = None) -> str:
    parsed = _arguments(raw)
    if parsed is None:
        return _short(raw, 80)
    keys = list(only) if only is not None else list(parsed)
    rendered = ", ".join(f"{key}={json.dumps(parsed.get(key), ensure_ascii=False)}" for key in keys)
    return _short(rendered.replace('"', "'"), 100)


def _changed_keys(before: str, after: str) -> list[str] | None:
    first, second = _arguments(before), _arguments(after)
    if first is None or second is None:
        return None
    return [key for key in dict.fromkeys((*first, *second)) if first.get(key) != second.get(key)]


def _calls(messages: Sequence[Message]) -> list[_Call]:
    results = {m.tool_call_id: m for m in messages if m.role == "tool" and m.tool_call_id}
    calls: list[_Call] = []
    for message in messages:
        for call in message.tool_calls if message.role == "assistant" else ():
            answer = results.get(call.id)
            error = _error_of(answer.content) if answer is not None else None
            ids = tuple(i for i in (message.id, answer.id if answer else "") if i)
            result = answer.content if answer is not None else None
            calls.append(_Call(call.name, call.arguments, result, error, ids))
    return calls


def _lesson(tool: str, calls: list[_Call]) -> tuple[str, str]:
    """(experience, error type) for one tool's calls, in order."""
    answered = [call for call in calls if call.result is not None]
    failures = [call for call in answered if call.error is not None]
    if not answered:
        return f"{tool} was called {len(calls)} time(s) without a recorded result", ""
    if not failures:
        example = _render_arguments(answered[0].arguments)
        return f"{tool} succeeded ({len(answered)}/{len(answered)} calls), e.g. with {example}", ""
    failed = failures[0]
    error_type = _error_type(failures[-1].error or "")
    later = answered[answered.index(failed) + 1 :]
    fix = next((call for call in later if call.error is None), None)
    if fix is None:
        arguments = _render_arguments(failed.arguments)
        experience = f"{tool} failed {len(failures)} time(s) with '{failed.error}' for {arguments}"
        return experience + "; no call succeeded", error_type
    changed = _changed_keys(failed.arguments, fix.arguments)
    if not changed:
        return f"{tool} failed with '{failed.error}', then succeeded on a retry", error_type
    before = _render_arguments(failed.arguments, changed)
    after = _render_arguments(fix.arguments, changed)
    return f"{tool} failed with '{failed.error}' for {before}; succeeded with {after}", error_type


def _call_summary(call: _Call) -> str:
    if call.result is None:
        outcome = "no result"
    elif call.error is not None:
        outcome = f"error: {call.error}"
    else:
        outcome = re.sub(r"\s+", " ", call.result.strip())
    return _short(f"{call.tool}({_render_arguments(call.arguments)}) → {_short(outcome, 90)}", 200)


def extract_tool_lessons(messages: Sequence[Message]) -> list[ToolLessonDraft]:
    """One lesson per tool used in `messages`: how its calls fared and what fixed a failure."""
    by_tool: dict[str, list[_Call]] = {}
    for call in _calls(messages):
        by_tool.setdefault(call.tool, []).append(call)
    lessons: list[ToolLessonDraft] = []
    for tool, calls in by_tool.items():
        experience, error_type = _lesson(tool, calls)
        answered = [call for call in calls if call.result is not None]
        successes = sum(call.error is None for call in answered)
        rate = round(successes / len(answered), 3) if answered else 0.0
        usage = ToolUsage(tool, error_type, rate, experience)
        value = "; ".join(_call_summary(call) for call in calls[:5])
        sources = tuple(dict.fromkeys(source for call in calls for source in call.message_ids))
        lessons.append(ToolLessonDraft(tool, value, experience, usage, sources))
    return lessons


# ================================================================ task record

_ZH_REQUEST = re.compile(
    r"^(?:请|麻烦)|帮我|给我|替我|帮忙|^(?:能不能|可以|能否|能)帮"
    r"|^我(?:想|要|需要|打算)?" + _any("规划|安排|订|预订|查|找|了解|写|做|整理")
    + "|^" + _any(r"""规划|安排|推荐|查询?|查找|查看|预订|订|列出|列|写|整理|总结|翻译|生成|
    设计|制定|计算|比较|介绍|看看|找|做|给出|提供""")
)  # fmt: skip
_EN_REQUEST = re.compile(
    "^"
    + _any(r"""please |can you |could you |would you |will you |help me |i need you to |
    i want you to |i would like you to |let us |i need (?:a|an|some|to)\b|
    i want (?:a|an|some|to)\b|i would like (?:a|an|some|to)\b""")
    + "|^"
    + _any(r"""plan|book|find|search|look up|check|write|make|create|give|list|show|tell|explain|
    summari[sz]e|translate|recommend|suggest|compare|draft|generate|build|fix|convert|add|remove|
    update|calculate|estimate|design|organi[sz]e|prepare|send|schedule|arrange|rewrite|describe|
    help""")
    + r"\b"
)
_PROCEDURAL = re.compile(r"^先|^然后|^再|^最后|^接着|^(?:first|then|after that|finally|next)\b", re.I)
_ZH_STEP_VERBS = (("查一下", "查询"), ("查查", "查询"), ("看一下", "查看"), ("找一下", "查找"))
_STEP_KINDS = frozenset({"prohibit", "standing", "wish", "procedure", "require"})
_EN_ASKING = re.compile(
    r"^(?:can you|could you|would you|will you|i need you to|i want you to|i would like you to|"
    r"i'd like you to)\s+",
    re.IGNORECASE,
)


def _step_text(sentence: str) -> str:
    """A request as a short imperative step ("帮我查一下天气吗？" → "查询天气")."""
    if not _CJK.search(sentence):
        return _short(_clean_en(_EN_ASKING.sub("", _clean_en(sentence)).rstrip("?")), 120)
    text = re.sub(r"^(?:你|我想请你|我想让你|能不能|可以|能否|能)", "", _clean_zh(sentence))
    for spoken, written in _ZH_STEP_VERBS:
        text = text.replace(spoken, written)
    text = re.sub(r"(?<=[\u4e00-\u9fff])一下(?=[\u4e00-\u9fff])", "", text)
    return _short(re.sub(r"[?？吗呢]+$", "", text), 120)


def _is_step(clause: str) -> bool:
    if _CJK.search(clause):
        cleaned = _clean_zh(clause)
        request = bool(_ZH_REQUEST.search(cleaned)) and not _ZH_HYPOTHETICAL.search(cleaned)
    else:
        cleaned = _normalise_en(_clean_en(clause))
        request = bool(_EN_REQUEST.search(cleaned))
    if not cleaned or _ACKNOWLEDGEMENT.match(cleaned):
        return False
    return request or bool(_PROCEDURAL.search(cleaned))


def _user_steps(users: Sequence[Message]) -> list[str]:
    """The user's requests and instructions in order, generalised, without repeats."""
    steps: list[str] = []
    seen: set[str] = set()
    for message in users:
        for clause in (c for sentence in _text_units(message.content) for c in _clauses(sentence)):
            hit = _clause_hit(clause)
            if hit is not None and hit.kind in _STEP_KINDS:
                text = _step_text(hit.text)
            elif hit is None and _is_step(clause):
                text = _step_text(clause)
            else:
                continue
            step = generalise(text)
            key = re.sub(r"\W+", "", step.lower())
            if len(key) >= 2 and key not in seen:
                seen.add(key)
                steps.append(step)
    return steps[:12]


def _substantive(message: Message) -> bool:
    text = message.content.strip()
    greeting = re.match(r"^(?:你好|您好|hi|hello|hey|在吗)[\s!！。.,，~]*$", text, re.IGNORECASE)
    if not text or greeting or _ACKNOWLEDGEMENT.match(text):
        return False
    return len(_CJK.findall(text)) >= 4 or len(re.findall(r"[A-Za-z]+", text)) >= 3


def _title(goal: str, fallback: str) -> str:
    sentences = split_sentences(goal)
    if not sentences:
        return _short(fallback or "task", 40)
    first = sentences[0]
    text = _step_text(first) if _CJK.search(first) else _clean_en(first).rstrip("?")
    return _short(text or first, 40)


def _outcome(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == "assistant" and message.content.strip():
            sentences = split_sentences(_CODE_BLOCK.sub(" ", message.content))
            if sentences:
                return _short(sentences[0], 120)
    lessons = extract_tool_lessons(messages)
    if not lessons:
        return ""
    failed = [lesson.tool for lesson in lessons if lesson.usage.success_rate < 1.0]
    return f"tool calls ended with failures: {', '.join(failed)}" if failed else "tool calls succeeded"


def build_task_record(
    chunk: TaskChunk, preferences: Sequence[PreferenceDraft], facts: Sequence[FactDraft]
) -> TaskRecord:
    """What the chunk's task was, how the user wanted it done, and how it ended.

    `facts` stay out of the record on purpose: they are concrete, while a record feeds skills.
    """
    del facts
    users = [message for message in chunk.messages if message.role == "user"]
    first = next((m for m in users if _substantive(m)), users[0] if users else None)
    goal = _short(first.content, 500) if first is not None else chunk.title
    steps = _user_steps(users) or ([generalise(_step_text(goal))] if first is not None else [])
    tools = dict.fromkeys(
        call.name for message in chunk.messages if message.role == "assistant"
        for call in message.tool_calls
    )  # fmt: skip
    language = detect_language(" ".join(message.content for message in users) or chunk.title)
    return TaskRecord(
        title=_title(goal, chunk.title),
        goal=goal,
        steps=tuple(steps),
        corrections=tuple(
            dict.fromkeys(generalise(p.text, keep_amounts=True) for p in preferences if p.is_correction)
        ),
        preferences=tuple(dict.fromkeys(generalise(p.text, keep_amounts=True) for p in preferences)),
        tools=tuple(tools),
        outcome=_outcome(chunk.messages),
        language=language,
        sources=tuple(message.id for message in chunk.messages if message.id),
    )


def extract(chunk: TaskChunk) -> Extraction:
    """Everything one task chunk yields: its record, facts, preferences and tool lessons."""
    preferences = extract_preferences(chunk.messages)
    facts = extract_facts(chunk.messages)
    return Extraction(
        record=build_task_record(chunk, preferences, facts),
        facts=tuple(facts),
        preferences=tuple(preferences),
        tool_lessons=tuple(extract_tool_lessons(chunk.messages)),
    )
