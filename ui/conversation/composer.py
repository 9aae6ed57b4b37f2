"""The reply box: Enter sends, Shift+Enter breaks the line, private-note toggle, limits, typing signal."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from ui.conversation.typing import IDLE_SECONDS, TypingThrottle
from ui.style import Palette, icon, named, repolish

MIN_EDIT_HEIGHT, MAX_EDIT_HEIGHT = 64, 168
HINT = "Enter to send · Shift+Enter for a new line"


class ComposerEdit(QPlainTextEdit):
    """Plain text only (pasted HTML arrives as text). Emits ``submitted`` on Enter without Shift.

    Signals:
        submitted: Enter (or keypad Enter) was pressed without Shift.
    """

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            elif not event.modifiers() & (
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
            ):
                self.submitted.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Validates and hands text to whoever listens; knows nothing about sessions.

    Signals:
        message_submitted(str, bool): text to send (trimmed, within limits) and whether it is a private note.
        typing_changed(bool): throttled "I am typing" / "I stopped" for the open conversation.
        reopen_requested: the "Reopen" button of a closed conversation was clicked.
    """

    message_submitted = Signal(str, bool)
    typing_changed = Signal(bool)
    reopen_requested = Signal()

    def __init__(self, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.max_length = p.MAX_MESSAGE_TEXT
        # Extra checks before a send (e.g. saved replies: an unknown {variable} left in the text); each
        # returns "" or the reason shown inline, and the text stays in the box.
        self.send_checks: list[Callable[[str], str]] = []
        self._programmatic = False
        self.throttle = TypingThrottle(self.typing_changed.emit, clock)
        self._idle = QTimer(self, singleShot=True, interval=int(IDLE_SECONDS * 1000))
        self._idle.timeout.connect(self.throttle.idle)

        self.closed_bar = named(QWidget(self), "closedBar")
        self.closed_bar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.closed_label = QLabel("This conversation is closed. Reopen it to reply.", self.closed_bar)
        self.closed_label.setTextFormat(Qt.TextFormat.PlainText)
        self.reopen_button = QPushButton(icon("reopen", Palette.ACCENT), "Reopen", self.closed_bar)
        self.reopen_button.setObjectName("reopenButton")
        bar = QHBoxLayout(self.closed_bar)
        bar.setContentsMargins(12, 8, 12, 8)
        bar.addWidget(self.closed_label, 1)
        bar.addWidget(self.reopen_button)
        self.closed_bar.hide()

        # A gentle note while a teammate types a reply in this chat (ui/viewing): two answers help nobody.
        self.teammate_note = named(QLabel(self), "composerTeammateNote")
        self.teammate_note.setTextFormat(Qt.TextFormat.PlainText)
        self.teammate_note.setWordWrap(True)
        self.teammate_note.hide()
        self.error = named(QLabel(self), "composerError")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.hide()
        self.edit = ComposerEdit(self)
        self.edit.setObjectName("composerEdit")
        self.edit.setPlaceholderText("Reply to the visitor…")
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(MIN_EDIT_HEIGHT)
        self.note_toggle = named(QToolButton(self), "noteToggle")
        self.note_toggle.setCheckable(True)
        self.note_toggle.setText("Private note")
        self.note_toggle.setIcon(icon("note", "#8a6d00", 16))
        self.note_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.note_toggle.setToolTip("Private note: only your team sees it (Ctrl+Shift+N)")
        self.hint = named(QLabel(HINT, self), "composerHint")
        self.counter = named(QLabel(self), "composerCounter")
        self.counter.hide()
        self.send_button = QPushButton(icon("send", Palette.TEXT_ON_ACCENT, 16), "Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send (Enter)")

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self._actions_row = row  # add_action() puts feature buttons after the note toggle
        row.addWidget(self.note_toggle)
        row.addWidget(self.hint, 1)
        row.addWidget(self.counter)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 10)
        layout.setSpacing(6)
        layout.addWidget(self.closed_bar)
        layout.addWidget(self.error)
        layout.addWidget(self.teammate_note)
        layout.addWidget(self.edit)
        layout.addLayout(row)

        self.edit.submitted.connect(self.submit)
        self.edit.textChanged.connect(self.on_edit_text_changed)
        self.send_button.clicked.connect(self.submit)
        self.note_toggle.toggled.connect(self.on_note_toggle_toggled)
        self.reopen_button.clicked.connect(self.reopen_requested)

    # ------------------------------------------------------------------ API

    def add_action(self, widget: QWidget) -> None:
        """A feature's button in the row under the text box, after "Private note" and any added before
        (MainWindow.add_composer_action)."""
        row = self._actions_row
        row.insertWidget(row.indexOf(self.hint), widget)

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the draft without sending typing notifications."""
        self._programmatic = True
        try:
            self.edit.setPlainText(text)
            self.edit.moveCursor(self.edit.textCursor().MoveOperation.End)
        finally:
            self._programmatic = False
        self._update_counter()
        self._fit_height()

    def is_private(self) -> bool:
        return self.note_toggle.isChecked()

    def set_private(self, private: bool) -> None:
        self.note_toggle.setChecked(private)

    def set_closed(self, closed: bool) -> None:
        self.closed_bar.setVisible(closed)
        for widget in (self.edit, self.note_toggle, self.send_button):
            widget.setEnabled(not closed)
        self.hint.setVisible(not closed)
        if closed:
            self.stop_typing()

    def stop_typing(self) -> None:
        self._idle.stop()
        self.throttle.stop()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def set_teammate_note(self, text: str) -> None:
        """E.g. "Sam is typing a reply: check before you answer too." ("" hides it)."""
        self.teammate_note.setText(text)
        self.teammate_note.setVisible(bool(text))

    def focus(self) -> None:
        target = self.edit if self.edit.isEnabled() else self.reopen_button
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def submit(self) -> None:
        """Validate and emit; a refused text stays in the box with an inline explanation."""
        text = self.text().strip()
        if not text:
            return
        if len(text) > self.max_length:
            self.show_error(
                f"This message is {len(text):,} characters long; the limit is {self.max_length:,}. "
                "Shorten it or send it in parts."
            )
            return
        problem = next((found for check in self.send_checks if (found := check(text))), "")
        if problem:
            self.show_error(problem)
            return
        self.show_error("")
        self.stop_typing()
        self.set_text("")
        self.message_submitted.emit(text, self.is_private())

    # ------------------------------------------------------------------ slots

    def on_edit_text_changed(self) -> None:
        self._update_counter()
        self._fit_height()
        if self.error.isVisible() and len(self.text().strip()) <= self.max_length:
            self.show_error("")
        if self._programmatic:
            return
        if self.text().strip():
            self.throttle.keystroke()
            self._idle.start()
        else:
            self.stop_typing()

    def on_note_toggle_toggled(self, checked: bool) -> None:
        self.edit.setPlaceholderText(
            "Write a private note for your team…" if checked else "Reply to the visitor…"
        )
        repolish(self, private=checked)
        repolish(self.edit, private=checked)

    def _fit_height(self) -> None:
        """Grow with the text up to MAX_EDIT_HEIGHT, then scroll."""
        doc_height = self.edit.document().size().height() * self.edit.fontMetrics().lineSpacing()
        wanted = int(doc_height) + 2 * int(self.edit.document().documentMargin()) + 14
        self.edit.setFixedHeight(max(MIN_EDIT_HEIGHT, min(MAX_EDIT_HEIGHT, wanted)))

    def _update_counter(self) -> None:
        n = len(self.text())
        near = n > self.max_length * 0.8
        self.counter.setVisible(near)
        if near:
            self.counter.setText(f"{n:,} / {self.max_length:,}")
            repolish(self.counter, over=n > self.max_length)
