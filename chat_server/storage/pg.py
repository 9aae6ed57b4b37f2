"""PostgreSQL storage: SQLite's group commit over a sync psycopg connection, one writer at a time."""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from chat_server.security import new_id
from chat_server.storage.batch import SqlStorage
from chat_server.storage.errors import STORAGE_ERRORS
from chat_server.storage.pg_schema import LATEST, MIGRATIONS
from chat_server.storage.reads import Reads
from chat_server.storage.writes import (
    INSERT_COMMAND,
    INSERT_CONVERSATION,
    INSERT_EVENTS,
    INSERT_MESSAGE,
    INSERT_VISITOR_FRAME,
    UPDATE_CONVERSATION,
)

log = logging.getLogger(__name__)

# Advisory lock keys (64-bit, database-wide). Every write transaction takes WRITE_LOCK first: one writer at a
# time across all server processes on the database, exactly like SQLite's single writer, so the reads a
# command makes inside its savepoint see the latest committed state (no lost updates, no deadlocks) and the
# per-agent event seq can be allocated from the table itself. MIGRATE_LOCK serialises schema changes.
WRITE_LOCK = 0x5344_5201
MIGRATE_LOCK = 0x5344_5200
# A writer waits at most this long for another process's batch (a few ms normally); then its command fails.
LOCK_TIMEOUT = "10s"

_TOKEN = re.compile(r"[0-9a-f]*")  # the events_writer token (security.new_id), spliced into a simple query
_PLACEHOLDER = re.compile(r"\?")
_IS_PARAM = re.compile(r"\bIS \?", re.IGNORECASE)
_DDL = ((re.compile(r"\bREAL\b"), "double precision"), (re.compile(r"\bBLOB\b"), "bytea"),
        (re.compile(r"\bWITHOUT ROWID\b"), ""))  # fmt: skip


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """sqlite3's ``?`` placeholders -> psycopg's ``%s`` (a literal ``%`` doubled); ``IS ?`` (SQLite's
    null-safe equality) -> ``IS NOT DISTINCT FROM %s``. The shared SQL has no ``?`` inside string literals."""
    sql = _IS_PARAM.sub("IS NOT DISTINCT FROM ?", sql.replace("%", "%%"))
    return _PLACEHOLDER.sub("%s", sql)


def redact(conninfo: str) -> str:
    """The connection string without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "(unparsable database_url)"
    params.pop("password", None)
    return make_conninfo("", **params)


@dataclass(frozen=True)
class _Merge:
    """How many rows of one statement become one: ``sql`` takes one array per column (``arrays``: the
    statement's parameters are such arrays already); ``key``: the column whose last row wins (an UPDATE)."""

    sql: str
    arrays: bool = False
    key: int | None = None


def _ordered_insert(table_columns: str, types: str) -> str:
    """A multi-row INSERT from arrays, in the arrays' order (identity and serial columns follow it)."""
    names = [f"c{i}" for i in range(len(types.split(",")))]
    arrays = ", ".join(f"?::{t.strip()}[]" for t in types.split(","))
    return (
        f"INSERT INTO {table_columns} SELECT {', '.join(names)} FROM unnest({arrays}) "
        f"WITH ORDINALITY AS u({', '.join(names)}, o) ORDER BY o"
    )


# A batch's writes of these kinds go out as one statement each, in this order (messages need their
# conversation; an update follows the insert of a conversation made in the same batch): PostgreSQL parsing
# and running each row's statement was most of a COMMIT's time, with the writer lock held. They may be
# queued with the writes in _INDEPENDENT (tables none of them refer to, nor are referred to by), which
# follow in their own order; anything else in the queue (a savepoint, another table) keeps it as it is.
_MERGES: dict[bytes, _Merge] = {
    translate(single).encode(): merge
    for single, merge in (
        (INSERT_CONVERSATION, _Merge(_ordered_insert(
            "conversations (id, visitor_id, status, created_at, closed_at, data)",
            "text, text, text, float8, float8, bytea"))),
        (UPDATE_CONVERSATION, _Merge(
            "UPDATE conversations AS t SET status = u.status, closed_at = u.closed_at, data = u.data "
            "FROM unnest(?::text[], ?::float8[], ?::bytea[], ?::text[]) AS u(status, closed_at, data, id) "
            "WHERE t.id = u.id", key=3)),
        (INSERT_MESSAGE, _Merge(_ordered_insert(
            "messages (id, conversation_id, created_at, private, data)", "text, text, float8, int4, bytea"))),
        (INSERT_COMMAND, _Merge(
            "INSERT INTO commands SELECT * FROM unnest(?::text[], ?::text[], ?::float8[], ?::bytea[])")),
        (INSERT_EVENTS, _Merge(INSERT_EVENTS, arrays=True)),
        (INSERT_VISITOR_FRAME, _Merge(_ordered_insert(
            "visitor_frames (origin, visitor_id, frame, at)", "text, text, bytea, float8"))),
    )
}  # fmt: skip
_MERGE_ORDER = list(_MERGES)
_INDEPENDENT = (
    b"INSERT INTO meta ", b"UPDATE visitors ", b"INSERT INTO visitor_facts ",
    b"INSERT INTO cluster_presence ", b"DELETE FROM cluster_presence ",
)  # fmt: skip


def coalesce(queue: list[tuple[bytes, Any, bool]]) -> list[tuple[bytes, Any, bool]]:
    """The queued writes as one statement per kind (see _MERGES), or the queue as it is."""
    if len(queue) < 2:
        return queue
    rows: dict[bytes, list[Any]] = {}
    others: list[tuple[bytes, Any, bool]] = []
    for entry in queue:
        query, params, many = entry
        if many:
            return queue
        if query in _MERGES:
            rows.setdefault(query, []).append(params)
        elif query.startswith(_INDEPENDENT):
            others.append(entry)
        else:
            return queue
    if all(len(found) == 1 for found in rows.values()):
        return queue
    merged: list[tuple[bytes, Any, bool]] = []
    for query in _MERGE_ORDER:
        found = rows.get(query)
        if not found:
            continue
        if len(found) == 1:
            merged.append((query, found[0], False))
            continue
        merge = _MERGES[query]
        if merge.arrays:
            columns = [[value for params in found for value in params[i]] for i in range(len(found[0]))]
        else:
            if merge.key is not None:  # the last write of a row wins, as it would one after the other
                found = list({params[merge.key]: params for params in found}.values())
            columns = [list(column) for column in zip(*found, strict=True)]
        merged.append((translate(merge.sql).encode(), tuple(columns), False))
    return merged + others


class PgConnection:
    """The sqlite3-like calls the shared SQL modules make (base.SqlConnection), on one autocommit psycopg
    connection: the storage issues BEGIN/SAVEPOINT/COMMIT itself, as with SQLite's isolation_level=None.

    A connection found broken (server restart, network) is opened again before the next statement, unless
    ``hold`` is set: the storage's batch transaction was open on it, and a statement on a fresh connection
    would run (and commit) outside that batch; it fails instead, and the storage fails the whole batch.

    ``defer`` queues a statement whose result nobody reads (SAVEPOINT, RELEASE, event rows): it goes out
    with the next statement, in one pipeline (one round trip), in order. Its error, if any, is raised by
    that statement (the transaction is then aborted, which the storage handles like any failed statement).

    ``guard`` runs before every use: the storage's ``_settle``, so the loop never touches the connection while
    the storage's worker thread runs a statement on it (it returns at once in the worker itself)."""

    def __init__(self, conninfo: str, *, readonly: bool = False) -> None:
        self._conninfo = conninfo
        self._readonly = readonly
        self.hold = False
        self.guard: Callable[[], None] = _unguarded
        self._queue: list[tuple[bytes, Any, bool]] = []  # (statement, parameters or rows, executemany)
        self.raw = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        raw = psycopg.connect(self._conninfo, autocommit=True, application_name="sdr-chat-server")
        try:
            if self._readonly:
                raw.execute("SET default_transaction_read_only = on")
            else:
                raw.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        except BaseException:
            raw.close()
            raise
        return raw

    def _ready(self) -> psycopg.Connection[tuple[Any, ...]]:
        self.guard()
        if self.raw.broken:
            if self.hold:
                raise psycopg.OperationalError("the connection was lost in the middle of a transaction")
            self.raw.close()
            self._queue.clear()  # it belonged to the transaction that was lost with the connection
            self.raw = self._connect()
        return self.raw

    @staticmethod
    def _statement(sql: str, parameters: Any) -> tuple[bytes, Any]:
        if not parameters:  # no placeholders to translate, and psycopg leaves a "%" alone without parameters
            return sql.encode(), None
        return translate(sql).encode(), parameters

    def defer(self, sql: str, parameters: Any = (), *, many: bool = False) -> None:
        self.guard()
        query, params = (translate(sql).encode(), parameters) if many else self._statement(sql, parameters)
        self._queue.append((query, params, many))

    def _queued_savepoint(self, name: str) -> int:
        """Where ``SAVEPOINT name`` waits in the queue (-1: sent already, or never made)."""
        self.guard()
        marker = f"SAVEPOINT {name}".encode()
        return next((i for i in range(len(self._queue) - 1, -1, -1) if self._queue[i][0] == marker), -1)

    def drop_savepoint(self, name: str) -> bool:
        """Takes a queued ``SAVEPOINT name`` back with everything queued after it (its command failed):
        True when it was never sent, so there is nothing to roll back."""
        i = self._queued_savepoint(name)
        if i >= 0:
            del self._queue[i:]
        return i >= 0

    def forget_savepoint(self, name: str) -> bool:
        """Takes a queued ``SAVEPOINT name`` back but keeps what was queued after it: True when it was never
        sent (its command succeeded: its writes stay, and there is nothing to release)."""
        i = self._queued_savepoint(name)
        if i >= 0:
            del self._queue[i]
        return i >= 0

    def clear_queue(self) -> None:
        self.guard()
        self._queue.clear()

    def _run(self, query: bytes, params: Any, many: bool) -> psycopg.Cursor[tuple[Any, ...]]:
        raw = self._ready()
        if not self._queue:
            if many:
                cur = raw.cursor()
                cur.executemany(query, params)
                return cur
            return raw.execute(query, params)
        queue, self._queue = coalesce(self._queue), []
        with raw.pipeline():
            for q, p, m in queue:
                if m:
                    raw.cursor().executemany(q, p)
                else:
                    raw.execute(q, p)
            cur = raw.cursor()
            if many:
                cur.executemany(query, params)
            else:
                cur.execute(query, params)
        return cur

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[tuple[Any, ...]]:
        return self._run(*self._statement(sql, parameters), False)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> psycopg.Cursor[tuple[Any, ...]]:
        return self._run(translate(sql).encode(), list(seq_of_parameters), True)

    def executescript(self, sql_script: str, /) -> psycopg.Cursor[tuple[Any, ...]]:
        """Several statements, no parameters (SQLite DDL spelled for PostgreSQL: REAL, BLOB)."""
        for pattern, replacement in _DDL:
            sql_script = pattern.sub(replacement, sql_script)
        return self._run(sql_script.encode(), None, False)

    @property
    def status(self) -> TransactionStatus:
        self.guard()
        return TransactionStatus.UNKNOWN if self.raw.broken else self.raw.info.transaction_status

    @property
    def in_transaction(self) -> bool:
        return self.status in (TransactionStatus.INTRANS, TransactionStatus.INERROR, TransactionStatus.ACTIVE)

    def close(self) -> None:
        self.raw.close()


def _unguarded() -> None:
    pass


def _scalar(cur: psycopg.Cursor[tuple[Any, ...]]) -> Any:
    row = cur.fetchone()
    assert row is not None  # an aggregate always returns a row
    return row[0]


def migrate(conn: PgConnection) -> int:
    """Brings the schema to LATEST in one transaction (all or nothing) under MIGRATE_LOCK, so several
    processes starting at once apply each migration exactly once. Returns the version found before."""
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version integer PRIMARY KEY, applied_at double precision NOT NULL)"
        )
        found = int(_scalar(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")))
        if found > LATEST:
            raise psycopg.DataError(
                f"the database's schema is version {found}, newer than this server knows ({LATEST}): "
                "upgrade the server"
            )
        for version, sql in MIGRATIONS:
            if version > found:
                conn.raw.execute(sql.encode())
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
                log.info("database schema migrated to version %d", version)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found


class PgReads(Reads):
    _EMAIL_MATCH = "lower(email)=lower(?)"  # the unique index is on lower(email) (SQLite: COLLATE NOCASE)


class PostgresStorage(SqlStorage):
    """For teams that run several server processes (or want PostgreSQL's operations): same interface, same
    durability rule (a batch is acked only after its COMMIT returned, i.e. its WAL record is flushed)."""

    _EMAIL_MATCH = PgReads._EMAIL_MATCH
    _OFF_LOOP = True  # BEGIN waits for other processes' batches (WRITE_LOCK), COMMIT for the WAL flush
    _VISITOR_LAST_SEEN = "(convert_from(v.data, 'UTF8')::jsonb->>'last_seen')::double precision"

    def __init__(self, conninfo: str, commit_delay: float = 0.0) -> None:
        w = PgConnection(conninfo)
        try:
            migrate(w)
            view = PgConnection(conninfo, readonly=True)
        except BaseException:
            w.close()
            raise
        super().__init__(w, PgReads(view), commit_delay)
        self._pg = (w, view)
        w.guard = self._settle
        # Event rows of the open command, written with its RELEASE (or the next SAVEPOINT or COMMIT) in one
        # round trip: a message seen by 50 agents is 50 rows, and a round trip each was most of its cost.
        self._events: list[tuple[str, int, float, bytes]] = []
        # Committed stream heads, valid while no other process appended events: every batch that appends
        # events writes a fresh token into meta ('events_writer'); a batch that finds ours there (read with
        # BEGIN, under the lock) may trust these, otherwise it asks the table (_first_seq).
        self._heads: dict[str, int] = {}
        self._token = ""
        self._new_token = ""
        try:
            # The epoch is the database's (a meta row), shared by every process: made once, under the lock.
            self._begin()
            self._load_epoch()
            self.commit_now()
        except BaseException:
            self._close_connections()
            raise

    def _start_batch(self) -> None:
        # One round trip: both in one simple query (no parameters), the lock taken before any statement.
        w = self._pg[0]
        w.hold = False  # a new transaction may start on a new connection
        # When another process appended events since our last batch (the token is not ours), the stream heads
        # of all agents come back in the same round trip (an index lookup each): asking per agent later would
        # be a round trip each, on the loop, with the lock held.
        token = self._token if _TOKEN.fullmatch(self._token) else ""
        try:
            cur = w.execute(
                f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK}); "
                "SELECT value FROM meta WHERE key='events_writer'; "
                "SELECT a.id, (SELECT coalesce(max(e.seq), 0) FROM events e WHERE e.agent_id = a.id) "
                "FROM agents a WHERE (SELECT value FROM meta WHERE key='events_writer') "
                f"IS DISTINCT FROM '{token}'"
            )
        except BaseException:
            if w.in_transaction:  # begun, but no lock (lock_timeout): nothing of it may linger
                with suppress(*STORAGE_ERRORS):
                    w.execute("ROLLBACK")
            raise
        w.hold = True
        cur.nextset()
        cur.nextset()
        row = cur.fetchone()
        if row is None or row[0] != self._token:
            self._heads.clear()  # another process appended events since our last batch (or none ever did)
            cur.nextset()
            self._heads.update((agent_id, int(head)) for agent_id, head in cur.fetchall())
        self._new_token = ""

    def _batch_ended(self) -> None:
        self._pg[0].hold = False
        self._pg[0].clear_queue()  # committed (nothing is left), or lost: not to be sent before the ROLLBACK
        self._events.clear()

    def _insert_event(self, row: tuple[str, int, float, bytes]) -> None:
        self._events.append(row)

    def _discard_events(self) -> None:
        self._events.clear()

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self._flush()  # the command's event rows so far stay ahead of it, in order
        self._pg[0].defer(sql, params)

    def _flush(self) -> None:
        """Queues the buffered event rows (they go out with the next statement)."""
        if self._events:
            rows, self._events = self._events, []
            # One statement for all of them (executemany would be one per row for the server to run: a
            # message seen by 10 agents made PostgreSQL parse and execute 10 inserts).
            agents, seqs, ats, frames = (list(column) for column in zip(*rows, strict=True))
            self._pg[0].defer(INSERT_EVENTS, (agents, seqs, ats, frames))

    def _control(self, sql: str) -> None:
        """Round trips are most of a command's cost: SAVEPOINT and RELEASE are queued and go out with the
        command's first statement (or the next one, or the COMMIT); a savepoint still queued when its
        command succeeded is never sent at all. COMMIT goes out now, with everything queued before it."""
        w = self._pg[0]
        self._flush()
        if sql.startswith("RELEASE "):
            # Never sent (the command read nothing after its first write): no savepoint on the server to
            # release; its writes, if any, stay queued for the next statement.
            name = sql.removeprefix("RELEASE ")
            if w.forget_savepoint(name):
                return
        if sql == "COMMIT":
            if self._next_seq:  # this batch appended events: say so, for the other processes' head caches
                self._new_token = new_id()
                w.defer(
                    "INSERT INTO meta VALUES ('events_writer', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                    (self._new_token,),
                )
            w.execute(sql)
        else:
            w.defer(sql)

    def _rollback_to(self, name: str) -> None:
        self._events.clear()
        w = self._pg[0]
        if not w.drop_savepoint(name):  # sent already: roll back for real, and what
            w.clear_queue()  # is queued was queued after that, by this command: it must not go out first
            super()._rollback_to(name)

    def newest_seq(self, agent_id: str) -> int:
        self._flush()
        return super().newest_seq(agent_id)

    def events_after(self, agent_id: str, after_seq: int, limit: int) -> list[tuple[int, bytes]] | None:
        self._flush()
        return super().events_after(agent_id, after_seq, limit)

    def prune(self, now: float, event_window: float, min_events: int, command_retention: float) -> None:
        self._flush()
        super().prune(now, event_window, min_events, command_retention)

    def _aborted(self) -> bool:
        return self._pg[0].status == TransactionStatus.INERROR

    def _lost_error(self, message: str) -> Exception:
        return psycopg.OperationalError(message)

    def _first_seq(self, agent_id: str) -> int:
        # Under WRITE_LOCK: no other process appends to this stream until our batch commits.
        head = self._heads.get(agent_id)
        if head is None:
            row = self._pg[0].execute(
                "SELECT coalesce(max(seq), 0) FROM events WHERE agent_id=?", (agent_id,)
            )
            head = self._heads[agent_id] = int(_scalar(row))
        return head + 1

    def execute_in_batch(self, sql: str, params: tuple[Any, ...]) -> None:
        """One statement (``?`` placeholders) in the open write batch: it commits with the batch or not at all
        (chat_server.cluster writes the frames for visitors connected to other processes this way)."""
        self._begin()
        self._pg[0].defer(sql, params)  # no result to wait for: it goes out with the next statement

    def _committed_seqs(self) -> None:
        for agent_id, seq in self._next_seq.items():
            self._heads[agent_id] = seq - 1
        self._next_seq.clear()  # other processes may append before our next batch: checked under the lock
        if self._new_token:
            self._token, self._new_token = self._new_token, ""

    def head_seq(self, agent_id: str) -> int:
        row = self._pg[1].execute("SELECT coalesce(max(seq), 0) FROM events WHERE agent_id=?", (agent_id,))
        return int(_scalar(row))

    def _close_connections(self) -> None:
        for conn in reversed(self._pg):
            conn.close()
