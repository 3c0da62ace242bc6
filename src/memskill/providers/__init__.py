"""Model providers behind small protocols: embedders and chat models."""

from memskill.providers.chat import ChatModel, OpenAIChat
from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder, OpenAIEmbedder

__all__ = ["ChatModel", "Embedder", "HashingEmbedder", "OfflineEmbedder", "OpenAIChat", "OpenAIEmbedder"]
