"""The paraphrase set and the calibrated relevance it measures: a question that asks for a stored memory
in other words clears the default floor, an unrelated question finds nothing."""

from __future__ import annotations

from collections import Counter

from memskill.bench import paraphrase
from memskill.engine import Memory
from memskill.retrieve import content_words


def test_the_set_is_split_by_topic_and_its_questions_use_other_words() -> None:
    pairs, unrelated = paraphrase.load()
    assert len(pairs) == 160 and len(unrelated) == 100
    assert Counter(p.language for p in pairs) == {"en": 80, "zh": 80}
    split_of: dict[str, set[str]] = {}
    for pair in pairs:
        split_of.setdefault(pair.topic, set()).add(pair.split)
        assert len(content_words(pair.memory) & content_words(pair.question)) <= 1, pair.id
    assert all(len(splits) == 1 for splits in split_of.values())
    assert Counter(next(iter(s)) for s in split_of.values()) == {"tune": 12, "test": 8}
    assert len({p.id for p in pairs} | {u.id for u in unrelated}) == 260


def test_paraphrased_questions_clear_the_default_floor_and_unrelated_ones_do_not(memory: Memory) -> None:
    pairs, unrelated = paraphrase.load()
    chosen = [p for p in pairs if p.split == "test" and p.topic in ("education", "tech-devices")]
    owner = paraphrase.plant(memory, "para", chosen)
    others = [u for u in unrelated if u.split == "test"][:20]
    measured = paraphrase.measure(memory, "para", owner, chosen, others)
    assert measured["paraphrased"] == 16 and measured["unrelated"] == 20
    # With word overlap alone (the score before calibration) 2 of these 16 cleared the floor.
    assert measured["recall_at_floor"] >= 0.5, measured
    assert measured["unrelated_empty_rate"] >= 0.8, measured
