"""PostgreSQL: what a visitor message costs in round trips while the server holds the writer lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_app import protocol as p
from chat_server import run_server
from chat_server.storage.pg import PgConnection
from tests.server.conftest import agent_login, cid, make_config, provision, visitor_login


@pytest.mark.one_storage  # PostgreSQL only: SQLite has no round trips
async def test_a_visitor_message_is_four_round_trips_on_the_write_connection(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN (+ the lock), the idempotency check, the visitor with its latest conversation, and the COMMIT
    with every write of the command (message, conversation, idempotency row, event rows): the service layer
    once read the visitor and the conversation two or three times each, one round trip per statement."""
    config = make_config(tmp_path, storage="postgres", database_url=pg_url)
    async with run_server(config) as server:
        team = provision(server)
        manager, _ = await agent_login(server, team.manager.email)
        sdr, _ = await agent_login(server, team.sdr1.email)
        visitor, _ = await visitor_login(server)
        await visitor.ok(p.VisitorSendMessage(id=cid(), text="first: opens the conversation"))
        await manager.event(p.MessageCreated)
        writes: list[bytes] = []
        run = PgConnection._run

        def counted(self: PgConnection, query: bytes, params: object, many: bool) -> object:
            if self is server.storage._pg[0]:  # type: ignore[attr-defined]
                writes.append(query)
            return run(self, query, params, many)

        monkeypatch.setattr(PgConnection, "_run", counted)
        sent = await visitor.ok(p.VisitorSendMessage(id=cid(), text="second"))
        created = (await manager.event(p.MessageCreated)).event
        assert isinstance(created, p.MessageCreated) and created.message.id == sent["message"]["id"]
        statements = [w.split(b" ", 1)[0].rstrip(b";") for w in writes]
        assert statements == [b"BEGIN", b"SELECT", b"SELECT", b"COMMIT"], writes
        for client in (manager, sdr, visitor):
            await client.close()
