"""The app shell: sign-in (silent or by dialog), the signed-in account's wiring, sign-out and shutdown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal, Slot
from PySide6.QtWidgets import QApplication, QLabel, QSystemTrayIcon

from agent_app import deeplink
from agent_app import protocol as p
from agent_app.errors import AgentAppError, AuthenticationFailed, NotConnected
from agent_app.secrets import SecretStore
from agent_app.session import ConnectionState
from agent_app.settings import Settings
from ui.notifications import NotificationService, NotificationWatcher
from ui.shell.account import Account, WindowFactory, default_window_factory
from ui.shell.errors import ErrorReporter
from ui.shell.features import WindowFeatures
from ui.shell.paths import DISPLAY_NAME, AppPaths, token_key
from ui.shell.sign_in import SignInDialog
from ui.shell.window_glue import WindowGlue, set_badge
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)

NO_KEYCHAIN = "No secure keychain found: you'll need to sign in again next time"


@dataclass(frozen=True, slots=True)
class DemoInfo:
    """Set in ``--demo``: the workspace's credentials (signed in automatically, never stored)."""

    server_url: str
    email: str
    password: str
    integrations: dict[str, Any] = field(default_factory=dict)  # IntegrationSettings fields -> sandbox
    secrets: dict[str, str] = field(default_factory=dict)  # sandbox credentials, memory only
    workspace: Any = field(default=None, compare=False, repr=False)  # sandbox.workspace.DemoWorkspace
    website_url: str = ""  # the demo website with the chat widget, to try it as a visitor
    fresh: bool = True  # a new workspace: the SDR is made Available once; later runs keep their choice


class Shell(QObject):
    """Owns the sign-in dialog and, once signed in, one :class:`Account` with its window and tray.

    Signals:
        signed_in(Agent): an account is signed in and its window is shown.
        signed_out(): the user signed out (or the server ended the session); the dialog is shown.
        quit_requested(): Quit was chosen (tray, window close without tray, dialog "Quit").
    """

    signed_in = Signal(object)
    signed_out = Signal()
    quit_requested = Signal()

    def __init__(
        self,
        paths: AppPaths,
        settings: Settings,
        secrets: SecretStore,
        runner: TaskRunner,
        errors: ErrorReporter,
        notifications: NotificationService,
        state: QSettings,
        *,
        demo: DemoInfo | None = None,
        window_factory: WindowFactory = default_window_factory,
        features: WindowFeatures | None = None,
        use_tray: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths, self.settings, self.secrets = paths, settings, secrets
        self.runner, self.errors, self.notifications, self.state = runner, errors, notifications, state
        self.demo = demo
        self._demo_email = ""  # --demo: who signed in last (this run only), to prefill after "Sign out"
        self.window_factory = window_factory
        self.features = features
        self._presence_when_online: p.Presence | None = None
        self.use_tray = QSystemTrayIcon.isSystemTrayAvailable() if use_tray is None else use_tray
        self.account: Account | None = None
        self.glue: WindowGlue | None = None
        self.dialog = SignInDialog()
        self.dialog.setWindowIcon(QApplication.windowIcon())
        # Deep links (and what was wrong with bad ones) until a window can open (or show) them.
        self._pending_links: list[deeplink.ConversationLink] = []
        self._pending_notices: list[str] = []
        self._signing_out = False
        # --minimized (start at login): the first window starts in the tray; later ones in front.
        self.start_minimized = False
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.dialog.sign_in_requested.connect(self.on_dialog_sign_in_requested)
        self.dialog.rejected.connect(self.on_dialog_rejected)

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Demo: sign in with the workspace's password. Else: the keychain token, else the dialog."""
        if self.demo is not None:
            # A fresh demo server has the SDR Away (the server's default), and new waiting chats only
            # notify an Available SDR: ask for Available as soon as the connection is live, the first
            # time only. After that, Away or Available is the SDR's choice, kept by the server.
            self._presence_when_online = p.Presence.AVAILABLE if self.demo.fresh else None
            if await self.sign_in(self.demo.server_url, self.demo.email, self.demo.password, remember=False):
                self._apply_presence_when_online()
            return
        url, email = self.settings.get_str("server_url"), self.settings.get_str("last_email")
        token = await self.secrets.aget(token_key(url, email)) if email else None
        if token:
            log.info("signing in silently as %s on %s", email, url)
            self._open(url, email, token)
            return
        self.show_sign_in()

    def show_sign_in(self, reason: str = "") -> None:
        url, email = self.settings.get_str("server_url"), self.settings.get_str("last_email")
        if self.demo is not None:  # the demo keeps no settings: its own server, whoever signed in last
            url, email = self.demo.server_url, self._demo_email or self.demo.email
        self.dialog.prefill(url, email, reason)
        self.dialog.set_notice("" if self.secrets.persistent else NO_KEYCHAIN)
        self.dialog.set_busy(False)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()

    @Slot(str, str, str)
    def on_dialog_sign_in_requested(self, url: str, email: str, password: str) -> None:
        self.dialog.set_busy(True)
        self.runner.run(self.sign_in(url, email, password), what="Sign in")

    @Slot()
    def on_dialog_rejected(self) -> None:
        if self.account is None:
            self.quit_requested.emit()

    async def sign_in(self, url: str, email: str, password: str, *, remember: bool = True) -> bool:
        """Sign in with a password; errors are shown in the dialog (never raised)."""
        try:
            account = Account.open(self.paths, url, email)
        except AgentAppError as exc:
            self._sign_in_failed(str(exc))
            return False
        try:
            await account.session.sign_in(email, password)
        except AuthenticationFailed as exc:
            account.close_files()
            self._sign_in_failed(
                f"Wrong email or password. ({exc})" if str(exc) else "Wrong email or password."
            )
            return False
        except NotConnected as exc:
            account.close_files()
            self._sign_in_failed(f"Can't reach the server at {url}: {exc}")
            return False
        except Exception as exc:
            account.close_files()
            log.exception("sign-in failed")
            self._sign_in_failed(f"Sign-in failed: {exc}")
            return False
        if not self.demo:
            self.settings.set("server_url", url)
            self.settings.set("last_email", email)
        else:
            self._demo_email = email
        token = account.session.token
        if remember and token:
            await self._keep_token(url, email, token)
        self._adopt(account, remember=remember)
        return True

    def _sign_in_failed(self, message: str) -> None:
        if self.demo is not None and not self.dialog.isVisible():
            self.show_sign_in()
        self.dialog.set_busy(False)
        self.dialog.set_error(message)

    async def _keep_token(self, url: str, email: str, token: str) -> None:
        stored = await self.secrets.aset(token_key(url, email), token)
        if not stored:
            self._show_keychain_warning()

    def _show_keychain_warning(self) -> None:
        if self.glue is not None:
            self.glue.set_notice(NO_KEYCHAIN)
        self.dialog.set_notice(NO_KEYCHAIN)

    # ------------------------------------------------------------------ the signed-in account

    def _open(self, url: str, email: str, token: str) -> None:
        try:
            account = Account.open(self.paths, url, email, token)
        except AgentAppError as exc:
            self.show_sign_in(str(exc))
            return
        self._adopt(account, remember=True)

    def _adopt(self, account: Account, *, remember: bool) -> None:
        self.account = account
        self.dialog.hide()
        window = self.window_factory(account.bridge, account.session, self.runner, self.settings, self.state)
        account.window = window
        if self.features is not None:
            folder = self.paths.account_dir(account.server_url, account.email)
            account.extras += self.features.install(account, window, folder)
        self.errors.parent_widget = window
        self.notifications.window = window
        glue = WindowGlue(self, account, window, use_tray=self.use_tray, demo=self.demo is not None)
        self.glue = glue
        watcher = NotificationWatcher(account.bridge, self.notifications, self.runner, self.settings, window)
        account.extras += [glue, watcher]
        self.notifications.set_tray(glue.tray)
        account.session.add_state_listener(lambda s, d: self.on_session_state_changed(account, s, d))
        account.session.add_state_listener(lambda s, d: watcher.on_session_state(str(s), d))
        account.session.add_token_listener(lambda t: self.on_session_token_changed(account, t, remember))
        watcher.on_session_state(str(account.session.state))
        glue.show(minimized=self.start_minimized)
        self.start_minimized = False
        if not self.secrets.persistent and remember:
            glue.set_notice(NO_KEYCHAIN)
        account.start_session(self.runner)
        self._open_pending_links()  # the ones the local cache has open now; the rest once online
        if account.store.me is not None:
            self.signed_in.emit(account.store.me)
        else:
            account.bridge.reset.connect(self.on_account_first_reset)

    @Slot()
    def on_account_first_reset(self) -> None:
        if self.account is not None and self.account.store.me is not None:
            self.account.bridge.reset.disconnect(self.on_account_first_reset)
            self.signed_in.emit(self.account.store.me)

    def on_session_state_changed(self, account: Account, state: ConnectionState, detail: str) -> None:
        if account is not self.account or account.window is None:
            return
        account.window.set_connection_state(state, detail)
        if state is ConnectionState.ONLINE:
            self._apply_presence_when_online()
            self._open_pending_links()
        if state is ConnectionState.SIGNED_OUT and not self._signing_out:
            reason = f"Please sign in again: {detail}" if detail else "Please sign in again."
            self.runner.run(self._end_account(reason), what="End the session")

    def on_session_token_changed(self, account: Account, token: str, remember: bool) -> None:
        key = token_key(account.server_url, account.email)
        if not token:
            self.runner.run(self.secrets.adelete(key), what="Remove the token from the keychain")
        elif remember:
            self.runner.run(self._keep_token(account.server_url, account.email, token), what="Keep the token")

    def _apply_presence_when_online(self) -> None:
        account, wanted = self.account, self._presence_when_online
        if account is None or wanted is None or account.session.state is not ConnectionState.ONLINE:
            return
        self._presence_when_online = None
        if account.store.me is None or account.store.me.presence is not wanted:
            self.set_presence(wanted)

    # ------------------------------------------------------------------ actions from the window/tray

    def set_presence(self, presence: p.Presence) -> None:
        account = self.account
        if account is None:
            return

        def revert(exc: Exception) -> None:
            if self.glue is not None and account.store.me is not None:
                self.glue.reflect_presence(account.store.me.presence, account.store.me.presence_reason)
            if account.window is not None:
                account.window.show_banner(f"Could not change your status: {exc}")

        self.runner.run(account.session.set_presence(presence), what="Change presence", on_error=revert)

    def request_sign_out(self) -> None:
        self.runner.run(self.sign_out(), what="Sign out")

    async def sign_out(self) -> None:
        """Revoke the token on the server, forget it here, and show the sign-in dialog again."""
        account = self.account
        if account is None:
            return
        self._signing_out = True
        try:
            try:
                await asyncio.wait_for(account.session.sign_out(), 5.0)
            except (TimeoutError, AgentAppError) as exc:  # offline: still forget it locally
                log.warning("server-side sign-out failed: %s", exc)
            await self.secrets.adelete(token_key(account.server_url, account.email))
            await self._end_account("")
        finally:
            self._signing_out = False

    async def _end_account(self, reason: str) -> None:
        account, self.account = self.account, None
        self.glue = None
        self.notifications.window = None
        self.notifications.set_tray(None)
        if account is not None:
            for extra in account.extras:
                if hasattr(extra, "dispose"):
                    extra.dispose()
            await account.close()
        set_badge(0)
        self.signed_out.emit()
        self.show_sign_in(reason)

    def activate(self, args: list[str]) -> None:
        """A second launch (or a deep link): bring the window forward and open what it asked for; a link
        that cannot be opened gets a notice saying why (agent_app.deeplink), never silence."""
        links, problems = deeplink.split_args(args)
        self._pending_notices += problems
        self._pending_links += [link for link in links if link not in self._pending_links]
        if self.account is None or self.glue is None:
            self.dialog.show()
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        self.glue.bring_forward()
        self._open_pending_links()

    def _open_pending_links(self) -> None:
        """Open what the store has; ask the server about the rest once online (kept until then)."""
        account = self.account
        if account is None or account.window is None:
            return
        for notice in self._pending_notices:
            account.window.show_banner(notice)
        self._pending_notices.clear()
        waiting = []
        for link in self._pending_links:
            if link.conversation_id in account.store.conversations:
                account.window.open_conversation(link.conversation_id)
            elif account.session.state is ConnectionState.ONLINE:
                self.runner.run(self._resolve_link(account, link), what="Open a link")
            else:
                waiting.append(link)
        self._pending_links = waiting

    async def _resolve_link(self, account: Account, link: deeplink.ConversationLink) -> None:
        try:
            notice = await deeplink.resolve(account.session, account.store, link)
        except NotConnected:  # the connection dropped meanwhile: asked again when it is back
            self._pending_links.append(link)
            return
        if account is not self.account or account.window is None:
            return  # signed out meanwhile
        if notice:
            account.window.show_banner(notice)
        else:
            account.window.open_conversation(link.conversation_id)

    def open_conversation(self, conversation_id: str) -> None:
        """A notification was clicked: raise the window and show that conversation."""
        if self.glue is None or self.account is None:
            return
        self.glue.bring_forward()
        if conversation_id:
            self.account.window.open_conversation(conversation_id)

    async def shutdown(self) -> None:
        """aboutToQuit: cancel tasks, stop the session, flush the cache, close files and windows."""
        account, self.account = self.account, None
        if account is not None:
            for extra in account.extras:
                if hasattr(extra, "dispose"):
                    extra.dispose()
            await account.close()
        await self.notifications.close()  # withdraw what is still showing; leave the session bus
        self.runner.cancel_all()
        self.dialog.hide()


def status_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("shellNotice")
    return label


__all__ = ["DISPLAY_NAME", "DemoInfo", "Shell", "status_label"]
