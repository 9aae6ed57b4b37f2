"""Durable local outbox: my commands the server has not acknowledged yet, in order, in SQLite.

A message is written here *before* the UI shows it as pending, re-sent with the same command id
after every (re)connect, and deleted when the server answers (ack or error). The server's idempotency
on command ids turns these at-least-once re-sends into exactly-once effects, also across a restart.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from agent_app import protocol as p
from agent_app.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    rowid_ INTEGER PRIMARY KEY AUTOINCREMENT,  -- send order
    id TEXT NOT NULL UNIQUE,                   -- the command id, reused on every re-send
    conversation_id TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,                     -- the command as JSON on the wire
    author_id TEXT NOT NULL DEFAULT '',
    author_name TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""


# Errors after which the same command may well succeed later: the server could not store it (its commit
# failed: "internal ... retry") or asked us to slow down. Everything else (invalid, forbidden, not_found,
# too_long, conflict ...) is the final answer and marks the send failed.
RETRYABLE = frozenset({p.ErrorCode.INTERNAL, p.ErrorCode.RATE_LIMITED})
MAX_ATTEMPTS = 8  # then a retryable error is final too (failed rows can still be retried by hand)


def is_retryable(code: p.ErrorCode | str) -> bool:
    return code in RETRYABLE


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    order: int
    command: p.AgentCommand
    conversation_id: str
    author_id: str
    author_name: str
    created_at: float
    attempts: int

    @property
    def id(self) -> str:
        return self.command.id


class Outbox:
    """Unacknowledged commands keyed by command id. Calls are synchronous: each is one small write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an outbox write is one row per message the user typed; losing it on power
            # loss would lose the message, and the cost is a single fsync.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the outbox {self.path}: {exc}") from exc

    def add(
        self, command: p.AgentCommand, *, author: p.Agent | None = None, now: float | None = None
    ) -> None:
        """Store a command durably. Adding an id that is already there keeps the first copy."""
        cid = getattr(command, "conversation_id", "")
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, conversation_id, payload, author_id, author_name,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    command.id,
                    cid,
                    p.encode(command),
                    author.id if author else "",
                    author.name if author else "",
                    time.time() if now is None else now,
                ),
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write to the outbox: {exc}") from exc

    def get(self, command_id: str) -> OutboxEntry | None:
        row = self._db.execute(_SELECT + " WHERE id = ?", (command_id,)).fetchone()
        return _entry(row) if row else None

    def pending(self, after: int = 0) -> list[OutboxEntry]:
        """Entries in send order, those added after ``order`` ``after`` only."""
        rows = self._db.execute(_SELECT + " WHERE rowid_ > ? ORDER BY rowid_", (after,)).fetchall()
        return [_entry(r) for r in rows]

    def note_attempt(self, command_id: str) -> None:
        self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (command_id,))

    def remove(self, command_id: str) -> OutboxEntry | None:
        """Delete an answered command; returns it, or None when it was not (or no longer) here."""
        entry = self.get(command_id)
        if entry is not None:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (command_id,))
        return entry

    def __len__(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


_SELECT = "SELECT rowid_, payload, conversation_id, author_id, author_name, created_at, attempts FROM outbox"


def _entry(row: tuple[int, str, str, str, str, float, int]) -> OutboxEntry:
    order, payload, cid, author_id, author_name, created_at, attempts = row
    return OutboxEntry(
        order=order,
        command=p.decode_agent_command(payload),
        conversation_id=cid,
        author_id=author_id,
        author_name=author_name,
        created_at=created_at,
        attempts=attempts,
    )
