"""What the centre shows when no conversation is open: a friendly line and the keys that matter."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ui.style import Palette, icon, named

HINTS = (
    ("Ctrl+G", "open what needs you most: your chat due first, else a waiting one"),
    ("↑ ↓ Enter", "move through the queue and open"),
    ("Ctrl+K", "search visitors"),
    ("F1", "all keyboard shortcuts"),
)


class EmptyState(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        art = QLabel(self)
        art.setPixmap(icon("chat", Palette.TEXT_FAINT, 48).pixmap(48, 48))
        art.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = named(QLabel("No conversation open", self), "emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel("Pick a visitor from the queue on the left. New chats show up there live.", self)
        text.setObjectName("emptyText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(art)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(14)
        for keys, what in HINTS:
            hint = named(QLabel(f"{keys}  —  {what}", self), "emptyHint")
            hint.setTextFormat(Qt.TextFormat.PlainText)
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(hint)
        layout.addStretch(3)
