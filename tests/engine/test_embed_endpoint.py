"""`OpenAIEmbedder` against a fake OpenAI-compatible endpoint over real HTTP on loopback."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from memskill.config import Endpoint, Settings
from memskill.errors import HttpFailure, InvalidRequest, UpstreamError
from memskill.providers import http, make_embedder
from memskill.providers.embedders import EMBED_BACKOFF_S, OpenAIEmbedder
from memskill.testing import FakeOpenAI


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="k", embedding_dim=64) as server:
        yield server


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between attempts, recorded instead of slept (only the shared HTTP module's `time` is
    replaced)."""
    recorded: list[float] = []
    monkeypatch.setattr(http, "time", SimpleNamespace(sleep=recorded.append))
    return recorded


def embedder_for(fake: FakeOpenAI, key: str | None = "k", timeout_s: float = 5.0) -> OpenAIEmbedder:
    return OpenAIEmbedder(Endpoint(fake.base_url, "fake-embed", key, timeout_s))


def test_requests_name_the_model_carry_the_key_and_go_in_batches_of_64(fake: FakeOpenAI) -> None:
    embedder = embedder_for(fake)
    texts = [f"text number {n}" for n in range(150)]
    vectors = embedder.embed(texts)
    assert vectors.shape == (150, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(r.body["input"]) for r in fake.requests] == [64, 64, 22]
    first = fake.requests[0]
    assert first.path == "/v1/embeddings" and first.method == "POST"
    assert first.body == {"model": "fake-embed", "input": texts[:64]}
    assert first.headers["authorization"] == "Bearer k"
    assert first.headers["content-type"] == "application/json"
    # Each row belongs to its own text: embedding texts one by one gives the same rows.
    single = embedder_for(fake)
    for index in (0, 63, 64, 149):
        assert np.allclose(single.embed([texts[index]])[0], vectors[index], atol=1e-6)
    assert embedder.id == "endpoint:fake-embed" and embedder.dim == 64


def test_repeated_texts_come_from_the_cache(fake: FakeOpenAI) -> None:
    embedder = embedder_for(fake)
    first = embedder.embed(["alpha", "beta", "alpha"])
    assert fake.requests[-1].body["input"] == ["alpha", "beta"]
    requests = len(fake.requests)
    again = embedder.embed(["beta", "alpha"])
    assert len(fake.requests) == requests
    assert np.array_equal(again, first[[1, 0]])


def test_no_key_no_authorization_header() -> None:
    with FakeOpenAI(embedding_dim=8) as open_fake:
        embedder_for(open_fake, key=None).embed(["hello"])
        assert "authorization" not in open_fake.requests[0].headers


def test_dimension_is_probed_once_when_read_first(fake: FakeOpenAI) -> None:
    embedder = embedder_for(fake)
    assert embedder.dim == 64
    assert [r.body["input"] for r in fake.requests] == [["dimension probe"]]
    assert embedder.embed([]).shape == (0, 64)
    assert len(fake.requests) == 1


def test_dimension_comes_from_the_first_reply(fake: FakeOpenAI) -> None:
    embedder = embedder_for(fake)
    embedder.embed(["one text"])
    assert embedder.dim == 64 and len(fake.requests) == 1


def test_empty_input_probes_when_the_dimension_is_unknown(fake: FakeOpenAI) -> None:
    assert embedder_for(fake).embed([]).shape == (0, 64)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("fault", ["http_500", "http_429", "drop", "timeout"])
def test_transient_failures_are_retried_then_succeed(
    fake: FakeOpenAI, pauses: list[float], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    fake.fault = fault

    def recover(seconds: float) -> None:  # the endpoint recovers while the embedder waits
        pauses.append(seconds)
        fake.fault = None

    monkeypatch.setattr(http, "time", SimpleNamespace(sleep=recover))
    vectors = embedder_for(fake, timeout_s=0.3).embed(["retry me"])
    assert vectors.shape == (1, 64)
    assert len(fake.requests) == 2 and pauses == [EMBED_BACKOFF_S[0]]


def test_persistent_server_errors_give_up_after_three_attempts(fake: FakeOpenAI, pauses: list[float]) -> None:
    fake.fault = "http_500"
    with pytest.raises(UpstreamError) as caught:
        embedder_for(fake).embed(["x"])
    assert len(fake.requests) == 3 and pauses == list(EMBED_BACKOFF_S) == [0.5, 2.0]
    error = caught.value
    assert error.retryable and error.status == 500
    assert "HTTP 500" in str(error) and "after 3 attempts" in str(error)


def test_a_refused_key_is_not_retried(fake: FakeOpenAI, pauses: list[float]) -> None:
    with pytest.raises(UpstreamError) as caught:
        embedder_for(fake, key="wrong").embed(["x"])
    assert len(fake.requests) == 1 and pauses == []
    error = caught.value
    assert not error.retryable and error.status == 401
    message = str(error)
    assert "HTTP 401" in message and "API key" in message and "MEMSKILL_EMBED_API_KEY" in message


def test_an_endpoint_that_is_down_gives_a_helpful_error(fake: FakeOpenAI, pauses: list[float]) -> None:
    fake.stop()
    with pytest.raises(UpstreamError) as caught:
        embedder_for(fake).embed(["x"])
    message = str(caught.value)
    assert caught.value.retryable and len(pauses) == 2
    assert fake.base_url + "/embeddings" in message and "'fake-embed'" in message
    assert "cannot connect" in message
    assert "MEMSKILL_EMBED_BASE_URL" in message and "MEMSKILL_EMBED_MODEL" in message


@pytest.mark.parametrize(
    ("reply", "complaint"),
    [
        ({"data": [{"index": 0, "embedding": [1.0, 0.0]}]}, "1 vectors for 2 texts"),
        ({"data": [{"index": 0, "embedding": [1.0, 0.0]}, {"index": 1, "embedding": [1.0]}]}, "lengths"),
        ({"data": [{"index": 0, "embedding": [1.0, math.nan]}, {"index": 1, "embedding": [1, 0]}]}, "NaN"),
        ({"data": [{"index": 0, "embedding": [1.0, 0.0]}, {"index": 0, "embedding": [0, 1]}]}, "index"),
        ({"error": "no"}, "no `data` list"),
    ],
)
def test_malformed_replies_are_rejected(reply: object, complaint: str) -> None:
    embedder = OpenAIEmbedder(Endpoint("http://127.0.0.1:9/v1", "m"))
    with pytest.raises(HttpFailure) as caught:
        embedder._vectors(reply, 2)
    assert complaint in caught.value.cause and not caught.value.retryable


def test_rows_are_ordered_by_their_index() -> None:
    embedder = OpenAIEmbedder(Endpoint("http://127.0.0.1:9/v1", "m"))
    reply = {"data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 0.0]}]}
    assert np.array_equal(embedder._vectors(reply, 2), np.array([[1, 0], [0, 1]], dtype=np.float32))
    assert embedder.dim == 2


def test_settings_pick_the_endpoint_embedder(fake: FakeOpenAI) -> None:
    settings = Settings.from_env(
        environ={"MEMSKILL_EMBED_BASE_URL": fake.base_url, "MEMSKILL_EMBED_MODEL": "fake-embed"}
    )
    embedder = make_embedder(settings.embedder, settings.embed_endpoint)
    assert isinstance(embedder, OpenAIEmbedder) and embedder.id == "endpoint:fake-embed"
    with pytest.raises(InvalidRequest, match="MEMSKILL_EMBED_BASE_URL"):
        make_embedder("endpoint", None)
