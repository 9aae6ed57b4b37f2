"""The segment chips of "On site now" show their whole text ("Everyone (12)", not "eryone (1") in the main
window at its default size and with the center pane at its minimum width: they wrap onto more rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from chat_server import run_server
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import make_config
from ui.live_visitors.view import LiveVisitorsView
from ui.main_window import CENTER_MIN_WIDTH, DEFAULT_PANE_SIZES

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"


def many_visitors() -> p.LiveVisitorsFrame:
    """Two-digit counts in every chip: the widest labels a busy site shows."""
    rows = [
        p.LiveVisitor(visitor_id=f"v{i}", email=f"v{i}@x.test", target_account=True, live_page=True,
                      returning=True, owner_id="nobody", since=0.0)
        for i in range(12)
    ]  # fmt: skip
    return p.LiveVisitorsFrame(visitors=rows, snapshot=True)


def assert_chips_whole(view: LiveVisitorsView, where: str) -> None:
    chip_rects: list[QRect] = []
    for chip in view.chips.values():
        text_width = chip.fontMetrics().horizontalAdvance(chip.text())
        assert chip.isVisible(), f"{where}: {chip.text()} hidden"
        assert chip.width() >= chip.sizeHint().width(), (
            f"{where}: {chip.text()!r} is {chip.width()} px wide, needs {chip.sizeHint().width()}"
        )
        assert chip.width() > text_width, f"{where}: {chip.text()!r} clipped"
        rect = QRect(chip.mapTo(view, chip.rect().topLeft()), chip.size())
        assert view.rect().contains(rect), f"{where}: {chip.text()!r} at {rect} outside {view.rect()}"
        assert not any(rect.intersects(other) for other in chip_rects), f"{where}: {chip.text()!r} overlaps"
        chip_rects.append(rect)
    table = QRect(view.table.mapTo(view, view.table.rect().topLeft()), view.table.size())
    assert not any(rect.intersects(table) for rect in chip_rects), f"{where}: chips over the table"


async def test_segment_chips_are_never_clipped(qtbot: Any, tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent(EMAIL, "Sam Chen", PASSWORD)
        async with signed_in_desk(qtbot, server.url, tmp_path, EMAIL, PASSWORD) as desk:
            assert desk.features is not None
            feature, window = desk.features.live_visitors, desk.window
            await until(lambda: feature.live.known, "the live list")
            feature.live.apply(many_visitors())
            feature.action.trigger()
            view = feature.view
            assert view.chips[next(iter(view.chips))].text() == "Everyone (12)"

            window.resize(1360, 820)  # the first start's size (MainWindow.restore_state)
            window.splitter.setSizes(list(DEFAULT_PANE_SIZES))
            await until(lambda: window.center.width() > 0 and QApplication.instance() is not None, "laid out")
            QApplication.processEvents()
            assert_chips_whole(view, f"default panes {window.splitter.sizes()}")

            mins = window.pane_minimums()
            window.splitter.setSizes([sum(window.splitter.sizes()) - CENTER_MIN_WIDTH - mins[2],
                                      CENTER_MIN_WIDTH, mins[2]])  # fmt: skip
            await until(lambda: window.center.width() <= CENTER_MIN_WIDTH + 10, "the narrowest center pane")
            QApplication.processEvents()
            assert_chips_whole(view, f"center pane at its minimum {window.splitter.sizes()}")

            window.splitter.setSizes(list(DEFAULT_PANE_SIZES))  # and back: one row again, no gap left
            await until(lambda: window.center.width() > CENTER_MIN_WIDTH + 100, "wider again")
            QApplication.processEvents()
            assert_chips_whole(view, f"back to the default panes {window.splitter.sizes()}")
