"""Times as the reader sees them: the reader's own zone (profile, else this machine's), always labelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent_app import protocol as p

EN_DASH = "\u2013"


class MachineZone(dt.tzinfo):
    """This computer's zone as the OS reports it for each instant (DST-correct, no offsets of our own).

    Used when the agent's profile has no zone; ``datetime.astimezone()`` alone would freeze today's offset.
    """

    def _local(self, when: dt.datetime) -> dt.datetime:
        return when.replace(tzinfo=None).astimezone()  # a naive wall time, read by the OS (keeps ``fold``)

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        return self._local(when).utcoffset() if when is not None else None

    def dst(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def tzname(self, when: dt.datetime | None) -> str | None:
        return self._local(when).tzname() if when is not None else None

    def fromutc(self, when: dt.datetime) -> dt.datetime:
        local = dt.datetime.fromtimestamp(when.replace(tzinfo=dt.UTC).timestamp())  # sets ``fold``
        return local.replace(tzinfo=self)

    def __repr__(self) -> str:
        return "MachineZone()"


MACHINE_ZONE = MachineZone()


def named_zone(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name``; None for "" or an unknown name."""
    try:
        return ZoneInfo(name) if name and len(name) <= 64 else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder of zones: OSError
        return None


def reader_zone(agent: p.Agent | None) -> dt.tzinfo:
    """The zone an agent reads times in: their profile's, else this machine's."""
    return (named_zone(agent.timezone) if agent is not None else None) or MACHINE_ZONE


def _at(ts: float, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone)


def zone_label(when: dt.datetime) -> str:
    """The abbreviation of an aware time: "CST", "CEST"; "UTC-03" for zones without one (São Paulo)."""
    name = when.tzname() or ""
    return f"UTC{name}" if not name or name[0] in "+-" else name


def zone_name(zone: dt.tzinfo, now: float) -> str:
    """ "America/Chicago (CST)" for headers; "this computer's zone (UTC)" without a profile zone."""
    label = zone_label(_at(now, zone))
    key = getattr(zone, "key", "")
    return f"{key} ({label})" if key else f"this computer's zone ({label})"


def _day(when: dt.datetime, today: dt.date | None) -> str:
    if today is not None and when.date() == today:
        return "Today"
    if today is not None and when.date() == today + dt.timedelta(days=1):
        return "Tomorrow"
    return f"{when:%a} {when.day} {when:%b}"


def instant_text(ts: float, zone: dt.tzinfo) -> str:
    """ "Tue 1 Dec, 12:00 CST"."""
    when = _at(ts, zone)
    return f"{_day(when, None)}, {when:%H:%M} {zone_label(when)}"


def span_text(start: float, end: float, zone: dt.tzinfo, today: dt.date | None = None) -> str:
    """ "Today 12:00-12:30 CST" (with ``today``) or "Tue 1 Dec 12:00-12:30 CST", with an en dash."""
    a, b = _at(start, zone), _at(end, zone)
    until = f"{b:%H:%M}" if a.date() == b.date() else f"{_day(b, today)} {b:%H:%M}"
    return f"{_day(a, today)} {a:%H:%M}{EN_DASH}{until} {zone_label(a)}"


def message_text(message: p.Message, zone: dt.tzinfo, names: Mapping[str, str]) -> str:
    """What a transcript row says, with times in ``zone``: the booking line re-told from its meeting, a
    shared calendar with the range of times it offers; any other message as sent. ``names``: agent id ->
    name (the booking line keeps the server's wording when the SDR is unknown here)."""
    meeting, card = message.meeting, message.card
    if meeting is not None:
        owner = names.get(meeting.agent_id, "")
        if not owner:
            return message.text
        who = meeting.visitor_name or "The visitor"
        return f"{who} booked a call with {owner} for {span_text(meeting.start, meeting.end, zone)}"
    if card is not None and card.slots:
        first, last = card.slots[0].start, card.slots[-1].start
        count = len(card.slots)
        offered = f"{count} times offered" if count > 1 else "1 time offered"
        span = (
            instant_text(first, zone)
            if count == 1
            else f"{instant_text(first, zone)} to {instant_text(last, zone)}"
        )
        return f"{message.text} · {offered}: {span}"
    return message.text
