"""The shell's install of the features on the real MainWindow: widgets in place, keys and clicks reach the
session."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from agent_app.cache import ClientCache
from agent_app.settings import Settings
from agent_app.store import Store
from ui.bridge import StoreBridge
from ui.conversation.routing_history import RoutingHistoryFeature
from ui.conversation.saved_replies import SavedRepliesFeature
from ui.main_window import MainWindow
from ui.qualify.header import CqlHeader
from ui.qualify.install import QualifyFeatures
from ui.shell.features import MemorySecrets, WindowFeatures, install_features
from ui.tasks import TaskRunner
from ui.visitor_panel import VisitorPanel


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

    async def add_participant(self, cid: str, agent_id: str, note: str = "") -> None:
        self.calls.append(("add_participant", cid, agent_id, note))

    def typing(self, cid: str, active: bool) -> None:
        pass


def make_store() -> Store:
    store = Store()
    me = p.Agent(id="me", name="Sam Rep", email="sam@x", presence=p.Presence.AVAILABLE)
    kim = p.Agent(id="kim", name="Kim Lee", email="kim@x", territory="US-East", presence=p.Presence.AWAY)
    boss = p.Agent(id="boss", name="Casey Boss", email="casey@x", role=p.Role.MANAGER, territory="US")
    bo = p.Agent(id="bo", name="Bo Brown", email="bo@x", territory="US-West", presence=p.Presence.AVAILABLE)
    store.apply_welcome(p.Welcome(ref="h", agent=me, epoch="e", seq=0, resume="resync"))
    routing = p.Routing(aligned_agent_id="kim", rule="us-east", line=6, basis="visitor answers")
    visitor = p.Visitor(id="v1", name="Jane", country="US", region="NY")
    conv = p.Conversation(id="c1", visitor=visitor, assignee_id="me", cql=1, routing=routing)
    store.apply_snapshot(
        p.Snapshot(epoch="e", seq=0, agents=[me, kim, boss, bo], conversations=[conv], messages=[])
    )
    return store


async def test_the_shells_install_puts_each_feature_in_once_and_they_follow_the_open_conversation(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """The production install: WindowFeatures.install, as the shell calls it for a signed-in window."""
    store, session = make_store(), FakeSession()
    runner = TaskRunner()
    window = MainWindow(StoreBridge(store), session, runner, None)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    assert not window.findChildren(CqlHeader), "MainWindow installs nothing itself: one install path"
    settings = Settings(tmp_path / "settings.json")
    async with httpx.AsyncClient() as http:
        cache = ClientCache(tmp_path / "cache.sqlite3")  # where the window keeps drafts
        account = SimpleNamespace(bridge=window.bridge, session=session, cache=cache)
        kept = WindowFeatures(settings, MemorySecrets(), http, runner).install(account, window, tmp_path)  # type: ignore[arg-type]
        try:
            features = next(k for k in kept if isinstance(k, QualifyFeatures))
            # Each feature exactly once, where the SDR looks for it.
            assert window.findChildren(CqlHeader) == [features.cql]
            actions = window.conversation.header.header_actions
            routing = next(k for k in kept if isinstance(k, RoutingHistoryFeature))
            assert [actions.itemAt(i).widget() for i in range(actions.count())] == [
                features.cql,
                features.participants,
                routing.button,  # "Routing": who routing tried, why, when
            ]
            assert window.conversation.composer.isAncestorOf(features.share)
            texts = [a.text() for a in window.toolbar.actions()]
            assert texts.count("Meetings") == 1 and texts.count("Reports") == 1
            assert "CQL report" not in texts  # the server-computed Reports view replaced it (ui/reports)
            assert (
                isinstance(window.side_panel, VisitorPanel)
                and window.splitter.indexOf(window.side_panel) == 2
            )
            assert len(window.findChildren(SavedRepliesFeature)) == 1

            window.show()
            window.open_conversation("c1")
            assert features.cql.bolts.level() == 1 and features.share.isEnabled()
            assert features.cql.isVisible() and features.share.isVisible()
            assert window.side_panel.cid == "c1"
            features.cql.bolts.choose(3)
            features.share.click()
            for _ in range(10):
                await asyncio.sleep(0)
            assert ("set_cql", "c1", 3) in session.calls and ("share_calendar", "c1", "me") in session.calls
            features.meetings_action.trigger()
            assert window.center.currentWidget() is features.meetings
            window.open_conversation("c1")
            assert window.center.currentWidget() is window.conversation
            window.conversation.composer.set_text("Hi Jane, one question about your team")
            window.conversation.save_draft()  # as after a typing pause: the install kept drafts on disk
            assert cache.load_drafts() == {"c1": ("Hi Jane, one question about your team", False)}
        finally:
            for part in kept:
                if hasattr(part, "dispose"):
                    part.dispose()
            runner.cancel_all()
            cache.close()
            await asyncio.sleep(0)


async def test_the_windows_own_participants_dialog_hands_off_to_the_chosen_teammate(qtbot: QtBot) -> None:
    """The production install (ui.shell.features.install_features): the dialog tags the
    server's aligned SDR, and "Hand off to X" reassigns the chat to whoever was chosen, note included."""
    store, session = make_store(), FakeSession()
    window = MainWindow(StoreBridge(store), session, TaskRunner(), None)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    window.open_conversation("c1")
    features = install_features(window).qualify  # the production install path (the shell calls it)
    # A modal exec() would block here: the dialog must open window-modally and report back by signal.
    QTimer.singleShot(2000, lambda: (w := QApplication.activeModalWidget()) and w.close())
    features.participants.add_requested.emit("c1")
    dialog = features.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.add_button.text() == "Add Kim Lee" and dialog.handoff_button.text() == "Hand off to Kim Lee"
    row = next(r for r in range(dialog.proxy.rowCount()) if dialog.proxy.index(r, 0).data() == "Bo Brown")
    dialog.list.setCurrentIndex(dialog.proxy.index(row, 0))
    qtbot.keyClicks(dialog.note, "Wants a demo for 40 seats")
    dialog.handoff_button.click()
    for _ in range(10):
        await asyncio.sleep(0)
    sent = [c[1] for c in session.calls if c[0] == "request" and isinstance(c[1], p.RecordHandoff)]
    assert len(sent) == 1
    handoff = sent[0]
    assert (handoff.conversation_id, handoff.to_agent_id, handoff.reassign) == ("c1", "bo", True)
    assert handoff.note == "Wants a demo for 40 seats"
    # Add instead: the chosen teammate joins.
    features.participants.add_requested.emit("c1")
    dialog = features.dialog
    assert dialog is not None
    dialog.add_button.click()
    for _ in range(10):
        await asyncio.sleep(0)
    assert ("add_participant", "c1", "kim", "") in session.calls


async def test_cql_history_and_report_times_are_in_my_profile_zone_not_the_machines(
    qtbot: QtBot, monkeypatch: Any
) -> None:
    """Machine in UTC, my profile in Chicago: the CQL history popup and the report list say Chicago time."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        store, session = make_store(), FakeSession()
        me = store.me
        assert me is not None
        store.apply_welcome(
            p.Welcome(ref="h", agent=p.Agent(id=me.id, name=me.name, email=me.email,
                                            timezone="America/Chicago"), epoch="e", seq=0, resume="replay")
        )  # fmt: skip
        from datetime import datetime
        from zoneinfo import ZoneInfo

        at = time.time() - 3600  # within the report's window
        chicago = datetime.fromtimestamp(at, ZoneInfo("America/Chicago"))
        expected = f"{chicago:%H:%M} {chicago.tzname()}"
        change = p.CqlChange(level=2, previous=1, by_kind=p.AuthorKind.AGENT, by_name="Sam Rep", at=at)
        conv = store.conversations["c1"]
        store.apply_snapshot(
            p.Snapshot(epoch="e", seq=0, agents=list(store.agents.values()), messages=[], conversations=[
                p.Conversation(id="c1", visitor=conv.visitor, assignee_id="me", cql=2, created_at=at,
                               cql_history=[change], routing=conv.routing)])
        )  # fmt: skip
        runner = TaskRunner()
        window = MainWindow(StoreBridge(store), session, runner, None)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        features = install_features(window).qualify
        window.open_conversation("c1")
        features.cql.on_history_button_clicked()
        when = str(features.cql.popup.model.index(0, 0).data())
        assert expected in when, when
        features.cql.popup.hide()
        # (The Reports view counts days in the same profile zone on the server: tests/reports.)
        runner.cancel_all()
    finally:
        monkeypatch.undo()
        time.tzset()
