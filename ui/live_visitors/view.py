"""The "On site now" view: segment chips, the live table, Engage and Open chat."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.live_visitors import SEGMENT_LABELS, Segment, engage_blocker
from ui.live_visitors.flow import FlowLayout
from ui.live_visitors.model import VISITOR_ID_ROLE, Column, LiveVisitorsModel, SegmentProxy


class LiveVisitorsView(QWidget):
    """Signals:
    engage_requested(str): start a chat with this visitor (the feature opens the Engage dialog).
    conversation_open_requested(str): open this visitor's chat.
    """

    engage_requested = Signal(str)
    conversation_open_requested = Signal(str)

    def __init__(
        self,
        model: LiveVisitorsModel,
        clock: Callable[[], float] = time.time,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("liveVisitorsView")
        self.model, self.clock = model, clock
        self.proxy = SegmentProxy(model, self)
        title = QLabel("On site now")
        title.setObjectName("viewTitle")
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)

        self.chips: dict[Segment, QPushButton] = {}
        self.chip_group = QButtonGroup(self)
        self.chip_group.setExclusive(True)
        # The chips wrap onto a second row in a narrow pane instead of being squeezed (and clipped).
        chip_row = QWidget()
        chip_row.setObjectName("segmentChips")
        chips = FlowLayout(chip_row, spacing=6)
        for segment in Segment:
            chip = QPushButton(SEGMENT_LABELS[segment])
            chip.setObjectName("segmentChip")
            chip.setCheckable(True)
            chip.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # always its whole text
            chip.setChecked(segment is Segment.ALL)
            chip.clicked.connect(lambda _checked=False, s=segment: self.set_segment(s))
            self.chip_group.addButton(chip)
            self.chips[segment] = chip
            chips.addWidget(chip)
        chip_row.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.table = QTableView()
        self.table.setObjectName("liveVisitorsTable")
        self.table.setModel(self.proxy)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.TIME, Qt.SortOrder.DescendingOrder)  # longest on the site first
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in ((Column.VISITOR, 150), (Column.COMPANY, 95), (Column.SEGMENTS, 180),
                              (Column.PAGE, 130), (Column.TIME, 100)):  # fmt: skip
            self.table.setColumnWidth(column, width)
        self.empty = QLabel()
        self.empty.setObjectName("liveEmpty")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self.blocker = QLabel()  # why Engage is off for the selected visitor
        self.blocker.setObjectName("liveBlocker")
        self.blocker.setTextFormat(Qt.TextFormat.PlainText)
        self.engage_button = QPushButton("Engage…")
        self.engage_button.setObjectName("engageButton")
        self.engage_button.setToolTip("Start a chat: your message pops up in the visitor's chat widget")
        self.open_button = QPushButton("Open chat")
        buttons = QHBoxLayout()
        buttons.addWidget(self.blocker, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.engage_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(title)
        layout.addWidget(self.summary)
        layout.addWidget(chip_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(buttons)
        self._connect_signals()
        self.refresh()

    def _connect_signals(self) -> None:
        self.engage_button.clicked.connect(self.on_engage_button_clicked)
        self.open_button.clicked.connect(self.on_open_button_clicked)
        self.table.doubleClicked.connect(self.on_table_double_clicked)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())
        for signal in (self.model.modelReset, self.model.rowsInserted, self.model.rowsRemoved,
                       self.model.dataChanged):  # fmt: skip
            signal.connect(lambda *_: self.refresh())

    # ------------------------------------------------------------ state

    def set_segment(self, segment: Segment) -> None:
        self.chips[segment].setChecked(True)
        self.proxy.set_segment(segment)
        self.refresh()

    def selected(self) -> p.LiveVisitor | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        source = self.proxy.mapToSource(rows[0])
        return self.model.row_at(source.row())

    def select(self, visitor_id: str) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(VISITOR_ID_ROLE) == visitor_id:
                self.table.selectRow(row)
                return True
        return False

    def refresh(self) -> None:
        live, me = self.model.live, self.model.me()
        for segment, chip in self.chips.items():
            chip.setText(f"{SEGMENT_LABELS[segment]} ({live.count(segment, me)})")
        total = len(live)
        if not live.known:
            self.summary.setText("")
            self.empty.setText("Offline: the list comes back when the desk reconnects.")
        elif total == 0:
            self.summary.setText("")
            self.empty.setText("Nobody is on the website right now. Visitors show up here as soon as a page "
                               "with the chat widget loads, before they chat.")  # fmt: skip
        else:
            targets = live.count(Segment.TARGET, me)
            self.summary.setText(
                f"{total} visitor{'s' if total != 1 else ''} on the website"
                + (f" · {targets} from target accounts" if targets else "")
            )
            self.empty.setText("Nobody in this segment right now.")
        showing = self.proxy.rowCount() > 0
        self.table.setVisible(showing)
        self.empty.setVisible(not showing)
        self.update_buttons()

    def update_buttons(self) -> None:
        row = self.selected()
        blocker = engage_blocker(row, self.clock()) if row is not None else ""
        self.engage_button.setEnabled(row is not None and not blocker)
        self.open_button.setVisible(row is not None and bool(row.conversation_id))
        self.blocker.setText(blocker)

    # ------------------------------------------------------------ actions

    def on_engage_button_clicked(self) -> None:
        row = self.selected()
        if row is not None:
            self.engage_requested.emit(row.visitor_id)

    def on_open_button_clicked(self) -> None:
        row = self.selected()
        if row is not None and row.conversation_id:
            self.conversation_open_requested.emit(row.conversation_id)

    def on_table_double_clicked(self, index: QModelIndex) -> None:
        row = self.model.row_at(self.proxy.mapToSource(index).row())
        if row is None:
            return
        if row.conversation_id:
            self.conversation_open_requested.emit(row.conversation_id)
        elif not engage_blocker(row, self.clock()):
            self.engage_requested.emit(row.visitor_id)
