"""Unauthenticated connection flood against a server process with few file descriptors: the flooder's sockets
are refused or cut at the hello deadline, a legitimate agent from another address signs in meanwhile with
low latency, and the server's log stays short."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent_app import protocol as p
from tests.faults.conftest import FULL, ROOT, add_agent_cli, report
from tests.server.conftest import PASSWORD

FLOOD = 1000 if FULL else 300  # connection attempts from the flooding address
FD_LIMIT = 200  # the server's RLIMIT_NOFILE: before the fix, the flood used them all up
HELLO_TIMEOUT = 3.0 if FULL else 1.0


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def _hold(url: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """One flooding connection: never says hello, sends one bad frame a second (which used to restart the
    hello timer), from 127.0.0.1."""
    try:
        async with connect(url + "/agent", subprotocols=[p.SUBPROTOCOL], open_timeout=5) as ws:  # type: ignore[list-item]
            await ws.send("garbage")
            await ws.recv()  # answered: the server keeps this one (one refused after the handshake is closed)
            counts["held"] += 1
            counts["now"] += 1
            counts["most at once"] = max(counts["most at once"], counts["now"])
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):  # a second, or until the server closes it
                        await asyncio.wait_for(ws.recv(), 1.0)
                    await ws.send("garbage")
            finally:
                counts["now"] -= 1
    except InvalidStatus as exc:
        counts[f"http {exc.response.status_code}"] = counts.get(f"http {exc.response.status_code}", 0) + 1
    except ConnectionClosed as exc:
        key = f"closed {exc.rcvd.code if exc.rcvd else None}"
        counts[key] = counts.get(key, 0) + 1
    except (OSError, TimeoutError) as exc:
        counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1


async def _sign_in(url: str) -> float:
    """A legitimate agent, from 127.0.0.2 (another address on the loopback): seconds to its welcome."""
    started = time.monotonic()
    async with connect(
        url + "/agent",
        subprotocols=[p.SUBPROTOCOL],  # type: ignore[list-item]
        open_timeout=10,
        local_addr=("127.0.0.2", 0),
    ) as ws:
        await ws.send(p.encode(p.Hello(id="h", email="legit@example.com", password=PASSWORD)))
        welcome = p.decode_server_frame(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(welcome, p.Welcome), welcome
    return time.monotonic() - started


async def test_unauthenticated_flood_is_capped_and_legit_agents_sign_in(tmp_path: Path) -> None:
    db = tmp_path / "chat.sqlite3"
    add_agent_cli(db, "legit@example.com", PASSWORD)
    log = (tmp_path / "server.log").open("w")
    env = {
        "PYTHONUNBUFFERED": "1",
        "SDR_SERVER_PLAYBOOK": "off",
        "SDR_SERVER_HELLO_TIMEOUT": str(HELLO_TIMEOUT),
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [sys.executable, "-m", "chat_server", "serve", "--port", "0", "--db", str(db)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=log, text=True,
        preexec_fn=_limit_fds,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        url = line[line.index("ws://") :].split()[0]
        stop = asyncio.Event()
        counts: dict[str, int] = {"held": 0, "now": 0, "most at once": 0}
        flooders = [asyncio.create_task(_hold(url, stop, counts)) for _ in range(FLOOD)]
        latencies = []
        started = time.monotonic()
        while time.monotonic() - started < HELLO_TIMEOUT * 2:
            latencies.append(await _sign_in(url))
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*flooders), 30)
        proc.terminate()
        await asyncio.to_thread(proc.wait, 15)
        log.close()
        log_lines = (tmp_path / "server.log").read_text().splitlines()
        del counts["now"]
        report(
            f"connection flood: {FLOOD} unauthenticated connections from one address against a server with "
            f"{FD_LIMIT} file descriptors, each sending a bad frame a second; outcomes {counts}; "
            f"{len(latencies)} legitimate sign-ins meanwhile, latency median "
            f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
            f"{len(log_lines)} server log lines ({sum(' ERROR ' in x for x in log_lines)} ERROR)"
        )
        assert counts.get("closed 1008", 0) >= 1  # the held ones were cut at the (absolute) hello deadline
        assert counts["most at once"] <= 16  # unauthenticated_per_ip (default 16)
        # The burst itself briefly exhausts the descriptors (a socket must be accepted to be refused), and
        # asyncio retries accept() after 1 s: so a sign-in can wait a second or so, never fail.
        assert max(latencies) < 5.0  # and every one of them succeeded (before: 1011, out of descriptors)
        assert len(log_lines) < 100, log_lines[-10:]  # a burst of 20 per message a minute, at most
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        if not log.closed:
            log.close()


def test_loopback_alias_is_usable() -> None:
    """The flood test relies on 127.0.0.2 reaching a server bound to 127.0.0.1 (Linux loopback)."""
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.bind(("127.0.0.2", 0))
        client.connect(server.getsockname())
