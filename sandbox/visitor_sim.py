"""Simulated website visitors speaking the real visitor protocol: browse, type, chat, answer the SDR."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec
import websockets
from websockets.typing import Origin, Subprotocol

from agent_app import protocol as p
from sandbox.demo_data import PAGES, PERSONAS, SITE, Persona, canned_reply

log = logging.getLogger(__name__)
_ids = itertools.count(1)


def server_origin(url: str) -> str:
    """The chat server's own origin (always allowed to open /visitor: it serves the widget)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


class Link:
    """One websocket to the chat server: commands are answered by ack/error (or welcome) frames matched by
    id; every other frame goes to ``on_frame``. Used by simulated visitors and the demo's agent clients."""

    def __init__(self, ws: websockets.ClientConnection, on_frame: Callable[[p.ServerFrame], None]) -> None:
        self.ws = ws
        self.on_frame = on_frame
        self.prefix = f"sim{next(_ids)}"
        self._pending: dict[str, asyncio.Future[p.ServerFrame]] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, url: str, path: str, on_frame: Callable[[p.ServerFrame], None], origin: str | None = None
    ) -> AsyncIterator[Link]:
        """Connects to ``path`` ("/agent" or "/visitor") of the server at ``url`` and reads until closed."""
        parts = urlsplit(url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        async with websockets.connect(
            f"{scheme}://{parts.netloc}{path}", subprotocols=[Subprotocol(p.SUBPROTOCOL)],
            origin=Origin(origin) if origin else None, max_size=p.MAX_AGENT_FRAME, open_timeout=10,
        ) as ws:  # fmt: skip
            link = cls(ws, on_frame)
            reader = asyncio.create_task(link._read(), name=f"{link.prefix}-read")
            try:
                yield link
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    def new_id(self) -> str:
        return f"{self.prefix}-{next(_ids)}"

    async def send(self, command: msgspec.Struct) -> None:
        """Fire and forget (typing)."""
        await self.ws.send(p.encode(command))

    async def request(self, kind: type[msgspec.Struct], **fields: Any) -> p.ServerFrame:
        """Sends a command, returns its Ack/Error/Welcome; retried when rate limited (same id: once)."""
        ref = self.new_id()
        command = kind(id=ref, **fields)
        for attempt in range(4):
            future: asyncio.Future[p.ServerFrame] = asyncio.get_running_loop().create_future()
            self._pending[ref] = future
            await self.send(command)
            result = await asyncio.wait_for(future, 30)
            if not (isinstance(result, p.Error) and result.code == p.ErrorCode.RATE_LIMITED):
                break
            await asyncio.sleep(1.0 + attempt)
        if isinstance(result, p.Error):
            log.info("%s refused: %s %s", kind.__name__, result.code, result.message)
        return result

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                try:
                    frame = p.decode_server_frame(raw)
                except p.ProtocolError:
                    log.warning("undecodable frame %.200r", raw)
                    continue
                ref = getattr(frame, "ref", None)
                future = self._pending.pop(ref, None) if isinstance(ref, str) else None
                if future is not None and not future.done():
                    future.set_result(frame)
                if not isinstance(frame, p.Ack | p.Error):
                    self.on_frame(frame)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))


class SimulatedVisitor:
    """One visitor's visit. ``speed`` scales every pause (1.0 = human pace, tests use ~0.001); ``linger``
    (real seconds) is how long they wait for the SDR after their script before leaving."""

    def __init__(
        self, url: str, persona: Persona, *, rng: random.Random | None = None, speed: float = 1.0,
        max_replies: int = 3, linger: float = 180.0, first_message_within: float | None = None,
        origin: str | None = None,
    ) -> None:  # fmt: skip
        self.url = url
        self.origin = origin if origin is not None else server_origin(url)
        self.persona = persona
        self.rng = rng or random.Random(persona.key)
        self.speed = speed
        self.max_replies = max_replies
        self.linger = linger
        self.first_message_within = first_message_within  # real seconds: cap for the first message
        self.visitor_token = ""
        self.conversation_id: str | None = None
        self.sent: list[str] = []  # texts this visitor sent, in order
        self.received: list[p.Message] = []  # agent/bot messages shown to the visitor
        self.replies = 0  # answers to the SDR (answers to the bot are not counted)
        self.started = asyncio.Event()  # welcome received
        self.conversation_started = asyncio.Event()  # first message acked: the conversation exists
        self.done = asyncio.Event()
        self._link: Link | None = None
        self._inbox: asyncio.Queue[p.Message] = asyncio.Queue()

    async def run(self) -> None:
        """Connects, browses, chats, answers replies, and leaves; never raises for network trouble."""
        try:
            async with Link.open(self.url, "/visitor", self._on_frame, self.origin) as link:
                self._link = link
                await self._visit()
        except (OSError, websockets.WebSocketException, TimeoutError, ConnectionError) as exc:
            log.info("visitor %s left: %s", self.persona.key, exc)
        finally:
            self._link = None
            self.done.set()

    async def _visit(self) -> None:
        persona, loop = self.persona, asyncio.get_running_loop()
        deadline = loop.time() + self.first_message_within if self.first_message_within is not None else None
        landing = persona.pages[0]
        hello = dict(page_url=SITE + landing, page_title=PAGES.get(landing, ""), timezone=persona.timezone)
        await self._request(p.VisitorHello, referrer=persona.referrer, utm=dict(persona.utm), **hello)
        self.started.set()
        for path in persona.pages[1:]:
            await self._pause(self.rng.uniform(3, 12), deadline, share=0.2)
            await self._request(p.VisitorPageView, url=SITE + path, title=PAGES.get(path, ""))
        for index, text in enumerate(persona.script):
            if index:
                await self._converse(self.rng.uniform(6, 20) * self.speed)
            await self._type_and_send(text, deadline if index == 0 else None)
            if index == 0:
                self.conversation_started.set()
            if index == 1 and persona.shares_profile:
                profile = dict(name=persona.name, email=persona.email, company=persona.company)
                await self._request(p.VisitorUpdateProfile, **profile)
        await self._converse(self.linger)

    async def _converse(self, seconds: float) -> None:
        """Waits up to ``seconds`` (real), answering every bot question and SDR message meanwhile."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                message = await asyncio.wait_for(self._inbox.get(), left)
            except TimeoutError:
                return
            from_agent = message.author_kind == p.AuthorKind.AGENT
            if from_agent and self.replies >= self.max_replies:
                continue
            await self._pause(self.rng.uniform(2, 6))
            await self._type_and_send(canned_reply(self.persona, message, self.replies), None)
            self.replies += from_agent
            if message.card and message.card.slots and self.rng.random() < 0.5:
                who = dict(email=self.persona.email, name=self.persona.name, agent_id=message.card.agent_id)
                await self._request(p.BookSlot, start=message.card.slots[0].start, **who)
            end = max(end, loop.time() + seconds / 2)

    async def _type_and_send(self, text: str, deadline: float | None) -> None:
        assert self._link is not None
        await self._pause(self.rng.uniform(1, 4), deadline, share=0.3)
        preview = text[: max(1, len(text) // 2)]
        await self._link.send(p.VisitorTyping(id=self._link.new_id(), active=True, preview=preview))
        await self._pause(len(text) / self.rng.uniform(4, 7), deadline, share=0.5)
        result = await self._request(p.VisitorSendMessage, text=text)
        if isinstance(result, p.Ack):
            self.sent.append(text)
            cid = result.result.get("conversation_id")
            if isinstance(cid, str) and cid:
                self.conversation_id = cid

    async def _pause(self, seconds: float, deadline: float | None = None, *, share: float = 1.0) -> None:
        delay = seconds * self.speed
        if deadline is not None:
            delay = min(delay, max(0.0, (deadline - asyncio.get_running_loop().time()) * share))
        await asyncio.sleep(delay)

    async def _request(self, kind: type[msgspec.Struct], **fields: Any) -> p.ServerFrame:
        assert self._link is not None
        return await self._link.request(kind, **fields)

    def _on_frame(self, frame: p.ServerFrame) -> None:
        if isinstance(frame, p.VisitorWelcome):
            self.visitor_token = frame.visitor_token
            if frame.conversation is not None:
                self.conversation_id = frame.conversation.id
        elif isinstance(frame, p.EventFrame):
            event = frame.event
            if isinstance(event, p.MessageCreated):
                message = event.message
                self.conversation_id = message.conversation_id
                if message.author_kind in (p.AuthorKind.AGENT, p.AuthorKind.BOT) and not message.private:
                    self.received.append(message)
                    if message.author_kind == p.AuthorKind.AGENT or "?" in message.text or message.card:
                        self._inbox.put_nowait(message)


class VisitorPool:
    """Sends visitors over time: the first after ``first_after`` seconds, then one every ``interval``
    seconds (uniform), at most ``max_concurrent`` at once, ``count`` in all (None = until cancelled).
    Persona order and every choice follow ``seed``."""

    def __init__(
        self, url: str, *, seed: int | None = None, speed: float = 1.0, first_after: float = 8.0,
        interval: tuple[float, float] = (25.0, 60.0), max_concurrent: int = 6, count: int | None = None,
        personas: Sequence[Persona] = PERSONAS, first: str | None = None, linger: float = 180.0,
        on_visitor: Callable[[SimulatedVisitor], None] | None = None,
    ) -> None:  # fmt: skip
        self.url = url
        self.rng = random.Random(seed)
        self.speed = speed
        self.first_after = first_after
        self.interval = interval
        self.max_concurrent = max_concurrent
        self.count = count
        self.personas = list(personas)
        self.first = first  # persona key of the first visitor (e.g. one in the demo SDR's territory)
        self.linger = linger
        self.on_visitor = on_visitor
        self.visitors: list[SimulatedVisitor] = []
        self.first_arrived = asyncio.Event()  # the first visitor's conversation exists

    def _next_persona(self, busy: set[str]) -> Persona:
        order = self.personas[:]
        self.rng.shuffle(order)
        return next((q for q in order if q.key not in busy), order[0])

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.max_concurrent)
        tasks: set[asyncio.Task[None]] = set()
        try:
            for n in itertools.count():
                if self.count is not None and n >= self.count:
                    break
                if n:
                    await asyncio.sleep(self.rng.uniform(*self.interval))
                await slots.acquire()
                busy = {v.persona.key for v in self.visitors if not v.done.is_set()}
                persona = next((q for q in self.personas if q.key == self.first), None) if n == 0 else None
                within = self.first_after if n == 0 else None
                visitor = SimulatedVisitor(
                    self.url, persona or self._next_persona(busy), rng=random.Random(self.rng.random()),
                    speed=self.speed, linger=self.linger, first_message_within=within,
                )  # fmt: skip
                self.visitors.append(visitor)
                if self.on_visitor is not None:
                    self.on_visitor(visitor)
                task = asyncio.create_task(visitor.run(), name=f"visitor-{visitor.persona.key}")
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                task.add_done_callback(lambda _: slots.release())
                if n == 0:
                    visitor.conversation_started = self.first_arrived
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox visitors --url ws://127.0.0.1:PORT --count 5``: sends visitors, prints who came."""
    parser = argparse.ArgumentParser(prog="python -m sandbox visitors", description=__doc__)
    parser.add_argument("--url", required=True, help="chat server URL, e.g. ws://127.0.0.1:8765")
    parser.add_argument("--count", type=int, default=5, help="visitors in all (0 = until Ctrl+C)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--speed", type=float, default=1.0, help="pause scale: 0.1 = ten times faster")
    parser.add_argument("--first-after", type=float, default=1.0, help="seconds until the first message")
    parser.add_argument("--interval", type=float, nargs=2, default=(10.0, 30.0), metavar=("MIN", "MAX"))
    parser.add_argument("--concurrent", type=int, default=6, help="visitors chatting at the same time")
    parser.add_argument("--linger", type=float, default=120.0, help="seconds a visitor waits for the SDR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)

    def announce(v: SimulatedVisitor) -> None:
        print(f"visitor: {v.persona.name} <{v.persona.email}> ({v.persona.company})", flush=True)

    pool = VisitorPool(args.url, seed=args.seed, speed=args.speed, first_after=args.first_after,
                       interval=(args.interval[0], args.interval[1]), max_concurrent=args.concurrent,
                       count=args.count or None, linger=args.linger, on_visitor=announce)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(pool.run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
