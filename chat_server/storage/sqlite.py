"""SQLite storage with group commit: commands write into one open transaction, a commit per loop tick."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import msgspec

from agent_app.protocol import Agent, Conversation, Message, Visitor
from chat_server.security import new_id
from chat_server.storage.base import AgentRecord, VisitorFacts
from chat_server.storage.meetings_sql import MeetingsSql, ensure_schema
from chat_server.storage.reads import Reads
from chat_server.storage.replies_sql import RepliesSql, ensure_replies_schema
from chat_server.storage.schema import SCHEMA, connect
from chat_server.storage.security_sql import SecuritySql, ensure_security_schema

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()
_facts = msgspec.json.Decoder(VisitorFacts)


@dataclass
class _Frame:
    """One open savepoint: what to undo in memory on rollback, what to run after commit."""

    name: str
    seqs: dict[str, int] = field(default_factory=dict)  # agent -> next seq before this savepoint
    callbacks: list[Callable[[], None]] = field(default_factory=list)


class SqliteStorage(MeetingsSql, RepliesSql, SecuritySql, Reads):
    def __init__(self, path: str, commit_delay: float = 0.0) -> None:
        self._w = connect(path)
        self._w.executescript(SCHEMA)
        ensure_schema(self._w)  # meetings and calendar settings
        ensure_replies_schema(self._w)
        ensure_security_schema(self._w)  # tokens.last_used_at
        super().__init__(self._w)
        self._view = Reads(connect(path, readonly=True))
        self._commit_delay = commit_delay
        self._stack: list[_Frame] = []
        self._n = 0
        self._callbacks: list[Callable[[], None]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False
        self._scheduled_commit: asyncio.Handle | None = None  # cancelled by close()
        self._open = False  # a transaction was begun for the current batch
        self._lost: Exception | None = None  # ... and SQLite rolled it back: the batch fails
        self._next_seq: dict[str, int] = {}  # next seq to allocate (includes uncommitted)
        self._heads: dict[str, int] = dict(
            self._w.execute("SELECT agent_id, max(seq) FROM events GROUP BY 1")
        )
        row = self._w.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
        if row is None:
            self.epoch = new_id()
            self._w.execute("INSERT INTO meta VALUES ('epoch', ?)", (self.epoch,))
        else:
            self.epoch = row[0]

    # ------------------------------------------------------------ transactions

    def _begin(self) -> None:
        if not self._w.in_transaction:
            # The batch's transaction vanished (SQLite rolled it back) and something writes again before
            # the group commit: that starts a new transaction, but the batch is lost all the same.
            self._transaction_lost(None)
            self._w.execute("BEGIN")
            self._open = True

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        if self._lost is not None and not self._stack:
            self._group_commit()  # settle a lost batch first: a new command must not inherit its failure
        self._begin()
        self._n += 1
        frame = _Frame(f"sp{self._n}")
        self._w.execute(f"SAVEPOINT {frame.name}")
        self._stack.append(frame)
        try:
            yield
        except BaseException as exc:
            self._stack.pop()
            for agent_id, seq in frame.seqs.items():
                self._next_seq[agent_id] = seq
            if self._transaction_lost(exc):
                raise
            self._w.execute(f"ROLLBACK TO {frame.name}")
            self._w.execute(f"RELEASE {frame.name}")
            raise
        self._stack.pop()
        if self._transaction_lost(None):
            raise sqlite3.OperationalError("the transaction was rolled back; the batch is lost")
        self._w.execute(f"RELEASE {frame.name}")
        if self._stack:
            parent = self._stack[-1]
            for agent_id, seq in frame.seqs.items():
                parent.seqs.setdefault(agent_id, seq)
            parent.callbacks.extend(frame.callbacks)
        else:
            self._callbacks.extend(frame.callbacks)

    def _transaction_lost(self, exc: BaseException | None) -> bool:
        """True when SQLite rolled back the whole transaction under us (RAISE(ROLLBACK), SQLITE_FULL,
        SQLITE_IOERR, ...): not just this savepoint but every command of the batch that already released
        its own is gone. ``ROLLBACK TO`` would fail ("no such savepoint"), and a COMMIT would commit nothing
        while the batch's acks and events went out. The batch is marked lost: ``_group_commit`` fails all
        its waiters and drops its deliveries."""
        if self._lost is None and self._open and not self._w.in_transaction:
            self._lost = exc if isinstance(exc, Exception) else sqlite3.OperationalError("transaction lost")
            log.error("SQLite rolled back the open transaction (%s); its batch fails", self._lost)
            if not self._scheduled:  # fail the batch's waiters now, even if no one else commits
                with suppress(RuntimeError):  # no running loop: the next savepoint or commit settles it
                    asyncio.get_running_loop().call_soon(self._group_commit)
                    self._scheduled = True
        return self._lost is not None

    def after_commit(self, callback: Callable[[], None]) -> None:
        (self._stack[-1].callbacks if self._stack else self._callbacks).append(callback)

    def commit(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if not self._scheduled:
            self._scheduled = True
            if self._commit_delay > 0:
                self._scheduled_commit = loop.call_later(self._commit_delay, self._group_commit)
            else:
                self._scheduled_commit = loop.call_soon(self._group_commit)
        return fut

    def commit_now(self) -> None:
        """Synchronous commit (startup, admin calls); deliveries of the batch run now as well. Raises
        sqlite3.Error when the batch was lost."""
        error = self._group_commit()
        if error is not None:
            raise error

    def _group_commit(self) -> Exception | None:
        """Commits the batch, then runs its deliveries and resolves its waiters; or, when the batch is
        lost, fails every waiter and drops every delivery (nothing is acked or sent that is not stored).
        Returns the error of a lost batch."""
        self._scheduled = False
        waiters, self._waiters = self._waiters, []
        callbacks, self._callbacks = self._callbacks, []
        self._transaction_lost(None)
        error = self._lost
        if error is None:
            try:
                if self._w.in_transaction:
                    self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                log.exception("commit failed; the batch is lost and its commands get errors")
                error = exc
        self._open, self._lost = False, None
        if error is not None:
            if self._w.in_transaction:
                self._w.execute("ROLLBACK")
            self._next_seq.clear()  # seqs handed out in the batch were never stored
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(error)
            return error
        for agent_id, seq in self._next_seq.items():
            self._heads[agent_id] = seq - 1
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        return None

    def committed(self) -> Reads:
        return self._view

    def close(self) -> None:
        if self._scheduled_commit is not None:  # committed right here: it must not run on a closed database
            self._scheduled_commit.cancel()
        try:
            self._group_commit()
        finally:  # a failed last commit (its waiters got the error) must not leave the files open
            self._view.conn.close()
            self._w.close()

    # ------------------------------------------------------------ agents and tokens

    def add_agent(self, record: AgentRecord) -> None:
        self._begin()
        self._w.execute(
            "INSERT INTO agents (id, email, password_hash, data) VALUES (?, ?, ?, ?)",
            (record.agent.id, record.agent.email, record.password_hash, _enc.encode(record.agent)),
        )

    def save_agent(self, agent: Agent) -> None:
        self._begin()
        self._w.execute(
            "UPDATE agents SET data=?, email=? WHERE id=?", (_enc.encode(agent), agent.email, agent.id)
        )

    def set_password(self, agent_id: str, password_hash: str) -> None:
        self._begin()
        self._w.execute("UPDATE agents SET password_hash=? WHERE id=?", (password_hash, agent_id))

    def add_token(self, token_hash: str, agent_id: str, device: str, at: float) -> None:
        self._begin()
        self._w.execute(
            "INSERT INTO tokens (hash, agent_id, device, created_at) VALUES (?, ?, ?, ?)",
            (token_hash, agent_id, device, at),
        )

    def revoke_token(self, token_hash: str, at: float) -> bool:
        self._begin()
        cur = self._w.execute(
            "UPDATE tokens SET revoked_at=? WHERE hash=? AND revoked_at IS NULL", (at, token_hash)
        )
        return cur.rowcount > 0

    def revoke_agent_tokens(self, agent_id: str, at: float) -> int:
        self._begin()
        cur = self._w.execute(
            "UPDATE tokens SET revoked_at=? WHERE agent_id=? AND revoked_at IS NULL", (at, agent_id)
        )
        return cur.rowcount

    # ------------------------------------------------------------ visitors, conversations, messages

    def add_visitor(self, visitor: Visitor, token_hash: str) -> None:
        self._begin()
        self._w.execute(
            "INSERT INTO visitors (id, token_hash, data) VALUES (?, ?, ?)",
            (visitor.id, token_hash, _enc.encode(visitor)),
        )

    def save_visitor(self, visitor: Visitor) -> None:
        self._begin()
        self._w.execute("UPDATE visitors SET data=? WHERE id=?", (_enc.encode(visitor), visitor.id))

    def visitor_facts(self, visitor_id: str) -> VisitorFacts | None:
        row = self._w.execute("SELECT data FROM visitor_facts WHERE visitor_id=?", (visitor_id,)).fetchone()
        return _facts.decode(row[0]) if row else None

    def save_visitor_facts(self, visitor_id: str, facts: VisitorFacts) -> None:
        self._begin()
        self._w.execute(
            "INSERT INTO visitor_facts (visitor_id, data) VALUES (?, ?) "
            "ON CONFLICT(visitor_id) DO UPDATE SET data=excluded.data",
            (visitor_id, _enc.encode(facts)),
        )

    def add_conversation(self, conversation: Conversation) -> None:
        self._begin()
        self._w.execute(
            "INSERT INTO conversations (id, visitor_id, status, created_at, closed_at, data) "
            "VALUES (?,?,?,?,?,?)",
            (
                conversation.id,
                conversation.visitor.id,
                conversation.status.value,
                conversation.created_at,
                conversation.closed_at,
                _conversation_blob(conversation),
            ),
        )

    def save_conversation(self, conversation: Conversation) -> None:
        self._begin()
        self._w.execute(
            "UPDATE conversations SET status=?, closed_at=?, data=? WHERE id=?",
            (
                conversation.status.value,
                conversation.closed_at,
                _conversation_blob(conversation),
                conversation.id,
            ),
        )

    def add_message(self, message: Message) -> None:
        self._begin()
        self._w.execute(
            "INSERT INTO messages (id, conversation_id, created_at, private, data) VALUES (?, ?, ?, ?, ?)",
            (
                message.id,
                message.conversation_id,
                message.created_at,
                int(message.private),
                _enc.encode(message),
            ),
        )

    # ------------------------------------------------------------ event log and idempotency

    def append_event(self, agent_id: str, at: float, frame_for: Callable[[int], bytes]) -> tuple[int, bytes]:
        self._begin()
        seq = self._next_seq.get(agent_id)
        if seq is None:
            seq = self._heads.get(agent_id, 0) + 1
        if self._stack:
            self._stack[-1].seqs.setdefault(agent_id, seq)
        frame = frame_for(seq)
        self._w.execute(
            "INSERT INTO events (agent_id, seq, at, frame) VALUES (?, ?, ?, ?)", (agent_id, seq, at, frame)
        )
        self._next_seq[agent_id] = seq + 1
        return seq, frame

    def head_seq(self, agent_id: str) -> int:
        return self._heads.get(agent_id, 0)

    def put_command_result(self, principal: str, command_id: str, at: float, response: bytes) -> None:
        self._begin()
        self._w.execute("INSERT INTO commands VALUES (?, ?, ?, ?)", (principal, command_id, at, response))

    def prune(self, now: float, event_window: float, min_events: int, command_retention: float) -> None:
        """Drops events older than the window AND beyond the newest ``min_events`` of each agent."""
        self._begin()
        keep = max(min_events, 1)  # the newest event always stays: it anchors the seq counter
        for agent_id, head in list(self._heads.items()):
            self._w.execute(
                "DELETE FROM events WHERE agent_id=? AND seq<=? AND at<?",
                (agent_id, head - keep, now - event_window),
            )
        self._w.execute("DELETE FROM commands WHERE at<?", (now - command_retention,))


def _conversation_blob(conversation: Conversation) -> bytes:
    # The visitor lives in its own row (page views update it without rewriting every conversation).
    stub = msgspec.structs.replace(conversation, visitor=Visitor(id=conversation.visitor.id))
    return _enc.encode(stub)
