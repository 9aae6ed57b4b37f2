"""`xdg-open sdr-agent-desk://conversation/<id>` reaches the running instance through the desktop file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from main import parse_args, profile_paths
from ui.shell.paths import APP_ID, URL_SCHEME
from ui.shell.single_instance import SingleInstance

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = ROOT / "packaging" / f"{APP_ID}.desktop"
DESKTOP_VARS = ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION",
                "GNOME_DESKTOP_SESSION_ID", "MATE_DESKTOP_SESSION_ID", "BROWSER")  # fmt: skip


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install the Debian package xdg-utils (make deps)")
    return found


def registered_desktop(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    """The shipped desktop file installed in a private XDG_DATA_HOME, its Exec running this checkout's
    main.py (what `sdr-agent-desk` is when installed), and made the handler with `xdg-mime default`.
    Returns the environment to run xdg-open in: no desktop environment (xdg-open's generic path, the one
    every desktop falls back to), a display set (xdg-open asks the handler only when there is one)."""
    apps = tmp_path / "xdg-data" / "applications"
    apps.mkdir(parents=True)
    entry = DESKTOP.read_text(encoding="utf-8")
    launcher = f"{sys.executable} {ROOT / 'main.py'} --data-dir {data_dir}"
    assert "\nExec=sdr-agent-desk %u\n" in entry and "\nTryExec=sdr-agent-desk\n" in entry
    entry = entry.replace("\nExec=sdr-agent-desk %u\n", f"\nExec={launcher} %u\n")
    entry = entry.replace("\nTryExec=sdr-agent-desk\n", f"\nTryExec={sys.executable}\n")
    (apps / DESKTOP.name).write_text(entry, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in DESKTOP_VARS}
    env |= {
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_DATA_DIRS": str(tmp_path / "no-system-apps"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "DISPLAY": os.environ.get("DISPLAY") or ":0",
        "QT_QPA_PLATFORM": "offscreen",  # the forwarding launch needs no window
    }
    done = subprocess.run(
        [tool("xdg-mime"), "default", DESKTOP.name, f"x-scheme-handler/{URL_SCHEME}"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    query = subprocess.run(
        [tool("xdg-mime"), "query", "default", f"x-scheme-handler/{URL_SCHEME}"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert query.stdout.strip() == DESKTOP.name, query.stdout + query.stderr
    return env


def test_xdg_open_hands_the_link_to_the_running_instance(qtbot: QtBot, tmp_path: Path) -> None:
    data_dir = tmp_path / "desk"
    paths = profile_paths(parse_args(["--data-dir", str(data_dir)]))  # the running desk's profile
    running = SingleInstance(paths.instance_key(), paths.state_file.parent)
    assert running.acquire()
    env = registered_desktop(tmp_path, data_dir)
    url = f"{URL_SCHEME}://conversation/8f3a1c0d9e2b4a6f7c11"
    try:
        with qtbot.waitSignal(running.activation_requested, timeout=60_000) as got:
            opener = subprocess.Popen(
                [tool("xdg-open"), url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        out, _ = opener.communicate(timeout=60)
    finally:
        running.release()
    assert got.args == [[url]]
    assert opener.returncode == 0, out
    assert "already running; brought it to the front" in out  # the second launch forwarded and quit


def test_a_bad_link_is_explained_on_the_terminal_and_still_forwarded(qtbot: QtBot, tmp_path: Path) -> None:
    data_dir = tmp_path / "desk"
    paths = profile_paths(parse_args(["--data-dir", str(data_dir)]))
    running = SingleInstance(paths.instance_key(), paths.state_file.parent)
    assert running.acquire()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    bad = "sdr-agent-desk://meeting/42"
    try:
        with qtbot.waitSignal(running.activation_requested, timeout=60_000) as got:
            launch = subprocess.Popen(
                [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data_dir), bad],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
        out, err = launch.communicate(timeout=60)
    finally:
        running.release()
    assert got.args == [[bad]]  # the window shows the same notice (tests/shell/test_deep_links.py)
    assert launch.returncode == 0 and "already running" in out
    assert "cannot open “meeting” links: only sdr-agent-desk://conversation/<id>." in err
