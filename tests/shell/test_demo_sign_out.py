"""--demo, after "Sign out": the sign-in dialog points at the demo workspace's server (not the default), so
signing in as a teammate just works."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_app.secrets import SecretStore
from chat_server import ChatServer
from ui.shell.app import DemoInfo

from .conftest import PASSWORD, ShellKit, run, wait_until


def test_after_sign_out_the_demo_sign_in_is_prefilled_with_the_demo_server(
    chat_server: ChatServer, secrets: SecretStore, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    kit = ShellKit(tmp_path, secrets, DemoInfo(chat_server.url, "sam@example.com", PASSWORD))

    async def scenario() -> None:
        await kit.shell.start()
        account = kit.shell.account
        assert account is not None
        await wait_until(lambda: str(account.session.state) == "online", what="online")
        await kit.shell.sign_out()
        assert kit.shell.account is None and kit.shell.dialog.isVisible()
        dialog = kit.shell.dialog
        assert dialog.server.text() == chat_server.url  # the demo's server, not ws://127.0.0.1:8765
        assert dialog.email.text() == "sam@example.com"  # who was signed in: swap it for a teammate's
        dialog.email.setText("tina@example.com")
        dialog.password.setText(PASSWORD)
        dialog.sign_in_requested.emit(dialog.server.text(), dialog.email.text(), dialog.password.text())
        await wait_until(lambda: kit.shell.account is not None, what="signed in as Tina")
        assert kit.shell.account is not None and kit.shell.account.email == "tina@example.com"

    try:
        run(loop, scenario(), timeout=30)
    finally:
        run(loop, kit.shell.shutdown())
        kit.shell.dialog.deleteLater()
