"""Screenshot helper (not collected): the demo team's saved replies in the real window, signed in to a real
demo workspace. Usage (what: picker or editor; the window itself is also saved to
/tmp/saved-replies-<what>.png):

  desktop-session --shot /tmp/r.png --after 16 -- .venv/bin/python tests/replies/screenshot_replies.py what
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import qasync
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from sandbox.workspace import Link, demo_workspace, server_origin
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.shell.features import install_features
from ui.tasks import TaskRunner


async def until(cond: object, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.05)


async def main(what: str) -> None:
    data = Path(tempfile.mkdtemp())
    async with (
        demo_workspace(data, visitors=False, seed=5) as ws,
        Link.open(ws.chat_url, "/visitor", lambda frame: None, server_origin(ws.chat_url)) as visitor,
    ):
        await visitor.request(p.VisitorHello, page_url="https://www.example-saas.com/pricing")
        await visitor.request(
            p.VisitorUpdateProfile, name="Ann Lee", email="ann@acme.example", company="Acme Corp"
        )
        ack = await visitor.request(p.VisitorSendMessage, text="Hi! Do you integrate with Salesforce?")
        cid = ack.result["conversation_id"]
        store, outbox = Store(), Outbox(data / "outbox.sqlite3")
        session = Session(ws.chat_url, store, outbox)
        window = MainWindow(StoreBridge(store), session, TaskRunner(), settings=None)  # type: ignore[arg-type]
        install_features(window)
        window.resize(1400, 860)
        window.show()
        await session.sign_in(ws.demo_email, ws.demo_password)
        task = asyncio.create_task(session.run())
        await until(lambda: session.state is ConnectionState.ONLINE and cid in store.conversations)
        await until(lambda: len(store.saved_replies) >= 5)
        window.open_conversation(cid)
        edit = window.conversation.composer.edit
        edit.setFocus()
        if what == "editor":
            window.presence_button.saved_replies_action.trigger()
        else:
            QTest.keyClicks(edit, "/")
            await asyncio.sleep(0.3)
            QTest.keyClick(edit, Qt.Key.Key_Down)
        await asyncio.sleep(1.0)
        target = QApplication.activeModalWidget() or window
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible() and widget.objectName() == "savedRepliesDialog":
                target = widget
        target.grab().save(f"/tmp/saved-replies-{what}.png")
        await asyncio.sleep(12)  # for desktop-session --shot
        await session.stop()
        await task
        outbox.close()


if __name__ == "__main__":
    app = QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main(sys.argv[1] if len(sys.argv) > 1 else "picker"))
