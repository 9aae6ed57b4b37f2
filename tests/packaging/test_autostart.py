"""Start at login: the XDG autostart entry is written, validated, removed and shown in Preferences."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMenu, QWidget
from pytestqt.qtbot import QtBot

from agent_app.autostart import FILE_NAME, Autostart, autostart_dir, entry_text, exec_quote
from main import launch_command, parse_args
from ui.settings.autostart_section import AutostartSection, add_autostart_section
from ui.settings.preferences import PreferencesFeature

COMMAND = ["/opt/sdr-agent-desk/sdr-agent-desk", "--minimized"]


def desktop_file_validate(path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.fail("desktop-file-validate is missing: install the Debian package desktop-file-utils")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout + done.stderr


def test_the_folder_follows_xdg_config_home(tmp_path: Path) -> None:
    assert (
        autostart_dir({"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": "/home/x"})
        == tmp_path / "cfg/autostart"
    )
    assert autostart_dir({"HOME": "/home/x"}) == Path("/home/x/.config/autostart")
    # The spec: a relative XDG_CONFIG_HOME is invalid and ignored.
    assert autostart_dir({"XDG_CONFIG_HOME": "cfg", "HOME": "/home/x"}) == Path("/home/x/.config/autostart")


def test_enable_writes_a_valid_entry_and_disable_removes_it(tmp_path: Path) -> None:
    autostart = Autostart(COMMAND, tmp_path / "autostart")
    assert not autostart.enabled()
    autostart.set_enabled(True)
    assert autostart.enabled() and autostart.path == tmp_path / "autostart" / FILE_NAME
    text = autostart.path.read_text(encoding="utf-8")
    assert "\nExec=/opt/sdr-agent-desk/sdr-agent-desk --minimized\n" in text
    assert "\nX-GNOME-Autostart-enabled=true\n" in text
    desktop_file_validate(autostart.path)
    assert [p.name for p in autostart.path.parent.iterdir()] == [FILE_NAME]  # no temporary file left
    autostart.set_enabled(False)
    assert not autostart.enabled() and not autostart.path.exists()
    autostart.set_enabled(False)  # already off: nothing to do, no error


@pytest.mark.parametrize("line", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_turned_off_by_the_desktop_shows_as_off(tmp_path: Path, line: str) -> None:
    autostart = Autostart(COMMAND, tmp_path)
    autostart.set_enabled(True)
    text = autostart.path.read_text(encoding="utf-8").replace("X-GNOME-Autostart-enabled=true\n", "")
    autostart.path.write_text(text + line + "\n", encoding="utf-8")  # what GNOME/KDE's settings write
    assert not autostart.enabled()


def test_awkward_paths_are_quoted_as_the_spec_says(tmp_path: Path) -> None:
    command = ["/home/ana/My Apps/sdr-agent-desk", "--data-dir", '/home/ana/a "b" $c `d` \\e 100%']
    assert exec_quote(command[0]) == '"/home/ana/My Apps/sdr-agent-desk"'
    assert exec_quote(command[2]) == r'"/home/ana/a \\"b\\" \\$c \\`d\\` \\\\e 100%%"'
    path = tmp_path / FILE_NAME
    path.write_text(entry_text(command), encoding="utf-8")
    desktop_file_validate(path)
    with pytest.raises(ValueError, match="line break"):
        exec_quote("a\nExec=evil")


def test_launch_command_keeps_the_profile_and_starts_in_the_tray(tmp_path: Path) -> None:
    command = launch_command(parse_args(["--profile", "work", "--data-dir", str(tmp_path)]))
    assert command[-5:] == ["--minimized", "--profile", "work", "--data-dir", str(tmp_path.resolve())]
    assert parse_args(command[command.index("--minimized") :]).minimized


def test_the_checkbox_reflects_and_changes_the_entry(qtbot: QtBot, tmp_path: Path) -> None:
    autostart = Autostart(COMMAND, tmp_path / "autostart")
    section = AutostartSection(autostart)
    qtbot.addWidget(section)
    assert not section.check.isChecked()
    with qtbot.waitSignal(section.changed) as changed:
        section.check.setChecked(True)
    assert changed.args == [True] and autostart.enabled()
    autostart.set_enabled(False)  # e.g. removed in the desktop's startup settings
    section.reload()  # the dialog re-reads its sections when it opens
    assert not section.check.isChecked()


def test_a_folder_that_cannot_be_written_is_said_and_the_box_stays_off(qtbot: QtBot, tmp_path: Path) -> None:
    (tmp_path / "autostart").write_text("a file where the folder should be", encoding="utf-8")
    autostart = Autostart(COMMAND, tmp_path / "autostart")
    section = AutostartSection(autostart)
    qtbot.addWidget(section)
    section.check.setChecked(True)
    assert not section.check.isChecked()
    assert (
        section.problem.isVisibleTo(section)
        and "Could not change the startup entry" in section.problem.text()
    )


def test_the_section_is_in_the_preferences_dialog(qtbot: QtBot, tmp_path: Path) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    preferences = PreferencesFeature(window, QMenu(window), None, [])
    add_autostart_section(preferences, Autostart(COMMAND, tmp_path))
    dialog = preferences.open()
    assert [type(s) for s in dialog.sections] == [AutostartSection]
    assert [g.title() for g in dialog.groups] == ["Startup"]
    dialog.close()
