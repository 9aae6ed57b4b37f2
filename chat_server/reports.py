"""The ``report`` command: first-response times, missed chats, meetings and CQL per rep and territory."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from agent_app import protocol as p
from chat_server.errors import CommandError
from chat_server.visibility import can_see, is_supervisor

if TYPE_CHECKING:
    from chat_server.agent_commands import AgentSession

TARGET_SECONDS = 30.0  # the handbook's "respond within 30 seconds"
PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
MAX_CUSTOM_DAYS = 366
MAX_ROWS = 500  # reps or territories in one answer (a team is far smaller; the ack stays bounded)
UNASSIGNED = ""
NO_TERRITORY = "No territory"


class _Conv(msgspec.Struct):
    """The fields of a stored conversation the report reads (the rest of the blob is skipped)."""

    id: str
    created_at: float = 0.0
    status: str = "open"
    assignee_id: str | None = None
    participant_ids: list[str] = []
    first_response_at: float | None = None
    cql: int | None = None


class _Who(msgspec.Struct):
    name: str = ""
    email: str = ""
    company: str = ""


_conv = msgspec.json.Decoder(_Conv)
_who = msgspec.json.Decoder(_Who)


@dataclass
class _Clock:
    """One sla_clock row (chat_server.sla): when the response clock started, who answered, the offer."""

    agent_id: str | None
    started_at: float
    first_response_at: float | None
    responder_id: str | None
    offered_at: float | None


@dataclass
class _Tally:
    chats: int = 0
    times: list[float] = field(default_factory=list)
    missed: int = 0
    meetings: int = 0
    cql: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])

    def row(self, key: str, name: str = "", territory: str = "") -> p.ReportRow:
        times = sorted(self.times)
        within = sum(1 for t in times if t <= TARGET_SECONDS)
        return p.ReportRow(
            key=key, name=name, territory=territory, chats=self.chats, answered=len(times),
            median_seconds=round(statistics.median(times), 3) if times else None,
            p90_seconds=round(p90(times), 3) if times else None, within_target=within,
            within_target_pct=round(100.0 * within / len(times), 1) if times else None,
            missed=self.missed, meetings=self.meetings, cql=list(self.cql),
        )  # fmt: skip


def p90(sorted_times: list[float]) -> float:
    """Nearest-rank 90th percentile (a value somebody actually waited, never an interpolation)."""
    return sorted_times[max(0, math.ceil(0.9 * len(sorted_times)) - 1)]


def period_bounds(
    period: str, zone: dt.tzinfo, now: float, since: float | None, until: float | None
) -> tuple[float, float]:
    """[since, until) of a period: whole days in ``zone`` ending with today, or the custom range."""
    if period == "custom":
        if since is None or until is None or not math.isfinite(since) or not math.isfinite(until):
            raise CommandError(p.ErrorCode.INVALID, "a custom period needs since and until")
        if until <= since:
            raise CommandError(p.ErrorCode.INVALID, "until must be after since")
        if until - since > MAX_CUSTOM_DAYS * 86400:
            raise CommandError(p.ErrorCode.TOO_LONG, f"a report covers at most {MAX_CUSTOM_DAYS} days")
        return since, until
    days = PERIOD_DAYS.get(period)
    if days is None:
        raise CommandError(p.ErrorCode.INVALID, "period must be today, 7d, 30d or custom")
    today = dt.datetime.fromtimestamp(now, zone).date()

    def midnight(day: dt.date) -> float:
        return dt.datetime.combine(day, dt.time(), zone).timestamp()

    return midnight(today - dt.timedelta(days=days - 1)), midnight(today + dt.timedelta(days=1))


def reader_zone(name: str) -> tuple[dt.tzinfo, str]:
    if not name:
        return dt.UTC, "UTC"
    if len(name) > 64:
        raise CommandError(p.ErrorCode.INVALID, "timezone is too long")
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CommandError(p.ErrorCode.INVALID, f"unknown timezone {name!r}") from exc


def _clocks(conn: Any, conversation_ids: set[str], since: float) -> dict[str, _Clock]:
    """The SLA clocks of the period's conversations (none when the server runs without the playbook:
    the table is made by the SLA clock at its start)."""
    try:
        rows = conn.execute(
            "SELECT conversation_id, agent_id, started_at, first_response_at, responder_id, offered_at "
            "FROM sla_clock WHERE started_at>=?",
            (since,),  # a clock starts after its conversation (bot questions first), maybe after `until`
        ).fetchall()
    except sqlite3.OperationalError:  # no such table: no SLA clock has ever run here
        return {}
    return {r[0]: _Clock(*r[1:]) for r in rows if r[0] in conversation_ids}


def compute(
    conn: Any, agents: dict[str, p.Agent], since: float, until: float, reader: p.Agent | None = None
) -> tuple[dict[str, _Tally], dict[str, _Tally], _Tally, list[p.ReportChat]]:
    """Per rep (agent id, "" = nobody), per territory, and the team's totals, from committed data.

    A chat belongs to its owner: the assignee at the end, else the rep its SLA clock named. Its first
    response belongs to whoever answered first (the clock's responder), timed from the start of the
    response clock (routing, or the fallback's last hop), or from the chat's start when no clock ran.
    Missed: no human reply before the SLA's meeting offer, or closed with no human reply and no meeting
    booked. Territory: the rep's own."""
    rows = conn.execute(
        "SELECT c.data, v.data FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
        "WHERE c.created_at>=? AND c.created_at<?",
        (since, until),
    ).fetchall()
    convs = [_conv.decode(r[0]) for r in rows]
    visitors = {c.id: r[1] for c, r in zip(convs, rows, strict=True)}
    chats: list[p.ReportChat] = []
    clocks = _clocks(conn, {c.id for c in convs}, since)
    meetings = _meetings(conn, since)
    booked = {cid for _, cid, _ in meetings if cid}
    reps: dict[str, _Tally] = defaultdict(_Tally)
    team = _Tally()

    def territory(agent_id: str) -> str:
        agent = agents.get(agent_id)
        return agent.territory if agent is not None and agent.territory else NO_TERRITORY

    territories: dict[str, _Tally] = defaultdict(_Tally)
    for conv in convs:
        clock = clocks.get(conv.id)
        owner = conv.assignee_id or (clock.agent_id if clock else None) or UNASSIGNED
        level = conv.cql if conv.cql in p.CQL_LEVELS and conv.cql is not None else 4  # 4: unrated
        answered_at = clock.first_response_at if clock else conv.first_response_at
        for tally in (reps[owner], territories[territory(owner)], team):
            tally.chats += 1
            tally.cql[level] += 1
        responder, seconds = "", 0.0
        if answered_at is not None:
            start = clock.started_at if clock else conv.created_at
            responder = (clock.responder_id if clock else None) or conv.assignee_id or UNASSIGNED
            seconds = max(0.0, answered_at - start)
            for tally in (reps[responder], territories[territory(responder)], team):
                tally.times.append(seconds)
        # The SLA's meeting offer (nobody answered in time); an offer made at once because the rep was
        # away or nobody was available is the playbook working, not a miss.
        offer = clock.offered_at if clock is not None and clock.offered_at != clock.started_at else None
        late = offer is not None and (answered_at is None or answered_at > offer)
        abandoned = (
            answered_at is None and conv.status == p.ConversationStatus.CLOSED and conv.id not in booked
        )
        missed = late or abandoned
        if missed:
            for tally in (reps[owner], territories[territory(owner)], team):
                tally.missed += 1
        if reader is not None and can_see(reader, _visible_shape(conv)):
            who = _who.decode(visitors[conv.id])
            chats.append(
                p.ReportChat(
                    conversation_id=conv.id, owner_id=owner, responder_id=responder,
                    visitor_name=who.name or who.email, company=who.company, created_at=conv.created_at,
                    first_response_seconds=round(seconds, 3) if answered_at is not None else None,
                    missed=missed, meeting=conv.id in booked, cql=conv.cql,
                )
            )  # fmt: skip
    for agent_id, conversation_id, created_at in meetings:
        if conversation_id and created_at < until:  # booked from a chat, in the period
            for tally in (reps[agent_id], territories[territory(agent_id)], team):
                tally.meetings += 1
    chats.sort(key=lambda c: c.created_at, reverse=True)
    return dict(reps), dict(territories), team, chats


def _visible_shape(conv: _Conv) -> p.Conversation:
    """Just what the visibility rule reads, so the one rule decides which chats a reader gets listed."""
    return p.Conversation(
        id=conv.id, visitor=p.Visitor(id=""), status=p.ConversationStatus(conv.status),
        assignee_id=conv.assignee_id, participant_ids=conv.participant_ids,
    )  # fmt: skip


def _meetings(conn: Any, since: float) -> list[tuple[str, str, float]]:
    """(owner, conversation, booked at) of the meetings booked since the period began."""
    try:
        return list(
            conn.execute(
                "SELECT agent_id, conversation_id, created_at FROM meetings WHERE created_at>=?",
                (since,),
            )
        )
    except sqlite3.OperationalError:  # a storage without meetings
        return []


def build_report(
    conn: Any, reader: p.Agent, agents: dict[str, p.Agent], command: p.GetReport, now: float
) -> p.Report:
    zone, zone_name = reader_zone(command.timezone or reader.timezone)
    since, until = period_bounds(command.period, zone, now, command.since, command.until)
    reps, territories, team, chats = compute(conn, agents, since, until, reader)
    manager = is_supervisor(reader)
    rep_ids = set(reps)
    if manager:  # every active SDR has a row, also with nothing to show (a manager looks for gaps too)
        rep_ids |= {a.id for a in agents.values() if not a.disabled and a.role is p.Role.SDR}
    else:
        rep_ids = {reader.id}
    rep_rows = []
    for agent_id in rep_ids:
        agent = agents.get(agent_id)
        name = agent.name if agent else ("Unassigned" if agent_id == UNASSIGNED else agent_id)
        where = agent.territory if agent else ""
        rep_rows.append(reps.get(agent_id, _Tally()).row(agent_id, name, where))
    rep_rows.sort(key=lambda r: (r.key == UNASSIGNED, r.name.lower()))
    if manager:
        territory_rows = [t.row(name, name) for name, t in territories.items()]
    else:  # an SDR sees their own territory's figures (their teammates' rows stay private)
        own = reader.territory or NO_TERRITORY
        territory_rows = [territories.get(own, _Tally()).row(own, own)]
    territory_rows.sort(key=lambda r: (r.key == NO_TERRITORY, r.key.lower()))
    return p.Report(
        period=command.period, since=since, until=until, timezone=zone_name, target_seconds=TARGET_SECONDS,
        scope="team" if manager else "own", reps=rep_rows[:MAX_ROWS], territories=territory_rows[:MAX_ROWS],
        team=team.row("team", "Team"), generated_at=now, chats=chats[: p.MAX_REPORT_CHATS],
        more_chats=max(0, len(chats) - p.MAX_REPORT_CHATS),
    )  # fmt: skip


def report(s: AgentSession, c: p.GetReport) -> dict[str, Any]:
    """Reads committed data through the storage's read-only view (a report never blocks a write)."""
    storage = s.ctx.storage
    conn = getattr(storage.committed(), "conn", None) or getattr(storage, "conn", None)
    if conn is None:
        raise CommandError(p.ErrorCode.INTERNAL, "reports need an SQL storage")
    built = build_report(conn, s.agent, dict(s.ctx.hub.agents), c, s.ctx.clock.now())
    return {"report": msgspec.to_builtins(built)}


HANDLERS: dict[type[Any], Callable[[AgentSession, Any], dict[str, Any]]] = {p.GetReport: report}
READS: set[type[Any]] = {p.GetReport}
