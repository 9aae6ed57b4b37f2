"""PostgreSQL: what a visitor message costs in round trips while the server holds the writer lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.storage.pg import PgConnection
from tests.server.conftest import agent_login, cid, db_rows, make_config, provision, visitor_login
from tests.server.test_pg_write_lock import write_lock_held_elsewhere


def _round_trips(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """From now on, the statement that ends each round trip on the server's write connection."""
    writes: list[bytes] = []
    run = PgConnection._run

    def counted(self: PgConnection, query: bytes, params: object, many: bool) -> object:
        if self is server.storage._pg[0]:  # type: ignore[attr-defined]
            writes.append(query)
        return run(self, query, params, many)

    monkeypatch.setattr(PgConnection, "_run", counted)
    return writes


def _kinds(writes: list[bytes]) -> list[bytes]:
    return [w.split(b" ", 1)[0].rstrip(b";") for w in writes]


async def _until_waiting(server: ChatServer, commands: int) -> None:
    async with asyncio.timeout(10):
        while True:  # polled: the commands reach the lock wait on the server's loop (this loop)
            if len(server.storage._wanted) == commands:
                return
            await asyncio.sleep(0.01)


@pytest.mark.one_storage  # PostgreSQL only: SQLite has no round trips
async def test_a_visitor_message_is_three_round_trips_on_the_write_connection(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN (+ the lock); the idempotency check with the visitor and its latest conversation; the COMMIT
    with every write of the command (message, conversation, idempotency row, event rows). It was 8: the
    service layer read the visitor and the conversation two or three times, a round trip per statement."""
    config = make_config(tmp_path, storage="postgres", database_url=pg_url)
    async with run_server(config) as server:
        team = provision(server)
        manager, _ = await agent_login(server, team.manager.email)
        sdr, _ = await agent_login(server, team.sdr1.email)
        visitor, _ = await visitor_login(server)
        await visitor.ok(p.VisitorSendMessage(id=cid(), text="first: opens the conversation"))
        await manager.event(p.MessageCreated)
        writes = _round_trips(server, monkeypatch)
        sent = await visitor.ok(p.VisitorSendMessage(id=cid(), text="second"))
        created = (await manager.event(p.MessageCreated)).event
        assert isinstance(created, p.MessageCreated) and created.message.id == sent["message"]["id"]
        assert _kinds(writes) == [b"BEGIN", b"SELECT", b"COMMIT"], writes
        for client in (manager, sdr, visitor):
            await client.close()


@pytest.mark.one_storage
async def test_commands_that_waited_for_the_same_batch_are_looked_up_in_one_query(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five visitors write while another process holds the writer lock: once it is ours, one query tells
    which of the five ran already (none) and reads the five visitors with their conversations, then each
    runs without a round trip; a repeat of one of them in the next batch gets the first answer, not a
    second message."""
    config = make_config(tmp_path, storage="postgres", database_url=pg_url, commit_delay_ms=50)
    async with run_server(config) as server:
        provision(server)
        visitors = [(await visitor_login(server))[0] for _ in range(5)]
        for i, v in enumerate(visitors):
            await v.ok(p.VisitorSendMessage(id=cid(), text=f"hello {i}"))
        writes = _round_trips(server, monkeypatch)
        async with write_lock_held_elsewhere(pg_url) as release:
            frames = [p.VisitorSendMessage(id=cid(), text=f"again {i}") for i in range(5)]
            for v, frame in zip(visitors, frames, strict=True):
                await v.send(frame)
            await _until_waiting(server, 5)
            release.set()
        answers = [await v.reply(frame.id) for v, frame in zip(visitors, frames, strict=True)]
        assert all(isinstance(a, p.Ack) for a in answers), answers
        assert _kinds(writes) == [b"BEGIN", b"SELECT", b"COMMIT"], writes
        repeat = await visitors[0].call(frames[0])
        assert repeat == answers[0]
        texts = [bytes(r[0]).decode() for r in db_rows(config, "SELECT data FROM messages")]
        assert sum('"again 0"' in t for t in texts) == 1
        for v in visitors:
            await v.close()


@pytest.mark.one_storage
async def test_two_tabs_of_a_new_visitor_writing_in_one_batch_open_one_conversation(
    tmp_path: Path, pg_url: str
) -> None:
    """The visitor read with the batch's lookup is forgotten once a command writes it (here: the first
    message opens a conversation): the second tab's message reads again and joins that conversation."""
    config = make_config(tmp_path, storage="postgres", database_url=pg_url, commit_delay_ms=50)
    async with run_server(config) as server:
        provision(server)
        tab1, welcome = await visitor_login(server)
        tab2, _ = await visitor_login(server, welcome.visitor_token)
        async with write_lock_held_elsewhere(pg_url) as release:
            first = p.VisitorSendMessage(id=cid(), text="from tab one")
            second = p.VisitorSendMessage(id=cid(), text="from tab two")
            await tab1.send(first)
            await tab2.send(second)
            await _until_waiting(server, 2)
            release.set()
        one, two = await tab1.reply(first.id), await tab2.reply(second.id)
        assert isinstance(one, p.Ack) and isinstance(two, p.Ack), (one, two)
        assert one.result["conversation_id"] == two.result["conversation_id"]
        assert db_rows(config, "SELECT count(*) FROM conversations") == [(1,)]
        for tab in (tab1, tab2):
            await tab.close()


@pytest.mark.one_storage
async def test_a_visitor_read_with_the_lookup_is_read_again_after_an_earlier_command_saved_it(
    tmp_path: Path, pg_url: str
) -> None:
    """A page view (tab one) and a first message (tab two) wait for the same batch; the page view runs
    first and saves the visitor: the message must not use the visitor as read before that."""
    config = make_config(tmp_path, storage="postgres", database_url=pg_url, commit_delay_ms=50)
    async with run_server(config) as server:
        team = provision(server)
        manager, _ = await agent_login(server, team.manager.email)
        tab1, welcome = await visitor_login(server)
        tab2, _ = await visitor_login(server, welcome.visitor_token)
        async with write_lock_held_elsewhere(pg_url) as release:
            page = p.VisitorPageView(id=cid(), url="https://acme.test/pricing", title="Pricing")
            await tab1.send(page)
            await _until_waiting(server, 1)
            message = p.VisitorSendMessage(id=cid(), text="how much is it?")
            await tab2.send(message)
            await _until_waiting(server, 2)
            release.set()
        assert isinstance(await tab1.reply(page.id), p.Ack)
        assert isinstance(await tab2.reply(message.id), p.Ack)
        created = (await manager.event(p.ConversationCreated)).event
        assert isinstance(created, p.ConversationCreated)
        assert created.conversation.visitor.current_page == "https://acme.test/pricing"
        for client in (manager, tab1, tab2):
            await client.close()
