"""The "My Calendar" dialog: description, duration, weekly hours in a time zone, buffer, minimum notice."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from agent_app import calendar_rules
from agent_app import protocol as p


def _spin(low: int, high: int, step: int, suffix: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setSuffix(suffix)
    return box


def _time(hhmm: str) -> QTimeEdit:
    edit = QTimeEdit(QTime.fromString(hhmm, "HH:mm"))
    edit.setDisplayFormat("HH:mm")
    return edit


class CalendarSettingsDialog(QDialog):
    """Edits one CalendarSettings; ``settings()`` returns the edited copy. Save stays disabled while a
    problem is listed (end before start, a day too short for one meeting, an unknown zone...).
    ``profile_zone``: the owner's own zone (Agent.timezone), named when the calendar's zone differs."""

    def __init__(
        self, settings: p.CalendarSettings, parent: QWidget | None = None, *, profile_zone: str = ""
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("My Calendar")
        self._agent_id = settings.agent_id
        self._profile_zone = profile_zone
        self.description = QLineEdit(settings.description)
        self.description.setMaxLength(200)
        self.description.setPlaceholderText("Shown to visitors, e.g. 30-minute intro call")
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItems(calendar_rules.zones())
        self.timezone.setCurrentText(settings.timezone)
        completer = QCompleter(calendar_rules.zones(), self.timezone)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.timezone.setCompleter(completer)
        self.duration = _spin(5, 480, 5, " min")
        self.duration.setValue(settings.duration_minutes)
        self.buffer = _spin(0, 240, 5, " min")
        self.buffer.setValue(settings.buffer_minutes)
        self.notice = _spin(0, 7 * 24 * 60, 30, " min")
        self.notice.setValue(settings.min_notice_minutes)
        self.horizon = _spin(1, 90, 1, " days")
        self.horizon.setValue(settings.horizon_days)

        form = QFormLayout()
        form.addRow("Description", self.description)
        form.addRow("Meeting length", self.duration)
        form.addRow("Time zone", self.timezone)
        self.zone_hint = QLabel()
        self.zone_hint.setObjectName("zoneHint")
        self.zone_hint.setTextFormat(Qt.TextFormat.PlainText)
        self.zone_hint.setWordWrap(True)
        form.addRow("", self.zone_hint)
        form.addRow("Buffer between meetings", self.buffer)
        form.addRow("Minimum notice", self.notice)
        form.addRow("Bookable up to", self.horizon)

        hours = QGroupBox("Available hours (in the time zone above)")
        grid = QGridLayout(hours)
        windows = {w.weekday: w for w in reversed(settings.availability)}  # first window of each day
        self.days: list[tuple[QCheckBox, QTimeEdit, QTimeEdit]] = []
        for day, name in enumerate(calendar_rules.WEEKDAYS):
            window = windows.get(day)
            check = QCheckBox(name)
            check.setChecked(window is not None)
            start = _time(window.start if window else "09:00")
            end = _time(window.end if window else "17:00")
            grid.addWidget(check, day, 0)
            grid.addWidget(start, day, 1)
            grid.addWidget(QLabel("to"), day, 2)
            grid.addWidget(end, day, 3)
            self.days.append((check, start, end))
            check.toggled.connect(self.on_field_changed)
            start.timeChanged.connect(self.on_field_changed)
            end.timeChanged.connect(self.on_field_changed)

        grid.setColumnStretch(4, 1)
        self.errors = QLabel()
        self.errors.setObjectName("formErrors")
        self.errors.setTextFormat(Qt.TextFormat.PlainText)
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color: #d92d20;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hours)
        layout.addWidget(self.errors)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        for box in (self.duration, self.buffer, self.notice, self.horizon):
            box.valueChanged.connect(self.on_field_changed)
        self.description.textChanged.connect(self.on_field_changed)
        self.timezone.currentTextChanged.connect(self.on_field_changed)
        self.on_field_changed()

    def settings(self) -> p.CalendarSettings:
        availability = [
            p.Weekly(weekday=day, start=start.time().toString("HH:mm"), end=end.time().toString("HH:mm"))
            for day, (check, start, end) in enumerate(self.days)
            if check.isChecked()
        ]
        return p.CalendarSettings(
            agent_id=self._agent_id,
            timezone=self.timezone.currentText().strip(),
            description=self.description.text().strip(),
            duration_minutes=self.duration.value(),
            buffer_minutes=self.buffer.value(),
            min_notice_minutes=self.notice.value(),
            horizon_days=self.horizon.value(),
            availability=availability,
        )

    def problems(self) -> list[str]:
        return calendar_rules.problems(self.settings())

    def show_server_error(self, message: str) -> None:
        """The server refused the settings: say why and let the user fix them."""
        self.errors.setText(message)

    def on_field_changed(self, *_: object) -> None:
        for check, start, end in self.days:
            start.setEnabled(check.isChecked())
            end.setEnabled(check.isChecked())
        zone = self.timezone.currentText().strip()
        hint = "Visitors see these hours in their own time zone."
        if self._profile_zone and zone != self._profile_zone:
            hint += f" Your own zone (profile) is {self._profile_zone}."
        self.zone_hint.setText(hint)
        found = self.problems()
        self.errors.setText("\n".join(found))
        self.save_button.setEnabled(not found)

    def on_buttons_accepted(self) -> None:
        if not self.problems():
            self.accept()
