"""Issue 10: bounded writes (1013), any frame gets an error, absolute hello deadline and connection caps,
no ack of a rolled-back batch, a per-visitor rate limit."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from agent_app import protocol as p
from chat_server import ChatServer, Config, run_server
from chat_server.storage.errors import STORAGE_ERRORS
from tests.faults.rawclient import RawClient
from tests.server.conftest import (
    PASSWORD,
    Team,
    agent_login,
    cid,
    db_rows,
    make_config,
    open_ws,
    provision,
    visitor_login,
)

# ---------------------------------------------------------------- 1. every write is bounded

SMALL_LIMIT = 256 * 1024


def _none_open(server: ChatServer, conns: Iterable[ServerConnection] | None = None) -> bool:
    """The server has closed (or is closing) these (or all) connections: a close frame is on its way."""
    conns = list(server.hub.buffer_limits if conns is None else conns)
    return all(ws.protocol.state is not State.OPEN for ws in conns)


async def _until(condition: Callable[[], bool], wait: float = 15.0) -> None:
    """Polls server state that has no event to wait on (a handler finishing)."""
    async with asyncio.timeout(wait):
        while not condition():  # noqa: ASYNC110 - nothing to await: the handler's end is not an event
            await asyncio.sleep(0.02)


def _page_views(n: int) -> list[str]:
    # Each ack carries the visitor with up to 50 pages of 1,900 characters: ~100 KB per 2 KB sent.
    return [
        p.encode(p.VisitorPageView(id=f"pv{i}", url="https://example.com/" + "x" * 1900)) for i in range(n)
    ]


# The kernel's socket buffers (here up to tcp_wmem's 4 MiB on the server side) hold what the process no
# longer does; they come on top of the limit, and are not the server's memory.
KERNEL_SLACK = 8 * 1024 * 1024


def _visitor_flood(url: str, n: int, dropped: Callable[[], bool]) -> tuple[int, int | None, int]:
    client = RawClient(url, "/visitor")
    try:
        client.send(p.encode(p.VisitorHello(id="vh")))
        client.recv_frame()  # the welcome
        sent = client.flood(_page_views(n), seconds=3.0)
        client.hold(dropped, 15.0)  # reads nothing until the server gave up on us (or 15 s)
        out = client.drain(10.0)
        return sent, out.close_code, out.data_bytes
    finally:
        client.close()


async def test_visitor_that_never_reads_is_closed_1013_with_bounded_output(tmp_path: Path) -> None:
    config = make_config(tmp_path, visitor_write_buffer_limit=SMALL_LIMIT, slow_reader_seconds=1.0)
    async with run_server(config) as server:

        def dropped() -> bool:
            return _none_open(server)

        sent, code, received = await asyncio.to_thread(_visitor_flood, server.url, 600, dropped)
        assert code == p.CloseCode.TRY_LATER, (sent, code, received)
        # What it had queued, and not one frame more: the server stopped reading, then closed.
        assert received <= SMALL_LIMIT + KERNEL_SLACK, received
        await _until(lambda: not server.hub.visitor_conns)  # gone, not held
        bystander, _ = await visitor_login(server)
        await bystander.ok(p.VisitorSendMessage(id=cid(), text="still serving"))


def _agent_flood(
    url: str, conversation_id: str, n: int, dropped: Callable[[], bool]
) -> tuple[int, int | None, int]:
    client = RawClient(url, "/agent")
    try:
        client.send(p.encode(p.Hello(id="h", email="maria@example.com", password=PASSWORD)))
        assert isinstance(p.decode_server_frame(client.recv_frame()), p.Welcome)
        client.recv_frame()  # snapshot
        frames = [p.encode(p.GetTranscript(id=f"t{i}", conversation_id=conversation_id)) for i in range(n)]
        sent = client.flood(frames, seconds=3.0)
        client.hold(dropped, 15.0)
        out = client.drain(10.0)
        return sent, out.close_code, out.data_bytes
    finally:
        client.close()


async def test_agent_that_never_reads_is_closed_1013_with_bounded_output(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, agent_write_buffer_limit=SMALL_LIMIT, slow_reader_seconds=1.0, visitor_rate_messages=10**6
    )
    async with run_server(config) as server:
        team = provision(server)
        token, conversation, _ = await server.seed_visitor_message("hello")
        visitor, _ = await visitor_login(server, token)
        for i in range(30):
            await visitor.ok(p.VisitorSendMessage(id=cid(), text=f"{i} " + "y" * 3000))
        await visitor.close()
        await _until(lambda: not server.hub.buffer_limits)

        # 30 x 3 KB: each transcript ack is ~100 KB; 600 of them would be 60 MB queued.
        def dropped() -> bool:
            return _none_open(server)

        args = (server.url, conversation.id, 600, dropped)
        sent, code, received = await asyncio.to_thread(_agent_flood, *args)
        assert code == p.CloseCode.TRY_LATER, (sent, code, received)
        assert received <= SMALL_LIMIT + KERNEL_SLACK, received
        await _until(lambda: not server.hub.agent_conns.get(team.manager.id))


async def test_slow_agent_is_sent_a_real_1013_close_frame(tmp_path: Path) -> None:
    """An agent that reads nothing while events pile up is dropped, and the close frame is really written
    (behind what was queued): a client that reads again later sees 1013, not a silent hang."""
    config = make_config(
        tmp_path, agent_write_buffer_limit=SMALL_LIMIT, slow_reader_seconds=1.0, visitor_rate_messages=10**6
    )
    async with run_server(config) as server:
        team = provision(server)
        client = await asyncio.to_thread(RawClient, server.url, "/agent")
        try:
            await asyncio.to_thread(
                client.send, p.encode(p.Hello(id="h", email=team.sdr1.email, password=PASSWORD))
            )
            await asyncio.to_thread(client.recv_frame)
            await asyncio.to_thread(client.recv_frame)
            visitor, _ = await visitor_login(server)
            for i in range(3000):  # each message_created event to the agent is ~3 KB
                await visitor.ok(p.VisitorSendMessage(id=cid(), text=f"{i} " + "z" * 3900))
                if _none_open(server, server.hub.agent_conns.get(team.sdr1.id, set())):
                    break
            out = await asyncio.to_thread(client.drain, 10.0)
        finally:
            client.close()
        assert out.close_code == p.CloseCode.TRY_LATER, out
        assert out.data_bytes <= SMALL_LIMIT + KERNEL_SLACK, out.data_bytes


# ---------------------------------------------------------------- 2. any frame gets a documented error

NASTY = [
    ('{"type":[]}', p.ErrorCode.UNKNOWN_TYPE),
    ('{"type":{}, "id": "x"}', p.ErrorCode.UNKNOWN_TYPE),
    ('{"type":1}', p.ErrorCode.UNKNOWN_TYPE),
    ('{"type":null,"id":[]}', p.ErrorCode.UNKNOWN_TYPE),
    ("[" * 15000, p.ErrorCode.MALFORMED),
    ('{"a":' * 3000, p.ErrorCode.MALFORMED),
    ('{"type":"send_message","id":"d","text":' + "[" * 15000, p.ErrorCode.MALFORMED),
]


@pytest.mark.parametrize("raw,code", NASTY)
def test_decoders_raise_protocol_errors_only(raw: str, code: p.ErrorCode) -> None:
    for decode in (p.decode_agent_command, p.decode_visitor_command, p.decode_server_frame):
        with pytest.raises(p.ProtocolError) as info:
            decode(raw)
        if decode is not p.decode_server_frame:
            assert info.value.code == code, (raw[:40], info.value.code)


async def test_nasty_frames_get_errors_on_both_endpoints_and_count_as_bad(
    server: ChatServer, team: Team
) -> None:
    sdr, _ = await agent_login(server, team.sdr1.email)
    before_hello = await open_ws(server.url, "/agent")
    visitor, _ = await visitor_login(server)
    for client in (sdr, before_hello, visitor):
        for raw, code in NASTY:
            await client.send(raw)
            error = await client.frame_of(p.Error)
            assert error.code == code, (raw[:40], error)
    await sdr.ok(p.ListAgents(id=cid()))  # still signed in and served
    await visitor.ok(p.VisitorSendMessage(id=cid(), text="still here"))
    for client in (sdr, before_hello, visitor):
        for _ in range(21 - len(NASTY)):
            await client.send('{"type":[]}')
        assert await client.closed_code() == p.CloseCode.RATE_LIMITED


# ---------------------------------------------------------------- 3. hello deadline and connection caps


async def test_hello_deadline_is_absolute_not_per_frame(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, hello_timeout=1.0)) as server:
        client = await open_ws(server.url, "/agent")
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while True:  # one bad frame every 0.3 s would have restarted a per-frame timer forever
                await client.send("garbage")
                await client.frame_of(p.Error)
                await asyncio.sleep(0.3)
        assert client.ws.close_code == p.CloseCode.POLICY
        assert time.monotonic() - started < 2.5


async def _refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        await open_ws(url, "/agent")
    return info.value.response.status_code


async def test_unauthenticated_connections_are_capped_per_ip_and_in_total(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, unauthenticated_per_ip=3, unauthenticated_total=5)
    async with run_server(config) as server:
        team = provision(server)
        held = [await open_ws(server.url, "/agent") for _ in range(2)]
        held.append(await open_ws(server.url, "/visitor"))  # both endpoints count
        caplog.set_level(logging.INFO)
        for _ in range(40):
            assert await _refused_status(server.url) == 429
        refusal_lines = [r for r in caplog.records if "unauthenticated" in r.getMessage()]
        assert 1 <= len(refusal_lines) <= 3  # rate-limited, not one line per refused connection
        # A hello frees the slot: a signed-in agent holds no unauthenticated slot.
        await held[0].send(p.Hello(id=cid(), email=team.sdr1.email, password=PASSWORD))
        assert isinstance(await held[0].recv(), p.Welcome)
        held.append(await open_ws(server.url, "/agent"))
        assert await _refused_status(server.url) == 429
        await held[1].close()  # leaving frees a slot too
        sdr, _ = await agent_login(server, team.sdr2.email)
        await sdr.ok(p.ListAgents(id=cid()))
    config = make_config(tmp_path, unauthenticated_per_ip=0, unauthenticated_total=3)
    async with run_server(config) as server:
        held = [await open_ws(server.url, "/agent") for _ in range(3)]
        assert await _refused_status(server.url) == 503


async def test_peer_closing_before_hello_is_not_an_error(
    server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for path in ("/agent", "/visitor"):
        for _ in range(5):
            client = await open_ws(server.url, path)
            await client.close()
    probe, _ = await visitor_login(server)  # handlers ran and finished meanwhile
    await probe.close()
    await asyncio.sleep(0)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_two_origin_headers_are_refused_not_a_500(server: ChatServer) -> None:
    headers = [("Origin", "https://a.example"), ("Origin", "https://b.example")]
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.url + "/visitor", additional_headers=headers, open_timeout=5):
            pass
    assert info.value.response.status_code == 400


# ---------------------------------------------------------------- 6. never ack a rolled-back batch


def _inject_rollback(config: Config, marker: str) -> None:
    """A statement error that aborts the whole transaction (not just the statement). PostgreSQL has no
    such error (a failed statement only fails its savepoint): what loses its transaction there is losing
    the connection, so the trigger terminates its own backend."""
    if config.storage == "postgres":
        with psycopg.connect(config.database_url, autocommit=True) as pg:
            pg.execute(
                "CREATE FUNCTION inject_loss() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF convert_from(NEW.data, 'UTF8') LIKE '%{marker}%' THEN "
                "PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$"
            )
            pg.execute(
                "CREATE TRIGGER inject_rollback BEFORE INSERT ON messages "
                "FOR EACH ROW EXECUTE FUNCTION inject_loss()"
            )
        return
    with closing(sqlite3.connect(config.db_path)) as conn, conn:
        conn.execute(
            "CREATE TRIGGER inject_rollback BEFORE INSERT ON messages "
            f"WHEN CAST(NEW.data AS TEXT) LIKE '%{marker}%' BEGIN SELECT RAISE(ROLLBACK, 'injected'); END"
        )


def _message_texts(config: Config) -> list[str]:
    return [bytes(row[0]).decode() for row in db_rows(config, "SELECT data FROM messages")]


async def test_a_lost_transaction_fails_the_whole_batch(tmp_path: Path) -> None:
    config = make_config(tmp_path, commit_delay_ms=200)  # a wide window: both commands share a batch
    async with run_server(config) as server:
        team = provision(server)
        token_a, conversation_a, _ = await server.seed_visitor_message("a first")
        token_b, _, _ = await server.seed_visitor_message("b first")
        sdr, _ = await agent_login(server, team.manager.email)
        a, _ = await visitor_login(server, token_a)
        b, _ = await visitor_login(server, token_b)
        _inject_rollback(config, "BOOM")
        await a.send(p.VisitorSendMessage(id="a-1", text="innocent"))
        await b.send(p.VisitorSendMessage(id="b-1", text="BOOM"))
        answer_a, answer_b = await a.reply("a-1"), await b.reply("b-1")
        assert isinstance(answer_b, p.Error)
        # "innocent" shared the transaction the database rolled back: it must not be acked ...
        assert isinstance(answer_a, p.Error) and answer_a.code == p.ErrorCode.INTERNAL, answer_a
        assert not any("innocent" in text for text in _message_texts(config))
        # ... nor delivered: the agent sees the retry's event, never a ghost of the first attempt.
        retry = await a.ok(p.VisitorSendMessage(id="a-1", text="innocent"))
        created = (await sdr.event(p.MessageCreated)).event
        assert isinstance(created, p.MessageCreated)
        assert created.message.id == retry["message"]["id"]
        assert created.message.conversation_id == conversation_a.id
        assert sum("innocent" in text for text in _message_texts(config)) == 1
        await sdr.ok(p.ListAgents(id=cid()))
        assert all(not isinstance(f.event, p.MessageCreated) for f in sdr.events)


async def test_storage_fails_waiters_of_a_batch_whose_transaction_was_lost(tmp_path: Path) -> None:
    config = make_config(tmp_path, commit_delay_ms=50)
    async with run_server(config) as server:
        storage = server.storage
        _, conversation, _ = await server.seed_visitor_message("hi")
        _inject_rollback(config, "BOOM")
        delivered: list[str] = []
        with storage.savepoint():
            server.service.post_visitor_message(conversation.visitor, "innocent")
            storage.after_commit(lambda: delivered.append("innocent"))
        first = storage.commit()
        try:
            with storage.savepoint():
                server.service.post_visitor_message(conversation.visitor, "BOOM")
        except STORAGE_ERRORS:
            pass
        else:  # PostgreSQL sends a command's writes with the next statement, here the COMMIT: it fails there
            assert config.storage == "postgres", "SQLite fails the statement at once"
        second = storage.commit()
        for fut in (first, second):
            with pytest.raises(STORAGE_ERRORS):
                await fut
        assert delivered == []
        # The storage is usable afterwards, and its seq counters were not advanced by the lost batch.
        with storage.savepoint():
            server.service.post_visitor_message(conversation.visitor, "later")
        await storage.commit()
        seqs = [row[0] for row in db_rows(config, "SELECT seq FROM events ORDER BY agent_id, seq")]
        assert len(seqs) == len(set(seqs)) or seqs == []


# ---------------------------------------------------------------- 7. the rate limit is per visitor


async def test_visitor_rate_limit_is_per_visitor_not_per_connection(server: ChatServer) -> None:
    tab1, welcome = await visitor_login(server)
    for i in range(server.config.visitor_rate_messages):
        await tab1.ok(p.VisitorSendMessage(id=cid(), text=f"msg {i}"))
    tab2, _ = await visitor_login(server, welcome.visitor_token)
    second_tab = await tab2.call(p.VisitorSendMessage(id=cid(), text="from the other tab"))
    assert isinstance(second_tab, p.Error) and second_tab.code == p.ErrorCode.RATE_LIMITED
    await tab1.close()
    await tab2.close()
    reloaded, _ = await visitor_login(server, welcome.visitor_token)
    after_reload = await reloaded.call(p.VisitorSendMessage(id=cid(), text="after a reload"))
    assert isinstance(after_reload, p.Error) and after_reload.code == p.ErrorCode.RATE_LIMITED
    other, _ = await visitor_login(server)  # another visitor has its own allowance
    await other.ok(p.VisitorSendMessage(id=cid(), text="hello"))
