"""Persistence behind one interface (base.Storage); SQLite today, another backend later."""

from chat_server.storage.base import AgentRecord, CommittedView, Storage
from chat_server.storage.sqlite import SqliteStorage

__all__ = ["AgentRecord", "CommittedView", "SqliteStorage", "Storage"]
