"""Slow readers against a server process: peers that flood commands and never read are closed with 1013,
and the server's RSS stays under a ceiling (measured from /proc while they hold their sockets)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agent_app import protocol as p
from tests.faults.conftest import FULL, add_agent_cli, report, rss_kib, start_server_process
from tests.faults.rawclient import Drained, RawClient
from tests.server.conftest import PASSWORD

VISITORS = 20 if FULL else 6
FLOOD = 1000 if FULL else 300  # page views per visitor: each ack is ~100 KB, each frame ~2 KB
HOLD = 2.0 if FULL else 1.0  # slow_reader_seconds of the server under test
CEILING_MIB = 80  # RSS growth allowed over the idle server (before the fix: +1 GiB and more)


def _page_views(n: int) -> list[str]:
    return [
        p.encode(p.VisitorPageView(id=f"pv{i}", url="https://example.com/" + "x" * 1900)) for i in range(n)
    ]


def test_flooding_readers_are_closed_1013_and_rss_stays_bounded(tmp_path: Path) -> None:
    db = tmp_path / "chat.sqlite3"
    add_agent_cli(db, "flood@example.com", PASSWORD)
    env = {
        "SDR_SERVER_SLOW_READER_SECONDS": str(HOLD),
        "SDR_SERVER_AGENT_WRITE_BUFFER_LIMIT": str(4 << 20),
        "SDR_SERVER_VISITOR_RATE_MESSAGES": "1000",
    }
    proc, url = start_server_process(db, env)
    try:
        # A conversation with a long transcript: each get_transcript ack is ~100 KB.
        seed = RawClient(url, "/visitor")
        seed.send(p.encode(p.VisitorHello(id="seed")))
        seed.recv_frame()
        conversation_id = ""
        for i in range(30):
            seed.send(p.encode(p.VisitorSendMessage(id=f"s{i}", text="y" * 3000)))
            conversation_id = p.decode_server_frame(seed.recv_frame()).result["conversation_id"]  # type: ignore[union-attr]
        seed.close()
        idle = rss_kib(proc.pid)

        clients: list[tuple[RawClient, list[str]]] = []
        for i in range(VISITORS):
            client = RawClient(url, "/visitor")
            client.send(p.encode(p.VisitorHello(id=f"vh{i}")))
            client.recv_frame()
            clients.append((client, _page_views(FLOOD)))
        agent = RawClient(url, "/agent")
        agent.send(p.encode(p.Hello(id="h", email="flood@example.com", password=PASSWORD)))
        agent.recv_frame()
        agent.recv_frame()
        transcripts = [
            p.encode(p.GetTranscript(id=f"t{i}", conversation_id=conversation_id)) for i in range(FLOOD)
        ]
        clients.append((agent, transcripts))

        sent: list[int] = [0] * len(clients)

        def flood(index: int) -> None:
            client, frames = clients[index]
            sent[index] = client.flood(frames, seconds=HOLD + 1)

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(len(clients))]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        peak = idle
        # Nobody reads for HOLD + 1.5 s: the server must give up on them meanwhile, with bounded memory.
        while time.monotonic() - started < HOLD + 1.5 or any(t.is_alive() for t in threads):
            peak = max(peak, rss_kib(proc.pid))
            time.sleep(0.05)
        outs: list[Drained] = [client.drain(10.0) for client, _ in clients]
        for client, _ in clients:
            client.close()
        growth_mib = (peak - idle) / 1024
        codes = [out.close_code for out in outs]
        report(
            f"slow readers: {VISITORS} visitors x {FLOOD} page views + 1 agent x {FLOOD} transcripts "
            f"({sum(sent)} frames, {sum(sent) * 2 / 1024:.1f} MiB sent), never reading; "
            f"close codes {set(codes)}; "
            f"server RSS {idle // 1024} MiB idle, peak +{growth_mib:.1f} MiB (ceiling {CEILING_MIB} MiB); "
            f"largest output read afterwards {max(o.data_bytes for o in outs) // 1024} KiB"
        )
        assert codes == [p.CloseCode.TRY_LATER] * len(clients), codes
        assert growth_mib < CEILING_MIB
        # The server still serves.
        probe = RawClient(url, "/visitor")
        probe.send(p.encode(p.VisitorHello(id="probe")))
        assert isinstance(p.decode_server_frame(probe.recv_frame()), p.VisitorWelcome)
        probe.close()
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
