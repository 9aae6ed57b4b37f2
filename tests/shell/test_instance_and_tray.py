"""Single instance (lock + local socket, deep links), the tray menu and badge, presence to the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtNetwork import QLocalServer
from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from agent_app.deeplink import split_args
from chat_server import ChatServer
from ui.resources import app_icon_pixmap
from ui.shell.single_instance import SingleInstance
from ui.tray import TrayIcon, badge_pixmap

from .conftest import PASSWORD, ShellKit, run, wait_until


def test_parse_deep_link_is_strict() -> None:
    ids = lambda arg: [link.conversation_id for link in split_args([arg])[0]]  # noqa: E731
    assert ids("sdr-agent-desk://conversation/c_42-x") == ["c_42-x"]
    assert ids("sdr-agent-desk://conversation/../../etc") == []
    assert ids("https://conversation/42") == []
    assert ids("sdr-agent-desk://conversation/42?x=1") == []
    assert ids("sdr-agent-desk://meeting/42") == []


def test_second_launch_forwards_its_arguments_to_the_first(qtbot: QtBot, tmp_path: Path) -> None:
    key = f"sdr-test-{tmp_path.name}"
    first = SingleInstance(key, tmp_path)
    assert first.acquire()
    second = SingleInstance(key, tmp_path)
    assert not second.acquire()  # the lock is held: this process must forward and exit 0
    with qtbot.waitSignal(first.activation_requested, timeout=5000) as blocker:
        assert second.forward(["sdr-agent-desk://conversation/c9"])
    assert blocker.args == [["sdr-agent-desk://conversation/c9"]]
    first.release()
    assert second.acquire()  # after the first quits, the next start owns the profile
    second.release()


def test_a_stale_socket_from_a_crash_is_removed(qtbot: QtBot, tmp_path: Path) -> None:
    key = f"sdr-stale-{tmp_path.name}"
    stale = QLocalServer()
    assert stale.listen(key)  # a socket file nobody holds the lock for (crashed process)
    instance = SingleInstance(key, tmp_path)
    assert instance.acquire()
    again = SingleInstance(key, tmp_path)
    with qtbot.waitSignal(instance.activation_requested, timeout=5000):
        assert again.forward([])
    instance.release()
    stale.close()


def test_badge_is_painted_on_the_icon(qtbot: QtBot) -> None:
    base = app_icon_pixmap(32)
    plain = badge_pixmap(base, 0).toImage()
    badged = badge_pixmap(base, 3).toImage()
    assert plain == base.toImage()
    assert badged != plain
    corner = badged.pixelColor(28, 4)
    assert corner.red() > 180 and corner.green() < 100  # the red badge, top right


def test_tray_menu_has_presence_open_sign_out_quit(qtbot: QtBot) -> None:
    # Offscreen has no tray host (isSystemTrayAvailable() is False), so this drives the tray's QMenu
    # actions directly; the Xvfb + trayer session check is in the desktop-session screenshots.
    tray = TrayIcon()
    labels = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert labels == ["Open SDR Agent Desk", "Available", "Away", "Sign out", "Quit"]
    tray.set_presence(p.Presence.AWAY)
    assert tray.presence_actions[p.Presence.AWAY].isChecked()
    with qtbot.waitSignal(tray.presence_toggled) as blocker:
        tray.presence_actions[p.Presence.AVAILABLE].trigger()
    assert blocker.args == [p.Presence.AVAILABLE]
    tray.set_unread(5)
    assert (
        tray.icon.toolTip() == "SDR Agent Desk — Away — 5 unread"
    )  # presence changes when the server says so
    with qtbot.waitSignal(tray.quit_requested):
        tray.quit_action.trigger()


def test_tray_presence_toggle_changes_presence_on_the_server(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    kit.shell.use_tray = True  # build the tray even though offscreen has no tray host

    async def scenario() -> None:
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        account = kit.shell.account
        assert account is not None and kit.shell.glue is not None and kit.shell.glue.tray is not None
        await wait_until(lambda: str(account.session.state) == "online", what="online")
        tray = kit.shell.glue.tray
        start = account.store.me.presence if account.store.me else None
        target = p.Presence.AWAY if start is p.Presence.AVAILABLE else p.Presence.AVAILABLE
        tray.presence_actions[target].trigger()
        await wait_until(lambda: account.store.me is not None and account.store.me.presence is target,
                         what="presence echoed by the server")  # fmt: skip
        server_side = {a.email: a.presence for a in chat_server.admin.list_agents()}
        assert server_side["sam@example.com"] is target
        assert kit.window.presence is target  # the window mirrors it
        assert tray.presence_actions[target].isChecked()

    run(loop, scenario())
    assert not kit.failures
