"""CalDAV (RFC 4791) provider on the ``caldav`` library: Fastmail, Nextcloud, iCloud, Radicale, Google."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import caldav
from caldav.lib import error as caldav_error

from chat_server.calendars import CalendarError, Connection

TIMEOUT = 10.0  # seconds per request: a hung calendar must not hold a booking for long


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):  # all-day event: the whole UTC day (no zone to go by)
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    raise CalendarError(f"unreadable event time {value!r}")


class CalDavProvider:
    """One agent's calendar. Blocking calls (the library is synchronous): run them via asyncio.to_thread."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._client: Any = None
        self._calendar: Any = None

    def _cal(self) -> Any:
        if self._calendar is not None:
            return self._calendar
        c = self.connection
        try:
            self._client = caldav.DAVClient(  # type: ignore[operator]
                url=c.url, username=c.username or None, password=c.password or None, timeout=int(TIMEOUT)
            )
            if c.calendar.startswith(("http://", "https://")):
                self._calendar = self._client.calendar(url=c.calendar)
            else:
                calendars = self._client.principal().calendars()
                named = [k for k in calendars if not c.calendar or k.get_display_name() == c.calendar]
                if not named:
                    raise CalendarError(f"no calendar named {c.calendar!r} on {c.url}" if c.calendar
                                        else f"the account at {c.url} has no calendar")  # fmt: skip
                self._calendar = named[0]
        except CalendarError:
            self.close()
            raise
        except Exception as exc:  # network errors, 401/404, bad XML: all mean "not reachable now"
            self.close()
            raise CalendarError(
                f"cannot reach the calendar at {c.url}: {type(exc).__name__}: {exc}"[:300]
            ) from exc
        return self._calendar

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        cal = self._cal()
        try:
            found = cal.search(
                start=datetime.fromtimestamp(start, UTC), end=datetime.fromtimestamp(end, UTC),
                event=True, expand=True,
            )  # fmt: skip
            intervals: list[tuple[float, float]] = []
            for item in found:
                for comp in item.icalendar_instance.walk("VEVENT"):
                    if str(comp.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                        continue  # "show as free"
                    if str(comp.get("STATUS", "")).upper() == "CANCELLED":
                        continue
                    begin = comp.decoded("DTSTART")
                    if "DTEND" in comp:
                        finish = comp.decoded("DTEND")
                    elif "DURATION" in comp:
                        finish = begin + comp.decoded("DURATION")
                    else:
                        finish = begin + (
                            timedelta(days=1) if not isinstance(begin, datetime) else timedelta()
                        )
                    intervals.append((_ts(begin), _ts(finish)))
        except CalendarError:
            raise
        except Exception as exc:
            self.close()
            raise CalendarError(f"reading busy times failed: {type(exc).__name__}: {exc}"[:300]) from exc
        return sorted(intervals)

    def put_event(self, uid: str, ics: bytes) -> None:
        cal = self._cal()
        try:
            # the SEQUENCE we set is the one mailed in the invite: the library must not bump it
            cal.save_event(ics.decode(), increase_seqno=False)
        except Exception as exc:
            self.close()
            raise CalendarError(f"writing the event failed: {type(exc).__name__}: {exc}"[:300]) from exc

    def delete_event(self, uid: str) -> None:
        cal = self._cal()
        try:
            cal.event_by_uid(uid).delete()
        except caldav_error.NotFoundError:
            return
        except Exception as exc:
            self.close()
            raise CalendarError(f"removing the event failed: {type(exc).__name__}: {exc}"[:300]) from exc

    def close(self) -> None:
        client, self._client, self._calendar = self._client, None, None
        if client is not None:
            client.close()
