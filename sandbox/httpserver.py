"""A small asyncio HTTP/1.1 server on h11 with a regex router, enough for the sandbox services."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import h11

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024


@dataclass
class Request:
    """One parsed request; header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query-string parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded (first value per key)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it isn't)."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a handler returns."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response with Salesforce's content type."""
        h = {"Content-Type": "application/json;charset=UTF-8"}
        h.update(headers or {})
        return cls(status, json.dumps(data).encode(), h)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        """A small HTML page."""
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Maps (method, path regex) to handlers; a trailing slash is optional everywhere."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a handler; named groups in the pattern become request.params."""
        self._routes.append((method, re.compile("^" + pattern.rstrip("/") + "/?$"), handler))

    async def dispatch(self, request: Request) -> Response:
        """Find the handler for a request, or answer 404/405."""
        allowed = False
        for method, regex, handler in self._routes:
            m = regex.match(request.path)
            if not m:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = m.groupdict()
            return await handler(request)
        if allowed:
            return Response.json(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed",
                    }
                ],
                405,
            )
        return Response.json(
            [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404
        )


class HttpServer:
    """Serves one Router on 127.0.0.1; keep-alive aware because httpx pools connections."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (valid after start)."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(self._on_connect, self._host, self._port)

    async def close(self) -> None:
        """Stop accepting, then end open keep-alive connections."""
        if self._server is not None:
            self._server.close()
        # Closing the transports (not cancelling the tasks) lets each connection loop see EOF and end
        # quietly; cancelled stream-callback tasks make asyncio log spurious tracebacks on 3.12.
        for writer in list(self._connections.values()):
            writer.close()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                request = await self._read_request(conn, reader)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send(conn, writer, Response(400, str(exc).encode()))
                return
            if request is None:
                return
            try:
                response = await self._handler(request)
            except Exception:  # a sandbox bug must not kill the connection silently
                log.exception("sandbox handler failed for %s %s", request.method, request.path)
                response = Response.json(
                    [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred."}], 500
                )
            await self._send(conn, writer, response)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise h11.RemoteProtocolError("body too large", error_status_hint=413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                target = urlsplit(head.target.decode("latin-1"))
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in head.headers}
                return Request(
                    method=head.method.decode(),
                    path=target.path,
                    query=parse_qs(target.query, keep_blank_values=True),
                    headers=headers,
                    body=bytes(body),
                )

    @staticmethod
    async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, response: Response) -> None:
        headers = [(k, v) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        headers.append(("Server", "sdr-sandbox"))
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
        if response.body:
            writer.write(conn.send(h11.Data(data=response.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()


class _Fake(Protocol):
    base_url: str

    async def handle(self, request: Request) -> Response: ...


@contextlib.asynccontextmanager
async def serving[F: _Fake](fake: F, port: int = 0) -> AsyncIterator[F]:
    """Serve ``fake`` on 127.0.0.1:port (0 = any) for the duration of the block; sets ``fake.base_url``."""
    server = HttpServer(fake.handle, port=port)
    await server.start()
    fake.base_url = server.url
    try:
        yield fake
    finally:
        await server.close()
