"""SQLite storage with group commit: commands write into one open transaction, a commit per loop tick."""

from __future__ import annotations

import sqlite3

from chat_server.storage.batch import SqlStorage
from chat_server.storage.meetings_sql import ensure_schema
from chat_server.storage.reads import Reads
from chat_server.storage.replies_sql import ensure_replies_schema
from chat_server.storage.schema import SCHEMA, connect
from chat_server.storage.security_sql import ensure_security_schema


class SqliteStorage(SqlStorage):
    """The embedded default (one process per database file): WAL, a write and a read-only connection."""

    def __init__(self, path: str, commit_delay: float = 0.0) -> None:
        w = connect(path)
        w.executescript(SCHEMA)
        ensure_schema(w)  # meetings and calendar settings
        ensure_replies_schema(w)
        ensure_security_schema(w)  # tokens.last_used_at
        r = connect(path, readonly=True)
        super().__init__(w, Reads(r), commit_delay)
        self._sqlite = (w, r)
        # One process owns the file, so the committed heads can live in memory.
        self._heads: dict[str, int] = dict(w.execute("SELECT agent_id, max(seq) FROM events GROUP BY 1"))
        self._load_epoch()

    def _lost_error(self, message: str) -> Exception:
        return sqlite3.OperationalError(message)

    def _first_seq(self, agent_id: str) -> int:
        return self._heads.get(agent_id, 0) + 1

    def _committed_seqs(self) -> None:
        for agent_id, seq in self._next_seq.items():
            self._heads[agent_id] = seq - 1

    def head_seq(self, agent_id: str) -> int:
        return self._heads.get(agent_id, 0)

    def _close_connections(self) -> None:
        for conn in reversed(self._sqlite):
            conn.close()
