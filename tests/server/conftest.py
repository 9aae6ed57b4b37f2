"""Chat server test fixtures: a real server on 127.0.0.1:0, real websockets clients; every test runs twice,
on SQLite (a file in tmp_path) and on PostgreSQL (a fresh database in the session's cluster, tests/pg.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from agent_app import protocol as p
from chat_server import ChatServer, Config, run_server

PASSWORD = "correct horse battery"
_ids = itertools.count(1)

# Both storages by default; SDR_TEST_STORAGES=sqlite (or postgres) narrows a local run.
STORAGES = [s for s in os.environ.get("SDR_TEST_STORAGES", "sqlite,postgres").split(",") if s]
# The storage of the running test, for make_config (set by the autouse ``storage_kind`` fixture).
_current: dict[str, str] = {}


def on_both_storages(metafunc: pytest.Metafunc, modules: set[str] | None = None) -> None:
    """Runs a test on each storage when it can have a database (its fixtures include tmp_path: a server, a
    config), is in ``modules`` (file names; None = all) and is not marked ``one_storage`` (command-line or
    config parsing, not the data). Other folders' conftests call it from pytest_generate_tests, with
    ``storage_kind`` imported (the autouse fixture that points make_config at the test's database)."""
    names = metafunc.fixturenames
    if (
        "storage_kind" in names
        and "tmp_path" in names
        and (modules is None or metafunc.definition.path.name in modules)
        and not metafunc.definition.get_closest_marker("one_storage")
    ):
        metafunc.parametrize("storage_kind", STORAGES, indirect=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_storages(metafunc)  # every test in tests/server


@pytest.fixture(autouse=True)
def storage_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    kind = str(getattr(request, "param", "sqlite"))
    url = str(request.getfixturevalue("pg_url")) if kind == "postgres" else ""
    _current.update(kind=kind, url=url)
    try:
        yield kind
    finally:
        _current.clear()


def storage_settings() -> dict[str, str]:
    """Config settings that point at the running test's database (none for SQLite: db_path does)."""
    if _current.get("kind") == "postgres":
        return {"storage": "postgres", "database_url": _current["url"]}
    return {}


def storage_env() -> dict[str, str]:
    """The same as SDR_SERVER_* variables, for servers and CLIs the test runs as subprocesses."""
    return {f"SDR_SERVER_{k.upper()}": v for k, v in storage_settings().items()}


def db_rows(config: Config, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query on the server's database (its own connection, closed again): ``?`` placeholders;
    keep to SQL both speak (decode blobs in Python: CAST(bytea AS TEXT) is hex in PostgreSQL)."""
    if config.storage == "postgres":
        with psycopg.connect(config.database_url, autocommit=True) as pg:
            return list(pg.execute(sql.replace("?", "%s"), params or None).fetchall())
    with contextlib.closing(sqlite3.connect(config.db_path)) as conn:
        return list(conn.execute(sql, params).fetchall())


def cid(prefix: str = "c") -> str:
    return f"{prefix}{next(_ids)}"


class Client:
    """A protocol client that waits on frames with timeouts (never sleep-and-hope)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[p.EventFrame] = []
        self.others: list[Any] = []

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else p.encode(frame))

    async def recv(self, wait: float = 5.0) -> Any:
        raw = await asyncio.wait_for(self.ws.recv(), wait)
        return p.decode_server_frame(raw)

    async def reply(self, ref: str, wait: float = 5.0) -> p.Ack | p.Error:
        """Reads until the Ack/Error for ``ref``; events seen meanwhile are kept in ``self.events``."""
        while True:
            frame = await self.recv(wait)
            if isinstance(frame, p.Ack | p.Error) and frame.ref == ref:
                return frame
            self._keep(frame)

    def _keep(self, frame: Any) -> None:
        (self.events if isinstance(frame, p.EventFrame) else self.others).append(frame)

    async def call(self, frame: Any, wait: float = 5.0) -> p.Ack | p.Error:
        await self.send(frame)
        return await self.reply(frame.id, wait)

    async def ok(self, frame: Any) -> dict[str, Any]:
        answer = await self.call(frame)
        assert isinstance(answer, p.Ack), answer
        return answer.result

    async def event(self, kind: type[Any], wait: float = 5.0, **match: Any) -> p.EventFrame:
        """The next event of this kind (matching attributes); consumes buffered events first."""
        for i, frame in enumerate(self.events):
            if isinstance(frame.event, kind) and all(getattr(frame.event, k) == v for k, v in match.items()):
                del self.events[: i + 1]
                return frame
        self.events.clear()
        while True:
            frame = await self.recv(wait)
            if isinstance(frame, p.EventFrame) and isinstance(frame.event, kind):
                if all(getattr(frame.event, k) == v for k, v in match.items()):
                    return frame
            elif not isinstance(frame, p.EventFrame):
                self.others.append(frame)

    async def frame_of(self, kind: type[Any], wait: float = 5.0) -> Any:
        for i, frame in enumerate(self.others):
            if isinstance(frame, kind):
                return self.others.pop(i)
        while True:
            frame = await self.recv(wait)
            if isinstance(frame, kind):
                return frame
            self._keep(frame)

    async def closed_code(self, wait: float = 5.0) -> int | None:
        async def drain() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for _ in self.ws:  # keep reading: a full receive queue would stall the close
                    pass

        await asyncio.wait_for(drain(), wait)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Team:
    manager: p.Agent
    sdr1: p.Agent
    sdr2: p.Agent


async def open_ws(url: str, path: str, **kwargs: Any) -> Client:
    ws = await connect(url + path, subprotocols=[p.SUBPROTOCOL], open_timeout=5, **kwargs)  # type: ignore[list-item]
    return Client(ws)


async def agent_login(
    server: ChatServer, email: str, *, token: str = "", epoch: str = "", last_seq: int = 0
) -> tuple[Client, p.Welcome]:
    client = await open_ws(server.url, "/agent")
    password = "" if token else PASSWORD
    hello = p.Hello(id=cid("h"), email=email, password=password, token=token, epoch=epoch, last_seq=last_seq)
    await client.send(hello)
    welcome = await client.recv()
    assert isinstance(welcome, p.Welcome), welcome
    return client, welcome


async def visitor_login(
    server: ChatServer, token: str = "", **kwargs: Any
) -> tuple[Client, p.VisitorWelcome]:
    client = await open_ws(server.url, "/visitor")
    await client.send(p.VisitorHello(id=cid("vh"), visitor_token=token, **kwargs))
    welcome = await client.recv()
    assert isinstance(welcome, p.VisitorWelcome), welcome
    return client, welcome


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    # The core is tested without the bot playbook/routing/SLA clock (tests/playbook/ covers those).
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "db_path": str(tmp_path / "chat.sqlite3"),
        "playbook": "off",
        **storage_settings(),
    }
    values.update(overrides)
    return Config(**values)


def provision(server: ChatServer) -> Team:
    add = server.admin.add_agent
    return Team(
        manager=add("maria@example.com", "Maria Manager", PASSWORD, "US", "manager"),
        sdr1=add("sam@example.com", "Sam Sdr", PASSWORD, "US-West", "sdr"),
        sdr2=add("tina@example.com", "Tina Sdr", PASSWORD, "US-East", "sdr"),
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def server(config: Config) -> AsyncIterator[ChatServer]:
    async with run_server(config) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)
