"""Visitor send -> row rendered in a real client, against a real chat server (all separate processes).

    .venv/bin/python bench/client_latency.py [--steady-seconds 30 --steady-rate 20]
                                             [--burst-seconds 10 --burst-rate 1000] [--visitors 50]

The server runs in a subprocess (``python -m chat_server serve --port 0``), visitors in another process
(websockets, so they never share the GUI thread), the client here: Store + Session + StoreBridge +
MainWindow on a qasync loop, offscreen. Each visitor message carries ``time.time()`` of its send.
"Rendered" = the first paint of the queue list's viewport after the queue model's batch that
carried the message was applied (a Paint event on the viewport). A 5 ms QTimer heartbeat records
the longest UI-thread block. Every sent message must appear exactly once in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMAIL, PASSWORD = "bench@example.com", "bench password 123"
TAG = re.compile(r"^lat (\d+) (\d+) ([0-9.]+)$")


# ---------------------------------------------------------------------- visitors (separate process)


def visitors_main(url: str, n: int, phases: list[tuple[str, float, float]], ready: Any, go: Any) -> None:
    from websockets.asyncio.client import connect

    from agent_app import protocol as p

    async def drain(ws: Any) -> None:
        try:
            async for _ in ws:
                pass
        except Exception:
            pass

    async def run() -> None:
        socks = []
        for _ in range(n):
            ws = await connect(url + "/visitor", subprotocols=[p.SUBPROTOCOL], max_size=2**22)  # type: ignore[list-item]
            await ws.send(p.encode(p.VisitorHello(id="h", page_url="https://example.com/pricing")))
            while not isinstance(p.decode_server_frame(await ws.recv()), p.VisitorWelcome):
                pass
            socks.append(ws)
        # open each conversation with a first message (not measured)
        for i, ws in enumerate(socks):
            await ws.send(p.encode(p.VisitorSendMessage(id=f"o{i}", text=f"hello from visitor {i}")))
        readers = [asyncio.create_task(drain(ws)) for ws in socks]
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        seq = 0
        for phase, rate, seconds in phases:
            start = time.perf_counter()
            total = int(rate * seconds)
            for k in range(total):
                due = start + k / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                ws = socks[seq % n]
                text = f"lat {int(phase == 'burst')} {seq} {time.time():.6f}"
                await ws.send(p.encode(p.VisitorSendMessage(id=f"m{seq}", text=text)))
                seq += 1
            await asyncio.sleep(2.0)  # let the client catch up before the next phase
        for r in readers:
            r.cancel()
        for ws in socks:
            await ws.close()

    asyncio.run(run())


# ---------------------------------------------------------------------- client (this process)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady-seconds", type=float, default=30)
    ap.add_argument("--steady-rate", type=float, default=20)
    ap.add_argument("--burst-seconds", type=float, default=10)
    ap.add_argument("--burst-rate", type=float, default=1000)
    ap.add_argument("--visitors", type=int, default=50)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="client_latency_"))
    db = str(tmp / "server.sqlite3")
    py = sys.executable
    env = dict(os.environ, SDR_SERVER_VISITOR_RATE_MESSAGES="100000", SDR_SERVER_VISITOR_RATE_SECONDS="1",
               SDR_SERVER_VISITOR_CONNECTIONS_PER_IP="10000")  # fmt: skip
    subprocess.run(
        [py, "-m", "chat_server", "--db", db, "agents", "add", "--email", EMAIL, "--name", "Bench SDR",
         "--password", PASSWORD], check=True, cwd=ROOT, env=env, capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [py, "-m", "chat_server", "--db", db, "serve", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = ""
    assert server.stdout is not None
    deadline = time.time() + 20
    while time.time() < deadline and not url:
        line = server.stdout.readline()
        if m := re.search(r"(https?|wss?)://[0-9.:a-z]+", line):
            url = m.group(0)
    if not url:
        server.kill()
        raise SystemExit("server did not print its URL")
    try:
        run_client(url, args, tmp)
    finally:
        server.terminate()
        server.wait(10)


def run_client(url: str, args: argparse.Namespace, tmp: Path) -> None:
    import qasync
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from agent_app.backoff import Backoff
    from agent_app.outbox import Outbox
    from agent_app.session import ConnectionState, Session
    from agent_app.store import Store
    from ui.bridge import StoreBridge
    from ui.main_window import MainWindow
    from ui.shell.features import install_features
    from ui.tasks import TaskRunner

    app = QApplication.instance() or QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    store, outbox = Store(), Outbox(tmp / "outbox.sqlite3")
    session = Session(url, store, outbox, backoff=Backoff(base=0.05, cap=0.5))
    bridge = StoreBridge(store)
    window = MainWindow(bridge, session, TaskRunner(), settings=None)  # type: ignore[arg-type]
    install_features(window)  # the whole window, as the shell builds it
    window.resize(1280, 800)
    window.show()
    model, panel = window.queue_model, window.queue

    sent_at: dict[tuple[int, int], float] = {}  # (phase, seq) -> visitor send time
    waiting_flush: list[tuple[int, int]] = []
    waiting_paint: list[tuple[int, int]] = []
    latency: dict[int, list[float]] = {0: [], 1: []}
    seen: dict[int, int] = {}

    def on_message(cid: str, index: int, item: Any) -> None:
        if m := TAG.match(item.message.text):
            key = (int(m.group(1)), int(m.group(2)))
            seen[key[1]] = seen.get(key[1], 0) + 1
            sent_at[key] = float(m.group(3))
            waiting_flush.append(key)

    bridge.message_added.connect(on_message)
    original_flush = model.flush

    def flush() -> None:
        original_flush()
        waiting_paint.extend(waiting_flush)
        waiting_flush.clear()

    model.flush = flush  # type: ignore[method-assign]
    model._batch.timeout.disconnect()
    model._batch.timeout.connect(flush)

    class PaintProbe(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and waiting_paint:
                now = time.time()
                for key in waiting_paint:
                    latency[key[0]].append((now - sent_at[key]) * 1000)
                waiting_paint.clear()
            return False

    probe = PaintProbe()
    panel.list.viewport().installEventFilter(probe)

    worst_block = {0: 0.0, 1: 0.0}
    phase_now = [0]
    last_beat = [time.perf_counter()]

    def beat() -> None:
        t = time.perf_counter()
        late = (t - last_beat[0]) * 1000 - 5
        last_beat[0] = t
        worst_block[phase_now[0]] = max(worst_block[phase_now[0]], late)

    heartbeat = QTimer(interval=5)
    heartbeat.timeout.connect(beat)

    phases = [
        ("steady", args.steady_rate, args.steady_seconds),
        ("burst", args.burst_rate, args.burst_seconds),
    ]
    n_steady = int(args.steady_rate * args.steady_seconds)
    n_total = n_steady + int(args.burst_rate * args.burst_seconds)
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=visitors_main, args=(url, args.visitors, phases, ready, go), daemon=True)

    async def poll(cond: Any, step: float = 0.02) -> None:
        """Wait for a condition set by another process or by Qt (no asyncio.Event to await)."""
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(step)

    async def scenario() -> None:
        await session.sign_in(EMAIL, PASSWORD)
        task = asyncio.create_task(session.run())
        await poll(lambda: session.state is ConnectionState.ONLINE)
        proc.start()
        await poll(ready.is_set)
        await poll(lambda: model.rowCount() >= args.visitors)
        await asyncio.sleep(0.5)
        heartbeat.start()
        last_beat[0] = time.perf_counter()
        go.set()
        end = time.time() + args.steady_seconds + args.burst_seconds + 60
        while time.time() < end and (len(seen) < n_total or waiting_paint or waiting_flush):
            if not proc.is_alive() and len(seen) < n_total and time.time() > end - 55:
                break  # the visitors are done (or died): whatever has not arrived is missing
            if len(seen) >= n_steady:
                phase_now[0] = 1
            await asyncio.sleep(0.05)
        heartbeat.stop()
        await session.stop()
        task.cancel()

    with loop:
        loop.run_until_complete(scenario())
    proc.join(10)

    in_store: dict[int, int] = {}
    for items in store.transcripts.values():
        for item in items:
            if m := TAG.match(item.message.text):
                in_store[int(m.group(2))] = in_store.get(int(m.group(2)), 0) + 1
    missing = [s for s in range(n_total) if s not in in_store]
    dupes = [s for s, c in in_store.items() if c != 1]

    def pct(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")

    for phase, (name, rate, seconds) in enumerate(phases):
        xs = latency[phase]
        print(
            f"{name}: {rate:g} msg/s for {seconds:g} s, {len(xs)} rendered: "
            f"p50 {statistics.median(xs):.1f} ms, "
            f"p99 {pct(xs, 0.99):.1f} ms, max {max(xs):.1f} ms; longest UI block {worst_block[phase]:.1f} ms"
            if xs
            else f"{name}: nothing rendered"
        )
    print(f"store: {len(in_store)}/{n_total} messages, missing {len(missing)}, duplicated {len(dupes)}")


if __name__ == "__main__":
    main()
