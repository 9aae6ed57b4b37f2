"""The launcher (.desktop) and AppStream metainfo pass the freedesktop validators and declare deep links."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from ui.shell.paths import APP_ID, URL_SCHEME

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:  # `make deps` installs it; a bare checkout without it must say so, not pass
        pytest.fail(f"{name} is missing: install the Debian package {package} (make deps)")
    return found


def validate(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.RawConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_file_validates() -> None:
    output = validate(tool("desktop-file-validate", "desktop-file-utils"), str(DESKTOP))
    assert "error" not in output.lower(), output  # hints are fine, errors fail even with exit code 0


def test_desktop_file_opens_deep_links_with_the_app() -> None:
    entry = desktop_entry(DESKTOP)
    assert entry["Exec"] == "sdr-agent-desk %u"
    assert f"x-scheme-handler/{URL_SCHEME}" in entry["MimeType"].split(";")
    assert entry["Icon"] == APP_ID  # the icon installs as <APP_ID>.svg; Qt's desktopFileName is APP_ID


def test_metainfo_validates() -> None:
    # --strict: warnings fail too; --no-net: no URL checks (tests run offline)
    validate(tool("appstreamcli", "appstream"), "validate", "--no-net", "--strict", str(METAINFO))


def test_metainfo_names_the_launcher_and_binary() -> None:
    text = METAINFO.read_text(encoding="utf-8")
    assert f"<id>{APP_ID}</id>" in text
    assert f'<launchable type="desktop-id">{DESKTOP.name}</launchable>' in text
    assert "<binary>sdr-agent-desk</binary>" in text
