"""In-window notification banner (fallback when the desktop can't show notifications)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from ui.style import Palette, icon, named

AUTO_HIDE_MS = 12_000


class BannerBar(QWidget):
    """One line of plain text, an optional "Open" button and a dismiss button; hides itself after a while.

    Signals:
        open_clicked(str): "Open" was clicked for this conversation id.
    """

    open_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.conversation_id = ""
        self.icon = QLabel(self)
        self.icon.setPixmap(icon("chat", Palette.ACCENT, 16).pixmap(16, 16))
        self.label = named(QLabel(self), "bannerText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.open_button = named(QPushButton("Open", self), "bannerOpen")
        self.dismiss = named(QToolButton(self), "bannerDismiss")
        self.dismiss.setIcon(icon("dismiss", Palette.TEXT_MUTED, 14))
        self.dismiss.setToolTip("Dismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 6, 8, 6)
        layout.setSpacing(8)
        layout.addWidget(self.icon)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.open_button)
        layout.addWidget(self.dismiss)
        self._timer = QTimer(self, singleShot=True, interval=AUTO_HIDE_MS)
        self._timer.timeout.connect(self.hide)
        self.dismiss.clicked.connect(self.hide)
        self.open_button.clicked.connect(self.on_open_button_clicked)
        self.hide()

    def show_message(self, text: str, conversation_id: str = "") -> None:
        self.conversation_id = conversation_id
        self.label.setText(" ".join(text.split()))
        self.open_button.setVisible(bool(conversation_id))
        self.show()
        self._timer.start()

    def on_open_button_clicked(self) -> None:
        self.hide()
        self.open_clicked.emit(self.conversation_id)
