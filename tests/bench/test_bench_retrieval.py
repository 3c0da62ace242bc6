"""The retrieval benchmark: its metrics, its BM25 baseline, memskill's word matching, a run on tiny data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from memskill.bench import madial as madial_bench
from memskill.bench import ranking
from memskill.bench import retrieval as bench
from memskill.bench.report import Result, table
from memskill.config import Settings
from memskill.consolidate import asks, dated_key, episode_parts
from memskill.engine import Memory
from memskill.errors import InvalidRequest
from memskill.providers.embedders import HashingEmbedder
from memskill.retrieve import content_words, coverage, stem, term_weights

# ---------------------------------------------------------------- metrics


def test_recall_counts_gold_items_among_the_first_k() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    assert ranking.recall_at_k(["a", "b", "c"], ranked, 1) == pytest.approx(1 / 3)
    assert ranking.recall_at_k(["a", "b", "c"], ranked, 3) == pytest.approx(2 / 3)
    assert ranking.recall_at_k(["a", "b", "c"], ranked, 5) == 1.0
    assert ranking.recall_at_k(["z"], ranked, 5) == 0.0
    assert ranking.recall_at_k([], ranked, 5) == 0.0
    assert ranking.recall_at_k(["a"], [], 5) == 0.0


def test_ndcg_is_one_for_an_ideal_ranking_and_discounts_late_hits() -> None:
    assert ranking.ndcg_at_k(["a", "b"], ["a", "b", "x"], 10) == 1.0
    assert ranking.ndcg_at_k(["a", "b"], ["b", "a"], 10) == 1.0
    # one hit at rank 2 of two gold items: (1/log2 3) / (1 + 1/log2 3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ranking.ndcg_at_k(["a", "b"], ["x", "a", "y"], 10) == pytest.approx(expected)
    # the ideal ranking is cut at k: five gold items, k = 2, both first two are hits
    assert ranking.ndcg_at_k(list("abcde"), ["a", "b", "x"], 2) == 1.0
    assert ranking.ndcg_at_k(["a"], ["x", "y", "a"], 2) == 0.0
    assert ranking.ndcg_at_k([], ["a"], 5) == 0.0


def test_ndcg_reproduces_the_published_definition_on_a_madial_row() -> None:
    relevant = [1, 78, 105, 113, 108]
    ranked = [1, 51, 46, 60, 67]  # one hit, first
    ideal = sum(1 / math.log2(r + 2) for r in range(5))
    got = ranking.ndcg_at_k([str(i) for i in relevant], [str(i) for i in ranked], 5)
    assert got == pytest.approx(1 / ideal)


# ---------------------------------------------------------------- BM25 and the mapping to turns


def test_bm25_ranks_the_matching_document_first() -> None:
    documents = [
        "we went hiking in the mountains last weekend",
        "my sister adopted a puppy from the shelter",
        "the weather was rainy all week",
    ]
    index = ranking.BM25([ranking.bm25_tokens(d) for d in documents])
    assert index.rank(ranking.bm25_tokens("who adopted a puppy?"))[0] == 1
    assert index.rank(ranking.bm25_tokens("mountains hiking"))[0] == 0
    scores = index.scores(ranking.bm25_tokens("unknownword"))
    assert list(scores) == [0.0, 0.0, 0.0]


def test_bm25_prefers_rare_terms_and_short_documents() -> None:
    documents = [["cat", "dog"], ["cat", "zebra"], ["cat", "dog", "cat", "dog", "cat", "dog", "zebra"]]
    index = ranking.BM25(documents)
    assert index.rank(["zebra"])[0] == 1  # same term count, shorter document
    scores = index.scores(["cat", "zebra"])
    assert scores[1] > scores[0]  # the rare term decides


def test_found_memories_become_turns_in_relativity_order_without_repeats() -> None:
    found: dict[str, Any] = {
        "memory_detail_list": [
            {"relativity": 0.9, "sources": ["m1", "m2"]},
            {"relativity": 0.5, "sources": ["m2", "m3", "unknown"]},
        ],
        "preference_detail_list": [{"relativity": 0.7, "sources": ["m4"]}],
    }
    mapping = {"m1": "D1:1", "m2": "D1:2", "m3": "D1:3", "m4": "D2:1"}
    assert ranking.ranked_sources(found, mapping) == ["D1:1", "D1:2", "D2:1", "D1:3"]


def test_malformed_evidence_ids_are_repaired_and_unknown_ones_dropped() -> None:
    known = {"D1:3", "D11:26", "D30:5", "D8:6", "D9:17"}
    assert bench._evidence(["D:11:26", "D30:05", "D1:3"], known) == ("D11:26", "D30:5", "D1:3")
    assert bench._evidence(["D8:6; D9:17"], known) == ("D8:6", "D9:17")
    assert bench._evidence(["D", "D4:36"], known) == ()


def test_a_madial_query_is_the_dialogue_before_the_test_turn() -> None:
    lines = ["<BOD>\n", '<Bart>: "Hi!"\n', '<Assistant>: "Hello."\n', '<Bart>: "Guess what?"\n', "<EOD>\n"]
    assert madial_bench.dialogue_query(lines, 3) == "Bart: Hi!\nAssistant: Hello."


# ---------------------------------------------------------------- memskill's word matching and episodes


def test_common_forms_of_a_word_share_a_stem() -> None:
    for forms in (
        ("paint", "paints", "painted", "painting"),
        ("plan", "plans", "planning"),
        ("party", "parties"),
    ):
        assert len({stem(word) for word in forms}) == 1, forms
    assert stem("class") == "class"
    assert stem("长颈鹿") == "长颈鹿"


def test_rare_query_words_weigh_more_in_coverage() -> None:
    documents = [content_words(t) for t in ("Caroline: hi", "Caroline: thanks", "Caroline: adoption day")]
    query = content_words("Caroline adoption")
    weights = term_weights(query, documents)
    assert weights[stem("adoption")] > weights[stem("caroline")] >= 0
    weighted = coverage(query, "Caroline: adoption day", weights)
    assert weighted == pytest.approx(1.0)
    assert coverage(query, "Caroline: hi", weights) < 0.5 == coverage(query, "Caroline: hi")


def test_episode_parts_keep_a_question_with_its_answer() -> None:
    assert episode_parts(["a", "b", "c", "d"], 3) == [[0, 1, 2], [3]]
    assert episode_parts(["a", "b", "what now?", "this", "e"], 3) == [[0, 1, 2, 3], [4]]
    long = "x" * 598
    assert episode_parts([long, "why?", "because"], 3) == [[0], [1, 2]]
    assert asks("Cool! What did it look like? [shares a photo: a dog]")
    assert asks("你去哪儿了？") and not asks("Yes.")


def test_dated_keys_name_the_day_in_the_memory_language() -> None:
    moment = 1683553000000  # 2023-05-08 13:36 UTC
    assert dated_key("Trip", moment, "en") == "Trip · 8 May 2023"
    assert dated_key("行程", moment, "zh") == "行程 · 2023年5月8日"
    assert dated_key("", moment, "en") == "8 May 2023"


def test_every_message_of_a_chat_is_in_exactly_one_small_dated_episode(tmp_path: Path) -> None:
    texts = [
        "Ann: I adopted a puppy named Biscuit yesterday!",
        "Ben: Congrats! What breed is Biscuit?",
        "Ann: A golden retriever, very fluffy.",
        "Ben: I started pottery classes last week.",
        "Ann: Nice, what did you make first?",
        "Ben: A wobbly bowl, but I love it.",
        "Ann: Send me a picture of it.",
    ]
    moment = 1683553000000
    messages = [{"role": "user", "content": t, "chat_time": moment + 1000 * n} for n, t in enumerate(texts)]
    with Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=HashingEmbedder()) as memory:
        memory.add_message(user_id="u", conversation_id="c", messages=messages, async_mode=False)
        episodes = [
            m
            for m in memory.get_memory(user_id="u", size=50)["memory_detail_list"]
            if "8 May 2023" in m["memory_key"]
        ]
        sent = [
            m["id"]
            for m in memory.get_message(user_id="u", conversation_id="c", message_limit_number=50)[
                "message_detail_list"
            ]
        ]
    cited = [source for episode in episodes for source in episode["sources"]]
    assert sorted(cited) == sorted(sent)  # every message once
    for episode in episodes:
        assert 1 <= len(episode["sources"]) <= 4
        assert "?" not in episode["memory_value"].rstrip()[-1:]  # a question is never left without its answer


# ---------------------------------------------------------------- a run on a tiny data folder


def write_data(root: Path) -> Path:
    turns_1 = [
        {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a puppy named Biscuit yesterday!"},
        {"speaker": "Ben", "dia_id": "D1:2", "text": "Congrats! What breed is Biscuit?"},
        {"speaker": "Ann", "dia_id": "D1:3", "text": "A golden retriever, very fluffy."},
    ]
    turns_2 = [
        {"speaker": "Ben", "dia_id": "D2:1", "text": "I started pottery classes last week."},
        {
            "speaker": "Ann",
            "dia_id": "D2:2",
            "text": "Nice, show me!",
            "blip_caption": "a photo of a clay bowl",
        },
    ]
    conversation = {
        "sample_id": "tiny-1",
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": turns_1,
            "session_2_date_time": "10:00 am on 20 May, 2023",
            "session_2": turns_2,
        },
        "qa": [
            {"question": "What did Ann adopt?", "answer": "a puppy", "evidence": ["D1:1"], "category": 4},
            {"question": "What breed is Biscuit?", "answer": "golden", "evidence": ["D1:3"], "category": 1},
            {"question": "When did Ben start pottery?", "answer": "May", "evidence": ["D2:1"], "category": 2},
            {
                "question": "What is Ann's cat called?",
                "adversarial_answer": "x",
                "evidence": [],
                "category": 5,
            },
        ],
    }
    (root / "locomo").mkdir(parents=True)
    (root / "locomo" / "locomo10.json").write_text(json.dumps([conversation]), encoding="utf-8")
    memories = {
        "en": [
            {
                "1": {
                    "time": "2023-12-25",
                    "scene": "Activity",
                    "emotion": "Happy",
                    "event": "Bart danced at the party.",
                }
            },
            {
                "3": {
                    "time": "2023-03-07",
                    "scene": "Activity",
                    "emotion": "Happy",
                    "event": "Bart won the race.",
                }
            },
        ],
        "zh": [
            {"1": {"time": "2023-12-25", "event": "Bart在圣诞节晚会上跳舞，感觉非常开心。", "user-id": 1}},
            {"3": {"time": "2023-03-07", "event": "Bart在运动会上赢得了一百米比赛。", "user-id": 1}},
        ],
    }
    dialogues = {
        "en": ['<Bart>: "I will dance at the party again!"\n', '<Assistant>: "You danced so well!"\n'],
        "zh": ['<Bart>:"我又要在晚会上跳舞了！"\n', '<Assistant>:"你上次跳得真好！"\n'],
    }
    for language, folder in (("en", "en"), ("zh", "ch")):
        target = root / "madial-bench" / "data" / folder
        target.mkdir(parents=True)
        lines = [json.dumps(row, ensure_ascii=False) for row in memories[language]]
        (target / f"MADial-Bench-{language}-memory.json").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )
        dialogue = {
            "dialogue": ["<BOD>\n", *dialogues[language], "<EOD>\n"],
            "test-turn": [2],
            "relevant-id": [1],
            "user-id": 1,
        }
        (target / f"MADial-Bench-{language}-dialogue.json").write_text(
            json.dumps(dialogue, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return root


def by_method(results: list[Result], dataset_prefix: str) -> dict[str, Result]:
    """The computed rows and targets of one data set by method (anchors may reuse a baseline's name)."""
    return {r.method: r for r in results if r.dataset.startswith(dataset_prefix) and r.kind != "anchor"}


def anchors(results: list[Result], dataset_prefix: str) -> set[str]:
    return {r.method for r in results if r.dataset.startswith(dataset_prefix) and r.kind == "anchor"}


def test_run_on_a_tiny_folder_reports_memskill_baselines_anchors_and_targets(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    calls: list[tuple[str, int, int]] = []
    results = bench.run(
        data, True, lambda label, done, total: calls.append((label, done, total)), HashingEmbedder()
    )
    locomo = by_method(results, "LoCoMo")
    assert set(locomo) == {"memskill", "BM25 over turns", "dense over turns", "target"}
    assert anchors(results, "LoCoMo") == {"DRAGON over turns", "BM25 over turns"}
    assert locomo["memskill"].kind == "ours" and locomo["BM25 over turns"].kind == "baseline"
    ours = locomo["memskill"]
    assert ours.extra["questions"] == 3  # category 5 and evidence-less questions are left out
    assert ours.extra["k counts"] == "turns"
    assert set(ours.metrics) == {"recall@5", "recall@10", "recall@25", "nDCG@10"}
    # three short sessions: every turn fits in the first 25, so recall@25 is complete
    assert ours.metrics["recall@25"] == 1.0
    assert locomo["BM25 over turns"].metrics["recall@5"] == 1.0
    assert ours.extra["category 4 single-hop"]["questions"] == 1
    assert ours.extra["dev (conversations 0-3)"]["questions"] == 3
    assert "held-out (conversations 4-9)" not in ours.extra
    for language in ("EN", "ZH"):
        madial = by_method(results, f"MADial-Bench {language}")
        assert {"memskill", "BM25 over memories", "dense over memories"} <= set(madial)
        assert anchors(results, f"MADial-Bench {language}") == {"OpenAI embeddings", "BGE-M3"}
        assert madial["memskill"].metrics[f"R@{madial_bench.MADIAL_K}"] == 1.0  # two memories, both within 5
        assert madial["memskill"].extra["dev (every 5th dialogue)"]["dialogues"] == 1
    assert "target" in by_method(results, "MADial-Bench ZH")
    assert calls and all(done <= total for _, done, total in calls)
    assert "retrieval — LoCoMo" in table(results)


def test_run_without_the_data_sets_says_where_to_point(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="--data"):
        bench.run(tmp_path, True, lambda label, done, total: None, HashingEmbedder())
