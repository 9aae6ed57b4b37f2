"""The installed bundle on a machine with no Python: sign-in window, sign in, the queue, the keychain."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from agent_app import protocol as p
from sandbox.visitor_sim import Link, server_origin
from tests.package.bundle import (
    APP_ID,
    BUNDLE_DIR,
    MAIN_TITLE,
    SIGN_IN_TITLE,
    CleanUser,
    python_in_process,
    screenshots,
)
from tests.package.conftest import EMAIL, PASSWORD

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


async def visitor_says(url: str, text: str) -> None:
    """A website visitor over the real /visitor websocket (as the widget would) says one thing."""
    async with Link.open(url, "/visitor", lambda _frame: None, server_origin(url)) as link:
        hello = await link.request(p.VisitorHello, page_url="https://www.example.com/pricing", timezone="UTC")
        assert not isinstance(hello, p.Error), hello
        await link.request(
            p.VisitorUpdateProfile, name="Vera Visitor", email="vera@acme.example", company="Acme"
        )
        ack = await link.request(p.VisitorSendMessage, text=text)
        assert isinstance(ack, p.Ack), ack


def test_the_bundle_signs_in_and_shows_the_queue(
    installed: CleanUser, server: str, unpacked: Path, tmp_path: Path
) -> None:
    user = installed
    # The team's IT installs again with the server's address (an upgrade in place): the menu entry has it.
    launcher = [str(user.bundle / "sdr-agent-desk"), "--server", server]
    if not BUNDLE_DIR:
        user.install(unpacked, "--server", server)
        assert user.launcher_command() == launcher
    with screenshots(user.desktop, tmp_path) as shot:
        # 1. First start from the menu entry, with nothing else installed: the sign-in window, on that server.
        first = user.launch(command=launcher)
        [dialog] = user.wait_for(lambda: user.windows(SIGN_IN_TITLE), 60, "the sign-in window", first)

        # The bundle runs its own interpreter: nothing Python from the system or a venv is mapped.
        loaded = python_in_process(first.pid)
        assert any("libpython3" in path for path in loaded), loaded
        foreign = [path for path in loaded if not path.startswith(str(user.bundle.resolve()))]
        assert not foreign, (
            f"the bundle loaded {len(foreign)} Python files from outside itself: {foreign[:4]}"
        )

        # 2. Sign in as an SDR does: the server is filled in, the cursor is in the email field.
        user.type_into(dialog, EMAIL, "<Tab>", PASSWORD)
        shot("1-sign-in")
        user.type_into(dialog, "<Return>")
        user.wait_for(lambda: user.windows(MAIN_TITLE), 30, "the main window after signing in", first)
        user.wait_for(lambda: not user.windows(SIGN_IN_TITLE), 10, "the sign-in window to close", first)

        # 3. Available (Ctrl+Shift+A, as the SDR would), then a visitor writes: the desktop notification
        # arrives through the bundled desktop-notifier/dbus-fast, and the conversation reaches the queue
        # (the window title counts it unread).
        [main_window] = user.windows(MAIN_TITLE)
        user.type_into(main_window, "<ctrl+shift+a>")
        notified_before = len(user.desktop.notify_log.find("Vera Visitor"))
        asyncio.run(visitor_says(server, "Hi! Do you integrate with Salesforce?"))
        user.wait_for(
            lambda: len(user.desktop.notify_log.find("Vera Visitor")) > notified_before,
            30,
            "a desktop notification naming the visitor",
            first,
        )
        [window] = user.wait_for(
            lambda: user.windows(r"^\(1\) SDR Agent Desk$"), 30, "the chat in the queue", first
        )
        shot("2-queue")

        # 4. Quit (the session ends the app): an orderly exit.
        assert user.title(window) == "(1) SDR Agent Desk"
        first.terminate()
        assert first.wait(30) == 0, user.output(1)

        # 5. Next start (by name, ~/.local/bin): signed in silently with the token the bundle kept in the
        # Secret Service keychain (keyring's backend made it into the bundle).
        stored = user.desktop.run("secret-tool", "search", "--all", "service", "sdr-agent-desk")
        assert f"{server}|{EMAIL}" in stored, (
            f"no token in the Secret Service keychain (secret-tool: {stored!r})"
        )
        second = user.launch(command=None if BUNDLE_DIR else [str(user.home / ".local/bin/sdr-agent-desk")])
        user.wait_for(
            lambda: user.windows(MAIN_TITLE), 60, "the main window, signed in from the keychain", second
        )
        assert not user.windows(SIGN_IN_TITLE)
        shot("3-signed-in-again")
        second.terminate()
        assert second.wait(30) == 0, user.output(2)


def test_the_bundle_refuses_the_demo_with_a_clear_message(installed: CleanUser) -> None:
    """The bundle carries the client only: ``--demo`` says where the demo lives instead of crashing."""
    proc = installed.launch("--demo")
    assert proc.wait(60) == 2
    assert "needs a source checkout" in installed.output(1)


def test_install_puts_the_desktop_integration_in_place_and_uninstall_removes_it(
    installed: CleanUser, unpacked: Path
) -> None:
    if BUNDLE_DIR:
        pytest.skip("SDR_BUNDLE_DIR runs a bundle without its tarball")
    local = installed.home / ".local"
    files = [
        local / "share/applications" / f"{APP_ID}.desktop",
        local / "share/metainfo" / f"{APP_ID}.metainfo.xml",
        local / "share/icons/hicolor/scalable/apps" / f"{APP_ID}.svg",
        local / "bin/sdr-agent-desk",
    ]
    assert all(path.exists() for path in files), [str(p) for p in files if not p.exists()]
    assert installed.launcher_command() == [str(installed.bundle / "sdr-agent-desk")]
    if shutil.which("desktop-file-validate"):  # the installed copy (absolute Exec) is still a valid entry
        done = subprocess.run(["desktop-file-validate", str(files[0])], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    with pytest.raises(AssertionError, match="--server"):
        installed.install(unpacked, "--server", "chat.example.com")  # no scheme: refused, nothing changed
    installed.install(unpacked, "--uninstall")
    assert not any(path.exists() or path.is_symlink() for path in [*files, installed.bundle])
