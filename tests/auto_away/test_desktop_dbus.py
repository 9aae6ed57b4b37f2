"""Auto-away end to end: fake desktop services on private D-Bus buses -> the desk -> a real chat server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_app import protocol as p
from chat_server import ChatServer
from tests.auto_away.fake_desktop import FakeDesktop, serve_desktop
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import PASSWORD, agent_login, make_config
from ui.presence_watch import install_auto_away
from ui.presence_watch.linux import LinuxDesktopWatcher

AVAILABLE, AWAY = p.Presence.AVAILABLE, p.Presence.AWAY
SAM = "sam@example.com"


@pytest.fixture
async def desktop(buses: tuple[str, str]) -> AsyncIterator[FakeDesktop]:
    fake = await serve_desktop(*buses)
    yield fake
    await fake.close()


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[ChatServer]:
    from chat_server import run_server

    async with run_server(make_config(tmp_path)) as running:
        running.admin.add_agent(SAM, "Sam Sdr", PASSWORD, "US-West", "sdr")
        running.admin.add_agent("tina@example.com", "Tina Sdr", PASSWORD, "US-East", "sdr")
        yield running


def on_server(server: ChatServer) -> tuple[p.Presence, str]:
    agent = next(a for a in server.ctx.hub.agents.values() if a.email == SAM)
    return agent.presence, agent.presence_reason


async def test_lock_idle_and_sleep_set_away_with_a_reason_and_return_sets_available(
    qtbot: Any, tmp_path: Path, desktop: FakeDesktop, chat: ChatServer
) -> None:
    tina, _ = await agent_login(chat, "tina@example.com")
    async with signed_in_desk(qtbot, chat.url, tmp_path, SAM, PASSWORD, features=False) as desk:
        feature = install_auto_away(desk.window, max_poll_s=0.05)
        await until(lambda: feature.ready, "the desktop watcher started")
        watcher = feature.watcher
        assert isinstance(watcher, LinuxDesktopWatcher)
        assert set(watcher.parts) == {
            "screen lock (org.freedesktop.ScreenSaver)",
            "idle time (org.freedesktop.ScreenSaver)",
            "screen lock (logind)",
            "sleep (logind)",
        }
        assert desktop.manager.inhibit_calls == [
            ("sleep", "SDR Agent Desk", "Set your chat presence to Away before sleeping", "delay")
        ]
        await desk.session.set_presence(AVAILABLE)  # the SDR starts the day
        await until(lambda: on_server(chat) == (AVAILABLE, ""), "Available on the server")

        # The screen locks: Away with the reason, on the server, for teammates, and in my presence button.
        desktop.screensaver.set_active(True)
        await until(lambda: on_server(chat) == (AWAY, "screen locked"), "Away (screen locked) on the server")
        seen = await tina.event(p.PresenceChanged)  # a teammate's desk (each wait fails after 5 s)
        while (seen.event.agent.email, seen.event.agent.presence_reason) != (SAM, "screen locked"):
            seen = await tina.event(p.PresenceChanged)
        assert seen.event.agent.presence is AWAY
        await until(
            lambda: desk.window.presence_button.text() == "Sam Sdr · Away · screen locked", "my button"
        )

        # Unlocked: Available again, and the desk says so.
        desktop.screensaver.set_active(False)
        await until(lambda: on_server(chat) == (AVAILABLE, ""), "Available again")
        await until(
            lambda: desk.window.statusBar().currentMessage() == "You're Available again", "the notice"
        )
        await until(lambda: desk.window.presence_button.text() == "Sam Sdr · Available", "my button again")

        # A manual Away survives a lock and an unlock.
        await desk.session.set_presence(AWAY)
        await until(lambda: feature.policy.presence is AWAY, "the policy saw my manual Away")
        desktop.screensaver.set_active(True)
        await until(lambda: feature.policy.locked, "locked")
        desktop.screensaver.set_active(False)
        await until(lambda: not feature.policy.locked, "unlocked")
        assert feature.policy._pending is None  # nothing was asked of the server
        assert on_server(chat) == (AWAY, "")
        await desk.session.set_presence(AVAILABLE)
        await until(lambda: feature.policy.presence is AVAILABLE, "the policy saw my manual Available")

        # Idle for the set minutes (10 by default; the fake's idle time is the controllable clock).
        desktop.screensaver.idle_s = 10 * 60 - 1
        reads = desktop.screensaver.idle_reads
        await until(lambda: desktop.screensaver.idle_reads > reads, "the idle time read")
        assert on_server(chat) == (AVAILABLE, "")
        desktop.screensaver.idle_s = 10 * 60
        await until(lambda: on_server(chat) == (AWAY, "idle 10 min"), "Away (idle 10 min)")
        desktop.screensaver.idle_s = 3  # the mouse moved
        await until(lambda: on_server(chat) == (AVAILABLE, ""), "Available after activity")

        # Sleep: the Away reaches the server before the sleep delay lock is released; resume brings it back.
        desktop.manager.PrepareForSleep(True)
        await until(lambda: on_server(chat) == (AWAY, "asleep"), "Away (asleep)")
        await until(lambda: desktop.manager.released(0), "the sleep delay lock released")
        desktop.manager.PrepareForSleep(False)
        await until(lambda: on_server(chat) == (AVAILABLE, ""), "Available after resume")
        await until(lambda: len(desktop.manager.inhibit_calls) == 2, "a new delay lock for the next sleep")

        # logind's own Lock/Unlock (loginctl lock-session, or a desktop without a ScreenSaver service).
        desktop.session.lock()
        await until(lambda: on_server(chat) == (AWAY, "screen locked"), "Away via logind Lock")
        desktop.session.unlock()
        await until(lambda: on_server(chat) == (AVAILABLE, ""), "Available via logind Unlock")
        desktop.session.set_locked_hint(True)
        await until(lambda: on_server(chat) == (AWAY, "screen locked"), "Away via LockedHint")
        desktop.session.set_locked_hint(False)
        await until(lambda: on_server(chat) == (AVAILABLE, ""), "Available via LockedHint")
        feature.dispose()
        await until(lambda: watcher.session_bus is None, "the watcher closed its buses")
    await tina.close()


async def test_missing_buses_and_services_leave_the_feature_off_without_a_crash(
    buses: tuple[str, str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    locks: list[bool] = []

    async def sleeping(_: bool) -> None:
        return None

    caplog.set_level(logging.INFO, logger="ui.presence_watch.linux")
    # A session bus with no desktop services on it, and no system bus at all.
    watcher = LinuxDesktopWatcher(
        locks.append, sleeping, session_address=buses[0], system_address=f"unix:path={tmp_path / 'none'}"
    )
    await watcher.start()
    assert watcher.parts == [] and locks == []
    assert await watcher.idle_seconds() is None
    assert any("no logind on the system bus" in r.getMessage() for r in caplog.records)
    assert any("auto-away watches: nothing" in r.getMessage() for r in caplog.records)
    await watcher.close()
