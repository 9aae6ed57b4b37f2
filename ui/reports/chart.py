"""QPainter bar charts of the report: first-response median/p90 per rep with the target line, CQL mix."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from agent_app import protocol as p
from agent_app.reports import CQL_COLUMNS, seconds_text
from ui.style import Palette

MEDIAN_COLOR = Palette.ACCENT
P90_COLOR = "#9bb8f5"
CQL_COLORS = (Palette.DANGER, "#f8c660", "#f5a300", "#b86e00", Palette.TEXT_FAINT)
CQL_SHORT = ("Red", "1 ⚡", "2 ⚡", "3 ⚡", "None")  # under narrow bars (the table has the long names)


class ResponseChart(QWidget):
    """Per row, a median bar and a p90 bar (seconds), and a dashed line at the target."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("responseChart")
        self.bars: list[tuple[str, float | None, float | None]] = []  # (name, median, p90)
        self.target = 30.0
        self.painted_bars = 0  # bars drawn by the last paint (tests)
        self.setMinimumHeight(170)

    def set_rows(self, rows: list[p.ReportRow], target: float) -> None:
        self.bars = [(r.name or r.key, r.median_seconds, r.p90_seconds) for r in rows]
        self.target = target
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(520, 200)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(Palette.SURFACE))
        self.painted_bars = 0
        _legend(painter, [("Median", MEDIAN_COLOR), ("P90", P90_COLOR), (f"Target {self.target:g} s", "")])
        plot = QRectF(44.0, 34.0, self.width() - 56.0, self.height() - 58.0)
        answered = [(n, m, q) for n, m, q in self.bars if m is not None]
        if not answered:
            painter.setPen(QColor(Palette.TEXT_MUTED))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No first replies in this period.")
            painter.end()
            return
        peak = max([self.target * 1.2] + [max(m or 0, q or 0) for _, m, q in answered])
        _axis(painter, plot, peak, seconds_text)
        slot = plot.width() / len(answered)
        bar_w = min(26.0, slot * 0.32)
        for i, (name, median, p90) in enumerate(answered):
            x = plot.left() + i * slot + slot / 2 - bar_w
            for j, (value, color) in enumerate(((median, MEDIAN_COLOR), (p90, P90_COLOR))):
                if value is None:
                    continue
                h = plot.height() * value / peak
                painter.fillRect(QRectF(x + j * bar_w, plot.bottom() - h, bar_w - 2, h), QColor(color))
                self.painted_bars += 1
            painter.setPen(QColor(Palette.TEXT_MUTED))
            label = painter.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, int(slot) - 4)
            painter.drawText(QRectF(plot.left() + i * slot, plot.bottom() + 4, slot, 16),
                             Qt.AlignmentFlag.AlignHCenter, label)  # fmt: skip
        y = plot.bottom() - plot.height() * self.target / peak
        pen = QPen(QColor(Palette.DANGER), 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.end()


class CqlChart(QWidget):
    """The CQL distribution of the chats in the period: one bar per level (red line .. 3 bolts, unrated)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cqlChart")
        self.counts = [0, 0, 0, 0, 0]
        self.painted_bars = 0
        self.setMinimumHeight(170)

    def set_counts(self, counts: list[int]) -> None:
        self.counts = list(counts)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 200)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(Palette.SURFACE))
        self.painted_bars = 0
        painter.setPen(QColor(Palette.TEXT))
        painter.drawText(QRectF(8, 6, self.width() - 16, 20), Qt.AlignmentFlag.AlignLeft, "CQL of the chats")
        plot = QRectF(36.0, 34.0, self.width() - 48.0, self.height() - 58.0)
        peak = max(self.counts, default=0)
        if peak == 0:
            painter.setPen(QColor(Palette.TEXT_MUTED))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No chats in this period.")
            painter.end()
            return
        _axis(painter, plot, float(peak), lambda v: f"{v:.0f}")
        slot = plot.width() / len(self.counts)
        bar_w = min(36.0, slot * 0.6)
        for i, n in enumerate(self.counts):
            x = plot.left() + i * slot + (slot - bar_w) / 2
            h = plot.height() * n / peak
            if n:
                painter.fillRect(QRectF(x, plot.bottom() - h, bar_w, h), QColor(CQL_COLORS[i]))
                self.painted_bars += 1
                painter.setPen(QColor(Palette.TEXT))
                painter.drawText(QRectF(x - 10, plot.bottom() - h - 16, bar_w + 20, 14),
                                 Qt.AlignmentFlag.AlignCenter, str(n))  # fmt: skip
            painter.setPen(QColor(Palette.TEXT_MUTED))
            metrics = painter.fontMetrics()
            text = CQL_COLUMNS[i] if metrics.horizontalAdvance(CQL_COLUMNS[i]) < slot - 2 else CQL_SHORT[i]
            label = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(slot) - 2)
            painter.drawText(QRectF(plot.left() + i * slot, plot.bottom() + 4, slot, 16),
                             Qt.AlignmentFlag.AlignHCenter, label)  # fmt: skip
        painter.end()


def _legend(painter: QPainter, items: list[tuple[str, str]]) -> None:
    x = 8.0
    for text, color in items:
        if color:
            painter.fillRect(QRectF(x, 11, 10, 10), QColor(color))
        else:
            painter.setPen(QPen(QColor(Palette.DANGER), 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x, 16), QPointF(x + 10, 16))
        painter.setPen(QColor(Palette.TEXT_MUTED))
        painter.drawText(QRectF(x + 14, 6, 120, 20), Qt.AlignmentFlag.AlignVCenter, text)
        x += 28 + painter.fontMetrics().horizontalAdvance(text)


def _axis(painter: QPainter, plot: QRectF, peak: float, label: object) -> None:
    for tick in (0.0, peak / 2, peak):
        y = plot.bottom() - plot.height() * tick / peak
        painter.setPen(QColor(Palette.BORDER))
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(QColor(Palette.TEXT_MUTED))
        text = label(tick) if callable(label) else str(tick)
        painter.drawText(QRectF(0, y - 8, plot.left() - 4, 16), Qt.AlignmentFlag.AlignRight, str(text))
