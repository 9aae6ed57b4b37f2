"""Short human time texts for rows and bubbles ("0:24", "5 min", "14:05", "Mar 3"), in the reader's zone."""

from __future__ import annotations

import datetime as dt

from agent_app.timezones import MACHINE_ZONE

# ``zone``: the reader's zone (agent_app.timezones.reader_zone); None = this machine's.


def countdown(seconds: float) -> str:
    """m:ss of a remaining (or, with a leading "+", overdue) time."""
    sign = "+" if seconds < 0 else ""
    total = int(abs(seconds) + (0 if seconds < 0 else 0.999))
    return f"{sign}{total // 60}:{total % 60:02d}"


def short_age(seconds: float) -> str:
    """Compact age: "now", "45s", "5m", "2h", "3d"."""
    s = max(0, int(seconds))
    if s < 10:
        return "now"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def local(ts: float, zone: dt.tzinfo | None = None) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone or MACHINE_ZONE)


def message_time(ts: float, now: float, zone: dt.tzinfo | None = None) -> str:
    """Relative within the last hour today ("just now", "5 min ago"), clock time today, date otherwise."""
    when, today = local(ts, zone), local(now, zone)
    age = now - ts
    if when.date() == today.date():
        if 0 <= age < 60:
            return "just now"
        if 0 <= age < 3600:
            return f"{int(age // 60)} min ago"
        return when.strftime("%H:%M")
    if when.year == today.year:
        return f"{when.strftime('%b')} {when.day}, {when.strftime('%H:%M')}"
    return f"{when.strftime('%b')} {when.day} {when.year}, {when.strftime('%H:%M')}"


def day_label(ts: float, now: float, zone: dt.tzinfo | None = None) -> str:
    """Day separator text: "Today", "Yesterday", "Monday, March 3"."""
    day, today = local(ts, zone).date(), local(now, zone).date()
    if day == today:
        return "Today"
    if day == today - dt.timedelta(days=1):
        return "Yesterday"
    text = f"{day.strftime('%A, %B')} {day.day}"
    return text if day.year == today.year else f"{text}, {day.year}"


def same_day(a: float, b: float, zone: dt.tzinfo | None = None) -> bool:
    return local(a, zone).date() == local(b, zone).date()
