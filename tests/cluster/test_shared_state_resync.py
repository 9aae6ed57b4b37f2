"""Live visitors and viewers (ephemeral state with no log) stay right across processes when notifications
are lost: a shared-state NOTIFY that fails is retried, and a republish replaces what the others held."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from types import SimpleNamespace
from typing import Any, cast

import psycopg
import pytest
from psycopg import AsyncConnection

from agent_app import protocol as p
from chat_server.cluster import node as node_module
from chat_server.cluster import schema
from chat_server.cluster.node import ClusterNode
from chat_server.hub import Hub
from tests.cluster.conftest import Cluster, provision
from tests.cluster.pgserver import PgServer
from tests.cluster.procs import ServerProcess
from tests.cluster.test_health import conn_names, health_becomes
from tests.cluster.test_live_across import LiveList, chat_seen_on_two_processes, viewers_become
from tests.server.conftest import cid

GRACE = {"live_grace_seconds": 0.2}  # a closed widget leaves the list at once (no page-load grace)


async def shared_payloads(listener: AsyncConnection[Any], count: int) -> list[dict[str, Any]]:
    """The next ``count`` shared-state messages on the NOW channel (frames are skipped)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        async for note in listener.notifies():
            body = json.loads(note.payload)
            if "k" in body:
                found.append(body)
                if len(found) == count:
                    return found
    raise AssertionError(f"the listener stopped: {found}")


async def test_a_shared_state_notify_that_fails_is_retried_in_order(dsn: str) -> None:
    hub = cast(Hub, SimpleNamespace(shared={}, peers=None))
    node = ClusterNode(dsn, hub)
    async with await AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(f"LISTEN {schema.NOW}")
        publisher = asyncio.create_task(node._publisher())
        try:
            node.share("live", {"gone": ["v1"]})  # goes through: the query connection is up
            assert [b["gone"] for b in await shared_payloads(listener, 1)] == [["v1"]]
            # The query connection dies (a database restart, a proxy's idle cut): the next NOTIFY fails.
            name = f"sdr-cluster-{node.process_id}"
            async with await AsyncConnection.connect(dsn, autocommit=True) as admin:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (name,),
                )
                await gone(admin, name)
            node.share("live", {"gone": ["v2"]})  # fails once, then goes on a new connection
            node.to_agents_now(["a1"], b"{}")  # (a frame: best effort)
            node.share("live", {"gone": ["v3"]})
            assert [b["gone"] for b in await shared_payloads(listener, 2)] == [["v2"], ["v3"]]
        finally:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
            await node.stop()


class Recorder:
    """A ``Hub.shared`` state that notes its republishes."""

    def __init__(self) -> None:
        self.republished = 0

    def from_peer(self, origin: str, body: dict[str, Any]) -> None:
        pass

    def republish(self) -> None:
        self.republished += 1

    def peers_alive(self, process_ids: set[str]) -> None:
        pass


class DownDatabase:
    """A query connection whose every NOTIFY fails (the database is down), noting what was tried."""

    def __init__(self) -> None:
        self.tried: list[dict[str, Any]] = []
        self.twice = asyncio.Event()

    async def execute(self, sql: str, params: tuple[str, str]) -> None:
        self.tried.append(json.loads(params[1]))
        if len(self.tried) >= 2:
            self.twice.set()
        raise psycopg.OperationalError("the database system is shutting down")


async def test_a_backlog_too_long_is_replaced_by_a_full_republish(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database stays down: the shared-state backlog is bounded, and what is dropped is made good by
    a HELLO and a snapshot of this process's state (retried like the rest until the database is back)."""
    monkeypatch.setattr(node_module, "MAX_BACKLOG", 3)
    state, down = Recorder(), DownDatabase()
    hub = cast(Hub, SimpleNamespace(shared={"live": state}, peers=None))
    node = ClusterNode("host=127.0.0.1 dbname=unused", hub)

    async def query_conn() -> DownDatabase:
        return down

    monkeypatch.setattr(node, "_query_conn", query_conn)
    for n in range(5):
        node.share("live", {"gone": [f"v{n}"]})
    publisher = asyncio.create_task(node._publisher())
    try:
        async with asyncio.timeout(10):
            await down.twice.wait()
    finally:
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
    assert state.republished == 1
    assert down.tried[:2] == [{"k": "hello", "o": node.process_id}] * 2, down.tried


async def gone(admin: AsyncConnection[Any], application_name: str) -> None:
    """Polls until no backend of that name is left (a terminated backend exits soon after the signal)."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    async with asyncio.timeout(10):
        while True:
            row = await (await admin.execute(sql, (application_name,))).fetchone()
            if row is not None and row[0] == 0:
                return
            await asyncio.sleep(0.02)


async def listener_backend(dsn: str, process_id: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (f"sdr-listener-{process_id}",)
        ).fetchone()
    assert row is not None, conn_names(dsn)
    return int(row[0])


async def deaf_while(cluster: Cluster, proc: ServerProcess) -> int:
    """Freezes ``proc``'s listener backend: the connection stays open, nothing is delivered (until the
    canary notices and replaces it). Returns the backend's pid (to be continued)."""
    body = await health_becomes(proc, 200, status="ok", listener_connects=1)
    pid = await listener_backend(cluster.dsn, str(body["process_id"]))
    os.kill(pid, signal.SIGSTOP)
    return pid


async def watching_on_both(cluster: Cluster) -> tuple[ServerProcess, ServerProcess, LiveList, LiveList]:
    """Processes A and B, a manager on each with the live list open: (A, B, B's list, A's list)."""
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(**GRACE), await cluster.spawn(**GRACE)
    on_b, _ = await cluster.agent(b.url, staff.manager.email)
    on_a, _ = await cluster.agent(a.url, staff.manager.email)
    far, near = LiveList(on_b), LiveList(on_a)
    await far.start()
    await near.start()
    return a, b, far, near


async def test_a_visitor_who_leaves_while_the_database_restarts_leaves_the_list_elsewhere(
    cluster: Cluster, pg: PgServer
) -> None:
    a, _, far, near = await watching_on_both(cluster)
    visitor, welcome = await cluster.visitor(a.url)
    visitor_id = welcome.visitor.id
    await far.until("the visitor on A", lambda rows: visitor_id in rows)
    await near.until("the visitor on A", lambda rows: visitor_id in rows)

    await asyncio.to_thread(pg.stop)
    await health_becomes(a, 503, status="degraded")
    await visitor.close()
    # A saw her go (and tried to tell B) while it could not publish.
    await near.until("her row gone on A", lambda rows: visitor_id not in rows)
    await asyncio.to_thread(pg.start)
    await far.until("her row gone on B", lambda rows: visitor_id not in rows, wait=30)


async def test_a_visitor_who_leaves_while_bs_listener_is_deaf_leaves_bs_list(cluster: Cluster) -> None:
    a, b, far, near = await watching_on_both(cluster)
    visitor, welcome = await cluster.visitor(a.url)
    staying, other = await cluster.visitor(a.url)  # one who stays: the snapshot does not drop her
    await far.until("both visitors on A", lambda rows: {welcome.visitor.id, other.visitor.id} <= set(rows))

    pid = await deaf_while(cluster, b)
    try:
        await visitor.close()
        await near.until("her row gone on A", lambda rows: welcome.visitor.id not in rows)
        # B's canary stops coming back: a new listener (which missed A's "gone"), and a HELLO.
        await health_becomes(b, 200, wait=30, status="ok", listener_connects=2)
    finally:
        os.kill(pid, signal.SIGCONT)
    await far.until("her row gone on B", lambda rows: welcome.visitor.id not in rows, wait=15)
    assert other.visitor.id in far.rows
    await staying.close()


async def test_a_viewer_who_closes_the_chat_while_bs_listener_is_deaf_is_dropped_on_b(
    cluster: Cluster,
) -> None:
    staff = provision(cluster.dsn)
    _, b, manager, sdr, conversation_id = await chat_seen_on_two_processes(
        cluster, staff.manager.email, staff.sdr1.email
    )

    both = sorted([staff.manager.id, staff.sdr1.id])
    await manager.ok(p.SetViewing(id=cid("v1"), conversation_id=conversation_id))
    answer = await sdr.ok(p.SetViewing(id=cid("v2"), conversation_id=conversation_id))
    if answer["agent_ids"] != both:  # (the manager's viewing may still be on its way to B)
        await viewers_become(sdr, conversation_id, both)
    await viewers_become(manager, conversation_id, both)

    pid = await deaf_while(cluster, b)
    try:
        await manager.ok(p.SetViewing(id=cid("v3"), conversation_id=None))  # B does not hear it
        await health_becomes(b, 200, wait=30, status="ok", listener_connects=2)
    finally:
        os.kill(pid, signal.SIGCONT)
    await viewers_become(sdr, conversation_id, [staff.sdr1.id], wait=15)
