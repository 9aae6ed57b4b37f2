"""PostgreSQL: waiting for another process's write lock (or for a COMMIT) never freezes the server's loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.storage.base import AgentRecord
from chat_server.storage.pg import WRITE_LOCK, PostgresStorage
from tests.server.conftest import PASSWORD, Client, agent_login, cid, make_config, open_ws, provision


@asynccontextmanager
async def write_lock_held_elsewhere(pg_url: str, failsafe: float = 5.0) -> AsyncIterator[threading.Event]:
    """Another server process in the middle of a batch: a connection in a thread of its own holds WRITE_LOCK
    until the block ends or the yielded event is set. Or until ``failsafe`` seconds passed: a server that
    waits for the lock on its loop freezes the test's loop too (the same one), which then could never let
    go of it; the test fails instead of hanging."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            taken.set()
            release.wait(failsafe)
            conn.execute("COMMIT")

    holder = threading.Thread(target=hold, name="other-process-writer")
    holder.start()
    try:
        assert await asyncio.to_thread(taken.wait, 10), "could not take the write lock"
        yield release
    finally:
        release.set()
        await asyncio.to_thread(holder.join)


async def loop_answers(client: Client) -> None:
    """The server answers a ping on another connection at once: its loop runs while a write waits."""
    started = time.monotonic()
    pong = await client.ws.ping()
    await asyncio.wait_for(pong, 10)
    assert time.monotonic() - started < 2.0, "the server's loop stopped while it waited for the lock"


async def server_waits_for_the_write_lock(pg_url: str) -> None:
    """Returns once a session waits for WRITE_LOCK, seen from the test's loop: proof that the loop runs
    meanwhile (a server that waited on its loop would have frozen this very poll)."""
    watcher = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    try:
        await asyncio.wait_for(_someone_waits_for(watcher, WRITE_LOCK), 10)
    except TimeoutError:
        pytest.fail("the server was never seen waiting for the lock while its loop ran")
    finally:
        await watcher.close()


async def _someone_waits_for(holder: psycopg.AsyncConnection[tuple[Any, ...]], lock: int) -> None:
    """Until a session of the database waits for the advisory lock (polled on the test's own loop)."""
    while True:
        cur = await holder.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype='advisory' AND NOT granted AND objid=%s",
            (lock & 0xFFFFFFFF,),
        )
        row = await cur.fetchone()
        if row is not None and row[0] > 0:
            return
        await asyncio.sleep(0.02)  # polling the database, not hoping: the loop stays ours meanwhile


@pytest.mark.one_storage  # PostgreSQL only, whatever SDR_TEST_STORAGES says (SQLite has no other process)
async def test_a_command_waiting_for_another_processs_write_lock_leaves_the_server_answering(
    tmp_path: Path, pg_url: str
) -> None:
    config = make_config(tmp_path, storage="postgres", database_url=pg_url)
    async with run_server(config) as server:
        provision(server)
        sam, _ = await agent_login(server, "sam@example.com")
        tina, _ = await agent_login(server, "tina@example.com")
        # Another server process in the middle of a batch: it holds the writer lock (async: the test's loop,
        # which is also the server's, must stay free to see what the server does meanwhile).
        other = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        try:
            await other.execute("BEGIN")
            await other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            started = time.monotonic()
            ready = p.SetPresence(id=cid(), presence=p.Presence.AVAILABLE)
            await sam.send(ready)
            watcher = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
            try:
                await asyncio.wait_for(_someone_waits_for(watcher, WRITE_LOCK), 20)
            except TimeoutError:
                pytest.fail("the server was never seen waiting for the lock while its loop ran")
            finally:
                await watcher.close()
            # The server waits for the lock, but its loop is free: another agent's connection answers a
            # ping (the websocket library answers it on the server's loop) ...
            pong = await tina.ws.ping()
            await asyncio.wait_for(pong, 20)
            frozen = time.monotonic() - started
            assert frozen < 2.0, "the server's loop stopped while it waited for the lock"
            # ... and the command is not acked before its batch can be written.
            with pytest.raises(TimeoutError):
                await sam.reply(ready.id, wait=0.2)
            await other.execute("COMMIT")
        finally:
            await other.close()
        answer = await sam.reply(ready.id, wait=10)
        assert isinstance(answer, p.Ack), answer
        assert answer.result["agent"]["presence"] == "available"
        await sam.close()
        await tina.close()


@pytest.fixture
async def on_postgres(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[ChatServer, Client]]:
    """A server on the test's PostgreSQL database, the team provisioned, Tina signed in (the connection
    whose pings prove the loop runs)."""
    config = make_config(tmp_path, storage="postgres", database_url=pg_url)
    async with run_server(config) as server:
        provision(server)
        tina, _ = await agent_login(server, "tina@example.com")
        yield server, tina
        await tina.close()


@pytest.mark.one_storage  # PostgreSQL only
async def test_a_password_sign_in_waiting_for_another_processs_write_lock_leaves_the_server_answering(
    on_postgres: tuple[ChatServer, Client], pg_url: str
) -> None:
    server, tina = on_postgres
    sam = await open_ws(server.url, "/agent")
    async with write_lock_held_elsewhere(pg_url) as release:
        # The sign-in stores the new token: it waits for the batch (the lock) ...
        await sam.send(p.Hello(id=cid("h"), email="sam@example.com", password=PASSWORD))
        await server_waits_for_the_write_lock(pg_url)
        await loop_answers(tina)  # ... while the loop answers another agent's connection
        with pytest.raises(TimeoutError):  # no welcome before the token is stored
            await sam.recv(wait=0.2)
        release.set()
    welcome = await sam.recv(wait=10)
    assert isinstance(welcome, p.Welcome), welcome
    assert welcome.token and welcome.agent.email == "sam@example.com"
    await sam.close()


@pytest.mark.one_storage  # PostgreSQL only
async def test_housekeepings_prune_waits_for_another_processs_write_lock_without_stopping_the_loop(
    on_postgres: tuple[ChatServer, Client], pg_url: str
) -> None:
    server, tina = on_postgres
    async with write_lock_held_elsewhere(pg_url) as release:
        prune = asyncio.ensure_future(server.prune_without_blocking())
        await server_waits_for_the_write_lock(pg_url)
        await loop_answers(tina)
        assert not prune.done()
        release.set()
    await asyncio.wait_for(prune, 10)


@pytest.mark.one_storage  # PostgreSQL only
async def test_the_agent_reload_behind_a_command_waiting_for_the_lock_leaves_the_loop_running(
    on_postgres: tuple[ChatServer, Client], pg_url: str
) -> None:
    server, tina = on_postgres
    sam, _ = await agent_login(server, "sam@example.com")
    async with write_lock_held_elsewhere(pg_url) as release:
        ready = p.SetPresence(id=cid(), presence=p.Presence.AVAILABLE)
        await sam.send(ready)  # its batch's BEGIN waits for the lock in the storage's worker
        await server_waits_for_the_write_lock(pg_url)
        reload = asyncio.ensure_future(server.reload_agents_without_blocking())
        await loop_answers(tina)  # reading agents on the write connection now would wait for that BEGIN
        assert not reload.done()
        release.set()
    await asyncio.wait_for(reload, 10)
    assert isinstance(await sam.reply(ready.id, wait=10), p.Ack)
    await sam.close()


def _agent(agent_id: str) -> AgentRecord:
    return AgentRecord(p.Agent(id=agent_id, name=agent_id, email=f"{agent_id}@example.com"), "x")


async def test_write_ready_waits_for_another_writer_off_the_loop_then_the_batch_is_ours(pg_url: str) -> None:
    first, second = PostgresStorage(pg_url), PostgresStorage(pg_url)
    try:
        with second.savepoint():  # another process's batch, not committed yet: it holds the lock
            second.add_agent(_agent("tina"))
        ready = asyncio.ensure_future(first.write_ready())
        watcher = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        try:  # the loop turns (this very query runs on it) while the worker waits for the lock
            await asyncio.wait_for(_someone_waits_for(watcher, WRITE_LOCK), 10)
        finally:
            await watcher.close()
        assert not ready.done()
        second.commit_now()
        await asyncio.wait_for(ready, 10)
        with first.savepoint():
            seq, _ = first.append_event("sam", 0.0, lambda seq: b"%d" % seq)
        await asyncio.wait_for(first.commit(), 10)
        assert seq == 1 and second.get_agent("tina") is not None
    finally:
        second.close()
        first.close()


async def test_a_sync_write_during_a_commit_in_the_worker_waits_for_it_and_goes_into_the_next_batch(
    pg_url: str,
) -> None:
    storage = PostgresStorage(pg_url)  # commit_delay 0: the group commit is the next callback on the loop
    delivered: list[int] = []
    try:
        await storage.write_ready()
        with storage.savepoint():
            seq, _ = storage.append_event("sam", 0.0, lambda seq: b"%d" % seq)
            storage.after_commit(lambda: delivered.append(seq))
        committed = storage.commit()
        await asyncio.sleep(0)  # the group commit came due: its COMMIT runs in the worker
        assert storage._pending is not None
        with storage.savepoint():  # housekeeping, admin: cannot await; settles the COMMIT first
            assert delivered == [1] and committed.done()
            seq2, _ = storage.append_event("sam", 0.0, lambda seq: b"%d" % seq)
            storage.after_commit(lambda: delivered.append(seq2))
        storage.commit_now()
        assert delivered == [1, 2]
        assert storage.head_seq("sam") == 2
    finally:
        storage.close()


async def test_a_failed_commit_in_the_worker_fails_every_command_of_the_batch(pg_url: str) -> None:
    storage = PostgresStorage(pg_url)
    delivered: list[str] = []
    try:
        await storage.write_ready()
        with storage.savepoint():
            storage.add_agent(_agent("sam"))
            storage.after_commit(lambda: delivered.append("sam"))
        with storage.savepoint():
            # Deferred: it goes out with the COMMIT, in the worker, and fails it (a duplicate key).
            storage.execute_in_batch("INSERT INTO meta VALUES ('epoch', 'again')", ())
        waiters = [storage.commit(), storage.commit()]
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, psycopg.Error) for r in results), results
        assert delivered == [] and storage.get_agent("sam") is None
        await storage.write_ready()  # the next batch starts afresh
        with storage.savepoint():
            storage.add_agent(_agent("sam"))
        await asyncio.wait_for(storage.commit(), 10)
        assert storage.get_agent("sam") is not None
    finally:
        storage.close()
