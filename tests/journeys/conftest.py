"""Journey fixtures: a real desktop (tests/journeys/desktop.py), the QApplication on it (xcb), and the app
composed by main.py's own ``running_app`` on a demo workspace without simulated visitors, whose SLA clock
is shortened by its playbook (configuration, never sleeps). Visitors are driven by the tests.

The journeys need their own process (Qt picks its platform once per process): ``make test`` runs
``pytest tests/journeys`` after the rest of the suite."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.store import Store
from sandbox.demo_data import PERSONAS_BY_KEY, SITE, Persona, canned_reply
from sandbox.visitor_sim import Link, server_origin
from sandbox.workspace import TERRITORIES_CSV
from tests.journeys.desktop import Desktop, missing_binaries
from tests.qt_loop import wait_until

PLAYBOOK = Path(__file__).resolve().parents[2] / "chat_server" / "playbook.toml"
# The journeys' SLA clock: the warning 2 s after routing, the breach at 6 s, the meeting offer at 40 s
# (the handbook's 20/30/60 s, scaled so a journey sees the warning without waiting for it).
SLA = {"warning_seconds": 2, "first_response_seconds": 6, "offer_meeting_seconds": 40}
# The journeys that drive the website in a real browser (the chat widget) run it headless.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    """Xvfb + D-Bus + dunst + trayer + gnome-keyring, for the whole session; the env points at them."""
    if missing := missing_binaries():
        pytest.skip(f"the journeys need a desktop: missing {', '.join(missing)} (`make deps` installs them)")
    existing = QApplication.instance()
    if isinstance(existing, QApplication) and existing.platformName() != "xcb":
        pytest.skip(
            f"a QApplication on {existing.platformName()!r} exists in this process; the journeys need their "
            "own process on X (`pytest tests/journeys`, as `make test` runs them)"
        )
    desk = Desktop(tmp_path_factory.mktemp("desktop"))
    saved = {
        k: os.environ.get(k)
        for k in (
            *desk.env,
            "DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "DBUS_SYSTEM_BUS_ADDRESS",
            "XDG_RUNTIME_DIR",
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "QT_QPA_PLATFORM",
        )
    }
    try:
        desk.start()
        os.environ.update(desk.env)
        yield desk
    finally:
        desk.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def qapp(desktop: Desktop) -> QApplication:
    """pytest-qt's QApplication, created on the desktop's X server and named as main.py names it."""
    import main

    app = QApplication.instance() or QApplication(["sdr-agent-desk"])
    assert isinstance(app, QApplication) and app.platformName() == "xcb", "the journeys need Qt on X"
    main.configure_app(app)
    return app


def journey_playbook(folder: Path) -> Path:
    """The built-in playbook with the journeys' SLA seconds (and the territory table by absolute path)."""
    text = PLAYBOOK.read_text()
    for key, seconds in SLA.items():
        text, n = re.subn(rf"(?m)^{key} = \d+$", f"{key} = {seconds}", text)
        assert n == 1, f"playbook.toml has no {key}"
    path = folder / "playbook.toml"
    path.write_text(text)
    return path


@dataclass
class Journey:
    """One journey's app data folder; ``start()`` runs main.py's composition on it (again after a quit)."""

    qapp: QApplication
    desktop: Desktop
    root: Path
    seed: int = 7

    async def shot(self, name: str) -> None:
        """JOURNEY_SHOTS=DIR: a screenshot of the whole virtual desktop as DIR/name.png (to look at it)."""
        folder = os.environ.get("JOURNEY_SHOTS")
        if folder:
            await asyncio.sleep(0.3)  # only for the picture: lets Qt paint and flush to the X server
            await asyncio.to_thread(self.desktop.screenshot, Path(folder) / f"{name}.png")

    def args(self) -> Any:
        import main

        return main.parse_args(["--demo", "--data-dir", str(self.root)])

    @contextlib.asynccontextmanager
    async def start(self) -> AsyncIterator[Any]:
        """main.running_app (THE composition root) with the demo workspace, no simulated visitors."""
        import main

        args = self.args()
        options = {
            "visitors": False,
            "seed": self.seed,
            "server_options": {
                "playbook": str(journey_playbook(self.root)),
                "territories_csv": str(TERRITORIES_CSV),
            },
        }
        async with main.running_app(self.qapp, args, main.profile_paths(args), demo_options=options) as ctx:
            yield ctx

    @contextlib.asynccontextmanager
    async def desk(self, presence: str | None = "Available") -> AsyncIterator[Desk]:
        """Every journey's opening: the app started on the demo (``start``), Alex signed in and online,
        and (``presence``) his status button showing it: a fresh demo makes him Available once online;
        None for a restart, where the status is whatever he left it at."""
        async with self.start() as app:
            account = app.shell.account
            assert account is not None and app.demo is not None, "the demo signs Alex in at start"
            window = account.window
            await wait_until(lambda: str(account.session.state) == "online", 20, "signed in and online")
            if presence is not None:
                await wait_until(lambda: window.presence_button.text().endswith(presence), 10, presence)
            yield Desk(app, account, window, account.store, app.demo.server_url)


@dataclass
class Desk:
    """The running app, signed in and online (``Journey.desk``): what a journey works with."""

    app: Any  # main.AppContext
    account: Any  # ui.shell.account.Account
    window: Any  # ui.main_window.MainWindow
    store: Store
    url: str  # the demo workspace's chat server (for visitors and teammates' desks)

    @property
    def me(self) -> p.Agent:
        assert self.store.me is not None
        return self.store.me


@pytest.fixture
def playwright() -> Any:
    """``playwright.async_api``, for a journey with a visitor in Chromium (skipped without either)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (make deps installs it)")
    return pytest.importorskip("playwright.async_api")


@pytest.fixture
def journey(qapp: QApplication, desktop: Desktop, tmp_path: Path) -> Journey:
    return Journey(qapp, desktop, tmp_path)


@dataclass
class Visitor:
    """A website visitor over the real /visitor websocket, as the widget would: answers the bot's
    questions at once (canned answers of a demo persona) and records what the SDR says."""

    url: str
    persona: Persona
    page: str = "/pricing"
    conversation_id: str = ""
    visitor_id: str = ""  # the server's id for this visitor (from visitor_welcome)
    received: list[p.Message] = field(default_factory=list)
    cards: list[p.Message] = field(default_factory=list)
    answering: bool = False  # answers the bot's questions once told to (``answer_the_bot``)
    _questions: list[p.Message] = field(default_factory=list)
    _link: Link | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    @contextlib.asynccontextmanager
    async def arrive(cls, url: str, persona_key: str, page: str = "/pricing") -> AsyncIterator[Visitor]:
        visitor = cls(url, PERSONAS_BY_KEY[persona_key], page)
        async with Link.open(url, "/visitor", visitor._on_frame, server_origin(url)) as link:
            visitor._link = link
            zone = visitor.persona.timezone
            welcome = await link.request(p.VisitorHello, page_url=SITE + page, timezone=zone)
            assert isinstance(welcome, p.VisitorWelcome), welcome
            visitor.visitor_id = welcome.visitor.id
            pr = visitor.persona
            await link.request(p.VisitorUpdateProfile, name=pr.name, email=pr.email, company=pr.company)
            try:
                yield visitor
            finally:
                for task in visitor._tasks:
                    task.cancel()

    async def say(self, text: str) -> None:
        assert self._link is not None
        ack = await self._link.request(p.VisitorSendMessage, text=text)
        assert isinstance(ack, p.Ack), ack
        self.conversation_id = str(ack.result.get("conversation_id") or self.conversation_id)

    async def book(self, card: p.Message, index: int = 0) -> p.ServerFrame:
        assert self._link is not None and card.card is not None
        return await self._link.request(
            p.BookSlot,
            agent_id=card.card.agent_id,
            start=card.card.slots[index].start,
            email=self.persona.email,
            name=self.persona.name,
        )

    async def dismiss(self) -> p.ServerFrame:
        """The x on a rep's pop-up, as widget.js sends it (``dismiss_engage``)."""
        assert self._link is not None
        return await self._link.request(p.DismissEngage)

    def answer_the_bot(self) -> None:
        """From now on, answer the bot's questions (the ones asked so far first)."""
        self.answering = True
        for question in self._questions:
            self._answer(question)
        self._questions.clear()

    def _answer(self, question: p.Message) -> None:
        task = asyncio.get_running_loop().create_task(self.say(canned_reply(self.persona, question, 0)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def agent_texts(self) -> list[str]:
        return [m.text for m in self.received if m.author_kind is p.AuthorKind.AGENT]

    def _on_frame(self, frame: p.ServerFrame) -> None:
        if not isinstance(frame, p.EventFrame) or not isinstance(frame.event, p.MessageCreated):
            return
        message = frame.event.message
        if message.private or message.author_kind not in (p.AuthorKind.AGENT, p.AuthorKind.BOT):
            return
        self.conversation_id = message.conversation_id
        self.received.append(message)
        if message.card is not None:
            self.cards.append(message)
        if message.author_kind is p.AuthorKind.BOT and "?" in message.text:
            if self.answering:
                self._answer(message)
            else:
                self._questions.append(message)


def visible_text(widget: Any) -> str:
    """Every label's text under ``widget`` that a person can see (for 'the panel shows ...' checks)."""
    from PySide6.QtWidgets import QAbstractButton, QLabel

    parts = []
    for child in widget.findChildren(QLabel) + widget.findChildren(QAbstractButton):
        if child.isVisibleTo(widget.window()) and child.text():
            parts.append(child.text())
    return "\n".join(parts)
