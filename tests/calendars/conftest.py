"""Real servers for the connected-calendar tests: Radicale (CalDAV, subprocess), aiosmtpd (in-process)."""

from __future__ import annotations

import email
import email.policy
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import caldav
import httpx
import pytest
from aiosmtpd.controller import Controller

CALDAV_USER = "sam"
CALDAV_PASSWORD = "radicale-any"  # Radicale with [auth] type=none takes any password, but wants one


def _free_port() -> int:
    # Radicale cannot listen on port 0, so a free port is picked here (a tiny race, retried below).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Radicale:
    url: str
    calendar_url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    for _ in range(5):
        port = _free_port()
        config = folder / "radicale.conf"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = none\ndelay = 0\n"
            f"[storage]\nfilesystem_folder = {folder / 'data'}\n[logging]\nlevel = warning\n"
        )
        log = open(folder / "radicale.log", "wb")  # noqa: SIM115 - closed with the process below
        process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(url, timeout=1).close()
                return process, url
            except httpx.TransportError:
                time.sleep(0.05)  # polling a starting process: bounded by the deadline
        process.terminate()
        process.wait(10)
    raise RuntimeError("Radicale did not start: " + (folder / "radicale.log").read_text()[-2000:])


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    folder = tmp_path / "radicale"
    folder.mkdir()
    process, url = _start(folder)
    with caldav.DAVClient(url=url, username=CALDAV_USER, password=CALDAV_PASSWORD) as client:  # type: ignore[operator]
        calendar = client.principal().make_calendar(name="Work")
        server = Radicale(url, str(calendar.url), process)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    # Controller.start() connects to its own port to see it is up: port 0 cannot be used, a free one is.
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
