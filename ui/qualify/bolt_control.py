"""The CQL control: a painted red line and three bolts, clickable, with tooltips and 0-3/Backspace keys."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence, QMouseEvent, QPainter, QPaintEvent, QPen, QShortcut
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from agent_app import cql
from ui.help.shortcuts import shortcut_keys
from ui.style import Palette, icon_pixmap

_CELL = 24  # one square per level: red line, bolt 1, bolt 2, bolt 3
_ICON = 16
_LEVELS: tuple[int, ...] = (0, 1, 2, 3)


def paint_level(painter: QPainter, rect: QRect, level: int | None, *, hover: int | None = None) -> None:
    """Draws the four cells of a CQL rating into ``rect`` (also usable from delegates)."""
    ratio = painter.device().devicePixelRatioF()
    shown = hover if hover is not None else level
    for i, cell_level in enumerate(_LEVELS):
        cell = QRect(rect.left() + i * _CELL, rect.top(), _CELL, rect.height())
        target = QPoint(cell.center().x() - _ICON // 2 + 1, cell.center().y() - _ICON // 2 + 1)
        if cell_level == 0:
            active = shown == 0
            color = Palette.DANGER if active else Palette.TEXT_FAINT
            painter.drawPixmap(target, icon_pixmap("redline", _ICON, color, ratio))
        else:
            active = shown is not None and shown >= cell_level
            color = Palette.BOLT if active else Palette.BORDER
            if hover is not None and active and hover != level:
                color = QColor(Palette.BOLT).lighter(125).name()
            painter.drawPixmap(target, icon_pixmap("bolt", _ICON, color, ratio))
        if cell_level == 0:
            painter.setPen(QPen(QColor(Palette.BORDER), 1))
            painter.drawLine(cell.right(), cell.top() + 5, cell.right(), cell.bottom() - 5)


class BoltControl(QWidget):
    """Shows a conversation's CQL and lets the SDR change it.

    Clicking a level sets it; clicking the current level again clears it (unrated). Keys 0-3 set a
    level and Backspace/Delete clears it while the control, or the scope given to
    :meth:`install_shortcuts` (the conversation pane), has focus. The control only *asks*: it shows
    the new level once the server's CqlChanged comes back through :meth:`set_level`.

    Signals:
        level_chosen(object): the level the user picked (0-3, or None for unrated).
    """

    level_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._level: int | None = None
        self._hover: int | None = None
        self._shortcuts: list[QShortcut] = []
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Lead qualification (CQL)")
        self._update_accessible()

    def level(self) -> int | None:
        return self._level

    def set_level(self, level: int | None) -> None:
        """Reflect the stored level (no signal)."""
        if level not in (None, *_LEVELS):
            level = None
        self._level = level
        self._update_accessible()
        self.update()

    def choose(self, level: int | None) -> None:
        """What a click or key does: emit the wish (clicking the current level means unrated)."""
        if not self.isEnabled():
            return
        self.level_chosen.emit(level)

    def install_shortcuts(self, scope: QWidget) -> list[QShortcut]:
        """Keys 0-3 and Backspace/Delete anywhere inside ``scope``. Text fields keep their keys: Qt
        lets an editor override single-key shortcuts while it has focus, so typing "2" stays a "2".

        Plus Alt+0..3 (from the shortcut table, "cql_set") anywhere in ``scope``'s window: from the
        reply box, the queue or the side panel, while ``scope`` (the open conversation) is shown."""
        local: list[tuple[str, int | None, Qt.ShortcutContext]] = [
            (key, level, Qt.ShortcutContext.WidgetWithChildrenShortcut)
            for key, level in [*cql.KEYS.items(), ("Backspace", None), ("Delete", None)]
        ]
        window = [
            (key, cql.KEYS[key.rsplit("+", 1)[-1]], Qt.ShortcutContext.WindowShortcut)
            for key in shortcut_keys("cql_set")
        ]
        for key, level, context in [*local, *window]:
            shortcut = QShortcut(QKeySequence(key), scope)
            shortcut.setContext(context)
            shortcut.activated.connect(lambda lv=level: self.choose(lv))
            self._shortcuts.append(shortcut)
        return self._shortcuts

    # ------------------------------------------------------------ painting and input

    def sizeHint(self) -> QSize:
        return QSize(_CELL * len(_LEVELS) + 2, 28)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def _level_at(self, pos: QPoint) -> int | None:
        index = (pos.x() - 1) // _CELL
        return _LEVELS[index] if 0 <= index < len(_LEVELS) and 0 <= pos.y() < self.height() else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._hover is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(Palette.HOVER))
            painter.drawRoundedRect(QRect(1, 2, _CELL * len(_LEVELS), self.height() - 4), 6, 6)
        paint_level(painter, QRect(1, 0, _CELL * len(_LEVELS), self.height()), self._level, hover=self._hover)
        if self.hasFocus():
            painter.setPen(QPen(QColor(Palette.ACCENT), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(self.rect().adjusted(0, 1, -1, -2), 6, 6)
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hover = self._level_at(event.position().toPoint())
        if hover != self._hover:
            self._hover = hover
            self.update()

    def leaveEvent(self, event: QEvent) -> None:
        self._hover = None
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        level = self._level_at(event.position().toPoint())
        if level is None:
            return
        self.choose(None if level == self._level else level)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.text() in cql.KEYS:
            self.choose(cql.KEYS[event.text()])
        elif event.key() in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete):
            self.choose(None)
        elif event.key() in (Qt.Key.Key_Right, Qt.Key.Key_Up):
            self.choose(min(3, (self._level if self._level is not None else -1) + 1))
        elif event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Down):
            self.choose(None if self._level is None or self._level == 0 else self._level - 1)
        else:
            super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            pos = event.pos()  # type: ignore[attr-defined]
            level = self._level_at(pos)
            text = cql.tooltip(level) if level is not None else cql.tooltip(self._level)
            if level is not None and level == self._level:
                text += " (current; click to clear)"
            QToolTip.showText(event.globalPos(), text, self)  # type: ignore[attr-defined]
            return True
        return super().event(event)

    def _update_accessible(self) -> None:
        self.setAccessibleDescription(cql.tooltip(self._level))
        self.setToolTip(cql.tooltip(self._level))
