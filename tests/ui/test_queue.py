"""Queue model, proxy and pane: model tests, views, urgency order, search, SLA countdown, batching."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem

from agent_app import protocol as p
from agent_app.store import Store
from tests.ui.conftest import FakeClock
from tests.ui.fakes import ME, conversation
from ui.bridge import StoreBridge
from ui.queue import QueueModel, QueuePanel, QueueProxy, QueueRole, QueueView, SlaState
from ui.queue.delegate import AVATAR, PAD, QueueDelegate
from ui.queue.proxy import in_view


def ids(proxy: QueueProxy) -> list[str]:
    return [proxy.conversation_id(r) for r in range(proxy.rowCount())]


def test_models_pass_qtmodeltester(qtmodeltester: Any, bridge: StoreBridge, clock: FakeClock) -> None:
    model = QueueModel(bridge, clock)
    qtmodeltester.check(model)
    proxy = QueueProxy(model)
    proxy.set_me(ME.id)
    for view in QueueView:
        proxy.set_view(view)
        qtmodeltester.check(proxy)


def test_each_view_filters_by_its_rule(bridge: StoreBridge, store: Store, clock: FakeClock) -> None:
    model = QueueModel(bridge, clock)
    proxy = QueueProxy(model)
    proxy.set_me(ME.id)
    for view in QueueView:
        proxy.set_view(view)
        expected = {c.id for c in store.conversations.values() if in_view(c, view, ME.id)}
        assert set(ids(proxy)) == expected, view
        assert expected, f"test data has nothing for {view}"
    proxy.set_view(QueueView.MINE)
    assert all(store.conversations[c].assignee_id == ME.id for c in ids(proxy))
    proxy.set_view(QueueView.WAITING)
    assert all(store.conversations[c].assignee_id is None for c in ids(proxy))
    proxy.set_view(QueueView.CLOSED)
    assert all(store.conversations[c].status is p.ConversationStatus.CLOSED for c in ids(proxy))


def test_urgency_order_breached_then_waiting_longest_then_newest(qtbot: Any, clock: FakeClock) -> None:
    now = clock.now
    store = Store(me=ME)
    rows = {
        "recent": conversation(1, now, last_message_at=now - 5, updated_at=now - 5),
        "older": conversation(2, now, last_message_at=now - 500, updated_at=now - 500),
        "wait_short": conversation(3, now, waiting_since=now - 5, sla_due_at=now + 25),
        "wait_long": conversation(4, now, waiting_since=now - 20, sla_due_at=now + 10),
        "late": conversation(5, now, waiting_since=now - 40, sla_due_at=now - 10, sla_breached=True),
        "later": conversation(6, now, waiting_since=now - 90, sla_due_at=now - 60, sla_breached=True),
    }
    for key, conv in rows.items():
        conv.id = key
        store.conversations[key] = conv
    model = QueueModel(StoreBridge(store), clock)
    proxy = QueueProxy(model)
    assert ids(proxy) == ["later", "late", "wait_long", "wait_short", "recent", "older"]
    # time passes: wait_long runs out of time and becomes breached (still after the older breaches)
    clock.advance(11)
    model.tick()
    assert ids(proxy)[:3] == ["later", "late", "wait_long"]


def test_search_matches_name_company_email_case_insensitively(bridge: StoreBridge, clock: FakeClock) -> None:
    proxy = QueueProxy(QueueModel(bridge, clock))
    proxy.set_search("INITECH")
    assert ids(proxy) and all(
        "Initech" in proxy.index(r, 0).data(QueueRole.COMPANY) for r in range(proxy.rowCount())
    )
    proxy.set_search("aiko@umbrella")
    assert {proxy.index(r, 0).data() for r in range(proxy.rowCount())} == {"Aiko Tanaka"}
    proxy.set_search("visitor from globex")
    assert proxy.rowCount() > 0
    proxy.set_search("no such person")
    assert proxy.rowCount() == 0
    proxy.set_search("")
    assert proxy.rowCount() == 25  # All = open conversations


def test_display_name_fallbacks(clock: FakeClock) -> None:
    from ui.queue.model import display_name

    now = clock.now
    assert display_name(conversation(0, now)) == "Priya Raman"
    assert display_name(conversation(1, now)) == "Visitor from Globex Corporation"
    assert display_name(conversation(4, now)).startswith("Visitor #")


def test_sla_countdown_states_with_injected_clock(qtbot: Any, clock: FakeClock) -> None:
    store = Store(me=ME)
    conv = conversation(0, clock.now, waiting_since=clock.now, sla_due_at=clock.now + 30)
    store.conversations[conv.id] = conv
    store.conversations["other"] = conversation(3, clock.now, id="other", assignee_id=ME.id)
    model = QueueModel(StoreBridge(store), clock)
    index = model.index(model.row_of(conv.id))
    assert model.data(index, QueueRole.SLA_STATE) is SlaState.RUNNING
    assert model.data(index, QueueRole.SLA_REMAINING) == 30
    clock.advance(20.5)
    assert model.data(index, QueueRole.SLA_STATE) is SlaState.WARNING
    clock.advance(9.5)
    assert model.data(index, QueueRole.SLA_STATE) is SlaState.BREACHED
    # a reply ends the waiting: no countdown any more
    conv.sla_due_at = None
    assert model.data(index, QueueRole.SLA_STATE) is SlaState.NONE
    assert model.data(model.index(model.row_of("other")), QueueRole.SLA_STATE) is SlaState.NONE


def test_tick_repaints_only_waiting_rows_with_time_roles(
    qtbot: Any, bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    model = QueueModel(bridge, clock)
    changes: list[tuple[int, int, list[int]]] = []
    model.dataChanged.connect(lambda a, b, roles: changes.append((a.row(), b.row(), list(roles))))
    model.tick()
    rows = {r for a, b, _ in changes for r in range(a, b + 1)}
    waiting = {
        model.row_of(c.id)
        for c in store.conversations.values()
        if c.status is p.ConversationStatus.OPEN and (c.sla_due_at is not None or c.waiting_since is not None)
    }
    assert rows == waiting and 0 < len(rows) < model.rowCount()
    assert all(QueueRole.SLA_STATE in roles and QueueRole.NAME not in roles for _, _, roles in changes)


def test_burst_of_10000_conversations_is_batched(qtbot: Any, clock: FakeClock) -> None:
    store = Store(me=ME)
    bridge = StoreBridge(store)
    model = QueueModel(bridge, clock)
    proxy = QueueProxy(model)
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserts.append((first, last)))
    for i in range(10_000):
        store.upsert_conversation(
            conversation(i, clock.now, waiting_since=clock.now - i % 50, sla_due_at=clock.now + 30)
        )
    assert model.rowCount() == 0  # nothing until the 16 ms batch fires
    qtbot.waitUntil(lambda: model.rowCount() == 10_000, timeout=5000)
    assert len(inserts) <= 3, inserts  # one insert per batch, not 10,000
    assert proxy.rowCount() == 10_000
    # updates to existing rows are coalesced too, and a removal is applied at once
    store.upsert_conversation(conversation(5, clock.now, status=p.ConversationStatus.CLOSED))
    store.remove_conversation("c-00007")
    assert model.rowCount() == 9_999
    qtbot.waitUntil(lambda: proxy.rowCount() == 9_998)


def test_visitor_text_is_plain_in_rows(qtbot: Any, clock: FakeClock) -> None:
    store = Store(me=ME)
    conv = conversation(0, clock.now, last_message_preview="<img src=http://127.0.0.1:1/x.png>")
    conv.visitor.name = "<b>x</b>"
    store.conversations[conv.id] = conv
    model = QueueModel(StoreBridge(store), clock)
    index = model.index(0)
    assert index.data(Qt.ItemDataRole.DisplayRole) == "<b>x</b>"
    assert index.data(QueueRole.PREVIEW) == "<img src=http://127.0.0.1:1/x.png>"
    # What is painted is the literal text: "<b>x</b>" as eight characters, not a bold "x"; the <img> tag as
    # its characters, not a (broken) image. Measured as the inked width of each line of the row.
    conv.visitor.company = ""  # line 2 is then the preview alone
    image = paint_row(QueueDelegate(), index)
    option = QStyleOptionViewItem()
    base = QFont(option.font)  # type: ignore[attr-defined]
    bold = QFont(base)
    bold.setWeight(QFont.Weight.Bold)
    name_line, preview_line = inked_width(image, 9, 29), inked_width(image, 30, 48)
    assert name_line >= 0.8 * QFontMetrics(bold).horizontalAdvance("<b>x</b>"), name_line
    assert name_line > 3 * QFontMetrics(bold).horizontalAdvance("x"), name_line
    assert preview_line >= 0.8 * QFontMetrics(base).horizontalAdvance("<img src="), preview_line


def paint_row(delegate: QueueDelegate, index: Any) -> QImage:
    image = QImage(400, 80, QImage.Format.Format_ARGB32)
    image.fill(QColor("#ff00ff"))
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.rect = image.rect()  # type: ignore[attr-defined]
    delegate.paint(painter, option, index)
    painter.end()
    return image


def inked_width(image: QImage, top: int, bottom: int) -> int:
    """How far text reaches right of the avatar on rows top..bottom (0: nothing painted there). Stops at
    the first blank gap of 40 px, so the SLA chip / time on the far right is not counted."""
    left = PAD + AVATAR + 10
    background = image.pixelColor(left - 4, top + 1)
    right, gap = left, 0
    for x in range(left, image.width()):
        inked = any(image.pixelColor(x, y) != background for y in range(top, bottom))
        right, gap = (x, 0) if inked else (right, gap + 1)
        if gap > 40:
            break
    return right - left


def test_panel_counts_and_views(qtbot: Any, bridge: StoreBridge, store: Store, clock: FakeClock) -> None:
    model = QueueModel(bridge, clock)
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.set_me(ME.id)
    for view in QueueView:
        n = sum(in_view(c, view, ME.id) for c in store.conversations.values())
        assert panel.tabs.tabText(int(view)) == f"{view.label}  {n}"
    panel.set_view(QueueView.WAITING)
    assert panel.proxy.view is QueueView.WAITING and panel.tabs.currentIndex() == 1
    with qtbot.waitSignal(panel.view_changed):
        panel.tabs.setCurrentIndex(0)
    assert panel.proxy.view is QueueView.MINE
