"""Screenshot helper (not collected): the "On site now" view on a real server with real visitor widgets.

Usage: desktop-session --shot /tmp/l.png --after 12 -- .venv/bin/python tests/live/screenshot_live.py [what]
what: "engage" also opens the Engage dialog for the first target-account visitor.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import qasync
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.live_visitors import Segment
from agent_app.outbox import Outbox
from agent_app.session import Session
from agent_app.store import Store
from chat_server import run_server
from chat_server.playbook import loads_playbook
from tests.server.conftest import make_config, visitor_login
from ui.bridge import StoreBridge
from ui.shell.account import default_window_factory
from ui.shell.features import install_features
from ui.tasks import TaskRunner

PASSWORD = "correct horse battery"
VISITORS = [
    (
        "https://acme.test/pricing",
        "Pricing",
        {"name": "Dana Lee", "email": "dana@globex.com", "company": "Globex"},
    ),
    ("https://acme.test/demo", "Book a demo", {"company": "Initech"}),
    ("https://acme.test/blog/why-chat", "Why chat converts", {}),
    ("https://acme.test/features", "Features", {"name": "Omar Diaz", "email": "omar@gmail.com"}),
    ("https://acme.test/comparison", "Acme vs. the rest", {"company": "Umbrella"}),
]


async def main(engage: bool) -> None:
    folder = Path(tempfile.mkdtemp())
    async with run_server(make_config(folder, live_grace_seconds=2)) as server:
        server.ctx.live.playbook = loads_playbook(
            'pages = ["/pricing", "/demo", "/features"]\ntarget_accounts = ["globex.com", "Initech"]'
        )
        server.admin.add_agent("sam@acme.test", "Sam Chen", PASSWORD)
        clients = []
        for n, (url, title, profile) in enumerate(VISITORS):
            client, _ = await visitor_login(server, page_url=url, page_title=title)
            if profile:
                await client.ok(p.VisitorUpdateProfile(id=f"u{n}", **profile))
            clients.append(client)
            await asyncio.sleep(0.7)  # the visits start a moment apart (time on site)
        store, outbox = Store(), Outbox(folder / "outbox.sqlite3")
        session = Session(server.url, store, outbox, backoff=Backoff(base=0.05, cap=0.2))
        runner = TaskRunner()
        window = default_window_factory(StoreBridge(store), session, runner, None, None)  # type: ignore[arg-type]
        features = install_features(window)
        window.resize(1400, 820)
        window.show()
        session.add_state_listener(window.set_connection_state)
        await session.sign_in("sam@acme.test", PASSWORD)
        task = asyncio.create_task(session.run())
        feature = features.live_visitors
        while len(feature.live) < len(VISITORS):  # noqa: ASYNC110 (a picture helper under qasync, not a test)
            await asyncio.sleep(0.05)
        feature.action.trigger()
        if engage:
            feature.view.set_segment(Segment.TARGET)
            feature.view.table.selectRow(0)
            feature.view.engage_button.click()
        await asyncio.sleep(30)  # the screenshot is taken meanwhile
        await session.stop()
        await task
        outbox.close()
        for client in clients:
            await client.close()


if __name__ == "__main__":
    app = QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main("engage" in sys.argv[1:]))
