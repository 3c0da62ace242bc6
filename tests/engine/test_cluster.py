"""Tests of the clustering stage: batch k-means, choice of k, incremental assignment."""

from __future__ import annotations

import numpy as np
import pytest

from memskill.cluster import ASSIGN_THRESHOLD, Assignment, assign, update_centroid
from memskill.kmeans import ClusterSettings, choose_k, cluster_texts, cluster_vectors
from memskill.providers.embedders import HashingEmbedder, normalise_rows


def blobs(centres: int, per_centre: int, spread: float = 0.08, dim: int = 64, seed: int = 3):
    """Unit vectors around `centres` random orthogonal directions, with their true labels."""
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.normal(size=(dim, centres)))[0].T
    labels = np.repeat(np.arange(centres), per_centre)
    points = directions[labels] + spread * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return normalise_rows(points[order]), labels[order]


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """True when two labelings group the items identically, whatever the label numbers."""
    pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    return len(pairs) == len(set(first.tolist())) == len(set(second.tolist()))


def test_labels_have_one_entry_per_row_and_cover_zero_to_k():
    vectors, _ = blobs(5, 20)
    labels = cluster_vectors(vectors, k=5)
    assert labels.shape == (100,)
    assert labels.dtype.kind == "i"
    assert sorted(set(labels.tolist())) == [0, 1, 2, 3, 4]


def test_same_seed_gives_the_same_labels():
    vectors = normalise_rows(np.random.default_rng(0).normal(size=(120, 32)))
    first = cluster_vectors(vectors, k=6, seed=7)
    second = cluster_vectors(vectors, k=6, seed=7)
    assert np.array_equal(first, second)
    assert choose_k(vectors, seed=7) == choose_k(vectors, seed=7)


@pytest.mark.parametrize("k", [1, 2, 7, 15])
def test_given_k_is_respected(k):
    vectors = normalise_rows(np.random.default_rng(1).normal(size=(60, 16)))
    labels = cluster_vectors(vectors, k=k)
    assert len(set(labels.tolist())) == k
    assert labels.min() == 0 and labels.max() == k - 1


def test_k_larger_than_the_number_of_rows_is_capped():
    vectors = normalise_rows(np.random.default_rng(2).normal(size=(4, 8)))
    assert sorted(cluster_vectors(vectors, k=10).tolist()) == [0, 1, 2, 3]


def test_empty_input_gives_no_labels():
    assert cluster_vectors(np.zeros((0, 8), dtype=np.float32)).shape == (0,)
    assert cluster_texts([], HashingEmbedder()) == []


@pytest.mark.parametrize(("centres", "per_centre"), [(3, 30), (8, 25), (20, 15)])
def test_separated_blobs_recover_k_and_labels(centres, per_centre):
    vectors, truth = blobs(centres, per_centre)
    assert choose_k(vectors) == centres
    labels = cluster_vectors(vectors)
    assert same_partition(labels, truth)


def test_unequal_blob_sizes_are_recovered():
    big, big_truth = blobs(2, 80, seed=5)
    small, small_truth = blobs(2, 10, seed=6)  # other random directions, nearly orthogonal in 64-d
    vectors = np.vstack([big, small])
    truth = np.concatenate([big_truth, small_truth + 2])
    labels = cluster_vectors(vectors)
    assert same_partition(labels, truth)


def test_choose_k_samples_large_inputs():
    vectors, _ = blobs(6, 200)
    settings = ClusterSettings(sample_size=300)
    assert choose_k(vectors, settings) == 6


def test_cluster_texts_groups_near_duplicates_with_the_hashing_embedder():
    texts = [
        "reset my password please",
        "please reset my password",
        "how do I reset my password",
        "帮我规划成都旅行行程",
        "帮我规划云南旅行行程",
        "帮我规划西安旅行行程",
    ]
    labels = cluster_texts(texts, HashingEmbedder(), k=2)
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4] == labels[5]
    assert labels[0] != labels[3]


def test_assign_opens_a_new_cluster_when_there_are_no_centroids():
    vector = normalise_rows(np.ones((1, 8)))[0]
    assert assign(vector, np.zeros((0, 8), dtype=np.float32)) == Assignment(None, 0.0)


def test_assign_picks_the_most_similar_centroid_above_the_threshold():
    centroids = np.eye(4, dtype=np.float32)
    vector = normalise_rows(np.array([[0.2, 0.9, 0.1, 0.0]]))[0]
    result = assign(vector, centroids)
    assert result.index == 1
    assert result.similarity == pytest.approx(float(vector[1]))


def test_assign_refuses_a_far_vector():
    centroids = np.eye(4, dtype=np.float32)[:2]
    far = normalise_rows(np.array([[0.1, 0.1, 1.0, 1.0]]))[0]
    result = assign(far, centroids)
    assert result.index is None
    assert 0.0 < result.similarity < ASSIGN_THRESHOLD


def test_assign_threshold_is_inclusive_and_overridable():
    centroids = np.eye(2, dtype=np.float32)
    vector = np.array([0.6, 0.8], dtype=np.float32)
    assert assign(vector, centroids, threshold=0.8).index == 1
    assert assign(vector, centroids, threshold=0.81).index is None


def test_update_centroid_is_a_normalised_running_mean():
    centroid = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    vector = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    updated = update_centroid(centroid, 3, vector)
    assert np.linalg.norm(updated) == pytest.approx(1.0, abs=1e-6)
    expected = np.array([3.0, 1.0, 0.0]) / np.sqrt(10.0)
    assert np.allclose(updated, expected, atol=1e-6)


def test_update_centroid_stays_normalised_over_many_updates():
    rng = np.random.default_rng(4)
    centroid = normalise_rows(rng.normal(size=(1, 16)))[0]
    for count in range(1, 200):
        centroid = update_centroid(centroid, count, normalise_rows(rng.normal(size=(1, 16)))[0])
        assert np.linalg.norm(centroid) == pytest.approx(1.0, abs=1e-5)


def test_update_centroid_of_an_empty_cluster_is_the_vector():
    vector = np.array([0.0, 1.0], dtype=np.float32)
    assert np.allclose(update_centroid(np.array([1.0, 0.0]), 0, vector), vector)


@pytest.mark.slow
def test_chinese_task_titles_of_the_same_kind_join_and_others_do_not():
    from memskill.providers.embedders import OfflineEmbedder

    embedder = OfflineEmbedder()
    chengdu, yunnan, leave_email = embedder.embed(
        ["帮我规划成都5天的旅行行程", "清明节去云南玩7天，帮我排一下行程", "帮我写一封请假邮件"]
    )
    joined = assign(yunnan, chengdu[None, :])
    assert joined.index == 0
    assert assign(leave_email, chengdu[None, :]).index is None
    # with both clusters open, each new title goes to its own kind
    centroids = np.stack([chengdu, leave_email])
    assert assign(yunnan, centroids).index == 0
    other_email = embedder.embed(["写一封邮件向经理请两天假"])[0]
    assert assign(other_email, centroids).index == 1


def _conversation(memory, user: str, conversation: str, turns: list[tuple[str, str]]) -> None:
    """The turns an hour apart (each its own task), then a thank-you that closes the last one."""
    chinese = any("\u4e00" <= c <= "\u9fff" for c in turns[0][0])
    thanks = ("好的，谢谢", "不客气") if chinese else ("thanks!", "Welcome!")
    for hour, (said, answer) in enumerate([*turns, thanks]):
        at = f"2026-06-0{1 + len(conversation)}T{10 + hour}:00:00+08:00"
        messages = [
            {"role": "user", "content": said, "chat_time": at},
            {"role": "assistant", "content": answer, "chat_time": at},
        ]
        memory.add_message(user_id=user, conversation_id=conversation, messages=messages, async_mode=False)


def _skills(memory, user: str) -> dict[str, list[str]]:
    """Each skill's name with the titles of the task records it was learned from."""
    from memskill.models import Scope

    return {
        s.current.name: [str(r.record["title"]) for r in memory.store.task_records(s.cluster_id)]
        for s in memory.store.list_skills(Scope(user))
    }


NOTICE = "\n".join(["各位家长好：", "**6月17日（周三）8:30** 在**东操场**开运动会。", "孩子穿校服和运动鞋。"])
FLATS = "\n".join(["两套：", "| 小区 | 租金 | 楼层 |", "|---|---|---|", "| 春波小区 | 3900 | 4/6 |"])


def test_conditions_after_a_request_name_no_kind_and_a_task_asked_again_joins_its_own_skill(memory) -> None:
    """ "帮我筛下房子吧。…地铁公交都行" is a flat search, not metro directions; "再写个家长群通知" (no request
    word, so it asks nothing new) after the flat search is the user's notices again, not a step of the
    search."""
    _conversation(
        memory,
        "u-teacher",
        "c1",
        [
            ("帮我写个家长群通知。下周三8:30开运动会，在东操场。开头就一句“各位家长好”。", NOTICE),
            ("最近要搬家，帮我筛下房子吧。通勤单程别超过40分钟，地铁公交都行，我不开车。不要一楼。", FLATS),
        ],
    )
    _conversation(
        memory,
        "u-teacher",
        "c2",
        [
            ("再帮我找找房子。老规矩：通勤40分钟以内、不要一楼。", FLATS),
            ("再写个家长群通知。老规矩：开头就“各位家长好”，时间地点加粗。这次是期末家长会。", NOTICE),
        ],
    )
    skills = _skills(memory, "u-teacher")
    assert not any(name.startswith("public-transport") for name in skills), skills
    [notices] = [titles for titles in skills.values() if any("通知" in t for t in titles)]
    assert len(notices) == 2 and all("通知" in title for title in notices), skills


def test_a_request_that_says_a_new_task_begins_does_not_go_on_with_the_last(memory) -> None:
    """ "Next thing: …" opens another task, however close its words are to the one before."""
    _conversation(
        memory,
        "u-support",
        "c1",
        [
            (
                "Can you draft a reply to the customer about the SMS outage refund? Keep it short.",
                "Hi Marta,\n\nSorry about the missed SMS reminders.\nWe refunded the month.\n\nBest,\nInes",
            ),
            (
                "Next thing: the notes on that SMS outage, turned into a timeline for the team.",
                "Timeline:\n- 08:02 SMS provider starts failing\n- 09:40 alert fires\n- 11:15 fixed",
            ),
        ],
    )
    skills = _skills(memory, "u-support")
    assert len(skills) == 2, skills


def test_a_request_of_no_known_kind_closer_to_another_task_does_not_go_on_with_the_last(memory) -> None:
    """ "再帮我出份练习" right after a health-check summary (cosine .41 to it) is the user's exercise sheets
    again (.59 to them): the conversation is evidence, a closer task of the user's is stronger."""
    from memskill.cluster import Chooser
    from memskill.models import Scope, TaskRecord
    from memskill.stores.base import ClusterRow, TaskRecordRow
    from memskill.vectors import record_dict

    def cluster(name: str, centroid: list[float]) -> ClusterRow:
        vector = np.array(centroid, dtype=np.float32)
        return ClusterRow(name, "u", None, None, name, vector, 1, None, 0, 0)

    report, sheets = cluster("reports", [1.0, 0.0, 0.0]), cluster("sheets", [0.0, 1.0, 0.0])

    def record(title: str, goal: str, request: str) -> TaskRecord:
        return TaskRecord(title, goal, (), (), (), (), "", "zh", (), requests=(request,))

    summary = record("整理体检报告", "帮我整理体检报告发家庭群", "整理体检报告")
    memory.store.add_task_record(TaskRecordRow("r1", "u", "reports", "c2", record_dict(summary), 1))
    again = record("再出份练习", "再帮我出份练习。", "出份练习")
    vector = np.array([0.41, 0.59, 0.0], dtype=np.float32)
    chooser = Chooser(memory.store, memory.embedder)
    assert chooser._continued(Scope("u"), "c2", again, [report, sheets], vector) is None
    near = np.array([0.45, 0.3, 0.0], dtype=np.float32)  # closer to the last task: it goes on
    continued = chooser._continued(Scope("u"), "c2", again, [report, sheets], near)
    assert continued is not None and continued.id == "reports"
    # "还有" + what it is about, with a request, is another task however close ("还有，…" goes on)
    menu = record("下周的菜单和备货单", "还有下周的菜单和备货单，帮我排一下。", "排一下下周的菜单和备货单")
    assert chooser._continued(Scope("u"), "c2", menu, [report, sheets], near) is None
    more = record("还有，再排一下", "还有，帮我再排一下。", "再排一下")
    assert chooser._continued(Scope("u"), "c2", more, [report, sheets], near) is not None


def test_a_task_said_to_be_done_as_before_joins_the_closest_of_the_users_tasks(memory) -> None:
    """ "rota time again, same as last time" is under the join threshold to the user's April rota (its
    names and dates differ) but says it recurs: it joins the closest cluster (.38 here), not a new one."""
    from memskill.cluster import ASSIGN_THRESHOLD, RECUR_COSINE, Chooser
    from memskill.models import Scope, TaskRecord
    from memskill.stores.base import ClusterRow

    class Fixed:
        def __init__(self, vector: list[float]) -> None:
            self.vector = np.array([vector], dtype=np.float32)

        def embed(self, texts: list[str]) -> np.ndarray:
            return self.vector

    for name, centroid in (("rota", [1.0, 0.0, 0.0]), ("sky", [0.0, 1.0, 0.0])):
        vector = np.array(centroid, dtype=np.float32)
        memory.store.save_cluster(ClusterRow(name, "u", None, None, name, vector, 1, None, 0, 0))
    near = [0.38, 0.1, float(np.sqrt(1 - 0.38**2 - 0.1**2))]
    assert RECUR_COSINE <= near[0] < ASSIGN_THRESHOLD
    chooser = Chooser(memory.store, Fixed(near))

    def chosen(goal: str) -> str:
        record = TaskRecord("Evening", goal, (), (), (), (), "", "en", ())
        return chooser.choose(Scope("u"), "may", record, goal, None).id

    assert chosen("evening! rota time again, w/c 11th may. same as last time, usual shifts") == "rota"
    assert chosen("按上次的来，这周的排班") == "rota"
    assert chosen("evening! rota for w/c 11th may, Tony's off") not in ("rota", "sky")
    far = Chooser(memory.store, Fixed([0.2, 0.1, float(np.sqrt(1 - 0.05))]))
    record = TaskRecord("Again", "same as last time please", (), (), (), (), "", "en", ())
    assert far.choose(Scope("u"), "may", record, "", None).id not in ("rota", "sky")


def test_a_task_whose_answer_is_a_table_of_other_columns_is_another_task(memory) -> None:
    """A contract review (条款 / 问题 / 风险等级 / 修改建议) and an evidence list (序号 / 证据名称 /
    页码) of one lawsuit are .50 alike in words: different deliverables, two skills. Very close texts (a
    menu and its stock order, .79) or the same tools still join; the same table joins at .3."""
    from dataclasses import replace

    from memskill.cluster import SAME_FORM_COSINE, Chooser
    from memskill.models import Scope, TaskRecord
    from memskill.stores.base import ClusterRow, TaskRecordRow
    from memskill.vectors import record_dict

    class Fixed:
        def __init__(self, vector: list[float]) -> None:
            self.vector = np.array([vector], dtype=np.float32)

        def embed(self, texts: list[str]) -> np.ndarray:
            return self.vector

    def record(title: str, columns: str, tools: tuple[str, ...] = ()) -> TaskRecord:
        shape = (f"用表格（列：{columns}）",) if columns else ()
        return TaskRecord(title, title, (), (), (), tools, "", "zh", (), requests=(title,), shape=shape)

    review = record("出一份合同审查意见", "条款、问题、风险等级、修改建议", ("search_law",))
    vector = np.array([1.0, 0.0], dtype=np.float32)
    memory.store.save_cluster(ClusterRow("reviews", "u", None, None, "审查意见", vector, 1, None, 0, 0))
    memory.store.add_task_record(TaskRecordRow("r1", "u", "reviews", "c1", record_dict(review), 1))

    def chosen(task: TaskRecord, cosine: float) -> str:
        chooser = Chooser(memory.store, Fixed([cosine, float(np.sqrt(1 - cosine**2))]))
        return chooser.choose(Scope("u"), "c2", task, task.title, None).id

    evidence = record("弄一下证据目录", "序号、证据名称、证据来源、证明目的、页码")
    assert chosen(evidence, 0.5) != "reviews"
    assert chosen(evidence, SAME_FORM_COSINE + 0.1) == "reviews"
    assert chosen(record("再审一份合同", "条款、问题、风险等级、修改建议、依据"), 0.5) == "reviews"
    assert chosen(record("再审一份合同", ""), 0.5) == "reviews"  # no table: its columns say nothing
    assert chosen(record("查一下法条", "序号、法条", ("search_law",)), 0.5) == "reviews"
    # the same table joins under the threshold (a risk assessment's columns again, .40), not far below
    again = record("下一份", "条款、问题、风险等级、修改建议")
    assert chosen(again, 0.4) == "reviews"
    assert chosen(again, 0.2) != "reviews"
    assert chosen(record("下一份", "条款、备注"), 0.4) != "reviews"  # 1 of 5 columns: under half
    # an answer in prose is another form than a table (a check-in guide and a price table, .43)
    guide = "写个入住指引"
    prose = TaskRecord(guide, guide, (), (), (), (), "", "zh", (), shape=("包含：停车、入住",))
    assert chosen(prose, 0.45) != "reviews"
    assert chosen(replace(prose, shape=()), 0.45) == "reviews"  # no answer yet: its form is unknown
    # a table whose columns have no names (a plate map's 1–12) has no columns to compare either
    grid = replace(prose, shape=("a bold one-line summary at the top", "用表格"))
    assert chosen(grid, 0.5) == "reviews"
