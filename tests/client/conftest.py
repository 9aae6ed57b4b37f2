"""Fixtures for the client core: the real chat server in-process, visitors over real websockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest
from websockets.asyncio.client import connect

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import NullListener, Store

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"


@pytest.fixture(autouse=True)
def _no_real_keychain() -> Iterator[None]:
    """Nothing in these tests may touch the developer's keychain."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


async def until(predicate: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    """Wait for a condition the code under test makes true; fail with ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


@dataclass
class Gate:
    """A backoff sleep the test controls: reconnects wait until ``open()``; delays are recorded."""

    delays: list[float] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.event.set()

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await self.event.wait()

    def close(self) -> None:
        self.event.clear()

    def open(self) -> None:
        self.event.set()


class Recorder(NullListener):
    """Counts what the store announced."""

    def __init__(self) -> None:
        self.resets = 0
        self.added: list[tuple[str, str]] = []  # (conversation id, message key)

    def on_reset(self) -> None:
        self.resets += 1

    def on_message_added(self, conversation_id: str, index: int, item: Any) -> None:
        self.added.append((conversation_id, item.key))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Any]:
    from chat_server.app import run_server
    from chat_server.config import Config

    # The session is tested against the core protocol; the bot/routing/SLA are covered in tests/playbook.
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "server.sqlite3"), playbook="off")
    async with run_server(config) as srv:
        srv.test_agent = srv.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        yield srv


def make_session(url: str, store: Store, outbox: Outbox, gate: Gate | None = None, **kw: Any) -> Session:
    gate = gate or Gate()
    backoff = Backoff(base=0.01, cap=0.05, sleep=gate.sleep)
    return Session(url, store, outbox, backoff=backoff, **kw)


@dataclass
class Client:
    """One running Session with its store/outbox, and the task running it."""

    session: Session
    store: Store
    outbox: Outbox
    gate: Gate
    recorder: Recorder
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.session.run())

    async def online(self) -> None:
        await until(lambda: self.session.state is ConnectionState.ONLINE, what="ONLINE")

    async def stop(self) -> None:
        await self.session.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


_outboxes: list[Outbox] = []


def outbox_at(path: Path) -> Outbox:
    """An Outbox closed after the test (an unclosed SQLite connection fails the test under -W error)."""
    outbox = Outbox(path)
    _outboxes.append(outbox)
    return outbox


@pytest.fixture(autouse=True)
def close_outboxes() -> Iterator[None]:
    yield
    while _outboxes:
        _outboxes.pop().close()


def new_client(url: str, tmp_path: Path, *, token: str = "", name: str = "outbox.sqlite3") -> Client:
    store, recorder, gate = Store(), Recorder(), Gate()
    store.add_listener(recorder)
    outbox = outbox_at(tmp_path / name)
    session = make_session(url, store, outbox, gate, token=token)
    return Client(session, store, outbox, gate, recorder)


@pytest.fixture
async def signed_in(server: Any, tmp_path: Path) -> AsyncIterator[Client]:
    """A client signed in with the password and running."""
    client = new_client(server.url, tmp_path)
    await client.session.sign_in(EMAIL, PASSWORD)
    client.start()
    await client.online()
    yield client
    await client.stop()
    client.outbox.close()


class Visitor:
    """A website visitor over the real /visitor endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url + "/visitor"
        self.ws: Any = None
        self.conversation_id = ""

    async def __aenter__(self) -> Visitor:
        self.ws = await connect(self.url, subprotocols=[p.SUBPROTOCOL])  # type: ignore[list-item]
        await self.ws.send(p.encode(p.VisitorHello(id="h", page_url="https://example.com/pricing")))
        while not isinstance(p.decode_server_frame(await self.ws.recv()), p.VisitorWelcome):
            pass
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def say(self, text: str) -> None:
        """Send and wait for the ack (the message is durable on the server then)."""
        command_id = f"v-{time.monotonic_ns()}"
        await self.ws.send(p.encode(p.VisitorSendMessage(id=command_id, text=text)))
        while True:
            frame = p.decode_server_frame(await asyncio.wait_for(self.ws.recv(), 10))
            if isinstance(frame, p.Error) and frame.ref == command_id:
                raise AssertionError(f"visitor message refused: {frame.message}")
            if (
                isinstance(frame, p.EventFrame)
                and isinstance(frame.event, p.MessageCreated)
                and frame.event.message.client_id == command_id
            ):
                self.conversation_id = frame.event.message.conversation_id
            if isinstance(frame, p.Ack) and frame.ref == command_id:
                if not self.conversation_id:
                    self.conversation_id = str(frame.result.get("conversation_id", ""))
                return
