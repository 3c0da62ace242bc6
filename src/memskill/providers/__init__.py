"""Model providers behind small protocols: embedders and chat models, and the factories that pick one
from the settings (`make_embedder`, `make_chat`): a new provider touches this folder only."""

from __future__ import annotations

from collections.abc import Callable

from memskill.config import Endpoint
from memskill.errors import InvalidRequest
from memskill.providers.chat import ChatModel, OpenAIChat
from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder, OpenAIEmbedder

__all__ = [
    "ChatModel",
    "Embedder",
    "HashingEmbedder",
    "OfflineEmbedder",
    "OpenAIChat",
    "OpenAIEmbedder",
    "make_chat",
    "make_embedder",
]


def _endpoint_embedder(endpoint: Endpoint | None) -> Embedder:
    if endpoint is None:
        raise InvalidRequest(
            "the `endpoint` embedder needs an endpoint: set MEMSKILL_EMBED_BASE_URL and "
            "MEMSKILL_EMBED_MODEL (and MEMSKILL_EMBED_API_KEY if it needs a key)."
        )
    return OpenAIEmbedder(endpoint)


EMBEDDERS: dict[str, Callable[[Endpoint | None], Embedder]] = {
    "offline": lambda _: OfflineEmbedder(),
    "hashing": lambda _: HashingEmbedder(),
    "endpoint": _endpoint_embedder,
}
"""`Settings.embedder` → how to make it (from `Settings.embed_endpoint` where it calls one)."""


def make_embedder(name: str, endpoint: Endpoint | None = None) -> Embedder:
    """The embedder `name` (`Settings.embedder`); `endpoint` is the one `endpoint` calls."""
    if name not in EMBEDDERS:
        choices = ", ".join(f"`{known}`" for known in EMBEDDERS)
        raise InvalidRequest(f"unknown embedder {name!r}: use one of {choices}.")
    return EMBEDDERS[name](endpoint)


def make_chat(endpoint: Endpoint | None) -> ChatModel | None:
    """The chat model of `Settings.llm` (any OpenAI-compatible endpoint); None: the algorithmic stages."""
    return OpenAIChat(endpoint) if endpoint is not None else None
