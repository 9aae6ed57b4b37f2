"""Deep links into the running desk: a second launch's link opens the conversation, or says why it cannot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agent_app import protocol as p
from agent_app.deeplink import not_available
from chat_server import ChatServer
from tests.server.conftest import agent_login, cid
from ui.shell.single_instance import SingleInstance

from .conftest import PASSWORD, FakeWindow, ShellKit, run, wait_until

UNKNOWN = "0123456789abcdef0123"  # the server's id shape, but no such conversation


class StoreWindow(FakeWindow):
    """Opens only what its store holds, like MainWindow.open_conversation (which ignores unknown ids)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ignored: list[str] = []

    def open_conversation(self, conversation_id: str) -> None:
        if conversation_id in self.bridge.store.conversations:
            super().open_conversation(conversation_id)
        else:
            self.ignored.append(conversation_id)


def use_store_windows(kit: ShellKit) -> None:
    def factory(*args: Any) -> StoreWindow:
        window = StoreWindow(*args)
        kit.windows.append(window)
        return window

    kit.shell.window_factory = factory


def link(conversation_id: str) -> str:
    return f"sdr-agent-desk://conversation/{conversation_id}"


class Launches:
    """The running instance (wired to the shell as main.amain does) and a second launch forwarding to it."""

    def __init__(self, kit: ShellKit, tmp_path: Path) -> None:
        self.key, self.lock_dir = f"sdr-links-{tmp_path.name}", tmp_path
        self.first = SingleInstance(self.key, self.lock_dir)
        assert self.first.acquire()
        self.first.activation_requested.connect(kit.shell.activate)

    def launch(self, *args: str) -> None:
        second = SingleInstance(self.key, self.lock_dir)
        assert not second.acquire()
        assert second.forward(list(args))

    def close(self) -> None:
        self.first.release()


def test_a_link_opens_the_conversation_in_the_running_window(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    use_store_windows(kit)
    launches = Launches(kit, tmp_path)

    async def scenario() -> None:
        _, conv, _ = await chat_server.seed_visitor_message("Do you do SSO?")
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        account = kit.shell.account
        assert account is not None
        await wait_until(lambda: conv.id in account.store.conversations, what="the chat in the queue")
        launches.launch(link(conv.id))
        await wait_until(lambda: kit.window.opened == [conv.id], what="the linked chat opened")

    try:
        run(loop, scenario())
    finally:
        launches.close()
    assert not kit.window.banners and not kit.failures


def test_an_unknown_conversation_gets_a_notice(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    use_store_windows(kit)
    launches = Launches(kit, tmp_path)

    async def scenario() -> None:
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        account = kit.shell.account
        assert account is not None
        await wait_until(lambda: str(account.session.state) == "online", what="online")
        launches.launch(link(UNKNOWN))
        await wait_until(lambda: kit.window.banners, what="a notice")

    try:
        run(loop, scenario())
    finally:
        launches.close()
    [(text, _)] = kit.window.banners
    assert "not available to you" in text and UNKNOWN in text
    assert kit.window.opened == [] and not kit.failures


def test_a_malformed_link_says_what_is_wrong(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    use_store_windows(kit)
    launches = Launches(kit, tmp_path)

    async def scenario() -> None:
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        launches.launch("sdr-agent-desk://meeting/42")
        await wait_until(lambda: kit.window.banners, what="a notice")

    try:
        run(loop, scenario())
    finally:
        launches.close()
    assert kit.window.banners == [
        ("SDR Agent Desk cannot open “meeting” links: only sdr-agent-desk://conversation/<id>.", "")
    ]
    assert kit.window.opened == [] and kit.window.ignored == []


def test_a_link_given_at_start_opens_once_the_queue_has_it(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    """No instance was running: the app starts with the link, signs in, and opens the chat when the
    server's snapshot has arrived (not before, when the store is still empty)."""
    use_store_windows(kit)

    async def scenario() -> str:
        _, conv, _ = await chat_server.seed_visitor_message("Hello from the link")
        kit.shell.activate([link(conv.id)])  # main.amain does this with the command line's links
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        await wait_until(lambda: kit.window.opened or kit.window.ignored, what="the link handled")
        return conv.id

    cid = run(loop, scenario())
    assert kit.window.opened == [cid] and kit.window.ignored == []


def test_a_colleagues_conversation_looks_like_a_missing_one(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    """Tina answered the chat, so it is hers: Sam's link to it must not open it, nor tell him it exists."""
    use_store_windows(kit)
    launches = Launches(kit, tmp_path)

    async def scenario() -> str:
        _, conv, _ = await chat_server.seed_visitor_message("Pricing for 40 seats?")
        tina, _ = await agent_login(chat_server, "tina@example.com")
        await tina.ok(p.SendMessage(id=cid(), conversation_id=conv.id, text="Happy to help!"))
        await tina.close()
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        account = kit.shell.account
        assert account is not None
        await wait_until(lambda: str(account.session.state) == "online", what="online")
        launches.launch(link(conv.id))
        await wait_until(lambda: kit.window.banners, what="a notice")
        return conv.id

    try:
        cid_ = run(loop, scenario())
    finally:
        launches.close()
    [(text, _)] = kit.window.banners
    assert text == not_available(cid_)
    assert kit.window.opened == [] and cid_ not in kit.shell.account.store.conversations  # type: ignore[union-attr]
