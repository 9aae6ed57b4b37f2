"""Reconnect policy against misbehaving servers: bounded rate, no storm, stop on final close codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from tests.client.conftest import outbox_at, until

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, subprotocols=[p.SUBPROTOCOL]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def close_at_once(ws: ServerConnection) -> None:
    await ws.close(p.CloseCode.TRY_LATER, "draining")


async def welcome_then_close(ws: ServerConnection) -> None:
    hello = p.decode_agent_command(await ws.recv())
    agent = p.Agent(id="a1", name="A", email="a@example.com")
    await ws.send(p.encode(p.Welcome(ref=hello.id, agent=agent, epoch="e", seq=0, resume="resync")))
    await ws.send(p.encode(p.Snapshot(epoch="e", seq=0, agents=[agent], conversations=[], messages=[])))
    await ws.close()


class FakeTime:
    """The session's clock and backoff sleep: time passes only while the session waits to reconnect."""

    def __init__(self, window: float) -> None:
        self.now = 0.0
        self.window = window
        self.past_window = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay
        if self.now >= self.window:
            self.past_window.set()
            await asyncio.Event().wait()  # until stop() wakes the session
        await asyncio.sleep(0)


async def attempts_within(url: str, tmp_path: Path, window: float) -> tuple[int, Session, list[str]]:
    fake = FakeTime(window)
    backoff = Backoff(base=1.0, cap=30.0, rand=lambda: 1.0, sleep=fake.sleep)
    session = Session(
        url, Store(), outbox_at(tmp_path / "o.sqlite3"), token="t", backoff=backoff, clock=fake.clock
    )
    details: list[str] = []
    session.add_state_listener(lambda state, detail: details.append(detail))
    task = asyncio.create_task(session.run())
    await asyncio.wait_for(fake.past_window.wait(), 20)
    await session.stop()
    await asyncio.wait_for(task, 10)
    return session.attempts, session, details


@pytest.mark.parametrize("handler", [close_at_once, welcome_then_close])
async def test_a_bouncing_server_gets_a_bounded_reconnect_rate(handler: Handler, tmp_path: Path) -> None:
    async with raw_server(handler) as url:
        attempts, session, _ = await attempts_within(url, tmp_path, window=60.0)
    # Delays 1, 2, 4, 8, 16, 32 s: 6-7 attempts in a minute. A backoff reset after every handshake
    # (websockets' own loop) would make ~60 here, and thousands with its real delays.
    assert 5 <= attempts <= 7
    assert session.state is ConnectionState.OFFLINE


async def test_backoff_resets_after_a_connection_that_lived(tmp_path: Path) -> None:
    fake = FakeTime(window=1e9)
    delays: list[float] = []
    online = asyncio.Event()

    async def lived(ws: ServerConnection) -> None:
        hello = p.decode_agent_command(await ws.recv())
        agent = p.Agent(id="a1", name="A", email="a@example.com")
        await ws.send(p.encode(p.Welcome(ref=hello.id, agent=agent, epoch="e", seq=0, resume="replay")))
        await online.wait()
        online.clear()
        await ws.close()

    def on_state(state: ConnectionState, detail: str) -> None:
        if state is ConnectionState.ONLINE:
            fake.now += 11.0  # the connection stays up past min_lifetime
            online.set()

    async def sleep(delay: float) -> None:
        delays.append(delay)
        fake.now += delay
        if len(delays) >= 3:
            await asyncio.Event().wait()

    backoff = Backoff(base=1.0, cap=30.0, rand=lambda: 1.0, sleep=sleep)
    async with raw_server(lived) as url:
        session = Session(
            url, Store(), outbox_at(tmp_path / "o.sqlite3"), token="t", backoff=backoff, clock=fake.clock
        )
        session.add_state_listener(on_state)
        task = asyncio.create_task(session.run())
        await until(lambda: len(delays) >= 3, what="three reconnects")
        await session.stop()
        await asyncio.wait_for(task, 10)
    assert delays == [1.0, 1.0, 1.0]  # every connection lived >= 10 s: always the first delay


@pytest.mark.parametrize(
    "code", [p.CloseCode.AUTH_FAILED, p.CloseCode.AGENT_DISABLED, p.CloseCode.UNSUPPORTED_VERSION]
)
async def test_final_close_codes_stop_without_retry(code: p.CloseCode, tmp_path: Path) -> None:
    async def refuse(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(code, "no")

    async with raw_server(refuse) as url:
        fake = FakeTime(window=1e9)
        backoff = Backoff(base=1.0, cap=30.0, sleep=fake.sleep)
        session = Session(url, Store(), outbox_at(tmp_path / "o.sqlite3"), token="t", backoff=backoff)
        await asyncio.wait_for(session.run(), 10)
    assert session.state is ConnectionState.SIGNED_OUT
    assert session.attempts == 1 and fake.now == 0.0


async def test_unreachable_server_keeps_retrying_with_backoff(tmp_path: Path) -> None:
    async with raw_server(close_at_once) as url:
        pass  # the port is closed again: connection refused
    attempts, _, details = await attempts_within(url, tmp_path, window=60.0)
    assert 5 <= attempts <= 7
    assert any(d.startswith("Cannot reach the server") and "Reconnecting in" in d for d in details)


async def test_typing_is_throttled_and_signed_in_elsewhere_stops(tmp_path: Path) -> None:
    received: list[p.AgentCommand] = []
    typed = asyncio.Event()

    async def record(ws: ServerConnection) -> None:
        hello = p.decode_agent_command(await ws.recv())
        agent = p.Agent(id="a1", name="A", email="a@example.com")
        await ws.send(p.encode(p.Welcome(ref=hello.id, agent=agent, epoch="e", seq=0, resume="replay")))
        async for raw in ws:
            received.append(p.decode_agent_command(raw))
            if len(received) == 3:
                typed.set()
                await ws.close(p.CloseCode.SIGNED_IN_ELSEWHERE, "replaced")

    now = [0.0]
    async with raw_server(record) as url:
        session = Session(url, Store(), outbox_at(tmp_path / "o.sqlite3"), token="t", clock=lambda: now[0])
        task = asyncio.create_task(session.run())
        await until(lambda: session.state is ConnectionState.ONLINE, what="ONLINE")
        for t in (0.0, 0.5, 1.0, 2.9):  # one "typing" per 3 s while it goes on
            now[0] = t
            session.typing("c1", True)
        session.typing("c1", False)
        session.typing("c1", False)  # "stopped" once
        now[0] = 3.5
        session.typing("c1", True)
        await asyncio.wait_for(typed.wait(), 10)
        await asyncio.wait_for(task, 10)  # 4009 ends run() without reconnecting
    assert [(c.conversation_id, c.active) for c in received if isinstance(c, p.SetTyping)] == [
        ("c1", True),
        ("c1", False),
        ("c1", True),
    ]
    assert session.state is ConnectionState.OFFLINE and session.detail == "Signed in on another device"
    assert session.attempts == 1
