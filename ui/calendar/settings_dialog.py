"""The "My Calendar" dialog: description, duration, weekly hours in a time zone, buffer, minimum notice."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
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
    ``profile_zone``: the owner's own zone (Agent.timezone), named when the calendar's zone differs.
    ``connection``: the server's state of the owner's connected calendar (get_calendar_settings); the
    Connect/Disconnect buttons only emit, the feature runs the command and calls ``show_connection``."""

    connect_requested = Signal(str, str, str, str)  # url, username, password, calendar
    disconnect_requested = Signal()
    sign_in_requested = Signal(str, str, str)  # kind ("google"/"microsoft"), username, API URL ("" = default)

    def __init__(
        self,
        settings: p.CalendarSettings,
        parent: QWidget | None = None,
        *,
        profile_zone: str = "",
        connection: dict[str, Any] | None = None,
        sign_in_kinds: tuple[str, ...] = (),
    ) -> None:
        super().__init__(parent)
        self._sign_in_kinds = sign_in_kinds  # the browser sign-ins the chat server has an app for
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
        layout.addWidget(self._connected_calendar(connection or {}))
        layout.addWidget(self.errors)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        for box in (self.duration, self.buffer, self.notice, self.horizon):
            box.valueChanged.connect(self.on_field_changed)
        self.description.textChanged.connect(self.on_field_changed)
        self.timezone.currentTextChanged.connect(self.on_field_changed)
        self.on_field_changed()

    def _connected_calendar(self, connection: dict[str, Any]) -> QGroupBox:
        box = QGroupBox("Connected calendar (CalDAV: Google, Fastmail, Nextcloud, iCloud...)")
        self.cal_url = QLineEdit(str(connection.get("url", "")))
        self.cal_url.setPlaceholderText("https://caldav.example.com/")
        self.cal_user = QLineEdit(str(connection.get("username", "")))
        self.cal_password = QLineEdit()
        self.cal_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.cal_password.setPlaceholderText("app password (kept on the chat server only)")
        self.cal_name = QLineEdit(str(connection.get("calendar", "")))
        self.cal_name.setPlaceholderText("calendar name or URL; empty = the first one")
        self.cal_status = QLabel()
        self.cal_status.setObjectName("calendarStatus")
        self.cal_status.setTextFormat(Qt.TextFormat.PlainText)
        self.cal_status.setWordWrap(True)
        self.cal_status.setMinimumHeight(self.cal_status.fontMetrics().lineSpacing() * 3)  # wrapped text
        self.connect_button = QPushButton("Connect")
        self.disconnect_button = QPushButton("Disconnect")
        self.connect_button.clicked.connect(self.on_connect_button_clicked)
        self.disconnect_button.clicked.connect(self.on_disconnect_button_clicked)
        self.cal_url.textChanged.connect(self.on_cal_url_text_changed)
        form = QFormLayout(box)
        form.addRow("Server URL", self.cal_url)
        form.addRow("User name", self.cal_user)
        form.addRow("Password", self.cal_password)
        form.addRow("Calendar", self.cal_name)
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.disconnect_button)
        buttons.addStretch(1)
        form.addRow("", buttons)
        # Google and Microsoft 365 sign in in the browser (no app password); only those the server can use.
        self.sign_in_buttons: dict[str, QPushButton] = {}
        sign_ins = QHBoxLayout()
        for kind, label in (("google", "Sign in with Google"), ("microsoft", "Sign in with Microsoft 365")):
            if kind in self._sign_in_kinds:
                button = QPushButton(label)
                button.clicked.connect(lambda _=False, k=kind: self.on_sign_in_button_clicked(k))
                self.sign_in_buttons[kind] = button
                sign_ins.addWidget(button)
        if self.sign_in_buttons:
            sign_ins.addStretch(1)
            form.addRow("Or", sign_ins)
        form.addRow("", self.cal_status)
        self.show_connection(connection)
        return box

    def show_connection(self, connection: dict[str, Any]) -> None:
        """The server's answer: connected (with busy count or the read error) or not connected."""
        for button in self.sign_in_buttons.values():
            button.setEnabled(True)
        self.connect_button.setEnabled(bool(self.cal_url.text().strip()))
        self.disconnect_button.setEnabled(bool(connection.get("connected")))
        if not connection.get("connected"):
            self.cal_status.setText("Not connected: visitors are offered the hours above only.")
        elif connection.get("error"):
            self.cal_status.setText(
                f"Connected, but it cannot be read now ({connection['error']}): visitors are offered the "
                "hours above only until it can."
            )
        else:
            count = int(connection.get("busy_count", 0))
            self.cal_status.setText(
                f"Connected: {count} busy time{'s' if count != 1 else ''} ahead, never offered. "
                "Booked meetings go on this calendar."
            )

    def show_connection_error(self, message: str) -> None:
        self.connect_button.setEnabled(True)
        for button in self.sign_in_buttons.values():
            button.setEnabled(True)
        self.cal_status.setText(f"Not connected: {message}")

    def on_cal_url_text_changed(self, text: str) -> None:
        self.connect_button.setEnabled(bool(text.strip()))

    def on_connect_button_clicked(self) -> None:
        self.connect_button.setEnabled(False)
        self.cal_status.setText("Connecting...")
        self.connect_requested.emit(
            self.cal_url.text().strip(), self.cal_user.text().strip(), self.cal_password.text(),
            self.cal_name.text().strip(),
        )  # fmt: skip
        self.cal_password.clear()  # not kept in the client

    def on_sign_in_button_clicked(self, kind: str) -> None:
        username = self.cal_user.text().strip()
        if kind == "microsoft" and "@" not in username:  # getSchedule is asked for a mailbox by address
            self.cal_status.setText("Enter your Microsoft 365 email address under User name first.")
            self.cal_user.setFocus()
            return
        for button in self.sign_in_buttons.values():
            button.setEnabled(False)
        self.cal_status.setText("Finish signing in in your browser...")
        self.sign_in_requested.emit(kind, username, self.cal_url.text().strip())

    def on_disconnect_button_clicked(self) -> None:
        self.disconnect_requested.emit()

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
