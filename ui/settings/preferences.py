"""The Preferences dialog (account menu): a stack of section widgets, each saving its settings at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from agent_app.settings import Settings

if TYPE_CHECKING:
    from ui.main_window import MainWindow

IDLE_MINUTES_MIN = 1
IDLE_MINUTES_MAX = 240


class PreferencesSection(QWidget):
    """One titled group in the Preferences dialog. Subclasses build their controls in ``__init__`` and save
    each change at once (Settings.set writes the file), so the dialog needs no OK/Cancel and a section
    added by another feature needs nothing from the dialog but a place.

    ``title`` is the group's heading; ``reload()`` re-reads the controls from the settings (the dialog calls
    it each time it opens, so a value changed elsewhere -- e.g. a manual presence change -- shows)."""

    title = ""

    def reload(self) -> None:
        """Optional: sections that keep no state of their own need nothing here."""


class AutoAwaySection(PreferencesSection):
    """ "Away when idle for [N] minutes" and "Away when the screen locks or the computer sleeps".

    Signals:
        changed(): a setting of this section was saved.
    """

    title = "Presence"
    changed = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("autoAwaySection")
        self.settings = settings
        self._loading = False
        self.idle_check = QCheckBox("Set me Away when I'm idle for", self)
        self.idle_check.setObjectName("autoAwayIdleCheck")
        self.idle_minutes = QSpinBox(self)
        self.idle_minutes.setObjectName("autoAwayIdleMinutes")
        self.idle_minutes.setRange(IDLE_MINUTES_MIN, IDLE_MINUTES_MAX)
        self.idle_minutes.setSuffix(" min")
        self.idle_minutes.setAccessibleName("Idle minutes before Away")
        self.lock_check = QCheckBox("Set me Away when the screen locks or the computer sleeps", self)
        self.lock_check.setObjectName("autoAwayLockCheck")
        hint = QLabel(
            "If the app set you Away, it sets you Available again when you come back. "
            "An Away you chose yourself stays until you change it.",
            self,
        )
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setWordWrap(True)
        hint.setObjectName("hint")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.idle_check)
        row.addWidget(self.idle_minutes)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.lock_check)
        layout.addWidget(hint)
        self.reload()
        self.idle_check.toggled.connect(self.on_idle_check_toggled)
        self.idle_minutes.valueChanged.connect(self.on_idle_minutes_value_changed)
        self.lock_check.toggled.connect(self.on_lock_check_toggled)

    def reload(self) -> None:
        self._loading = True
        try:
            self.idle_check.setChecked(self.settings.get_bool("auto_away_idle_enabled"))
            minutes = int(self.settings.get("auto_away_idle_minutes"))
            self.idle_minutes.setValue(max(IDLE_MINUTES_MIN, min(IDLE_MINUTES_MAX, minutes)))
            self.idle_minutes.setEnabled(self.idle_check.isChecked())
            self.lock_check.setChecked(self.settings.get_bool("auto_away_on_lock"))
        finally:
            self._loading = False

    def on_idle_check_toggled(self, checked: bool) -> None:
        self.idle_minutes.setEnabled(checked)
        self._save("auto_away_idle_enabled", checked)

    def on_idle_minutes_value_changed(self, value: int) -> None:
        self._save("auto_away_idle_minutes", int(value))

    def on_lock_check_toggled(self, checked: bool) -> None:
        self._save("auto_away_on_lock", checked)

    def _save(self, name: str, value: object) -> None:
        if self._loading:
            return
        self.settings.set(name, value)
        self.changed.emit()


class PreferencesDialog(QDialog):
    """Composes ``sections`` (each a :class:`PreferencesSection`, shown in a titled group, in order).
    Changes are saved as they are made; "Close" only closes."""

    def __init__(self, sections: Sequence[PreferencesSection], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self.sections = list(sections)
        layout = QVBoxLayout(self)
        self.groups: list[QGroupBox] = []
        for section in self.sections:
            group = QGroupBox(section.title, self)
            inner = QVBoxLayout(group)
            inner.addWidget(section)
            layout.addWidget(group)
            self.groups.append(group)
        layout.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)

    def showEvent(self, event: QShowEvent) -> None:
        for section in self.sections:
            section.reload()
        super().showEvent(event)


SectionFactory = Callable[[QWidget], PreferencesSection]


class PreferencesFeature(QObject):
    """ "Preferences…" in the account (presence) menu; the dialog is built on first use from the
    ``factories`` (one per section, called with the dialog's parent) and kept for the window's life."""

    def __init__(
        self, window: QWidget, menu: QMenu, before: QAction | None, factories: Sequence[SectionFactory]
    ) -> None:
        super().__init__(window)
        self.window = window
        self.factories = list(factories)
        self.dialog: PreferencesDialog | None = None
        self.action = QAction("Preferences…", menu)
        self.action.setObjectName("preferencesAction")
        if before is not None:
            menu.insertAction(before, self.action)
        else:
            menu.addAction(self.action)
        self.action.triggered.connect(self.on_action_triggered)

    def on_action_triggered(self) -> None:
        self.open()

    def open(self) -> PreferencesDialog:
        if self.dialog is None:
            self.dialog = PreferencesDialog([make(self.window) for make in self.factories], self.window)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog


def default_sections(window: MainWindow) -> list[SectionFactory]:
    """The Preferences dialog's sections, in order: a feature with settings adds its factory here."""
    settings: Settings | None = window.settings
    if settings is None:  # a window without a settings file (some tests): nothing to edit
        return []
    return [lambda parent: AutoAwaySection(settings, parent)]


def install_preferences(
    window: MainWindow, factories: Sequence[SectionFactory] | None = None
) -> PreferencesFeature:
    """Put "Preferences…" in ``window``'s account menu, above "Keyboard shortcuts"; ``factories``: the
    sections (default: :func:`default_sections`)."""
    button = window.presence_button
    sections = default_sections(window) if factories is None else factories
    return PreferencesFeature(window, button.menu_, button.help_action, sections)
