"""Main window: composition, keyboard navigation, shortcuts table vs help dialog, state, status, banner."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.store import Store
from tests.ui.fakes import RecordingSession
from ui.bridge import StoreBridge
from ui.help import SHORTCUTS, ShortcutsDialog, registered
from ui.main_window import MainWindow
from ui.queue import QueueView
from ui.tasks import TaskRunner


def make_window(
    qtbot: Any,
    bridge: StoreBridge,
    session: RecordingSession,
    runner: TaskRunner,
    state: QSettings | None = None,
) -> MainWindow:
    window = MainWindow(bridge, session, runner, settings=None, state=state)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.wait(20)
    if QApplication.activeWindow() is not window:  # offscreen: activation is not always immediate
        QApplication.setActiveWindow(window)
    return window


def test_help_dialog_lists_every_shortcut_and_all_are_registered(
    qtbot: Any, qtmodeltester: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    window.show_shortcuts()
    dialog = window.help_dialog
    assert isinstance(dialog, ShortcutsDialog) and dialog.isVisible()
    qtmodeltester.check(dialog.model)
    listed = {dialog.model.index(r, 1).data() for r in range(dialog.model.rowCount())}
    assert dialog.model.rowCount() == len(SHORTCUTS)
    for spec in SHORTCUTS:
        assert "  or  ".join(spec.keys) in listed
    keys = {s.key().toString() for s in window.findChildren(QShortcut)}
    for spec in registered():
        for k in spec.keys:
            assert QKeySequence(k).toString() in keys, k


def test_ctrl_number_switches_views_and_ctrl_k_focuses_search(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    for n, view in enumerate(QueueView, start=1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + n), Qt.KeyboardModifier.ControlModifier)
        assert window.queue.proxy.view is view
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.queue.search.hasFocus()
    window.queue.set_view(QueueView.ALL)
    qtbot.keyClicks(window.queue.search, "initech")
    assert window.queue.proxy.rowCount() > 0


def test_keyboard_move_open_and_composer_jumps(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    assert window.center.currentWidget() is window.empty
    window.queue.focus_list()
    qtbot.keyClick(window.queue.list, Qt.Key.Key_Down)
    first = window.queue.proxy.conversation_id(1)
    assert window.current_conversation_id() == first
    assert window.center.currentWidget() is window.conversation
    qtbot.keyClick(window.queue.list, Qt.Key.Key_Return)
    assert window.conversation.composer.edit.hasFocus()
    # Alt+Down from the composer: next conversation, focus stays in the composer
    qtbot.keyClick(window.conversation.composer.edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.current_conversation_id() == window.queue.proxy.conversation_id(2)
    qtbot.keyClick(window.conversation.composer.edit, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert window.current_conversation_id() == first
    # Esc in the queue jumps to the composer; Ctrl+L too (focus must really leave the composer first, or
    # these would pass with keys that do nothing)
    window.queue.focus_list()
    qtbot.waitUntil(window.queue.list.hasFocus)
    assert not window.conversation.composer.edit.hasFocus()
    qtbot.keyClick(window.queue.list, Qt.Key.Key_Escape)
    assert window.conversation.composer.edit.hasFocus()
    window.queue.focus_search()
    qtbot.waitUntil(window.queue.search.hasFocus)
    assert not window.conversation.composer.edit.hasFocus()
    qtbot.keyClick(window.queue.search, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.conversation.composer.edit.hasFocus()
    # "/" typed in the composer is text, not the search shortcut
    qtbot.keyClicks(window.conversation.composer.edit, "a/b")
    assert window.conversation.composer.text() == "a/b"


def test_ctrl_shift_c_closes_and_ctrl_g_opens_most_urgent(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    opened = window.current_conversation_id()
    assert store.conversations[opened].sla_breached and window.queue.proxy.view is QueueView.WAITING
    assert window.queue.proxy.conversation_id(0) == opened  # most urgent is on top
    before = runner.running
    qtbot.keyClick(
        window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert runner.running == before + 1  # close_conversation(opened) started through the runner
    assert window.conversation.header.status_button.property("busy") is True


def test_open_conversation_from_notification_switches_view_and_marks_read(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    window.queue.set_view(QueueView.MINE)
    target = next(c for c in store.conversations.values() if c.assignee_id is None and store.unread.get(c.id))
    with qtbot.waitSignal(window.conversation_opened):
        window.open_conversation(target.id)
    assert window.queue.proxy.view is QueueView.ALL and window.queue.current_id() == target.id
    assert store.unread.get(target.id, 0) == 0
    assert window.side_panel.title.text() == window.conversation.header.name.text()


def test_presence_menu_sign_out_status_and_banner(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    assert "Dana Whitfield" in window.presence_button.text()
    with qtbot.waitSignal(window.presence_toggled) as blocker:
        window.presence_button.actions_by_presence[p.Presence.AWAY].trigger()
    assert blocker.args == [p.Presence.AWAY]
    with qtbot.waitSignal(window.presence_toggled) as blocker:
        qtbot.keyClick(
            window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        )
    assert blocker.args == [p.Presence.AWAY]  # toggles from Available (window shows the server's truth)
    with qtbot.waitSignal(window.sign_out_requested):
        window.presence_button.sign_out_action.trigger()
    window.set_connection_state("reconnecting", "Reconnecting in 4 s")
    assert window.connection.label.text() == "Reconnecting in 4 s…"
    window.set_connection_state("offline")
    assert window.connection.label.text() == "Offline — messages will be sent when back online"
    window.set_connection_state("online")
    assert window.connection.label.text() == "Online"
    window.show_banner("New chat from <b>Eve</b>", "c-00001")
    assert window.banner.isVisible() and window.banner.label.text() == "New chat from <b>Eve</b>"
    assert window.banner.label.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(window.conversation_opened):
        window.banner.open_button.click()
    assert window.current_conversation_id() == "c-00001"
    window.show_banner("Routed to you: Eve", "c-00002")
    window.hide_banner("c-00001")  # another chat's notice was withdrawn: this one stays
    assert window.banner.isVisible()
    window.hide_banner("c-00002")
    assert not window.banner.isVisible()


def test_splitter_and_geometry_are_saved_to_state(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner, state: QSettings
) -> None:
    window = make_window(qtbot, bridge, session, runner, state)
    window.resize(780, 600)  # the offscreen screen is 800x800
    window.splitter.setSizes([250, 330, 200])
    sizes, size = window.splitter.sizes(), window.size()
    window.close()
    assert state.contains("main/splitter") and state.contains("main/geometry")
    again = make_window(qtbot, bridge, session, runner, state)
    assert again.size() == size
    assert again.splitter.sizes() == sizes
