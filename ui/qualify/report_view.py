"""The CQL report view: a QPainter stacked bar chart per day/week, counts table and conversations table."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping

from PySide6.QtCore import QModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent_app import cql
from agent_app import protocol as p
from agent_app.timezones import MACHINE_ZONE
from ui.qualify.report_model import (
    LEVEL_COLORS,
    LEVEL_HEADERS,
    CellRole,
    CqlCountsModel,
    ReportConversationsModel,
    period_label,
)
from ui.style import Palette


class CqlBarChart(QWidget):
    """Stacked bars (unrated at the bottom, 3 bolts on top) per period; click a segment to drill in.

    Signals:
        segment_clicked(object, object): the period (date) and level (0-3, None, or "any" for the axis label).
    """

    segment_clicked = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = cql.CqlReport(period="day")
        self.agent_id: str | None = None
        self._hits: list[tuple[QRectF, dt.date, object]] = []
        self.setMinimumHeight(180)
        self.setMouseTracking(True)

    def set_report(self, report: cql.CqlReport, agent_id: str | None) -> None:
        self.report, self.agent_id = report, agent_id
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(560, 220)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(Palette.SURFACE))
        self._hits = []
        periods = self.report.periods
        left, top, bottom_pad, legend_h = 36.0, 48.0, 22.0, 0.0
        plot = QRectF(left, top, self.width() - left - 12, self.height() - top - bottom_pad - legend_h)
        self._paint_legend(painter)
        totals = [self.report.count(d, self.agent_id) for d in periods]
        peak = max(totals, default=0)
        painter.setPen(QColor(Palette.TEXT_MUTED))
        if not periods or peak == 0:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No conversations in this range yet.")
            painter.end()
            return
        scale_top = max(peak, 1)
        for tick in sorted({0, scale_top // 2, scale_top}):
            y = plot.bottom() - plot.height() * tick / scale_top
            painter.setPen(QColor(Palette.BORDER))
            painter.drawLine(int(plot.left()), int(y), int(plot.right()), int(y))
            painter.setPen(QColor(Palette.TEXT_MUTED))
            painter.drawText(QRectF(0, y - 8, left - 6, 16), Qt.AlignmentFlag.AlignRight, str(tick))
        slot = plot.width() / len(periods)
        bar_w = min(42.0, slot * 0.6)
        for i, day in enumerate(periods):
            x = plot.left() + i * slot + (slot - bar_w) / 2
            y = plot.bottom()
            for level in cql.ALL_LEVELS:
                n = self.report.count(day, self.agent_id, level)
                if not n:
                    continue
                h = plot.height() * n / scale_top
                rect = QRectF(x, y - h, bar_w, h)
                painter.fillRect(rect, QColor(LEVEL_COLORS[level]))
                self._hits.append((rect, day, level))
                y -= h
            painter.setPen(QColor(Palette.TEXT))
            painter.drawText(
                QRectF(x - 20, y - 16, bar_w + 40, 14), Qt.AlignmentFlag.AlignCenter, str(totals[i])
            )
            label = period_label(day, self.report.period) if slot > 70 else f"{day:%d/%m}"
            label_rect = QRectF(plot.left() + i * slot, plot.bottom() + 3, slot, 16)
            painter.setPen(QColor(Palette.TEXT_MUTED))
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignHCenter, label)
            self._hits.append((label_rect, day, "any"))
        painter.end()

    def _paint_legend(self, painter: QPainter) -> None:
        x = 8.0
        for level in reversed(cql.ALL_LEVELS):
            painter.fillRect(QRectF(x, 9, 10, 10), QColor(LEVEL_COLORS[level]))
            painter.setPen(QColor(Palette.TEXT_MUTED))
            text = LEVEL_HEADERS[level]
            painter.drawText(QRectF(x + 14, 4, 80, 20), Qt.AlignmentFlag.AlignVCenter, text)
            x += 22 + painter.fontMetrics().horizontalAdvance(text)

    def _hit(self, event: QMouseEvent) -> tuple[dt.date, object] | None:
        pos = event.position()
        for rect, day, level in self._hits:
            if rect.contains(pos):
                return day, level
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hit = self._hit(event)
        if hit is None:
            self.setToolTip("")
            self.unsetCursor()
            return
        day, level = hit
        n = self.report.count(day, self.agent_id, level)  # type: ignore[arg-type]
        what = "all levels" if level == "any" else cql.tooltip(level)  # type: ignore[arg-type]
        self.setToolTip(f"{period_label(day, self.report.period)}: {n} ({what}). Click to list them.")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        hit = self._hit(event)
        if hit is not None:
            self.segment_clicked.emit(*hit)


class CqlReportView(QWidget):
    """Counts per level per SDR per day/week, and the conversations behind any number.

    ``source`` returns the conversations and agents to report on (the store's, by default).

    Signals:
        conversation_open_requested(str): the user double-clicked a conversation.
    """

    conversation_open_requested = Signal(str)

    def __init__(
        self,
        source: Callable[[], tuple[list[p.Conversation], Mapping[str, p.Agent]]],
        parent: QWidget | None = None,
        *,
        clock: Callable[[], float] = time.time,
        zone: dt.tzinfo = MACHINE_ZONE,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("cqlReport")
        self._source, self._clock, self.zone = source, clock, zone  # the reader's: days start there
        self._conversations: dict[str, p.Conversation] = {}
        self._agents: Mapping[str, p.Agent] = {}
        self.period_box = QComboBox()
        self.period_box.addItem("Per day (last 14 days)", "day")
        self.period_box.addItem("Per week (last 8 weeks)", "week")
        self.agent_box = QComboBox()
        self.agent_box.setMinimumWidth(160)
        self.chart = CqlBarChart()
        self.counts = CqlCountsModel(self)
        self.counts_view = self._table(self.counts)
        self.details = ReportConversationsModel(self)
        self.details_view = self._table(self.details)
        self.details_label = QLabel("Click a number or a bar to see its conversations.")
        self.details_label.setTextFormat(Qt.TextFormat.PlainText)
        bar = QHBoxLayout()
        title = QLabel("Lead qualification (CQL)")
        title.setObjectName("viewTitle")
        bar.addWidget(title)
        bar.addStretch(1)
        bar.addWidget(self.agent_box)
        bar.addWidget(self.period_box)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.details_label)
        lower_layout.addWidget(self.details_view)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.chart)
        split.addWidget(self.counts_view)
        split.addWidget(lower)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self.period_box.currentIndexChanged.connect(self.on_period_box_changed)
        self.agent_box.currentIndexChanged.connect(self.on_agent_box_changed)
        self.chart.segment_clicked.connect(self.on_chart_segment_clicked)
        self.counts_view.clicked.connect(self.on_counts_view_clicked)
        self.details_view.doubleClicked.connect(self.on_details_view_double_clicked)
        self.refresh()

    def _table(self, model: CqlCountsModel | ReportConversationsModel) -> QTableView:
        view = QTableView()
        view.setModel(model)
        view.verticalHeader().hide()
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        view.horizontalHeader().setStretchLastSection(True)
        return view

    def refresh(self) -> None:
        """Recompute from the source (call on show and when conversations change)."""
        conversations, self._agents = self._source()
        self._conversations = {c.id: c for c in conversations}
        period: cql.Period = "week" if self.period_box.currentData() == "week" else "day"
        days = 14 if period == "day" else 56
        report = cql.aggregate(
            conversations, period=period, zone=self.zone, since=self._clock() - days * 86400
        )
        chosen = self.agent_box.currentData()
        self.agent_box.blockSignals(True)
        self.agent_box.clear()
        self.agent_box.addItem("All SDRs", None)
        for agent_id in report.agents:
            self.agent_box.addItem(cql.agent_label(agent_id, self._agents), agent_id)
        self.agent_box.setCurrentIndex(max(0, self.agent_box.findData(chosen)) if chosen is not None else 0)
        self.agent_box.blockSignals(False)
        self.details.zone = self.zone
        self.counts.set_report(report, self._agents)
        self.chart.set_report(report, self.agent_box.currentData())
        self.show_conversations(None, self.agent_box.currentData(), "any", describe=False)

    def show_conversations(
        self, day: dt.date | None, agent_id: str | None, level: object, *, describe: bool = True
    ) -> None:
        ids = self.counts.report.conversations(day, agent_id, level)  # type: ignore[arg-type]
        self.details.set_conversations([self._conversations[i] for i in ids], self._agents)
        if describe:
            parts = [period_label(day, self.counts.report.period) if day else "All periods"]
            parts.append(cql.agent_label(agent_id, self._agents) if agent_id is not None else "all SDRs")
            parts.append("all levels" if level == "any" else cql.tooltip(level))  # type: ignore[arg-type]
            self.details_label.setText(f"{len(ids)} conversations: " + ", ".join(parts))

    def on_period_box_changed(self, index: int) -> None:
        self.refresh()

    def on_agent_box_changed(self, index: int) -> None:
        self.chart.set_report(self.counts.report, self.agent_box.currentData())

    def on_chart_segment_clicked(self, day: dt.date, level: object) -> None:
        self.show_conversations(day, self.agent_box.currentData(), level)

    def on_counts_view_clicked(self, index: QModelIndex) -> None:
        cell = index.data(CellRole)
        if cell:
            self.show_conversations(*cell)

    def on_details_view_double_clicked(self, index: QModelIndex) -> None:
        cid = self.details.conversation_id(index.row())
        if cid:
            self.conversation_open_requested.emit(cid)
