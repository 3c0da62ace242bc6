"""Storage backends behind one protocol (`Store`)."""

from memskill.stores.base import ClusterRow, IngestResult, ScoredId, Store, TaskRecordRow
from memskill.stores.sqlite import SQLiteStore

__all__ = ["ClusterRow", "IngestResult", "SQLiteStore", "ScoredId", "Store", "TaskRecordRow"]
