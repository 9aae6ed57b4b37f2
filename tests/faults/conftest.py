"""Fault-harness fixtures: a chat server on a background thread (for blocking clients), or in a subprocess."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_server import ChatServer
from tests.server.conftest import make_config, provision

ROOT = Path(__file__).resolve().parents[2]
# `make faults` sets FAULTS_FULL=1: more inputs, connections and floods (figures in docs/reliability.md).
FULL = os.environ.get("FAULTS_FULL", "") not in ("", "0")


def report(line: str) -> None:
    """What a check held, printed for `make faults` (pytest -s) and kept in docs/reliability.md."""
    print(f"\n[faults] {line}", flush=True)


class ThreadedServer:
    """A real ChatServer running its own event loop on a thread, so tests can use blocking clients."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chat-server", daemon=True)
        self.thread.start()
        config = make_config(tmp_path, **overrides)
        self.server: ChatServer = self.run(self._make(config))

    async def _make(self, config: Any) -> ChatServer:
        server = ChatServer(config)
        await server.start()
        return server

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def threaded_server(tmp_path: Path) -> Iterator[ThreadedServer]:
    running = ThreadedServer(
        tmp_path, bad_frames_per_minute=10**9, hello_timeout=10**6, visitor_rate_messages=10**6
    )
    provision(running.server)
    try:
        yield running
    finally:
        running.stop()


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (no psutil needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server_process(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``python -m chat_server serve`` with SDR_SERVER_* settings; returns (process, ws URL)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "SDR_SERVER_PLAYBOOK": "off", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chat_server", "serve", "--port", "0", "--db", str(db)],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://\S+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, match.group(1)


def add_agent_cli(db: Path, email: str, password: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "chat_server", "--db", str(db), "agents", "add", "--email", email,
         "--name", "Fault Tester", "--role", "manager", "--password", password],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
