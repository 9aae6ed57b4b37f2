"""Sign-in flood: password guesses pour in from one address while a legitimate agent from another address
signs in and makes a round trip; its latency stays low and every one succeeds."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from agent_app import protocol as p
from chat_server import run_server
from tests.faults.conftest import FULL, report
from tests.server.conftest import PASSWORD, make_config

GUESSERS = 40 if FULL else 12  # concurrent connections guessing passwords, from 127.0.0.1
DURATION = 20.0 if FULL else 3.0
EMAIL = "legit@example.com"


async def _guess(url: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            async with connect(
                url + "/agent", subprotocols=[Subprotocol(p.SUBPROTOCOL)], open_timeout=5
            ) as ws:
                await ws.send(p.encode(p.Hello(id="h", email=EMAIL, password=f"guess {n}")))
                await asyncio.wait_for(ws.recv(), 10)
            counts["answered"] += 1
        except ConnectionClosed as exc:
            key = f"closed {exc.rcvd.code if exc.rcvd else None}"
            counts[key] = counts.get(key, 0) + 1
        except (InvalidStatus, OSError, TimeoutError) as exc:
            counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1
        counts["guesses"] += 1


async def _legit(url: str) -> tuple[float, float]:
    """From 127.0.0.2: seconds to the welcome, then seconds for one command's round trip (ack)."""
    started = time.monotonic()
    async with connect(
        url + "/agent",
        subprotocols=[Subprotocol(p.SUBPROTOCOL)],
        open_timeout=10,
        local_addr=("127.0.0.2", 0),
    ) as ws:
        await ws.send(p.encode(p.Hello(id="h", email=EMAIL, password=PASSWORD)))
        while not isinstance(p.decode_server_frame(await asyncio.wait_for(ws.recv(), 10)), p.Welcome):
            pass
        signed_in = time.monotonic()
        await ws.send(p.encode(p.ListAgents(id="rt")))
        while True:
            frame = p.decode_server_frame(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(frame, p.Ack | p.Error) and frame.ref == "rt":
                assert isinstance(frame, p.Ack), frame
                break
        return signed_in - started, time.monotonic() - signed_in


async def test_legitimate_agent_signs_in_fast_during_a_sign_in_flood(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent(EMAIL, "Legit", PASSWORD)
        stop = asyncio.Event()
        counts = {"guesses": 0, "answered": 0}
        guessers = [asyncio.create_task(_guess(server.url, stop, counts)) for _ in range(GUESSERS)]
        sign_ins: list[float] = []
        round_trips: list[float] = []
        deadline = time.monotonic() + DURATION
        try:
            while time.monotonic() < deadline:
                sign_in, round_trip = await _legit(server.url)
                sign_ins.append(sign_in)
                round_trips.append(round_trip)
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            for task in guessers:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 15)
    ms = 1000
    report(
        f"sign-in flood: {GUESSERS} connections guessing {EMAIL}'s password from 127.0.0.1 for "
        f"{DURATION:.0f} s, {counts['guesses']} guesses ({counts}); {len(sign_ins)} legitimate sign-ins "
        f"from 127.0.0.2 meanwhile, all succeeded: sign-in median {statistics.median(sign_ins) * ms:.0f} "
        f"ms, max {max(sign_ins) * ms:.0f} ms; round trip median {statistics.median(round_trips) * ms:.0f} "
        f"ms, max {max(round_trips) * ms:.0f} ms"
    )
    assert counts["guesses"] > GUESSERS  # the flood was real
    assert max(sign_ins) < 5.0 and max(round_trips) < 2.0
