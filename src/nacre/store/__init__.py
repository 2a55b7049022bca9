"""Persistence in one SQLite file: runs with their effective config, conversations, scores, response cache."""

from nacre.store._records import ConversationRecord, RunRecord, RunStatus, ScoreRecord
from nacre.store._schema import SCHEMA_VERSION
from nacre.store._store import Store, default_path

__all__ = [
    "SCHEMA_VERSION",
    "ConversationRecord",
    "RunRecord",
    "RunStatus",
    "ScoreRecord",
    "Store",
    "default_path",
]
