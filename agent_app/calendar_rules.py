"""Client-side checks of CalendarSettings before sending them (the server checks again, authoritatively)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from agent_app import protocol as p

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def zones() -> list[str]:
    """IANA zone names for pickers, common ones (Region/City) only, sorted."""
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def problems(settings: p.CalendarSettings) -> list[str]:
    """What is wrong, in words an SDR understands; empty when the settings can be saved."""
    found: list[str] = []
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder of zones: OSError
        found.append(f"Pick a time zone from the list ({settings.timezone!r} is unknown).")
    if not settings.description.strip():
        found.append('Add a short description visitors will see, e.g. "Intro call".')
    if not settings.availability:
        found.append("Choose at least one day you can take meetings.")
    for window in settings.availability:
        length = minutes(window.end) - minutes(window.start)
        day = WEEKDAYS[window.weekday] if 0 <= window.weekday < 7 else str(window.weekday)
        if length <= 0:
            found.append(f"{day}: the end ({window.end}) must be after the start ({window.start}).")
        elif length < settings.duration_minutes:
            span = f"{window.start}-{window.end}"
            found.append(f"{day}: {span} is too short for a {settings.duration_minutes}-minute call.")
    if settings.buffer_minutes >= 4 * 60:
        found.append("A buffer of 4 hours or more leaves almost no slots.")
    return found
