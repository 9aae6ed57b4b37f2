"""The demo workspace: embedded chat server, CRM stand-ins, the demo team, a lived-in queue and visitors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import random
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from agent_app import protocol as p
from sandbox import demo_data as demo
from sandbox.demo_data import DEMO_EMAIL, DEMO_PASSWORD, TEAM
from sandbox.visitor_sim import Link, VisitorPool, server_origin

log = logging.getLogger(__name__)
SEED_MARKER = "demo-seed.json"
TERRITORIES_CSV = Path(__file__).with_name("data") / "territories.csv"


class DemoClock:
    """The server's clock: real time, except while seeding, when it shows the seeded (past) moment."""

    def __init__(self) -> None:
        self.fixed: float | None = None

    def now(self) -> float:
        return self.fixed if self.fixed is not None else time.time()


class AgentLink:
    """A minimal agent client over the real protocol (demo seeding, tests): keeps the conversations and
    messages this agent sees; ``wait_for`` waits on server frames, never on wall-clock sleeps."""

    def __init__(self) -> None:
        self.agent: p.Agent | None = None
        self.token = ""
        self.conversations: dict[str, p.Conversation] = {}
        self.messages: dict[str, list[p.Message]] = {}
        self.typing: list[p.TypingFrame] = []
        self._link: Link | None = None
        self._tick = asyncio.Event()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, email: str, password: str = DEMO_PASSWORD) -> AsyncIterator[AgentLink]:
        client = cls()
        async with Link.open(url, "/agent", client._on_frame) as link:
            client._link = link
            welcome = await link.request(p.Hello, email=email, password=password, device="demo workspace")
            if not isinstance(welcome, p.Welcome):
                raise PermissionError(f"{email} could not sign in: {welcome}")
            client.agent, client.token = welcome.agent, welcome.token
            yield client

    async def request(self, kind: type[msgspec.Struct], **fields: Any) -> dict[str, Any]:
        """The ack's result; raises RuntimeError(code, message) on an error frame."""
        assert self._link is not None
        frame = await self._link.request(kind, **fields)
        if isinstance(frame, p.Error):
            raise RuntimeError(frame.code, frame.message)
        return frame.result if isinstance(frame, p.Ack) else {}

    async def wait_for[T](self, predicate: Callable[[], T | None], within: float = 10.0) -> T:
        """Re-checks ``predicate`` after every frame until it returns a truthy value."""
        async with asyncio.timeout(within):
            while not (result := predicate()):
                self._tick.clear()
                await self._tick.wait()
        return result

    @property
    def id(self) -> str:
        return self.agent.id if self.agent else ""

    def texts(self, conversation_id: str, kind: p.AuthorKind | None = None) -> list[str]:
        return [m.text for m in self.messages.get(conversation_id, []) if kind in (None, m.author_kind)]

    def _on_frame(self, frame: p.ServerFrame) -> None:
        if isinstance(frame, p.Snapshot):
            self.conversations = {c.id: c for c in frame.conversations}
            self.messages = {}
            for m in frame.messages:
                self.messages.setdefault(m.conversation_id, []).append(m)
        elif isinstance(frame, p.TypingFrame):
            self.typing.append(frame)
        elif isinstance(frame, p.EventFrame):
            event = frame.event
            if isinstance(event, p.ConversationRevoked):
                self.conversations.pop(event.conversation_id, None)
            elif hasattr(event, "conversation"):
                conversation: p.Conversation = event.conversation
                self.conversations[conversation.id] = conversation
            elif isinstance(event, p.MessageCreated):
                msgs = self.messages.setdefault(event.message.conversation_id, [])
                if all(m.id != event.message.id for m in msgs):
                    msgs.append(event.message)
        self._tick.set()


@dataclass
class DemoWorkspace:
    """What ``demo_workspace`` started. ``agents`` maps each team email to its password."""

    data_dir: Path
    chat_url: str
    http_url: str
    salesforce_url: str = ""
    datafox_url: str = ""
    demo_email: str = DEMO_EMAIL
    demo_password: str = DEMO_PASSWORD
    territories_csv: Path = TERRITORIES_CSV
    agents: dict[str, str] = field(default_factory=dict)
    seeded: int = 0  # past conversations created by this start (0 when they existed already)
    fresh: bool = False  # the demo SDR was created by this start (later starts keep their chosen presence)
    server: Any = None  # chat_server.app.ChatServer
    pool: VisitorPool | None = None
    caldav_url: str = ""  # the demo Radicale (the demo SDR's connected calendar); "" = not available
    invites_mbox: Path | None = None  # every meeting invite the demo mails lands in this mbox file

    @property
    def first_visitor(self) -> asyncio.Event:
        """Set once the first simulated visitor's conversation exists."""
        assert self.pool is not None
        return self.pool.first_arrived


async def provision_team(server: Any) -> list[str]:
    """Adds the demo team where missing (idempotent); returns the emails added."""
    added = []
    for member in TEAM:
        known = server.storage.agent_by_email(member.email)
        if known is None:
            fields = (member.email, member.name, DEMO_PASSWORD, member.territory, member.role)
            add = functools.partial(server.admin.add_agent, *fields, timezone=member.timezone)
            await asyncio.to_thread(add)  # scrypt: off the loop
            added.append(member.email)
        elif not known.agent.timezone:  # a demo file from before agents had a time zone
            server.admin.set_timezone(member.email, member.timezone)
    return added


async def seed_past_conversations(url: str, clock: DemoClock, rng: random.Random) -> int:
    """Creates PAST_CONVERSATIONS through the real protocol, with the server clock set back in time so
    their timestamps look lived-in. Returns how many were created."""
    now, created = time.time(), 0
    async with contextlib.AsyncExitStack() as stack:
        team = {m.email: await stack.enter_async_context(AgentLink.connect(url, m.email)) for m in TEAM}
        boss = team[next(m.email for m in TEAM if m.role == "manager")]
        try:
            for past in demo.PAST_CONVERSATIONS:
                t = now - past.hours_ago * 3600

                def at(seconds: float) -> None:
                    nonlocal t
                    t += seconds
                    clock.fixed = min(t, time.time())

                at(0)
                await _seed_one(url, past, team[past.assignee], boss, at, rng)
                created += 1
        finally:
            clock.fixed = None
    return created


async def _seed_one(url: str, past: demo.PastConversation, sdr: AgentLink, boss: AgentLink,
                    at: Callable[[float], None], rng: random.Random) -> None:  # fmt: skip
    persona = demo.PERSONAS_BY_KEY[past.persona]
    async with Link.open(url, "/visitor", lambda frame: None, server_origin(url)) as visitor:
        hello = {"page_url": demo.SITE + persona.pages[0], "timezone": persona.timezone}
        await visitor.request(p.VisitorHello, referrer=persona.referrer, **hello)
        if persona.shares_profile:
            await visitor.request(p.VisitorUpdateProfile, name=persona.name, email=persona.email,
                                  company=persona.company)  # fmt: skip
        cid = ""
        for turn in range(min(past.turns, len(persona.script))):
            at(rng.uniform(20, 90))
            ack = await visitor.request(p.VisitorSendMessage, text=persona.script[turn])
            if not cid:
                cid = ack.result["conversation_id"] if isinstance(ack, p.Ack) else ""
                if not cid:
                    return
                await boss.wait_for(functools.partial(dict.__contains__, boss.conversations, cid))
                if boss.conversations[cid].assignee_id != sdr.id:
                    await boss.request(p.AssignConversation, conversation_id=cid, agent_id=sdr.id)
            at(rng.uniform(15, 60))
            await sdr.request(p.SendMessage, conversation_id=cid, text=demo.agent_answer(persona, turn))
        for command, fields in (
            (p.SendMessage, {"text": past.note, "private": True} if past.note else None),
            (p.SetCql, {"level": past.cql} if past.cql is not None else None),
            (p.CloseConversation, {} if past.closed else None),
        ):
            if fields is not None:
                at(rng.uniform(10, 120))
                try:
                    await sdr.request(command, conversation_id=cid, **fields)
                except RuntimeError as exc:  # e.g. a command the server doesn't support yet
                    log.info("seeding %s: %s refused: %s", persona.key, command.__name__, exc)


@contextlib.asynccontextmanager
async def demo_workspace(
    data_dir: Path, *, first_visitor_after: float = 8.0, visitor_interval: tuple[float, float] = (25.0, 60.0),
    seed: int | None = None, speed: float = 1.0, max_visitors: int = 6, visitors: bool = True,
    server_options: dict[str, Any] | None = None,
) -> AsyncIterator[DemoWorkspace]:  # fmt: skip
    """Starts everything (see the module docstring); a second start on the same ``data_dir`` reuses the
    team and the seeded conversations. Everything is cancelled and closed on exit. ``visitors=False``
    starts no simulated visitors; ``server_options`` are chat_server Config fields (e.g. a playbook with
    a shorter SLA clock for the journey tests)."""
    from chat_server.app import run_server  # the server is optional for the rest of the sandbox
    from chat_server.config import Config

    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    clock, rng = DemoClock(), random.Random(seed)
    async with contextlib.AsyncExitStack() as stack:
        salesforce_url, datafox_url = await _start_crm(stack)
        calendars = await _start_calendar_servers(stack, data_dir)
        settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "db_path": str(data_dir / "chat.sqlite3")}
        if calendars is not None:  # invites go to the embedded SMTP server, which writes an mbox file
            settings |= {"smtp_host": "127.0.0.1", "smtp_port": calendars.smtp_port, "smtp_security": "none",
                         "smtp_from": "invites@sdr-agent-desk.local"}  # fmt: skip
        known = {f.name for f in dataclasses.fields(Config)}
        if datafox_url and "enrichment_url" in known:  # routing looks companies up in the DataFox stand-in
            settings["enrichment_url"] = datafox_url
            if "enrichment_key" in known:
                settings["enrichment_key"] = "sk_demo_clearbit"
        settings |= server_options or {}
        server = await stack.enter_async_context(run_server(Config(**settings), clock))
        ws = DemoWorkspace(data_dir, chat_url=server.url, http_url=server_origin(server.url), server=server)
        ws.agents = {m.email: DEMO_PASSWORD for m in TEAM}
        ws.fresh = ws.demo_email in await provision_team(server)
        if calendars is not None:
            await _connect_calendar(server, calendars, ws)
        replies_marker = data_dir / "demo-saved-replies"  # seeded once: what the team deletes stays deleted
        if not replies_marker.exists():
            demo.seed_saved_replies(server.storage, time.time())
            replies_marker.write_text("seeded\n")
        marker = data_dir / SEED_MARKER
        if not marker.exists():
            if not server.storage.committed().conversations(0.0):
                ws.seeded = await seed_past_conversations(server.url, clock, rng)
                server.ctx.live.forget_all()  # the seeded visitors left hours ago: nobody is on the site
            marker.write_text(json.dumps({"seeded": ws.seeded, "at": time.time()}))
        ws.salesforce_url, ws.datafox_url = salesforce_url, datafox_url
        if visitors:
            ws.pool = VisitorPool(
                server.url, seed=rng.randrange(2**32), speed=speed, first_after=first_visitor_after,
                interval=visitor_interval, max_concurrent=max_visitors, first="jane",
            )  # fmt: skip
            task = asyncio.create_task(ws.pool.run(), name="demo-visitors")
            stack.push_async_callback(_cancel, task)
        yield ws


async def _start_crm(stack: contextlib.AsyncExitStack) -> tuple[str, str]:
    """The Salesforce and DataFox stand-ins, each where its module exists (else an empty URL)."""
    urls = []
    for module, starter in (
        ("sandbox.salesforce", "start_salesforce"),
        ("sandbox.enrichment", "start_enrichment"),
    ):
        try:
            start = getattr(__import__(module, fromlist=[starter]), starter)
        except (ImportError, AttributeError):
            log.warning("%s is not available: its URL stays empty", module)
            urls.append("")
            continue
        urls.append((await stack.enter_async_context(start(port=0))).base_url)
    return urls[0], urls[1]


async def _start_calendar_servers(stack: contextlib.AsyncExitStack, data_dir: Path) -> Any:
    """Radicale + aiosmtpd (sandbox/calendar_demo.py), or None when they are not installed."""
    try:
        from sandbox.calendar_demo import calendar_servers
    except ImportError as exc:
        log.warning("demo calendar and mail servers not available (%s): no connected calendar", exc)
        return None
    servers = await stack.enter_async_context(calendar_servers(data_dir))
    log.info("demo CalDAV server %s; meeting invites land in %s", servers.caldav_url, servers.mbox_path)
    return servers


async def _connect_calendar(server: Any, calendars: Any, ws: DemoWorkspace) -> None:
    from sandbox.calendar_demo import connect_demo_calendar

    ws.caldav_url, ws.invites_mbox = calendars.caldav_url, calendars.mbox_path
    known = server.storage.agent_by_email(ws.demo_email)
    try:
        await connect_demo_calendar(server, calendars, known.agent, time.time())
    except Exception:  # the demo still runs, with calendars from our settings only
        log.exception("connecting the demo SDR's calendar failed")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _serve(args: argparse.Namespace) -> None:
    interval = (args.interval[0], args.interval[1])
    async with demo_workspace(
        Path(args.data_dir), first_visitor_after=args.first_after, visitor_interval=interval, seed=args.seed,
        speed=args.speed, visitors=not args.no_visitors,
    ) as ws:  # fmt: skip
        print(f"chat server   {ws.chat_url}  (agents: {ws.chat_url}/agent, widget: {ws.http_url})")
        print(f"salesforce    {ws.salesforce_url or '(not available)'}")
        print(f"datafox       {ws.datafox_url or '(not available)'}")
        print(f"territories   {ws.territories_csv}")
        print(f"calendar      {ws.caldav_url or '(not available)'}  (the demo SDR's CalDAV calendar)")
        print(f"invites       {ws.invites_mbox or '(not mailed)'}  (mbox file: every invite the demo sends)")
        print(f"sign in as    {ws.demo_email} / {ws.demo_password}  (team: {', '.join(ws.agents)})")
        print(f"seeded        {ws.seeded} past conversations (0 = kept from an earlier start)", flush=True)
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C still works
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox workspace --data-dir DIR``: runs the demo workspace until Ctrl+C."""
    parser = argparse.ArgumentParser(prog="python -m sandbox workspace", description=__doc__)
    parser.add_argument("--data-dir", required=True, help="where the chat server keeps its SQLite file")
    parser.add_argument("--first-after", type=float, default=8.0, help="seconds until the first visitor")
    parser.add_argument("--interval", type=float, nargs=2, default=(25.0, 60.0), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--speed", type=float, default=1.0, help="visitor pause scale (0.1 = 10x faster)")
    parser.add_argument("--no-visitors", action="store_true", help="no simulated visitors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
