"""Open meeting slots from an SDR's CalendarSettings and booked meetings; time-zone and DST correct."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent_app.protocol import Agent, CalendarSettings, Slot, Weekly

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")

MAX_DURATION = 8 * 60
MAX_BUFFER = 4 * 60
MAX_NOTICE = 30 * 24 * 60
MAX_HORIZON = 90
MAX_DESCRIPTION = 500

# Monday to Friday, 09:00-17:00 in the SDR's zone: what a new calendar offers until its owner edits it.
DEFAULT_AVAILABILITY = tuple(Weekly(weekday=d, start="09:00", end="17:00") for d in range(5))

DEFAULT_ZONE = "America/New_York"  # Config.default_timezone's default
# Territory names that lie in one time zone, so a profile without a zone can still get the right one.
# Names spanning several zones (EMEA, APAC, LATAM, "US") are not guessed: those fall back to the server's
# default_timezone until the agent's zone is set (``agents set-timezone``).
TERRITORY_ZONES = {
    "us-west": "America/Los_Angeles",
    "us-pacific": "America/Los_Angeles",
    "us-mountain": "America/Denver",
    "us-central": "America/Chicago",
    "us-east": "America/New_York",
    "us-eastern": "America/New_York",
    "uk": "Europe/London",
    "uk&i": "Europe/London",
    "dach": "Europe/Berlin",
    "anz": "Australia/Sydney",
}


MAX_ZONE_NAME = 64


def zone_problem(name: str) -> str:
    """Why ``name`` is not a usable IANA time zone ("" when it is)."""
    if len(name) > MAX_ZONE_NAME:  # the longest IANA name has 32 characters
        return f"unknown time zone {name[:40]!r}...: IANA names have at most {MAX_ZONE_NAME} characters"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory: IsADirectoryError
        return f"unknown time zone {name!r}: use an IANA name such as America/Chicago or Europe/Berlin"
    return ""


def territory_zone(territory: str) -> str:
    """The zone of a single-zone territory name ("US-West" -> America/Los_Angeles), else ""."""
    return TERRITORY_ZONES.get("-".join(territory.strip().lower().replace("_", " ").split()), "")


def agent_zone(agent: Agent, default: str = DEFAULT_ZONE) -> str:
    """An agent's zone: the profile's, else their territory's, else the server's default."""
    for zone in (agent.timezone, territory_zone(agent.territory)):
        if zone and not zone_problem(zone):
            return zone
    return default or DEFAULT_ZONE


def default_settings(agent_id: str, timezone: str = DEFAULT_ZONE) -> CalendarSettings:
    """A calendar never edited: weekdays 09:00-17:00 in ``timezone`` (the owner's zone, see agent_zone)."""
    return CalendarSettings(agent_id=agent_id, timezone=timezone, availability=list(DEFAULT_AVAILABILITY))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def validate_settings(settings: CalendarSettings) -> list[str]:
    """Human-readable problems; an empty list means the settings can be stored."""
    problems: list[str] = []
    if zone_problem(settings.timezone):  # never ZoneInfo() directly: "America" raises IsADirectoryError
        problems.append(f"Unknown time zone {settings.timezone[:MAX_ZONE_NAME]!r}.")
    if not 5 <= settings.duration_minutes <= MAX_DURATION:
        problems.append(f"Duration must be between 5 and {MAX_DURATION} minutes.")
    if not 0 <= settings.buffer_minutes <= MAX_BUFFER:
        problems.append(f"Buffer must be between 0 and {MAX_BUFFER} minutes.")
    if not 0 <= settings.min_notice_minutes <= MAX_NOTICE:
        problems.append("Minimum notice must be between 0 minutes and 30 days.")
    if not 1 <= settings.horizon_days <= MAX_HORIZON:
        problems.append(f"Horizon must be between 1 and {MAX_HORIZON} days.")
    if len(settings.description) > MAX_DESCRIPTION:
        problems.append(f"Description is longer than {MAX_DESCRIPTION} characters.")
    for w in settings.availability:
        if not 0 <= w.weekday <= 6:
            problems.append(f"Weekday {w.weekday} is not 0 (Monday) to 6 (Sunday).")
        elif not (_HHMM.match(w.start) and _HHMM.match(w.end)) or w.start == "24:00":
            problems.append(f"Hours {w.start}-{w.end} are not HH:MM.")
        elif _minutes(w.end) - _minutes(w.start) < settings.duration_minutes:
            problems.append(
                f"{w.start}-{w.end} is shorter than one {settings.duration_minutes}-minute meeting."
            )
    return problems


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    if hhmm == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    hours, minutes = hhmm.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), tzinfo=zone)


def _exists(local: datetime) -> bool:
    """False for wall times skipped by a spring-forward change (e.g. 02:30 on the day clocks jump)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _conflicts(start: float, end: float, busy: list[tuple[float, float]], buffer: float) -> bool:
    return any(start < b_end + buffer and b_start < end + buffer for b_start, b_end in busy)


def open_slots(
    settings: CalendarSettings,
    busy: Iterable[tuple[float, float]],
    now: float,
    *,
    limit: int | None = None,
) -> list[Slot]:
    """Bookable slots, oldest first, as UTC timestamps.

    Candidates start at each availability window's start and repeat every ``duration`` in the SDR's
    wall-clock time (so a 09:00 window offers 09:00, 09:30 local on both sides of a DST change). A
    candidate is dropped when its wall time does not exist (spring-forward gap), when it ends after its
    window, starts before ``now + min_notice``, ends after ``now + horizon``, or comes within ``buffer``
    of a busy interval (booked meetings). An ambiguous wall time (fall-back) takes its first occurrence.
    """
    zone = ZoneInfo(settings.timezone)
    duration = timedelta(minutes=settings.duration_minutes)
    step = duration
    earliest = now + settings.min_notice_minutes * 60
    latest = now + settings.horizon_days * 86400
    buffer = settings.buffer_minutes * 60.0
    busy_list = sorted(busy)
    by_day: dict[int, list[Weekly]] = {}
    for w in settings.availability:
        by_day.setdefault(w.weekday, []).append(w)

    slots: list[Slot] = []
    seen: set[float] = set()
    day = datetime.fromtimestamp(now, zone).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp(latest, zone).date()
    while day <= last_day:
        for window in sorted(by_day.get(day.weekday(), []), key=lambda w: w.start):
            window_end = _local(day, window.end, zone).timestamp()
            local = _local(day, window.start, zone)
            while True:
                start = local.timestamp()
                end = start + duration.total_seconds()
                if end > window_end or end > latest:
                    break
                if (
                    _exists(local)
                    and start >= earliest
                    and start not in seen
                    and not _conflicts(start, end, busy_list, buffer)
                ):
                    seen.add(start)
                    slots.append(Slot(start=start, end=end))
                    if limit is not None and len(slots) >= limit:
                        return slots
                local = local + step
        day += timedelta(days=1)
    slots.sort(key=lambda s: s.start)
    return slots


def is_open(
    settings: CalendarSettings, busy: Iterable[tuple[float, float]], now: float, start: float
) -> bool:
    """Whether a visitor may book ``start`` right now (the server re-checks before every booking)."""
    return any(abs(s.start - start) < 0.5 for s in open_slots(settings, busy, now))
