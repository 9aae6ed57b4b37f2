"""Real ``python -m chat_server`` processes sharing one PostgreSQL database, for the cluster tests."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
_URL = re.compile(rb"listening on (ws://[\d.]+:\d+)")


class ServerProcess:
    """One server process; ``kill9`` is SIGKILL (no cleanup at all), ``start`` again gets a new port."""

    def __init__(self, dsn: str, log_path: Path, **settings: Any) -> None:
        self.dsn = dsn
        self.log_path = log_path
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self._log: Any = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self, wait: float = 20.0) -> None:
        env = dict(os.environ)
        env.update({"SDR_SERVER_STORAGE": "postgres", "SDR_SERVER_DATABASE_URL": self.dsn,
                    "SDR_SERVER_PLAYBOOK": "off", "SDR_SERVER_LOG_LEVEL": "INFO",
                    "PYTHONUNBUFFERED": "1"})  # fmt: skip
        env.update({f"SDR_SERVER_{k.upper()}": str(v) for k, v in self.settings.items()})
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chat_server", "serve", "--port", "0", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        found = asyncio.get_running_loop().create_future()
        self._pump = asyncio.create_task(self._read(self.proc.stdout, found))
        self.url = await asyncio.wait_for(found, wait)

    async def _read(self, stream: asyncio.StreamReader, found: asyncio.Future[str]) -> None:
        while line := await stream.readline():
            self._log.write(line)
            self._log.flush()
            match = _URL.search(line)
            if match and not found.done():
                found.set_result(match.group(1).decode())
        if not found.done():
            found.set_exception(RuntimeError(f"server exited; see {self.log_path}"))

    @property
    def http(self) -> str:
        return self.url.replace("ws://", "http://")

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(self.http + "/healthz")
            return response.status_code, response.json()

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self._finish()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
        await self._finish()

    async def _finish(self) -> None:
        if self.proc is not None:
            await self.proc.wait()
        if self._pump is not None:
            await self._pump
            self._pump = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.proc = None
