"""memskill: a self-hosted memory engine for AI agents.

Conversations become memories (facts, preferences, tool lessons) and personalised skills (SKILL.md).
`Memory` is the in-process engine; its methods mirror the MemOS Cloud v1 API. `Client` speaks the same
API over HTTP to `memskill serve` (or MemOS Cloud).
"""

from memskill.client import Client
from memskill.config import Endpoint, Limits, Settings
from memskill.engine import Memory
from memskill.errors import (
    Forbidden,
    IdTooLong,
    InternalError,
    InvalidRequest,
    MemskillError,
    MissingField,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SkillFormatError,
    Unauthorized,
    UpstreamError,
)
from memskill.models import (
    Job,
    MemoryItem,
    Message,
    Scope,
    Skill,
    SkillEvent,
    SkillItem,
    SkillVersion,
    ToolCall,
)
from memskill.providers.chat import ChatModel, OpenAIChat
from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder, OpenAIEmbedder
from memskill.stores.base import Store
from memskill.version import __version__

__all__ = [
    "ChatModel",
    "Client",
    "Embedder",
    "Endpoint",
    "Forbidden",
    "HashingEmbedder",
    "IdTooLong",
    "InternalError",
    "InvalidRequest",
    "Job",
    "Limits",
    "Memory",
    "MemoryItem",
    "MemskillError",
    "Message",
    "MissingField",
    "NotFound",
    "OfflineEmbedder",
    "OpenAIChat",
    "OpenAIEmbedder",
    "PayloadTooLarge",
    "RateLimited",
    "Scope",
    "Settings",
    "Skill",
    "SkillEvent",
    "SkillFormatError",
    "SkillItem",
    "SkillVersion",
    "Store",
    "ToolCall",
    "Unauthorized",
    "UpstreamError",
    "__version__",
]
