"""Paints transcript rows as word-wrapped bubbles (plain text via QTextLayout) with cached heights."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPen, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from agent_app.store import Delivery
from ui.conversation.transcript_model import MessageKind, TranscriptRole
from ui.style import Palette, icon_pixmap
from ui.widgets.timefmt import day_label, message_time

type AnyIndex = QModelIndex | QPersistentModelIndex

MARGIN = 18  # left/right margin of the transcript
PAD_X, PAD_Y = 12, 8  # inside a bubble
META_H = 18  # author · time line above a bubble
DAY_H = 34  # day separator
FAIL_H = 22  # "Not sent · Retry" line under a failed bubble
GAP = 5  # above and below each row
RETRY_TEXT = "Retry"

_BUBBLE = {
    MessageKind.VISITOR: (Palette.VISITOR_BUBBLE, Palette.TEXT, Palette.BORDER),
    MessageKind.BOT: (Palette.BOT_BUBBLE, Palette.TEXT, Palette.BOT_BUBBLE),
    MessageKind.MINE: (Palette.ACCENT, Palette.TEXT_ON_ACCENT, Palette.ACCENT),
    MessageKind.AGENT: (Palette.OTHER_AGENT_BUBBLE, Palette.TEXT, Palette.OTHER_AGENT_BUBBLE),
    MessageKind.NOTE: (Palette.NOTE_BUBBLE, Palette.TEXT, Palette.NOTE_BORDER),
}
_RIGHT = (MessageKind.MINE, MessageKind.AGENT, MessageKind.NOTE)


def text_layout(text: str, font: QFont, width: float) -> tuple[QTextLayout, float, float]:
    """Lay out plain text (never interpreted as markup) wrapped at ``width``: (layout, used width, height)."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    y, used = 0.0, 0.0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        line.setPosition(QPointF(0, y))
        y += line.height()
        used = max(used, line.naturalTextWidth())
    layout.endLayout()
    return layout, used, y


@dataclass(slots=True)
class Geometry:
    day: QRect | None
    meta: QRect
    bubble: QRect
    text_pos: QPointF
    fail: QRect | None
    retry: QRect | None


class TranscriptDelegate(QStyledItemDelegate):
    """Bubbles: visitor and bot on the left; mine (accent), teammates and private notes on the right;
    system messages centred and muted. Heights are cached per (message, width, state).

    Signals:
        retry_clicked(str): the "Retry" link of a failed message was clicked (its key / client id).
    """

    retry_clicked = Signal(str)

    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self.clock = clock
        self._heights: dict[tuple[object, ...], int] = {}

    def clear_cache(self) -> None:
        self._heights.clear()

    # ------------------------------------------------------------------ geometry

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        base = QFont(option.font)
        small = QFont(base)
        size = base.pixelSize() if base.pixelSize() > 0 else round(base.pointSizeF() * 4 / 3)
        small.setPixelSize(max(10, size - 2))
        return base, small

    def _max_text_width(self, width: int, kind: MessageKind) -> float:
        if kind is MessageKind.SYSTEM:
            return max(80.0, width * 0.8 - 2 * MARGIN)
        return max(80.0, min(560.0, (width - 2 * MARGIN) * 0.74) - 2 * PAD_X)

    def geometry(self, option: QStyleOptionViewItem, index: AnyIndex) -> tuple[Geometry, QTextLayout]:
        rect: QRect = option.rect
        kind = MessageKind(index.data(TranscriptRole.KIND))
        base, small = self._fonts(option)
        font = small if kind is MessageKind.SYSTEM else base
        layout, used, text_h = text_layout(
            str(index.data() or ""), font, self._max_text_width(rect.width(), kind)
        )
        y = rect.top() + GAP
        day = None
        if index.data(TranscriptRole.DAY_BREAK):
            day = QRect(rect.left(), y, rect.width(), DAY_H)
            y += DAY_H
        if kind is MessageKind.SYSTEM:
            w = int(used) + 2
            bubble = QRect(rect.left() + (rect.width() - w) // 2, y + 2, w, int(text_h) + 4)
            meta = QRect(bubble.left(), bubble.top(), 0, 0)
            return Geometry(
                day, meta, bubble, QPointF(bubble.left() + 1, bubble.top() + 2), None, None
            ), layout
        meta = QRect(rect.left() + MARGIN, y, rect.width() - 2 * MARGIN, META_H)
        y += META_H + 2
        w, h = int(used) + 2 * PAD_X + 1, int(text_h) + 2 * PAD_Y
        w = max(w, 44)
        left = rect.right() - MARGIN - w + 1 if kind in _RIGHT else rect.left() + MARGIN
        bubble = QRect(left, y, w, h)
        text_pos = QPointF(bubble.left() + PAD_X, bubble.top() + PAD_Y)
        fail = retry = None
        if index.data(TranscriptRole.DELIVERY) == Delivery.FAILED:
            fail = QRect(rect.left() + MARGIN, bubble.bottom() + 3, rect.width() - 2 * MARGIN, FAIL_H - 4)
            rw = QFontMetrics(small).horizontalAdvance(RETRY_TEXT) + 16
            retry = QRect(fail.right() - rw + 1, fail.top(), rw, fail.height())
        return Geometry(day, meta, bubble, text_pos, fail, retry), layout

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        width = option.rect.width() or 600
        widget = option.widget
        if widget is not None and hasattr(widget, "viewport"):
            width = widget.viewport().width()
        key = (
            index.data(TranscriptRole.KEY),
            width,
            index.data(TranscriptRole.DELIVERY),
            bool(index.data(TranscriptRole.DAY_BREAK)),
            index.data(TranscriptRole.KIND),
            len(str(index.data() or "")),
        )
        height = self._heights.get(key)
        if height is None:
            opt = QStyleOptionViewItem(option)
            opt.rect = QRect(0, 0, width, 100)
            geo, _ = self.geometry(opt, index)
            bottom = geo.fail.bottom() if geo.fail is not None else geo.bubble.bottom()
            height = bottom + 1 + GAP
            if len(self._heights) > 20_000:
                self._heights.clear()
            self._heights[key] = height
        return QSize(width, height)

    # ------------------------------------------------------------------ painting

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        geo, layout = self.geometry(option, index)
        kind = MessageKind(index.data(TranscriptRole.KIND))
        _, small = self._fonts(option)
        now = self.clock()
        created = float(index.data(TranscriptRole.CREATED_AT) or 0)
        zone = index.data(TranscriptRole.ZONE)  # my zone, not the machine's
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        ratio = painter.device().devicePixelRatioF()
        if geo.day is not None:
            self._paint_day(painter, geo.day, day_label(created, now, zone), small)
        if kind is MessageKind.SYSTEM:
            painter.setPen(QColor(Palette.TEXT_MUTED))
            layout.draw(painter, geo.text_pos)
            painter.restore()
            return
        fill, fg, border = _BUBBLE[kind]
        delivery = Delivery(index.data(TranscriptRole.DELIVERY))
        right = kind in _RIGHT
        # meta line: "Author · time" (+ delivery icon for mine)
        author = "You" if kind is MessageKind.MINE else str(index.data(TranscriptRole.AUTHOR) or "")
        if kind is MessageKind.NOTE:
            author = f"Private note · {author}" if author else "Private note"
        when = message_time(created, now, zone)
        meta = f"{author} · {when}" if author else when
        painter.setFont(small)
        painter.setPen(QColor(Palette.TEXT_MUTED if kind is not MessageKind.NOTE else "#8a6d00"))
        align = Qt.AlignmentFlag.AlignVCenter | (
            Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
        )
        meta_rect = QRect(geo.meta)
        if kind is MessageKind.MINE:
            name = {Delivery.PENDING: "clock", Delivery.SENT: "tick", Delivery.FAILED: "warning"}[delivery]
            color = {
                Delivery.PENDING: Palette.TEXT_FAINT,
                Delivery.SENT: Palette.OK,
                Delivery.FAILED: Palette.DANGER,
            }
            painter.drawPixmap(
                meta_rect.right() - 13, meta_rect.top() + 2, icon_pixmap(name, 14, color[delivery], ratio)
            )
            meta_rect.setRight(meta_rect.right() - 18)
            if delivery is Delivery.PENDING:
                meta = f"{meta} · Sending…"
        fm = QFontMetrics(small)
        painter.drawText(
            meta_rect, int(align), fm.elidedText(meta, Qt.TextElideMode.ElideRight, meta_rect.width())
        )
        # bubble
        if delivery is Delivery.PENDING and kind is MessageKind.MINE:
            fill, border = "#8fb0f3", "#8fb0f3"
        elif delivery is Delivery.FAILED:
            fill, fg, border = Palette.DANGER_SOFT, Palette.TEXT, Palette.DANGER
        painter.setPen(QPen(QColor(border), 1))
        painter.setBrush(QColor(fill))
        painter.drawRoundedRect(QRectF(geo.bubble).adjusted(0.5, 0.5, -0.5, -0.5), 12, 12)
        painter.setPen(QColor(fg))
        layout.draw(painter, geo.text_pos)
        if geo.fail is not None and geo.retry is not None:
            error = str(index.data(TranscriptRole.ERROR) or "")
            text = f"Not sent{': ' + error if error else ''}"
            painter.setFont(small)
            painter.setPen(QColor(Palette.DANGER))
            text_rect = QRect(
                geo.fail.left(), geo.fail.top(), geo.fail.width() - geo.retry.width() - 8, geo.fail.height()
            )
            painter.drawText(
                text_rect,
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                fm.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width()),
            )
            painter.setPen(QPen(QColor(Palette.DANGER), 1))
            painter.setBrush(QColor(Palette.SURFACE))
            painter.drawRoundedRect(QRectF(geo.retry).adjusted(0.5, 0.5, -0.5, -0.5), 8, 8)
            painter.drawText(geo.retry, int(Qt.AlignmentFlag.AlignCenter), RETRY_TEXT)
        painter.restore()

    def _paint_day(self, painter: QPainter, rect: QRect, text: str, font: QFont) -> None:
        f = QFont(font)
        f.setWeight(QFont.Weight.DemiBold)
        painter.setFont(f)
        fm = QFontMetrics(f)
        w = fm.horizontalAdvance(text) + 24
        mid = rect.center().y()
        painter.setPen(QPen(QColor(Palette.BORDER), 1))
        painter.drawLine(rect.left() + MARGIN, mid, rect.center().x() - w // 2, mid)
        painter.drawLine(rect.center().x() + w // 2, mid, rect.right() - MARGIN, mid)
        painter.setPen(QColor(Palette.TEXT_FAINT))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)

    # ------------------------------------------------------------------ clicks

    def editorEvent(
        self, event: QEvent, model: QAbstractItemModel, option: QStyleOptionViewItem, index: AnyIndex
    ) -> bool:
        if (
            event.type() == QEvent.Type.MouseButtonRelease
            and isinstance(event, QMouseEvent)
            and index.data(TranscriptRole.DELIVERY) == Delivery.FAILED
        ):
            geo, _ = self.geometry(option, index)
            if geo.retry is not None and geo.retry.contains(event.position().toPoint()):
                self.retry_clicked.emit(str(index.data(TranscriptRole.KEY)))
                return True
        return super().editorEvent(event, model, option, index)
