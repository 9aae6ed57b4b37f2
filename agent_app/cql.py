"""CQL (conversational qualified lead) levels, their names and tooltips, and the per-SDR report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from agent_app import protocol as p

Level = int | None
Period = Literal["day", "week"]

# Report order: unrated first, then red line to three bolts.
ALL_LEVELS: tuple[Level, ...] = (None, 0, 1, 2, 3)
UNASSIGNED = ""  # the SDR key of conversations nobody owns or rated

_NAMES: dict[Level, str] = {None: "Unrated", 0: "Not qualified", 1: "Inquiry", 2: "Better", 3: "MQL"}
_TOOLTIPS: dict[Level, str] = {
    None: "Unrated: no CQL yet",
    0: "Red line: not qualified",
    1: "1 bolt: Inquiry (Good)",
    2: "2 bolts: Better",
    3: "3 bolts: MQL (Best)",
}
# What integrations (Salesforce, Drift's convention) receive: -1 for the red line.
_EXPORT: dict[Level, int | None] = {None: None, 0: -1, 1: 1, 2: 2, 3: 3}
KEYS: dict[str, Level] = {"0": 0, "1": 1, "2": 2, "3": 3}  # plus Backspace/Delete for unrated


def name(level: Level) -> str:
    return _NAMES.get(level, "Unrated")


def tooltip(level: Level) -> str:
    return _TOOLTIPS.get(level, _TOOLTIPS[None])


def bolts(level: Level) -> int:
    """How many bolts to draw (0 for unrated and the red line)."""
    return level if level in (1, 2, 3) else 0


def export_value(level: Level) -> int | None:
    return _EXPORT.get(level)


def describe_change(change: p.CqlChange) -> str:
    """One line for the history popup, e.g. 'Sam Rep: Unrated -> 2 bolts: Better'."""
    who = change.by_name or change.by_id or ("Bot" if change.by_kind == p.AuthorKind.BOT else "Someone")
    return f"{who}: {name(change.previous)} -> {tooltip(change.level)}"


def period_start(moment: float, period: Period, zone: tzinfo) -> date:
    """The local day, or the Monday of the local ISO week, that ``moment`` falls in."""
    day = datetime.fromtimestamp(moment, zone).date()
    return day - timedelta(days=day.weekday()) if period == "week" else day


def rated_by(conversation: p.Conversation) -> str:
    """The agent who set the current level last (the bot and unrated count as nobody)."""
    for change in reversed(conversation.cql_history):
        if change.by_kind == p.AuthorKind.AGENT and change.by_id:
            return change.by_id
    return UNASSIGNED


def owner(conversation: p.Conversation) -> str:
    """The SDR a conversation's CQL counts for: its assignee, else whoever rated it."""
    return conversation.assignee_id or rated_by(conversation)


@dataclass
class CqlReport:
    """Counts per (period, SDR, level), each cell keeping the conversation ids behind its number."""

    period: Period
    periods: list[date] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    cells: dict[tuple[date, str, Level], list[str]] = field(default_factory=dict)

    def count(self, when: date | None = None, agent_id: str | None = None, level: Level | str = "any") -> int:
        return len(self.conversations(when, agent_id, level))

    def conversations(
        self, when: date | None = None, agent_id: str | None = None, level: Level | str = "any"
    ) -> list[str]:
        """Ids behind a number; None for ``when``/``agent_id`` and "any" for level mean all."""
        found: list[str] = []
        for (d, a, lv), ids in self.cells.items():
            if (
                (when is None or d == when)
                and (agent_id is None or a == agent_id)
                and (level == "any" or lv == level)
            ):
                found.extend(ids)
        return found

    def by_level(self, when: date | None = None, agent_id: str | None = None) -> dict[Level, int]:
        return {lv: self.count(when, agent_id, lv) for lv in ALL_LEVELS}


def aggregate(
    conversations: Iterable[p.Conversation],
    *,
    period: Period,
    zone: tzinfo,
    since: float | None = None,
    until: float | None = None,
    agent_ids: Iterable[str] | None = None,
) -> CqlReport:
    """Groups conversations by the local day/week they started in, their SDR and their current level."""
    wanted = set(agent_ids) if agent_ids is not None else None
    cells: dict[tuple[date, str, Level], list[str]] = defaultdict(list)
    for conv in conversations:
        started = conv.created_at
        if (since is not None and started < since) or (until is not None and started >= until):
            continue
        who = owner(conv)
        if wanted is not None and who not in wanted:
            continue
        level = conv.cql if conv.cql in (0, 1, 2, 3) else None
        cells[(period_start(started, period, zone), who, level)].append(conv.id)
    periods = sorted({d for d, _, _ in cells})
    agents = sorted({a for _, a, _ in cells})
    return CqlReport(period=period, periods=periods, agents=agents, cells=dict(cells))


def agent_label(agent_id: str, agents: Mapping[str, p.Agent]) -> str:
    if agent_id == UNASSIGNED:
        return "Unassigned"
    agent = agents.get(agent_id)
    return agent.name if agent else agent_id
