"""Native notifications over a private D-Bus: the Notify payload, escaping, a click opens the chat."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from agent_app import protocol as p
from agent_app.notify_policy import Notice, NoticeKind
from agent_app.store import MessageItem, Store
from ui.bridge import StoreBridge
from ui.notifications import NotificationService, NotificationWatcher, escape_body

from .conftest import FakeWindow, ShellKit, run, wait_signal, wait_until
from .fake_dbus import FakeNotifications


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private ``dbus-daemon --session`` for this test only."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (Debian package: dbus)")
    proc = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    address, pid = proc.stdout.split()[:2]
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    yield address
    os.kill(int(pid), 15)


async def serve_notifications(address: str) -> tuple[MessageBus, FakeNotifications]:
    bus = await MessageBus(bus_address=address, bus_type=BusType.SESSION).connect()
    service = FakeNotifications()
    bus.export("/org/freedesktop/Notifications", service)
    await bus.request_name("org.freedesktop.Notifications")
    return bus, service


def test_escape_body() -> None:
    assert escape_body("<b>hi</b> & <a href='x'>") == "&lt;b&gt;hi&lt;/b&gt; &amp; &lt;a href='x'&gt;"


def test_native_notification_click_opens_the_conversation(
    session_bus: str, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    service = NotificationService()
    opened: list[str] = []
    service.clicked.connect(opened.append)

    async def scenario() -> None:
        bus, fake = await serve_notifications(session_bus)
        assert await service.probe()
        notice = Notice(NoticeKind.MESSAGE, "Dana Lee", "<b>pricing</b> & plans?", "conv-42")
        assert await service.show(notice) == "native"
        await wait_until(lambda: fake.calls, what="Notify call")
        call = fake.calls[0]
        assert call["summary"] == "Dana Lee"
        assert call["body"] == "&lt;b&gt;pricing&lt;/b&gt; &amp; plans?"  # never interpreted as markup
        assert call["app_name"] == "SDR Agent Desk" and call["app_icon"].endswith("app-icon.svg")
        assert "default" in call["actions"]
        fake.ActionInvoked(1, "default")
        await wait_until(lambda: opened, what="click handled")
        bus.disconnect()

    run(loop, scenario())
    assert opened == ["conv-42"]


def test_store_event_to_notification_to_click_opens_window(
    session_bus: str, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    """Full path: a visitor message in my chat -> watcher -> native Notify -> click -> window opens it."""
    store = Store()
    me = p.Agent(id="a1", name="Sam", email="sam@example.com", presence=p.Presence.AVAILABLE)
    store.me = me
    bridge = StoreBridge(store)
    window = FakeWindow(bridge, None, None, None)
    service = NotificationService()
    watcher = NotificationWatcher(bridge, service, kit.runner, kit.settings, window)
    service.clicked.connect(window.open_conversation)
    conv = p.Conversation(id="c7", visitor=p.Visitor(id="v", name="Dana Lee"), assignee_id="a1")
    store.conversations["c7"] = conv

    async def scenario() -> None:
        bus, fake = await serve_notifications(session_bus)
        msg = p.Message(id="m1", conversation_id="c7", author_kind=p.AuthorKind.VISITOR, text="Hi there",
                        created_at=watcher.policy.clock())  # fmt: skip
        bridge.message_added.emit("c7", 0, MessageItem(msg))
        await wait_until(lambda: fake.calls, what="Notify call")
        assert fake.calls[0]["summary"] == "Dana Lee" and fake.calls[0]["body"] == "Hi there"
        fake.ActionInvoked(1, "default")
        await wait_signal(window.conversation_opened)
        bus.disconnect()

    run(loop, scenario())
    assert window.opened == ["c7"]


def test_without_a_notification_service_the_banner_is_used(
    kit: ShellKit, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    service = NotificationService()
    window = FakeWindow(None, None, None, None)
    service.window = window  # type: ignore[assignment]

    async def scenario() -> str:
        return await service.show(Notice(NoticeKind.NEW_CHAT, "New chat: Dana", "Acme", "c1"))

    assert run(loop, scenario()) == "banner"
    assert service.native_available is False
    assert window.banners == [("New chat: Dana: Acme", "c1")]
