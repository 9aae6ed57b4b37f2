"""The desk as the shell builds it, signed in to a real chat server, for pytest-asyncio widget tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from tests.qt_loop import pump_until
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.shell.account import default_window_factory
from ui.shell.features import InstalledFeatures, install_features
from ui.tasks import TaskRunner


@dataclass
class Desk:
    window: MainWindow
    session: Session
    store: Store
    runner: TaskRunner
    features: InstalledFeatures | None


@contextlib.asynccontextmanager
async def signed_in_desk(
    qtbot: Any, server_url: str, folder: Path, email: str, password: str, *, features: bool = True
) -> AsyncIterator[Desk]:
    """The shell's window factory and (``features``) every feature through install_features, signed in
    with a password and online; stops the session and closes the outbox afterwards."""
    store, outbox = Store(), Outbox(folder / "outbox.sqlite3")
    session = Session(server_url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
    runner = TaskRunner()
    window = default_window_factory(StoreBridge(store), session, runner, None, None)  # type: ignore[arg-type]
    installed = install_features(window) if features else None
    qtbot.addWidget(window)
    window.show()
    session.add_state_listener(window.set_connection_state)
    await session.sign_in(email, password)
    task = asyncio.create_task(session.run())
    try:
        await pump_until(lambda: session.state is ConnectionState.ONLINE, "online")
        yield Desk(window, session, store, runner, installed)
    finally:
        await session.stop()
        await asyncio.wait_for(task, 10)
        runner.cancel_all()
        outbox.close()
