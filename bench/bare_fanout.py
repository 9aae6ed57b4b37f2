"""The websockets library's own fan-out limit, as a baseline for bench/server_throughput.py: a bare server
that speaks just enough of our protocol (hello, visitor message -> ack + one event frame to every agent),
with no storage, no auth, no seq bookkeeping. ``python bench/bare_fanout.py`` prints its URL like the server.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time

import msgspec
from websockets.asyncio.server import ServerConnection, serve

from agent_app import protocol as p

agents: set[ServerConnection] = set()
_seq = itertools.count(1)
_enc = msgspec.json.Encoder()


async def handler(ws: ServerConnection) -> None:
    hello = msgspec.json.decode(await ws.recv())
    if hello.get("type") == "hello":  # an agent: a welcome, then events only
        agent = p.Agent(id="a", name="Agent", email=str(hello.get("email", "")), role=p.Role.MANAGER)
        await ws.send(p.encode(p.Welcome(ref=hello["id"], agent=agent, epoch="e", seq=0, resume="replay")))
        agents.add(ws)
        try:
            await ws.wait_closed()
        finally:
            agents.discard(ws)
        return
    await ws.send(b'{"type":"visitor_welcome"}'.decode())
    async for raw in ws:
        command = msgspec.json.decode(raw)
        await ws.send(_enc.encode({"type": "ack", "ref": command.get("id", ""), "result": {}}).decode())
        if command.get("type") != "visitor_message":
            continue
        message = p.Message(id=str(next(_seq)), conversation_id="c", author_kind=p.AuthorKind.VISITOR,
                            text=command["text"], created_at=time.time())  # fmt: skip
        frame = p.encode(
            p.EventFrame(seq=0, epoch="", at=time.time(), event=p.MessageCreated(message=message))
        )
        for agent in list(agents):  # the library's broadcast path: one write per socket, no awaiting
            agent.protocol.send_text(frame.encode())
            agent.send_data()


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0, subprotocols=[p.SUBPROTOCOL], compression=None,  # type: ignore[list-item]
                     max_size=None) as server:  # fmt: skip
        port = server.sockets[0].getsockname()[1]
        print(f"bare fan-out listening on ws://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
