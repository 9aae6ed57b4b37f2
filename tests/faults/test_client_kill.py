"""kill -9 of the client under load: a client process (Session + SQLite outbox) sending a stream of messages
is killed mid-stream and restarted on the same files; every message it wrote to its outbox is on the server
exactly once, in order."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

from chat_server import run_server
from tests.faults.conftest import FULL, ROOT, report
from tests.faults.test_link_cuts import EMAIL, PASSWORD, StreamingVisitor, until
from tests.server.conftest import make_config

KILLS = 10 if FULL else 3
TOTAL = 2000 if FULL else 300


async def _start(url: str, cid: str, workdir: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.faults.client_proc", url, EMAIL, PASSWORD, cid, str(workdir), str(TOTAL),
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _written(workdir: Path) -> list[str]:
    log = workdir / "written.log"
    return log.read_text().split() if log.exists() else []


async def test_client_killed_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, visitor_rate_messages=10**6)
    workdir = tmp_path / "client"
    workdir.mkdir()
    rng = random.Random(9)
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        visitor = StreamingVisitor(server.url)
        await visitor.open()
        await visitor.say("v-first", "hello")
        cid = visitor.conversation_id
        started = time.monotonic()
        kills, pending_at_restart = 0, []
        for _ in range(KILLS):
            proc = await _start(server.url, cid, workdir)
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line.startswith("STARTED"), line
            pending_at_restart.append(int(line.split()[2]))
            before = len(_written(workdir))
            target = before + rng.randint(20, TOTAL // (KILLS + 2))
            await until(
                lambda t=target: len(_written(workdir)) >= t,
                20,
                "the client to write more messages",
            )
            os.kill(proc.pid, signal.SIGKILL)  # mid-stream: sends in flight, some acked, some not
            await proc.wait()
            kills += 1
        proc = await _start(server.url, cid, workdir)
        assert proc.stdout is not None
        out = (await asyncio.wait_for(proc.stdout.read(), 120)).decode().split("\n")
        assert await proc.wait() == 0
        assert "DONE" in out, out
        pending_at_restart.append(int(out[0].split()[2]))
        elapsed = time.monotonic() - started
        await visitor.close()

    written = _written(workdir)
    with closing(sqlite3.connect(config.db_path)) as conn:
        rows = conn.execute(
            "SELECT json_extract(data, '$.text') FROM messages WHERE conversation_id = ? AND "
            "json_extract(data, '$.author_kind') = 'agent' ORDER BY n",
            (cid,),
        ).fetchall()
    stored = [row[0] for row in rows]
    lost = sorted(set(written) - set(stored), key=lambda t: int(t.split("-")[1]))
    duplicated = len(stored) - len(set(stored))
    report(
        f"client kill -9: {kills} kills of a client process mid-stream, restarted on the same outbox "
        f"({pending_at_restart} unacked messages found in the outbox at each start) in {elapsed:.1f} s; "
        f"{len(written)} messages written to the outbox, {len(stored)} on the server; lost {len(lost)}, "
        f"duplicated {duplicated}, unknown {len(set(stored) - set(written))}"
    )
    assert len(written) == len(set(written)) == TOTAL
    assert stored == written  # each once, in the order written
    assert kills == KILLS and sum(pending_at_restart[1:]) > 0  # the kills did leave unacked work behind
