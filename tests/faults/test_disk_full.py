"""Disk full under load: SQLite refuses writes (SQLITE_FULL, which may roll back the whole transaction) while
visitors pipeline messages; nothing acked is lost, nothing is stored twice, no event announces what was not
stored, and the refused commands succeed when re-sent with the same ids after space is back."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from agent_app import protocol as p
from chat_server import run_server
from tests.faults.conftest import FULL, report
from tests.server.conftest import agent_login, make_config, provision, visitor_login

VISITORS = 10 if FULL else 4
MESSAGES = 100 if FULL else 25
ROOM = 60  # pages left when the flood starts: room for a few dozen messages, then the disk is full


async def test_disk_full_loses_nothing_acked_and_announces_nothing_unstored(tmp_path: Path) -> None:
    config = make_config(tmp_path, commit_delay_ms=5, visitor_rate_messages=10**6)
    async with run_server(config) as server:
        team = provision(server)
        manager, _ = await agent_login(server, team.manager.email)
        visitors = [(await visitor_login(server))[0] for _ in range(VISITORS)]
        for i, visitor in enumerate(visitors):  # conversations exist before the disk fills up
            await visitor.ok(p.VisitorSendMessage(id=f"v{i}-first", text=f"v{i} first"))
        writer: sqlite3.Connection = server.storage._w  # the injected fault: a database that cannot grow
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count={pages + ROOM}")

        async def pipeline(i: int) -> dict[str, p.Ack | p.Error]:
            client = visitors[i]
            ids = [f"v{i}-{n}" for n in range(MESSAGES)]
            for command_id in ids:
                await client.send(p.VisitorSendMessage(id=command_id, text=f"{command_id} " + "x" * 1500))
            return {command_id: await client.reply(command_id, wait=20) for command_id in ids}

        answers: dict[str, p.Ack | p.Error] = {}
        for result in await asyncio.gather(*(pipeline(i) for i in range(VISITORS))):
            answers.update(result)
        acked = {cid: a.result["message"]["id"] for cid, a in answers.items() if isinstance(a, p.Ack)}
        refused = [cid for cid, a in answers.items() if isinstance(a, p.Error)]
        codes = {a.code.value for a in answers.values() if isinstance(a, p.Error)}
        assert refused, "the fault did not bite: no command was refused"
        assert codes == {"internal"}, codes  # retryable: "could not store the change; retry"

        # Space is back: the client's outbox re-sends what was refused, with the same ids.
        writer.execute("PRAGMA max_page_count=1073741823")
        for cid in refused:
            visitor = visitors[int(cid[1:].split("-")[0])]
            again = await visitor.call(p.VisitorSendMessage(id=cid, text=f"{cid} " + "x" * 1500), wait=20)
            assert isinstance(again, p.Ack), again
            acked[cid] = again.result["message"]["id"]

        with closing(sqlite3.connect(config.db_path)) as conn:
            rows = conn.execute("SELECT id, CAST(data AS TEXT) FROM messages").fetchall()
        stored_ids = {row[0] for row in rows}
        lost = [cid for cid, mid in acked.items() if mid not in stored_ids]
        texts = [row[1] for row in rows]
        duplicated = [cid for cid in acked if sum(f'"text":"{cid} ' in t for t in texts) != 1]
        # Events the agent got: each names a stored message (no ghost of a rolled-back batch).
        await manager.ok(p.ListAgents(id="sync"))
        announced = {f.event.message.id for f in manager.events if isinstance(f.event, p.MessageCreated)}
        ghosts = announced - stored_ids
        report(
            f"disk full: {VISITORS} visitors x {MESSAGES} pipelined messages against a database capped at "
            f"{pages + ROOM} pages; {len(answers) - len(refused)} acked, {len(refused)} refused (retryable "
            f"'internal'), all re-sent after space came back; lost {len(lost)}, "
            f"duplicated {len(duplicated)}, events for unstored messages {len(ghosts)}"
        )
        assert lost == [] and duplicated == [] and ghosts == set()
