"""The word lists `generalise` reads: places jieba may miss (Chinese and English), words it tags as places
or people that are not, and common surnames. Plain data, kept apart from the rules that use it."""

from __future__ import annotations

import re


def any_of(alternatives: str) -> str:
    """A non-capturing group of `|`-separated alternatives; line breaks between them are ignored."""
    return "(?:" + re.sub(r"\s*\n\s*", "", alternatives.strip()) + ")"


ZH_PLACES = """
北京 上海 天津 重庆 成都 广州 深圳 杭州 南京 苏州 武汉 西安 长沙 郑州 青岛 厦门
昆明 大理 丽江 桂林 三亚 海口 拉萨 乌鲁木齐 哈尔滨 沈阳 大连 长春 济南 合肥 南昌
福州 贵阳 南宁 兰州 西宁 银川 呼和浩特 太原 石家庄 宁波 无锡 扬州 洛阳 敦煌 张家界
九寨沟 黄山 峨眉山 乐山 都江堰 西双版纳 香格里拉 喀什 珠海 汕头 泉州 香港 澳门 台北
四川 云南 贵州 广东 广西 福建 浙江 江苏 安徽 江西 湖南 湖北 河南 河北 山东 山西 陕西
甘肃 青海 宁夏 新疆 西藏 内蒙古 黑龙江 吉林 辽宁 海南 台湾 日本 韩国 泰国 越南 新加坡
马来西亚 印度尼西亚 菲律宾 美国 英国 法国 德国 意大利 西班牙 瑞士 荷兰 希腊 土耳其
埃及 澳大利亚 新西兰 加拿大 俄罗斯 冰岛 挪威 东京 大阪 京都 首尔 曼谷 清迈 巴厘岛
巴黎 伦敦 纽约 罗马 迪拜 悉尼
""".split()

# Words jieba tags as places or people although they are kinds of place or ordinary words.
NOT_CONCRETE = frozenset(
    """山区 古镇 古城 老城区 市区 郊区 城区 景区 海边 市中心 中华 华夏 南方 北方 东方
    西方 海外 国外 国内 当地 本地 外地 异地 全国 世界 天下 江湖 安静 文静 华为 高兴
    时尚 方便 常规 金色 白天 明白 平安 回头路 文化景点 天气 温度 目的地 出发地 对方
    熊猫 大熊猫 熊猫基地 美食街 小吃街 夜市 房东 二房东 大房东""".split()
)
# Words after a place that make it an adjective (兰州拉面 is a dish, not a trip to Lanzhou).
PLACE_ADJECTIVE_HEADS = tuple("菜 话 拉面 小面 烤鸭 方言 口音 料理 风味 火锅".split())
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡"
    "余杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范廖石贾韦夏付邹熊孟秦邱侯江尹薛闫段雷龙"
    "黎史陶贺毛郝顾龚邵万钱严覃武戴莫孔汤"
)
EN_PLACES = any_of(r"""
New York|San Francisco|Los Angeles|Las Vegas|Hong Kong|New Zealand|United States|
United Kingdom|South Korea|Kuala Lumpur|Rio de Janeiro|Buenos Aires|Cape Town|Mexico City|
Paris|London|Rome|Berlin|Madrid|Barcelona|Lisbon|Amsterdam|Vienna|Prague|Budapest|Athens|
Dublin|Edinburgh|Istanbul|Moscow|Dubai|Cairo|Tokyo|Kyoto|Osaka|Seoul|Beijing|Shanghai|
Chengdu|Chongqing|Guangzhou|Shenzhen|Hangzhou|Xi'an|Xian|Yunnan|Sichuan|Tibet|Taipei|Macau|
Singapore|Bangkok|Bali|Hanoi|Sydney|Melbourne|Toronto|Vancouver|Montreal|Chicago|Boston|
Seattle|Miami|Honolulu|Hawaii|Florida|California|Texas|Japan|China|Korea|Thailand|Vietnam|
Indonesia|Malaysia|Philippines|India|Nepal|France|Italy|Spain|Portugal|Germany|Greece|
Switzerland|Austria|Iceland|Norway|Sweden|Ireland|Scotland|England|Mexico|Canada|Brazil|
Peru|Argentina|Chile|Egypt|Morocco|Kenya|Australia|Turkey|Croatia""")
EN_NOT_PLACES = frozenset(
    """I The A An My Our Your This That It Python Java JavaScript Go Rust English Chinese
    French Spanish German Japanese Markdown JSON SQL Excel Word Google Apple Microsoft Amazon
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April
    May June July August September October November December Christmas Easter""".split()
)
