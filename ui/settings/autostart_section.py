"""Preferences section "Start at login": one checkbox over agent_app.autostart (the XDG autostart entry)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from agent_app.autostart import Autostart
from ui.settings.preferences import PreferencesFeature, PreferencesSection


class AutostartSection(PreferencesSection):
    """ "Start SDR Agent Desk when I log in". The entry file is the state (the desktop's own startup
    settings may change it too), so the checkbox is re-read every time the dialog opens.

    Signals:
        changed(bool): the entry was written (True) or removed (False).
    """

    title = "Startup"
    changed = Signal(bool)

    def __init__(self, autostart: Autostart, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("autostartSection")
        self.autostart = autostart
        self._loading = False
        self.check = QCheckBox("Start SDR Agent Desk when I log in", self)
        self.check.setObjectName("autostartCheck")
        self.hint = QLabel(
            "It starts quietly in the tray, so new chats reach you from the first minute.", self
        )
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        self.problem = QLabel(self)
        self.problem.setTextFormat(Qt.TextFormat.PlainText)  # an OS error message: plain text
        self.problem.setWordWrap(True)
        self.problem.setObjectName("autostartProblem")
        self.problem.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.hint)
        layout.addWidget(self.problem)
        self.reload()
        self.check.toggled.connect(self.on_check_toggled)

    def reload(self) -> None:
        self._loading = True
        try:
            self.check.setChecked(self.autostart.enabled())
        finally:
            self._loading = False

    def on_check_toggled(self, checked: bool) -> None:
        if self._loading:
            return
        try:
            self.autostart.set_enabled(checked)
        except OSError as exc:  # a read-only or full home folder: say so, show the real state
            self.problem.setText(
                f"Could not change the startup entry ({self.autostart.path}): {exc.strerror}"
            )
            self.problem.show()
            self.reload()
            return
        self.problem.hide()
        self.changed.emit(checked)


def add_autostart_section(preferences: PreferencesFeature, autostart: Autostart) -> None:
    """Adds the section to the window's Preferences dialog (built on first use from its factories)."""
    preferences.factories.append(lambda parent: AutostartSection(autostart, parent))
