"""The three panes keep sane widths: a collapsed layout saved earlier is neither restored nor saved again."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QDataStream, QSettings, Qt
from PySide6.QtWidgets import QSplitter, QWidget

from tests.ui.fakes import RecordingSession
from tests.ui.test_main_window import make_window
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.tasks import TaskRunner


def splitter_state(sizes: list[int], *, collapsible: bool = True) -> QByteArray:
    """What a splitter with these pane widths saves (as an older build, or a drag to collapse, left it)."""
    splitter = QSplitter(Qt.Orientation.Horizontal)
    for _ in sizes:
        splitter.addWidget(QWidget(splitter))
    splitter.setChildrenCollapsible(collapsible)
    splitter.resize(sum(sizes) + 2 * splitter.handleWidth(), 600)
    splitter.setSizes(sizes)
    state = splitter.saveState()
    splitter.deleteLater()
    return state


def saved_sizes(state: QSettings) -> list[int]:
    """The pane widths in the saved splitter state (QSplitter's format: marker, version, size list)."""
    value = state.value("main/splitter")
    if not isinstance(value, QByteArray) or value.isEmpty():
        return []
    stream = QDataStream(value)
    marker, version, count = stream.readInt32(), stream.readInt32(), stream.readInt32()
    assert marker == 0xFF and version in (0, 1)
    return [stream.readInt32() for _ in range(count)]


def tabs_width(window: MainWindow) -> int:
    tabs = window.queue.tabs
    return sum(tabs.tabSizeHint(i).width() for i in range(tabs.count()))


def assert_sane(window: MainWindow, sizes: list[int]) -> None:
    queue, center, side = sizes
    assert queue >= tabs_width(window), (sizes, tabs_width(window))  # all five view tabs fit
    assert center >= 300 and side >= 200, sizes


def test_a_saved_collapsed_queue_is_restored_at_a_sane_width_and_never_saved_again(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner, state: QSettings
) -> None:
    state.setValue("main/splitter", splitter_state([120, 1080, 160]))
    window = make_window(qtbot, bridge, session, runner, state)
    window.resize(1300, 760)
    qtbot.waitUntil(lambda: window.splitter.sizes()[1] > 0)
    assert_sane(window, window.splitter.sizes())
    window.close()
    assert_sane(window, saved_sizes(state))


def test_a_fully_collapsed_pane_is_restored_sane(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner, state: QSettings
) -> None:
    state.setValue("main/splitter", splitter_state([0, 1200, 0]))
    window = make_window(qtbot, bridge, session, runner, state)
    window.resize(1300, 760)
    qtbot.waitUntil(lambda: window.splitter.sizes()[1] > 0)
    assert_sane(window, window.splitter.sizes())


def test_saving_never_writes_a_pane_below_its_minimum(
    qtbot: Any, bridge: StoreBridge, session: RecordingSession, runner: TaskRunner, state: QSettings
) -> None:
    window = make_window(qtbot, bridge, session, runner, state)
    window.resize(1300, 760)
    window.splitter.setSizes([60, 1100, 140])  # what a drag can ask for
    assert_sane(window, window.splitter.sizes())  # the panes refuse to get that small
    window.save_state()
    assert_sane(window, saved_sizes(state))
