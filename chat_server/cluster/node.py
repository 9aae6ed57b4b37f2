"""One server process of a cluster: the log is the truth, PostgreSQL NOTIFY is only the doorbell.

Every agent connection remembers the last seq it was sent (``Hub.sent``); a doorbell (a commit by any
process), the listener's reconnection, and a sweep every ``sweep_seconds`` all do the same thing: read the
committed heads of the locally connected agents and send each connection what it lacks, from the log, in
order. Missing a notification therefore delays delivery by at most one sweep and never loses or repeats it.
A canary NOTIFY sent by this process to itself proves that notifications flow end to end (``/healthz``).

Ephemeral shared state (live visitors, viewers: ``Hub.shared``) has no log: its NOTIFYs are retried in order
until the database takes them (a bounded backlog; beyond it, a full republish), and every republish is a
complete snapshot that replaces what the others hold of this process (a removal missed while deaf goes)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import msgspec
import psycopg
from psycopg import AsyncConnection

from agent_app.protocol import Agent
from chat_server.cluster import schema
from chat_server.hub import Hub
from chat_server.security import new_id
from chat_server.storage.writes import INSERT_VISITOR_FRAME

log = logging.getLogger(__name__)

MAX_NOTIFY = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
CATCH_UP_ROWS = 5000  # per round: a far-behind connection does not hold the loop for long
VISITOR_FRAMES_KEEP_SECONDS = 300.0
HELLO = "hello"  # a shared-state message: "publish all your ephemeral state again"
# Shared-state payloads kept for retry while the database does not take them (a few minutes of a busy
# site); beyond this the oldest go and a full republish replaces them once the database is back.
MAX_BACKLOG = 5000


class Health(msgspec.Struct, kw_only=True):
    """What GET /healthz reports: ok only when a canary sent by this process came back recently."""

    status: str
    events_flow: bool
    last_canary_age_s: float | None
    listening: bool
    leader: bool
    process_id: str
    processes: int
    listener_connects: int  # > 1: the listener was replaced (engine restart, or a silent one)


class ClusterNode:
    def __init__(
        self,
        dsn: str,
        hub: Hub,
        *,
        address: str = "",
        write_in_batch: Callable[[str, tuple[Any, ...]], None] | None = None,
        read: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]] | None = None,
        own_backend: Callable[[], int] | None = None,
        sweep_seconds: float = 1.0,
        canary_timeout: float = 5.0,
        process_ttl: float = 10.0,
        on_lead: Callable[[], Awaitable[None]] | None = None,
        on_follow: Callable[[], None] | None = None,
        leader_tick: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.dsn = dsn
        self.hub = hub
        self.address = address
        self.process_id = new_id()
        # Runs SQL in the storage's open write transaction: a visitor frame row commits with its message.
        self.write_in_batch = write_in_batch
        self.read = read  # a committed read on the storage's own (sync) connection: ``?`` placeholders
        self.own_backend = own_backend  # the pid of the storage's write connection's backend
        self.sweep_seconds = sweep_seconds
        self.canary_timeout = canary_timeout
        self.process_ttl = process_ttl
        self.on_lead = on_lead
        self.on_follow = on_follow
        self.leader_tick = leader_tick
        self.leader = False
        self.listening = False
        self.processes = 0
        self.last_canary_at: float | None = None  # monotonic time the last own canary came back
        self.resyncs = 0  # listener (re)connections, each followed by a full catch-up
        self._canary_sent = 0
        self._q: AsyncConnection[Any] | None = None  # queries, heartbeats, canaries, ephemeral NOTIFYs
        self._lease: AsyncConnection[Any] | None = None  # holds the leader lock while it lives
        self._listener: AsyncConnection[Any] | None = None
        self._remote_online: set[str] = set()
        self._written: dict[str, int] = {}  # this process's cluster_presence rows as last written
        self._visitor_n = 0  # the last visitor_frames row looked at
        self._tasks: list[asyncio.Task[None]] = []  # the listen loop first
        self._dying: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._canary_back = asyncio.Event()
        self._outbox: deque[tuple[str, bool]] = deque()  # (payload, shared state: retried until sent)
        self._outbox_ready = asyncio.Event()
        self._resync_due = False  # shared-state payloads were dropped: republish everything instead
        self._stopping = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        q = await self._query_conn()
        async with q.transaction():
            await q.execute("SELECT pg_advisory_xact_lock(%s)", (schema.SCHEMA_LOCK,))  # one DDL at a time
            await q.execute(schema.SCHEMA)
            now = await self._now(q)
            await q.execute(
                "INSERT INTO cluster_processes VALUES (%s, %s, %s, %s)",
                (self.process_id, self.address, now, now),
            )
            row = await (await q.execute("SELECT coalesce(max(n), 0) FROM visitor_frames")).fetchone()
            self._visitor_n = int(row[0]) if row else 0
        self.hub.peers = self
        for job in (self._listen_loop(), self._sweep_loop(), self._pump(), self._publisher()):
            self._tasks.append(asyncio.create_task(job))
        await self._hold_lease()  # the first process up leads at once: no second without timers
        await self._first_canary()

    async def _first_canary(self, wait: float = 5.0) -> None:
        """Ready = notifications flow: the first canary went round (else start degraded; /healthz says so)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self.last_canary_at is None and loop.time() < deadline:
            if self.listening:
                await self._send_canary(await self._query_conn())
            with suppress(TimeoutError):  # (not listening yet: the listen loop is connecting)
                await asyncio.wait_for(self._canary_back.wait(), 0.05)

    async def _send_canary(self, q: AsyncConnection[Any]) -> None:
        self._canary_sent += 1
        await q.execute("SELECT pg_notify(%s, %s)", (schema.CANARY, f"{self.process_id}:{self._canary_sent}"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.hub.peers is self:
            self.hub.peers = None
        with suppress(Exception):  # a clean exit frees its rows at once (a killed process's expire)
            if self._q is not None:
                await self._q.execute("DELETE FROM cluster_presence WHERE process_id=%s", (self.process_id,))
                await self._q.execute("DELETE FROM cluster_processes WHERE process_id=%s", (self.process_id,))
        for conn in (self._listener, self._lease, self._q):
            if conn is not None:
                with suppress(Exception):
                    await conn.close()
        self._listener = self._lease = self._q = None

    # ------------------------------------------------------------ health

    def health(self) -> Health:
        age = None if self.last_canary_at is None else round(time.monotonic() - self.last_canary_at, 3)
        flowing = self.listening and age is not None and age <= self.canary_timeout
        return Health(
            status="ok" if flowing else "degraded", events_flow=flowing, last_canary_age_s=age,
            listening=self.listening, leader=self.leader, process_id=self.process_id,
            processes=self.processes, listener_connects=self.resyncs,
        )  # fmt: skip

    # ------------------------------------------------------------ Hub.peers

    def wake(self) -> None:
        self._wake.set()

    def online_elsewhere(self, agent_id: str) -> bool:
        return agent_id in self._remote_online

    def refresh_online(self) -> None:
        """Who is connected to another live process, read now (committed): a snapshot or a routing
        decision must not use a view older than the events it is sent with."""
        if self.read is None:
            return
        rows = self.read(
            "SELECT DISTINCT p.agent_id FROM cluster_presence p JOIN cluster_processes c USING (process_id) "
            "WHERE p.process_id <> ? AND p.connections > 0 "
            "AND c.heartbeat_at > extract(epoch from clock_timestamp()) - ?",
            (self.process_id, self.process_ttl),
        )
        self._remote_online = {str(r[0]) for r in rows}

    def local_presence(self, agent_id: str, connections: int) -> None:
        """This process's connections of an agent, written with the presence event that announces them (same
        transaction): whoever sees the event also sees the row."""
        if self.write_in_batch is None:
            return
        if connections:
            self.write_in_batch(
                "INSERT INTO cluster_presence VALUES (?, ?, ?) "
                "ON CONFLICT (process_id, agent_id) DO UPDATE SET connections = excluded.connections",
                (self.process_id, agent_id, connections),
            )
        else:
            self.write_in_batch(
                "DELETE FROM cluster_presence WHERE process_id = ? AND agent_id = ?",
                (self.process_id, agent_id),
            )
        self._written[agent_id] = connections

    def _stale_presence(self) -> dict[str, int]:
        """Agent -> this process's connections, for each presence row that no longer says so."""
        now = {a: len(c) for a, c in self.hub.agent_conns.items() if c}
        stale = {a: n for a, n in now.items() if self._written.get(a) != n}
        stale.update({a: 0 for a, n in self._written.items() if n and a not in now})
        return stale

    async def _repair_presence(self) -> None:
        """The rows match this process's connections again (a batch that failed took its row with it)."""
        if not self._stale_presence() or self.write_in_batch is None:
            return
        storage = self.hub.storage
        await storage.write_ready()  # waits for the writer lock without blocking the loop
        with storage.savepoint():  # what is stale now: agents came and went while it waited
            for agent_id, connections in self._stale_presence().items():
                self.local_presence(agent_id, connections)
        await storage.commit()

    def to_visitor(self, visitor_id: str, frame: bytes, *, after_commit: bool) -> None:
        if after_commit and self.write_in_batch is not None:
            # Same transaction as the message: committed (and rung) together, in commit order, or not at all.
            self.write_in_batch(
                INSERT_VISITOR_FRAME,
                (self.process_id, visitor_id, frame, time.time()),
            )
            return
        body = {"v": visitor_id, "f": frame.decode()}
        if after_commit:  # without a batch hook: a NOTIFY once committed (lost if this process dies first)
            self.hub.storage.after_commit(lambda: self._publish(body))
        else:
            self._publish(body)

    def to_agents_now(self, agent_ids: list[str], frame: bytes) -> None:
        if agent_ids:
            self._publish({"a": agent_ids, "f": frame.decode()})

    def share(self, kind: str, body: dict[str, Any]) -> None:
        """Ephemeral state of this process (live visits, viewers) for ``Hub.shared[kind]`` elsewhere."""
        self._publish({**body, "k": kind})

    def _republish(self) -> None:
        for state in self.hub.shared.values():
            state.republish()

    def _publish(self, body: dict[str, Any]) -> None:
        body["o"] = self.process_id
        payload = json.dumps(body, separators=(",", ":"))
        if len(payload.encode()) > MAX_NOTIFY:  # ephemeral (typing): better lost than late
            log.debug(
                "ephemeral frame too big for NOTIFY (%d bytes), not sent to other processes", len(payload)
            )
            return
        self._outbox.append((payload, "k" in body))
        self._trim_outbox()
        self._outbox_ready.set()

    def _trim_outbox(self) -> None:
        while len(self._outbox) > MAX_BACKLOG:
            _, shared = self._outbox.popleft()
            self._resync_due = self._resync_due or shared

    def _resync(self) -> None:
        """The backlog overflowed: what is left of it is replaced by a snapshot of this process's state
        (which replaces the others' copy), and a HELLO (one of ours may have been among those dropped)."""
        self._resync_due = False
        log.warning("shared-state backlog over %d messages: republishing everything instead", MAX_BACKLOG)
        self._outbox = deque(item for item in self._outbox if not item[1])
        self._publish({"k": HELLO})
        self._republish()

    async def _publisher(self) -> None:
        """Sends the outbox in order. A shared-state payload that fails stays first and is tried again
        after a pause (it may be the only news that a visitor left); frames and typing are not retried
        (better lost than late)."""
        failures = 0
        while True:
            if self._resync_due:
                self._resync()
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            payload, shared = self._outbox.popleft()
            try:
                q = await self._query_conn()
                await q.execute("SELECT pg_notify(%s, %s)", (schema.NOW, payload))
                failures = 0
            except (psycopg.Error, OSError) as exc:
                await self._reset_query_conn()
                if not shared:
                    log.debug("ephemeral publish failed: %s", exc)
                    continue
                failures += 1
                log.debug("shared-state publish failed (attempt %d), retrying: %s", failures, exc)
                # Frames queued meanwhile would be late once the database is back: dropped, as they
                # would have been had they been tried now.
                self._outbox = deque(item for item in self._outbox if item[1])
                self._outbox.appendleft((payload, shared))
                self._trim_outbox()
                # Jittered exponential backoff: no hot loop while the database is down.
                await asyncio.sleep(random.uniform(0.5, 1.0) * min(2.0, 0.05 * 2**failures))

    # ------------------------------------------------------------ connections

    async def _connect(self, role: str = "cluster") -> AsyncConnection[Any]:
        return await AsyncConnection.connect(
            self.dsn, autocommit=True, connect_timeout=3, application_name=f"sdr-{role}-{self.process_id}"
        )

    async def _query_conn(self) -> AsyncConnection[Any]:
        if self._q is None or self._q.closed:
            self._q = await self._connect()
        return self._q

    async def _reset_query_conn(self) -> None:
        conn, self._q = self._q, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()

    @staticmethod
    async def _now(q: AsyncConnection[Any]) -> float:
        """The database's clock: processes compare heartbeats with one clock, not each its own."""
        row = await (await q.execute("SELECT extract(epoch from clock_timestamp())::float8")).fetchone()
        assert row is not None
        return float(row[0])

    # ------------------------------------------------------------ the listener

    async def _listen_loop(self) -> None:
        failures = 0
        while True:
            conn: AsyncConnection[Any] | None = None
            try:
                conn = self._listener = await self._connect("listener")
                for channel in schema.CHANNELS:
                    await conn.execute(f"LISTEN {channel}")
                self.listening = True
                failures = 0
                self.resyncs += 1
                self._wake.set()  # whatever was committed while we were deaf: read it from the log
                # Ephemeral state has no log: every process publishes all of its own again (and so do we).
                self._publish({"k": HELLO})
                self._republish()
                async for note in conn.notifies():
                    self._on_notify(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.listening:
                    log.warning("notification listener lost (%s); reconnecting", exc)
            finally:
                if conn is not None and self._listener is conn:  # (a replaced loop leaves its successor be)
                    self.listening = False
                    self._listener = None
                if conn is not None:
                    with suppress(Exception):
                        await conn.close()
            failures += 1
            # Full-jitter exponential backoff: a restarted database is not stampeded by every process.
            await asyncio.sleep(random.uniform(0, min(2.0, 0.05 * 2**failures)))

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel in (schema.EVENTS, schema.VISITORS):
            if self.own_backend is None or payload != str(self.own_backend()):
                self._wake.set()
        elif channel == schema.CANARY:
            if payload.startswith(self.process_id + ":"):
                self.last_canary_at = time.monotonic()
                self._canary_back.set()
        elif channel == schema.NOW:
            try:
                body = json.loads(payload)
            except ValueError:
                return
            if body.get("o") == self.process_id:
                return
            if "k" in body:
                self._on_shared(str(body["o"]), str(body["k"]), body)
                return
            frame = str(body.get("f", "")).encode()
            if "v" in body:
                self.hub.visitor_frame_from_peer(str(body["v"]), frame)
            elif "a" in body:
                self.hub.agents_frame_from_peer([str(a) for a in body["a"]], frame)

    def _on_shared(self, origin: str, kind: str, body: dict[str, Any]) -> None:
        if kind == HELLO:
            self._republish()
            return
        state = self.hub.shared.get(kind)
        if state is not None:
            try:
                state.from_peer(origin, body)
            except Exception:  # one bad message must not stop the listener
                log.exception("shared state %r from %s not applied", kind, origin)

    # ------------------------------------------------------------ catching up from the log

    async def _pump(self) -> None:
        """Coalesces doorbells: one catch-up at a time, one more if rung meanwhile."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("catch-up failed (%s); the sweep retries", exc)
                await self._reset_query_conn()

    async def catch_up(self) -> None:
        """One query for everything the local agent connections lack (from the lowest seq any connection of
        an agent was sent), sent in order; ``Hub.send_event`` skips what a connection has already."""
        q = await self._query_conn()
        floors: dict[str, int] = {}
        for agent_id, conns in self.hub.agent_conns.items():
            sent = [self.hub.sent[ws] for ws in conns if ws in self.hub.sent]
            if sent:
                floors[agent_id] = min(sent)
        if floors:
            cur = await q.execute(
                "SELECT e.agent_id, e.seq, e.frame FROM unnest(%s::text[], %s::bigint[]) AS t(a, s) "
                "JOIN events e ON e.agent_id = t.a AND e.seq > t.s ORDER BY e.agent_id, e.seq LIMIT %s",
                (list(floors), list(floors.values()), CATCH_UP_ROWS),
            )
            rows = await cur.fetchall()
            for agent_id, seq, frame in rows:
                for ws in tuple(self.hub.agent_conns.get(agent_id, ())):
                    self.hub.send_event(agent_id, ws, int(seq), bytes(frame))
            if len(rows) == CATCH_UP_ROWS:
                self._wake.set()  # more than one round's worth: go on after the visitors' frames
        cur = await q.execute(
            "SELECT n, origin, visitor_id, frame FROM visitor_frames WHERE n > %s ORDER BY n LIMIT 10000",
            (self._visitor_n,),
        )
        for n, origin, visitor_id, frame in await cur.fetchall():
            self._visitor_n = int(n)
            if origin != self.process_id:  # this process delivered its own frames after commit
                self.hub.visitor_frame_from_peer(str(visitor_id), bytes(frame))

    # ------------------------------------------------------------ sweep: heartbeat, canary, lease

    async def _sweep_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self.sweep_seconds)
            ticks += 1
            try:
                await self.sweep(ticks)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster sweep failed: %s", exc)
                await self._reset_query_conn()
                await self._lose_lease()

    async def sweep(self, ticks: int = 0) -> None:
        q = await self._query_conn()
        await self._send_canary(q)
        await self._heartbeat(q)
        self._wake.set()  # the sweep: anything a lost doorbell did not bring
        self._watch_listener()
        await self._hold_lease()
        if self.leader:
            await self._expire_processes(q)
            if ticks % 60 == 0:
                await q.execute(
                    "DELETE FROM visitor_frames WHERE at < %s", (time.time() - VISITOR_FRAMES_KEEP_SECONDS,)
                )
            if self.leader_tick is not None:
                await self.leader_tick()

    def _watch_listener(self) -> None:
        """Sockets up but nothing delivered (Chatwoot #14703): our own canaries stopped coming back while
        sending them works, so the listener is replaced (and everyone caught up from the log)."""
        started = self.last_canary_at
        if not self.listening or self._listener is None:
            return
        age = None if started is None else time.monotonic() - started
        if self._canary_sent > 1 and (age is None or age > self.canary_timeout):
            log.warning("no canary for %s s: reconnecting the notification listener", age)
            self.last_canary_at = time.monotonic()  # one reconnect per timeout, not per sweep
            self.listening = False
            old = self._tasks[0]  # the listen loop: cancelled (its finally closes the connection), restarted
            old.cancel()
            self._dying.add(old)
            old.add_done_callback(self._dying.discard)
            self._tasks[0] = asyncio.create_task(self._listen_loop())

    async def _heartbeat(self, q: AsyncConnection[Any]) -> None:
        now = await self._now(q)
        cur = await q.execute(
            "INSERT INTO cluster_processes VALUES (%s, %s, %s, %s) ON CONFLICT (process_id) "
            "DO UPDATE SET heartbeat_at = excluded.heartbeat_at, address = excluded.address "
            "RETURNING xmax = 0",
            (self.process_id, self.address, now, now),
        )
        row = await cur.fetchone()
        if row is not None and row[0]:
            await self._revived()
        await self._repair_presence()
        self.refresh_online()
        cur = await q.execute(
            "SELECT process_id FROM cluster_processes WHERE heartbeat_at > %s", (now - self.process_ttl,)
        )
        alive = {str(r[0]) for r in await cur.fetchall()}
        self.processes = len(alive)
        alive.add(self.process_id)
        for state in self.hub.shared.values():  # a killed process's visitors and viewers go with it
            state.peers_alive(alive)

    async def _revived(self) -> None:
        """Our row was gone: the leader took this process for dead (its loop stalled longer than the
        heartbeat's lifetime) and told everyone its agents went offline. Write the presence rows again and
        say who is online here."""
        log.warning("this process was expired by the leader (stalled?): announcing its agents again")
        self._written.clear()
        await self._repair_presence()
        self._republish()  # the others dropped our live visitors and viewers with our row
        if any(conns and a in self.hub.agents for a, conns in self.hub.agent_conns.items()):
            storage = self.hub.storage
            await storage.write_ready()  # waits for the writer lock without blocking the loop
            local = [  # who is here now: agents came and went while it waited
                self.hub.agents[a]
                for a, conns in self.hub.agent_conns.items()
                if conns and a in self.hub.agents
            ]
            with storage.savepoint():
                for agent in local:
                    self.hub.broadcast_presence(agent)
            await storage.commit()

    async def _expire_processes(self, q: AsyncConnection[Any]) -> None:
        """The leader forgets processes that stopped heartbeating (killed): their agents go offline unless
        connected elsewhere, and every desk is told."""
        now = await self._now(q)
        async with q.transaction():
            cur = await q.execute(
                "DELETE FROM cluster_processes WHERE heartbeat_at < %s RETURNING process_id",
                (now - self.process_ttl,),
            )
            dead = [str(r[0]) for r in await cur.fetchall()]
            if not dead:
                return
            cur = await q.execute(
                "DELETE FROM cluster_presence WHERE process_id = ANY(%s) RETURNING agent_id", (dead,)
            )
            orphans = {str(r[0]) for r in await cur.fetchall()}
        log.warning("processes %s stopped heartbeating; presence of %d agents expired", dead, len(orphans))
        self.refresh_online()  # who is online elsewhere now, before telling anyone
        if self._offline(orphans):
            storage = self.hub.storage
            await storage.write_ready()  # waits for the writer lock without blocking the loop
            with storage.savepoint():
                for agent in self._offline(orphans):  # again: some may have connected while it waited
                    self.hub.broadcast_presence(agent)
            await storage.commit()

    def _offline(self, agent_ids: set[str]) -> list[Agent]:
        """Those of the agents that are online nowhere (as this process knows them now)."""
        known = [self.hub.agents[a] for a in agent_ids if a in self.hub.agents]
        return [a for a in known if not self.hub.agent_view(a).online]

    async def _hold_lease(self) -> None:
        """Leader = holder of a session advisory lock: it dies with the process (or its connection), and
        the next sweep of another process takes it over."""
        try:
            if self._lease is None or self._lease.closed:
                self._lease = await self._connect("lease")
            if self.leader:
                await self._lease.execute("SELECT 1")
                return
            cur = await self._lease.execute("SELECT pg_try_advisory_lock(%s)", (schema.LEADER_LOCK,))
            row = await cur.fetchone()
            if row and row[0]:
                self.leader = True
                log.info("process %s leads the cluster (timers, expiry)", self.process_id)
                if self.on_lead is not None:
                    await self.on_lead()
        except (psycopg.Error, OSError) as exc:
            log.warning("leader lease lost: %s", exc)
            await self._lose_lease()

    async def _lose_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            with suppress(Exception):
                await lease.close()
        if self.leader:
            self.leader = False
            if self.on_follow is not None:
                self.on_follow()
