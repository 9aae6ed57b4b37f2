"""Queue at scale: ordering kept by the model (precomputed keys), filtering by view bitmasks, live updates
as one layout change per batch, an SLA tick that touches only waiting rows on screen."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from agent_app import protocol as p
from agent_app.store import Store
from tests.ui.conftest import FakeClock
from tests.ui.fakes import ME, conversation
from ui.bridge import StoreBridge
from ui.queue import QueueModel, QueuePanel, QueueProxy, QueueRole, QueueView
from ui.queue.model import urgency
from ui.queue.proxy import in_view, view_counts


def ids(proxy: QueueProxy) -> list[str]:
    return [proxy.conversation_id(r) for r in range(proxy.rowCount())]


def expected_order(store: Store, view: QueueView, now: float, needle: str = "") -> list[str]:
    convs = [c for c in store.conversations.values() if in_view(c, view, ME.id)]
    convs = [
        c for c in convs if needle in f"{c.visitor.name}\n{c.visitor.company}\n{c.visitor.email}".lower()
    ]
    return [c.id for c in sorted(convs, key=lambda c: (urgency(c, now), c.id))]


def test_views_are_in_urgency_order_and_counts_match(
    bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    model = QueueModel(bridge, clock)
    proxy = QueueProxy(model)
    proxy.set_me(ME.id)
    for view in QueueView:
        proxy.set_view(view)
        assert ids(proxy) == expected_order(store, view, clock.now), view
    counts = view_counts(model, ME.id)
    assert counts == {v: sum(in_view(c, v, ME.id) for c in store.conversations.values()) for v in QueueView}
    assert view_counts(model, "someone-else")[QueueView.MINE] == 0  # other agent: computed the slow way


def test_filtering_and_sorting_never_call_data(
    bridge: StoreBridge, clock: FakeClock, monkeypatch: Any
) -> None:
    model = QueueModel(bridge, clock)
    proxy = QueueProxy(model)
    calls: list[int] = []
    monkeypatch.setattr(model, "data", lambda *a: calls.append(1))
    monkeypatch.setattr(model, "data_at", lambda *a: calls.append(1))
    proxy.set_me(ME.id)
    for view in QueueView:
        proxy.set_view(view)
    proxy.set_search("initech")
    model.tick()
    assert calls == []


def test_live_changes_keep_order_filter_and_selection(
    qtbot: Any, qtmodeltester: Any, bridge: StoreBridge, store: Store, clock: FakeClock
) -> None:
    model = QueueModel(bridge, clock)
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_me(ME.id)
    proxy = panel.proxy
    qtmodeltester.check(proxy)  # keeps watching the signals below
    last = proxy.conversation_id(proxy.rowCount() - 1)
    assert panel.select(last)
    # a new message makes the oldest idle conversation the newest: it moves, the selection follows
    conv = msgspec.structs.replace(store.conversations[last], last_message_at=clock.now, updated_at=clock.now)
    store.upsert_conversation(conv)
    qtbot.waitUntil(lambda: ids(proxy) == expected_order(store, QueueView.ALL, clock.now))
    assert panel.current_id() == last
    # closing it leaves the All view (the selection with it) and joins Closed; a new chat is inserted in place
    store.upsert_conversation(msgspec.structs.replace(conv, status=p.ConversationStatus.CLOSED))
    store.upsert_conversation(
        conversation(99, clock.now, waiting_since=clock.now - 1000, sla_due_at=clock.now - 1)
    )
    qtbot.waitUntil(lambda: ids(proxy) == expected_order(store, QueueView.ALL, clock.now))
    assert last not in ids(proxy) and ids(proxy)[0] == "c-00099"  # breached, waiting longest
    panel.set_view(QueueView.CLOSED)
    assert last in ids(proxy)
    # search narrows by name/company/email; an edit of the visitor re-filters
    panel.set_view(QueueView.ALL)
    panel.search.setText("Initech")
    assert ids(proxy) == expected_order(store, QueueView.ALL, clock.now, "initech")
    store.remove_conversation(ids(proxy)[0])
    assert ids(proxy) == expected_order(store, QueueView.ALL, clock.now, "initech")


def test_sla_expiry_moves_the_row_without_resorting(qtbot: Any, clock: FakeClock) -> None:
    store = Store(me=ME)
    for i in range(200):
        c = conversation(i, clock.now, waiting_since=clock.now - i, sla_due_at=clock.now - i + 30)
        store.conversations[c.id] = c
    model = QueueModel(StoreBridge(store), clock)
    proxy = QueueProxy(model)
    layouts: list[int] = []
    proxy.layoutChanged.connect(lambda *_: layouts.append(1))
    clock.advance(5)  # c-00199 .. c-00195 breach: they go first, the others stay put
    model.tick()
    assert len(layouts) == 1
    assert ids(proxy) == expected_order(store, QueueView.ALL, clock.now)
    assert ids(proxy)[:5] == [f"c-{i:05d}" for i in range(199, 194, -1)]
    model.tick()
    assert len(layouts) == 1  # nothing else ran out: no layout change


def test_tick_repaints_only_waiting_rows_on_screen(qtbot: Any, clock: FakeClock) -> None:
    store = Store(me=ME)
    for i in range(2000):
        waiting = i % 2 == 0
        c = conversation(i, clock.now, waiting_since=clock.now - i if waiting else None)
        store.conversations[c.id] = c
    model = QueueModel(StoreBridge(store), clock)
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.resize(360, 800)
    panel.show()
    qtbot.waitExposed(panel)
    changed: list[int] = []
    model.dataChanged.connect(lambda a, b, roles: changed.extend(range(a.row(), b.row() + 1)))
    model.tick()
    on_screen = panel.visible_source_rows()
    assert 0 < len(on_screen) < 30
    assert changed and set(changed) <= set(on_screen)
    assert all(model.conversation_at(r).waiting_since is not None for r in changed)  # type: ignore[union-attr]


def test_large_queue_builds_complete_and_ordered(qtbot: Any) -> None:
    # Its speed is measured by bench/queue_100k.py (docs/performance.md), not asserted here.
    now = time.time()
    store = Store(me=ME)
    for i in range(20_000):
        c = conversation(
            i, now, waiting_since=now - i if i % 3 else None, assignee_id=None if i % 3 else ME.id
        )
        store.conversations[c.id] = c
    bridge = StoreBridge(store)
    model = QueueModel(bridge)
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.set_me(ME.id)
    panel.show()
    assert panel.proxy.rowCount() == 20_000
    assert model.data(model.index(0), QueueRole.ID) == ids(panel.proxy)[0]
