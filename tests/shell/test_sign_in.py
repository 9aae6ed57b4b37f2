"""Sign-in: the dialog's validation and errors, sign-in against the real server, keychain paths, sign-out."""

from __future__ import annotations

import asyncio

import keyring.backends.fail
import shiboken6
from pytestqt.qtbot import QtBot

from agent_app.secrets import SecretStore
from chat_server import ChatServer
from ui.shell.app import NO_KEYCHAIN
from ui.shell.paths import token_key
from ui.shell.sign_in import SignInDialog, validate

from .conftest import PASSWORD, MemoryKeyring, ShellKit, run, wait_signal, wait_until


async def server_done_with_closed_connections(server: ChatServer) -> None:
    """Wait until the server has finished every connection a client closed (failed sign-in, sign-out,
    quit). Its per-connection task must end while the loop runs: once ``run()`` returns, pytest-qt's
    event processing would run its last steps with no running loop, and the task dies with
    "RuntimeError: no running event loop", an exception nobody retrieves (tests/conftest.py fails that).
    """
    ws_server = server._server  # websockets' Server: the per-connection tasks and the open connections
    assert ws_server is not None

    def settled() -> bool:
        running = [t for t in ws_server.handler_tasks if not t.done()]
        return len(running) == len(ws_server.connections)

    await wait_until(settled, what="the server to finish the closed connections")


def test_validate_messages() -> None:
    assert validate("", "a@b.co", "x").startswith("Enter the server address")
    assert validate("ftp://x", "a@b.co", "x").startswith("Enter the server address")
    assert validate("wss://chat.example.com", "nobody", "x") == "Enter your work email address."
    assert validate("ws://127.0.0.1:8765", "a@b.co", "") == "Enter your password."
    assert validate("https://chat.example.com", "a@b.co", "pw") == ""


def test_dialog_validates_inline_and_emits_when_valid(qtbot: QtBot) -> None:
    dialog = SignInDialog()
    qtbot.addWidget(dialog)
    dialog.prefill("ws://127.0.0.1:1", "sam@example.com", "Your session ended. Please sign in again.")
    dialog.show()
    assert dialog.email.text() == "sam@example.com"
    assert dialog.reason.isVisible() and "session ended" in dialog.reason.text()
    with qtbot.assertNotEmitted(dialog.sign_in_requested):
        dialog.submit.click()  # no password yet
    assert dialog.error.isVisible() and dialog.error.text() == "Enter your password."
    dialog.password.setText("pw")
    with qtbot.waitSignal(dialog.sign_in_requested) as blocker:
        dialog.submit.click()
    assert blocker.args == ["ws://127.0.0.1:1", "sam@example.com", "pw"]
    dialog.set_error("Wrong email or password.")
    assert dialog.error.text() == "Wrong email or password."
    dialog.password.textEdited.emit("x")  # typing clears the error
    assert not dialog.error.isVisible()
    dialog.set_busy(True)
    assert not dialog.submit.isEnabled() and dialog.submit.text() == "Signing in…"


def test_dialog_sign_in_wrong_password_then_right(
    chat_server: ChatServer, kit: ShellKit, keychain: MemoryKeyring, loop: asyncio.AbstractEventLoop
) -> None:
    shell = kit.shell

    async def scenario() -> None:
        await shell.start()
        assert shell.dialog.isVisible() and shell.account is None
        shell.dialog.prefill(chat_server.url, "sam@example.com")
        shell.dialog.password.setText("wrong password")
        shell.dialog.submit.click()
        await wait_until(lambda: shell.dialog.error.isVisible(), what="inline error")
        assert "Wrong email or password" in shell.dialog.error.text()
        assert shell.dialog.submit.isEnabled()
        shell.dialog.password.setText(PASSWORD)
        shell.dialog.submit.click()
        (me,) = await wait_signal(shell.signed_in)
        assert me.email == "sam@example.com"
        await wait_until(lambda: keychain.data, what="token in the keychain")
        account = shell.account
        await wait_until(lambda: account and str(account.session.state) == "online", what="online")
        await server_done_with_closed_connections(chat_server)  # the wrong password's, the sign-in's

    run(loop, scenario())
    assert not shell.dialog.isVisible()
    assert kit.window.isVisible() and not kit.failures
    key = token_key(chat_server.url, "sam@example.com")
    assert keychain.data[("sdr-agent-desk", key)]
    assert kit.settings.get_str("last_email") == "sam@example.com"


def test_unreachable_server_is_an_inline_error(kit: ShellKit, loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        await kit.shell.start()
        ok = await kit.shell.sign_in("ws://127.0.0.1:9", "sam@example.com", PASSWORD)
        assert not ok

    run(loop, scenario())
    assert "Can't reach the server" in kit.shell.dialog.error.text()
    assert kit.shell.account is None and not kit.windows


def test_silent_sign_in_with_a_token_from_the_keychain(
    chat_server: ChatServer, kit: ShellKit, keychain: MemoryKeyring, loop: asyncio.AbstractEventLoop
) -> None:
    kits = [kit]

    async def scenario() -> None:
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        await wait_until(lambda: keychain.data, what="token stored")
        await kit.shell.shutdown()
        # A second start of the app: same settings file, same keychain, no password.
        again = ShellKit(kit.paths.config_dir.parent.parent, kit.shell.secrets)
        kits.append(again)
        await again.shell.start()
        assert not again.shell.dialog.isVisible()
        account = again.shell.account
        assert account is not None and account.session.token == next(iter(keychain.data.values()))
        await wait_until(lambda: str(account.session.state) == "online", what="online with the token")
        assert account.store.me is not None and account.store.me.email == "sam@example.com"
        assert again.window.isVisible()
        await again.shell.shutdown()
        await server_done_with_closed_connections(chat_server)

    run(loop, scenario())
    assert not kits[1].failures and not kit.failures


def test_no_secure_keychain_keeps_the_token_in_memory_and_says_so(
    chat_server: ChatServer, kit: ShellKit, loop: asyncio.AbstractEventLoop
) -> None:
    insecure = SecretStore(backend=keyring.backends.fail.Keyring())
    assert not insecure.persistent
    kit.shell.secrets = insecure

    async def scenario() -> None:
        await kit.shell.start()
        assert kit.shell.dialog.notice.text() == NO_KEYCHAIN
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)

    run(loop, scenario())
    key = token_key(chat_server.url, "sam@example.com")
    assert insecure.get(key)  # in memory for this run
    assert insecure._memory.get(key)
    captions = [w.text() for w in kit.window.status_widgets]
    assert NO_KEYCHAIN in captions


def test_sign_out_revokes_forgets_and_shows_the_dialog(
    chat_server: ChatServer, kit: ShellKit, keychain: MemoryKeyring, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> str:
        assert await kit.shell.sign_in(chat_server.url, "sam@example.com", PASSWORD)
        await wait_until(lambda: keychain.data, what="token stored")
        await wait_until(lambda: kit.shell.account and str(kit.shell.account.session.state) == "online")
        token = next(iter(keychain.data.values()))
        kit.window.sign_out_requested.emit()
        await wait_signal(kit.shell.signed_out)
        await server_done_with_closed_connections(chat_server)
        return token

    token = run(loop, scenario())
    assert not keychain.data
    assert kit.shell.dialog.isVisible() and kit.shell.account is None
    assert kit.shell.dialog.email.text() == "sam@example.com"
    assert not shiboken6.isValid(kit.window) or not kit.window.isVisible()  # closed and deleted
    # The server no longer accepts the old token.
    from agent_app.errors import AuthenticationFailed
    from agent_app.outbox import Outbox
    from agent_app.session import Session
    from agent_app.store import Store

    outbox = Outbox(kit.paths.data_dir / "probe.sqlite3")
    probe = Session(chat_server.url, Store(), outbox, token=token)

    async def try_token() -> str:
        await probe.run()
        await server_done_with_closed_connections(chat_server)
        return str(probe.state)

    try:
        assert run(loop, try_token()) == "signed_out"
    finally:
        outbox.close()
    assert AuthenticationFailed  # the run ended on a final close, not a retry loop
