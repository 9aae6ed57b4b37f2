"""The Engage dialog: the opener a rep sends to a visitor on the site (editable, prefilled)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.live_visitors import ENGAGE_MAX, display_name, page_label


class EngageDialog(QDialog):
    """Signals:
    send_requested(str, str): visitor id, the text to send (the feature sends ``engage``; the dialog stays
    open until ``done_sending`` or shows the server's refusal with ``show_error``).
    """

    send_requested = Signal(str, str)

    def __init__(
        self,
        row: p.LiveVisitor,
        greeting: str,
        openers: list[tuple[str, str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("engageDialog")
        self.visitor_id = row.visitor_id
        name = display_name(row)
        self.setWindowTitle(f"Engage {name}")
        about = QLabel(f"{name} is on {page_label(row) or 'the website'}. Your message pops up in their chat "
                       "widget; they can answer or dismiss it.")  # fmt: skip
        about.setTextFormat(Qt.TextFormat.PlainText)
        about.setWordWrap(True)
        # Saved replies as openers (already expanded for this visitor): picking one replaces the text.
        self.openers = QComboBox()
        self.openers.setObjectName("engageOpeners")
        self.set_openers(openers or [])
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("engageText")
        self.editor.setPlainText(greeting)
        self.editor.setTabChangesFocus(True)
        self.counter = QLabel()
        self.counter.setTextFormat(Qt.TextFormat.PlainText)
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.error = QLabel()
        self.error.setObjectName("dialogError")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button: QPushButton = self.buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        self.send_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addWidget(self.openers)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.counter)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(440, 260)
        self.editor.textChanged.connect(self.on_editor_text_changed)
        self.openers.activated.connect(self.on_openers_activated)
        self.buttons.rejected.connect(self.reject)
        self.send_button.clicked.connect(self.on_send_button_clicked)
        self.on_editor_text_changed()
        self.editor.setFocus()

    def set_openers(self, openers: list[tuple[str, str]]) -> None:
        """(title, text) pairs; shown only when there is at least one (replaced when the list loads)."""
        self.openers.clear()
        self.openers.addItem("Start from a saved reply…", "")
        for title, text in openers:
            self.openers.addItem(title, text)
        self.openers.setVisible(self.openers.count() > 1)

    def text(self) -> str:
        return self.editor.toPlainText().strip()

    def on_editor_text_changed(self) -> None:
        n = len(self.text())
        self.counter.setText(f"{n} / {ENGAGE_MAX}")
        self.send_button.setEnabled(0 < n <= ENGAGE_MAX)

    def on_openers_activated(self, index: int) -> None:
        text = self.openers.itemData(index)
        if text:
            self.editor.setPlainText(str(text))
            self.editor.setFocus()

    def on_send_button_clicked(self) -> None:
        self.error.hide()
        if self.send_button.isEnabled():
            self.send_requested.emit(self.visitor_id, self.text())

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.send_button.setEnabled(True)

    def done_sending(self) -> None:
        self.accept()
