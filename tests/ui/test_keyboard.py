"""Keyboard: Alt+0..3 sets the CQL from anywhere in the window (real server), Ctrl+G picks my chat first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from agent_app.store import Store
from tests.client.conftest import Visitor
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.ui.conftest import FakeClock
from tests.ui.fakes import ME, TEAMMATE, RecordingSession, conversation
from tests.ui.test_main_window import make_window
from ui.bridge import StoreBridge
from ui.help import SHORTCUTS, registered
from ui.help.shortcuts import shortcut_keys
from ui.queue import QueueView
from ui.tasks import TaskRunner

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"
ALT = Qt.KeyboardModifier.AltModifier


def test_alt_digits_are_in_the_shortcut_table_and_clash_with_nothing() -> None:
    keys = shortcut_keys("cql_set")
    assert keys == ("Alt+0", "Alt+1", "Alt+2", "Alt+3")
    taken = [k for s in SHORTCUTS if s.action != "cql_set" for k in s.keys]
    assert not set(keys) & set(taken)
    assert "cql_set" not in {s.action for s in registered()}  # the CQL feature installs them itself


async def test_alt_2_from_the_reply_box_and_alt_3_from_the_queue_set_the_cql_on_the_real_server(
    qtbot: Any, tmp_path: Path
) -> None:
    from chat_server.app import run_server
    from chat_server.config import Config

    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "server.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        # the window as the shell builds it: its factory, then every feature through install_features
        async with signed_in_desk(qtbot, server.url, tmp_path, EMAIL, PASSWORD) as desk:
            window, store = desk.window, desk.store
            window.activateWindow()
            await until(lambda: QApplication.activeWindow() is window, "the window is active")
            async with Visitor(server.url) as visitor:
                await visitor.say("Hi, we need pricing for 40 seats")
                cid = visitor.conversation_id
                await until(lambda: window.queue.proxy.row_of(cid) >= 0, "the chat in the queue")
                window.open_conversation(cid)
                composer = window.conversation.composer
                composer.focus()
                qtbot.keyClicks(composer.edit, "Happy to help")
                assert composer.edit.hasFocus()
                qtbot.keyClick(composer.edit, Qt.Key.Key_2, ALT)

                def stored_cql() -> int | None:
                    conv = server.storage.get_conversation(cid)
                    return None if conv is None else conv.cql

                await until(lambda: stored_cql() == 2, "CQL 2 stored on the server")
                await until(lambda: store.conversations[cid].cql == 2, "CQL 2 back in the client")
                assert composer.text() == "Happy to help"  # the key was a shortcut, not text
                assert composer.edit.hasFocus()

                window.queue.focus_list()
                qtbot.keyClick(window.queue.list, Qt.Key.Key_3, ALT)
                await until(lambda: stored_cql() == 3, "CQL 3 stored on the server")
                qtbot.keyClick(window.queue.list, Qt.Key.Key_0, ALT)
                await until(lambda: stored_cql() == 0, "the red line stored on the server")


def test_ctrl_g_picks_my_chat_nearest_to_breach_before_a_newer_waiting_one(
    qtbot: Any, session: RecordingSession, runner: TaskRunner, clock: FakeClock
) -> None:
    now = clock.now
    store = Store(me=ME)
    store.agents = {ME.id: ME, TEAMMATE.id: TEAMMATE}
    chats = [
        # a visitor waits for my answer in my chat: 8 s left on its clock
        conversation(1, now, assignee_id=ME.id, waiting_since=now - 22, sla_due_at=now + 8),
        # my other chat: 25 s left
        conversation(2, now, assignee_id=ME.id, waiting_since=now - 5, sla_due_at=now + 25),
        # a new waiting chat, nobody's yet
        conversation(3, now, waiting_since=now - 3, sla_due_at=now + 27),
        # a teammate's chat closer to breach: not mine to answer
        conversation(4, now, assignee_id=TEAMMATE.id, waiting_since=now - 28, sla_due_at=now + 2),
        # my chat with nobody waiting
        conversation(5, now, assignee_id=ME.id),
    ]
    for conv in chats:
        store.conversations[conv.id] = conv
    window = make_window(qtbot, StoreBridge(store), session, runner)
    window.queue_model.clock = clock
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.current_conversation_id() == "c-00001"
    assert window.queue.proxy.view is QueueView.MINE
    assert window.conversation.composer.edit.hasFocus()

    # once my chats are answered (nothing waits on me), the waiting one is next
    for cid in ("c-00001", "c-00002"):
        conv = store.conversations[cid]
        conv.waiting_since, conv.sla_due_at = None, None
        store.upsert_conversation(conv)
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.current_conversation_id() == "c-00003"
    assert window.queue.proxy.view is QueueView.WAITING
