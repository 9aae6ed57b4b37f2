"""The sign-in dialog: server URL, email and password, with validation and errors shown inline."""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ui.shell.paths import DISPLAY_NAME


def validate(server_url: str, email: str, password: str) -> str:
    """The first problem with the form as a sentence for the user, or "" when it can be sent."""
    parts = urlsplit(server_url.strip())
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        return "Enter the server address, for example wss://chat.example.com"
    local, _, domain = email.strip().partition("@")
    if not local or "." not in domain:
        return "Enter your work email address."
    if not password:
        return "Enter your password."
    return ""


class SignInDialog(QDialog):
    """Asks for credentials; the shell does the signing in and reports back.

    Non-modal: the shell shows it with ``open()`` and answers ``sign_in_requested`` with
    ``set_busy``/``set_error`` (wrong password, server unreachable) or closes it on success.

    Signals:
        sign_in_requested(str, str, str): server URL, email, password (already validated).
    """

    sign_in_requested = Signal(str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setWindowTitle(f"Sign in — {DISPLAY_NAME}")
        self.setMinimumWidth(420)
        self.heading = QLabel(f"Sign in to {DISPLAY_NAME}")
        self.heading.setObjectName("signInHeading")
        self.reason = QLabel()  # why we ask again ("Your session ended ...")
        self.reason.setObjectName("signInReason")
        self.reason.setWordWrap(True)
        self.reason.setTextFormat(Qt.TextFormat.PlainText)
        self.reason.hide()
        self.server = QLineEdit()
        self.server.setPlaceholderText("wss://chat.example.com")
        self.email = QLineEdit()
        self.email.setPlaceholderText("you@company.com")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel()
        self.error.setObjectName("signInError")
        self.error.setProperty("state", "error")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.hide()
        self.notice = QLabel()  # e.g. no secure keychain
        self.notice.setObjectName("signInNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.submit = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.submit.setText("Sign in")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Quit")

        form = QFormLayout()
        form.addRow("Server", self.server)
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.reason)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.notice)
        layout.addWidget(self.buttons)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        for field in (self.server, self.email, self.password):
            field.textEdited.connect(self.on_field_text_edited)

    # ------------------------------------------------------------------ for the shell

    def prefill(self, server_url: str = "", email: str = "", reason: str = "") -> None:
        self.server.setText(server_url)
        self.email.setText(email)
        self.password.clear()
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))
        self.set_error("")
        (self.password if server_url and email else self.server if not server_url else self.email).setFocus()

    def set_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def set_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        for w in (self.server, self.email, self.password, self.submit):
            w.setEnabled(not busy)
        self.submit.setText("Signing in…" if busy else "Sign in")
        self.setProperty("busy", busy)

    # ------------------------------------------------------------------ slots

    @Slot()
    def on_buttons_accepted(self) -> None:
        url, email, password = self.server.text().strip(), self.email.text().strip(), self.password.text()
        problem = validate(url, email, password)
        self.set_error(problem)
        if problem:
            return
        self.sign_in_requested.emit(url, email, password)

    @Slot()
    def on_field_text_edited(self) -> None:
        self.set_error("")
