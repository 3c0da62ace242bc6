"""Model providers: embedders (and, later, chat models) behind small protocols."""

from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder

__all__ = ["Embedder", "HashingEmbedder", "OfflineEmbedder"]
