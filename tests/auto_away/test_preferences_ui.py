"""Preferences (account menu) edits auto-away's settings live; teammates' presence shows the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from PySide6.QtCore import Qt

from agent_app import protocol as p
from agent_app.auto_away import AutoAwayConfig
from agent_app.settings import Settings
from chat_server import run_server
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import PASSWORD, make_config
from ui.participants.model import TeammateModel
from ui.settings.preferences import AutoAwaySection, PreferencesDialog, PreferencesSection
from ui.shell.features import install_features
from ui.widgets.plain_tooltip import plain_tooltip

SAM = "sam@example.com"


async def test_preferences_from_the_account_menu_change_auto_away_at_once(
    qtbot: Any, tmp_path: Path, buses: tuple[str, str]
) -> None:
    async with run_server(make_config(tmp_path)) as server:
        server.admin.add_agent(SAM, "Sam Sdr", PASSWORD, "US-West", "sdr")
        async with signed_in_desk(qtbot, server.url, tmp_path, SAM, PASSWORD, features=False) as desk:
            settings = Settings(tmp_path / "settings.json")
            settings.load()
            desk.window.settings = settings
            installed = install_features(desk.window)
            assert installed.auto_away.policy.config == AutoAwayConfig(True, 10, True)
            menu = desk.window.presence_button.menu_
            labels = [a.text() for a in menu.actions() if a.isVisible()]  # managers' items are hidden here
            assert labels.index("Preferences…") == labels.index("Keyboard shortcuts") - 1
            next(a for a in menu.actions() if a.text() == "Preferences…").trigger()
            dialog = installed.preferences.dialog
            assert isinstance(dialog, PreferencesDialog) and dialog.isVisible()
            assert [g.title() for g in dialog.groups] == ["Presence"]
            section = dialog.sections[0]
            assert isinstance(section, AutoAwaySection)
            assert section.idle_check.isChecked() and section.idle_minutes.value() == 10
            assert section.lock_check.isChecked()

            section.idle_minutes.setValue(5)
            qtbot.mouseClick(section.lock_check, Qt.MouseButton.LeftButton)
            await until(
                lambda: installed.auto_away.policy.config == AutoAwayConfig(True, 5, False), "applied"
            )
            qtbot.mouseClick(section.idle_check, Qt.MouseButton.LeftButton)
            assert not section.idle_minutes.isEnabled()
            assert installed.auto_away.policy.config == AutoAwayConfig(False, 5, False)
            again = Settings(tmp_path / "settings.json")  # saved at once, no OK button needed
            again.load()
            assert AutoAwayConfig.from_settings(again) == AutoAwayConfig(False, 5, False)

            # Reopened after a change made elsewhere: the section shows the file's values.
            dialog.close()
            settings.set("auto_away_idle_enabled", True)
            installed.preferences.open()
            assert section.idle_check.isChecked() and section.idle_minutes.isEnabled()
            dialog.close()
            for part in installed.parts():
                if hasattr(part, "dispose"):
                    part.dispose()
            assert installed.auto_away.on_settings_changed not in settings._listeners  # no leak per sign-in


def test_a_dialog_composes_any_sections(qtbot: Any) -> None:
    class StartAtLogin(PreferencesSection):  # what another feature adds: a titled widget, saved on change
        title = "Startup"

    dialog = PreferencesDialog([StartAtLogin()])
    qtbot.addWidget(dialog)
    dialog.show()
    assert [g.title() for g in dialog.groups] == ["Startup"]


def test_teammates_see_the_reason_next_to_away(qtbot: Any) -> None:
    model = TeammateModel()
    tina = p.Agent(id="t", name="Tina Sdr", email="tina@example.com", territory="US-East")
    model.set_agents([_away(tina, "screen locked")])
    index = model.index(0)
    tip = "Tina Sdr (tina@example.com): away · screen locked, territory US-East"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == plain_tooltip(tip)
    assert index.data(Qt.ItemDataRole.AccessibleTextRole) == "Tina Sdr, away · screen locked, US-East"
    model.update_agent(_away(tina, ""))
    assert index.data(Qt.ItemDataRole.AccessibleTextRole) == "Tina Sdr, away, US-East"


def _away(agent: p.Agent, reason: str) -> p.Agent:
    return msgspec.structs.replace(agent, presence=p.Presence.AWAY, presence_reason=reason)


def test_the_tray_says_why_i_am_away(qtbot: Any) -> None:
    from ui.tray import TrayIcon

    tray = TrayIcon()
    tray.set_presence(p.Presence.AWAY, "screen locked")
    assert tray.icon.toolTip() == "SDR Agent Desk — Away · screen locked — No unread messages"
    away = tray.presence_actions[p.Presence.AWAY]
    assert away.text() == "Away (screen locked)" and away.isChecked()
    tray.set_presence(p.Presence.AVAILABLE)
    assert tray.icon.toolTip() == "SDR Agent Desk — Available — No unread messages"
    assert away.text() == "Away"
    tray.set_presence(p.Presence.AWAY)  # chosen by hand: no reason to show
    assert tray.icon.toolTip() == "SDR Agent Desk — Away — No unread messages"
    tray.deleteLater()
