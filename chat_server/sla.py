"""The SLA clock: first human response due 30 s after routing, warning at 20 s, breach at 30 s, and a
meeting offer to the visitor at 60 s without a human reply (all configurable in the playbook's [sla]).

Timers run on an injected :class:`Scheduler` keyed by wall-clock time from the injected Clock, so tests
drive them with :class:`ManualScheduler` and never sleep. Every clock is a row in ``sla_clock`` (same
SQLite file, same transaction as the conversation update), so after a restart :meth:`SlaStore.pending`
re-arms what is left, and the same table answers the per-SDR report (``python -m chat_server report sla``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from chat_server.clock import Clock
from chat_server.playbook import SlaSettings
from chat_server.storage.base import SqlConnection

TimerKind = Literal["warn", "breach", "offer"]
Callback = Callable[[], Awaitable[None]]


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def call_at(self, when: float, callback: Callback) -> TimerHandle:
        """Run ``callback`` at wall-clock time ``when`` (seconds since the epoch, from the Clock)."""
        ...


class _LoopHandle:
    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


class LoopScheduler:
    """Production: asyncio timers; a callback's task is kept until it finishes, errors are logged."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def call_at(self, when: float, callback: Callback) -> TimerHandle:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            task = loop.create_task(_guard(callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return _LoopHandle(loop.call_later(max(0.0, when - self.clock.now()), fire))

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def _guard(callback: Callback) -> None:
    import logging

    try:
        await callback()
    except Exception:
        logging.getLogger(__name__).exception("SLA timer failed")


class _ManualHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """Tests: time moves only in :meth:`advance`, which runs due callbacks in time order (and awaits them)."""

    def __init__(self, clock: Clock, advance_clock: Callable[[float], None]) -> None:
        self.clock = clock
        self._advance_clock = advance_clock
        self._heap: list[tuple[float, int, _ManualHandle, Callback]] = []
        self._n = itertools.count()

    def call_at(self, when: float, callback: Callback) -> TimerHandle:
        handle = _ManualHandle()
        heapq.heappush(self._heap, (when, next(self._n), handle, callback))
        return handle

    def pending(self) -> int:
        return sum(not h.cancelled for _, _, h, _ in self._heap)

    async def advance(self, seconds: float) -> None:
        target = self.clock.now() + seconds
        while self._heap and self._heap[0][0] <= target:
            when, _, handle, callback = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            if when > self.clock.now():
                self._advance_clock(when - self.clock.now())
            await _guard(callback)
        if target > self.clock.now():
            self._advance_clock(target - self.clock.now())


# ---------------------------------------------------------------- persistence

SCHEMA = """
CREATE TABLE IF NOT EXISTS sla_clock (
    conversation_id TEXT PRIMARY KEY,
    agent_id TEXT,                 -- the SDR the chat was routed to (or aligned with, when away)
    started_at REAL NOT NULL,
    warn_at REAL NOT NULL,
    due_at REAL NOT NULL,
    offer_at REAL NOT NULL,
    warned_at REAL,
    breached_at REAL,
    offered_at REAL,
    first_response_at REAL,
    responder_id TEXT,             -- who answered first (may differ from agent_id)
    outcome TEXT NOT NULL DEFAULT 'waiting'
);
CREATE INDEX IF NOT EXISTS sla_clock_waiting ON sla_clock(outcome);
"""

Outcome = Literal["waiting", "answered", "answered_late", "closed_unanswered"]


@dataclass
class SlaRecord:
    conversation_id: str
    agent_id: str | None
    started_at: float
    warn_at: float
    due_at: float
    offer_at: float
    warned_at: float | None = None
    breached_at: float | None = None
    offered_at: float | None = None
    first_response_at: float | None = None
    responder_id: str | None = None
    outcome: str = "waiting"

    def next_timers(self, now: float = 0.0) -> list[tuple[TimerKind, float]]:
        """What is still to fire, in order (a warning is pointless once the breach is due as well)."""
        todo: list[tuple[TimerKind, float]] = []
        if self.warned_at is None and self.breached_at is None and self.due_at > now:
            todo.append(("warn", self.warn_at))
        if self.breached_at is None:
            todo.append(("breach", self.due_at))
        if self.offered_at is None:
            todo.append(("offer", self.offer_at))
        return todo


_COLUMNS = (
    "conversation_id, agent_id, started_at, warn_at, due_at, offer_at, warned_at, breached_at, offered_at, "
    "first_response_at, responder_id, outcome"
)
_UPDATE_ALL = ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS.split(", ")[1:])


class SlaStore:
    """Rows in the chat server's SQLite file. Writes go through ``conn`` inside the storage's open
    transaction (the caller holds a savepoint), so a clock and its conversation change commit together."""

    def __init__(self, conn: SqlConnection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)

    def start(self, record: SlaRecord) -> None:
        self.conn.execute(
            # An upsert both SQLite and PostgreSQL speak (SQLite's INSERT OR REPLACE is its own dialect).
            f"INSERT INTO sla_clock ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            f"ON CONFLICT (conversation_id) DO UPDATE SET {_UPDATE_ALL}",
            (
                record.conversation_id,
                record.agent_id,
                record.started_at,
                record.warn_at,
                record.due_at,
                record.offer_at,
                record.warned_at,
                record.breached_at,
                record.offered_at,
                record.first_response_at,
                record.responder_id,
                record.outcome,
            ),
        )

    def get(self, conversation_id: str) -> SlaRecord | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM sla_clock WHERE conversation_id=?", (conversation_id,)
        ).fetchone()
        return SlaRecord(*row) if row else None

    def pending(self) -> list[SlaRecord]:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM sla_clock WHERE outcome='waiting' ORDER BY due_at")
        return [SlaRecord(*r) for r in rows]

    def mark(self, conversation_id: str, kind: TimerKind, at: float) -> None:
        column = {"warn": "warned_at", "breach": "breached_at", "offer": "offered_at"}[kind]
        self.conn.execute(f"UPDATE sla_clock SET {column}=? WHERE conversation_id=?", (at, conversation_id))

    def set_agent(self, conversation_id: str, agent_id: str | None) -> None:
        self.conn.execute(
            "UPDATE sla_clock SET agent_id=? WHERE conversation_id=?", (agent_id, conversation_id)
        )

    def finish(
        self, conversation_id: str, outcome: Outcome, at: float | None, responder_id: str | None
    ) -> None:
        self.conn.execute(
            "UPDATE sla_clock SET outcome=?, first_response_at=?, responder_id=? "
            "WHERE conversation_id=? AND outcome='waiting'",
            (outcome, at, responder_id, conversation_id),
        )


def new_record(conversation_id: str, agent_id: str | None, now: float, settings: SlaSettings) -> SlaRecord:
    return SlaRecord(
        conversation_id=conversation_id,
        agent_id=agent_id,
        started_at=now,
        warn_at=now + settings.warning_seconds,
        due_at=now + settings.first_response_seconds,
        offer_at=now + settings.offer_meeting_seconds,
    )


# ---------------------------------------------------------------- reporting


@dataclass(frozen=True)
class SdrSla:
    agent_id: str
    routed: int  # conversations whose clock named this SDR
    answered: int  # first human responses by this SDR
    within_sla: int
    breaches: int  # routed to this SDR and breached
    meetings_offered: int
    median_first_response: float | None  # seconds, over this SDR's first responses
    mean_first_response: float | None


def sdr_report(conn: SqlConnection, since: float = 0.0, until: float | None = None) -> list[SdrSla]:
    """Per SDR: first-response times (of the chats they answered first), breaches and offers (of the chats
    routed to them). Unassigned clocks are reported under agent_id ''."""
    until = float("inf") if until is None else until
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM sla_clock WHERE started_at>=? AND started_at<?", (since, until)
    ).fetchall()
    records = [SlaRecord(*r) for r in rows]
    ids = sorted({r.agent_id or "" for r in records} | {r.responder_id for r in records if r.responder_id})
    report = []
    for agent_id in ids:
        mine = [r for r in records if (r.agent_id or "") == agent_id]
        answered = [r for r in records if r.responder_id == agent_id and r.first_response_at is not None]
        times = [r.first_response_at - r.started_at for r in answered if r.first_response_at is not None]
        report.append(
            SdrSla(
                agent_id=agent_id,
                routed=len(mine),
                answered=len(answered),
                within_sla=sum(1 for r in answered if r.outcome == "answered"),
                breaches=sum(1 for r in mine if r.breached_at is not None),
                meetings_offered=sum(1 for r in mine if r.offered_at is not None),
                median_first_response=statistics.median(times) if times else None,
                mean_first_response=statistics.fmean(times) if times else None,
            )
        )
    return report


def conversation_report(conn: SqlConnection, since: float = 0.0) -> list[SlaRecord]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM sla_clock WHERE started_at>=? ORDER BY started_at", (since,))
    return [SlaRecord(*r) for r in rows]


def format_report(rows: list[SdrSla], names: dict[str, str]) -> str:
    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}s"

    header = (
        f"{'SDR':<28} {'routed':>6} {'answered':>8} {'in SLA':>6} {'breaches':>8} {'offers':>6} "
        f"{'median':>8} {'mean':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        name = names.get(r.agent_id, r.agent_id) if r.agent_id else "(unassigned)"
        lines.append(
            f"{name[:28]:<28} {r.routed:>6} {r.answered:>8} {r.within_sla:>6} {r.breaches:>8} "
            f"{r.meetings_offered:>6} {secs(r.median_first_response):>8} {secs(r.mean_first_response):>8}"
        )
    if not rows:
        lines.append("(no routed conversations in this period)")
    return "\n".join(lines)


def report_main(
    db_path: str,
    since_days: float | None = None,
    as_json: bool = False,
    now: float = 0.0,
    conn: SqlConnection | None = None,
) -> str:
    """``python -m chat_server report sla``: the per-SDR table (or JSON) from the server's database: the
    SQLite file at ``db_path``, or ``conn`` (the configured storage's connection, e.g. PostgreSQL)."""
    from pathlib import Path

    from chat_server.storage.schema import SCHEMA as CORE_SCHEMA
    from chat_server.storage.schema import connect

    if conn is not None:
        return _report(conn, since_days, as_json, now)
    if not Path(db_path).exists():
        return f"no database at {db_path} (pass --db)"
    sqlite = connect(db_path)
    try:
        sqlite.executescript(CORE_SCHEMA + SCHEMA)
        return _report(sqlite, since_days, as_json, now)
    finally:
        sqlite.close()


def _report(conn: SqlConnection, since_days: float | None, as_json: bool, now: float) -> str:
    import json
    import time

    since = (now or time.time()) - since_days * 86400 if since_days else 0.0
    rows = sdr_report(conn, since)
    names: dict[str, str] = {}
    for agent_id, data in conn.execute("SELECT id, data FROM agents"):
        try:
            names[agent_id] = json.loads(data)["name"]
        except (ValueError, KeyError):
            pass
    if as_json:
        return json.dumps([{**r.__dict__, "name": names.get(r.agent_id, "")} for r in rows], indent=2)
    return format_report(rows, names)
