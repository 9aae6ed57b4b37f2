"""Native notifications over a private D-Bus: the Notify payload, escaping, a click opens the chat, an alert
when a chat is routed to me, and CloseNotification once a notice no longer applies (real chat server)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from agent_app import protocol as p
from agent_app.notify_policy import Notice, NoticeKind
from agent_app.outbox import Outbox
from agent_app.session import Session
from agent_app.store import MessageItem, Store
from chat_server import ChatServer, Config, FakeClock, run_server
from chat_server.automation import Automation, attach
from chat_server.playbook import load_playbook
from chat_server.routing import load_table
from chat_server.security import new_id, new_token, token_hash
from chat_server.sla import ManualScheduler
from ui.bridge import StoreBridge
from ui.notifications import NotificationService, NotificationWatcher, escape_body

from .conftest import PASSWORD, FakeWindow, ShellKit, run, wait_signal, wait_until
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
        notice = Notice(NoticeKind.MESSAGE, "Dana Lee", "<b>pricing</b> & plans?", "conv-42", key="n1")
        assert await service.show(notice) == "native"
        await wait_until(lambda: fake.calls, what="Notify call")
        call = fake.calls[0]
        assert call["summary"] == "Dana Lee"
        assert call["body"] == "&lt;b&gt;pricing&lt;/b&gt; &amp; plans?"  # never interpreted as markup
        assert call["app_name"] == "SDR Agent Desk" and call["app_icon"].endswith("app-icon.svg")
        assert "default" in call["actions"]
        fake.ActionInvoked(1, "default")
        await wait_until(lambda: opened, what="click handled")
        # The server may keep a clicked notice up (dunst does): withdrawing it still closes it.
        await service.withdraw(notice.key)
        assert fake.closed == [1] and service.showing == []
        bus.disconnect()

    run(loop, scenario())
    run(loop, service.close())
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
    run(loop, service.close())
    assert window.opened == ["c7"]


def test_without_a_notification_service_the_banner_is_used(
    kit: ShellKit, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    service = NotificationService()
    window = FakeWindow(None, None, None, None)
    service.window = window  # type: ignore[assignment]

    async def scenario() -> str:
        return await service.show(Notice(NoticeKind.NEW_CHAT, "New chat: Dana", "Acme", "c1", key="n1"))

    assert run(loop, scenario()) == "banner"
    assert service.native_available is False
    assert window.banners == [("New chat: Dana: Acme", "c1")]
    # Withdrawn (e.g. a teammate took the chat): the banner goes too, and only once.
    run(loop, service.withdraw("n1"))
    run(loop, service.withdraw("n1"))
    assert window.hidden_banners == ["c1"] and service.showing == []
    # A replacement closes the banner it replaces before showing its own.
    run(loop, service.show(Notice(NoticeKind.NEW_CHAT, "New chat: Lee", "Globex", "c2", key="n2")))
    run(
        loop,
        service.show(Notice(NoticeKind.ASSIGNED, "Routed to you: Lee", "", "c2", key="n3", replaces="n2")),
    )
    assert window.hidden_banners == ["c1", "c2"] and window.banners[-1] == ("Routed to you: Lee", "c2")
    assert service.showing == ["n3"]


# ---------------------------------------------------------------------- against a real chat server (issue 9)


class Desk:
    """A real chat server whose bot, routing and SLA clock run on a clock the test moves."""

    def __init__(
        self, server: ChatServer, clock: FakeClock, scheduler: ManualScheduler, auto: Automation
    ) -> None:
        self.server, self.clock, self.scheduler, self.automation = server, clock, scheduler, auto

    async def visitor_says(self, text: str, **visitor: object) -> str:
        """A new visitor writes ``text``; returns the conversation id once the hooks (bot, routing) ran."""
        storage, service, now = self.server.storage, self.server.service, self.clock.now()
        v = p.Visitor(id=new_id(), first_seen=now, last_seen=now, **visitor)  # type: ignore[arg-type]
        with storage.savepoint():
            storage.add_visitor(v, token_hash(new_token()))
            conversation, _ = service.post_visitor_message(v, text)
        await storage.commit()
        for _ in range(50):
            if not service._tasks:
                break
            await asyncio.gather(*list(service._tasks), return_exceptions=True)
        return conversation.id


@pytest.fixture
def desk(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Desk]:
    territories = tmp_path / "territories.csv"
    territories.write_text("rule,country,region,segment,sdr_email,pool\nus-west,US,CA,*,sam@example.com,\n")
    clock = FakeClock(time.time())  # starts now: the client's clock and the server's agree
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"), playbook="off")
    cm = run_server(config, clock)
    server = run(loop, cm.__aenter__())
    server.admin.add_agent("sam@example.com", "Sam Sdr", PASSWORD, "US-West", "sdr")
    server.admin.add_agent("tina@example.com", "Tina Sdr", PASSWORD, "US-East", "sdr")
    scheduler = ManualScheduler(clock, clock.advance)
    automation = run(
        loop, attach(server, load_playbook(), territories=load_table(territories), scheduler=scheduler)
    )
    yield Desk(server, clock, scheduler, automation)
    automation.stop()
    run(loop, cm.__aexit__(None, None, None))


async def quit_and_settle(kit: ShellKit, desk: Desk, *others: Session) -> None:
    """Quit the shell and the other clients, then wait (loop running) until the server has finished their
    connections: a connection task left to finish after ``run()`` dies with "no running event loop"."""
    await kit.shell.shutdown()
    for session in others:
        await session.stop()
    ws_server = desk.server._server
    assert ws_server is not None
    await wait_until(
        lambda: len([t for t in ws_server.handler_tasks if not t.done()]) == len(ws_server.connections),
        what="the server to finish the closed connections",
    )


async def sign_in_available(kit: ShellKit, desk: Desk, service: NotificationService) -> NotificationWatcher:
    """Sam signs in through the shell (as main.py wires it) with native notifications, and goes Available."""
    kit.shell.notifications = service
    assert await kit.shell.sign_in(desk.server.url, "sam@example.com", PASSWORD)
    account = kit.shell.account
    assert account is not None
    await wait_until(lambda: account.store.me is not None and account.store.epoch, what="snapshot")
    kit.shell.set_presence(p.Presence.AVAILABLE)
    await wait_until(lambda: account.store.me and account.store.me.presence is p.Presence.AVAILABLE,
                     what="Sam is Available")  # fmt: skip
    [watcher] = [x for x in account.extras if isinstance(x, NotificationWatcher)]
    watcher.policy.clock = desk.clock.now  # "reply within N s" is counted on the server's (test) clock
    return watcher


def test_routed_to_me_replaces_the_new_chat_alert_and_the_sla_warning_goes_after_my_reply(
    session_bus: str, desk: Desk, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    service = NotificationService()

    async def scenario() -> None:
        bus, fake = await serve_notifications(session_bus)
        await sign_in_available(kit, desk, service)
        # Off the bot's pages: the server routes on the first line (rule us-west names Sam).
        dana = {"name": "Dana Lee", "company": "Acme Corp", "country": "US", "region": "CA"}
        cid = await desk.visitor_says(
            "Do you have volume pricing?", current_page="https://acme.test/blog", **dana
        )
        await wait_until(
            lambda: any(s.startswith("Routed to you") for s in fake.summaries()), what="routed alert"
        )
        routed = fake.calls[-1]
        assert routed["summary"] == "Routed to you: Dana Lee (Acme Corp)"
        assert routed["body"].startswith("Rule us-west")
        assert "Do you have volume pricing?" in routed["body"]
        # The anonymous "new chat" alert of the first line was replaced, not left stacked under it.
        new_chat = fake.id_of("New chat: Dana Lee")
        assert fake.closed == [new_chat] and list(fake.showing) == [routed["id"]]

        await desk.scheduler.advance(20)  # the SLA warning fires
        await wait_until(
            lambda: any(s.endswith("is waiting for a reply") for s in fake.summaries()), what="SLA"
        )
        sla = fake.calls[-1]
        assert sla["summary"] == "Dana Lee is waiting for a reply" and "Reply within 10 s" in sla["body"]
        assert sla["hints"]["urgency"] == 2
        assert list(fake.showing) == [sla["id"]]  # it took the routed alert's place

        account = kit.shell.account
        assert account is not None
        account.session.send_message(cid, "Hi Dana! Yes — how many seats?")
        await wait_until(lambda: sla["id"] in fake.closed, what="SLA warning withdrawn")
        await wait_until(lambda: account.store.conversations[cid].first_response_at, what="reply stored")
        assert fake.showing == {}
        await quit_and_settle(kit, desk)
        bus.disconnect()

    run(loop, scenario(), timeout=30)
    run(loop, service.close())
    assert not kit.failures


def test_new_chat_alert_withdrawn_when_a_teammate_takes_it(
    session_bus: str, desk: Desk, kit: ShellKit, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    service = NotificationService()
    tina = Session(desk.server.url, Store(), Outbox(tmp_path / "tina-outbox.sqlite3"))

    async def scenario() -> None:
        bus, fake = await serve_notifications(session_bus)
        await sign_in_available(kit, desk, service)
        tina_agent = await tina.sign_in("tina@example.com", PASSWORD)
        tina_run = asyncio.create_task(tina.run())
        # On a bot page the bot talks first: the chat waits, unassigned, for anyone.
        cid = await desk.visitor_says("Hi, is there a free trial?", name="Dana Lee", company="Acme Corp",
                                      current_page="https://acme.test/pricing")  # fmt: skip
        await wait_until(lambda: fake.calls, what="new chat alert")
        assert [c["summary"] for c in fake.calls] == ["New chat: Dana Lee"]
        assert "Acme Corp" in fake.calls[0]["body"]
        await tina.assign(cid, tina_agent.id)
        await wait_until(lambda: fake.closed, what="CloseNotification")
        assert fake.closed == [fake.calls[0]["id"]] and fake.showing == {}
        assert len(fake.calls) == 1  # and nothing new was raised for a chat that is not mine
        await quit_and_settle(kit, desk, tina)
        await tina_run
        bus.disconnect()

    run(loop, scenario(), timeout=30)
    run(loop, service.close())
    tina.outbox.close()
    assert not kit.failures


def test_a_teammate_invites_me_then_hands_the_chat_to_me(
    session_bus: str, desk: Desk, kit: ShellKit, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    service = NotificationService()
    tina = Session(desk.server.url, Store(), Outbox(tmp_path / "tina-outbox.sqlite3"))

    async def scenario() -> None:
        bus, fake = await serve_notifications(session_bus)
        await sign_in_available(kit, desk, service)
        sam = kit.shell.account.store.me if kit.shell.account else None
        assert sam is not None
        tina_agent = await tina.sign_in("tina@example.com", PASSWORD)
        tina_run = asyncio.create_task(tina.run())
        cid = await desk.visitor_says("We need SSO for 400 people", name="Dana Lee", company="Acme Corp",
                                      current_page="https://acme.test/pricing")  # fmt: skip
        await wait_until(lambda: fake.calls, what="new chat alert")
        await tina.assign(cid, tina_agent.id)  # Tina takes it: Sam's "new chat" goes
        await wait_until(lambda: fake.closed, what="new chat withdrawn")

        await tina.add_participant(cid, sam.id, "West coast HQ — your territory?")
        await wait_until(lambda: len(fake.calls) == 2, what="invite alert")
        invite = fake.calls[-1]
        assert invite["summary"] == "Tina Sdr added you to the chat with Dana Lee (Acme Corp)"
        assert invite["body"].endswith("“West coast HQ — your territory?”")

        handoff = p.RecordHandoff(id="h-1", conversation_id=cid, to_agent_id=sam.id, reassign=True)
        await tina.request(handoff)
        await wait_until(lambda: len(fake.calls) == 3, what="hand-off alert")
        handed = fake.calls[-1]
        assert handed["summary"] == "Tina Sdr handed this chat to you: Dana Lee (Acme Corp)"
        assert handed["body"].endswith("We need SSO for 400 people")
        assert handed["hints"]["urgency"] == 2  # unanswered: it stays up until I reply
        await wait_until(lambda: invite["id"] in fake.closed, what="the invite replaced")
        assert list(fake.showing) == [handed["id"]]

        await tina.close_conversation(cid)  # closed: nothing about it applies any more
        await wait_until(lambda: handed["id"] in fake.closed, what="hand-off alert withdrawn")
        assert fake.showing == {}
        await quit_and_settle(kit, desk, tina)
        await tina_run
        bus.disconnect()

    run(loop, scenario(), timeout=30)
    run(loop, service.close())
    tina.outbox.close()
    assert not kit.failures
