"""A blocking raw-socket websocket client that can stop reading (tiny receive buffer) and flood commands."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from agent_app import protocol as p


@dataclass
class Drained:
    """What the client read after it started reading again."""

    data_bytes: int = 0  # payload bytes of text/binary frames
    frames: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    eof: bool = False


class RawClient:
    """A websocket client over a plain blocking socket.

    Unlike a websockets client it can *stop reading*: the socket's receive buffer is tiny, so once the
    server has sent a few KiB the kernel window closes and whatever else the server writes stays on the
    server side. That is the slow reader of defect 1."""

    def __init__(self, url: str, path: str, rcvbuf: int = 4096, origin: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # the flood waits for the server
        uri = parse_uri(url + path)
        self.sock.settimeout(5)
        self.sock.connect((uri.host, uri.port))
        self.proto = ClientProtocol(uri, subprotocols=[p.SUBPROTOCOL], max_size=None)  # type: ignore[list-item]
        request = self.proto.connect()
        if origin is not None:
            request.headers["Origin"] = origin
        self.proto.send_request(request)
        self._flush()
        self.pending: list[Frame] = []
        while self.proto.handshake_exc is None and self.proto.state.name == "CONNECTING":
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            self.proto.receive_data(data)
            for event in self.proto.events_received():
                if isinstance(event, Frame):
                    self.pending.append(event)
        if self.proto.handshake_exc is not None:
            raise self.proto.handshake_exc

    def _flush(self) -> None:
        for chunk in self.proto.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def send(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._flush()

    def recv_frame(self, wait: float = 5.0) -> bytes:
        """The next text frame (blocking)."""
        deadline = time.monotonic() + wait
        while True:
            while self.pending:
                frame = self.pending.pop(0)
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    return bytes(frame.data)
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.proto.receive_data(data)
            self.pending.extend(e for e in self.proto.events_received() if isinstance(e, Frame))

    def flood(self, frames: list[str], seconds: float) -> int:
        """Writes frames without reading until all are out or the socket stays unwritable for
        ``seconds`` (the server stopped reading). Returns how many frames went out completely."""
        self.sock.setblocking(False)
        sent = 0
        try:
            for text in frames:
                self.proto.send_text(text.encode())
                data = b"".join(self.proto.data_to_send())
                view = memoryview(data)
                while view:
                    _, writable, _ = select.select([], [self.sock], [], seconds)
                    if not writable:
                        return sent
                    try:
                        n = self.sock.send(view)
                    except BlockingIOError:
                        continue
                    except OSError:  # the server closed (reset) the connection
                        return sent
                    view = view[n:]
                sent += 1
        finally:
            self.sock.setblocking(True)
        return sent

    def hold(self, until: Callable[[], bool], seconds: float) -> bool:
        """Reads nothing until ``until()`` is true (polled), at most ``seconds``; True if it became true."""
        deadline = time.monotonic() + seconds
        while not until():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def drain(self, seconds: float) -> Drained:
        """Reads everything until the server closes (or ``seconds`` pass)."""
        out = Drained()
        deadline = time.monotonic() + seconds
        frames = list(self.pending)
        self.pending.clear()
        while True:
            for frame in frames:
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    out.data_bytes += len(frame.data)
                    if len(out.frames) < 200:
                        out.frames.append(bytes(frame.data))
            frames = []
            if self.proto.close_rcvd is not None:
                out.close_code = self.proto.close_rcvd.code
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except (TimeoutError, OSError):
                return out
            if not data:
                out.eof = True
                return out
            self.proto.receive_data(data)
            frames = [e for e in self.proto.events_received() if isinstance(e, Frame)]

    def close(self) -> None:
        self.sock.close()
