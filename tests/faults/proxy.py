"""A 127.0.0.1 TCP proxy whose live links a test can cut: reset (RST), cut mid-frame, or blackhole."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from collections import Counter


class Cut(enum.StrEnum):
    RST = "rst"  # both sockets reset at once (SO_LINGER 0): the peers see ECONNRESET
    MID_FRAME = "mid_frame"  # the next chunk is forwarded half, then both sides get a FIN
    BLACKHOLE = "blackhole"  # the link stays open but nothing passes either way: only keepalive notices


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Link:
    """One client connection and its upstream connection, pumped both ways."""

    def __init__(self, proxy: CutProxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_r, self.client_w = client
        self.up_w: asyncio.StreamWriter | None = None
        self.mode: Cut | None = None  # set once the link is cut
        self.truncated = asyncio.Event()
        self.closed = asyncio.Event()
        self.bytes = 0  # forwarded both ways

    @property
    def live(self) -> bool:
        return self.mode is None and not self.closed.is_set()

    async def run(self) -> None:
        try:
            up_r, self.up_w = await asyncio.open_connection(self.proxy.host, self.proxy.upstream_port)
        except OSError:
            self.client_w.close()
            self.closed.set()
            return
        try:
            await asyncio.gather(
                self._pump(self.client_r, self.up_w), self._pump(up_r, self.client_w), return_exceptions=True
            )
        finally:
            for writer in (self.client_w, self.up_w):
                writer.close()
            self.closed.set()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.mode is Cut.BLACKHOLE:
                    continue  # read and drop: the sockets stay open and silent
                if self.mode is Cut.MID_FRAME:
                    if not self.truncated.is_set() and len(chunk) > 1:
                        writer.write(chunk[: len(chunk) // 2])
                        await writer.drain()
                        self.proxy.truncated_frames += 1
                    self.truncated.set()
                    break
                if self.mode is Cut.RST:
                    break
                writer.write(chunk)
                self.bytes += len(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if self.mode is not Cut.BLACKHOLE or reader.at_eof():
                self._shut()

    def _shut(self) -> None:
        """End both sides: a FIN, or a reset for a RST cut."""
        for writer in (self.client_w, self.up_w):
            if writer is None or writer.is_closing():
                continue
            if self.mode is Cut.RST:
                _reset(writer)
            else:
                writer.close()

    async def cut(self, mode: Cut, truncate_within: float = 0.3) -> None:
        self.mode = mode
        self.proxy.cuts[mode] += 1
        if mode is Cut.RST:
            self._shut()
        elif mode is Cut.MID_FRAME:
            # Cut inside the next chunk that passes; if the line is quiet, cut it between frames.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.truncated.wait(), truncate_within)
            self._shut()
        # BLACKHOLE: nothing to do; the link ends when an endpoint gives up on it and closes.


class CutProxy:
    """Listens on 127.0.0.1 (port 0) and forwards every connection to ``upstream_port`` on 127.0.0.1."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.upstream_port = host, upstream_port
        self.links: list[Link] = []
        self.cuts: Counter[Cut] = Counter()
        self.truncated_frames = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(self, (reader, writer))
        self.links.append(link)
        await link.run()

    def live_links(self) -> list[Link]:
        return [link for link in self.links if link.live]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in self.links:
            link.mode = link.mode or Cut.RST
            link._shut()
        for link in self.links:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(link.closed.wait(), 5)
        if self._server is not None:
            await self._server.wait_closed()
