"""Linux desktop signals over D-Bus (dbus-fast, asyncio): screen lock, sleep/resume and idle time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
SCREENSAVERS = (
    ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver"),
    ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", "org.gnome.ScreenSaver"),
)
MUTTER_IDLE = (
    "org.gnome.Mutter.IdleMonitor",
    "/org/gnome/Mutter/IdleMonitor/Core",
    "org.gnome.Mutter.IdleMonitor",
)
LOGIN1 = "org.freedesktop.login1"
LOGIN1_PATH = "/org/freedesktop/login1"
LOGIN1_MANAGER = "org.freedesktop.login1.Manager"
LOGIN1_SESSION = "org.freedesktop.login1.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"


class DBusCallFailed(Exception):
    """A D-Bus method answered with an error (e.g. ServiceUnknown: nobody owns that name)."""


async def call(
    bus: MessageBus, dest: str, path: str, iface: str, member: str, signature: str = "", body: Any = ()
) -> Message:
    reply = await bus.call(
        Message(
            destination=dest, path=path, interface=iface, member=member, signature=signature, body=list(body)
        )
    )
    if reply is None or reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply is not None and reply.body else ""
        name = reply.error_name if reply is not None else "no reply"
        raise DBusCallFailed(f"{dest} {member}: {name} {detail}".strip())
    return reply


async def add_match(bus: MessageBus, sender: str, path: str, iface: str, member: str = "") -> None:
    """Ask the bus for these signals (only from ``sender``: nobody else on the bus can fake them)."""
    rule = f"type='signal',sender='{sender}',path='{path}',interface='{iface}'"
    await call(bus, *DBUS, "AddMatch", "s", [rule + (f",member='{member}'" if member else "")])


class LinuxDesktopWatcher:
    """Reports the screen lock and sleep to ``on_locked(bool)`` / ``on_sleeping(bool)`` and reads the idle
       time on request.

       Session bus: ``org.freedesktop.ScreenSaver`` / ``org.gnome.ScreenSaver`` (``GetActive``,
       ``ActiveChanged``); idle time from ``org.gnome.Mutter.IdleMonitor`` (``GetIdletime``, ms) or
       ``org.freedesktop.ScreenSaver`` (``GetSessionIdleTime``, ms). System bus: logind -- the session's
       ``Lock``/``Unlock`` signals and ``LockedHint``, the manager's ``PrepareForSleep``, and a "delay" sleep
       inhibitor. Each missing part (no bus, no service) is off with one log line; nothing here raises into
       the app. Qt-free: it runs on whatever asyncio loop runs (qasync in the app).
    ``on_sleeping(True)`` is awaited (at most ``sleep_grace_s``) before the sleep inhibitor
       is released, so whatever it sends leaves before the network goes down.

       ``session_address``/``system_address``: the buses (None: the standard ones, from the environment).
       ``parts``: what was found, for the log and the Preferences section (empty: the feature is off here).
    """

    def __init__(
        self,
        on_locked: Callable[[bool], None],
        on_sleeping: Callable[[bool], Awaitable[None]],
        *,
        session_address: str | None = None,
        system_address: str | None = None,
        sleep_grace_s: float = 3.0,
        app_name: str = "SDR Agent Desk",
    ) -> None:
        self.on_locked, self.on_sleeping = on_locked, on_sleeping
        self.session_address, self.system_address = session_address, system_address
        self.sleep_grace_s = sleep_grace_s
        self.app_name = app_name
        self.parts: list[str] = []
        self.session_bus: MessageBus | None = None
        self.system_bus: MessageBus | None = None
        self._screensaver_active: dict[str, bool] = {}  # bus name -> ActiveChanged state
        self._logind_locked = False
        self._login_session = ""  # the logind session object path
        self._idle_source: tuple[str, str, str, str, float] | None = None  # dest, path, iface, member, to s
        self._inhibitor: int | None = None  # the fd of logind's "delay" sleep lock
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def locked(self) -> bool:
        return self._logind_locked or any(self._screensaver_active.values())

    # ------------------------------------------------------------------ start / stop

    async def start(self) -> None:
        """Connect and subscribe; never raises (a missing piece is logged once and left off)."""
        try:
            self.session_bus = await self._connect(BusType.SESSION, self.session_address)
            await self._watch_screensavers(self.session_bus)
            await self._find_idle_source(self.session_bus)
        except Exception as exc:
            log.info("auto-away: no desktop session bus (%s); screen lock and idle time are off", exc)
        try:
            self.system_bus = await self._connect(BusType.SYSTEM, self.system_address, unix_fd=True)
            await self._watch_logind(self.system_bus)
        except Exception as exc:
            log.info("auto-away: no logind on the system bus (%s); sleep is not noticed", exc)
        log.info("auto-away watches: %s", ", ".join(self.parts) or "nothing (no desktop services found)")

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self._release_inhibitor()
        for bus in (self.session_bus, self.system_bus):
            if bus is not None:
                bus.disconnect()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bus.wait_for_disconnect(), 2)  # type: ignore[no-untyped-call]
        self.session_bus = self.system_bus = None

    @staticmethod
    async def _connect(bus_type: BusType, address: str | None, *, unix_fd: bool = False) -> MessageBus:
        bus = MessageBus(bus_address=address, bus_type=bus_type, negotiate_unix_fd=unix_fd)
        return await asyncio.wait_for(bus.connect(), 5)

    # ------------------------------------------------------------------ idle time

    async def idle_seconds(self) -> float | None:
        """Seconds since the last keyboard or mouse input, or None when the desktop doesn't say."""
        source, bus = self._idle_source, self.session_bus
        if source is None or bus is None:
            return None
        dest, path, iface, member, scale = source
        try:
            reply = await call(bus, dest, path, iface, member)
        except Exception as exc:  # the service went away: idle is off from now on
            log.info("auto-away: idle time unavailable (%s)", exc)
            self._idle_source = None
            return None
        return float(reply.body[0]) * scale

    async def _find_idle_source(self, bus: MessageBus) -> None:
        candidates = (
            (*MUTTER_IDLE, "GetIdletime", 0.001),  # GNOME: milliseconds
            # KDE (kscreenlocker: KIdleTime::idleTime()) answers in milliseconds, though the old spec says
            # seconds. Reading ms is also the safe mistake: seconds read as ms never make anyone Away early.
            (*SCREENSAVERS[0], "GetSessionIdleTime", 0.001),
        )
        for dest, path, iface, member, scale in candidates:
            try:
                await call(bus, dest, path, iface, member)
            except Exception:
                continue
            self._idle_source = (dest, path, iface, member, scale)
            self.parts.append(f"idle time ({iface})")
            return

    # ------------------------------------------------------------------ screen saver (session bus)

    async def _watch_screensavers(self, bus: MessageBus) -> None:
        bus.add_message_handler(self._on_session_message)
        for name, path, iface in SCREENSAVERS:
            try:
                await add_match(bus, name, path, iface)
                reply = await call(bus, name, path, iface, "GetActive")
            except Exception:
                continue
            self._screensaver_active[name] = bool(reply.body[0])
            self.parts.append(f"screen lock ({name})")
        if self.locked:
            self.on_locked(True)

    def _on_session_message(self, msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL or msg.member != "ActiveChanged":
            return
        for name, path, iface in SCREENSAVERS:
            if msg.path == path and msg.interface == iface and name in self._screensaver_active:
                self._set_locked(name, bool(msg.body[0]))

    def _set_locked(self, source: str, locked: bool) -> None:
        """``source``: a screensaver's bus name, or "logind"; reports the combined state when it changes."""
        before = self.locked
        if source == "logind":
            self._logind_locked = locked
        else:
            self._screensaver_active[source] = locked
        if self.locked != before:
            self.on_locked(self.locked)

    # ------------------------------------------------------------------ logind (system bus)

    async def _watch_logind(self, bus: MessageBus) -> None:
        try:
            reply = await call(bus, LOGIN1, LOGIN1_PATH, LOGIN1_MANAGER, "GetSession", "s", ["auto"])
        except DBusCallFailed:  # not in a logind session ("auto" needs one): find it by our process
            reply = await call(
                bus, LOGIN1, LOGIN1_PATH, LOGIN1_MANAGER, "GetSessionByPID", "u", [os.getpid()]
            )
        self._login_session = str(reply.body[0])
        bus.add_message_handler(self._on_system_message)
        session = self._login_session
        await add_match(bus, LOGIN1, session, LOGIN1_SESSION)
        await add_match(bus, LOGIN1, session, PROPERTIES, "PropertiesChanged")
        await add_match(bus, LOGIN1, LOGIN1_PATH, LOGIN1_MANAGER, "PrepareForSleep")
        try:
            hint = await call(bus, LOGIN1, session, PROPERTIES, "Get", "ss", [LOGIN1_SESSION, "LockedHint"])
            self._set_locked("logind", bool(hint.body[0].value))
        except DBusCallFailed as exc:  # old logind: the Lock/Unlock signals still work
            log.info("auto-away: logind has no LockedHint (%s)", exc)
        self.parts.append("screen lock (logind)")
        await self._take_inhibitor()
        self.parts.append("sleep (logind)")

    def _on_system_message(self, msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL:
            return
        if (
            msg.path == self._login_session
            and msg.interface == LOGIN1_SESSION
            and msg.member in ("Lock", "Unlock")
        ):
            self._set_locked("logind", msg.member == "Lock")
        elif (
            msg.path == self._login_session
            and msg.interface == PROPERTIES
            and msg.member == "PropertiesChanged"
        ):
            iface, changed = msg.body[0], msg.body[1]
            if iface == LOGIN1_SESSION and "LockedHint" in changed:
                self._set_locked("logind", bool(changed["LockedHint"].value))
        elif msg.path == LOGIN1_PATH and msg.interface == LOGIN1_MANAGER and msg.member == "PrepareForSleep":
            self._spawn(self._prepare_for_sleep(bool(msg.body[0])))

    async def _prepare_for_sleep(self, going: bool) -> None:
        if going:
            try:
                await asyncio.wait_for(self.on_sleeping(True), self.sleep_grace_s)
            except Exception as exc:  # offline, slow server: sleep anyway, never hold the machine up
                log.info("auto-away: could not say Away before sleeping: %s", exc)
            finally:
                self._release_inhibitor()
        else:
            await self._take_inhibitor()
            await self.on_sleeping(False)

    async def _take_inhibitor(self) -> None:
        bus = self.system_bus
        if bus is None or self._inhibitor is not None or self._closed:
            return
        why = "Set your chat presence to Away before sleeping"
        try:
            reply = await call(
                bus,
                LOGIN1,
                LOGIN1_PATH,
                LOGIN1_MANAGER,
                "Inhibit",
                "ssss",
                ["sleep", self.app_name, why, "delay"],
            )
        except DBusCallFailed as exc:  # not allowed (polkit) or not supported: Away may arrive after waking
            log.info("auto-away: no sleep delay lock (%s)", exc)
            return
        index = int(reply.body[0])
        if reply.unix_fds and index < len(reply.unix_fds):
            self._inhibitor = reply.unix_fds[index]

    def _release_inhibitor(self) -> None:
        fd, self._inhibitor = self._inhibitor, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the fd is how logind's delay lock is released

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
