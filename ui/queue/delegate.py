"""Paints one queue row: avatar, name, company and preview, SLA countdown, CQL, assignee, unread badge."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from agent_app import protocol as p
from ui.queue.model import QueueRole, SlaState, initials
from ui.style import Palette, icon_pixmap
from ui.widgets.timefmt import countdown, short_age

ROW_HEIGHT = 76
PAD = 12
AVATAR = 34

type AnyIndex = QModelIndex | QPersistentModelIndex


def draw_avatar(painter: QPainter, rect: QRect, name: str, key: str, font: QFont) -> None:
    """A coloured circle with the person's initials (plain text)."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(Palette.avatar_color(key)))
    painter.drawEllipse(rect)
    f = QFont(font)
    f.setPixelSize(max(9, rect.height() * 2 // 5))
    f.setWeight(QFont.Weight.DemiBold)
    painter.setFont(f)
    painter.setPen(QColor(Palette.TEXT_ON_ACCENT))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, initials(name))


class QueueDelegate(QStyledItemDelegate):
    """Fixed-height rows (the view uses uniform item sizes); everything drawn with drawText (plain)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(280, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        conv: p.Conversation | None = index.data(QueueRole.CONVERSATION)
        if conv is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        state = SlaState(index.data(QueueRole.SLA_STATE))
        bg = Palette.SELECTION if selected else Palette.HOVER if hovered else Palette.SURFACE
        painter.fillRect(r, QColor(bg))
        if selected:
            painter.fillRect(QRect(r.left(), r.top(), 3, r.height()), QColor(Palette.ACCENT))
        elif state is SlaState.BREACHED:
            painter.fillRect(QRect(r.left(), r.top(), 3, r.height()), QColor(Palette.DANGER))
        painter.setPen(QPen(QColor(Palette.BORDER)))
        painter.drawLine(r.left() + PAD, r.bottom(), r.right(), r.bottom())

        base = QFont(option.font)
        name = str(index.data(Qt.ItemDataRole.DisplayRole))
        draw_avatar(
            painter,
            QRect(r.left() + PAD, r.top() + 10, AVATAR, AVATAR),
            name,
            conv.visitor.id or conv.id,
            base,
        )
        x = r.left() + PAD + AVATAR + 10
        right = r.right() - PAD
        unread = int(index.data(QueueRole.UNREAD) or 0)

        # line 1: name ............ SLA chip or age
        chip_w = self._draw_time(painter, index, conv, state, QRect(x, r.top() + 9, right - x, 20), base)
        bold = QFont(base)
        bold.setWeight(QFont.Weight.Bold if unread else QFont.Weight.DemiBold)
        painter.setFont(bold)
        painter.setPen(QColor(Palette.TEXT))
        name_rect = QRect(x, r.top() + 9, right - x - chip_w - 8, 20)
        elided = QFontMetrics(bold).elidedText(name, Qt.TextElideMode.ElideRight, name_rect.width())
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)

        # line 2: company · preview
        small = QFont(base)
        small.setPixelSize(max(10, base.pixelSize() - 1) if base.pixelSize() > 0 else 12)
        painter.setFont(small)
        fm = QFontMetrics(small)
        company = conv.visitor.company.strip()
        preview = " ".join(str(index.data(QueueRole.PREVIEW) or "").split())
        line = f"{company} · {preview}" if company and preview else company or preview or "No messages yet"
        painter.setPen(QColor(Palette.TEXT if unread else Palette.TEXT_MUTED))
        badge_w = fm.horizontalAdvance(str(unread)) + 12 if unread else 0
        line_rect = QRect(x, r.top() + 30, right - x - (badge_w + 6 if badge_w else 0), 18)
        painter.drawText(
            line_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(line, Qt.TextElideMode.ElideRight, line_rect.width()),
        )
        if unread:
            badge = QRect(right - badge_w, r.top() + 31, max(badge_w, 18), 17)
            badge.moveRight(right)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(Palette.ACCENT))
            painter.drawRoundedRect(badge, 8.5, 8.5)
            painter.setPen(QColor(Palette.TEXT_ON_ACCENT))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(unread))

        # line 3: CQL ............ assignee
        self._draw_cql(painter, conv.cql, x, r.top() + 52, small)
        assignee = str(index.data(QueueRole.ASSIGNEE_NAME) or "")
        painter.setFont(small)
        painter.setPen(QColor(Palette.TEXT_FAINT))
        who = assignee or ("Unassigned" if conv.status is p.ConversationStatus.OPEN else "Closed")
        who_rect = QRect(x + 80, r.top() + 50, right - x - 80, 18)
        text_w = min(fm.horizontalAdvance(who), who_rect.width() - 22)
        painter.drawText(
            who_rect,
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(who, Qt.TextElideMode.ElideRight, max(0, text_w)),
        )
        if assignee:
            av = QRect(right - text_w - 22, r.top() + 51, 16, 16)
            draw_avatar(painter, av, assignee, conv.assignee_id or "", small)
        painter.restore()

    def _draw_time(
        self,
        painter: QPainter,
        index: AnyIndex,
        conv: p.Conversation,
        state: SlaState,
        rect: QRect,
        font: QFont,
    ) -> int:
        """The SLA countdown chip for rows awaiting a first reply, else the age of the last activity."""
        f = QFont(font)
        f.setPixelSize(12)
        painter.setFont(f)
        fm = QFontMetrics(f)
        if state is SlaState.NONE:
            waited = index.data(QueueRole.WAITING_SECONDS)
            text = short_age(float(waited if waited is not None else index.data(QueueRole.AGE_SECONDS) or 0))
            painter.setPen(QColor(Palette.TEXT_FAINT))
            painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
            return fm.horizontalAdvance(text)
        remaining = float(index.data(QueueRole.SLA_REMAINING) or 0.0)
        if state is SlaState.BREACHED:
            fg, bg, text = Palette.DANGER, Palette.DANGER_SOFT, f"Late {countdown(min(remaining, 0.0))}"
        elif state is SlaState.WARNING:
            fg, bg, text = "#b54708", Palette.WARN_SOFT, countdown(remaining)
        else:
            fg, bg, text = Palette.ACCENT_DARK, Palette.ACCENT_SOFT, countdown(remaining)
        w = fm.horizontalAdvance(text) + 30
        chip = QRect(rect.right() - w + 1, rect.top(), w, rect.height())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(bg))
        painter.drawRoundedRect(chip, 10, 10)
        painter.drawPixmap(
            chip.left() + 7,
            chip.top() + 3,
            icon_pixmap("clock", 14, fg, painter.device().devicePixelRatioF()),
        )
        painter.setPen(QColor(fg))
        painter.drawText(chip.adjusted(24, 0, -6, 0), Qt.AlignmentFlag.AlignCenter, text)
        return w

    def _draw_cql(self, painter: QPainter, cql: int | None, x: int, y: int, font: QFont) -> None:
        ratio = painter.device().devicePixelRatioF()
        if cql is None:
            return
        if cql == 0:
            painter.drawPixmap(x, y, icon_pixmap("redline", 14, Palette.DANGER, ratio))
            painter.setFont(font)
            painter.setPen(QColor(Palette.DANGER))
            painter.drawText(QRect(x + 17, y - 2, 90, 18), Qt.AlignmentFlag.AlignVCenter, "Not qualified")
            return
        for i in range(min(cql, 3)):
            painter.drawPixmap(x + i * 13, y, icon_pixmap("bolt", 14, Palette.BOLT, ratio))
