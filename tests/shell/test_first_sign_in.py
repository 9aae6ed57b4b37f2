"""A fresh data dir's first sign-in (resync snapshot) must not swallow the first live visitor's notice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_app import protocol as p
from agent_app.display import display_name
from agent_app.notify_policy import NotifyPolicy
from agent_app.secrets import SecretStore
from chat_server import ChatServer
from sandbox.visitor_sim import Link, server_origin
from ui.shell.app import DemoInfo

from .conftest import PASSWORD, Recorder, ShellKit, run, wait_until


def test_first_sign_in_on_a_fresh_store_then_a_new_visitor_notifies_once(
    chat_server: ChatServer, secrets: SecretStore, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """Signed in like ``--demo`` on an empty cache: welcome (resync) + snapshot, presence Away on the server.
    A visitor who starts a chat right after that is live news: one "New chat" notice, not a held-back
    "1 new chat while you were away" summary, and not silence because the SDR was left Away."""
    kit = ShellKit(tmp_path, secrets, DemoInfo(chat_server.url, "sam@example.com", PASSWORD))
    shown = Recorder(kit.notifications.shown)
    opened: list[str] = []

    async def scenario() -> str:
        await kit.shell.start()
        account = kit.shell.account
        assert account is not None and account.store.seq == 0  # a fresh store: no cache
        store = account.store
        await wait_until(lambda: str(account.session.state) == "online", what="online")
        await wait_until(
            lambda: store.me is not None and store.me.presence is p.Presence.AVAILABLE,
            what="the demo SDR made Available once online",
        )
        watcher = next(x for x in account.extras if hasattr(x, "policy"))
        policy: NotifyPolicy = watcher.policy
        assert not policy.catching_up  # nothing to replay on a first sign-in: the snapshot is the truth
        origin = server_origin(chat_server.url)
        async with Link.open(chat_server.url, "/visitor", lambda f: None, origin) as v:
            await v.request(p.VisitorHello, page_url="https://example.com/pricing", timezone="UTC")
            ack = await v.request(p.VisitorSendMessage, text="Do you integrate with Salesforce?")
            assert isinstance(ack, p.Ack)
            cid = str(ack.result["conversation_id"])
            await wait_until(lambda: shown.calls, what="a notification")
            await wait_until(lambda: not policy.summary_pending and not policy.catching_up, what="settled")
        kit.notifications.clicked.connect(opened.append)
        kit.notifications.clicked.emit(cid)  # as a click on it would
        return cid

    cid = run(loop, scenario(), timeout=30)
    conv = kit.shell.account.store.conversations[cid] if kit.shell.account else None
    assert conv is not None
    assert [title for _, title in shown.calls] == [f"New chat: {display_name(conv)}"]
    assert display_name(conv).startswith("Visitor #")  # an anonymous visitor, named like the queue does
    assert kit.window.opened[-1] == cid


def test_a_resume_is_caught_up_and_a_resync_snapshot_ends_it(kit: ShellKit) -> None:
    """With a stream position the server may replay: hold back until live; a snapshot means live now."""
    from agent_app.store import Store
    from ui.bridge import StoreBridge
    from ui.notifications import NotificationWatcher

    store = Store()
    bridge = StoreBridge(store)
    watcher = NotificationWatcher(bridge, kit.notifications, kit.runner, kit.settings)
    watcher.on_session_state("reconnecting")
    assert not watcher.policy.catching_up  # seq 0: the server will send a snapshot, not a replay
    store.epoch, store.seq = "e1", 42
    watcher.on_session_state("reconnecting")
    assert watcher.policy.catching_up
    store.apply_snapshot(p.Snapshot(epoch="e2", seq=7, agents=[], conversations=[], messages=[]))
    assert not watcher.policy.catching_up
