"""Everything a connection handler needs, built once per server (no globals)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from agent_app import protocol as p
from agent_app.protocol import Ack, Error, ErrorCode, ProtocolError, encode_bytes
from chat_server.actions import AgentActions
from chat_server.clock import Clock
from chat_server.config import Config
from chat_server.errors import CommandError
from chat_server.hub import Hub
from chat_server.service import Service
from chat_server.storage.base import Storage

log = logging.getLogger(__name__)
Route = Callable[[ServerConnection, Request], Response]


@dataclass
class Context:
    config: Config
    storage: Storage
    clock: Clock
    hub: Hub
    service: Service
    actions: AgentActions
    # Plain HTTP on the same port: exact paths, or prefixes ending in "/" (widget files, .ics invites).
    routes: dict[str, Route] = field(default_factory=dict)
    visitors_per_ip: dict[str, int] = field(default_factory=dict)
    unauthenticated: Unauthenticated = field(default_factory=lambda: Unauthenticated(0, 0))
    visitor_buckets: RateLimits = field(default_factory=lambda: RateLimits(10, 10.0))
    log_limit: LogLimit = field(default_factory=lambda: LogLimit())
    sign_in: Any = None  # chat_server.sign_in.SignInGuard, made at the first sign-in (throttle, hashing)
    calendars: Any = None  # chat_server.calendars.sync.CalendarSync: connected calendars, invites
    live: Any = None  # chat_server.live_visitors.LiveVisitors: who is on the site now, engage (per process)

    def route(self, path: str) -> Route | None:
        if path in self.routes:
            return self.routes[path]
        for prefix, handler in self.routes.items():
            if prefix.endswith("/") and path.startswith(prefix):
                return handler
        return None


class Unauthenticated:
    """Connections that have not said hello yet, per IP and in total: they cost a socket and a task each,
    so they are capped (a signed-in agent or a visitor with a token costs the same, but is accountable)."""

    def __init__(self, per_ip: int, total: int) -> None:
        self.per_ip = per_ip
        self.total = total
        self.by_ip: dict[str, int] = {}
        self.conns: dict[ServerConnection, str] = {}

    def refusal(self, ip: str) -> tuple[int, str] | None:
        """(HTTP status, reason) when one more connection from ``ip`` would pass a cap."""
        if self.per_ip and self.by_ip.get(ip, 0) >= self.per_ip:
            return 429, "too many unauthenticated connections from this address"
        if self.total and len(self.conns) >= self.total:
            return 503, "too many unauthenticated connections"
        return None

    def enter(self, ws: ServerConnection, ip: str) -> bool:
        """Counts a new connection; False (not counted) when it passes a cap after all (handshakes run
        concurrently, so the check at the handshake can be raced)."""
        if self.refusal(ip) is not None:
            return False
        self.conns[ws] = ip
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1
        return True

    def leave(self, ws: ServerConnection) -> None:
        """The connection said hello (or went away); idempotent."""
        ip = self.conns.pop(ws, None)
        if ip is None:
            return
        left = self.by_ip[ip] - 1
        if left:
            self.by_ip[ip] = left
        else:
            del self.by_ip[ip]


class TokenBucket:
    def __init__(self, capacity: int, per_seconds: float, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / per_seconds
        self.tokens = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class RateLimits:
    """One token bucket per visitor, shared by all its connections (tabs) and kept across reloads until
    it has refilled: a new connection must not mean a fresh allowance."""

    def __init__(
        self, capacity: int, per_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.per_seconds = per_seconds
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> bool:
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= 1000:
                self._forget_full(now)
            bucket = self.buckets[key] = TokenBucket(self.capacity, self.per_seconds, now)
        return bucket.take(now)

    def _forget_full(self, now: float) -> None:
        """A full bucket is the same as no bucket: forget those (bounded memory, no behaviour change)."""
        for key, bucket in list(self.buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self.buckets[key]


class LogLimit:
    """At most ``burst`` log lines per key and minute, then one line saying how many were left out: a flood
    of refused connections must not become a flood of log lines (and of disk)."""

    def __init__(
        self, burst: int = 3, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.window = window
        self.clock = clock
        self.state: dict[str, tuple[float, int]] = {}  # key -> (window start, lines in it)

    def allow(self, key: str) -> tuple[bool, int]:
        """(log this one?, lines suppressed in the window that just ended)."""
        now = self.clock()
        start, count = self.state.get(key, (now, 0))
        suppressed = 0
        if now - start >= self.window:
            suppressed = max(0, count - self.burst)
            start, count = now, 0
        self.state[key] = (start, count + 1)
        return count < self.burst or suppressed > 0, suppressed

    def log(
        self, logger: logging.Logger, level: int, key: str, msg: str, *args: object, exc_info: bool = False
    ) -> None:
        ok, suppressed = self.allow(key)
        if ok:
            if suppressed:
                msg += " (%d similar lines left out)"
                args = (*args, suppressed)
            logger.log(level, msg, *args, exc_info=exc_info)


class BadFrames:
    """Counts refused frames; a peer sending more than ``limit`` a minute is cut off (close 4008)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def hit(self) -> bool:
        """Records one; True when the peer is now abusive."""
        now = time.monotonic()
        self.times.append(now)
        while self.times and self.times[0] < now - 60:
            self.times.popleft()
        return len(self.times) > self.limit


def send_error(ctx: Context, ws: ServerConnection, code: ErrorCode, message: str, ref: str = "") -> None:
    ctx.hub.send(ws, encode_bytes(Error(code=code, message=message, ref=ref)))


def send_protocol_error(ctx: Context, ws: ServerConnection, exc: ProtocolError) -> None:
    send_error(ctx, ws, exc.code, exc.message, exc.ref)


async def run_command(
    ctx: Context,
    ws: ServerConnection,
    principal: str,
    command_id: str,
    action: Callable[[], dict[str, Any]],
    idempotent: bool = True,
    visitor_id: str = "",
) -> bool:
    """Runs one command in its own savepoint, records its Ack under (principal, id) in the same
    transaction, acks once the batch is durable. A repeated id gets the stored Ack, nothing re-runs.
    ``visitor_id``: the visitor the command reads (read with the batch's idempotency lookup)."""
    storage = ctx.storage
    try:
        # Before any read of the batch: waits for the writer lock off the loop (and looks the id up).
        if idempotent:
            stored = await storage.command_ready(principal, command_id, visitor_id)
        else:
            stored = None
            await storage.write_ready()
    except Exception:
        send_error(ctx, ws, ErrorCode.INTERNAL, "could not store the change; retry", command_id)
        return False
    if stored is not None:
        try:
            await storage.commit()  # the first attempt may still sit in the open batch
        except Exception:
            send_error(ctx, ws, ErrorCode.INTERNAL, "could not store the change; retry", command_id)
            return False
        ctx.hub.send(ws, stored)
        return True
    try:
        with storage.savepoint():
            ack = encode_bytes(Ack(ref=command_id, result=action()))
            if idempotent:
                storage.put_command_result(principal, command_id, ctx.clock.now(), ack)
    except CommandError as exc:
        await _end_batch(storage)
        send_error(ctx, ws, exc.code, exc.message, command_id)
        return False
    except Exception:
        log.exception("command %s of %s failed", command_id, principal)
        await _end_batch(storage)
        send_error(ctx, ws, ErrorCode.INTERNAL, "internal error", command_id)
        return False
    try:
        await storage.commit()
    except Exception:
        send_error(ctx, ws, ErrorCode.INTERNAL, "could not store the change; retry", command_id)
        return False
    ctx.hub.send(ws, ack)
    return True


async def _end_batch(storage: Storage) -> None:
    """A refused command still ends the batch write_ready opened: on PostgreSQL it holds the writer lock,
    and every other process's writes would wait until this one happens to write again."""
    try:
        await storage.commit()
    except Exception as exc:  # the batch's own commands learn of it; this one is refused anyway
        log.debug("batch after a refused command: %s", exc)


async def wait_for_hello[H](
    ctx: Context,
    ws: ServerConnection,
    bad: BadFrames,
    decode: Callable[[str | bytes], object],
    hello_type: type[H],
) -> H | None:
    """The connection's first hello (agent or visitor). Other commands get ``not_authenticated`` and bad
    frames an error; the hello timeout counts from the connection (frames do not extend it), and past it,
    too many bad frames, or the peer leaving, the connection is closed (then None)."""
    try:
        async with asyncio.timeout(ctx.config.hello_timeout):
            while True:
                if not await ctx.hub.writable(ws):
                    return None
                raw = await ws.recv()
                try:
                    command = decode(raw)
                except ProtocolError as exc:
                    if await bad_frame(ctx, ws, bad, exc):
                        return None
                    continue
                if isinstance(command, hello_type):
                    ctx.unauthenticated.leave(ws)
                    return command
                tag = hello_type.__struct_config__.tag  # type: ignore[attr-defined]
                ref = getattr(command, "id", "")
                send_error(ctx, ws, ErrorCode.NOT_AUTHENTICATED, f"send {tag} first", ref)
                if await bad_frame(ctx, ws, bad):
                    return None
    except TimeoutError:
        await ws.close(p.CloseCode.POLICY, "no hello")
        return None
    except ConnectionClosed:  # the peer left before its hello: nothing to report
        return None


async def bad_frame(
    ctx: Context, ws: ServerConnection, bad: BadFrames, exc: ProtocolError | None = None
) -> bool:
    """Answers an unreadable frame (``exc``) and counts it; True when the peer is now abusive and the
    connection was closed (the caller stops reading)."""
    if exc is not None:
        send_protocol_error(ctx, ws, exc)
    if bad.hit():
        await ws.close(p.CloseCode.RATE_LIMITED, "too many bad frames")
        return True
    return False
