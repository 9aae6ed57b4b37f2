"""/healthz tells whether events flow end to end (a canary), and a deaf listener is replaced."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import psycopg

from agent_app import protocol as p
from tests.cluster.conftest import Cluster, provision
from tests.cluster.pgserver import PgServer
from tests.cluster.procs import ServerProcess
from tests.server.conftest import Client, cid


async def health_becomes(
    proc: ServerProcess, code: int, wait: float = 20.0, **fields: object
) -> dict[str, Any]:
    """Polls /healthz (a monitor does the same) until it answers ``code`` with ``fields``."""
    async with asyncio.timeout(wait):
        while True:
            try:
                answer, body = await proc.health()
            except OSError:
                answer, body = 0, {}
            if answer == code and all(body.get(k) == v for k, v in fields.items()):
                return body
            await asyncio.sleep(0.2)


async def message(client: Client, text: str, wait: float = 10.0) -> p.EventFrame:
    return await client.event(p.MessageCreated, wait, message=_Text(text))


class _Text:
    """Matches a Message by its text (Client.event compares attributes with ==)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return getattr(other, "text", None) == self.text

    __hash__ = None  # type: ignore[assignment]


async def test_healthz_degraded_while_the_database_is_down_and_ok_after(
    cluster: Cluster, pg: PgServer
) -> None:
    provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    await health_becomes(a, 200, status="ok", events_flow=True, processes=2)
    await health_becomes(b, 200, status="ok")

    await asyncio.to_thread(pg.stop)
    for proc in (a, b):  # the websocket server is up, but nothing committed could reach anyone
        body = await health_becomes(proc, 503, status="degraded", events_flow=False)
    await asyncio.to_thread(pg.start)
    for proc in (a, b):
        body = await health_becomes(proc, 200, status="ok", events_flow=True)
        assert body["listener_connects"] >= 2  # a new listener, and a resync from the log


async def test_a_deaf_listener_is_replaced_and_nothing_is_lost(cluster: Cluster, pg: PgServer) -> None:
    """The connection stays open but delivers nothing (Chatwoot #14703): here its backend is frozen."""
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    body = await health_becomes(b, 200, status="ok")
    agent, _ = await cluster.agent(b.url, staff.manager.email)
    visitor, _ = await cluster.visitor(a.url)
    await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="before"))
    await message(agent, "before")

    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (f"sdr-listener-{body['process_id']}",),
        ).fetchone()
    assert row is not None, conn_names(cluster.dsn)
    os.kill(row[0], signal.SIGSTOP)
    try:
        # Delivery goes on meanwhile (the sweep reads the log every second) ...
        await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="while deaf"))
        await message(agent, "while deaf", wait=5)
        # ... and the canary notices the silence: a new listener, then ok again.
        body = await health_becomes(b, 200, wait=30, status="ok", listener_connects=2)
    finally:
        os.kill(row[0], signal.SIGCONT)
    await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="after"))
    frame = await message(agent, "after", wait=5)
    assert frame.seq > 0


def conn_names(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity").fetchall()]
