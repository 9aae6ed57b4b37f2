# ruff: noqa: F821
"""Fake desktop services for auto-away tests: a ScreenSaver on the session bus, logind on the system bus."""

import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest
from dbus_fast import BusType
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

SESSION_PATH = "/org/freedesktop/login1/session/_31"


class FakeScreenSaver(ServiceInterface):
    """org.freedesktop.ScreenSaver as KDE serves it: GetActive, ActiveChanged, GetSessionIdleTime (ms)."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.ScreenSaver")
        self.active = False
        self.idle_s = 0  # what GetSessionIdleTime answers: the test moves it like a clock
        self.idle_reads = 0

    def set_active(self, active: bool) -> None:
        self.active = active
        self.ActiveChanged(active)

    @method()
    def GetActive(self) -> "b":
        return self.active

    @method()
    def GetSessionIdleTime(self) -> "u":
        self.idle_reads += 1
        return self.idle_s * 1000

    @signal()
    def ActiveChanged(self, active: bool) -> "b":
        return active


class FakeLogindManager(ServiceInterface):
    """org.freedesktop.login1.Manager: GetSession("auto"), a "delay" Inhibit (a pipe's write end), and
    PrepareForSleep. ``inhibitors`` holds our read ends: one reads EOF once the client closed its fd."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.login1.Manager")
        self.inhibit_calls: list[tuple[str, str, str, str]] = []
        self.read_ends: list[int] = []
        self._write_ends: list[int] = []

    @method()
    def GetSession(self, session_id: "s") -> "o":
        return SESSION_PATH

    @method()
    def GetSessionByPID(self, pid: "u") -> "o":
        return SESSION_PATH

    @method()
    def Inhibit(self, what: "s", who: "s", why: "s", mode: "s") -> "h":
        self.inhibit_calls.append((what, who, why, mode))
        read_end, write_end = os.pipe()
        self.read_ends.append(read_end)
        self._write_ends.append(write_end)  # closed once sent (close_sent), so only the client holds it
        return write_end

    def close_sent(self) -> None:
        for fd in self._write_ends:
            os.close(fd)
        self._write_ends.clear()

    def released(self, n: int) -> bool:
        """True when the client closed the fd of the ``n``-th inhibitor (its pipe reads EOF)."""
        self.close_sent()
        os.set_blocking(self.read_ends[n], False)
        try:
            return os.read(self.read_ends[n], 1) == b""
        except BlockingIOError:
            return False

    def close(self) -> None:
        self.close_sent()
        for fd in self.read_ends:
            os.close(fd)
        self.read_ends.clear()

    @signal()
    def PrepareForSleep(self, going: bool) -> "b":
        return going


class FakeLogindSession(ServiceInterface):
    """org.freedesktop.login1.Session: Lock/Unlock signals and the LockedHint property."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.login1.Session")
        self._locked = False

    def lock(self) -> None:
        self.Lock()

    def unlock(self) -> None:
        self.Unlock()

    def set_locked_hint(self, locked: bool) -> None:
        self._locked = locked
        self.emit_properties_changed({"LockedHint": locked})

    @dbus_property(access=PropertyAccess.READ)
    def LockedHint(self) -> "b":
        return self._locked

    @signal()
    def Lock(self) -> None:
        return None

    @signal()
    def Unlock(self) -> None:
        return None


def start_bus() -> tuple[str, int]:
    """A private ``dbus-daemon`` (session config: any local user may talk); its address and pid."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (Debian package: dbus)")
    proc = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    address, pid = proc.stdout.split()[:2]
    return address, int(pid)


@dataclass
class FakeDesktop:
    session_address: str
    system_address: str
    screensaver: FakeScreenSaver
    manager: FakeLogindManager
    session: FakeLogindSession
    buses: list[MessageBus]

    async def close(self) -> None:
        for bus in self.buses:
            bus.disconnect()
            await bus.wait_for_disconnect()
        self.manager.close()


async def serve_desktop(session_address: str, system_address: str) -> FakeDesktop:
    """Owns org.freedesktop.ScreenSaver on the session bus and org.freedesktop.login1 on the 'system' one."""
    session_bus = await MessageBus(bus_address=session_address, bus_type=BusType.SESSION).connect()
    screensaver = FakeScreenSaver()
    session_bus.export("/org/freedesktop/ScreenSaver", screensaver)
    await session_bus.request_name("org.freedesktop.ScreenSaver")
    system_bus = await MessageBus(
        bus_address=system_address, bus_type=BusType.SYSTEM, negotiate_unix_fd=True
    ).connect()
    manager, session = FakeLogindManager(), FakeLogindSession()
    system_bus.export("/org/freedesktop/login1", manager)
    system_bus.export(SESSION_PATH, session)
    await system_bus.request_name("org.freedesktop.login1")
    return FakeDesktop(
        session_address, system_address, screensaver, manager, session, [session_bus, system_bus]
    )
