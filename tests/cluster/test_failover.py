"""kill -9 of a server process and a PostgreSQL restart during a message stream: every acked message reaches
every agent exactly once, in order, with the seq/epoch/resume contract unchanged."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent_app import protocol as p
from tests.cluster.conftest import Cluster, provision
from tests.cluster.pgserver import PgServer
from tests.cluster.procs import ServerProcess
from tests.server.conftest import Client

RETRYABLE = (ConnectionClosed, OSError, TimeoutError, InvalidStatus)


def live(procs: list[ServerProcess], avoid: ServerProcess | None = None) -> list[ServerProcess]:
    return [s for s in procs if s.proc is not None and s is not avoid]


@dataclass
class Desk:
    """An agent that follows the stream across reconnects, as the desk client does (resume by seq)."""

    cluster: Cluster
    email: str
    home: ServerProcess
    frames: list[p.EventFrame] = field(default_factory=list)
    reconnects: int = 0
    first: int = 0
    client: Client | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def texts(self) -> set[str]:
        return {f.event.message.text for f in self.frames if isinstance(f.event, p.MessageCreated)}

    async def has(self, texts: set[str]) -> None:
        while True:
            self.changed.clear()
            if texts <= self.texts():
                return
            await self.changed.wait()

    async def run(self, stop: asyncio.Event) -> None:
        client, welcome = await self.cluster.agent(self.home.url, self.email)
        token, epoch, self.first = welcome.token, welcome.epoch, welcome.seq + 1
        self.client = client
        self.ready.set()
        while not stop.is_set():
            try:
                frame = await client.recv(0.5)
            except TimeoutError:
                continue
            except RETRYABLE:
                client = await self._resume(token, epoch)
                continue
            if isinstance(frame, p.EventFrame):
                self.frames.append(frame)
                self.changed.set()

    async def _resume(self, token: str, epoch: str) -> Client:
        while True:
            for proc in live(self.cluster.procs, self.home):
                with contextlib.suppress(*RETRYABLE, AssertionError):
                    last = self.frames[-1].seq if self.frames else self.first - 1
                    client, welcome = await self.cluster.agent(
                        proc.url, token=token, epoch=epoch, last_seq=last
                    )
                    assert welcome.resume == "replay", welcome
                    self.home, self.client = proc, client
                    self.reconnects += 1
                    return client
            await asyncio.sleep(0.2)


@dataclass
class Visitor:
    """A visitor who sends numbered messages and re-sends (same id) until each one is acked."""

    cluster: Cluster
    name: str
    home: ServerProcess
    acked: list[str] = field(default_factory=list)
    token: str = ""

    async def send(self, count: int, progress: asyncio.Queue[int]) -> None:
        client, welcome = await self.cluster.visitor(self.home.url)
        self.token = welcome.visitor_token
        for i in range(count):
            text = f"{self.name} {i}"
            while True:
                try:
                    answer = await client.call(p.VisitorSendMessage(id=f"{self.name}-{i}", text=text), 5)
                except RETRYABLE:
                    client = await self._reconnect()
                    continue
                if isinstance(answer, p.Ack):
                    break
                await asyncio.sleep(0.1)  # the database is away: the server said so; send it again
            self.acked.append(text)
            progress.put_nowait(1)

    async def _reconnect(self) -> Client:
        while True:
            for proc in live(self.cluster.procs):
                with contextlib.suppress(*RETRYABLE, AssertionError):
                    client, _ = await self.cluster.visitor(proc.url, self.token)
                    self.home = proc
                    return client
            await asyncio.sleep(0.2)


async def test_kill9_and_database_restart_mid_stream(cluster: Cluster, pg: PgServer) -> None:
    staff = provision(cluster.dsn)
    a, b, c = await cluster.spawn(), await cluster.spawn(), await cluster.spawn()
    stop = asyncio.Event()
    desks = [Desk(cluster, staff.manager.email, c), Desk(cluster, staff.sdr1.email, b),
             Desk(cluster, staff.sdr2.email, a)]  # fmt: skip
    readers = [asyncio.create_task(d.run(stop)) for d in desks]
    await asyncio.wait_for(asyncio.gather(*(d.ready.wait() for d in desks)), 30)
    visitors = [Visitor(cluster, "ann", a), Visitor(cluster, "bob", c)]
    progress: asyncio.Queue[int] = asyncio.Queue()
    senders = [asyncio.create_task(v.send(60, progress)) for v in visitors]

    async def acks(n: int) -> None:
        for _ in range(n):
            await asyncio.wait_for(progress.get(), 30)

    await acks(30)
    await c.kill9()  # the manager's and bob's process: both continue on another one
    await acks(30)
    await asyncio.to_thread(pg.restart)  # every process loses the database and its notifications
    await asyncio.wait_for(asyncio.gather(*senders), 90)

    expected = {v.name: v.acked for v in visitors}
    assert all(len(texts) == 60 for texts in expected.values())
    everything = {t for texts in expected.values() for t in texts}
    await asyncio.wait_for(asyncio.gather(*(d.has(everything) for d in desks)), 30)
    await asyncio.sleep(1.5)  # a sweep more: nothing may arrive twice late either
    stop.set()
    await asyncio.gather(*readers)

    assert desks[0].reconnects >= 1
    for desk in desks:
        seqs = [f.seq for f in desk.frames]
        assert seqs == list(range(desk.first, desk.first + len(seqs))), desk.email  # no gap, no repeat
        texts = [f.event.message.text for f in desk.frames if isinstance(f.event, p.MessageCreated)]
        for name, sent in expected.items():
            assert [t for t in texts if t.split()[0] == name] == sent, (desk.email, name)  # once, in order
