"""Panel UI latency: VisitorUpdated with an email -> CRM + company results on screen; UI-thread stalls.

.venv/bin/python bench/panel_ui.py [--visitors 200] [--latency-ms 0]   (QT_QPA_PLATFORM=offscreen works)
Sandboxes run as subprocesses, so their work never counts as a UI-thread block.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import keyring  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from agent_app import protocol as p  # noqa: E402
from agent_app.integrations import IntegrationSettings, build_integrations  # noqa: E402
from agent_app.integrations.config import ENRICHMENT_KEY_SECRET  # noqa: E402
from agent_app.secrets import SecretStore, qualname  # noqa: E402
from agent_app.store import Store  # noqa: E402
from bench.panel_lookup import _MemoryKeyring, _pct, _start, _visitors  # noqa: E402
from sandbox.enrichment import DEFAULT_CLEARBIT_KEY  # noqa: E402
from ui.bridge import StoreBridge  # noqa: E402
from ui.tasks import TaskRunner  # noqa: E402
from ui.visitor_panel import VisitorPanel  # noqa: E402


class Heartbeat:
    """A 5 ms QTimer; the worst lateness of a tick is the longest the UI thread was blocked."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self.on_timer_timeout)
        self.last = 0.0
        self.worst = 0.0
        self.phase = ""  # what the bench is doing, to say where the worst blocks happened
        self.blocks: list[tuple[float, str]] = []

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def on_timer_timeout(self) -> None:
        now = time.perf_counter()
        late = (now - self.last) * 1000 - 5
        self.worst = max(self.worst, late)
        if late > 8:
            self.blocks.append((late, self.phase))
        self.last = now


class Session:
    async def request(self, command: p.AgentCommand) -> dict[str, object]:
        return {}


async def main(args: argparse.Namespace) -> None:
    backend = _MemoryKeyring()
    keyring.set_keyring(backend)
    secrets = SecretStore(backend=backend, secure_backends={qualname(backend)})
    secrets.set(ENRICHMENT_KEY_SECRET, DEFAULT_CLEARBIT_KEY)
    sf_proc, sf_url = _start("salesforce", args.latency_ms)
    en_proc, en_url = _start("datafox", args.latency_ms)
    try:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as http:
            with tempfile.TemporaryDirectory() as tmp:
                it = build_integrations(
                    IntegrationSettings(
                        salesforce_login_url=sf_url,
                        salesforce_client_id="BenchUI",
                        enrichment_base_url=en_url,
                        activity_log_path=str(Path(tmp) / "a.sqlite3"),
                    ),
                    http,
                    secrets,
                )

                async def browser(url: str) -> None:
                    await http.get(url, follow_redirects=True)

                await it.auth.sign_in(browser, login_hint="alex@demo.sdr")
                store = Store()
                store.me = p.Agent(id="a1", name="Alex Rivera", email="alex@demo.sdr")
                bridge = StoreBridge(store)
                runner = TaskRunner()
                panel = VisitorPanel(bridge, it, runner, Session(), None)
                panel.resize(380, 1000)
                panel.show()
                shown: dict[str, float] = {}
                panel.results_shown.connect(lambda cid: shown.setdefault(cid, time.perf_counter()))
                gc.freeze()  # as main.py does once the window is up (see ui/shell)
                beat = Heartbeat()
                beat.start()
                timings = []
                for i, (email, company) in enumerate(_visitors(args.visitors)):
                    cid = f"c{i}"
                    visitor = p.Visitor(id=f"v{i}", name=f"Visitor {i}", company=company or "")
                    store.upsert_conversation(p.Conversation(id=cid, visitor=visitor))
                    beat.phase = f"visitor {i}: open conversation"
                    panel.show_conversation(cid)
                    await asyncio.sleep(0.01)
                    beat.phase = f"visitor {i}: results"
                    t0 = time.perf_counter()
                    updated = p.Visitor(id=f"v{i}", name=f"Visitor {i}", email=email, company=company or "")
                    store.apply_event(p.VisitorUpdated(conversation_id=cid, visitor=updated))
                    while cid not in shown:  # noqa: ASYNC110
                        await asyncio.sleep(0.001)
                    timings.append((shown[cid] - t0) * 1000)
                beat.timer.stop()
                print(
                    f"panel_ui: n={len(timings)} latency-ms={args.latency_ms} "
                    f"p50={statistics.median(timings):.1f} ms p90={_pct(timings, 0.9):.1f} ms "
                    f"p99={_pct(timings, 0.99):.1f} ms max={max(timings):.1f} ms "
                    f"longest UI block={beat.worst:.1f} ms"
                )
                worst = sorted(beat.blocks, reverse=True)[:5]
                print("worst UI blocks: " + ", ".join(f"{ms:.1f} ms ({phase})" for ms, phase in worst))
                runner.cancel_all()
                it.close()
    finally:
        for proc in (sf_proc, en_proc):
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    app = QApplication(sys.argv)
    qasync.run(main(parser.parse_args()))
