"""Live connections and fan-out: events are persisted per agent, then written to sockets after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import partial
from typing import Any, Protocol

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from agent_app.protocol import Agent, CloseCode, Event, PresenceChanged
from chat_server.clock import Clock
from chat_server.storage.base import Storage
from chat_server.viewing import SharedViewing, Viewing, announce

log = logging.getLogger(__name__)
_enc = msgspec.json.Encoder()


def send_now(ws: ServerConnection, data: bytes, buffer_limit: int) -> bool:
    """Write a text frame without yielding, so frames leave in exactly the order they were produced.

    (``await ws.send`` would let other tasks interleave.) A peer that stops reading is dropped with 1013
    once its write buffer passes ``buffer_limit`` (0 = this frame is written whatever is queued: only for
    the welcome, whose size the server bounds itself); an agent then resumes by replay, nothing is lost."""
    if ws.protocol.state is not State.OPEN:
        return False
    if buffer_limit and ws.transport.get_write_buffer_size() > buffer_limit:
        drop(ws, "too slow: read your frames")
        return False
    try:
        ws.protocol.send_text(data)
        ws.send_data()
    except Exception as exc:  # the connection died under us; its handler cleans up
        log.debug("send failed: %s", exc)
        return False
    return True


def drop(ws: ServerConnection, reason: str) -> None:
    """Closes a peer that does not read with 1013, without waiting for it.

    The close frame goes out behind what is already queued (a byte stream cannot overtake), so a peer that
    reads again sees everything, then 1013. One that still does not read is aborted after the close timeout,
    which frees the queued bytes: ``ws.close()`` could not do this, it waits for the queue to drain first."""
    if ws.protocol.state is State.OPEN:
        log.warning("dropping slow peer %s: %s", ws.remote_address, reason)
        ws.protocol.fail(CloseCode.TRY_LATER, reason)
        try:
            ws.send_data()
        except Exception as exc:
            log.debug("send failed: %s", exc)
    transport = ws.transport
    # Read (and discard) again, so the peer's own close or EOF is noticed and the socket goes at once.
    transport.resume_reading()
    asyncio.get_running_loop().call_later(ws.close_timeout or 10.0, transport.abort)


def event_frame(seq: int, epoch: str, at: float, event_json: bytes) -> bytes:
    """EventFrame bytes, assembled around an event encoded once for all recipients (same JSON as
    ``protocol.encode(EventFrame(...))``)."""
    return b"".join(
        (b'{"type":"event","seq":', str(seq).encode(), b',"epoch":"', epoch.encode(), b'","at":',
         _enc.encode(at), b',"event":', event_json, b"}")
    )  # fmt: skip


def _frame_for(epoch: str, at: float, body: bytes, seq: int) -> bytes:
    return event_frame(seq, epoch, at, body)


class Peers(Protocol):
    """The other server processes of a cluster (chat_server.cluster): what must reach their sockets."""

    def to_visitor(self, visitor_id: str, frame: bytes, *, after_commit: bool) -> None: ...

    def to_agents_now(self, agent_ids: list[str], frame: bytes) -> None: ...

    def online_elsewhere(self, agent_id: str) -> bool: ...

    def refresh_online(self) -> None: ...

    def wake(self) -> None:
        """Some local connection is behind the log: catch everyone up soon."""
        ...

    def local_presence(self, agent_id: str, connections: int) -> None: ...

    def share(self, kind: str, body: dict[str, Any]) -> None:
        """Publishes a small piece of this process's ephemeral state (``Hub.shared[kind]`` elsewhere)."""
        ...


class SharedState(Protocol):
    """Ephemeral per-process state merged across a cluster (live visitors, who is viewing)."""

    def from_peer(self, origin: str, body: dict[str, Any]) -> None: ...

    def republish(self) -> None:
        """A process joined (or listens again): publish all of this process's state."""
        ...

    def peers_alive(self, process_ids: set[str]) -> None:
        """The processes alive now: forget the state of any other."""
        ...


class Hub:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        agent_buffer_limit: int = 16 * 1024 * 1024,
        peer_buffer_limit: int = 1024 * 1024,
        stall_seconds: float = 20.0,
        catch_up_batch: int = 20_000,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.agent_buffer_limit = agent_buffer_limit
        self.peer_buffer_limit = peer_buffer_limit  # visitors, and agents before they signed in
        self.stall_seconds = stall_seconds
        self.buffer_limits: dict[ServerConnection, int] = {}
        self._stalls: dict[ServerConnection, tuple[asyncio.TimerHandle, int]] = {}
        self.agents: dict[str, Agent] = {}
        self.agent_conns: dict[str, set[ServerConnection]] = {}
        self.conn_tokens: dict[ServerConnection, str] = {}  # connection -> hash of the token it used
        self.visitor_conns: dict[str, set[ServerConnection]] = {}
        # The last seq written to each live agent connection: a frame goes out only as the next one, so
        # events committed by another process (or a gap of any kind) are read from the log first.
        self.sent: dict[ServerConnection, int] = {}
        self.catch_up_batch = catch_up_batch
        self.peers: Peers | None = None  # set by chat_server.cluster when several processes share a database
        self.viewing = Viewing()  # who has which conversation open (ephemeral; chat_server.viewing)
        # Ephemeral state other processes of a cluster publish (Peers.share), by kind.
        self.shared: dict[str, SharedState] = {"viewing": SharedViewing(self)}
        self.refresh_agents()

    def refresh_agents(self) -> None:
        """Agents change rarely (CLI, admin API); reloaded on every sign-in and admin call."""
        self.agents = {a.id: a for a in self.storage.list_agents()}

    def agent_view(self, agent: Agent) -> Agent:
        online = bool(self.agent_conns.get(agent.id))
        if not online and self.peers is not None:
            online = self.peers.online_elsewhere(agent.id)
        return msgspec.structs.replace(agent, online=online)

    def all_agent_views(self) -> list[Agent]:
        if self.peers is not None:
            self.peers.refresh_online()
        return [self.agent_view(a) for a in self.agents.values()]

    # ------------------------------------------------------------ sequenced events to agents

    def to_agents(self, per_agent: Iterable[tuple[str, Event]]) -> None:
        """Append each (agent, event) to that agent's stream in this transaction; deliver after commit."""
        at = self.clock.now()
        epoch = self.storage.epoch
        cache: dict[int, bytes] = {}
        frames: list[tuple[str, int, bytes]] = []
        for agent_id, event in per_agent:
            body = cache.get(id(event))
            if body is None:
                body = cache[id(event)] = _enc.encode(event)
            seq, frame = self.storage.append_event(agent_id, at, partial(_frame_for, epoch, at, body))
            frames.append((agent_id, seq, frame))
        if frames:
            self.storage.after_commit(lambda: self._deliver(frames))

    def _deliver(self, frames: list[tuple[str, int, bytes]]) -> None:
        for agent_id, seq, frame in frames:
            for ws in tuple(self.agent_conns.get(agent_id, ())):
                self.send_event(agent_id, ws, seq, frame)

    def send_event(self, agent_id: str, ws: ServerConnection, seq: int, frame: bytes) -> None:
        """Sends event ``seq`` only as the connection's next one: an older seq was sent already (read from
        the log by a catch-up); a newer one means others were committed meanwhile (by another process),
        which are read from the log and sent in order first. In one process the seqs always follow."""
        last = self.sent.get(ws)
        if last is None or seq <= last or ws.protocol.state is not State.OPEN:
            return  # (a connection being dropped is not caught up: it resumes by replay)
        if seq == last + 1:
            if self.send(ws, frame):
                self.sent[ws] = seq
        elif self.peers is not None:
            self.peers.wake()  # read from the log off the loop (one query for everyone), then sent in order
        else:
            self.catch_up(agent_id, ws)

    def catch_up(self, agent_id: str, ws: ServerConnection) -> None:
        """Sends the connection every committed event after the last one it was sent, in order."""
        while (last := self.sent.get(ws)) is not None:
            try:
                events = self.storage.committed().events_after(agent_id, last, self.catch_up_batch)
            except Exception as exc:  # the database is unreachable: the cluster's sweep tries again
                log.warning("catch-up of %s failed: %s", agent_id, exc)
                return
            if events is None:  # pruned meanwhile: the agent reconnects and gets a snapshot
                drop(ws, "fell behind the replay window: resync")
                return
            for seq, frame in events:
                if not self.send(ws, frame):
                    return
                self.sent[ws] = seq
            if len(events) < self.catch_up_batch:
                return

    def catch_up_all(self, heads: dict[str, int]) -> int:
        """After a doorbell (or the periodic sweep): brings every local connection of these agents up to
        their committed head. Returns how many connections were behind."""
        behind = 0
        for agent_id, head in heads.items():
            for ws in tuple(self.agent_conns.get(agent_id, ())):
                if self.sent.get(ws, head) < head:
                    behind += 1
                    self.catch_up(agent_id, ws)
        return behind

    def broadcast_presence(self, agent: Agent) -> None:
        if self.peers is not None:  # the cluster's presence row commits with the event
            self.peers.local_presence(agent.id, len(self.agent_conns.get(agent.id, ())))
            self.peers.refresh_online()
        event = PresenceChanged(agent=self.agent_view(agent))
        self.to_agents((a.id, event) for a in self.agents.values() if not a.disabled)

    # ------------------------------------------------------------ unsequenced frames

    def to_visitor(self, visitor_id: str, frame: bytes, *, after_commit: bool, skip: object = None) -> None:
        def deliver() -> None:
            for ws in tuple(self.visitor_conns.get(visitor_id, ())):
                if ws is not skip:
                    self.send(ws, frame)

        if after_commit:
            self.storage.after_commit(deliver)
        else:
            deliver()
        if self.peers is not None:
            self.peers.to_visitor(visitor_id, frame, after_commit=after_commit)

    def to_agents_now(self, agent_ids: Iterable[str], frame: bytes) -> None:
        ids = list(agent_ids)
        for agent_id in ids:
            for ws in tuple(self.agent_conns.get(agent_id, ())):
                self.send(ws, frame)
        if self.peers is not None:
            self.peers.to_agents_now(ids, frame)

    def visitor_frame_from_peer(self, visitor_id: str, frame: bytes) -> None:
        """A frame another process produced for a visitor who may be connected here."""
        for ws in tuple(self.visitor_conns.get(visitor_id, ())):
            self.send(ws, frame)

    def agents_frame_from_peer(self, agent_ids: Iterable[str], frame: bytes) -> None:
        for agent_id in agent_ids:
            for ws in tuple(self.agent_conns.get(agent_id, ())):
                self.send(ws, frame)

    # ------------------------------------------------------------ bounded writes to every peer

    def attach(self, ws: ServerConnection, agent: bool = False) -> None:
        """Every connection gets a write bound: the small one until it has signed in as an agent."""
        self.buffer_limits[ws] = self.agent_buffer_limit if agent else self.peer_buffer_limit

    def detach(self, ws: ServerConnection) -> None:
        self.buffer_limits.pop(ws, None)
        stall = self._stalls.pop(ws, None)
        if stall is not None:
            stall[0].cancel()

    def send(self, ws: ServerConnection, data: bytes, *, bounded: bool = True) -> bool:
        """The only way frames reach a peer: bounded by its limit, and watched while the peer lags."""
        limit = self.buffer_limits.get(ws, self.peer_buffer_limit) if bounded else 0
        sent = send_now(ws, data, limit)
        if sent and ws not in self._stalls and self._lagging(ws):
            self._watch(ws, ws.transport.get_write_buffer_size())
        return sent

    async def writable(self, ws: ServerConnection) -> bool:
        """Waits while the peer has not read what it was sent: the command loops read nothing meanwhile,
        so a peer that floods commands without reading answers is throttled by TCP, then dropped."""
        if self._lagging(ws):
            if ws not in self._stalls:
                self._watch(ws, ws.transport.get_write_buffer_size())
            try:
                await ws.drain()  # returns when the buffer drains, or the connection is lost (drop aborts it)
            except OSError:  # lost with an error (a reset): the peer is gone, nothing to report
                pass
        return ws.protocol.state is State.OPEN

    @staticmethod
    def _lagging(ws: ServerConnection) -> bool:
        return ws.paused and ws.protocol.state is State.OPEN

    def _watch(self, ws: ServerConnection, queued: int) -> None:
        """Checks after ``stall_seconds`` whether a lagging peer read anything meanwhile. The keepalive
        cannot do this: its ping waits behind the queued frames, so its timeout never starts."""
        handle = asyncio.get_running_loop().call_later(self.stall_seconds, self._check_stall, ws)
        self._stalls[ws] = (handle, queued)

    def _check_stall(self, ws: ServerConnection) -> None:
        _, queued = self._stalls.pop(ws, (None, 0))
        if not self._lagging(ws):
            return
        now = ws.transport.get_write_buffer_size()
        if now >= queued:
            drop(ws, f"read nothing for {self.stall_seconds:g} s")
        else:
            self._watch(ws, now)  # slow but reading (a big snapshot on a thin link): keep going

    # ------------------------------------------------------------ registry

    def add_agent_conn(
        self, agent_id: str, ws: ServerConnection, token_hash: str = "", sent: int = 0
    ) -> bool:
        """Registers a live connection that was sent every event up to ``sent``; True when the agent just
        came online."""
        conns = self.agent_conns.setdefault(agent_id, set())
        conns.add(ws)
        self.sent[ws] = sent
        if token_hash:
            self.conn_tokens[ws] = token_hash
        return len(conns) == 1

    def remove_agent_conn(self, agent_id: str, ws: ServerConnection) -> bool:
        """True when the agent's last connection went away."""
        token = self.conn_tokens.pop(ws, None)
        self.sent.pop(ws, None)
        conns = self.agent_conns.get(agent_id)
        if conns is None or ws not in conns:
            return False
        conns.discard(ws)
        if token is not None and not any(self.conn_tokens.get(c) == token for c in conns):
            self._stop_viewing(agent_id, token)  # (a resumed connection on the same token keeps it)
        if conns:
            return False
        del self.agent_conns[agent_id]
        return True

    def _stop_viewing(self, agent_id: str, token: str) -> None:
        changed = self.viewing.drop((agent_id, token))
        if changed:
            try:
                announce(self, self.viewing, changed)
            except Exception as exc:  # shutting down (storage closed): nobody is left to tell
                log.debug("viewers not announced: %s", exc)

    def add_visitor_conn(self, visitor_id: str, ws: ServerConnection) -> None:
        self.visitor_conns.setdefault(visitor_id, set()).add(ws)

    def remove_visitor_conn(self, visitor_id: str, ws: ServerConnection) -> None:
        conns = self.visitor_conns.get(visitor_id)
        if conns is not None:
            conns.discard(ws)
            if not conns:
                del self.visitor_conns[visitor_id]
