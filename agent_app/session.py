"""The one websocket session to the chat server: sign-in, resume, commands, outbox, reconnects.

Delivery (docs/protocol.md): every event is applied once in seq order (the store ignores old seqs),
and my sends go through the durable outbox, re-sent with the same command id after every (re)connect
before anything new, so the server's idempotency makes them exactly-once, also across restarts.

Reconnects use our own loop, not websockets' ``async for ws in connect()``: that one resets its
backoff after every handshake, so a server that accepts and then drops us would be hammered. Here
the backoff only resets after a connection stayed up ``min_lifetime`` seconds, and final close codes
(bad credentials, disabled account, unsupported version) stop the loop in SIGNED_OUT.

``url`` may be the server root (``ws://host:port``) or already end in ``/agent``; http(s) is accepted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.errors import AgentAppError, AuthenticationFailed, CommandError, NotConnected, SessionClosed
from agent_app.outbox import MAX_ATTEMPTS, Outbox, OutboxEntry, is_retryable
from agent_app.session_commands import CommandsMixin
from agent_app.store import Delivery, Store

log = logging.getLogger(__name__)

_TRANSIENT = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, p.ProtocolError)
MAX_RECEIVE = 64 * 1024 * 1024  # a resync snapshot can be large; the server caps what it sends


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    SIGNED_OUT = "signed_out"


def agent_url(url: str) -> str:
    """``ws://host:port`` -> ``ws://host:port/agent``; a URL already ending in /agent is kept."""
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise AgentAppError(f"not a chat server address: {url!r} (expected ws://host:port)")
    path = parts.path.rstrip("/")
    if not path.endswith("/agent"):
        path += "/agent"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is None:
            return "Connection lost"
        return f"Server closed the connection ({frame.code} {frame.reason})".replace(" )", ")")
    if isinstance(exc, TimeoutError):
        return "The server did not answer in time"
    if isinstance(exc, OSError):
        return f"Cannot reach the server ({exc.strerror or exc})"
    return f"Cannot connect ({exc})"


class Session(CommandsMixin):
    """See docs/client-contracts.md. Create after the cache was loaded into ``store``."""

    def __init__(
        self,
        url: str,
        store: Store,
        outbox: Outbox,
        *,
        token: str = "",
        device: str = "",
        backoff: Backoff | None = None,
        retry_backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        min_lifetime: float = 10.0,
        ping_interval: float = 15.0,  # + ping_timeout + close_timeout: a dead link is noticed within 27 s
        ping_timeout: float = 10.0,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,  # a close handshake the peer does not answer (dead link) is cut short
        request_timeout: float = 30.0,
        ssl: ssl.SSLContext | None = None,  # wss:// trusts the system CAs unless given a context
    ) -> None:
        self.url = agent_url(url)
        self.store, self.outbox = store, outbox
        self.token, self.device = token, device
        self.backoff = backoff or Backoff(base=1.0, cap=60.0)
        # Re-sends after a retryable error (the server's commit failed, or it rate-limits us).
        self.retry_backoff = retry_backoff or Backoff(base=0.5, cap=30.0)
        self.clock, self.min_lifetime = clock, min_lifetime
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.open_timeout, self.request_timeout = open_timeout, request_timeout
        self.close_timeout = close_timeout
        self.ssl = ssl
        self.attempts = 0  # connection attempts so far (diagnostics, tests)
        self._state, self._detail = ConnectionState.OFFLINE, "Not connected"
        self._state_listeners: list[Callable[[ConnectionState, str], None]] = []
        self._token_listeners: list[Callable[[str], None]] = []
        self._live_listeners: list[Callable[[p.LiveVisitorsFrame], None]] = []
        self._viewers_listeners: list[Callable[[p.ViewersFrame], None]] = []
        self._credentials: tuple[str, str] | None = None
        self._ws: ClientConnection | None = None
        self._adopted: ClientConnection | None = None  # opened by sign_in, served by run()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._outbox_changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._offline_reason = ""
        self._signing_out = False
        self._running: asyncio.Event | None = None  # set while run() is active; cleared at its end
        self._tasks: set[asyncio.Task[None]] = set()
        self._typing_sent: dict[str, tuple[bool, float]] = {}
        self._rewind: int | None = None  # re-send the outbox from this order on, after a backoff
        self._restore_pending()

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def detail(self) -> str:
        return self._detail

    def add_state_listener(self, cb: Callable[[ConnectionState, str], None]) -> None:
        self._state_listeners.append(cb)

    def add_token_listener(self, cb: Callable[[str], None]) -> None:
        """``cb(token)`` with a new token to keep in the keychain, or "" after sign-out."""
        self._token_listeners.append(cb)

    def add_live_visitors_listener(self, cb: Callable[[p.LiveVisitorsFrame], None]) -> None:
        """``cb(frame)`` for every live_visitors frame (after :meth:`watch_live_visitors`)."""
        self._live_listeners.append(cb)

    def add_viewers_listener(self, cb: Callable[[p.ViewersFrame], None]) -> None:
        """``cb(frame)`` for every viewers frame: who has a conversation open (after a ``viewing``)."""
        self._viewers_listeners.append(cb)

    def _set_state(self, state: ConnectionState, detail: str) -> None:
        if (state, detail) == (self._state, self._detail):
            return
        self._state, self._detail = state, detail
        log.info("session %s: %s", state, detail)
        for cb in list(self._state_listeners):
            cb(state, detail)

    def _set_token(self, token: str) -> None:
        self.token = token
        for cb in list(self._token_listeners):
            cb(token)

    # ------------------------------------------------------------------ sign-in and the loop

    async def sign_in(self, email: str, password: str) -> p.Agent:
        """Sign in with a password (one attempt, no retry); run() then serves that connection."""
        if self._state is ConnectionState.ONLINE:
            raise AgentAppError("already signed in; sign out first")
        self._credentials = (email, password)
        self._signing_out = False
        try:
            ws = await self._handshake()
        except AuthenticationFailed as exc:
            self._set_state(ConnectionState.SIGNED_OUT, str(exc))
            raise
        except _TRANSIENT as exc:
            raise NotConnected(_describe(exc)) from exc
        finally:
            self._credentials = None  # the token replaces the password; never keep it
        self._adopted = ws
        self._wake.set()  # a run() waiting in backoff picks it up now
        assert self.store.me is not None
        return self.store.me

    async def run(self) -> None:
        """Connect, resume and serve until stop(), sign-out or a final close (state SIGNED_OUT)."""
        if self._running is not None:
            raise AgentAppError("the session is already running")
        self._running = asyncio.Event()
        self._stopping, self._offline_reason = False, ""
        first = True
        try:
            while not self._stopping:
                if self._adopted is None and not self.token:
                    self._set_state(ConnectionState.SIGNED_OUT, "Sign in to start")
                    return
                connected_at: float | None = None
                reason = "Connection lost"
                try:
                    ws, self._adopted = self._adopted, None
                    if ws is None:
                        state = ConnectionState.CONNECTING if first else ConnectionState.RECONNECTING
                        self._set_state(state, f"Connecting to {urlsplit(self.url).netloc}")
                        ws = await self._handshake()
                    connected_at = self.clock()
                    await self._serve(ws)
                    reason = _describe(ws.close_exc)
                    self._check_close(ws.close_code, ws.close_reason)
                except AuthenticationFailed as exc:
                    if self.token:
                        self._set_token("")  # a refused token is useless: drop the keychain copy
                    self._set_state(ConnectionState.SIGNED_OUT, str(exc))
                    return
                except _TRANSIENT as exc:
                    reason = _describe(exc)
                first = False
                if self._stopping:
                    break
                if self._signing_out:
                    self._set_state(ConnectionState.SIGNED_OUT, "Signed out")
                    return
                if connected_at is not None and self.clock() - connected_at >= self.min_lifetime:
                    self.backoff.reset()  # it was a real session, not a server bouncing us
                delay = self.backoff.next_delay()
                self._set_state(
                    ConnectionState.RECONNECTING, f"{reason}. Reconnecting in {math.ceil(delay)} s"
                )
                await self._pause(delay)
        finally:
            self._running.set()
            self._running = None
            self._fail_waiting(SessionClosed("the session stopped"))
            if self._state is not ConnectionState.SIGNED_OUT:
                self._set_state(ConnectionState.OFFLINE, self._offline_reason or "Offline")

    async def stop(self) -> None:
        """Close the connection and end run(); pending sends stay in the outbox for next time."""
        self._stopping = True
        self._wake.set()
        running = self._running
        for ws in (self._ws, self._adopted):
            if ws is not None:
                await ws.close()
        self._adopted = None
        if running is not None:
            await running.wait()
        for task in list(self._tasks):
            task.cancel()

    def reconnect_now(self) -> None:
        """Skip the backoff wait (e.g. the network came back or the machine woke up)."""
        self._wake.set()

    async def _pause(self, delay: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.backoff.wait(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        _, pending = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    def _check_close(self, code: int | None, reason: str | None) -> None:
        if code is None:
            return
        try:
            close = p.CloseCode(code)
        except ValueError:
            return
        if close.is_fatal:
            raise AuthenticationFailed(reason or "Please sign in again", code)
        if close is p.CloseCode.SIGNED_IN_ELSEWHERE:
            # Reconnecting would push the other session out, which would push us out: ping-pong.
            self._stopping = True
            self._offline_reason = "Signed in on another device"

    def _hello(self) -> p.Hello:
        store = self.store
        epoch, last_seq = store.epoch, store.seq
        hello = p.Hello(
            id=uuid.uuid4().hex, token=self.token, device=self.device, epoch=epoch, last_seq=last_seq
        )
        if self._credentials is not None:
            email, password = self._credentials
            hello.token, hello.email, hello.password = "", email, password
            if store.me is not None and store.me.email.lower() != email.lower():
                hello.epoch, hello.last_seq = "", 0  # another account: ask for a full snapshot
        return hello

    async def _handshake(self) -> ClientConnection:
        """Open, say hello, apply the welcome. Final close codes raise AuthenticationFailed."""
        hello = self._hello()
        self.attempts += 1
        # Only when given: websockets refuses ssl=None for wss:// (it means "no TLS" there).
        tls: dict[str, Any] = {} if self.ssl is None else {"ssl": self.ssl}
        ws = await connect(
            self.url,
            subprotocols=[Subprotocol(p.SUBPROTOCOL)],
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            open_timeout=self.open_timeout,
            # websockets waits this long for the peer to answer our close, also after a keepalive
            # timeout; its default (10 s) kept a dead link "online" 10 s past the ping timeout.
            close_timeout=self.close_timeout,
            max_size=MAX_RECEIVE,
            **tls,
        )
        try:
            await ws.send(p.encode(hello))
            while True:
                frame = p.decode_server_frame(await asyncio.wait_for(ws.recv(), self.open_timeout))
                if isinstance(frame, p.Welcome):
                    break
                log.warning("unexpected frame before welcome: %r", frame)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            self._check_close(rcvd.code if rcvd else None, rcvd.reason if rcvd else None)
            raise
        except BaseException:
            await ws.close()
            raise
        self.store.apply_welcome(frame)
        if frame.token and frame.token != self.token:
            self._set_token(frame.token)
        return ws

    # ------------------------------------------------------------------ one live connection

    async def _serve(self, ws: ClientConnection) -> None:
        """Read frames until the connection closes; the outbox writer runs alongside."""
        self._ws = ws
        me = self.store.me
        self._set_state(ConnectionState.ONLINE, f"Online as {me.name}" if me else "Online")
        writer = asyncio.create_task(self._write_outbox(ws))
        try:
            async for raw in ws:
                self._dispatch(raw)
        except ConnectionClosed:
            pass  # ws.close_code / close_exc tell run() why
        finally:
            self._ws = None
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self._typing_sent.clear()
            self._fail_waiting(NotConnected("the connection was lost before the server answered"))

    async def _write_outbox(self, ws: ClientConnection) -> None:
        """Send outbox entries in order: all of them after connecting, then each new one. After a
        retryable error, wait a backoff and send again from the refused entry on, in the same order (an
        entry sent twice is harmless: the server answers a repeated id with its stored ack)."""
        sent_upto = 0
        self._rewind = None
        while True:
            self._outbox_changed.clear()  # before reading, so an add during the sends is not missed
            if self._rewind is not None:
                await self.retry_backoff.wait(self.retry_backoff.next_delay())
                sent_upto, self._rewind = min(sent_upto, self._rewind - 1), None
            for entry in self.outbox.pending(after=sent_upto):
                self.outbox.note_attempt(entry.id)
                await ws.send(p.encode(entry.command))
                sent_upto = entry.order
            await self._outbox_changed.wait()

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            frame = p.decode_server_frame(raw)
        except p.ProtocolError as exc:
            log.warning("ignoring a malformed frame from the server: %s", exc)
            return
        try:
            match frame:
                case p.EventFrame():
                    self.store.apply_event_frame(frame)
                case p.Snapshot():
                    self.store.apply_snapshot(frame)
                case p.TypingFrame():
                    self.store.apply_typing(frame)
                case p.LiveVisitorsFrame():
                    for cb in list(self._live_listeners):
                        cb(frame)
                case p.ViewersFrame():
                    for viewers_cb in list(self._viewers_listeners):
                        viewers_cb(frame)
                case p.Ack(ref=ref, result=result):
                    self._answer(ref, result, None)
                case p.Error(ref=ref, code=code, message=message):
                    self._answer(ref, {}, CommandError(code, message))
                case _:
                    log.debug("ignoring %s", type(frame).__name__)
        except Exception:
            # A failing listener (UI bug) must not drop the connection and with it every later event.
            log.exception("applying %s failed", type(frame).__name__)

    def _retry(self, entry: OutboxEntry, error: CommandError) -> bool:
        """Keeps ``entry`` queued for a re-send when ``error`` is worth retrying (and tries remain)."""
        if not is_retryable(error.code) or entry.attempts >= MAX_ATTEMPTS:
            return False
        log.info("server could not take %s yet (%s); retrying", entry.id, error)
        self._rewind = entry.order if self._rewind is None else min(self._rewind, entry.order)
        self._outbox_changed.set()
        return True

    def _answer(self, ref: str, result: dict[str, Any], error: CommandError | None) -> None:
        queued = self.outbox.get(ref) if ref and error is not None else None
        if queued is not None and error is not None and self._retry(queued, error):
            return
        if error is None and self.retry_backoff.attempt:
            self.retry_backoff.reset()  # the server takes our writes again
        entry = self.outbox.remove(ref) if ref else None
        if entry is not None and entry.conversation_id:
            if error is None:  # durable on the server; its MessageCreated replaces the pending row
                self.store.set_delivery(entry.conversation_id, ref, Delivery.SENT)
            else:
                self.store.set_delivery(entry.conversation_id, ref, Delivery.FAILED, error.message)
        future = self._waiting.pop(ref, None)
        if future is not None and not future.done():
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        elif error is not None and entry is None:
            log.warning("server error: %s", error)

    def _fail_waiting(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def _restore_pending(self) -> None:
        """Show the sends a previous run left in the outbox as pending rows again."""
        for entry in self.outbox.pending():
            if isinstance(entry.command, p.SendMessage):
                author = p.Agent(id=entry.author_id, name=entry.author_name, email="")
                self.store.add_pending(entry.command, author, entry.created_at)

    def _send_later(self, command: p.AgentCommand) -> None:
        """Fire and forget (typing): a lost frame only matters until the next one."""
        ws = self._ws
        if ws is None:
            return
        task = asyncio.create_task(self._send_quietly(ws, command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send_quietly(ws: ClientConnection, command: p.AgentCommand) -> None:
        try:
            await ws.send(p.encode(command))
        except ConnectionClosed:
            pass
