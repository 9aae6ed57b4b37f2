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
from websockets.http11 import Request, Response

from agent_app import protocol as p
from agent_app.protocol import Ack, Error, ErrorCode, ProtocolError, encode_bytes
from chat_server.actions import AgentActions
from chat_server.clock import Clock
from chat_server.config import Config
from chat_server.errors import CommandError
from chat_server.hub import Hub, send_now
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

    def route(self, path: str) -> Route | None:
        if path in self.routes:
            return self.routes[path]
        for prefix, handler in self.routes.items():
            if prefix.endswith("/") and path.startswith(prefix):
                return handler
        return None


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


def send_error(ws: ServerConnection, code: ErrorCode, message: str, ref: str = "") -> None:
    send_now(ws, encode_bytes(Error(code=code, message=message, ref=ref)))


def send_protocol_error(ws: ServerConnection, exc: ProtocolError) -> None:
    send_error(ws, exc.code, exc.message, exc.ref)


async def run_command(
    ctx: Context,
    ws: ServerConnection,
    principal: str,
    command_id: str,
    action: Callable[[], dict[str, Any]],
    idempotent: bool = True,
) -> bool:
    """Runs one command in its own savepoint, records its Ack under (principal, id) in the same
    transaction, acks once the batch is durable. A repeated id gets the stored Ack, nothing re-runs."""
    storage = ctx.storage
    if idempotent:
        stored = storage.command_result(principal, command_id)
        if stored is not None:
            await storage.commit()  # the first attempt may still sit in the open batch
            send_now(ws, stored)
            return True
    try:
        with storage.savepoint():
            ack = encode_bytes(Ack(ref=command_id, result=action()))
            if idempotent:
                storage.put_command_result(principal, command_id, ctx.clock.now(), ack)
    except CommandError as exc:
        send_error(ws, exc.code, exc.message, command_id)
        return False
    except Exception:
        log.exception("command %s of %s failed", command_id, principal)
        send_error(ws, ErrorCode.INTERNAL, "internal error", command_id)
        return False
    try:
        await storage.commit()
    except Exception:
        send_error(ws, ErrorCode.INTERNAL, "could not store the change; retry", command_id)
        return False
    send_now(ws, ack)
    return True


async def wait_for_hello[H](
    ctx: Context,
    ws: ServerConnection,
    bad: BadFrames,
    decode: Callable[[str | bytes], object],
    hello_type: type[H],
) -> H | None:
    """The connection's first hello (agent or visitor). Other commands get ``not_authenticated`` and bad
    frames an error; silence past the hello timeout or too many bad frames close it (then None)."""
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), ctx.config.hello_timeout)
        except TimeoutError:
            await ws.close(p.CloseCode.POLICY, "no hello")
            return None
        try:
            command = decode(raw)
        except p.ProtocolError as exc:
            if await bad_frame(ws, bad, exc):
                return None
            continue
        if isinstance(command, hello_type):
            return command
        tag = hello_type.__struct_config__.tag  # type: ignore[attr-defined]
        send_error(ws, p.ErrorCode.NOT_AUTHENTICATED, f"send {tag} first", getattr(command, "id", ""))
        if await bad_frame(ws, bad):
            return None


async def bad_frame(ws: ServerConnection, bad: BadFrames, exc: ProtocolError | None = None) -> bool:
    """Answers an unreadable frame (``exc``) and counts it; True when the peer is now abusive and the
    connection was closed (the caller stops reading)."""
    if exc is not None:
        send_protocol_error(ws, exc)
    if bad.hit():
        await ws.close(p.CloseCode.RATE_LIMITED, "too many bad frames")
        return True
    return False
