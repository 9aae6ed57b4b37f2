"""The demo's real calendar and mail servers: Radicale (CalDAV) in a thread, aiosmtpd into an mbox file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mailbox
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

CALDAV_PASSWORD = "demo"  # Radicale runs with [auth] type = none: any password, but one must be sent
CALENDAR_NAME = "Work"


class _ThreadingWsgi(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("radicale: " + format, *args)


@dataclass
class CalendarServers:
    caldav_url: str
    smtp_port: int
    mbox_path: Path


class _MboxHandler:
    """aiosmtpd handler: every message is appended to one mbox file (open it with any mail reader)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        box = mailbox.mbox(self.path)
        try:
            box.lock()
            box.add(mailbox.mboxMessage(envelope.original_content or envelope.content))
            box.flush()
            box.unlock()
        finally:
            box.close()
        log.info("invite mail to %s stored in %s", ", ".join(envelope.rcpt_tos), self.path)
        return "250 Message accepted"


def _radicale_app(folder: Path) -> Any:
    from radicale import config
    from radicale.app import Application

    # Radicale logs its whole configuration at INFO (and "no authentication" as a warning): it listens on
    # 127.0.0.1 for the demo only, so only its errors belong in the demo's log.
    logging.getLogger("radicale").setLevel(logging.ERROR)
    configuration = config.load()
    configuration.update(
        {"auth": {"type": "none", "delay": "0"}, "storage": {"filesystem_folder": str(folder)}}, "demo"
    )
    return Application(configuration)


@contextlib.asynccontextmanager
async def calendar_servers(data_dir: Path) -> AsyncIterator[CalendarServers]:
    """Radicale on 127.0.0.1 (a WSGI server thread, data in ``data_dir/radicale``) and an SMTP server on
    this loop that stores every invite in ``data_dir/invites.mbox``."""
    from aiosmtpd.smtp import SMTP

    app = await asyncio.to_thread(_radicale_app, data_dir / "radicale")
    httpd = make_server("127.0.0.1", 0, app, server_class=_ThreadingWsgi, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="demo-radicale", daemon=True)
    thread.start()
    mbox_path = data_dir / "invites.mbox"
    handler = _MboxHandler(mbox_path)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(lambda: SMTP(handler, hostname="demo-smtp.local"), "127.0.0.1", 0)
    try:
        yield CalendarServers(
            caldav_url=f"http://127.0.0.1:{httpd.server_address[1]}/",
            smtp_port=smtp.sockets[0].getsockname()[1],
            mbox_path=mbox_path,
        )
    finally:
        smtp.close()
        await smtp.wait_closed()
        httpd.shutdown()
        httpd.server_close()
        await asyncio.to_thread(thread.join, 5)


def _next_weekdays(today: date, count: int) -> list[date]:
    days: list[date] = []
    day = today
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def _busy_blocks(zone: str, now: float) -> list[tuple[str, float, float, str]]:
    """A couple of busy blocks on the next two weekdays, in the rep's own zone (fixed UIDs per day)."""
    tz = ZoneInfo(zone)
    blocks = []
    for day in _next_weekdays(datetime.fromtimestamp(now, tz).date(), 2):
        for hour, minutes, title in ((10, 60, "Team stand-up and pipeline review"), (14, 90, "Dentist")):
            start = datetime.combine(day, time(hour), tzinfo=tz)
            uid = f"demo-busy-{day.isoformat()}-{hour}"
            blocks.append((uid, start.timestamp(), start.timestamp() + minutes * 60, title))
    return blocks


def _prepare_calendar(url: str, username: str, zone: str, now: float) -> str:
    """Creates the rep's "Work" calendar (once) with its busy blocks; returns the calendar's URL."""
    import caldav
    from icalendar import Calendar, Event

    with caldav.DAVClient(url=url, username=username, password=CALDAV_PASSWORD) as client:  # type: ignore[operator]
        principal = client.principal()
        found = [c for c in principal.calendars() if c.get_display_name() == CALENDAR_NAME]
        calendar = found[0] if found else principal.make_calendar(name=CALENDAR_NAME)
        for uid, start, end, title in _busy_blocks(zone, now):
            cal = Calendar()
            cal.add("prodid", "-//SDR Agent Desk//Demo//EN")
            cal.add("version", "2.0")
            event = Event()
            event.add("uid", uid)
            event.add("dtstamp", datetime.fromtimestamp(now, ZoneInfo("UTC")))
            event.add("dtstart", datetime.fromtimestamp(start, ZoneInfo("UTC")))
            event.add("dtend", datetime.fromtimestamp(end, ZoneInfo("UTC")))
            event.add("summary", title)
            cal.add_component(event)
            try:
                calendar.save_event(cal.to_ical().decode())
            except Exception as exc:  # already there from an earlier start: fine
                log.debug("busy block %s not saved: %s", uid, exc)
        return str(calendar.url)


async def connect_demo_calendar(server: Any, servers: CalendarServers, agent: Any, now: float) -> None:
    """Connects ``agent``'s calendar to the demo Radicale, as the agent would in Calendar settings."""
    from chat_server.calendar import agent_zone
    from chat_server.calendars import Connection

    username = agent.email.split("@")[0]
    zone = agent_zone(agent, server.config.default_timezone)
    calendar_url = await asyncio.to_thread(_prepare_calendar, servers.caldav_url, username, zone, now)
    connection = Connection(agent.id, servers.caldav_url, username, CALDAV_PASSWORD, calendar_url)
    sync = server.ctx.calendars
    intervals = await sync.test(connection)
    with server.storage.savepoint():
        sync.save(connection, intervals)
    server.storage.commit_now()
    log.info("%s's calendar is the demo CalDAV calendar %s (%d busy blocks)", agent.name, calendar_url,
             len(intervals))  # fmt: skip
