"""Shell test fixtures: offscreen Qt, qasync loop, in-memory keychain, real chat server, fake window."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QWidget

from agent_app import protocol as p
from agent_app.secrets import SecretStore, qualname
from agent_app.settings import Settings
from chat_server import ChatServer, Config, run_server
from tests.memory_keyring import MemoryKeyring
from tests.qt_loop import run, wait_until  # noqa: F401  (re-exported to this folder's tests)
from ui.notifications import NotificationService
from ui.shell.app import DemoInfo, Shell
from ui.shell.errors import ErrorReporter
from ui.shell.paths import AppPaths
from ui.tasks import TaskRunner

PASSWORD = "correct horse battery"


class FakeWindow(QMainWindow):
    """Implements the MainWindow contract (docs/client-contracts.md) and records what the shell asked."""

    sign_out_requested = Signal()
    presence_toggled = Signal(object)
    conversation_opened = Signal(str)

    def __init__(self, bridge: Any, session: Any, runner: Any, settings: Any, state: Any = None) -> None:
        super().__init__()
        self.bridge, self.session = bridge, session
        self.opened: list[str] = []
        self.banners: list[tuple[str, str]] = []
        self.hidden_banners: list[str] = []
        self.states: list[tuple[str, str]] = []
        self.presence: p.Presence | None = None
        self.status_widgets: list[QWidget] = []
        self.setCentralWidget(QLabel("fake main window"))

    def open_conversation(self, conversation_id: str) -> None:
        self.opened.append(conversation_id)
        self.conversation_opened.emit(conversation_id)

    def set_connection_state(self, state: Any, detail: str = "") -> None:
        self.states.append((str(state), detail))

    def add_status_widget(self, widget: QWidget) -> None:
        self.status_widgets.append(widget)
        self.statusBar().addPermanentWidget(widget)

    def show_banner(self, text: str, conversation_id: str = "") -> None:
        self.banners.append((text, conversation_id))

    def hide_banner(self, conversation_id: str) -> None:
        self.hidden_banners.append(conversation_id)

    def set_presence(self, presence: p.Presence, reason: str = "") -> None:
        self.presence, self.presence_reason = presence, reason

    def current_conversation_id(self) -> str:
        return self.opened[-1] if self.opened else ""

    def save_state(self) -> None:
        pass


async def wait_signal(signal: Any, timeout: float = 10.0) -> tuple[Any, ...]:  # noqa: ASYNC109
    """The arguments of the next emission of ``signal`` (a Qt signal), within ``timeout``."""
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def got(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)

    signal.connect(got)
    try:
        return await asyncio.wait_for(fut, timeout)
    finally:
        signal.disconnect(got)


@pytest.fixture
def keychain() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def secrets(keychain: MemoryKeyring) -> SecretStore:
    return SecretStore(backend=keychain, secure_backends={qualname(keychain)})


@pytest.fixture
def chat_server(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[ChatServer]:
    """The real chat server, in this process on port 0, with a small team."""
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"))
    cm = run_server(config)
    server = run(loop, cm.__aenter__())
    server.admin.add_agent("sam@example.com", "Sam Sdr", PASSWORD, "US-West", "sdr")
    server.admin.add_agent("tina@example.com", "Tina Sdr", PASSWORD, "US-East", "sdr")
    yield server
    run(loop, cm.__aexit__(None, None, None))


class ShellKit:
    """A shell wired like main.py does, with the fake window and collected notices."""

    def __init__(self, tmp_path: Path, secrets: SecretStore, demo: DemoInfo | None = None) -> None:
        self.paths = AppPaths.for_profile("test", tmp_path / "profile")
        self.settings = Settings(self.paths.config_dir / "settings.json")
        self.settings.load()
        self.state = QSettings(str(self.paths.state_file), QSettings.Format.IniFormat)
        self.runner = TaskRunner()
        self.errors = ErrorReporter()
        self.failures: list[str] = []
        self.runner.failed.connect(lambda what, exc: self.failures.append(f"{what}: {exc}"))
        self.notifications = NotificationService(notifier_factory=_no_native)
        self.windows: list[FakeWindow] = []
        self.shell = Shell(
            self.paths, self.settings, secrets, self.runner, self.errors, self.notifications, self.state,
            demo=demo, window_factory=self._window, use_tray=False,
        )  # fmt: skip
        self.quit_requests: list[bool] = []
        self.shell.quit_requested.connect(lambda: self.quit_requests.append(True))

    def _window(self, *args: Any) -> FakeWindow:
        w = FakeWindow(*args)
        self.windows.append(w)
        return w

    @property
    def window(self) -> FakeWindow:
        return self.windows[-1]


def _no_native() -> Any:
    class Missing:
        async def get_capabilities(self) -> frozenset[str]:
            raise OSError("no notification service in this test")

    return Missing()


@pytest.fixture
def kit(tmp_path: Path, secrets: SecretStore, loop: asyncio.AbstractEventLoop) -> Iterator[ShellKit]:
    k = ShellKit(tmp_path, secrets)
    yield k
    run(loop, k.shell.shutdown())
    k.shell.dialog.deleteLater()


class Recorder(QObject):
    """Collects emissions of a signal (for assertions after a wait)."""

    def __init__(self, signal: Any) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []
        signal.connect(lambda *a: self.calls.append(a))
