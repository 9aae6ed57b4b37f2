"""Queue with 100,000 conversations: time to build and show (target <= 0.5 s), then time per scroll frame."""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.store import Store
from ui.bridge import StoreBridge
from ui.queue.model import QueueModel
from ui.queue.panel import QueuePanel
from ui.queue.proxy import QueueView

N = int(os.environ.get("QUEUE_ROWS", "100000"))


def conversations(n: int, now: float) -> list[p.Conversation]:
    out = []
    for i in range(n):
        v = p.Visitor(
            id=f"v{i}", name=f"Visitor {i}", company=f"Company {i % 997}", email=f"v{i}@example.com"
        )
        out.append(p.Conversation(id=f"c{i}", visitor=v, created_at=now - i, last_message_at=now - i,
                                  last_message_preview=f"Message number {i} about pricing",
                                  assignee_id=None if i % 3 else "a1",
                                  waiting_since=now - i if i % 3 else None))  # fmt: skip
    return out


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    now = time.time()
    me = p.Agent(id="a1", name="Alex Rivera", email="alex@example.com")
    snap = p.Snapshot(epoch="e", seq=1, agents=[me], conversations=conversations(N, now), messages=[])
    store = Store()
    store.restore(snap, me, {})
    bridge = StoreBridge(store)
    t0 = time.perf_counter()
    model = QueueModel(bridge)
    panel = QueuePanel(model)
    panel.set_me(me.id)
    panel.resize(360, 900)
    panel.show()
    app.processEvents()
    built = time.perf_counter() - t0
    rows = panel.proxy.rowCount()
    bar = panel.list.verticalScrollBar()
    frames = []
    step = max(1, bar.maximum() // 200)
    for value in range(0, bar.maximum() + 1, step):
        f0 = time.perf_counter()
        bar.setValue(value)
        panel.list.viewport().repaint()
        app.processEvents()
        frames.append((time.perf_counter() - f0) * 1000)
    print(f"queue_100k: {rows:,} rows built + shown in {built:.3f} s (target <= 0.5 s)")
    print(f"scroll: {len(frames)} frames, p50 {statistics.median(frames):.1f} ms, "
          f"p99 {sorted(frames)[int(len(frames) * 0.99) - 1]:.1f} ms, max {max(frames):.1f} ms")  # fmt: skip

    def timed(action: Callable[[], object]) -> float:
        t = time.perf_counter()
        action()
        panel.list.viewport().repaint()
        app.processEvents()
        return (time.perf_counter() - t) * 1000

    tick = [timed(model.tick) for _ in range(20)]
    print(f"SLA tick + repaint: p50 {statistics.median(tick):.1f} ms, max {max(tick):.1f} ms")

    def live_update(i: int) -> None:  # a new message moves the oldest conversation to the top
        conv = store.conversations[f"c{N - 1 - i}"]
        store.upsert_conversation(
            msgspec.structs.replace(conv, last_message_at=time.time(), waiting_since=None)
        )
        model.flush()

    live = [timed(functools.partial(live_update, i)) for i in range(20)]
    print(f"live update (row moves, one batch) + repaint: p50 {statistics.median(live):.1f} ms, "
          f"max {max(live):.1f} ms")  # fmt: skip
    # The pointer rests on a row: updates that would move rows wait (dataChanged only), then one release.
    anchor = panel.proxy.conversation_id(5)
    model.anchor = lambda: anchor
    model.set_held(True)
    held = [timed(functools.partial(live_update, 20 + i)) for i in range(20)]
    release = timed(functools.partial(model.set_held, False))
    model.anchor = panel.list.pointer_id
    print(f"held (pointer over the list) live update + repaint: p50 {statistics.median(held):.1f} ms, "
          f"max {max(held):.1f} ms; release of 20 waiting moves: {release:.1f} ms")  # fmt: skip
    views = [timed(functools.partial(panel.set_view, v)) for v in (*QueueView, QueueView.ALL)]
    print(f"view switch: max {max(views):.1f} ms; counts: {panel.tabs.tabText(int(QueueView.ALL))!r}")
    search = [
        timed(functools.partial(panel.search.setText, t)) for t in ("c", "company 42", "company 421", "")
    ]
    print(f"search keystroke: first {search[0]:.1f} ms, then max {max(search[1:]):.1f} ms")


if __name__ == "__main__":
    main()
