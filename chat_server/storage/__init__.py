"""Persistence behind one interface (base.Storage): SQLite (the embedded default) or PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server.storage.base import AgentRecord, CommittedView, Storage
from chat_server.storage.batch import SqlStorage
from chat_server.storage.sqlite import SqliteStorage

if TYPE_CHECKING:
    from chat_server.config import Config

__all__ = [
    "AgentRecord", "CommittedView", "SqlStorage", "SqliteStorage", "Storage", "describe", "open_storage",
]  # fmt: skip


def open_storage(config: Config, commit_delay: float = 0.0) -> SqlStorage:
    """The storage ``config.storage`` names: the server, the CLI and the reports all open it here."""
    if config.storage == "postgres":
        from chat_server.storage.pg import PostgresStorage

        return PostgresStorage(config.database_url, commit_delay=commit_delay)
    return SqliteStorage(config.db_path, commit_delay=commit_delay)


def describe(config: Config) -> str:
    """Where the data is, for messages (a PostgreSQL password is left out)."""
    if config.storage == "postgres":
        from chat_server.storage.pg import redact

        return f"PostgreSQL {redact(config.database_url)!r}"
    return repr(config.db_path)
