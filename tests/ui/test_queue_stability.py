"""The queue holds still under the pointer (moves wait, as in mail clients); a click opens what was seen."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.store import Store
from tests.ui.conftest import FakeClock
from tests.ui.fakes import ME, RecordingSession, conversation
from tests.ui.test_main_window import make_window
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.queue import QueueModel, QueuePanel, QueueRole, QueueView
from ui.tasks import TaskRunner


def shown_ids(panel: QueuePanel) -> list[str]:
    return [panel.proxy.conversation_id(r) for r in range(panel.proxy.rowCount())]


def row_center(panel: QueuePanel, row: int) -> QPoint:
    return panel.list.visualRect(panel.view_model.index(row, 0)).center()


def hover(panel: QueuePanel, row: int) -> QPoint:
    pos = row_center(panel, row)
    QTest.mouseMove(panel.list.viewport(), pos)
    return pos


def leave(qtbot: Any, window: MainWindow) -> None:
    """The pointer moves off the list (onto the conversation pane)."""
    QTest.mouseMove(window.conversation.transcript.viewport(), QPoint(20, 20))


def shown_panel(qtbot: Any, model: QueueModel) -> QueuePanel:
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.resize(380, 900)
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()  # offscreen: enter/leave events go to the active window only
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel)
    panel.set_me(ME.id)
    panel.set_view(QueueView.ALL)
    return panel


def urgent(i: int, now: float) -> p.Conversation:
    """A waiting chat past its SLA: the most urgent kind, which sorts to the top."""
    return conversation(i, now, waiting_since=now - 500 - i, sla_due_at=now - 470 - i, sla_breached=True)


def test_new_chat_under_the_pointer_keeps_the_hovered_row_and_a_click_opens_it(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    panel = window.queue
    panel.set_view(QueueView.ALL)
    before = shown_ids(panel)
    n = 3
    hovered = before[n]
    pos = hover(panel, n)
    assert panel.list.indexAt(pos).row() == n

    # a new, most urgent chat arrives, and a row further down becomes the most urgent of all
    now = window.queue_model.clock()
    store.upsert_conversation(urgent(900, now))
    lower = before[n + 2]
    store.upsert_conversation(_breached(store.conversations[lower], now))
    window.queue_model.flush()
    qtbot.wait(5)

    assert panel.proxy.conversation_id(n) == hovered  # the row under the pointer did not move
    assert shown_ids(panel)[: n + 1] == before[: n + 1]  # nor anything above it
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    assert window.current_conversation_id() == hovered
    assert window.conversation.composer.edit.hasFocus()  # a click opens it ready to type
    assert panel.current_id() == hovered

    # once the pointer leaves the list, the deferred order is applied; the selection stays put
    leave(qtbot, window)
    qtbot.waitUntil(lambda: shown_ids(panel)[0] in ("c-00900", lower), timeout=2000)
    ids = shown_ids(panel)
    assert {"c-00900", lower} <= set(ids[:2])
    assert panel.current_id() == hovered
    assert panel.list.selectionModel().isSelected(panel.view_model.index(ids.index(hovered), 0))


def _breached(conv: p.Conversation, now: float) -> p.Conversation:
    return p.Conversation(
        **{
            **{f: getattr(conv, f) for f in conv.__struct_fields__},
            "assignee_id": None,
            "status": p.ConversationStatus.OPEN,
            "waiting_since": now - 9000,
            "sla_due_at": now - 8970,
            "sla_breached": True,
        }
    )


def test_selection_follows_its_conversation_when_rows_move_without_the_pointer(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    panel = window.queue
    panel.set_view(QueueView.ALL)
    target = shown_ids(panel)[4]
    window.open_conversation(target)
    now = window.queue_model.clock()
    for i in range(5):
        store.upsert_conversation(urgent(800 + i, now))
    qtbot.waitUntil(lambda: "c-00804" in shown_ids(panel), timeout=2000)
    assert shown_ids(panel).index(target) == 9  # not hovered: rows move at once
    assert panel.current_id() == target == window.current_conversation_id()


def test_held_rows_apply_when_the_mouse_button_is_released_off_the_list(
    qtbot: Any, bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    """Hold is a model state the pane drives: while held, moves and inserts above the anchor wait."""
    model = QueueModel(bridge, clock)
    panel = shown_panel(qtbot, model)
    before = shown_ids(panel)
    hover(panel, 2)
    assert model.held
    store.upsert_conversation(urgent(700, clock.now))
    model.flush()
    assert shown_ids(panel)[:3] == before[:3]
    assert "c-00700" not in shown_ids(panel)  # it would land above the pointer: it waits
    QTest.mouseMove(panel.search, QPoint(5, 5))  # off the list
    qtbot.waitUntil(lambda: not model.held, timeout=2000)
    assert shown_ids(panel)[0] == "c-00700"


def test_rows_below_the_pointer_may_appear_while_held(
    qtbot: Any, bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    model = QueueModel(bridge, clock)
    panel = shown_panel(qtbot, model)
    before = shown_ids(panel)
    hover(panel, 1)
    # an open chat with old activity sorts near the bottom of the open ones: below the pointer
    late = conversation(600, clock.now, last_message_at=clock.now - 99_000, updated_at=clock.now - 99_000)
    store.upsert_conversation(late)
    model.flush()
    ids = shown_ids(panel)
    assert "c-00600" in ids and ids[:2] == before[:2]


def test_drafts_survive_switching_by_click_and_are_never_sent_elsewhere(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    window = make_window(qtbot, bridge, session, runner)
    panel = window.queue
    panel.set_view(QueueView.MINE)
    a, b = shown_ids(panel)[:2]
    composer = window.conversation.composer

    def click(cid: str) -> None:
        row = shown_ids(panel).index(cid)
        pos = hover(panel, row)
        QTest.mouseClick(
            panel.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos
        )
        assert window.current_conversation_id() == cid and composer.edit.hasFocus()

    click(a)
    qtbot.keyClicks(composer.edit, "Hi Priya, quick question")
    click(b)
    assert composer.text() == ""
    qtbot.keyClicks(composer.edit, "for B")
    click(a)
    assert composer.text() == "Hi Priya, quick question"
    qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    click(b)
    assert composer.text() == "for B"
    sent = [(cid, text) for _, cid, text, _private in session.named("send_message")]
    assert sent == [(a, "Hi Priya, quick question")]


def test_a_parked_pointer_does_not_freeze_the_queue_and_a_click_right_after_the_change_is_ignored(
    qtbot: Any, bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    """The pointer rests on the list (the SDR is typing elsewhere): after HOLD_IDLE_MS still, waiting
    changes apply; a press in the next moment was aimed at the old row, so it does nothing."""
    model = QueueModel(bridge, clock)
    panel = shown_panel(qtbot, model)
    taps = FakeClock(100.0)
    panel.list.clock = taps
    panel.list.idle_timer.setInterval(30)
    pos = hover(panel, 0)
    store.upsert_conversation(urgent(500, clock.now))
    model.flush()
    assert shown_ids(panel)[0] != "c-00500" and model.held_count() == 1
    assert panel.waiting_bar.isVisible() and panel.waiting_bar.text().startswith("1 update held")
    qtbot.waitUntil(lambda: shown_ids(panel)[0] == "c-00500", timeout=2000)  # applied after the pause
    assert not model.held and not panel.waiting_bar.isVisible()  # parked: the queue moves again
    selected: list[str] = []
    panel.conversation_selected.connect(selected.append)
    left = Qt.MouseButton.LeftButton
    QTest.mouseClick(panel.list.viewport(), left, Qt.KeyboardModifier.NoModifier, pos)
    assert selected == []  # too soon after the row under the pointer changed
    taps.advance(1.0)
    QTest.mouseClick(panel.list.viewport(), left, Qt.KeyboardModifier.NoModifier, pos)
    assert selected == ["c-00500"]
    # still parked there: a later arrival moves rows at once, and again the next press is guarded
    qtbot.waitUntil(lambda: not model.held, timeout=2000)
    taps.advance(1.0)
    store.upsert_conversation(urgent(501, clock.now))
    model.flush()
    assert shown_ids(panel)[0] == "c-00501"
    QTest.mouseClick(panel.list.viewport(), left, Qt.KeyboardModifier.NoModifier, pos)
    assert selected == ["c-00500"]
    # moving the pointer holds the rows again
    hover(panel, 1)
    assert model.held


def test_a_row_removed_while_held_keeps_its_place_until_the_pointer_leaves(
    qtbot: Any, bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    model = QueueModel(bridge, clock)
    panel = shown_panel(qtbot, model)
    before = shown_ids(panel)
    hover(panel, 3)
    store.remove_conversation(before[1])
    assert panel.proxy.rowCount() == len(before) and shown_ids(panel)[3] == before[3]
    assert panel.proxy.index(1, 0).data(QueueRole.CONVERSATION) is None  # an empty row, nothing to open
    QTest.mouseMove(panel.search, QPoint(5, 5))
    qtbot.waitUntil(lambda: shown_ids(panel) == [c for c in before if c != before[1]], timeout=2000)


def test_a_chat_opened_while_it_waits_behind_the_pointer_is_selected_once_it_appears(
    qtbot: Any, bridge: StoreBridge, store: Store, session: RecordingSession, runner: TaskRunner
) -> None:
    """E.g. its notification is clicked while the pointer rests on the list."""
    window = make_window(qtbot, bridge, session, runner)
    panel = window.queue
    panel.set_view(QueueView.ALL)
    hover(panel, 2)
    store.upsert_conversation(urgent(950, window.queue_model.clock()))
    window.queue_model.flush()
    window.open_conversation("c-00950")
    assert window.current_conversation_id() == "c-00950" and "c-00950" not in shown_ids(panel)
    leave(qtbot, window)
    qtbot.waitUntil(lambda: panel.current_id() == "c-00950", timeout=2000)


def test_the_models_sla_tick_after_its_pane_is_gone_does_not_reach_into_it(
    qtbot: Any, bridge: StoreBridge, clock: FakeClock
) -> None:
    """The model can outlive the pane (a window closing tears its children down in any order): its
    once-a-second tick must not call into the deleted list (the store's chats are waiting: it repaints)."""
    model = QueueModel(bridge, clock)
    panel = QueuePanel(model)
    with qtbot.waitSignal(panel.list.destroyed, timeout=5000):
        panel.deleteLater()
    model.tick()  # raised "Internal C++ object (QueueListView) already deleted"
    assert model.visible_rows is None and model.anchor is None
