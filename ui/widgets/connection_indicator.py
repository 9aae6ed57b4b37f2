"""Status-bar connection state: a small coloured dot and a short text ("Online", "Reconnecting in 4 s…")."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from ui.style import Palette, icon_pixmap, named

# state value -> (dot colour, default text); values are those of agent_app.session.ConnectionState
STATES: dict[str, tuple[str, str]] = {
    "online": (Palette.OK, "Online"),
    "connecting": (Palette.WARN, "Connecting…"),
    "reconnecting": (Palette.WARN, "Reconnecting…"),
    "offline": (Palette.DANGER, "Offline — messages will be sent when back online"),
    "signed_out": (Palette.TEXT_FAINT, "Signed out"),
}


class ConnectionIndicator(QWidget):
    """Unobtrusive: the dot says it all when things are fine; details go in the text and tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionIndicator")
        self.dot = QLabel(self)
        self.label = named(QLabel(self), "connectionText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.setSpacing(6)
        layout.addWidget(self.dot)
        layout.addWidget(self.label)
        self.state = ""
        self.set_state("connecting")

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = str(state)
        color, text = STATES.get(self.state, (Palette.TEXT_FAINT, self.state.replace("_", " ").capitalize()))
        if self.state == "reconnecting" and detail:
            text = detail if detail.endswith(("…", "...")) else f"{detail}…"
        elif self.state == "offline" and detail:
            self.setToolTip(detail)
        self.dot.setPixmap(icon_pixmap("dot", 10, color, self.devicePixelRatioF()))
        self.label.setText(text)
        self.setToolTip(detail or text)
        self.setProperty("state", self.state)
