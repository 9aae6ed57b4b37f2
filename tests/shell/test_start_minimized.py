"""--minimized (start at login): the first window starts in the tray, or minimized when there is no tray."""

from __future__ import annotations

import asyncio

from chat_server import ChatServer

from .conftest import PASSWORD, ShellKit, run


def test_with_a_tray_only_the_tray_icon_shows(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    kit.shell.use_tray = True  # offscreen has no tray host; the tray object is built all the same
    kit.shell.start_minimized = True
    assert run(loop, kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD))
    assert kit.shell.glue is not None and kit.shell.glue.tray is not None
    assert not kit.window.isVisible()
    kit.shell.activate([])  # a second launch (or the tray's "Open") brings it to the front
    assert kit.window.isVisible() and not kit.window.isMinimized()


def test_without_a_tray_the_window_starts_minimized(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    kit.shell.start_minimized = True
    assert run(loop, kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD))
    assert kit.window.isMinimized()
    assert not kit.shell.start_minimized  # only the first window: a later sign-in shows in front
