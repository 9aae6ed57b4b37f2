"""A client process for the kill -9 check: the real Session + outbox sending numbered messages, restartable.

Usage: python -m tests.faults.client_proc URL EMAIL PASSWORD CONVERSATION_ID WORKDIR TOTAL

WORKDIR holds the outbox (outbox.sqlite3) and written.log, one line per message written to the outbox
(fsynced after the outbox write). On start, outbox rows the log misses (killed between the two writes)
are logged first; numbering goes on after the highest number seen. Prints DONE once TOTAL messages are
written and the outbox is empty (every one acked by the server).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store


def _append(log: Path, text: str) -> None:
    with log.open("a") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


async def main(url: str, email: str, password: str, cid: str, workdir: Path, total: int) -> None:
    log = workdir / "written.log"
    written = log.read_text().split() if log.exists() else []
    outbox = Outbox(workdir / "outbox.sqlite3")
    for entry in outbox.pending():  # written to the outbox, killed before the log line
        if isinstance(entry.command, p.SendMessage) and entry.command.text not in written:
            _append(log, entry.command.text)
            written.append(entry.command.text)
    n = 1 + max((int(t.split("-")[1]) for t in written), default=-1)
    session = Session(url, Store(), outbox, backoff=Backoff(base=0.01, cap=0.05), close_timeout=0.5)
    await session.sign_in(email, password)
    runner = asyncio.create_task(session.run())
    print(f"STARTED {n} {len(outbox.pending())}", flush=True)
    while n < total:
        text = f"m-{n}"
        session.send_message(cid, text)  # durable in the outbox before it returns
        _append(log, text)
        n += 1
        if n % 20 == 0:  # bursts of 20: many sends in flight, unacked, when the kill comes
            await asyncio.sleep(random.uniform(0.01, 0.05))
        else:
            await asyncio.sleep(0)
    for _ in range(3000):  # bounded: 30 s
        if not outbox.pending() and session.state is ConnectionState.ONLINE:
            break
        await asyncio.sleep(0.01)
    await session.stop()
    await runner
    left = len(outbox.pending())
    outbox.close()
    print("DONE" if left == 0 else f"LEFT {left}", flush=True)


if __name__ == "__main__":
    url, email, password, cid, workdir, total = sys.argv[1:7]
    asyncio.run(main(url, email, password, cid, Path(workdir), int(total)))
