"""The team report from the server (``report`` command): periods, fetching, and how figures read."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, Final

from agent_app import protocol as p

if TYPE_CHECKING:
    from agent_app.session import Session

PERIODS: Final = (("today", "Today"), ("7d", "Last 7 days"), ("30d", "Last 30 days"))
CQL_COLUMNS: Final = ("Red line", "1 bolt", "2 bolts", "3 bolts", "Unrated")  # Report cql list order


async def fetch_report(
    session: Session,
    period: str = "7d",
    timezone: str = "",
    since: float | None = None,
    until: float | None = None,
) -> p.Report:
    """Asks the server for the report (raises the session's errors: CommandError, NotConnected)."""
    command = p.GetReport(id=uuid.uuid4().hex, period=period, timezone=timezone, since=since, until=until)
    result: dict[str, Any] = await session.request(command)
    return p.convert(result["report"], p.Report)


def custom_bounds(first: dt.date, last: dt.date, zone: dt.tzinfo) -> tuple[float, float]:
    """[since, until) of whole days ``first`` .. ``last`` in the reader's zone (a custom period)."""
    since = dt.datetime.combine(first, dt.time(), zone).timestamp()
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).timestamp()
    return since, until


def seconds_text(value: float | None) -> str:
    """First-response times as an SDR reads them: "8 s", "1 min 05 s"; "—" when nothing was answered."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.0f} s" if value >= 10 or value == int(value) else f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"
