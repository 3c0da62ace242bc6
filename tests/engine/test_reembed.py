"""Re-embedding after the embedder changed: stale vectors are counted, skipped by search, then rebuilt."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from memskill.cli import main
from memskill.config import Endpoint, Settings
from memskill.engine import Memory
from memskill.models import Scope
from memskill.providers.embedders import HashingEmbedder, OpenAIEmbedder
from memskill.reembed import reembed, stale_counts
from memskill.skillfile import parse
from memskill.stores.sqlite import SQLiteStore
from memskill.testing import FakeOpenAI
from memskill.vectors import item_text, skill_vectors

DAY = 1_700_000_000_000


def _call(call_id: str, city: str) -> dict[str, object]:
    arguments = json.dumps({"city": city}, ensure_ascii=False)
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


CONVERSATIONS = {
    "trip": [
        {"role": "user", "content": "Plan a three day trip to Kyoto for me in April"},
        {"role": "assistant", "content": "Day one: Fushimi Inari early, then Gion in the evening."},
        {"role": "user", "content": "I prefer quiet temples and I never want early mornings"},
        {"role": "assistant", "content": "Then day one starts at ten with Honen-in, a quiet temple."},
        {"role": "user", "content": "Also add a rainy day plan with museums"},
        {"role": "assistant", "content": "On a rainy day: the Kyoto National Museum and the manga museum."},
    ],
    "email": [
        {"role": "user", "content": "Write an email to my manager asking for leave next Friday"},
        {"role": "assistant", "content": "Dear Anna, I would like to take next Friday off ..."},
        {"role": "user", "content": "Make it shorter and always sign it with my initials"},
        {"role": "assistant", "content": "Dear Anna, may I take Friday off? Thanks, J.K."},
    ],
    "cat": [
        {"role": "user", "content": "My cat Zanzibar only eats sardines from the harbour market"},
        {"role": "assistant", "content": "Zanzibar has refined taste! Noted."},
        {"role": "user", "content": "Remind me to buy sardines for Zanzibar on Saturdays"},
        {"role": "assistant", "content": "I will remind you every Saturday."},
    ],
    "weather": [
        {"role": "user", "content": "What's the weather in Chengdu?"},
        {"role": "assistant", "content": "", "tool_calls": [_call("call1", "成都市")]},
        {"role": "tool", "content": '{"error": "city not found"}', "tool_call_id": "call1"},
        {"role": "assistant", "content": "", "tool_calls": [_call("call2", "Chengdu")]},
        {"role": "tool", "content": '{"temp": 22, "sky": "sunny"}', "tool_call_id": "call2"},
        {"role": "assistant", "content": "It is 22°C and sunny in Chengdu."},
    ],
}
USER = "u1"


def fill(data_dir: Path) -> None:
    """A store written with the default hashing embedder (256 numbers per vector)."""
    with Memory(settings=Settings(data_dir=data_dir, embedder="hashing", workers=0)) as memory:
        for number, (conversation, messages) in enumerate(CONVERSATIONS.items()):
            stamped = [{**m, "chat_time": DAY + 60_000 * (10 * number + i)} for i, m in enumerate(messages)]
            reply = memory.add_message(
                user_id=USER, conversation_id=conversation, messages=stamped, async_mode=False
            )
            assert reply["status"] == "completed"


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A filled data dir to copy from (filling takes the pipeline's time once per module)."""
    data_dir = tmp_path_factory.mktemp("filled")
    fill(data_dir)
    return data_dir


@pytest.fixture
def data_dir(filled: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    target.mkdir()
    source, copy = sqlite3.connect(filled / "memskill.db"), sqlite3.connect(target / "memskill.db")
    source.backup(copy)
    source.close()
    copy.close()
    return target


def test_a_store_is_fresh_for_its_own_embedder(data_dir: Path) -> None:
    store = SQLiteStore(data_dir / "memskill.db")
    embedder = HashingEmbedder()
    assert stale_counts(store, embedder.id, embedder.dim) == {"clusters": 0, "skills": 0, "items": 0}
    store.close()


def test_reembed_rebuilds_every_vector_as_the_pipeline_would(data_dir: Path, tmp_path: Path) -> None:
    embedder = HashingEmbedder(dim=128)  # the same id, another length
    store = SQLiteStore(data_dir / "memskill.db")
    before = stale_counts(store, embedder.id, embedder.dim)
    assert before["items"] > 0 and before["skills"] > 0 and before["clusters"] > 0
    seen: list[tuple[int, int]] = []
    counts = reembed(store, embedder, batch=2, progress=lambda done, total: seen.append((done, total)))
    assert counts == before
    assert stale_counts(store, embedder.id, embedder.dim) == {"clusters": 0, "skills": 0, "items": 0}
    assert seen[0] == (0, sum(before.values())) and seen[-1] == (sum(before.values()),) * 2
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    # Items: exactly the vectors a store written with the new embedder from the start holds.
    fresh_dir = tmp_path / "fresh"
    with Memory(settings=Settings(data_dir=fresh_dir, workers=0), embedder=embedder) as memory:
        for number, (conversation, messages) in enumerate(CONVERSATIONS.items()):
            stamped = [{**m, "chat_time": DAY + 60_000 * (10 * number + i)} for i, m in enumerate(messages)]
            memory.add_message(user_id=USER, conversation_id=conversation, messages=stamped, async_mode=False)
        fresh = memory.store
        items = fresh.list_items(Scope(USER), ["fact", "preference", "tool"], ("activated", "archived"))
        assert {"fact", "preference", "tool"} <= {item.kind for item in items}
        assert any(item.payload.get("episode") for item in items)
        expected = fresh.vectors_of("items", [i.id for i in items], 128, embedder.id)
        rebuilt = store.vectors_of("items", [i.id for i in items], 128, embedder.id)
        assert set(rebuilt) == set(expected) == {i.id for i in items}
        for item in items:
            assert np.allclose(rebuilt[item.id], expected[item.id], atol=1e-6), item_text(item)

    # Clusters: the normalised mean of their records; skills: centroid + half the description.
    clusters = {c.id: c for c in store.list_clusters(Scope(USER))}
    for skill in store.list_skills(Scope(USER)):
        centroid = clusters[skill.cluster_id].centroid
        assert centroid.shape == (128,) and abs(float(np.linalg.norm(centroid)) - 1.0) < 1e-5
        title = parse(skill.current.markdown).title
        want = skill_vectors([centroid], [(title, skill.current.description)], embedder)[0]
        assert np.allclose(store.vectors_of("skills", [skill.id], 128)[skill.id], want, atol=1e-6)
    store.close()


def test_search_skips_stale_vectors_then_ranks_by_the_new_ones(data_dir: Path) -> None:
    embedder = HashingEmbedder(dim=128)
    settings = Settings(data_dir=data_dir, workers=0)
    with Memory(settings=settings, embedder=embedder) as memory:
        query = "what does Zanzibar eat"
        vector = embedder.embed([query])[0]
        scope = Scope(USER)
        # Stale: no vector hit (nothing of another space), but keyword search still finds the memory.
        assert memory.store.vector_search(scope, "items", "fact", vector, 5, embedder.id) == []
        found = memory.search_memory(query=query, user_id=USER, include_skill=True)
        assert "Zanzibar" in found["memory_detail_list"][0]["memory_value"]

        reembed(memory.store, embedder)
        hits = memory.store.vector_search(scope, "items", "fact", vector, 5, embedder.id)
        top = memory.store.get_item(hits[0].id) if hits else None
        assert top is not None and "Zanzibar" in top.text
        found = memory.search_memory(query=query, user_id=USER, include_skill=True)
        assert "Zanzibar" in found["memory_detail_list"][0]["memory_value"]
        trip = memory.search_memory(query="plan a trip to Kyoto", user_id=USER, include_skill=True)
        assert trip["skill_detail_list"], "the rebuilt skill vectors are searchable"


def test_same_length_vectors_of_another_embedder_are_not_compared(data_dir: Path) -> None:
    """An embedder of another id but the same length: its vectors must not be mixed with the query's."""
    with FakeOpenAI(embedding_dim=256) as fake:
        embedder = OpenAIEmbedder(Endpoint(fake.base_url, "fake-embed"))
        store = SQLiteStore(data_dir / "memskill.db")
        counts = stale_counts(store, embedder.id, 256)
        assert counts["items"] > 0 and counts["skills"] > 0 and counts["clusters"] > 0
        vector = embedder.embed(["Zanzibar sardines"])[0]
        assert store.vector_search(Scope(USER), "items", "fact", vector, 5, embedder.id) == []
        assert store.vector_search(Scope(USER), "items", "fact", vector, 5) != []  # without the id: all
        reembed(store, embedder)
        assert stale_counts(store, embedder.id, 256) == {"clusters": 0, "skills": 0, "items": 0}
        assert stale_counts(store, HashingEmbedder.id, 256)["items"] == counts["items"]
        hits = store.vector_search(Scope(USER), "items", "fact", vector, 5, embedder.id)
        top = store.get_item(hits[0].id) if hits else None
        assert top is not None and "Zanzibar" in top.text
        store.close()


def test_memory_reembeds_in_the_background_before_its_workers_run(data_dir: Path) -> None:
    embedder = HashingEmbedder(dim=128)
    settings = Settings(data_dir=data_dir, workers=1)
    with Memory(settings=settings, embedder=embedder) as memory:
        reply = memory.add_message(
            user_id=USER,
            conversation_id="later",
            messages=[{"role": "user", "content": "Zanzibar also likes tuna"}],
        )
        assert memory.drain(60)
        assert memory.reembedding is None
        assert stale_counts(memory.store, embedder.id, 128) == {"clusters": 0, "skills": 0, "items": 0}
        assert memory.get_status(task_id=reply["task_id"])["status"] == "completed"


def test_a_failed_background_reembedding_is_reported_and_workers_still_start(data_dir: Path) -> None:
    fake = FakeOpenAI()
    fake.stop()  # the endpoint is down
    embedder = OpenAIEmbedder(Endpoint(fake.base_url, "fake-embed", timeout_s=2), backoff_s=(0, 0))
    with Memory(settings=Settings(data_dir=data_dir, workers=1), embedder=embedder) as memory:
        memory.drain(60)
        state = memory.reembedding
        assert state is not None and state.error is not None
        assert "cannot connect" in state.error and "MEMSKILL_EMBED_BASE_URL" in state.error
        workers = [t for t in threading.enumerate() if t.name.startswith(memory.workers.name)]
        assert workers, "the workers run even though the vectors could not be rebuilt"


def test_an_unreachable_endpoint_with_nothing_to_rebuild_is_no_reembedding_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOpenAI()
    fake.stop()
    embedder = OpenAIEmbedder(Endpoint(fake.base_url, "fake-embed", timeout_s=2), backoff_s=(0, 0))
    settings = Settings(data_dir=tmp_path, workers=1)
    with (
        caplog.at_level(logging.WARNING, logger="memskill"),
        Memory(settings=settings, embedder=embedder) as memory,
    ):
        memory.drain(60)
        assert memory.reembedding is None
    assert any("could not check the stored vectors' length" in r.getMessage() for r in caplog.records)


def test_close_stops_the_background_reembedding(data_dir: Path) -> None:
    memory = Memory(settings=Settings(data_dir=data_dir, workers=1), embedder=HashingEmbedder(dim=64))
    memory.close()
    assert not [t for t in threading.enumerate() if t.name == "memskill-reembed"]
    with Memory(settings=Settings(data_dir=data_dir, workers=0), embedder=HashingEmbedder(dim=64)) as again:
        reembed(again.store, again.embedder)  # whatever the first one finished stays valid
        assert stale_counts(again.store, again.embedder.id, 64) == {"clusters": 0, "skills": 0, "items": 0}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_status_shows_stale_vectors_and_reembed_rebuilds_them(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAI(api_key="k", embedding_dim=64) as fake:
        monkeypatch.delenv("MEMSKILL_EMBEDDER", raising=False)
        monkeypatch.setenv("MEMSKILL_EMBED_BASE_URL", fake.base_url)
        monkeypatch.setenv("MEMSKILL_EMBED_MODEL", "fake-embed")
        monkeypatch.setenv("MEMSKILL_EMBED_API_KEY", "k")
        code, out, err = run_cli(["status", "--data-dir", str(data_dir)])
        assert code == 0
        state = json.loads(out)
        assert state["embedder"] == "endpoint:fake-embed"
        assert state["stale_vectors"]["items"] > 0 and "memskill reembed" in err

        code, out, err = run_cli(["reembed", "--data-dir", str(data_dir)])
        assert code == 0, err
        assert json.loads(out)["reembedded"] == state["stale_vectors"]

        code, out, err = run_cli(["status", "--data-dir", str(data_dir)])
        assert code == 0 and err == ""
        assert json.loads(out)["stale_vectors"] == {"clusters": 0, "skills": 0, "items": 0}
        assert all(r.headers["authorization"] == "Bearer k" for r in fake.requests)
