"""generalise(): concrete values become roles, ordinary words stay."""

from __future__ import annotations

import pytest

from memskill.generalise import as_title, generalise, is_travel_context, mask_personal, names_a_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("帮我规划成都5天的行程", "帮我规划目的地N天的行程"),
        ("清明节我打算去云南，帮我规划7天的行程。", "出行日期我打算去目的地，帮我规划N天的行程。"),
        ("国庆节去日本东京和大阪玩一周", "出行日期去目的地玩N周"),
        ("从北京出发去西安，3晚", "从出发地出发去目的地，N晚"),
        ("三天两夜的行程", "N天N夜的行程"),
        ("让李老师帮忙看看", "让老师帮忙看看"),
    ],
)
def test_chinese_values_become_roles(text: str, expected: str) -> None:
    assert generalise(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "出发前先帮我查一下天气和温度",
        "比起商场我更喜欢文化景点，博物馆、古迹都行",
        "我是那种不走回头路的特种兵",
        "我喜欢安静的地方",
        "节奏慢一点",
        "今天天气怎么样",
        "第一天去宽窄巷子",
        "兰州拉面好吃吗",
        "第三天不要去熊猫基地",
        "以后二房东转租的一律筛掉",  # jieba tags 二房东 (a sublessor) as a place
    ],
)
def test_ordinary_chinese_words_are_kept(text: str) -> None:
    assert generalise(text) == text


def test_money_collapses_into_one_budget_role() -> None:
    assert generalise("我打算五一去成都玩五天，预算5000元左右") == "我打算出行日期去目的地玩N天，预算"
    assert generalise("My budget is 3000 dollars") == "My budget"


def test_dates_depend_on_travel_context() -> None:
    assert "出行日期" in generalise("五一去杭州旅游")
    assert generalise("五一交报告") == "日期交报告"
    assert generalise("Submit the report on May 1st") == "Submit the report on the date"


def test_english_places_dates_and_durations() -> None:
    assert (
        generalise("Plan a 5-day trip to Paris for May 1st")
        == "Plan a N-day trip to the destination for the travel date"
    )
    assert generalise("I want to visit Kyoto and Osaka for 10 days") == (
        "I want to visit the destination for N days"
    )
    assert generalise("We fly from Boston to Tokyo next Friday") == (
        "We fly from the origin to the destination on the travel date"
    )
    # A day that only says which occasion reads as English.
    assert generalise("Plan next week's dinners") == "Plan the dinners"
    assert generalise("Prepare tomorrow's standup notes") == "Prepare the standup notes"
    assert generalise("Book a table for next Friday") == "Book a table for the date"
    assert generalise("We leave next Friday") == "We leave on the date"


def test_capitalised_words_are_places_only_in_a_travel_context() -> None:
    assert generalise("Write Python code in Java style") == "Write Python code in Java style"
    assert generalise("Book a hotel in Lyon") == "Book a hotel in the destination"


def test_contacts_and_people_become_placeholders() -> None:
    zh = generalise("帮我给王经理发邮件到wang@example.com，电话13812345678")
    assert zh == "帮我给经理发邮件到邮箱，电话电话号码"  # a name with a title keeps the title


def test_entities_are_replaced_whole_never_inside_another_word() -> None:
    assert generalise("武侯祠、杜甫草堂、金沙遗址都想去") == "武侯祠、杜甫草堂、金沙遗址都想去"
    assert generalise("波比跳做三组") == "波比跳做三组"
    assert generalise("我们部门的王经理") == "我们部门的经理"
    assert generalise("帮我规划成都5天的行程") == "帮我规划目的地N天的行程"
    assert generalise("刘总基本只看第一块") == "领导基本只看第一块"  # no "总基本只看第预算"
    assert generalise("我们一块去吃饭") == "我们一块去吃饭"
    assert generalise("人均两百块以内") == "人均预算以内"
    en = generalise("Call Mr. Smith at 555-123-4567 or see https://example.com/a")
    assert en == "Call the person at the phone number or see the URL"


def test_travel_context_detection() -> None:
    assert is_travel_context("帮我规划行程")
    assert is_travel_context("a weekend trip")
    assert not is_travel_context("fix this bug")


def test_empty_text_is_returned_unchanged() -> None:
    assert generalise("") == ""
    assert generalise("   ") == "   "


def test_a_weekday_with_a_day_number_is_a_date_and_with_a_clock_time_is_not() -> None:
    assert generalise("plan dinners for Sun 15th to Sat 21st") == "plan dinners for the date to the date"
    assert names_a_date("Sun 12 to Sat 18") and not names_a_date("Friday 3 pm")


def test_month_parts_and_day_ranges_are_dates() -> None:
    assert generalise("下个月初想去成都玩5天，4月1号到5号") == "出行日期想去目的地玩N天，出行日期"
    assert generalise("想四月中旬去大理待5天") == "想出行日期去目的地待N天"
    assert "周" not in generalise("打算下周五到周日去西安玩3天")


def test_a_place_inside_a_name_is_not_replaced() -> None:
    """金茂北京威斯汀大饭店 is a hotel: its 北京 is part of the name, not a destination to generalise
    (it came out as "金茂目的地威斯汀大饭店"); a place that starts a name is still replaced, as before."""
    text = "我知道两家，金茂北京威斯汀大饭店和北京昆仑饭店都还可以"
    assert generalise(text) == "我知道两家，金茂北京威斯汀大饭店和目的地都还可以"
    assert generalise("和小王去北京玩") == "和对方去目的地玩"


def test_a_masked_amount_keeps_the_line_break_after_it() -> None:
    assert (
        mask_personal("4. Total: $300\nNote: ask each parent") == "4. Total: [amount]\nNote: ask each parent"
    )
    assert mask_personal("合计：¥300\n备注：提前预约") == "合计：[金额]\n备注：提前预约"


def test_an_everyday_word_jieba_tags_as_a_place_stays_on_a_trip() -> None:
    """东西 ("things", a direction pair to jieba) in a trip's sentence is no destination; a place the
    sentence goes to still is."""
    assert generalise("我还想在景点周边找个餐馆吃点东西") == "我还想在景点周边找个餐馆吃点东西"
    assert generalise("去江南玩几天") == "去目的地玩几天"


def test_a_dish_jieba_reads_as_a_name_is_not_masked() -> None:
    """龙利鱼 and 罗非鱼 are tagged as people's names by jieba: an example of a recipe keeps them."""
    assert mask_personal("番茄龙利鱼：龙利鱼400克切块，罗非鱼也行。请王经理确认。") == (
        "番茄龙利鱼：龙利鱼400克切块，罗非鱼也行。请某经理确认。"
    )
    assert mask_personal("D2 周城扎染作坊体验") == "D2 周城扎染作坊体验"  # 周城 is a town, not a Mr Zhou
    # "戴帽子" (wear a hat) is tagged as a name that opens with the surname 戴
    assert mask_personal("员工没戴帽子，上岗必须戴帽子和口罩") == "员工没戴帽子，上岗必须戴帽子和口罩"


def test_a_title_drops_the_day_that_only_said_which_occasion() -> None:
    assert as_title(generalise("准备下周二部门季度复盘会的材料")) == "准备部门季度复盘会的材料"
    assert as_title(generalise("帮我规划五一的行程")) == "帮我规划行程"
    assert as_title(generalise("Book a table for next Friday")) == "Book a table"
    # Where the date is what the request is about, it stays.
    assert as_title(generalise("确认出行日期和天数")) == "确认出行日期和天数"


def test_a_common_word_jieba_tags_as_a_place_stays_outside_a_trip() -> None:
    """jieba tags 入门 as a place: "做个入门的训练计划" came out as "做个目的地的训练计划". Outside a trip a
    common two-character word is a place only where the sentence puts something there."""
    assert generalise("帮我做个入门的训练计划") == "帮我做个入门的训练计划"
    assert generalise("我在望京上班，帮我写个周报") == "我在目的地上班，帮我写个周报"
    assert generalise("帮我规划成都5天的行程") == "帮我规划目的地N天的行程"


def test_a_word_that_starts_like_a_duration_is_kept() -> None:
    """ "写一个周末读书会的通知" became "写N周末读书会的通知": 周末 (weekend), 周年 and 周边 are words."""
    assert generalise("帮我写一个周末读书会的群通知") == "帮我写一个周末读书会的群通知"
    assert generalise("三周年纪念活动") == "三周年纪念活动"
    assert generalise("规划一周的行程，两个周也行") == "规划N周的行程，N周也行"


def test_a_clock_time_without_am_or_pm_is_generalised() -> None:
    assert generalise("Make a restaurant reservation at morning 11:15") == (
        "Make a restaurant reservation at the time"
    )
    assert generalise("Meet at 10:30 in the lobby") == "Meet at the time in the lobby"
    assert generalise("The score was 2:1") == "The score was 2:1"


def test_a_range_of_days_is_one_date() -> None:
    assert generalise("17–19号西安以晴为主") == "日期目的地以晴为主"


def test_a_name_at_the_end_is_masked_and_a_well_known_word_tagged_as_one_is_not() -> None:
    assert generalise("写上工作交接给同事李明") == "写上工作交接给同事对方"
    assert generalise("孩子不爱吃胡萝卜") == "孩子不爱吃胡萝卜"  # jieba tags 胡萝卜 `nr`
    assert generalise("去杜甫草堂") == "去杜甫草堂"


def test_a_food_street_is_a_kind_of_place_not_a_destination() -> None:
    assert generalise("建设路美食街") == "建设路美食街"


def test_a_name_one_goes_to_is_a_place_not_a_person() -> None:
    # jieba tags 余杭 and 萧山 (districts of Hangzhou) as people's names.
    assert generalise("想去余杭那边") == "想去目的地那边"
    assert generalise("去萧山玩两天") == "去目的地玩N天"
    assert generalise("跟李明去吃饭") == "跟对方去吃饭"
    assert generalise("帮我给王芳写封邮件") == "帮我给对方写封邮件"
