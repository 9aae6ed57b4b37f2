"""My Calendar's "Connected calendar" section: server state shown, Connect emits, password not kept."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from ui.calendar.settings_dialog import CalendarSettingsDialog


def _dialog(qtbot: QtBot, connection: dict[str, object] | None = None) -> CalendarSettingsDialog:
    dialog = CalendarSettingsDialog(p.CalendarSettings(agent_id="a1"), connection=connection)
    qtbot.addWidget(dialog)
    return dialog


def test_not_connected_then_connect_emits_and_forgets_the_password(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    assert "Not connected" in dialog.cal_status.text()
    assert not dialog.connect_button.isEnabled() and not dialog.disconnect_button.isEnabled()
    assert dialog.cal_password.echoMode() == QLineEdit.EchoMode.Password
    dialog.cal_url.setText(" https://caldav.example.com/ ")
    dialog.cal_user.setText("sam")
    dialog.cal_password.setText("s3cret")
    assert dialog.connect_button.isEnabled()
    with qtbot.waitSignal(dialog.connect_requested) as sent:
        dialog.connect_button.click()
    assert sent.args == ["https://caldav.example.com/", "sam", "s3cret", ""]
    assert dialog.cal_password.text() == "" and dialog.cal_status.text() == "Connecting..."
    dialog.show_connection_error("calendar not connected: no calendar named 'Work'")
    assert "no calendar named 'Work'" in dialog.cal_status.text() and dialog.connect_button.isEnabled()
    dialog.show_connection({"connected": True, "url": "https://caldav.example.com/", "busy_count": 3})
    assert "3 busy times" in dialog.cal_status.text() and dialog.disconnect_button.isEnabled()


def test_connected_with_a_read_error_says_settings_only(qtbot: QtBot) -> None:
    dialog = _dialog(
        qtbot, {"connected": True, "url": "https://c.example/", "username": "sam", "error": "timeout"}
    )
    assert dialog.cal_url.text() == "https://c.example/" and dialog.cal_user.text() == "sam"
    assert "cannot be read now (timeout)" in dialog.cal_status.text()
    with qtbot.waitSignal(dialog.disconnect_requested):
        dialog.disconnect_button.click()
