"""Preferences and corrections from user messages (rule tables for Chinese and English)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from memskill.extract.prose import CJK as _CJK
from memskill.extract.prose import EN_LEADING_FILLER as _EN_LEADING_FILLER
from memskill.extract.prose import ZH_LEADING_FILLER as _ZH_LEADING_FILLER
from memskill.extract.prose import any_of as _any
from memskill.extract.prose import clean_en as _clean_en
from memskill.extract.prose import clean_zh as _clean_zh
from memskill.extract.prose import normalise_en as _normalise_en

PreferenceType = Literal["explicit_preference", "implicit_preference"]

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
    确实|尤其|其实|本来|一般|通常|严格|完全|坚决|绝对|一向|从来|根本|真心|由衷""")
    + "*"
)
_ZH_LEAD = r"(?:[^，,我你他她]{0,12}?(?=我))?(?:我们?)?"
_ZH_SUBJECT_NOUNS = _any(r"""住的地方|住处|行程|节奏|安排|回答|回复|答案|语气|格式|内容|篇幅|
    字数|长度|预算|住宿|酒店|餐厅|交通|路线|时间|风格|代码|注释|变量名|解释|说明|
    文案|标题|语言|输出|价格|座位|房间|景点|饮食|口味|步调""")
_ZH_NOT_AN_OBJECT = "太|很|有点|特别|非常|比较|挺|超|你|他|她|这|那|它"
"""Words that open a judgement of something other than a kind of thing ("觉得他很无聊", "觉得太累")."""
_ZH_RULES = (
    _rule("compare", r"^(?:比起|相比于?|相对于|与其)(.+?)[，,]?(?:我们?)?(?:还是|更|反而|会)+"
          + _any("喜欢|偏好|偏爱|爱|想|倾向于?|愿意|想要|选") + "(.+)$", 1),
    _rule("compare", r"^与其(.+?)[，,]?不如(.+)$", 1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + _any("不太|不怎么|不大|一点都不|一点也不|完全不|很不|并不|不")
          + _any("喜欢|爱|习惯|感冒") + "(.+)$", -1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}对(.{{1,15}}?){_ZH_ADVERBS}"
          + _any(r"""不感兴趣|没(?:有|什么|啥)?兴趣|无感|过敏|不耐受|反感|有(?:些|点)?抵触|
          有(?:心理)?阴影|有(?:\S{0,4})?恐惧|没(?:有)?好感""") + "$", -1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + _any(r"""讨厌|厌恶|反感|受不了|接受不了|忍受不了|忍不了|不想|不愿意?|不希望|
          害怕|怕|不能接受|吃不了|喝不了|吃不惯|不吃|不喝|不碰|排斥|对.{1,10}?过敏|
          鄙视|厌烦|嫌弃|反对|抵制|不赞成|不支持|抗拒|恐高|晕车|晕船|晕机|不考虑|不会考虑|
          不能吃|不能喝|不能碰|戒了|戒掉了|滴酒不沾|不沾""")
          + "(.*)$", -1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}(?:有|患有)?(?:严重的?|轻微的?|很严重的)?"
          + "(.{1,10}?)(?:过敏|不耐受|恐.?症)$", -1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}觉得(?!{_ZH_NOT_AN_OBJECT})(.{{2,15}}?)"
          + _any("太|很|特别|非常|有点|有些|比较|挺|超") + "?"
          + _any("无聊|枯燥|乏味|没意思|难受|不舒服|吓人|可怕|烦人|累人|恶心|压抑|吵|闷|没用|没效果|没帮助")
          + "(?:了)?$", -1),
    _rule("dislike", f"^{_ZH_LEAD}{_ZH_ADVERBS}(?:在|一)?(?!太|很|有点)(.{{2,12}}?)(?:的时候|时)?"
          + _any("会|就会|容易|总会|总是") + _any("很|特别|非常|有点|有些") + "?"
          + _any("不舒服|紧张|焦虑|头晕|难受|晕|害怕|不自在") + "$", -1),
    _rule("dislike", r"^(?!这|那|它|你)(.{2,15}?)我?(?:一点都|完全|根本|真的)?"
          + _any("不感兴趣|没(?:有|什么)?兴趣|不适合我|对我没(?:有|什么)?吸引力|不是我的菜") + "$", -1),
    _rule("dislike", f"^(?:我们?)?{_ZH_ADVERBS}(?:从来|从|绝|决)?不"
          + "(" + _any("走|坐|住|吃|喝|逛|排队|熬夜|赶|订|买") + ".+)$", -1),
    _rule("like", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + _any(r"""喜欢|偏好|偏爱|热爱|钟爱|喜爱|爱吃|爱喝|爱看|爱玩|爱去|倾向于?|中意|
          青睐|钟情于?|享受|最爱|只住|只吃|只喝|只坐|只用|只穿|只看|只买|只开|只玩|只听|
          只考虑|只选|只去|只养|只读|只喂|只喜欢|只能用|只能吃|只能喝|只能穿|只能住|
          热衷于?|着迷于|痴迷于?|迷恋|崇尚|推崇|提倡|主张|支持|信奉|看重|重视|在乎|在意|
          优先考虑|优先选择?|注重|讲究|更适合|最适合""")
          + "(.+)$", 1),
    _rule("like", f"^{_ZH_LEAD}{_ZH_ADVERBS}对(.{{1,15}}?){_ZH_ADVERBS}"
          + _any(r"""有(?:很强的?|强烈的?|明显的?|特别的?|一定的?|很大的?)?(?:偏好|偏爱|好感|兴趣)|
          感兴趣|情有独钟|着迷|痴迷|上瘾""") + "$", 1),
    _rule("like", f"^{_ZH_LEAD}{_ZH_ADVERBS}"
          + "(吃素|吃全素|吃纯素|吃清真|吃斋|是素食(?:者|主义者)|"
          + "(?:坚持|遵循|保持|采用|执行|在吃|只吃|吃)[^的]{1,8}饮食)", 1),
    _rule("like", f"^{_ZH_LEAD}{_ZH_ADVERBS}觉得(?!{_ZH_NOT_AN_OBJECT})(.{{2,15}}?)"
          + _any("很|特别|非常|比较|挺|超") + "?"
          + _any("有意思|有趣|好玩|放松|解压|治愈|舒服|享受") + "$", 1),
    _rule("like", r"^(?:我)?(?:在|通过|用|靠|跟着)(.{1,15}?)(?:的时候|时)?我?"
          + _any("学得|学习|记得|效果|工作|睡得|状态") + _any("最好|最快|最有效|最高效|最专注"), 1),
    _rule("like", r"^(?!这|那|它|你)(.{2,15}?)(?:最适合我|对我(?:最|更)有效|最能帮到我)$", 1),
    _rule("like", f"^{_ZH_LEAD}{_ZH_ADVERBS}只(?:在|去|从|到)(.{{1,12}}?)"
          + _any("买|吃|住|购物|用餐|吃饭|消费|看|玩|订") + "", 1),
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
        if last and match.end(last) < match.end():
            # the object comes before what is said of it ("我朋友花生过敏"): it may name someone else
            about_others = about_others or _ZH_OTHERS.search(match.group(last).replace("我们", ""))
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


_EN_SUBJECT = (
    r"^(?:my (?:wife|husband|partner|family) and )?(?:i|we)\s+"
    # "I have sensitive skin and avoid …": a short self-description joined to the preference
    r"(?:(?:have|am|get|suffer from|find)\s[^,;]{1,50}?\s(?:and|so)\s+(?:i\s+)?)?"
)
_EN_ADVERBS = (
    "(?:"
    + _any(r"""really|generally|usually|normally|typically|much|definitely|strongly|also|always|
    still|do|honestly|actually|personally|absolutely|kind of|sort of|tend to|totally|truly|
    mostly|mainly|particularly|especially|just|would|very much|much rather|greatly|strictly|
    completely|firmly|adamantly|entirely|deeply|wholeheartedly|categorically|genuinely|
    sincerely|simply|certainly|intensely|passionately|vehemently""")
    + r"\s+)*"
)
_EN_DEGREE = (
    "(?:"
    + _any("""too|very|really|extremely|quite|rather|so|incredibly|a bit|a little|somewhat|pretty|
    fairly|utterly|deeply|highly|easily|terribly|overly""")
    + r"\s+)*"
)
_EN_UNPLEASANT = _any("""boring|tedious|dull|disorienting|uncomfortable|distressing|overwhelming|
    annoying|unpleasant|stressful|exhausting|off-putting|unappealing|irritating|frustrating|scary|
    creepy|gross|unbearable|nauseating|repetitive|draining|tiresome|intimidating|disturbing|
    upsetting|triggering|unsettling|ineffective|unhelpful|useless|pointless|confusing|distracting|
    impractical""")
_EN_PLEASANT = _any("""relaxing|enjoyable|fun|fascinating|engaging|calming|soothing|satisfying|
    rewarding|inspiring|comforting|therapeutic|thrilling|exciting|energi[sz]ing|refreshing""")
_EN_STANDING = _any("""from now on|going forward|moving forward|in the future|in future|next time""")
_EN_RULES = (
    _rule("like", r"^my (?:absolute |all-time )?favou?rite \w+(?: \w+)? (?:is|are)\b(.+)$", 1),
    _rule("dislike", _EN_SUBJECT + _EN_ADVERBS + _any(rf"""hate|dislike|detest|loathe|cannot stand|
        can not stand|avoid|do not (?:really )?(?:like|enjoy|want|care for|eat|drink)|
        am not (?:a (?:big |huge )?fan of|into|keen on|comfortable with)|
        prefer not to|would rather not|never|despise|abhor|must avoid|
        steer clear of|cannot (?:eat|drink|have|tolerate|handle|stand|bear|consume|digest|wear|
        participate in|go near)|
        am (?:sensitive|allergic|intolerant|opposed|averse|resistant) to|am against|
        (?:try|tend|am trying|need|have|must|want|always) to (?:avoid|stay away from|steer clear of)|
        stay away from|refuse to|
        no longer (?:eat|drink|use|want|like|enjoy|wear|watch|buy|play|drive|fly|consume|care for)|
        am not interested in|am (?:uninterested|disinterested) in|
        have (?:no|little|zero) (?:interest|desire) in|
        do not (?:eat|drink|use|wear|watch|read|own|consume|buy|play|drive|fly|listen to|go to)|
        will (?:not|never) (?:consider|buy|eat|drink|use|wear|watch|go|stay|fly|book|choose|play|
        read|drive|own|touch|visit)|would never|
        am {_EN_DEGREE}(?:scared|afraid|terrified|frightened|wary|fearful|uncomfortable|
        squeamish) (?:of|with|about|around|when|in)|
        get {_EN_DEGREE}(?:uncomfortable|anxious|nervous|seasick|carsick|motion sick|airsick|
        claustrophobic|queasy)|
        have an? (?:[\w-]+ ){{0,3}}(?:dislike|aversion|objection|phobia|fear|allergy|intolerance|
        sensitivity|distaste|hatred|bias|antipathy|disdain) (?:to|for|of|toward|towards|against|with)|
        have an? (?:[\w-]+ ){{0,5}}(?:allergy|allergies|intolerance|phobia)|
        find it {_EN_DEGREE}(?:hard|difficult|{_EN_UNPLEASANT}) (?:to|when)""") + r"\b(.*)$", -1),
    _rule("dislike", _EN_SUBJECT + _EN_ADVERBS
          + rf"find (.+?) {_EN_DEGREE}(?:{_EN_UNPLEASANT}|too \w+)(?:\W|$)", -1),
    _rule("like", _EN_SUBJECT + _EN_ADVERBS + _any(rf"""prefer|like|love|enjoy|adore|favou?r|
        am fond of|am into|am a (?:big |huge )?fan of|am partial to|would rather|
        gravitate towards?|lean towards?|have (?:always )?(?:loved|liked|enjoyed|preferred)|
        am (?:passionate about|interested in|really into|obsessed with)|
        am an? (?:\w+ )?(?:enthusiast|lover)|am drawn to|
        (?:only|exclusively|solely|strictly) (?:eat|drink|buy|use|wear|read|watch|stay|fly|travel|listen|
        shop|want|enjoy|consider|dine|adopt|play|drive|choose|book|cook|feed|trust|stream|own|
        like|love|prefer|order|purchase|visit|follow|practi[cs]e|ride|rent|hire|go for|opt for|
        pick|select|support)|
        can only (?:eat|use|wear|have|drink|stay|tolerate)|
        (?:follow|adhere to|stick to|keep to|maintain|am on|observe) an? [\w\s-]{{1,30}}diet|
        keep kosher|eat (?:only )?(?:halal|kosher)|
        am (?:a )?(?:vegetarian|vegan|pescatarian|teetotal(?:l?er)?)|
        have an? (?:[\w-]+ ){{0,3}}(?:preference|fondness|love|passion|soft spot|penchant|liking|
        affinity|appreciation|weakness|taste) for|
        (?:learn|work|study|focus|sleep|think|concentrate|perform|function) best|
        prioriti[sz]e|value|appreciate|care (?:a lot |deeply |most )?about|swear by|believe in|
        advocate for|champion|
        am an? (?:[\w-]+ ){{0,2}}(?:advocate|supporter|proponent|champion|believer|devotee) (?:of|for|in)|
        am (?:fascinated by|keen on|big on|crazy about|mad about|hooked on|devoted to|
        committed to|dedicated to|a sucker for|all about)|
        find it {_EN_DEGREE}(?:{_EN_PLEASANT}) to""") + r"\b(.*)$", 1),
    _rule("like", _EN_SUBJECT + _EN_ADVERBS + rf"find (.+?) {_EN_DEGREE}(?:{_EN_PLEASANT})(?:\W|$)", 1),
    _rule("like", r"^(.{3,60}?) (?:works?|suits?|is|are) (?:best|better|ideal) for (?:me|us)\b", 1),
    _rule("dislike", r"^(.{3,60}?) (?:does|do) not (?:really |particularly )?(?:interest|appeal to|"
          r"excite|suit) (?:me|us)\b|^(.{3,60}?) (?:is|are) (?:just )?not (?:for me|my thing|"
          r"my cup of tea|my style)\b", -1),
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
    + _any(r"""(?<!even )if|suppose|supposing|imagine|assuming|in case|what if|let us say|let's say|unless|
    wish|pretend|for example|e\.g\.""")
    + r"\b"
)
_EN_POLITE_IF = re.compile(r"\bif (?:possible|you can|you could|you do not mind|that is ok)\b,?\s*")
_EN_BAD_OBJECT = re.compile(
    r"^\s*"
    + _any(r"""worry|know|understand|get it|mind|forget|bother|hesitate|be sorry|
    apologi[sz]e for that|be afraid|judge|laugh|tell me|give up|panic|here|now|there|
    it\b|that\b|this\b|these\b|those\b|your\b|you(?:\s+(?:so much|a lot|too|guys|all))?\s*$|the idea\b(?! of)|
    the (?:answer|first|second|last|response|one|help|effort|explanation|suggestions?|info|
    information|feedback|input|time|clarification|reply)\b|how you|what you|to know|to see|
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


_EN_CONDITION = re.compile(
    r"vegetarian|vegan|pescatarian|teetotal|diet\b|kosher|halal|allerg|intoleran|phobia|seasick|"
    r"carsick|airsick|motion sick|claustrophobic"
)
"""A diet or a condition stated alone ("I'm vegan", "I have a peanut allergy") is a whole preference."""
_EN_REASON_FIRST = re.compile(
    r"^(?:due to|because of|owing to|given|for|as an?|being an?|out of|with)\b[^,]{1,60},\s*(?=(?:i|we)\b)"
)
"""A leading reason ("Due to a knee injury, I avoid …") that the preference after it does not need."""
_EN_CLAUSE_BREAK = re.compile(
    r"\s+[—–-]+\s+|[—–]|;|(?:,\s*|\s+)(?=(?:so|but|and so|therefore|which is why)\s+(?:i|we)\b)"
    r"|,\s*(?=(?:and|while|whereas)\s+(?:i|we)\b)",
    re.IGNORECASE,
)
"""Where an English sentence holds a second statement: dashes, semicolons, ", so I", ", but I", …"""


def _en_hit(clause: str) -> _Hit | None:
    """The preference stated by one English clause, if any."""
    normal = _EN_POLITE_IF.sub("", _normalise_en(_EN_LEADING_FILLER.sub("", clause.strip())))
    normal = _EN_REASON_FIRST.sub("", _EN_LEADING_FILLER.sub("", normal).strip(" ,.!"))
    normal = re.sub(r"^(?:therefore|which is why|while|whereas)\s+", "", normal)
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
        condition = _EN_CONDITION.search(match.group(0))
        needs_object = rule.kind in {"like", "dislike", "prohibit", "wish"} and not condition
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
    return [part for part in _EN_CLAUSE_BREAK.split(sentence) if part.strip()]


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
