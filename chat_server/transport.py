"""The websocket server: HTTP routes, handshake checks (origin, per-IP limit, frame size) and dispatch."""

from __future__ import annotations

import logging
import ssl
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from agent_app import protocol as p
from chat_server.agent_endpoint import serve_agent
from chat_server.context import Context, LogLimit
from chat_server.forwarded import client_ip
from chat_server.security import origin_allowed, own_origins
from chat_server.visitor_endpoint import serve_visitor

log = logging.getLogger(__name__)
AGENT_PATH = "/agent"
VISITOR_PATH = "/visitor"


class QuietLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' own log (a line per connection, a traceback per failed handshake) with each message
    rate-limited: a connection flood must not become a flood of log lines."""

    def __init__(self, logger: logging.Logger, limit: LogLimit) -> None:
        super().__init__(logger, {})
        self.limit = limit

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        ok, suppressed = self.limit.allow(f"websockets:{msg}")
        if ok:
            text = str(msg) + (f" ({suppressed} similar lines left out)" if suppressed else "")
            super().log(level, text, *args, **kwargs)


def json_response(status: int, body: bytes) -> Response:
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status, HTTPStatus(status).phrase, headers, body)


def _remote_ip(ctx: Context, ws: ServerConnection) -> str:
    # Behind nginx every peer is the proxy: per-IP limits must count the client it names (trusted only).
    return client_ip(ws, ctx.config.trusted_proxies)


def _origin_allowed(ctx: Context, ws: ServerConnection, request: Request, agent: bool = False) -> bool:
    origins = request.headers.get_all("Origin")
    if not origins:
        return True  # not a browser: Origin checks only defend browsers against cross-site hijacking
    config = ctx.config  # /agent: only listed origins; /visitor: listed ones and this server's own pages
    allowed = config.agent_allowed_origins if agent else config.allowed_origins
    port = ws.local_address[1] if ws.local_address else config.port
    own = [] if agent else own_origins(config.public_origins, config.host, port, bool(config.tls_cert))
    return origin_allowed(origins[0], allowed, own)


def process_request(ctx: Context, ws: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?", 1)[0]
    route = ctx.route(path)
    if route is not None:
        return route(ws, request)
    if path not in (AGENT_PATH, VISITOR_PATH):
        return ws.respond(HTTPStatus.NOT_FOUND, "not found\n")
    if len(request.headers.get_all("Origin")) > 1 or len(request.headers.get_all("Host")) > 1:
        return ws.respond(HTTPStatus.BAD_REQUEST, "one Origin and one Host header, please\n")
    ip = _remote_ip(ctx, ws)
    refusal = ctx.unauthenticated.refusal(ip)
    if refusal is not None:
        status, reason = refusal
        ctx.log_limit.log(log, logging.WARNING, f"refused:{status}", "refusing %s: %s", ip, reason)
        return ws.respond(status, reason + "\n")
    if path == AGENT_PATH:
        if not _origin_allowed(ctx, ws, request, agent=True):
            return ws.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return None
    if path == VISITOR_PATH:
        if not _origin_allowed(ctx, ws, request):
            return ws.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        limit = ctx.config.visitor_connections_per_ip
        if limit and ctx.visitors_per_ip.get(_remote_ip(ctx, ws), 0) >= limit:
            return ws.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many connections from this address\n")
        ws.protocol.max_message_size = p.MAX_VISITOR_FRAME  # websockets closes 1009 beyond it
    return None


async def handler(ctx: Context, ws: ServerConnection) -> None:
    path = ws.request.path.split("?", 1)[0] if ws.request else ""
    ip = _remote_ip(ctx, ws)
    if not ctx.unauthenticated.enter(ws, ip):  # the handshake check was raced by concurrent handshakes
        ctx.log_limit.log(log, logging.WARNING, "refused:race", "refusing %s: too many unauthenticated", ip)
        await ws.close(p.CloseCode.TRY_LATER, "too many connections")
        return
    ctx.hub.attach(ws)
    try:
        if path == AGENT_PATH:
            await serve_agent(ctx, ws)
        elif path == VISITOR_PATH:
            ctx.visitors_per_ip[ip] = ctx.visitors_per_ip.get(ip, 0) + 1
            try:
                await serve_visitor(ctx, ws)
            finally:
                left = ctx.visitors_per_ip[ip] - 1
                if left:
                    ctx.visitors_per_ip[ip] = left
                else:
                    del ctx.visitors_per_ip[ip]
    except ConnectionClosed:
        pass  # the peer left (or was dropped) mid-way: its handler has nothing more to do
    except Exception:
        ctx.log_limit.log(log, logging.ERROR, "handler", "connection handler failed", exc_info=True)
        await ws.close(p.CloseCode.INTERNAL, "internal error")
    finally:
        ctx.unauthenticated.leave(ws)
        ctx.hub.detach(ws)


async def start(ctx: Context) -> Server:
    config = ctx.config
    tls = None
    if config.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(config.tls_cert, config.tls_key or None)
        except OSError as exc:  # ssl.SSLError too; neither names the file
            raise OSError(
                f"cannot load TLS certificate {config.tls_cert!r} / key {config.tls_key!r}: {exc}"
            ) from exc

    async def on_connection(ws: ServerConnection) -> None:
        await handler(ctx, ws)

    def on_request(ws: ServerConnection, request: Request) -> Response | None:
        return process_request(ctx, ws, request)

    return await serve(
        on_connection,
        config.host,
        config.port,
        subprotocols=[p.SUBPROTOCOL],  # type: ignore[list-item]
        process_request=on_request,
        # No permessage-deflate: 14 KiB instead of 64 KiB per connection, less CPU, no zip bombs.
        compression=None,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        max_size=p.MAX_AGENT_FRAME,
        ssl=tls,
        logger=QuietLogger(logging.getLogger("websockets.server"), LogLimit(burst=20)),
    )
