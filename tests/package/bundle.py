"""Drives the installed bundle (the tarball from `make package`) from outside, as a person would."""

# The tarball's install.sh puts it in a fresh HOME's ~/.local; the app runs under ``env -i`` with an empty
# PATH (no Python anywhere) on the journeys' desktop (tests/journeys/desktop.py: Xvfb, D-Bus, dunst, an
# unlocked gnome-keyring). Windows are found by their X title with xdotool, and xdotool types (XTEST, the
# same events a keyboard sends). bench/bundle_start.py uses these helpers to time the cold start.

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.journeys.desktop import Desktop

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
# SDR_BUNDLE_DIR=<onedir>: run that bundle as it is, without the tarball (e.g. a deliberately broken copy).
BUNDLE_DIR = os.environ.get("SDR_BUNDLE_DIR", "")
EXECUTABLE = "sdr-agent-desk"
APP_ID = "io.github.sdr_agent_desk.SDRAgentDesk"
SIGN_IN_TITLE = r"^Sign in — SDR Agent Desk$"
MAIN_TITLE = r"^(\([0-9]+\) )?SDR Agent Desk$"  # POSIX ERE (xdotool): no \\d


def wait_for(
    check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> Any:
    """Polls ``check`` until it returns something truthy (a condition, not a fixed sleep), else fails."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the bundle exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def start_server(folder: Path, email: str, password: str) -> tuple[subprocess.Popen[str], str]:
    """A real chat server (``python -m chat_server serve`` from this venv, port 0) with one SDR."""
    db = folder / "chat.sqlite3"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(
        [sys.executable, "-m", "chat_server", "--db", str(db), "agents", "add", "--email", email,
         "--name", "Pat Package", "--role", "sdr", "--password", password],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chat_server", "serve", "--port", "0", "--db", str(db)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    log.close()  # the child has its own copy
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://\S+)", line)
    if not match:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        raise RuntimeError(f"the chat server did not start: {line!r} (log {folder / 'server.log'})")
    return proc, match.group(1)


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            stream.close()
    return proc.returncode


@dataclass
class CleanUser:
    """A user with nothing installed: fresh HOME, an empty PATH folder (no python anywhere), and only the
    session variables a desktop login sets (display, session bus, runtime dir, locale)."""

    desktop: Desktop
    root: Path
    bundle: Path = Path(BUNDLE_DIR or "/nonexistent")  # the onedir that runs (install() sets it)
    runs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.root / "bin").mkdir(exist_ok=True)  # deliberately empty: the bundle must need nothing on PATH

    def env(self) -> dict[str, str]:
        d = self.desktop.env
        return {
            "HOME": str(self.home),
            "PATH": str(self.root / "bin"),
            "DISPLAY": d["DISPLAY"],
            "DBUS_SESSION_BUS_ADDRESS": d["DBUS_SESSION_BUS_ADDRESS"],
            "XDG_RUNTIME_DIR": d["XDG_RUNTIME_DIR"],
            "LANG": "C.UTF-8",
        }

    @property
    def home(self) -> Path:
        return self.root / "home"

    def install(self, unpacked: Path, *options: str) -> str:
        """``./install.sh OPTIONS`` from the unpacked tarball, as this user (coreutils on PATH, no Python
        needed: the check after launch proves none is used); its output."""
        env = {"HOME": str(self.home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        done = subprocess.run(
            ["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()], "sh", str(unpacked / "install.sh"),
             *options],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        self.bundle = self.home / ".local" / "lib" / "sdr-agent-desk"
        return done.stdout

    def launcher_command(self) -> list[str]:
        """The installed menu entry's Exec line, as the desktop runs it with no link (%u dropped)."""
        desktop_file = self.home / ".local" / "share" / "applications" / f"{APP_ID}.desktop"
        for line in desktop_file.read_text().splitlines():
            if line.startswith("Exec="):
                return [arg for arg in line.removeprefix("Exec=").split() if arg not in ("%u", "%U")]
        raise AssertionError(f"no Exec line in {desktop_file}")

    def launch(self, *args: str, command: list[str] | None = None) -> subprocess.Popen[bytes]:
        """``env -i ... COMMAND ARGS`` (env -i itself, so nothing of ours leaks in); COMMAND defaults to
        the bundle's executable."""
        log = (self.root / f"run{len(self.runs) + 1}.log").open("wb")
        self._logs.append(log)
        env_args = [f"{k}={v}" for k, v in self.env().items()]
        cmd = ["/usr/bin/env", "-i", *env_args, *(command or [str(self.bundle / EXECUTABLE)]), *args]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.home)
        self.runs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.runs:
            stop(proc)
        for log in self._logs:
            log.close()

    def output(self, run: int) -> str:
        return (self.root / f"run{run}.log").read_text(errors="replace")

    def wait_for(
        self, check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[bytes]
    ) -> Any:
        """:func:`wait_for` on one run of the bundle; a failure quotes the end of that run's output."""
        try:
            return wait_for(check, timeout, what, proc)
        except AssertionError as exc:
            tail = "\n".join(self.output(self.runs.index(proc) + 1).splitlines()[-15:])
            raise AssertionError(f"{exc}\n--- the bundle's output (end) ---\n{tail}") from None

    # ------------------------------------------------------------------ X windows

    def windows(self, title: str) -> list[str]:
        """Visible X windows whose title matches the regex ``title`` (xdotool search)."""
        done = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", title],
            env={**os.environ, **self.desktop.env}, capture_output=True, timeout=10,
        )  # fmt: skip
        return done.stdout.decode().split()

    def title(self, window: str) -> str:
        return self.desktop.run("xdotool", "getwindowname", window).strip()

    def type_into(self, window: str, *keys: str) -> None:
        """Focus ``window`` and type: plain strings are typed, ``<Tab>``-style items are key presses."""
        self.desktop.run("xdotool", "windowfocus", "--sync", window)
        for item in keys:
            if item.startswith("<") and item.endswith(">"):
                self.desktop.run("xdotool", "key", "--clearmodifiers", item[1:-1])
            else:
                self.desktop.run("xdotool", "type", "--delay", "15", "--clearmodifiers", item)


def python_in_process(pid: int) -> list[str]:
    """Every file with 'python' in its name mapped into the process (its interpreter and extensions)."""
    paths = set()
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and "python" in parts[5].lower():
                paths.add(parts[5].replace(" (deleted)", ""))
    return sorted(paths)


@contextlib.contextmanager
def screenshots(desktop: Desktop, folder: Path) -> Iterator[Callable[[str], Path]]:
    """shot(name): the whole virtual screen as PNG in ``folder`` (and in $PACKAGE_SHOTS when set)."""
    extra = os.environ.get("PACKAGE_SHOTS")

    def shot(name: str) -> Path:
        path = folder / f"{name}.png"
        desktop.screenshot(path)
        if extra and path.exists():
            Path(extra).mkdir(parents=True, exist_ok=True)
            (Path(extra) / path.name).write_bytes(path.read_bytes())
        return path

    yield shot
