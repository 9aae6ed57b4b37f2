"""Per-agent connected calendars: cached busy times (refreshed in the background), event writes, invites."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_app.protocol import Agent, Meeting
from chat_server.calendar import MAX_HORIZON
from chat_server.calendars import CalendarError, CalendarProvider, Connection
from chat_server.calendars.caldav_provider import CalDavProvider
from chat_server.calendars.google_provider import GoogleProvider
from chat_server.calendars.msgraph_provider import GraphProvider
from chat_server.calendars.oauth import OAuthClient, TokenCache
from chat_server.clock import Clock
from chat_server.ics import meeting_invite
from chat_server.mailer import Mailer, invite_message

log = logging.getLogger(__name__)

DOMAIN = "sdr-agent-desk.local"  # the invite UID's domain (chat_server.ics default)


class ConnectionStore(Protocol):
    def calendar_connections(self) -> list[Connection]: ...

    def save_calendar_connection(self, c: Connection) -> None: ...

    def delete_calendar_connection(self, agent_id: str) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]: ...

    def commit_now(self) -> None: ...


@dataclass
class BusyCache:
    intervals: list[tuple[float, float]] = field(default_factory=list)
    fetched_at: float = 0.0
    error: str = ""  # the last read failed: offered times come from the settings only


def event_uid(meeting: Meeting) -> str:
    return f"{meeting.id}@{DOMAIN}"


def _same_account(a: Connection, b: Connection) -> bool:
    """Equal but for the password / refresh token."""
    return dataclasses.replace(a, password="") == dataclasses.replace(b, password="")


class CalendarSync:
    """Owns the connections (the passwords stay in here and in storage) and the busy-time cache.

    Sync readers (booking cards, bookings) only read the cache; the network is touched in worker threads
    by ``refresh`` (every ``refresh_seconds``, after a connect, and right before a booking) and by the
    background writes after a booking or a cancellation."""

    def __init__(
        self,
        store: ConnectionStore,
        clock: Clock,
        *,
        refresh_seconds: float = 30.0,
        mailer: Mailer | None = None,
        sender: str = "",
        provider: Callable[[Connection], CalendarProvider] | None = None,
        oauth: dict[str, OAuthClient] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.mailer = mailer
        self.sender = sender
        self.provider = provider or self._provider
        self.oauth = oauth or {}  # "google" / "microsoft": the server's registered apps
        self.tokens = TokenCache(on_rotate=self._rotated_in_thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections = {c.agent_id: c for c in store.calendar_connections()}
        self.cache: dict[str, BusyCache] = {}
        # connect_calendar's test outcomes (see calendar_commands.prepare_connect): busy times or an error
        self.tested: dict[tuple[str, str], tuple[Connection, list[tuple[float, float]] | str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def _provider(self, c: Connection) -> CalendarProvider:
        if c.kind == "caldav":
            return CalDavProvider(c)
        client = self.oauth.get(c.kind)
        if client is None:
            raise CalendarError(f"this server is not set up for {c.kind} calendars (ask your admin)")
        return (GoogleProvider if c.kind == "google" else GraphProvider)(c, client, self.tokens)

    def _rotated_in_thread(self, connection: Connection, refresh_token: str) -> None:
        if self._loop is not None:  # storage belongs to the event loop's thread
            self._loop.call_soon_threadsafe(self._rotated, connection, refresh_token)

    def _still(self, connection: Connection) -> bool:
        """The agent's connection is still this one (its refresh token may have been rotated since)."""
        current = self.connections.get(connection.agent_id)
        if current is None or current is connection:
            return current is not None
        return (current.kind != "caldav" and _same_account(current, connection)
                and current.password == self.tokens.current(connection))  # fmt: skip

    def _rotated(self, connection: Connection, refresh_token: str) -> None:
        """Microsoft rotates refresh tokens: the newest is stored, or the next server start has none."""
        if not self._still(connection):
            return  # disconnected or replaced meanwhile
        renewed = dataclasses.replace(self.connections[connection.agent_id], password=refresh_token)
        try:
            with self.store.savepoint():
                self.store.save_calendar_connection(renewed)
            self.store.commit_now()
        except Exception as exc:  # sqlite3.Error: the in-memory token still works until a restart
            log.warning("rotated calendar token of agent %s not stored: %s", connection.agent_id, exc)
        self.connections[connection.agent_id] = renewed

    def exchange_code(self, kind: str, code: str, verifier: str, redirect_uri: str) -> str:
        """The browser sign-in's authorization code (+ PKCE verifier) for a refresh token. Blocking."""
        client = self.oauth.get(kind)
        if client is None:
            raise CalendarError(f"this server is not set up for {kind} calendars (ask your admin)")
        return str(client.exchange_code(code, verifier, redirect_uri)["refresh_token"])

    # -- reading --------------------------------------------------------------------------------------
    def busy(self, agent_id: str) -> tuple[list[tuple[float, float]], str]:
        """(busy intervals, warning). A calendar that cannot be read (or is not read yet) gives no
        intervals and a warning: offered times then come from the calendar settings only."""
        connection = self.connections.get(agent_id)
        if connection is None:
            return [], ""
        entry = self.cache.get(agent_id)
        if entry is None:
            return [], f"the connected calendar at {connection.url} has not been read yet"
        if entry.error:
            return [], f"the connected calendar could not be read ({entry.error})"
        return entry.intervals, ""

    def status(self, agent_id: str) -> dict[str, Any]:
        """What the agent may see of their connection (never the password)."""
        c = self.connections.get(agent_id)
        if c is None:
            return {
                "connected": False,
                "kind": "",
                "url": "",
                "username": "",
                "calendar": "",
                "error": "",
                "busy_count": 0,
            }
        entry = self.cache.get(agent_id, BusyCache())
        return {
            "connected": True, "kind": c.kind, "url": c.url, "username": c.username, "calendar": c.calendar,
            "error": entry.error, "busy_count": len(entry.intervals), "checked_at": entry.fetched_at,
        }  # fmt: skip

    # -- refreshing -----------------------------------------------------------------------------------
    def _read(self, connection: Connection, start: float, end: float) -> list[tuple[float, float]]:
        provider = self.provider(connection)
        try:
            return provider.busy(start, end)
        finally:
            provider.close()

    async def refresh(self, agent_id: str) -> BusyCache | None:
        connection = self.connections.get(agent_id)
        if connection is None:
            return None
        now = self.clock.now()
        self._loop = asyncio.get_running_loop()
        try:
            intervals = await asyncio.to_thread(
                self._read, connection, now - 86400, now + (MAX_HORIZON + 1) * 86400
            )
        except CalendarError as exc:
            if not self.cache.get(agent_id, BusyCache()).error:
                log.warning("calendar of agent %s unreadable: %s", agent_id, exc)
            entry = BusyCache([], now, str(exc))
        else:
            entry = BusyCache(intervals, now, "")
        if self._still(connection):  # not replaced or disconnected meanwhile
            self.cache[agent_id] = entry
        return entry

    def refresh_soon(self, agent_id: str) -> asyncio.Task[None]:
        """``refresh`` as a tracked task (a caller may stop waiting for it; it still completes)."""

        async def run() -> None:
            await self.refresh(agent_id)

        return self._spawn(run())

    async def refresh_all(self) -> None:
        await asyncio.gather(*(self.refresh(agent_id) for agent_id in list(self.connections)))

    async def _run(self) -> None:
        while True:
            await self.refresh_all()
            await asyncio.sleep(self.refresh_seconds)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self, grace: float = 5.0) -> None:
        """Stops refreshing; invites and event writes under way get ``grace`` seconds to finish."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Waits for the background writes started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- connecting -----------------------------------------------------------------------------------
    async def test(self, connection: Connection) -> list[tuple[float, float]]:
        """Reads the account's busy times once (the connect command's test). Raises CalendarError."""
        now = self.clock.now()
        self._loop = asyncio.get_running_loop()
        return await asyncio.to_thread(self._read, connection, now - 86400, now + (MAX_HORIZON + 1) * 86400)

    def save(self, connection: Connection, intervals: list[tuple[float, float]]) -> None:
        """Stores a tested connection (inside the command's savepoint) and primes the cache."""
        if connection.kind != "caldav":  # the test may have rotated the refresh token (Microsoft does)
            connection = dataclasses.replace(connection, password=self.tokens.current(connection))
        self.store.save_calendar_connection(connection)
        self.connections[connection.agent_id] = connection
        self.cache[connection.agent_id] = BusyCache(intervals, self.clock.now(), "")

    def disconnect(self, agent_id: str) -> None:
        self.store.delete_calendar_connection(agent_id)
        self.connections.pop(agent_id, None)
        self.cache.pop(agent_id, None)
        self.tokens.forget(agent_id)

    # -- writing --------------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        self._loop = asyncio.get_running_loop()
        task: asyncio.Task[None] = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def meeting_booked(self, meeting: Meeting, organizer: Agent, description: str = "") -> None:
        """After the booking is committed: the event on the rep's calendar, the REQUEST to both."""
        self._spawn(self._write(meeting, organizer, description, cancel=False))

    def meeting_cancelled(self, meeting: Meeting, organizer: Agent, description: str = "") -> None:
        self._spawn(self._write(meeting, organizer, description, cancel=True))

    def meeting_rescheduled(self, meeting: Meeting, organizer: Agent, description: str = "") -> None:
        """After a reschedule is committed: the event (same UID) replaced in place on the rep's calendar,
        an updated REQUEST (higher SEQUENCE) to both."""
        self._spawn(self._write(meeting, organizer, description, cancel=False, updated=True))

    def _put_or_delete(self, connection: Connection, uid: str, ics: bytes | None) -> None:
        provider = self.provider(connection)
        try:
            if ics is None:
                provider.delete_event(uid)
            else:
                provider.put_event(uid, ics)
        finally:
            provider.close()

    async def _write(
        self, meeting: Meeting, organizer: Agent, description: str, *, cancel: bool, updated: bool = False
    ) -> None:
        def invite(method: str, sequence: int = 0) -> bytes:
            return meeting_invite(meeting, organizer_name=organizer.name, organizer_email=organizer.email,
                                  description=description, method=method, sequence=sequence)  # fmt: skip

        connection = self.connections.get(meeting.agent_id)
        if connection is not None:
            stored = None if cancel else invite("", meeting.sequence)
            try:
                await asyncio.to_thread(self._put_or_delete, connection, event_uid(meeting), stored)
            except CalendarError as exc:
                log.warning("meeting %s not %s the calendar of %s: %s", meeting.id,
                            "removed from" if cancel else "written to", organizer.id, exc)  # fmt: skip
            await self.refresh(meeting.agent_id)
        if self.mailer is None:
            return
        to = [a for a in (meeting.visitor_email, organizer.email) if a]
        if not to:
            return
        method = "CANCEL" if cancel else "REQUEST"
        # RFC 5546: a CANCEL or an update carries a SEQUENCE above the last invite's
        ics = invite(method, meeting.sequence + 1 if cancel else meeting.sequence)
        subject = ("Cancelled: " if cancel else "Updated invitation: " if updated else "Invitation: ") + (
            meeting.title or f"Call with {organizer.name}"
        )
        text = (
            f"{'Cancelled' if cancel else 'Moved' if updated else 'You are invited to'}: {meeting.title}\n"
            f"Organiser: {organizer.name} <{organizer.email}>\n"
        )
        sender = self.sender or organizer.email or "noreply@sdr-agent-desk.local"
        msg = invite_message(sender=sender, to=to, subject=subject, text=text, ics=ics, method=method)
        try:
            await self.mailer.send(msg)
        except Exception as exc:  # smtplib, OSError: logged without credentials; the booking stands
            log.warning("invite for meeting %s not mailed: %s: %s", meeting.id, type(exc).__name__, exc)
        else:
            log.info("%s invite for meeting %s mailed to %s", method, meeting.id, ", ".join(to))
