"""Away is the SDR's choice: the demo makes a fresh workspace's SDR Available once, never again on restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import main
from agent_app import protocol as p
from agent_app.secrets import SecretStore, qualname
from tests.memory_keyring import MemoryKeyring
from tests.qt_loop import run, wait_until
from tests.shell.conftest import ShellKit


@pytest.fixture
def secrets() -> SecretStore:
    keychain = MemoryKeyring()
    return SecretStore(backend=keychain, secure_backends={qualname(keychain)})


async def _start_demo(
    tmp_path: Path, secrets: SecretStore, choose: p.Presence | None
) -> tuple[p.Presence, ...]:
    """One run of the demo (workspace + shell, as main.py composes them, on the same data dir):
    returns what the SDR's presence was once online, and the server's after ``choose`` (if any)."""
    args = main.parse_args(["--demo", "--data-dir", str(tmp_path)])
    paths = main.profile_paths(args)
    async with main.demo_server(paths, visitors=False) as demo:
        kit = ShellKit(tmp_path, secrets, demo)
        try:
            await kit.shell.start()
            account = kit.shell.account
            assert account is not None
            await wait_until(lambda: str(account.session.state) == "online", 20, "online")
            await wait_until(lambda: account.store.me is not None, 10, "signed in")
            # Whatever the shell asks for once online was sent before this round trip is answered.
            me_id = account.store.me.id if account.store.me else ""
            listed = {a.id: a for a in await account.session.list_agents()}
            online = listed[me_id].presence
            assert account.store.me is not None and account.store.me.presence is online
            if choose is not None:
                kit.shell.set_presence(choose)
                await wait_until(
                    lambda: account.store.me is not None and account.store.me.presence is choose, 10, "chosen"
                )
            record = demo.workspace.server.storage.agent_by_email(demo.email)
            assert record is not None
            return online, record.agent.presence
        finally:
            await kit.shell.shutdown()
            kit.shell.dialog.deleteLater()


def test_away_survives_a_restart_of_the_demo(
    secrets: SecretStore,
    tmp_path: Path,
    loop: asyncio.AbstractEventLoop,
) -> None:
    first, stored = run(loop, _start_demo(tmp_path, secrets, p.Presence.AWAY), timeout=90)
    assert first is p.Presence.AVAILABLE  # a fresh demo: ready to take chats
    assert stored is p.Presence.AWAY  # kept on the server
    again, stored = run(loop, _start_demo(tmp_path, secrets, None), timeout=90)
    assert again is p.Presence.AWAY and stored is p.Presence.AWAY  # not forced back to Available
    # and the way back works too
    _, stored = run(loop, _start_demo(tmp_path, secrets, p.Presence.AVAILABLE), timeout=90)
    assert stored is p.Presence.AVAILABLE
    again, _ = run(loop, _start_demo(tmp_path, secrets, None), timeout=90)
    assert again is p.Presence.AVAILABLE
