"""kill -9 of the server loses nothing it acked, and a restart duplicates nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent_app import protocol as p
from tests.server.conftest import PASSWORD, cid, db_rows, make_config, open_ws, storage_env

ROOT = Path(__file__).resolve().parents[2]


async def _start(db: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SDR_SERVER_PLAYBOOK": "off", **storage_env()}  # no bot
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; we read its output in a thread
        [sys.executable, "-m", "chat_server", "serve", "--port", "0", "--db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
    match = re.search(r"(ws://\S+)", line)
    assert match, line
    return proc, match.group(1)


def _close_pipe(proc: subprocess.Popen[str]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.slow
async def test_sigkill_after_acks_loses_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)  # the test's storage: this SQLite file, or its PostgreSQL database
    db = Path(config.db_path)
    add = [
        sys.executable,
        "-m",
        "chat_server",
        "--db",
        str(db),
        "agents",
        "add",
        "--email",
        "ann@example.com",
    ]
    subprocess.run(  # noqa: ASYNC221
        [*add, "--name", "Ann", "--role", "manager", "--password", PASSWORD],
        cwd=ROOT,
        check=True,
        env={**os.environ, **storage_env()},
    )

    proc, url = await _start(db)
    acked: dict[str, str] = {}
    try:
        visitor = await open_ws(url, "/visitor")
        await visitor.send(p.VisitorHello(id=cid()))
        welcome = await visitor.recv()
        assert isinstance(welcome, p.VisitorWelcome)
        agent = await open_ws(url, "/agent")
        await agent.send(p.Hello(id=cid(), email="ann@example.com", password=PASSWORD))
        assert isinstance(await agent.recv(), p.Welcome)
        first = await visitor.ok(p.VisitorSendMessage(id="v-0", text="visitor 0"))
        conversation_id = first["conversation_id"]
        acked["v-0"] = first["message"]["id"]
        for i in range(1, 8):
            acked[f"v-{i}"] = (await visitor.ok(p.VisitorSendMessage(id=f"v-{i}", text=f"visitor {i}")))[
                "message"
            ]["id"]
        # Pipelined agent sends: every ack we get must survive.
        for i in range(40):
            await agent.send(p.SendMessage(id=f"a-{i}", conversation_id=conversation_id, text=f"agent {i}"))
        for i in range(40):
            acked[f"a-{i}"] = (await agent.reply(f"a-{i}")).result["message"]["id"]  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _close_pipe(proc)
    # The killed server never closed these sockets: drop our ends too.
    for client in (visitor, agent):
        client.ws.transport.abort()

    ids = [row[0] for row in db_rows(config, "SELECT id FROM messages")]
    assert os.path.exists(db) == (config.storage == "sqlite")  # noqa: ASYNC240 - the storage under test was used
    assert set(acked.values()) <= set(ids)
    assert len(ids) == len(set(ids)) == len(acked)

    # Restart: re-sent commands (the client's outbox after a crash) are answered, not repeated.
    proc, url = await _start(db)
    try:
        visitor = await open_ws(url, "/visitor")
        await visitor.send(p.VisitorHello(id=cid(), visitor_token=welcome.visitor_token))
        again = await visitor.recv()
        assert isinstance(again, p.VisitorWelcome) and again.conversation is not None
        assert again.conversation.id == conversation_id
        retry = await visitor.ok(p.VisitorSendMessage(id="v-3", text="visitor 3"))
        assert retry["message"]["id"] == acked["v-3"]
        texts = [m.text for m in again.messages]
        assert texts.count("visitor 3") == 1 and texts.count("agent 39") == 1
        await visitor.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            _close_pipe(proc)
