"""Chat server throughput: N visitors and M agents on loopback, server in a subprocess.

Prints visitor messages/s accepted, agent deliveries/s, p50/p99 latency from visitor send to agent
receive, and the server's memory and CPU. Not a test: run it by hand, e.g.

    .venv/bin/python bench/server_throughput.py --visitors 2000 --agents 10 --rate 400 --seconds 20
    .venv/bin/python bench/server_throughput.py --storage postgres --processes 2 --baseline
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from agent_app import protocol as p

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1"


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the server subprocess


def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a process, from /proc."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


def server_env(storage: str, dsn: str) -> dict[str, str]:
    if storage == "postgres":
        return {**os.environ, "SDR_SERVER_STORAGE": "postgres", "SDR_SERVER_DATABASE_URL": dsn}
    return dict(os.environ)


def add_agents(db: Path, env: dict[str, str], agents: int, role: str) -> None:
    base = [sys.executable, "-m", "chat_server", "--db", str(db)]
    for i in range(agents):
        cmd = [
            *base,
            "agents",
            "add",
            "--email",
            f"agent{i}@bench.test",
            "--name",
            f"Agent {i}",
            "--role",
            role,
        ]
        subprocess.run([*cmd, "--password", PASSWORD], cwd=ROOT, env=env, check=True, capture_output=True)


async def start_server(
    db: Path, playbook: bool, env: dict[str, str], command: list[str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    env = {
        **env,
        "PYTHONUNBUFFERED": "1",
        "SDR_SERVER_VISITOR_CONNECTIONS_PER_IP": "0",  # every bench visitor comes from 127.0.0.1
        # ... and they all connect at once, before saying hello: lift the caps meant for floods
        "SDR_SERVER_UNAUTHENTICATED_PER_IP": "0",
        "SDR_SERVER_UNAUTHENTICATED_TOTAL": "0",
        "SDR_SERVER_LOG_LEVEL": "WARNING",
        # The core's delivery path by default; --playbook adds the bot/routing/SLA on every visitor message.
        "SDR_SERVER_PLAYBOOK": "" if playbook else "off",
    }
    command = command or [sys.executable, "-m", "chat_server", "--db", str(db), "serve", "--port", "0"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    match = re.search(r"(ws://\S+)", line)
    if not match:
        raise SystemExit(f"server did not start: {line!r}")
    return proc, match.group(1)


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a backlogged server must not skew the next run
            proc.kill()
            proc.wait()


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.delivered = 0
        self.acks = 0
        self.errors = 0
        self.measuring = False


async def agent_reader(ws: ClientConnection, stats: Stats) -> None:
    decoder = msgspec.json.Decoder(p.ServerFrame)
    async for raw in ws:
        data = raw.encode() if isinstance(raw, str) else raw
        if b'"message_created"' not in data or b'"author_kind":"visitor"' not in data:
            continue
        frame = decoder.decode(data)
        if isinstance(frame, p.EventFrame) and isinstance(frame.event, p.MessageCreated):
            text = frame.event.message.text
            if stats.measuring and text.startswith("t="):
                stats.latencies.append(time.perf_counter() - float(text[2:].split(" ", 1)[0]))
                stats.delivered += 1


async def visitor_reader(ws: ClientConnection, stats: Stats) -> None:
    async for raw in ws:
        if '"type":"ack"' in raw:
            stats.acks += 1
        elif '"type":"error"' in raw:
            stats.errors += 1


async def open_visitor(url: str, i: int, sem: asyncio.Semaphore) -> ClientConnection:
    async with sem:
        ws = await connect(url + "/visitor", subprotocols=[p.SUBPROTOCOL], open_timeout=60, compression=None)  # type: ignore[list-item]
        await ws.send(p.encode(p.VisitorHello(id=f"h{i}", page_url="https://bench.test/pricing")))
        await ws.recv()
        return ws


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visitors", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--role", default="manager", choices=["manager", "sdr"], help="managers see everything")
    ap.add_argument(
        "--rate", type=float, default=400.0, help="visitor messages per second, all visitors together"
    )
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--playbook", action="store_true", help="run the bot playbook, routing and SLA clock too")
    ap.add_argument("--storage", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--processes", type=int, default=1, help="server processes on one database (postgres)")
    ap.add_argument("--database-url", default="", help="postgres: default a throwaway server (tests/cluster)")
    ap.add_argument("--baseline", action="store_true", help="then the same load on a bare websockets fan-out")
    args = ap.parse_args()
    if args.processes > 1 and args.storage != "postgres":
        raise SystemExit("several processes share one database: use --storage postgres")
    raise_nofile()
    with tempfile.TemporaryDirectory() as tmp:
        pg, dsn = None, args.database_url
        if args.storage == "postgres" and not dsn:
            sys.path.insert(0, str(ROOT))
            from tests.cluster.pgserver import PgServer

            pg = PgServer()
            pg.start()
            dsn = pg.dsn
        try:
            db = Path(tmp) / "bench.sqlite3"
            env = server_env(args.storage, dsn)
            add_agents(db, env, args.agents, args.role)
            procs, urls = [], []
            try:
                for _ in range(args.processes):
                    proc, url = await start_server(db, args.playbook, env)
                    procs.append(proc)
                    urls.append(url)
                label = f"{args.processes} process(es), {args.storage}"
                ours = await run(args, procs, urls, label)
            finally:
                stop(procs)
            if args.baseline:
                bare = [sys.executable, str(ROOT / "bench" / "bare_fanout.py")]
                proc, url = await start_server(db, False, dict(os.environ), bare)
                try:
                    limit = await run(args, [proc], [url], "bare websockets fan-out (no storage)")
                finally:
                    stop([proc])
                share = f"{ours / limit:.0%}" if limit else "-"
                print(f"our delivery path: {ours:.0f}/s = {share} of the bare fan-out's {limit:.0f}/s")
        finally:
            if pg is not None:
                pg.close()


def all_stats(procs: list[subprocess.Popen[str]]) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of all server processes together."""
    each = [proc_stats(proc.pid) for proc in procs]
    return sum(r for r, _ in each), sum(c for _, c in each)


async def run(
    args: argparse.Namespace, procs: list[subprocess.Popen[str]], urls: list[str], label: str
) -> float:
    """Agents and visitors spread round-robin over the processes; returns agent deliveries/s."""
    print(f"--- {label}")
    stats = Stats()
    rss0, _ = all_stats(procs)
    agents = []
    for i in range(args.agents):
        ws = await connect(
            urls[i % len(urls)] + "/agent", subprotocols=[p.SUBPROTOCOL], compression=None, max_size=None
        )  # type: ignore[list-item]
        await ws.send(p.encode(p.Hello(id=f"a{i}", email=f"agent{i}@bench.test", password=PASSWORD)))
        welcome = p.decode_server_frame(await ws.recv())
        if not isinstance(welcome, p.Welcome):
            raise SystemExit(f"agent{i} could not sign in: {welcome}")
        agents.append(ws)
    readers = [asyncio.create_task(agent_reader(ws, stats)) for ws in agents]
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(100)
    visitors = await asyncio.gather(
        *(open_visitor(urls[i % len(urls)], i, sem) for i in range(args.visitors))
    )
    connect_s = time.perf_counter() - t0
    readers += [asyncio.create_task(visitor_reader(ws, stats)) for ws in visitors]
    rss_idle, _ = all_stats(procs)
    print(f"{len(visitors)} visitors + {len(agents)} {args.role}s connected in {connect_s:.1f} s; "
          f"server RSS {rss0:.0f} MiB at start, {rss_idle:.0f} MiB with all connected")  # fmt: skip

    # Warm-up: every visitor opens its conversation, so the measured phase is steady-state traffic.
    for i, ws in enumerate(visitors):
        await ws.send(p.encode(p.VisitorSendMessage(id=f"w{i}", text="hello")))
        if i % 200 == 199:
            await asyncio.sleep(0.2)
    while stats.acks < len(visitors):  # noqa: ASYNC110 - polling a counter is fine in a bench
        await asyncio.sleep(0.1)

    stats.measuring = True
    _, cpu0 = all_stats(procs)
    sent, start = 0, time.perf_counter()
    tick = 0.005
    while (elapsed := time.perf_counter() - start) < args.seconds:
        due = int(elapsed * args.rate) - sent
        for _ in range(due):
            ws = visitors[sent % len(visitors)]
            text = f"t={time.perf_counter()} message {sent}"
            await ws.send(p.encode(p.VisitorSendMessage(id=f"m{sent}", text=text)))
            sent += 1
        await asyncio.sleep(tick)
    send_s = time.perf_counter() - start
    expected = sent * args.agents if args.role == "manager" else None
    deadline = time.perf_counter() + 10
    while expected and stats.delivered < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    total_s = time.perf_counter() - start
    rss_end, cpu1 = all_stats(procs)
    lat = sorted(stats.latencies)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    rate, per_s, cpu = sent / send_s, stats.delivered / total_s, (cpu1 - cpu0) / send_s * 100
    print(f"visitor messages sent: {sent} in {send_s:.1f} s = {rate:.0f}/s (target {args.rate:.0f})")
    print(f"agent deliveries: {stats.delivered} (expected {expected}) = {per_s:.0f}/s")
    print(f"latency visitor send -> agent receive: p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms")
    print(f"acks: {stats.acks}; errors: {stats.errors}; server RSS {rss_end:.0f} MiB; server CPU {cpu:.0f}%")
    closed = [ws.close_code for ws in [*agents, *visitors] if ws.close_code is not None]
    if closed:
        print(f"connections closed by the server meanwhile: {len(closed)} (codes {sorted(set(closed))})")
    for task in readers:
        task.cancel()
    for ws in [*agents, *visitors]:
        await ws.close()
    return per_s


if __name__ == "__main__":
    asyncio.run(main())
