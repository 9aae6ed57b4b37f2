"""Link cuts under a message stream: a proxy between the real client core (Session + durable outbox) and a
real chat server resets, cuts mid-frame and blackholes the agent's link again and again while the visitor
and the agent send; at the end every message is on the server, and on both sides, once and in order."""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Delivery, Store
from chat_server import run_server
from tests.faults.conftest import FULL, report
from tests.faults.proxy import Cut, CutProxy
from tests.server.conftest import make_config

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"
CUTS = 210 if FULL else 24
PING = 0.2  # the session's keepalive in this test: a blackhole is noticed within PING + PING_TIMEOUT
PING_TIMEOUT = 0.5
CLOSE_TIMEOUT = 0.3
# Keepalive fails -> the session drops the link at once (before the fix websockets waited its default
# close_timeout, 10 s, for a close handshake the dead peer can never answer). Margin for 2 busy cores.
NOTICED_WITHIN = PING + PING_TIMEOUT + CLOSE_TIMEOUT + 2.0


async def until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class StreamingVisitor:
    """A visitor on a direct link: sends one message at a time (each acked) and records every message
    event it receives, to check the agent's messages arrive once each and in order."""

    def __init__(self, url: str) -> None:
        self.url = url + "/visitor"
        self.ws: Any = None
        self.conversation_id = ""
        self.received: list[p.Message] = []
        self.acks: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await connect(self.url, subprotocols=[Subprotocol(p.SUBPROTOCOL)])
        await self.ws.send(p.encode(p.VisitorHello(id="h", page_url="https://example.com/pricing")))
        while not isinstance(p.decode_server_frame(await self.ws.recv()), p.VisitorWelcome):
            pass
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = p.decode_server_frame(raw)
            if isinstance(frame, p.EventFrame) and isinstance(frame.event, p.MessageCreated):
                self.received.append(frame.event.message)
                self.conversation_id = frame.event.message.conversation_id
            elif isinstance(frame, p.Ack | p.Error) and frame.ref in self.acks:
                future = self.acks.pop(frame.ref)
                if isinstance(frame, p.Error):
                    future.set_exception(AssertionError(f"visitor message refused: {frame.message}"))
                else:
                    self.conversation_id = self.conversation_id or str(
                        frame.result.get("conversation_id", "")
                    )
                    future.set_result(None)

    async def say(self, command_id: str, text: str) -> None:
        self.acks[command_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(p.encode(p.VisitorSendMessage(id=command_id, text=text)))
        await asyncio.wait_for(self.acks[command_id], 10)

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def test_link_cuts_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, visitor_rate_messages=10**6)
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        proxy = CutProxy(urlsplit(server.url).port or 0)
        await proxy.start()
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        store = Store()
        session = Session(
            f"ws://127.0.0.1:{proxy.port}",
            store,
            outbox,
            backoff=Backoff(base=0.01, cap=0.05),
            ping_interval=PING,
            ping_timeout=PING_TIMEOUT,
            open_timeout=2.0,
            close_timeout=CLOSE_TIMEOUT,
        )
        onlines = 0
        reasons: Counter[str] = Counter()

        def on_state(state: ConnectionState, detail: str) -> None:
            nonlocal onlines
            onlines += state is ConnectionState.ONLINE
            if state is ConnectionState.RECONNECTING and ". Reconnecting" in detail:
                reasons[detail.split(". Reconnecting")[0]] += 1

        session.add_state_listener(on_state)
        await session.sign_in(EMAIL, PASSWORD)
        runner = asyncio.create_task(session.run())
        visitor = StreamingVisitor(server.url)
        await visitor.open()
        await visitor.say("v-first", "v-first")
        cid = visitor.conversation_id
        await until(lambda: len(store.transcripts.get(cid, [])) == 1, 10, "the agent to see the visitor")
        done = asyncio.Event()
        agent_sent: list[str] = ["a-first"]
        visitor_sent: list[str] = ["v-first"]
        session.send_message(cid, "a-first")
        blackholes_noticed: list[float] = []

        async def agent() -> None:
            for n in itertools.count():  # the agent types whether or not the link is up (the outbox holds it)
                if done.is_set() or n >= 20_000:
                    return
                text = f"a-{n}"
                session.send_message(cid, text)
                agent_sent.append(text)
                await asyncio.sleep(random.uniform(0.01, 0.05))

        async def visitor_stream() -> None:
            for n in itertools.count():
                if done.is_set() or n >= 20_000:
                    return
                text = f"v-{n}"
                await visitor.say(text, text)
                visitor_sent.append(text)
                await asyncio.sleep(random.uniform(0.01, 0.05))

        async def cutter() -> None:
            rng = random.Random(10)
            modes = [Cut.RST, Cut.MID_FRAME, Cut.BLACKHOLE]
            for n in range(CUTS):
                await until(
                    lambda: session.state is ConnectionState.ONLINE and bool(proxy.live_links()),
                    20,
                    "the session back online on a new link",
                )
                await asyncio.sleep(rng.uniform(0.0, 0.05))  # let some messages flow on this link
                links = proxy.live_links()
                if not links:
                    continue  # it dropped on its own meanwhile (counted in `reasons`)
                link = links[-1]
                mode = modes[n % 3]
                started = time.monotonic()
                await link.cut(mode)
                if mode is Cut.BLACKHOLE:
                    # Only the session's keepalive can notice: it must drop the link and connect anew.
                    await until(link.closed.is_set, 15, "keepalive to drop a blackholed link")
                    blackholes_noticed.append(time.monotonic() - started)
            done.set()

        started = time.monotonic()
        tasks = [asyncio.create_task(c()) for c in (agent, visitor_stream, cutter)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), 600)
        finally:
            done.set()
            for task in tasks:
                task.cancel()
        # The link is left alone now: everything the outbox holds must get through and be acked.
        await until(lambda: not outbox.pending(), 30, "the outbox to drain")

        def agent_has() -> list[str]:
            return [i.message.text for i in store.transcripts.get(cid, []) if i.message.text.startswith("v-")]

        try:
            await until(lambda: agent_has() == visitor_sent, 10, "the agent to have every visitor message")
        except AssertionError:
            got = agent_has()
            missing = [t for t in visitor_sent if t not in got]
            extra = [t for t in got if got.count(t) > 1]
            raise AssertionError(
                f"agent has {len(got)} of {len(visitor_sent)}; missing {missing[:20]}, "
                f"doubled {extra[:10]}, first 5 {got[:5]}"
            ) from None
        await until(
            lambda: [m.text for m in visitor.received if m.text.startswith("a-")] == agent_sent,
            10,
            "the visitor to have every agent message",
        )
        elapsed = time.monotonic() - started
        await session.stop()
        await asyncio.wait_for(runner, 10)
        await visitor.close()
        await proxy.stop()
        outbox.close()

    with closing(sqlite3.connect(config.db_path)) as conn:
        rows = conn.execute(
            "SELECT json_extract(data, '$.text') FROM messages WHERE conversation_id = ? ORDER BY n", (cid,)
        ).fetchall()
    stored = [row[0] for row in rows]
    stored_agent = [t for t in stored if t.startswith("a-")]
    stored_visitor = [t for t in stored if t.startswith("v-")]
    agent_side = store.transcripts[cid]
    lost = len(set(agent_sent) - set(stored_agent)) + len(set(visitor_sent) - set(stored_visitor))
    duplicated = (len(stored_agent) - len(set(stored_agent))) + (
        len(stored_visitor) - len(set(stored_visitor))
    )
    report(
        f"link cuts: {sum(proxy.cuts.values())} cuts of the agent's link ({proxy.cuts[Cut.RST]} RST, "
        f"{proxy.cuts[Cut.MID_FRAME]} mid-frame with {proxy.truncated_frames} frames cut in half, "
        f"{proxy.cuts[Cut.BLACKHOLE]} blackholes noticed by keepalive in median "
        f"{sorted(blackholes_noticed)[len(blackholes_noticed) // 2] * 1000:.0f} ms, max "
        f"{max(blackholes_noticed) * 1000:.0f} ms) in {elapsed:.1f} s; {len(proxy.links)} connections, "
        f"{onlines} times online (why the links ended, as the session saw it: {dict(reasons)}); "
        f"agent sent {len(agent_sent)}, visitor sent {len(visitor_sent)}; "
        f"lost {lost}, duplicated {duplicated}"
    )
    assert sum(proxy.cuts.values()) >= CUTS * 0.9
    assert max(blackholes_noticed) < NOTICED_WITHIN, blackholes_noticed
    # On the server: each message once, in the order it was sent.
    assert stored_agent == agent_sent and stored_visitor == visitor_sent
    # On the agent's side: the server's messages, each once; each author's in order; mine all acked (SENT).
    # (The interleaving may differ: my rows stand where I typed them, the server orders by commit.)
    texts = [i.message.text for i in agent_side]
    assert sorted(texts) == sorted(stored) and len(set(texts)) == len(texts)
    assert [t for t in texts if t.startswith("a-")] == agent_sent
    assert [t for t in texts if t.startswith("v-")] == visitor_sent
    assert all(i.delivery is Delivery.SENT for i in agent_side)
    # On the visitor's side: every agent message once, in order (the visitor's own link is not cut).
    assert [m.text for m in visitor.received if m.text.startswith("a-")] == agent_sent


async def test_session_drops_a_blackholed_link_soon_after_keepalive_fails(tmp_path: Path) -> None:
    """Default close wait: before the fix the session waited websockets' 10 s close_timeout for a close
    handshake the dead link could never complete, and stayed ONLINE all that time."""
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        proxy = CutProxy(urlsplit(server.url).port or 0)
        await proxy.start()
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        session = Session(
            f"ws://127.0.0.1:{proxy.port}",
            Store(),
            outbox,
            backoff=Backoff(base=0.01, cap=0.05),
            ping_interval=PING,
            ping_timeout=PING_TIMEOUT,
        )
        await session.sign_in(EMAIL, PASSWORD)
        runner = asyncio.create_task(session.run())
        await until(lambda: session.state is ConnectionState.ONLINE, 10, "online")
        link = proxy.live_links()[-1]
        started = time.monotonic()
        await link.cut(Cut.BLACKHOLE)
        await until(
            lambda: len(proxy.live_links()) == 1 and session.state is ConnectionState.ONLINE, 15, "back"
        )
        back = time.monotonic() - started
        await session.stop()
        await asyncio.wait_for(runner, 10)
        await proxy.stop()
        outbox.close()
    report(f"blackhole with the default close wait: back online on a new link after {back:.2f} s")
    assert back < PING + PING_TIMEOUT + 2.0 + 1.5  # ping, pong wait, close wait (2 s), margin
