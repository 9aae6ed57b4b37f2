"""Cluster tests: a throwaway PostgreSQL server, a fresh database per test, real server processes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agent_app import protocol as p
from chat_server.admin import Admin
from chat_server.security import ScryptParams
from tests.cluster.pgserver import PgServer
from tests.cluster.procs import ServerProcess
from tests.server.conftest import PASSWORD, Client, cid, config, open_ws, server, team

__all__ = ["config", "server", "team"]
_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dsn(pg: PgServer) -> Iterator[str]:
    """A database of its own for each test, on the shared throwaway server."""
    name = f"cluster_{next(_dbs)}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield make_conninfo(**{**conninfo_to_dict(pg.dsn), "dbname": name})
    pg.start_if_stopped()
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class Staff:
    manager: p.Agent
    sdr1: p.Agent
    sdr2: p.Agent


def provision(dsn: str) -> Staff:
    from chat_server.storage.pg import PostgresStorage

    storage = PostgresStorage(dsn)
    try:
        admin = Admin(storage, params=ScryptParams(1024, 8, 1))
        return Staff(
            manager=admin.add_agent("maria@example.com", "Maria Manager", PASSWORD, "US", "manager"),
            sdr1=admin.add_agent("sam@example.com", "Sam Sdr", PASSWORD, "US-West", "sdr"),
            sdr2=admin.add_agent("tina@example.com", "Tina Sdr", PASSWORD, "US-East", "sdr"),
        )
    finally:
        storage.close()


@dataclass
class Cluster:
    dsn: str
    tmp: Path
    settings: dict[str, Any] = field(default_factory=dict)
    procs: list[ServerProcess] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)

    async def agent(self, url: str, email: str = "", **resume: Any) -> tuple[Client, p.Welcome]:
        client, welcome = await agent_on(url, email, **resume)
        self.clients.append(client)
        return client, welcome

    async def visitor(self, url: str, token: str = "") -> tuple[Client, p.VisitorWelcome]:
        client, welcome = await visitor_on(url, token)
        self.clients.append(client)
        return client, welcome

    async def spawn(self, **settings: Any) -> ServerProcess:
        proc = ServerProcess(
            self.dsn, self.tmp / f"server{len(self.procs)}.log", **{**self.settings, **settings}
        )
        self.procs.append(proc)  # stopped (and its log closed) at the end even if it fails to start
        await proc.start()
        return proc


@pytest.fixture
async def cluster(dsn: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    # Every visitor here writes from 127.0.0.1 and as fast as it can: the flood caps are not under test.
    running = Cluster(dsn, tmp_path, {"visitor_rate_messages": 100_000, "visitor_connections_per_ip": 0})
    try:
        yield running
    finally:
        for client in running.clients:
            await client.close()
        await asyncio.gather(*(proc.stop() for proc in running.procs))


async def agent_on(url: str, email: str = "", *, token: str = "", epoch: str = "", last_seq: int = 0
                   ) -> tuple[Client, p.Welcome]:  # fmt: skip
    client = await open_ws(url, "/agent")
    hello = p.Hello(id=cid("h"), email=email, password="" if token else PASSWORD, token=token, epoch=epoch,
                    last_seq=last_seq)  # fmt: skip
    await client.send(hello)
    welcome = await client.recv()
    assert isinstance(welcome, p.Welcome), welcome
    return client, welcome


async def visitor_on(url: str, token: str = "") -> tuple[Client, p.VisitorWelcome]:
    client = await open_ws(url, "/visitor")
    await client.send(p.VisitorHello(id=cid("vh"), visitor_token=token))
    welcome = await client.recv()
    assert isinstance(welcome, p.VisitorWelcome), welcome
    return client, welcome
