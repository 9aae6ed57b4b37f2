"""Cold start from the local cache: a fresh process to a queue that has painted its rows.

    .venv/bin/python bench/client_startup.py [--conversations 1000 --messages 20000 --runs 3]

Builds a ClientCache file (agent_app/cache.py) with N conversations and M messages, then starts a
fresh ``python`` subprocess per run that imports the app, creates the QApplication, loads the cache
into a Store and shows the MainWindow (offscreen). Measured from just before spawning the process
(so interpreter start and imports count) to the first paint of the queue list's viewport with rows.
Also reports that process's resident memory (VmRSS) once painted. Targets: <= 1.5 s, <= 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_cache(path: Path, n_conv: int, n_msg: int) -> None:
    from agent_app import protocol as p
    from agent_app.cache import ClientCache
    from agent_app.store import Store

    now = time.time()
    me = p.Agent(id="a1", name="Alex Rivera", email="alex@example.com")
    convs, messages = [], []
    for i in range(n_conv):
        company, email = f"Company {i % 97}", f"v{i}@example.com"
        v = p.Visitor(id=f"v{i}", name=f"Visitor {i}", company=company, email=email)
        convs.append(p.Conversation(id=f"c{i}", visitor=v, created_at=now - 5000 - i, updated_at=now - i,
                                    last_message_at=now - i, last_message_preview=f"Pricing {i}",
                                    assignee_id=None if i % 3 else "a1",
                                    waiting_since=now - i if i % 3 else None))  # fmt: skip
    for k in range(n_msg):
        cid = f"c{k % n_conv}"
        kind = p.AuthorKind.VISITOR if k % 2 else p.AuthorKind.AGENT
        messages.append(p.Message(id=f"m{k}", conversation_id=cid, author_kind=kind,
                                  text=f"Message {k}: how does pricing work for a team of {k % 90 + 5}?",
                                  created_at=now - 5000 + k * 0.2))  # fmt: skip
    store = Store()
    cache = ClientCache(path, keep_messages=max(500, n_msg // n_conv + 1))
    cache.attach(store)
    store.restore(p.Snapshot(epoch="e", seq=1, agents=[me], conversations=convs, messages=messages), me, {})
    cache.flush()
    cache.close()


def child(cache_path: str) -> None:
    """Runs in the fresh process: imports, QApplication, cache load, MainWindow shown, first painted rows."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from agent_app.cache import ClientCache
    from agent_app.outbox import Outbox
    from agent_app.session import Session
    from agent_app.store import Store
    from ui.bridge import StoreBridge
    from ui.main_window import MainWindow
    from ui.shell.features import install_features
    from ui.tasks import TaskRunner

    imported = time.time()
    app = QApplication(sys.argv)
    store = Store()
    bridge = StoreBridge(store)
    cache = ClientCache(cache_path)
    cache.load_into(store)
    loaded = time.time()
    outbox = Outbox(Path(cache_path).with_name("outbox.sqlite3"))
    session = Session("ws://127.0.0.1:9", store, outbox)  # never run: start-up from the cache only
    window = MainWindow(bridge, session, TaskRunner(), settings=None)  # type: ignore[arg-type]
    install_features(window)  # the whole window, as the shell builds it
    if store.me is not None:
        window.queue.set_me(store.me.id)
    window.resize(1280, 800)
    result: dict[str, float] = {"imported": imported, "loaded": loaded}

    class Probe(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if (
                event.type() == QEvent.Type.Paint
                and window.queue.proxy.rowCount()
                and "painted" not in result
            ):
                QTimer.singleShot(0, done)  # right after this paint
            return False

    def done() -> None:
        result["painted"] = time.time()
        result["rows"] = window.queue.proxy.rowCount()
        result["messages"] = sum(len(t) for t in store.transcripts.values())
        status = Path("/proc/self/status").read_text()
        result["rss_mb"] = (
            int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS"))) / 1024
        )
        print(json.dumps(result), flush=True)
        app.quit()

    probe = Probe()
    window.queue.list.viewport().installEventFilter(probe)
    window.show()
    app.exec()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    folder = Path(tempfile.mkdtemp(prefix="client_startup_"))
    cache = folder / "cache.sqlite3"
    t = time.perf_counter()
    build_cache(cache, args.conversations, args.messages)
    size = cache.stat().st_size + sum(f.stat().st_size for f in folder.glob("cache.sqlite3-*"))
    print(f"cache: {args.conversations:,} conversations, {args.messages:,} messages, {size / 1e6:.1f} MB "
          f"(built in {time.perf_counter() - t:.1f} s)")  # fmt: skip
    totals, rss = [], []
    for run in range(args.runs):
        start = time.time()
        command = [sys.executable, __file__, "--child", str(cache)]
        out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
        if line is None:
            raise SystemExit(f"child failed:\n{out.stdout}\n{out.stderr}")
        r = json.loads(line)
        totals.append(r["painted"] - start)
        rss.append(r["rss_mb"])
        print(f"run {run + 1}: imports done {r['imported'] - start:.3f} s, "
              f"cache loaded {r['loaded'] - start:.3f} s ({int(r['messages']):,} messages), "
              f"{int(r['rows'])} rows painted {r['painted'] - start:.3f} s, "
              f"RSS {r['rss_mb']:.0f} MB")  # fmt: skip
    print(f"cold start to painted queue: median {statistics.median(totals):.3f} s, "
          f"worst {max(totals):.3f} s "
          f"(target <= 1.5 s); RSS median {statistics.median(rss):.0f} MB (target <= 150 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
