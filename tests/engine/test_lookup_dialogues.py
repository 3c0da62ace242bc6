"""Skills from lookup and booking dialogues: the user picks values for one occasion, asks follow-up
questions about the answer and names places and restaurants. Written for these tests in the style of
CrossWOZ and SGD (not taken from either); each runs through a real `Memory` turn by turn."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from memskill.config import Settings
from memskill.demo import send
from memskill.engine import Memory
from memskill.extract.answers import clarifying_questions, reads_back
from memskill.extract.followups import asked_about
from memskill.generalise import generalise, names_a_name, names_a_value
from memskill.models import Message
from memskill.naming import name_skill
from memskill.providers.embedders import OfflineEmbedder
from memskill.skillfile import SkillDocument, parse
from memskill.tagger.sources import crosswoz

HOTEL = [
    {"role": "user", "content": "你好，帮我推荐一家评分4.5分以上的舒适型酒店吧。"},
    {"role": "assistant", "content": "推荐您入住北京云天酒店。"},
    {"role": "user", "content": "好的，它的地址是哪？"},
    {"role": "assistant", "content": "地址是北京西城区白广路二条甲3号。"},
    {"role": "user", "content": "这家酒店的电话是多少？"},
    {"role": "assistant", "content": "电话是010-63553377。"},
    {"role": "user", "content": "谢谢，再见！"},
]
TABLE = [
    {"role": "user", "content": "I want to book a table at a restaurant."},
    {"role": "assistant", "content": "Sure. Which city and which restaurant?"},
    {"role": "user", "content": "Sino in San Jose."},
    {"role": "assistant", "content": "What time would you like the table for?"},
    {"role": "user", "content": "Try for 12:45 please."},
    {"role": "assistant", "content": "Please confirm: a table for 2 at Sino in San Jose today at 12:45 pm."},
    {"role": "user", "content": "Make it for 4 people."},
    {"role": "assistant", "content": "Please confirm: a table for 4 at Sino in San Jose today at 12:45 pm."},
    {"role": "user", "content": "Yes, that works."},
    {"role": "assistant", "content": "Your table has been booked."},
    {"role": "user", "content": "What is their phone number?"},
    {"role": "assistant", "content": "Their phone number is 408-555-0134."},
    {"role": "user", "content": "Thanks, that's all."},
]


def only_skill(tmp_path: Path, embedder: OfflineEmbedder, messages: list[dict[str, str]]) -> SkillDocument:
    with Memory(tmp_path, settings=Settings(workers=0), embedder=embedder) as memory:
        for _ in send(memory, "u", "c", messages):
            pass
        [skill] = memory.get_skill(user_id="u")["skill_detail_list"]
    return parse(skill["skill_markdown"])


def test_follow_up_questions_stay_in_the_task_and_become_one_step(
    offline_embedder: OfflineEmbedder, tmp_path: Path
) -> None:
    """ "它的地址是哪" and "电话是多少" ask for more of the answer: one skill, whose procedure says to give
    both unasked, and whose example is the recommendation, not the phone number."""
    document = only_skill(tmp_path, offline_embedder, HOTEL)
    assert not document.name.startswith("task-")
    [step] = [s for s in document.procedure if s.startswith("回答时一并给出")]
    assert "地址" in step and "电话" in step
    assert document.examples and "云天酒店" in document.examples[0]
    assert not any("010" in example for example in document.examples)
    assert not any("地址" in p or "电话" in p for p in document.preferences), document.preferences


def test_values_picked_for_one_booking_are_not_preferences(
    offline_embedder: OfflineEmbedder, tmp_path: Path
) -> None:
    """The time, the party size and the restaurant answer the assistant's questions and confirmations:
    this occasion's values, not how the user wants tables booked; the name says the kind, not Sino."""
    document = only_skill(tmp_path, offline_embedder, TABLE)
    assert document.name == "restaurant-booking"
    assert "Sino" not in document.description and "San Jose" not in document.description
    items = [*document.preferences, *document.experience, *document.procedure]
    assert not any("12:45" in i or "4 people" in i or "Sino" in i for i in items), items
    assert any("phone number" in step for step in document.procedure), document.procedure
    assert document.examples and "booked" in document.examples[0]
    # Every round of questions is asked first, without its "Sure."; the read-back becomes a step.
    assert document.procedure[0] == (
        "First confirm with the user: Which city and which restaurant?; "
        "What time would you like the table for?"
    )
    assert "Read the details back and get the user's confirmation before acting" in document.procedure


def test_a_later_request_that_names_a_pick_is_no_step(
    offline_embedder: OfflineEmbedder, tmp_path: Path
) -> None:
    """ "Can you try Tuba?" answers "Any restaurant in mind?": this occasion's pick, asked as a request."""
    messages = [
        {"role": "user", "content": "I need a dinner table for two tonight at 7 pm."},
        {"role": "assistant", "content": "Which city? Any restaurant in mind?"},
        {"role": "user", "content": "Look in Oakland. Can you try Tuba?"},
        {"role": "assistant", "content": "Please confirm: a table for 2 at Tuba in Oakland tonight at 7 pm."},
        {"role": "user", "content": "Yes please."},
        {"role": "assistant", "content": "Your table at Tuba is booked."},
    ]
    document = only_skill(tmp_path, offline_embedder, messages)
    assert not any("Tuba" in step for step in document.procedure), document.procedure


def test_occasion_values_and_names() -> None:
    assert names_a_value("Try for 12:45") and names_a_value("Please do it for one in the afternoon")
    assert names_a_value("Find Bourbon Steak in San Jose") and names_a_value("从北京天伦王朝酒店出发")
    assert not names_a_value("力量训练在家做，不去健身房") and not names_a_value("不用胡萝卜")
    assert not names_a_value("Use CTEs, not nested subqueries")
    assert names_a_name("Look at Villa Romano in Napa") and not names_a_name("Review pull request #482")
    assert generalise("找一家人均消费100-150元的餐馆") == "找一家人均消费预算的餐馆"
    assert generalise("a budget of $100-200") == "a budget"


def test_what_a_follow_up_asks_about() -> None:
    assert asked_about("这家酒店是什么类型，电话多少啊", ["推荐一家酒店"]) == ["类型", "电话"]
    assert asked_about("那餐馆周边有酒店吗", ["推荐一家餐馆"]) == ["周边酒店"]
    # 麻烦 is courtesy, not what is asked about
    assert asked_about("麻烦你帮我查一下这个酒店是否提供停车位", ["推荐一家酒店"]) == ["停车位"]
    assert asked_about("What type of food do they serve and what's the address?", []) == [
        "type of food",
        "address",
    ]


def test_a_skill_of_no_known_kind_is_never_named_by_a_hash() -> None:
    chinese = name_skill(["帮我给这盆绿萝想个名字"], [], "zh")
    assert not chinese.name.startswith("task-") and chinese.name.endswith("-task")
    english = name_skill(["Look at Villa Romano in Napa"], [], "en")
    assert "villa" not in english.name and "romano" not in english.name


def test_a_question_about_a_named_place_is_a_question(tmp_path: Path) -> None:
    """CrossWOZ marks "北京天伦王朝酒店电话是多少" as informing the hotel's name and requesting its
    phone: the tagger learns it as a question, not as a limit of the task."""
    rows = [
        {
            "dialogue_id": "1",
            "turn": 0,
            "system_before": "",
            "utterance": "推荐一家评分4.5分以上的酒店。",
            "dialog_act": [["Inform", "酒店", "评分", "4.5分以上"], ["Request", "酒店", "名称", ""]],
        },
        {
            "dialogue_id": "1",
            "turn": 2,
            "system_before": "推荐北京天伦王朝酒店。",
            "utterance": "北京天伦王朝酒店电话是多少？",
            "dialog_act": [["Inform", "酒店", "名称", "北京天伦王朝酒店"], ["Request", "酒店", "电话", ""]],
        },
    ]
    path = tmp_path / "acts.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    assert [example.label for example in crosswoz(path)] == ["task_request", "question"]


def test_a_read_back_is_told_from_questions_that_confirm_things() -> None:
    assert reads_back("Please confirm: a table for 2 at Sino in San Jose today at 12:45 pm.")
    assert reads_back("帮您确认一下：明天下午三点，两位，对吗？")
    assert not reads_back("我先确认几件事：住宿订好了吗？还是按路线来定住哪一片？市内主要坐地铁还是打车？")
    assert not reads_back("What time would you like the table for?")
    assert reads_back("Confirming: I'm booking a table for 2 at 7 pm.")
    assert not reads_back("I have confirmed those reservations for you and you should be all set.")
    assert not reads_back("Your reservation is confirmed.")
    assert not reads_back(
        "本周周报（林）：\n- 登录模块重构完成，已提测\n- 与产品确认下期会员需求\n下周：跟进测试反馈"
    )


def test_a_question_to_ask_first_keeps_no_names_of_the_options_offered() -> None:
    messages = [
        Message(id="1", role="user", content="帮我找一家评分4.5分以上的酒店。"),
        Message(
            id="2",
            role="assistant",
            content="我知道两家，金茂北京威斯汀大饭店和北京昆仑饭店都还可以，你看选择哪个呢？",
        ),
        Message(id="3", role="user", content="那就第一家吧。"),
    ]
    assert clarifying_questions(messages) == ["我知道两家，你看选择哪个呢？"]
    # An alternative among this occasion's places is no question for the next trip.
    messages[1] = Message(
        id="2", role="assistant", content="住古城里、洱海边，还是喜洲这类村子？对住宿类型有偏好吗？"
    )
    assert clarifying_questions(messages) == ["对住宿类型有偏好吗？"]


def test_an_acknowledgement_before_a_question_is_left_out_whole() -> None:
    messages = [
        Message(id="1", role="user", content="I want to book a table."),
        Message(id="2", role="assistant", content="Sure thing, what are the specifics?"),
        Message(id="3", role="user", content="Four people at 7 pm."),
    ]
    assert clarifying_questions(messages) == ["What are the specifics?"]


def test_an_announcement_before_the_questions_is_left_out() -> None:
    """ "A few questions first:" and "想先确认一下：" announce the questions; the step asks the questions."""
    for reply, asked in (
        (
            "Happy to help! A few questions first: what's your budget, and does she have a theme in mind?",
            ["What's your budget, and does she have a theme in mind?"],
        ),
        ("好的，想先确认一下：述职时长多少分钟？听众是谁？", ["述职时长多少分钟？", "听众是谁？"]),
    ):
        messages = [
            Message(id="1", role="user", content="Plan it for me."),
            Message(id="2", role="assistant", content=reply),
            Message(id="3", role="user", content="$300, dinosaurs."),
        ]
        assert clarifying_questions(messages) == asked


def test_an_offer_after_a_proposal_is_no_question_to_ask_first() -> None:
    """ "…建议你去海碗居尝尝吧，你感兴趣不？" and "Would you like to book it?" propose an answer; a question
    that asks for what the task needs is still asked first."""
    for offer in (
        "抱歉，景点周边的餐馆都没有樟茶鸭，建议你去海碗居北京菜尝尝吧，你感兴趣不？",
        "I found 3 places. Would you like to book a table at Sushi Zen?",
        "A table for 2 at Sushi Zen at 7 pm. Is that correct?",
        "Sorry, I couldn't book that either, what else can I do?",
    ):
        messages = [
            Message(id="1", role="user", content="找个吃饭的地方"),
            Message(id="2", role="assistant", content=offer),
            Message(id="3", role="user", content="好"),
        ]
        assert clarifying_questions(messages) == []
    messages = [
        Message(id="1", role="user", content="帮我订个酒店"),
        Message(id="2", role="assistant", content="住几晚？预算多少？"),
        Message(id="3", role="user", content="两晚，500以内"),
    ]
    assert clarifying_questions(messages) == ["住几晚？", "预算多少？"]


def test_an_english_question_asked_first_names_no_venue() -> None:
    """ "Which location of Bourbon Steak…?" asks, for the next booking, "Which location…?"; a day stays."""
    messages = [
        Message(id="1", role="user", content="Book a table at Bourbon Steak."),
        Message(id="2", role="assistant", content="Which location of Bourbon Steak? Is it for Friday?"),
        Message(id="3", role="user", content="Santa Clara, yes."),
    ]
    assert clarifying_questions(messages) == ["Which location?", "Is it for Friday?"]


def test_a_request_that_points_back_at_the_task_asks_for_no_new_one() -> None:
    """ "Make it for the 14th" changes the booking at hand; "Book a table at …" may start another."""
    from memskill.extract.record import asks_for_a_task
    from memskill.models import TaskChunk

    def asks(text: str) -> bool:
        return asks_for_a_task(TaskChunk("c", "", (Message(role="user", content=text, id="m1"),), True))

    assert not asks("Can you try to book it for Luna Bistro?")
    assert not asks("Make it for the 14th of this month.")
    assert asks("Book a table at Luna Bistro.")


def test_an_answer_laid_out_in_lines_asks_nothing_first_whatever_it_holds() -> None:
    outline = "\n".join(f"**{n}. Slide {n} states its point.**\n- a bullet" for n in range(1, 8))
    messages = [
        Message(
            id="1", role="user", content="Another deck outline, please: two more engineers for payments."
        ),
        Message(id="2", role="assistant", content=outline + "\n**8. Summary**\n- Questions?"),
        Message(id="3", role="user", content="Don't finish on a summary slide, end with the ask."),
    ]
    assert clarifying_questions(messages) == []
    messages[1] = Message(id="2", role="assistant", content="How long is the slot, and who is in the room?")
    assert clarifying_questions(messages) == ["How long is the slot, and who is in the room?"]
