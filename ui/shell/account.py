"""One signed-in account: store, bridge, cache, outbox, session and the window built on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QSettings

from agent_app.cache import ClientCache
from agent_app.outbox import Outbox
from agent_app.session import Session
from agent_app.settings import Settings
from agent_app.store import Store
from ui.bridge import StoreBridge
from ui.shell.paths import AppPaths
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)

WindowFactory = Callable[[StoreBridge, Session, TaskRunner, Settings, QSettings], Any]


def default_window_factory(
    bridge: StoreBridge, session: Session, runner: TaskRunner, settings: Settings, state: QSettings
) -> Any:
    from ui.main_window import MainWindow  # imported late: the shell starts before the UI is needed

    return MainWindow(bridge, session, runner, settings, state)


@dataclass
class Account:
    """Everything that belongs to one (server, email) sign-in; torn down on sign-out or quit."""

    server_url: str
    email: str
    store: Store
    bridge: StoreBridge
    cache: ClientCache
    outbox: Outbox
    session: Session
    window: Any = None
    session_task: asyncio.Task[None] | None = None
    extras: list[Any] = field(default_factory=list)  # watcher etc., kept alive with the account
    closed: bool = False

    @classmethod
    def open(cls, paths: AppPaths, server_url: str, email: str, token: str = "") -> Account:
        """Load the local cache first (the queue shows before the server answers), then the session."""
        folder = paths.account_dir(server_url, email)
        store = Store()
        bridge = StoreBridge(store)
        cache = ClientCache(folder / "cache.sqlite3")
        try:
            cache.load_into(store)
        except Exception as exc:  # a damaged cache must never stop a sign-in: start empty
            log.warning("local cache unusable, starting empty: %s", exc)
            cache.clear()
        outbox = Outbox(folder / "outbox.sqlite3")
        device = f"SDR Agent Desk on {socket.gethostname()}"
        session = Session(server_url, store, outbox, token=token, device=device)
        return cls(server_url, email, store, bridge, cache, outbox, session)

    def start_session(self, runner: TaskRunner) -> None:
        self.session_task = runner.run(self.session.run(), what="Chat server connection")

    async def close(self, *, stop_timeout: float = 5.0) -> None:
        """Stop the session, flush and close the local files, close the window. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            await asyncio.wait_for(self.session.stop(), stop_timeout)
        except (TimeoutError, Exception) as exc:  # shutting down: log, keep going
            log.warning("session did not stop cleanly: %s", exc)
        if self.session_task is not None and not self.session_task.done():
            self.session_task.cancel()
        conversation = getattr(self.window, "conversation", None)  # None: no window, or a stand-in
        if conversation is not None:
            with contextlib.suppress(RuntimeError):  # already deleted by Qt
                conversation.save_draft()  # the draft typed last, before the cache closes
        self.close_files()
        if self.window is not None:
            with contextlib.suppress(RuntimeError):  # already deleted by Qt
                self.window.save_state()
                self.window.hide()
                self.window.deleteLater()
            self.window = None

    def close_files(self) -> None:
        for what, fn in (
            ("cache flush", self.cache.flush),
            ("cache", self.cache.close),
            ("outbox", self.outbox.close),
        ):
            try:
                fn()
            except Exception as exc:
                log.warning("%s: %s", what, exc)
