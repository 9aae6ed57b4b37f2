"""install_qualify_features on the real MainWindow: widgets in place, keys and clicks reach the session."""

from __future__ import annotations

import asyncio
from typing import Any

from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from agent_app.store import Store
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.qualify.install import install_qualify_features
from ui.tasks import TaskRunner


class FakeSession:
    state, detail = "online", ""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def set_cql(self, cid: str, level: int | None) -> None:
        self.calls.append(("set_cql", cid, level))

    async def share_calendar(self, cid: str, agent_id: str) -> None:
        self.calls.append(("share_calendar", cid, agent_id))

    async def list_meetings(self) -> list[p.Meeting]:
        return []

    async def request(self, command: Any) -> dict[str, Any]:
        self.calls.append(("request", command))
        return {}

    def typing(self, cid: str, active: bool) -> None:
        pass


def make_store() -> Store:
    store = Store()
    me = p.Agent(id="me", name="Sam Rep", email="sam@x", presence=p.Presence.AVAILABLE)
    store.apply_welcome(p.Welcome(ref="h", agent=me, epoch="e", seq=0, resume="resync"))
    conv = p.Conversation(id="c1", visitor=p.Visitor(id="v1", name="Jane"), assignee_id="me", cql=1)
    store.apply_snapshot(p.Snapshot(epoch="e", seq=0, agents=[me], conversations=[conv], messages=[]))
    return store


async def test_installed_features_follow_the_open_conversation(qtbot: QtBot) -> None:
    store, session = make_store(), FakeSession()
    runner = TaskRunner()
    window = MainWindow(StoreBridge(store), session, runner, None)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    features = install_qualify_features(window, http_base="http://127.0.0.1:1")
    window.show()
    window.open_conversation("c1")
    assert features.cql.bolts.level() == 1 and features.share.isEnabled()
    assert features.cql.isVisible() and features.share.isVisible()
    features.cql.bolts.choose(3)
    features.share.click()
    for _ in range(10):
        await asyncio.sleep(0)
    assert ("set_cql", "c1", 3) in session.calls and ("share_calendar", "c1", "me") in session.calls
    features.show_report()
    assert window.center.currentWidget() is features.report
    features.show_meetings()
    assert window.center.currentWidget() is features.meetings
    window.open_conversation("c1")
    assert window.center.currentWidget() is window.conversation
