"""Assembly and programmatic API: ``async with run_server(Config(...)) as server`` for tests and demo."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import Server, ServerConnection

from agent_app.protocol import CloseCode, Conversation, Message, Visitor
from chat_server.actions import AgentActions
from chat_server.admin import Admin
from chat_server.calendar_commands import ICS_PREFIX, ics_route
from chat_server.calendars.oauth import calendar_oauth
from chat_server.calendars.sync import CalendarSync

if TYPE_CHECKING:
    from chat_server.automation import Automation
    from chat_server.cluster.node import ClusterNode
from chat_server.clock import Clock, SystemClock
from chat_server.config import Config
from chat_server.context import Context, RateLimits, Unauthenticated
from chat_server.hub import Hub
from chat_server.live_visitors import LiveVisitors
from chat_server.mailer import Mailer, SmtpSettings
from chat_server.security import new_id, new_token, token_hash
from chat_server.service import Service
from chat_server.storage import open_storage
from chat_server.transport import json_response, start

log = logging.getLogger(__name__)


class ChatServer:
    """A running server. ``admin`` provisions agents synchronously; ``service`` is the domain layer."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.storage = open_storage(config, commit_delay=config.commit_delay_ms / 1000)
        self.hub = Hub(
            self.storage,
            self.clock,
            config.agent_write_buffer_limit,
            config.visitor_write_buffer_limit,
            config.slow_reader_seconds,
        )
        self.service = Service(self.storage, self.hub, self.clock)
        self.ctx = Context(
            config, self.storage, self.clock, self.hub, self.service, AgentActions(self.service),
            unauthenticated=Unauthenticated(config.unauthenticated_per_ip, config.unauthenticated_total),
            visitor_buckets=RateLimits(config.visitor_rate_messages, config.visitor_rate_seconds),
        )  # fmt: skip
        smtp = SmtpSettings(config.smtp_host, config.smtp_port, config.smtp_security,
                            config.smtp_username, config.smtp_password)  # fmt: skip
        self.ctx.calendars = CalendarSync(
            self.storage, self.clock, refresh_seconds=config.calendar_refresh_seconds,
            mailer=Mailer(smtp) if config.smtp_host else None, sender=config.smtp_from,
            oauth=calendar_oauth(config),
        )  # fmt: skip
        self.ctx.live = LiveVisitors(
            self.service, cooldown_seconds=config.engage_cooldown_minutes * 60,
            grace_seconds=config.live_grace_seconds,
        )  # fmt: skip
        self.ctx.live.install()
        self.ctx.routes["/healthz"] = lambda ws, request: json_response(200, b'{"status":"ok"}')
        self.ctx.routes[ICS_PREFIX] = ics_route(self.ctx)  # /meetings/<id>.ics?token=...
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = threading.get_ident()
        self.admin = Admin(
            self.storage, self.clock, on_change=self._agents_changed, run=self._on_loop,
            params=config.scrypt_params,
        )  # fmt: skip
        self._server: Server | None = None
        self.automation: Automation | None = None
        self.cluster: ClusterNode | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._previous_handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None
        self.port = 0

    def _on_loop(self, fn: Callable[[], object]) -> object:
        """Runs ``fn`` on the server's loop thread (SQLite connections are not shared across threads)."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            return fn()
        done: concurrent.futures.Future[object] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        return done.result(timeout=30)

    def _agents_changed(self) -> None:
        """Reload agents; cut off connections of agents disabled, or tokens revoked, meanwhile (CLI or
        admin API): a revoked token must not keep a live session until it happens to reconnect."""
        known = {a.id: a.max_chats for a in self.hub.agents.values()}
        self.hub.refresh_agents()
        self._limits_raised(known)
        for agent_id, conns in list(self.hub.agent_conns.items()):
            agent = self.hub.agents.get(agent_id)
            for ws in list(conns):
                if agent is None or agent.disabled:
                    self._close(ws, CloseCode.AGENT_DISABLED, "account disabled")
                elif (hashed := self.hub.conn_tokens.get(ws)) and self.storage.token_agent(hashed) is None:
                    self._close(ws, CloseCode.AUTH_FAILED, "token revoked")

    async def reload_agents_without_blocking(self) -> None:
        """_agents_changed for the housekeeping task, inside a batch it waited for off the loop: on PostgreSQL
        a read on the write connection while a command waits for another process's writer lock would wait
        for that lock too, with the loop stopped."""
        await self.storage.write_ready()
        try:
            self._agents_changed()
        finally:
            await self.storage.commit()  # ends the batch write_ready opened (nothing written)

    def _limits_raised(self, known: dict[str, int]) -> None:
        """A chat limit raised with the CLI (another process) since the agents were last loaded: routing
        gives the chats waiting for room to that rep now, as after a raise from the desk."""
        for agent in self.hub.agents.values():
            old = known.get(agent.id, 0)
            if old and (agent.max_chats == 0 or agent.max_chats > old):
                limit = f"raised to {agent.max_chats}" if agent.max_chats else "removed"
                self.service.agent_ready(agent, f"{agent.name}'s chat limit was {limit}", now=True)

    def _close(self, ws: ServerConnection, code: CloseCode, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(ws.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @property
    def url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"{self.config.scheme}://{host}:{self.port}"

    @property
    def routes(self) -> dict[str, Any]:
        """Plain-HTTP route table: path (or prefix ending in "/") -> handler(ws, request) -> Response."""
        return self.ctx.routes

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._previous_handler = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._on_loop_error)
        # Start the default executor (sign-in's scrypt runs there) now: it imports its module lazily, and
        # under a connection flood that has used up the file descriptors that import fails (1011).
        await asyncio.to_thread(int)
        if self.config.playbook != "off":
            from chat_server.automation import attach_configured

            self.automation = await attach_configured(self)  # bot, routing, SLA clock, widget routes
            if self.automation is not None:
                self.ctx.live.playbook = self.automation.playbook  # live pages, target accounts
        from chat_server.cluster.wiring import start_cluster

        self.cluster = await start_cluster(self)  # several processes on one PostgreSQL database, or None
        self._server = await start(self.ctx)
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self.config.port
        if self.cluster is not None:
            self.cluster.address = f"{self.config.host}:{self.port}"
        self._housekeeping = asyncio.create_task(self._housekeep())
        self.ctx.calendars.start()

    async def stop(self) -> None:
        await self.ctx.calendars.stop()
        self.ctx.live.stop()
        if self._housekeeping:
            self._housekeeping.cancel()
            with suppress(asyncio.CancelledError):
                await self._housekeeping
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        await self.service.drain()  # the last hooks run (they may arm timers) before automation stops
        if self.automation is not None:
            self.automation.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        if self._loop is not None and self._loop.get_exception_handler() == self._on_loop_error:
            self._loop.set_exception_handler(self._previous_handler)
        self.storage.close()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Out of file descriptors, asyncio logs a traceback per accept attempt: rate-limited here (one line
        and a count a minute); everything else goes to the loop's previous handler."""
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            self.ctx.log_limit.log(
                log, logging.ERROR, "accept", "cannot accept connections: %s", context.get("exception")
            )
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def prune(self) -> None:
        """Drops events outside the replay window and command results older than the retention."""
        self._prune_in_batch()
        self.storage.commit_now()

    async def prune_without_blocking(self) -> None:
        """prune() for the housekeeping task: waits for the writer lock and the COMMIT without stopping the
        loop (on PostgreSQL another process may be writing)."""
        await self.storage.write_ready()
        self._prune_in_batch()
        await self.storage.commit()

    def _prune_in_batch(self) -> None:
        c = self.config
        with self.storage.savepoint():
            self.storage.prune(
                self.clock.now(), c.replay_window_seconds, c.replay_min_events, c.command_retention_seconds
            )
        try:
            with self.storage.savepoint():  # on its own: a failed expiry must not undo the pruning
                self.expire()
        except Exception:
            log.exception("expiring idle tokens and visitors failed")

    def expire(self) -> None:
        """Idle sign-in tokens stop working (a live connection counts as use) and visitors who opened
        the widget but never chatted are forgotten (docs/protocol.md, "Sign-in", "Origins and expiry")."""
        c, now = self.config, self.clock.now()
        if c.token_idle_days > 0:
            for hashed in set(self.hub.conn_tokens.values()):
                self.storage.touch_token(hashed, now)
            self.storage.expire_idle_tokens(now - c.token_idle_days * 86400, now)
        if c.visitor_expiry_hours > 0:
            live = set(self.hub.visitor_conns)
            self.storage.delete_anonymous_visitors(now - c.visitor_expiry_hours * 3600, live)

    async def _housekeep(self) -> None:
        """Every 5 s pick up agent changes made by the CLI (another process); prune once a minute."""
        ticks = 0
        while True:
            await asyncio.sleep(5)
            ticks += 1
            try:
                await self.reload_agents_without_blocking()
                if ticks % 12 == 0:
                    await self.prune_without_blocking()
            except Exception:
                log.exception("housekeeping failed")

    async def seed_visitor_message(
        self, text: str, *, name: str = "", company: str = "", email: str = "", page_url: str = ""
    ) -> tuple[str, Conversation, Message]:
        """Demo/test helper: a new visitor writes ``text``. Returns (visitor token, conversation, message)."""
        token, now = new_token(), self.clock.now()
        visitor = Visitor(id=new_id(), name=name, company=company, email=email, current_page=page_url,
                          first_seen=now, last_seen=now)  # fmt: skip
        await self.storage.write_ready()
        with self.storage.savepoint():
            self.storage.add_visitor(visitor, token_hash(token))
            conversation, message = self.service.post_visitor_message(visitor, text)
        await self.storage.commit()
        return token, conversation, message


@asynccontextmanager
async def run_server(config: Config, clock: Clock | None = None) -> AsyncIterator[ChatServer]:
    server = ChatServer(config, clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
