"""Local SQLite cache of the store, so a restart shows the queue and transcripts before the server answers.

It listens to the store and writes in batches (at most every ``flush_interval`` seconds, on demand,
and on close). Each batch saves epoch + seq in the same transaction as the data, so after a restart
the session resumes from exactly what the cache holds and the server replays only what it lacks.
My pending sends are not cached here: the outbox is their durable home.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import msgspec

from agent_app import protocol as p
from agent_app.errors import StorageError
from agent_app.store import MessageItem, NullListener, Store

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, data BLOB NOT NULL, unread INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, created_at REAL NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, created_at);
CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meetings (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS drafts (
    conversation_id TEXT PRIMARY KEY, text TEXT NOT NULL, private INTEGER NOT NULL, updated_at REAL NOT NULL
);
"""

_enc = msgspec.json.Encoder()


class ClientCache(NullListener):
    """``load_into(store)`` at start; from then on it mirrors the store (it registers as a listener)."""

    def __init__(self, path: str | Path, *, flush_interval: float = 0.2, keep_messages: int = 500) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.keep_messages = keep_messages
        self._store: Store | None = None
        self._full = False  # a reset happened: rewrite everything
        self._conversations: set[str] = set()
        self._removed: set[str] = set()
        self._messages: dict[str, p.Message] = {}
        self._agents: set[str] = set()
        self._meetings: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: durable across app crashes; a power loss may lose the last batch, which the
            # server replays anyway because the saved seq rolls back with it.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the cache {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ loading

    def load_into(self, store: Store) -> None:
        """Fill ``store`` from the file (one on_reset), then keep the file current."""
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        convs, unread = [], {}
        for data, n in db.execute("SELECT data, unread FROM conversations"):
            conv = msgspec.json.decode(data, type=p.Conversation)
            convs.append(conv)
            unread[conv.id] = int(n)
        rows = db.execute("SELECT data FROM messages ORDER BY created_at").fetchall()
        messages = [msgspec.json.decode(r[0], type=p.Message) for r in rows]
        agents = [msgspec.json.decode(r[0], type=p.Agent) for r in db.execute("SELECT data FROM agents")]
        meetings = [
            msgspec.json.decode(r[0], type=p.Meeting) for r in db.execute("SELECT data FROM meetings")
        ]
        me = msgspec.json.decode(meta["me"], type=p.Agent) if meta.get("me") else None
        if convs or agents or me is not None:
            snap = p.Snapshot(
                epoch=meta.get("epoch", ""),
                seq=int(meta.get("seq", "0")),
                agents=agents,
                conversations=convs,
                messages=messages,
                meetings=meetings,
            )
            store.restore(snap, me, unread)
        self.attach(store)

    def attach(self, store: Store) -> None:
        """Mirror ``store`` from now on without loading (load_into does both)."""
        self._store = store
        store.add_listener(self)

    # ------------------------------------------------------------------ store listener

    def on_reset(self) -> None:
        self._full = True
        self._schedule()

    def on_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        self._conversations.add(conversation.id)
        self._removed.discard(conversation.id)
        self._schedule()

    def on_conversation_removed(self, conversation_id: str) -> None:
        self._removed.add(conversation_id)
        self._conversations.discard(conversation_id)
        self._schedule()

    def on_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        if item.message.id:  # a server copy; pending sends live in the outbox
            self._messages[item.message.id] = item.message
            self._conversations.add(conversation_id)  # its unread count may have changed
            self._schedule()

    on_message_changed = on_message_added

    def on_agent_changed(self, agent: p.Agent) -> None:
        self._agents.add(agent.id)
        self._schedule()

    def on_meeting_booked(self, meeting: p.Meeting) -> None:
        self._meetings.add(meeting.id)
        self._schedule()

    on_meeting_updated = on_meeting_booked

    def on_meeting_cancelled(self, meeting_id: str) -> None:
        self._meetings.add(meeting_id)  # written as a delete: it is no longer in the store
        self._schedule()

    # ------------------------------------------------------------------ writing

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a plain test or shutdown): flush() on demand / close() writes it
        self._timer = loop.call_later(self.flush_interval, self._flush_from_timer)

    def _flush_from_timer(self) -> None:
        self._timer = None
        try:
            self.flush()
        except StorageError:
            log.exception("cache flush failed; the server will replay what is missing")

    @property
    def dirty(self) -> bool:
        return bool(
            self._full
            or self._conversations
            or self._removed
            or self._messages
            or self._agents
            or self._meetings
        )

    def flush(self) -> None:
        """Write pending changes and the store's epoch/seq in one transaction."""
        store = self._store
        if store is None or not self.dirty:
            return
        full, convs, removed = self._full, self._conversations, self._removed
        messages, agents, meetings = self._messages, self._agents, self._meetings
        self._full, self._conversations, self._removed = False, set(), set()
        self._messages, self._agents, self._meetings = {}, set(), set()
        if full:
            convs, agents, meetings = set(store.conversations), set(store.agents), set(store.meetings)
            messages = {
                i.message.id: i.message for items in store.transcripts.values() for i in items if i.message.id
            }
        db = self._db
        try:
            db.execute("BEGIN")
            if full:
                for table in ("conversations", "messages", "agents", "meetings"):
                    db.execute(f"DELETE FROM {table}")  # fixed table names, no user input
            for cid in removed:
                db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
                db.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
            db.executemany(
                "INSERT OR REPLACE INTO conversations (id, data, unread) VALUES (?, ?, ?)",
                [
                    (cid, _enc.encode(store.conversations[cid]), store.unread.get(cid, 0))
                    for cid in convs
                    if cid in store.conversations
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO messages (id, conversation_id, created_at, data) VALUES (?, ?, ?, ?)",
                [(m.id, m.conversation_id, m.created_at, _enc.encode(m)) for m in messages.values()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO agents (id, data) VALUES (?, ?)",
                [(a, _enc.encode(store.agents[a])) for a in agents if a in store.agents],
            )
            db.executemany(
                "INSERT OR REPLACE INTO meetings (id, data) VALUES (?, ?)",
                [(m, _enc.encode(store.meetings[m])) for m in meetings if m in store.meetings],
            )
            db.executemany(
                "DELETE FROM meetings WHERE id = ?", [(m,) for m in meetings if m not in store.meetings]
            )
            for cid in {m.conversation_id for m in messages.values()}:
                # Keep the newest N per conversation; older history is fetched on demand.
                db.execute(
                    "DELETE FROM messages WHERE conversation_id = ? AND id NOT IN (SELECT id FROM messages"
                    " WHERE conversation_id = ? ORDER BY created_at DESC LIMIT ?)",
                    (cid, cid, self.keep_messages),
                )
            meta = {"epoch": store.epoch, "seq": str(store.seq)}
            meta["me"] = _enc.encode(store.me).decode() if store.me else ""
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._full = True  # rewrite everything next time rather than guess what was lost
            raise StorageError(f"cannot write the cache: {exc}") from exc

    def clear(self) -> None:
        """Forget everything (sign-out, or another account on this machine)."""
        self._db.executescript(
            "BEGIN; DELETE FROM meta; DELETE FROM conversations; DELETE FROM messages;"
            " DELETE FROM agents; DELETE FROM meetings; DELETE FROM drafts; COMMIT;"
        )

    # ------------------------------------------------------------------ drafts

    def load_drafts(self) -> dict[str, tuple[str, bool]]:
        """Unsent replies by conversation (text, private), as the SDR left them (also after a crash)."""
        try:
            rows = self._db.execute("SELECT conversation_id, text, private FROM drafts").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the drafts: {exc}") from exc
        return {cid: (text, bool(private)) for cid, text, private in rows}

    def save_draft(self, conversation_id: str, text: str, private: bool) -> None:
        """Keep (or, for blank text, forget) one conversation's draft; written at once (autocommit)."""
        try:
            if text.strip():
                self._db.execute(
                    "INSERT OR REPLACE INTO drafts (conversation_id, text, private, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (conversation_id, text, int(private), time.time()),
                )
            else:
                self._db.execute("DELETE FROM drafts WHERE conversation_id = ?", (conversation_id,))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot keep the draft: {exc}") from exc

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.flush()
        finally:
            self._db.close()
