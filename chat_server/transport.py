"""The websocket server: HTTP routes, handshake checks (origin, per-IP limit, frame size) and dispatch."""

from __future__ import annotations

import logging
import ssl
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from agent_app import protocol as p
from chat_server.agent_endpoint import serve_agent
from chat_server.context import Context
from chat_server.visitor_endpoint import serve_visitor

log = logging.getLogger(__name__)
AGENT_PATH = "/agent"
VISITOR_PATH = "/visitor"


def json_response(status: int, body: bytes) -> Response:
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status, HTTPStatus(status).phrase, headers, body)


def _remote_ip(ws: ServerConnection) -> str:
    address = ws.remote_address
    return str(address[0]) if address else "?"


def _origin_allowed(ctx: Context, request: Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: Origin checks only defend browsers against cross-site hijacking
    allowed = ctx.config.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    host = request.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}")  # the widget served by this very server


def process_request(ctx: Context, ws: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?", 1)[0]
    route = ctx.route(path)
    if route is not None:
        return route(ws, request)
    if path == AGENT_PATH:
        return None
    if path == VISITOR_PATH:
        if not _origin_allowed(ctx, request):
            return ws.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        limit = ctx.config.visitor_connections_per_ip
        if limit and ctx.visitors_per_ip.get(_remote_ip(ws), 0) >= limit:
            return ws.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many connections from this address\n")
        ws.protocol.max_message_size = p.MAX_VISITOR_FRAME  # websockets closes 1009 beyond it
        return None
    return ws.respond(HTTPStatus.NOT_FOUND, "not found\n")


async def handler(ctx: Context, ws: ServerConnection) -> None:
    path = ws.request.path.split("?", 1)[0] if ws.request else ""
    try:
        if path == AGENT_PATH:
            await serve_agent(ctx, ws)
        elif path == VISITOR_PATH:
            ip = _remote_ip(ws)
            ctx.visitors_per_ip[ip] = ctx.visitors_per_ip.get(ip, 0) + 1
            try:
                await serve_visitor(ctx, ws)
            finally:
                left = ctx.visitors_per_ip[ip] - 1
                if left:
                    ctx.visitors_per_ip[ip] = left
                else:
                    del ctx.visitors_per_ip[ip]
    except Exception:
        log.exception("connection handler failed")
        await ws.close(p.CloseCode.INTERNAL, "internal error")


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
    )
