"""A real Linux desktop for the journey tests: Xvfb, a private D-Bus session bus (and a stand-in system bus),
dunst, trayer, an unlocked gnome-keyring (Secret Service), and a dbus-monitor log of every
org.freedesktop.Notifications call.

The same pieces as ../shared/tools/desktop-session, kept in the repository so a fresh clone's ``make test``
needs nothing beside it. Every process is started here and stopped by its own pid in :meth:`Desktop.stop`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEYRING_PASSWORD = "journeys"
# Binaries -> the Debian package that has them (the Makefile's `deps` installs them).
BINARIES = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus",
    "dbus-monitor": "dbus",
    "dbus-send": "dbus",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "trayer": "trayer",
    "gnome-keyring-daemon": "gnome-keyring",
    "secret-tool": "libsecret-tools",
    "xdpyinfo": "x11-utils",
    "xwininfo": "x11-utils",
}
# Notifications stay up until the app (or a click) closes them: a journey asserts CloseNotification, and a
# daemon timing them out after 10 s would make the assertions depend on the machine's speed.
DUNSTRC = """\
[global]
    follow = none
    sort = no
    indicate_hidden = no
    history_length = 50
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""


def missing_binaries() -> list[str]:
    return sorted({f"{b} ({pkg})" for b, pkg in BINARIES.items() if shutil.which(b) is None})


@dataclass(frozen=True)
class Notification:
    """One ``Notify`` call as the daemon received it, with the id the daemon answered."""

    id: int
    summary: str
    body: str
    actions: tuple[str, ...]


@dataclass
class NotifyLog:
    """Parses dbus-monitor's text log: Notify calls (with their reply ids), CloseNotification calls,
    and the daemon's NotificationClosed / ActionInvoked signals."""

    path: Path
    notifications: list[Notification] = field(default_factory=list)
    close_calls: list[int] = field(default_factory=list)  # CloseNotification(id) sent by the app
    closed_signals: list[tuple[int, int]] = field(default_factory=list)  # (id, reason)
    actions: list[tuple[int, str]] = field(default_factory=list)  # ActionInvoked(id, key)

    def refresh(self) -> NotifyLog:
        text = self.path.read_text(errors="replace") if self.path.exists() else ""
        pending: dict[str, tuple[str, str, tuple[str, ...]]] = {}  # "sender/serial" -> Notify args
        self.notifications, self.close_calls, self.closed_signals, self.actions = [], [], [], []
        for header, args in _blocks(text):
            fields = dict(re.findall(r"(\w+)=([^\s;]+)", header))
            member = fields.get("member", "")
            if header.startswith("method call") and member == "Notify":
                summary, body, actions = _notify_args(args)
                pending[f"{fields.get('sender')}/{fields.get('serial')}"] = (summary, body, actions)
            elif header.startswith("method call") and member == "CloseNotification":
                self.close_calls += [int(v) for v in _values(args, "uint32")[:1]]
            elif header.startswith("method return"):
                key = f"{fields.get('destination')}/{fields.get('reply_serial')}"
                if key in pending and (ids := _values(args, "uint32")):
                    summary, body, actions = pending.pop(key)
                    self.notifications.append(Notification(int(ids[0]), summary, body, actions))
            elif header.startswith("signal") and member == "NotificationClosed":
                ids = _values(args, "uint32")
                if len(ids) >= 2:
                    self.closed_signals.append((int(ids[0]), int(ids[1])))
            elif header.startswith("signal") and member == "ActionInvoked":
                ids, keys = _values(args, "uint32"), _values(args, "string")
                if ids and keys:
                    self.actions.append((int(ids[0]), keys[0]))
        return self

    def find(self, summary_contains: str) -> list[Notification]:
        """The notifications whose title contains this text (ignoring case)."""
        text = summary_contains.casefold()
        return [n for n in self.refresh().notifications if text in n.summary.casefold()]

    def summaries(self) -> list[str]:
        return [n.summary for n in self.refresh().notifications]

    def withdrawn(self, notification_id: int) -> bool:
        """The app called CloseNotification for it (a click or the daemon's own expiry does not count)."""
        return notification_id in self.refresh().close_calls


_BLOCK_START = re.compile(r"^(method call|method return|signal|error) ", re.MULTILINE)


def _blocks(text: str) -> Iterator[tuple[str, list[str]]]:
    starts = [m.start() for m in _BLOCK_START.finditer(text)] + [len(text)]
    for a, b in itertools.pairwise(starts):
        lines = text[a:b].rstrip("\n").split("\n")
        yield lines[0], lines[1:]


def _values(args: list[str], kind: str) -> list[str]:
    out = []
    for line in args:
        m = re.match(rf"^\s+{kind} (.*)$", line)
        if m:
            value = m.group(1)
            out.append(value[1:-1] if kind == "string" and value.startswith('"') else value)
    return out


def _notify_args(args: list[str]) -> tuple[str, str, tuple[str, ...]]:
    """Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout): the body
    may span lines (dbus-monitor prints strings raw), so it runs up to the actions array."""
    try:
        end = next(i for i, line in enumerate(args) if line.startswith("   array ["))
    except StopIteration:
        end = len(args)
    top = args[:end]
    summary = top[3].strip()[len('string "') : -1] if len(top) > 3 else ""
    body = "\n".join(top[4:]).strip()
    body = body[len('string "') : -1] if body.startswith('string "') else body
    actions: list[str] = []
    for line in args[end + 1 :]:
        if line.startswith("   ]"):
            break
        actions += _values([line], "string")
    return summary, body, tuple(actions[0::2])


class Desktop:
    """Started once per test session (tests/journeys/conftest.py). ``env`` is what the app needs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env: dict[str, str] = {}
        self.display = ""
        self._procs: list[subprocess.Popen[bytes]] = []
        self._files: list[Any] = []  # the processes' log files, closed in stop()
        self.notify_log = NotifyLog(root / "notifications.log")

    # ------------------------------------------------------------------ start/stop

    def start(self) -> None:
        for sub in ("run", "data", "config/dunst", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "run").chmod(0o700)
        (self.root / "config/dunst/dunstrc").write_text(DUNSTRC)
        self.env = {
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "XDG_DATA_HOME": str(self.root / "data"),  # the keyring's files: never the user's
            "XDG_CONFIG_HOME": str(self.root / "config"),  # dunst's config: never the user's
            "QT_QPA_PLATFORM": "xcb",
        }
        self._start_x()
        self._start_bus()
        self._start_keyring()
        self._spawn("dunst", ["dunst"])
        self._wait(lambda: self._bus_has("org.freedesktop.Notifications"), "dunst on the session bus")
        self._spawn(
            "trayer",
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "24",
                "--SetDockType",
                "true",
            ],
        )
        self._wait(self._tray_owned, "the tray (trayer) to own _NET_SYSTEM_TRAY_S0")
        self._spawn_monitor()

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._procs.clear()
        for proc_file in self._files:
            proc_file.close()
        self._files.clear()

    # ------------------------------------------------------------------ what tests use

    def run(self, *cmd: str, timeout: float = 10.0) -> str:
        """A desktop command (dunstctl, secret-tool, xdotool...) on this session; its stdout."""
        done = subprocess.run(cmd, env=self._full_env(), capture_output=True, timeout=timeout, check=True)
        return done.stdout.decode(errors="replace")

    def click_notification(self) -> None:
        """As a person clicks the top notification: dunst invokes its default action (ActionInvoked)."""
        self.run("dunstctl", "action", "0")

    def displayed_count(self) -> int:
        return int(self.run("dunstctl", "count", "displayed").strip() or 0)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if shutil.which("import"):
            with contextlib.suppress(subprocess.SubprocessError):
                self.run("import", "-window", "root", str(path), timeout=20)

    # ------------------------------------------------------------------ internals

    def _full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _spawn(self, name: str, cmd: list[str], **kw: object) -> subprocess.Popen[bytes]:
        log = (self.root / "logs" / f"{name}.log").open("wb")
        self._files.append(log)
        kw.setdefault("stdout", log)
        proc = subprocess.Popen(cmd, env=self._full_env(), stderr=log, **kw)  # type: ignore[call-overload]
        self._procs.append(proc)
        self._files += [f for f in (proc.stdin, proc.stdout) if f is not None]
        return proc  # type: ignore[no-any-return]

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self._procs):
                dead = [p.args for p in self._procs if p.poll() is not None]
                raise RuntimeError(f"desktop: {dead} exited while waiting for {what} (logs in {self.root})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"desktop: timed out waiting for {what} (logs in {self.root})")
            time.sleep(0.05)

    def _start_x(self) -> None:
        read, write = os.pipe()
        self._spawn(
            "xvfb",
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1440x900x24", "-nolisten", "tcp"],
            pass_fds=(write,),
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError(f"desktop: Xvfb did not start (see {self.root}/logs/xvfb.log)")
        self.display = f":{number}"
        self.env["DISPLAY"] = self.display

    def _start_bus(self) -> None:
        proc = self._spawn(
            "dbus",
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        address = proc.stdout.readline().decode().strip()
        if not address:
            raise RuntimeError("desktop: dbus-daemon printed no address")
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address
        # A stand-in system bus, empty unless a journey serves a fake logind on it: the app's auto-away
        # watches logind there, and the host's real one (a developer locking their own screen, a sleep
        # inhibitor taken on their machine) must never reach a journey.
        system = self._spawn(
            "dbus-system",
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
        )
        assert system.stdout is not None
        address = system.stdout.readline().decode().strip()
        if not address:
            raise RuntimeError("desktop: the system bus stand-in printed no address")
        self.env["DBUS_SYSTEM_BUS_ADDRESS"] = address

    def _start_keyring(self) -> None:
        proc = self._spawn(
            "keyring",
            [
                "gnome-keyring-daemon",
                "--foreground",
                "--unlock",
                "--components=secrets",
                "--control-directory",
                str(self.root / "run" / "keyring"),
            ],
            stdin=subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(KEYRING_PASSWORD.encode())
        proc.stdin.close()
        self._wait(lambda: self._bus_has("org.freedesktop.secrets"), "gnome-keyring on the session bus")

    def _spawn_monitor(self) -> None:
        log = self.notify_log.path.open("wb")
        self._files.append(log)
        # Calls to and signals from the daemon, and its replies (they carry the ids it gave).
        daemon = self._bus_owner("org.freedesktop.Notifications")
        rules = ["interface='org.freedesktop.Notifications'", f"type='method_return',sender='{daemon}'"]
        proc = self._spawn("dbus-monitor", ["dbus-monitor", *rules], stdout=log)
        self._wait(lambda: self.notify_log.path.stat().st_size > 0 or proc.poll() is not None, "dbus-monitor")

    def _bus_has(self, name: str) -> bool:
        cmd = [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        ]
        done = subprocess.run(cmd, env=self._full_env(), capture_output=True, timeout=5)
        return done.returncode == 0 and b"boolean true" in done.stdout

    def _bus_owner(self, name: str) -> str:
        cmd = [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetNameOwner",
            f"string:{name}",
        ]
        out = subprocess.run(cmd, env=self._full_env(), capture_output=True, timeout=5, check=True).stdout
        found = re.search(rb'string "([^"]+)"', out)
        if found is None:
            raise RuntimeError(f"desktop: nobody owns {name}")
        return found.group(1).decode()

    def _tray_owned(self) -> bool:
        done = subprocess.run(
            ["xwininfo", "-root", "-children"], env=self._full_env(), capture_output=True, timeout=5
        )
        return b"panel" in done.stdout or b"trayer" in done.stdout
