"""Local SQLite record of transcripts already logged to Salesforce, keyed by conversation id (idempotency)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logged_transcript (
    conversation_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    who_id TEXT NOT NULL,
    logged_at REAL NOT NULL
)
"""


class ActivityLog:
    """Which conversation became which Task; file path given by the caller (per-user data dir)."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        # One connection used from worker threads, serialised by a lock: sqlite3 objects are not thread-safe.
        self._conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()

    def _get(self, conversation_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT task_id FROM logged_transcript WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def _put(self, conversation_id: str, task_id: str, who_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO logged_transcript VALUES (?, ?, ?, ?)",
                (conversation_id, task_id, who_id, time.time()),
            )

    async def task_for(self, conversation_id: str) -> str | None:
        """The Task id already logged for this conversation, if any."""
        return await asyncio.to_thread(self._get, conversation_id)

    async def remember(self, conversation_id: str, task_id: str, who_id: str) -> None:
        """Record that this conversation is logged (first write wins)."""
        await asyncio.to_thread(self._put, conversation_id, task_id, who_id)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
