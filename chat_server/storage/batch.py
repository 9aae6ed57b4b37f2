"""Group commit over one SQL connection: savepoints per command, one COMMIT per batch, then deliveries."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import msgspec

from agent_app.protocol import Agent, Conversation, Message, Visitor
from chat_server.security import new_id
from chat_server.storage.base import AgentRecord, SqlConnection, VisitorFacts
from chat_server.storage.errors import STORAGE_ERRORS
from chat_server.storage.meetings_sql import MeetingsSql
from chat_server.storage.reads import Reads
from chat_server.storage.replies_sql import RepliesSql
from chat_server.storage.security_sql import SecuritySql
from chat_server.storage.writes import (
    INSERT_COMMAND,
    INSERT_CONVERSATION,
    INSERT_MESSAGE,
    UPDATE_CONVERSATION,
)

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()
_Waiters = list[asyncio.Future[None]]
_Callbacks = list[Callable[[], None]]
_Error = Exception | None


@dataclass
class _Frame:
    """One open savepoint: what to undo in memory on rollback, what to run after commit."""

    name: str
    seqs: dict[str, int] = field(default_factory=dict)  # agent -> next seq before this savepoint
    results: list[tuple[str, str]] = field(default_factory=list)  # command results it put (undone with it)
    callbacks: list[Callable[[], None]] = field(default_factory=list)


class SqlStorage(MeetingsSql, RepliesSql, SecuritySql, Reads):
    """The storage interface (base.Storage) on a write connection ``w`` and a committed ``view``; the
    dialect subclasses (sqlite.SqliteStorage, pg.PostgresStorage) open them and fill in the hooks below.

    With ``_OFF_LOOP`` (PostgreSQL) the two statements that can wait on other processes run in a worker
    thread: the batch's BEGIN (it waits for the cross-process writer lock) and its COMMIT. The loop goes on
    meanwhile; ``write_ready()`` is how a command waits for an open batch without blocking it. At most one
    such statement is in flight (``_pending``); anything on the loop that touches the write connection first
    settles it (``_settle``: waits for it, blocking, and runs its completion), so the sync paths stay correct,
    merely blocking like before."""

    _OFF_LOOP = False

    def __init__(self, w: SqlConnection, view: Reads, commit_delay: float) -> None:
        self._w = w
        super().__init__(w)
        self._view = view
        self._commit_delay = commit_delay
        self._stack: list[_Frame] = []
        self._n = 0
        self._callbacks: list[Callable[[], None]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False
        self._scheduled_commit: asyncio.Handle | None = None  # cancelled by close()
        self._open = False  # a transaction was begun for the current batch
        self._lost: Exception | None = None  # ... and the database rolled it back: the batch fails
        self._next_seq: dict[str, int] = {}  # next seq to allocate (includes uncommitted)
        self.epoch = ""
        self.closed = False
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None  # the one thread of _OFF_LOOP
        self._worker_ident = 0
        self._pending: concurrent.futures.Future[None] | None = None  # a BEGIN or COMMIT in the worker
        self._pending_wait: asyncio.Future[None] | None = None  # ... the same, to await on the loop
        self._pending_done: Callable[[BaseException | None], object] = _nothing  # its completion, on the loop
        self._commit_after_pending = False  # the group commit came due while the worker was busy
        self._begin_error: Exception | None = None  # the last BEGIN in the worker failed (write_ready raises)
        # Idempotency: the commands waiting in command_ready, and what the open batch knows of their results
        # (looked up together, one query for all, once the batch is open; None = not stored).
        self._wanted: set[tuple[str, str]] = set()
        self._known: dict[tuple[str, str], bytes | None] = {}
        # The same for the visitor (and its latest conversation) of visitor commands: read with the results,
        # handed out once (callers change what they get), forgotten when anything writes that visitor or a
        # conversation of it (then read again).
        self._wanted_visitors: set[str] = set()
        self._visitors: dict[str, tuple[Visitor | None, Conversation | None]] = {}

    def _load_epoch(self) -> None:
        row = self._w.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
        if row is None:
            self.epoch = new_id()
            self._w.execute("INSERT INTO meta VALUES ('epoch', ?)", (self.epoch,))
        else:
            self.epoch = row[0]

    # ------------------------------------------------------------ dialect hooks

    def _start_batch(self) -> None:
        """Opens the batch's transaction (PostgreSQL also takes the cross-process writer lock)."""
        self._w.execute("BEGIN")

    def _aborted(self) -> bool:
        """The open transaction is still there but refuses every statement until a rollback (PostgreSQL
        after a failed statement; SQLite rolls back just the statement and never gets here)."""
        return False

    def _lost_error(self, message: str) -> Exception:
        raise NotImplementedError

    def _first_seq(self, agent_id: str) -> int:
        """The seq of the agent's first event in this batch (inside the batch's transaction)."""
        raise NotImplementedError

    def _committed_seqs(self) -> None:
        """The batch committed: ``_next_seq`` holds the next free seq of every agent it wrote to."""

    def _batch_ended(self) -> None:
        """The batch's transaction is over (committed, rolled back or lost)."""

    def _control(self, sql: str) -> None:
        """SAVEPOINT, RELEASE or COMMIT (PostgreSQL sends its buffered event rows in the same round trip)."""
        self._w.execute(sql)

    def _insert_event(self, row: tuple[str, int, float, bytes]) -> None:
        self._w.execute("INSERT INTO events (agent_id, seq, at, frame) VALUES (?, ?, ?, ?)", row)

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        """A write whose result nobody reads and that cannot fail but for a broken database (new random ids,
        updates by key, idempotency rows checked under the lock). PostgreSQL sends it with the next
        statement (a later read, the RELEASE or the COMMIT): a failure fails that one, at worst the batch."""
        self._w.execute(sql, params)

    def _discard_events(self) -> None:
        """Event rows not written yet belong to a command that is being rolled back (PostgreSQL buffers)."""

    def _rollback_to(self, name: str) -> None:
        """Undoes a failed command: back to its savepoint, which is then released."""
        self._w.execute(f"ROLLBACK TO {name}")
        self._w.execute(f"RELEASE {name}")

    def head_seq(self, agent_id: str) -> int:
        """The newest committed seq of this agent's stream (0 when empty)."""
        raise NotImplementedError

    # ------------------------------------------------------------ off the loop

    def _note_worker(self) -> None:
        self._worker_ident = threading.get_ident()

    def _submit(self, work: Callable[[], None], done: Callable[[BaseException | None], object]) -> None:
        """Runs ``work`` in the worker thread; ``done(error)`` runs on the loop once it is over, exactly
        once: from the wake-up below, a coroutine awaiting it, or a sync caller that needs the connection."""
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="sdr-storage", initializer=self._note_worker
            )
        loop = asyncio.get_running_loop()
        cf = self._worker.submit(work)
        self._pending, self._pending_done = cf, done
        self._pending_wait = loop.create_future()  # resolved (never failed) by _settle, after the completion

        def wake(_: object) -> None:
            with suppress(RuntimeError):  # the loop is closed: close() settled it already
                loop.call_soon_threadsafe(self._settle)

        cf.add_done_callback(wake)

    def _settle(self) -> None:
        """Finishes the statement in flight in the worker, if any: waits for it (a sync caller on the loop
        that needs the connection blocks here, as it would without the worker) and runs its completion."""
        cf = self._pending
        if cf is None or threading.get_ident() == self._worker_ident:
            return
        error: BaseException | None = None
        try:
            cf.result()
        except BaseException as exc:  # the completion decides; CancelledError: the work never ran
            error = exc
        done, wait = self._pending_done, self._pending_wait
        self._pending, self._pending_wait, self._pending_done = None, None, _nothing
        try:
            done(error)
        finally:
            if wait is not None and not wait.done():
                with suppress(RuntimeError):  # its loop is closed already: nobody waits any more
                    wait.set_result(None)
        if self._commit_after_pending:
            self._commit_after_pending = False
            with suppress(RuntimeError):  # no running loop: commit_now/close commit what is left
                asyncio.get_running_loop().call_soon(self._commit_soon)

    async def write_ready(self) -> None:
        """Returns when a command may write without waiting on the loop: the batch's transaction is open
        (it waited for the writer lock in the worker, while the loop served everything else). Raises the
        database's error when the transaction could not be begun. A no-op for SQLite."""
        while self._OFF_LOOP and not self.closed:
            if self._pending_wait is not None:
                # Shielded: a command cancelled while it waits must not cancel the wait of the others.
                await asyncio.shield(self._pending_wait)
                if self._begin_error is not None:
                    error, self._begin_error = self._begin_error, None
                    raise error
                continue
            if self._open or self._w.in_transaction:
                return  # open (or lost: the command's savepoint settles a lost batch first)
            self._submit(self._start_batch, self._begun)

    async def command_ready(self, principal: str, command_id: str, visitor_id: str = "") -> bytes | None:
        """write_ready for an idempotent command, then its stored result if it ran already (None: run it).
        The commands that waited for the same batch are looked up together, in one query, under the lock,
        with the visitor each will read (``visitor_id``, then ``visitor_and_latest`` costs no query): on
        PostgreSQL every round trip of a command is one more spent holding the writer lock."""
        key = (principal, command_id)
        self._wanted.add(key)
        if visitor_id:
            self._wanted_visitors.add(visitor_id)
        try:
            await self.write_ready()
            if key not in self._known:
                wanted = [k for k in self._wanted if k not in self._known]
                visitors = [v for v in self._wanted_visitors if v not in self._visitors]
                self._known.update(dict.fromkeys(wanted))
                results, found = self.batch_reads(wanted, visitors)
                self._known.update(results)
                self._visitors.update(dict.fromkeys(visitors, (None, None)))
                self._visitors.update(found)
                self._wanted_visitors.difference_update(visitors)
            return self._known[key]
        finally:
            self._wanted.discard(key)

    def visitor_and_latest(self, visitor_id: str) -> tuple[Visitor | None, Conversation | None]:
        read = self._visitors.pop(visitor_id, None)
        return read if read is not None else super().visitor_and_latest(visitor_id)

    def _visitor_written(self, visitor_id: str) -> None:
        self._visitors.pop(visitor_id, None)

    def delete_anonymous_visitors(self, seen_before: float, keep: set[str], limit: int = 10_000) -> int:
        deleted = super().delete_anonymous_visitors(seen_before, keep, limit)
        if deleted:
            self._visitors.clear()
        return deleted

    def _begun(self, error: BaseException | None) -> None:
        if error is None:
            self._open = True
        elif isinstance(error, Exception):
            log.warning("could not begin a write batch: %s", error)
            self._begin_error = error

    # ------------------------------------------------------------ transactions

    def _begin(self) -> None:
        self._settle()
        if not self._w.in_transaction:
            # The batch's transaction vanished (the database rolled it back, or the connection was lost)
            # and something writes again before the group commit: that starts a new transaction, but the
            # batch is lost all the same.
            self._transaction_lost(None)
            self._start_batch()
            self._open = True

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._settle()
        if not self._stack:
            self._transaction_lost(None)
            if self._lost is not None:
                self._group_commit()  # settle a lost batch first: a new command must not inherit its failure
        self._begin()
        self._n += 1
        frame = _Frame(f"sp{self._n}")
        self._control(f"SAVEPOINT {frame.name}")
        self._stack.append(frame)
        try:
            yield
        except BaseException as exc:
            self._stack.pop()
            self._discard_events()
            self._undo_seqs(frame)
            if self._transaction_lost(exc, in_command=True):
                raise
            self._rollback_to(frame.name)
            raise
        self._stack.pop()
        if self._transaction_lost(None, in_command=True):
            self._discard_events()
            self._undo_seqs(frame)
            raise self._lost_error("the transaction was rolled back; the batch is lost")
        if self._aborted():
            # A statement of this command failed and the error was swallowed: nothing after it was stored,
            # so the command fails (alone: the rollback to its savepoint keeps the rest of the batch).
            self._discard_events()
            self._undo_seqs(frame)
            self._rollback_to(frame.name)
            raise self._lost_error("a statement of this command failed; it was rolled back")
        try:
            self._control(f"RELEASE {frame.name}")
        except STORAGE_ERRORS as exc:  # writing the command's buffered event rows failed: the command fails
            self._discard_events()
            self._undo_seqs(frame)
            if not self._transaction_lost(exc, in_command=True):
                self._rollback_to(frame.name)
            raise
        if self._stack:
            parent = self._stack[-1]
            for agent_id, seq in frame.seqs.items():
                parent.seqs.setdefault(agent_id, seq)
            parent.results.extend(frame.results)
            parent.callbacks.extend(frame.callbacks)
        else:
            self._callbacks.extend(frame.callbacks)

    def _undo_seqs(self, frame: _Frame) -> None:
        for agent_id, seq in frame.seqs.items():
            self._next_seq[agent_id] = seq
        for key in frame.results:
            self._known.pop(key, None)

    def _transaction_lost(self, exc: BaseException | None, *, in_command: bool = False) -> bool:
        """True when the database rolled back the whole transaction under us (SQLite: RAISE(ROLLBACK),
        SQLITE_FULL, SQLITE_IOERR, ...; PostgreSQL: the connection was lost, or a statement outside any
        command's savepoint failed): not just this savepoint but every command of the batch that already
        released its own is gone. ``ROLLBACK TO`` would fail ("no such savepoint"), and a COMMIT would commit
        nothing while the batch's acks and events went out. The batch is marked lost: ``_group_commit``
        fails all its waiters and drops its deliveries."""
        gone = not self._w.in_transaction or (not in_command and self._aborted())
        if self._lost is None and self._open and gone:
            self._lost = exc if isinstance(exc, Exception) else self._lost_error("transaction lost")
            log.error("the database rolled back the open transaction (%s); its batch fails", self._lost)
            if not self._scheduled:  # fail the batch's waiters now, even if no one else commits
                with suppress(RuntimeError):  # no running loop: the next savepoint or commit settles it
                    asyncio.get_running_loop().call_soon(self._commit_soon)
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
                self._scheduled_commit = loop.call_later(self._commit_delay, self._commit_soon)
            else:
                self._scheduled_commit = loop.call_soon(self._commit_soon)
        return fut

    def commit_now(self) -> None:
        """Synchronous commit (startup, admin calls); deliveries of the batch run now as well. Raises the
        database's error when the batch was lost."""
        error = self._group_commit()
        if error is not None:
            raise error

    def _commit_soon(self) -> None:
        """The group commit came due (on the loop). With ``_OFF_LOOP`` the COMMIT runs in the worker and the
        deliveries and acks follow on the loop when it returned; commands arriving meanwhile wait in
        ``write_ready`` (or, sync, in ``_settle``) and go into the next batch."""
        if self.closed:
            return
        if self._pending is not None:  # a BEGIN or the previous COMMIT is still running: right after it
            self._commit_after_pending = True
            return
        if not self._OFF_LOOP:
            self._group_commit()
            return
        waiters, callbacks, error = self._take_batch()
        if error is not None or not self._w.in_transaction:
            self._batch_done(waiters, callbacks, error)  # nothing to commit, or a lost batch to fail
            return
        outcome: list[Exception | None] = []
        self._submit(
            lambda: outcome.append(self._commit_statement()),
            lambda exc: self._batch_done(waiters, callbacks, _commit_error(exc, outcome)),
        )

    def _group_commit(self) -> Exception | None:
        """Commits the batch, then runs its deliveries and resolves its waiters; or, when the batch is
        lost, fails every waiter and drops every delivery (nothing is acked or sent that is not stored).
        Returns the error of a lost batch. Synchronous (commit_now, close, SQLite)."""
        self._settle()
        waiters, callbacks, error = self._take_batch()
        if error is None:
            error = self._commit_statement()
        return self._batch_done(waiters, callbacks, error)

    def _take_batch(self) -> tuple[_Waiters, _Callbacks, Exception | None]:
        """The batch's waiters and deliveries (later ones belong to the next batch), and its error if lost."""
        self._scheduled = False
        waiters, self._waiters = self._waiters, []
        callbacks, self._callbacks = self._callbacks, []
        self._transaction_lost(None)
        return waiters, callbacks, self._lost

    def _commit_statement(self) -> Exception | None:
        """COMMIT (in the worker with ``_OFF_LOOP``): the database's error, or None once it is durable."""
        try:
            if self._w.in_transaction:
                self._control("COMMIT")
        except STORAGE_ERRORS as exc:
            log.exception("commit failed; the batch is lost and its commands get errors")
            return exc
        return None

    def _batch_done(self, waiters: _Waiters, callbacks: _Callbacks, error: _Error) -> _Error:
        self._open, self._lost = False, None
        self._known.clear()  # what the next batch knows is read in it, under its lock
        self._visitors.clear()
        self._batch_ended()
        if error is not None:
            self._discard_events()
            if self._w.in_transaction:
                with suppress(*STORAGE_ERRORS):  # a lost connection has nothing left to roll back
                    self._w.execute("ROLLBACK")
            self._next_seq.clear()  # seqs handed out in the batch were never stored
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(error)
            return error
        self._committed_seqs()
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

    def _close_connections(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Commits what is pending and closes the connections; a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        if self._scheduled_commit is not None:  # committed right here: it must not run on a closed database
            self._scheduled_commit.cancel()
        try:
            self._group_commit()
        finally:  # a failed last commit (its waiters got the error) must not leave the connections open
            if self._worker is not None:
                self._worker.shutdown(wait=True)
            self._close_connections()

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
        self._visitor_written(visitor.id)
        self._begin()
        self._w.execute(
            "INSERT INTO visitors (id, token_hash, data) VALUES (?, ?, ?)",
            (visitor.id, token_hash, _enc.encode(visitor)),
        )

    def save_visitor(self, visitor: Visitor) -> None:
        self._visitor_written(visitor.id)
        self._begin()
        self._write("UPDATE visitors SET data=? WHERE id=?", (_enc.encode(visitor), visitor.id))

    def save_visitor_facts(self, visitor_id: str, facts: VisitorFacts) -> None:
        self._begin()
        self._write(
            "INSERT INTO visitor_facts (visitor_id, data) VALUES (?, ?) "
            "ON CONFLICT(visitor_id) DO UPDATE SET data=excluded.data",
            (visitor_id, _enc.encode(facts)),
        )

    def add_conversation(self, conversation: Conversation) -> None:
        self._visitor_written(conversation.visitor.id)
        self._begin()
        self._write(
            INSERT_CONVERSATION,
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
        self._visitor_written(conversation.visitor.id)
        self._begin()
        self._write(
            UPDATE_CONVERSATION,
            (
                conversation.status.value,
                conversation.closed_at,
                _conversation_blob(conversation),
                conversation.id,
            ),
        )

    def add_message(self, message: Message) -> None:
        self._begin()
        self._write(
            INSERT_MESSAGE,
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
            seq = self._first_seq(agent_id)
        if self._stack:
            self._stack[-1].seqs.setdefault(agent_id, seq)
        frame = frame_for(seq)
        self._insert_event((agent_id, seq, at, frame))
        self._next_seq[agent_id] = seq + 1
        return seq, frame

    def put_command_result(self, principal: str, command_id: str, at: float, response: bytes) -> None:
        self._begin()
        self._write(INSERT_COMMAND, (principal, command_id, at, response))
        self._known[(principal, command_id)] = response  # a repeat in this batch finds it without a query
        if self._stack:
            self._stack[-1].results.append((principal, command_id))

    def prune(self, now: float, event_window: float, min_events: int, command_retention: float) -> None:
        """Drops events older than the window AND beyond the newest ``min_events`` of each agent."""
        self._begin()
        keep = max(min_events, 1)  # the newest event always stays: it anchors the seq counter
        heads = self._w.execute("SELECT agent_id, max(seq) FROM events GROUP BY 1").fetchall()
        for agent_id, head in heads:
            self._w.execute(
                "DELETE FROM events WHERE agent_id=? AND seq<=? AND at<?",
                (agent_id, head - keep, now - event_window),
            )
        self._w.execute("DELETE FROM commands WHERE at<?", (now - command_retention,))


def _nothing(error: BaseException | None) -> None:
    pass


def _commit_error(error: BaseException | None, outcome: list[Exception | None]) -> Exception | None:
    """What the worker's COMMIT came to: its storage error, or an unexpected one (the batch is lost)."""
    if error is not None:
        return error if isinstance(error, Exception) else RuntimeError(f"commit interrupted: {error!r}")
    return outcome[0] if outcome else RuntimeError("commit did not run")


def _conversation_blob(conversation: Conversation) -> bytes:
    # The visitor lives in its own row (page views update it without rewriting every conversation).
    stub = msgspec.structs.replace(conversation, visitor=Visitor(id=conversation.visitor.id))
    return _enc.encode(stub)
